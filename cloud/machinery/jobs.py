"""Dispatch from the registry, and the operators' side of it (issue 20): the machines and tasks a plan is made
from when the request gives none, the jobs of the machines a person drives, and a task's report (progress,
done, breakdown) that plans again.

The registry keeps the machines (with their status, tracker and operator), implements and tasks; a plan is
made from those that can work (status available, at least one implement) and the tasks not done. An operator's
report changes the task (and on a breakdown the machine's status, so the next plan leaves it out), is published
as a live "task" event (the dispatch page shows the share reported), and then, done or breakdown, plans again and
keeps the plan, as the dispatch page's re-plan does: the job pages follow the new plan.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from furrow.edge.errors import ContractError

from ..auth import Principal, Role
from ..db import Database, MachineRow, TaskRow
from ..errors import Conflict, Forbidden, NotFound
from ..registry.fleet import MachineStatus, TaskOut, TaskStatus
from .models import DispatchCurrent, DispatchIn, DispatchMachineIn, DispatchTaskIn, StopOut


class ReportKind(StrEnum):
    WORKING = "working"  # started, or still at it (with the share done, as the operator sees it)
    DONE = "done"  # finished: the task leaves the plan
    BREAKDOWN = "breakdown"  # the machine cannot go on: it is marked broken and its tasks go to others


class TaskReportIn(BaseModel):
    """What an operator reports on a task of the machine they drive."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"report": "working", "done_pct": 40}, {"report": "breakdown", "note": "hydraulic hose burst"}]})

    report: ReportKind
    done_pct: float | None = Field(default=None, ge=0, le=100, description="the share done, as the operator "
                                   "sees it (beside the tracked coverage, which stays the measure)")
    note: str | None = Field(default=None, max_length=400)


class TaskReportOut(BaseModel):
    task: TaskOut
    machine: str = Field(description="the machine the current plan gives the task to")
    machine_status: MachineStatus
    replanned_id: int | None = Field(description="the plan kept after the report (done or breakdown)")
    replan_error: str | None = Field(default=None, description="why no plan could be made (the report is kept)")


class JobOut(BaseModel):
    """A machine the caller drives and its stops in the farm's current plan (none without a plan)."""

    machine: str
    name: str
    status: MachineStatus
    node_id: str | None
    plan_id: int | None
    stops: list[StopOut]


def plan_inputs(session: Session, organisation: str) -> tuple[list[DispatchMachineIn], list[DispatchTaskIn]]:
    """The registry's machines (those with an implement) and tasks not done, of `organisation`, as a plan takes
    them; ContractError naming what is missing when there is nothing to plan."""
    machines = [DispatchMachineIn(id=m.id, implements=m.implement_ids, width_m=m.width_m, speed_kmh=m.speed_kmh,
                                  efficiency=m.efficiency, road_kmh=m.road_kmh, node=m.node_id, lon=m.lon, lat=m.lat,
                                  available=m.status == MachineStatus.AVAILABLE)
                for m in session.scalars(select(MachineRow).where(MachineRow.organisation_id == organisation)
                                         .order_by(MachineRow.id)) if m.implement_ids]
    tasks = [DispatchTaskIn(id=t.id, field=t.field_id, kind=t.kind, implement=t.implement_id,
                            deadline_ms=t.deadline_ms, priority=t.priority)
             for t in session.scalars(select(TaskRow).where(TaskRow.organisation_id == organisation,
                                                           TaskRow.status != TaskStatus.DONE).order_by(TaskRow.id))]
    if not machines:
        raise ContractError("machines", None, "none given and none registered with an implement: register them "
                            "(POST /api/v1/registry/machines, furrow machine add)")
    if not tasks:
        raise ContractError("tasks", None, "none given and no registered task is left to do: add one "
                            "(POST /api/v1/registry/tasks)")
    return machines, tasks


def registry_refusal(session: Session, organisation: str, machines: list[DispatchMachineIn]) -> None:
    """A machine broken in the registry is planned around in every plan, from the registry or from a body: a
    body's `available` may take a machine out of one plan (a what-if, or a machine the registry does not hold),
    never put back one the registry says cannot work. ContractError naming `machines.<i>.available` for a body
    machine that says available while the registry's machine of that id is broken or in maintenance."""
    ids = [m.id for m in machines if m.available]
    if not ids:
        return
    status = dict(session.execute(select(MachineRow.id, MachineRow.status).where(
        MachineRow.organisation_id == organisation, MachineRow.id.in_(ids))).all())
    for i, m in enumerate(machines):
        found = status.get(m.id)
        if m.available and found is not None and found != MachineStatus.AVAILABLE:
            raise ContractError(f"machines.{i}.available", True, f"machine {m.id} is {found} in the registry: "
                                "plan it with available: false, or set it available in the registry first "
                                f"(PUT /api/v1/registry/machines/{m.id}, furrow machine add {m.id} --status "
                                "available, or the dispatch page's box)")


def _assigned(current: DispatchCurrent | None, task: str) -> str | None:
    if current is None:
        return None
    return next((m for m, stops in current.plan.routes.items() if any(s.task == task for s in stops)), None)


def task_event(task: TaskOut, machine: str, report: ReportKind) -> dict[str, object]:
    """The live "task" event of an operator's report: the task's new state and who reported what share when (its
    task_id, machine_id and field_id keep it to the organisation's streams, tenancy's EventScope)."""
    return {"task_id": task.id, "machine_id": machine, "field_id": task.field_id, "kind": task.kind.value,
            "report": report.value, "status": task.status.value, "reported_pct": task.reported_pct,
            "reported_by": task.reported_by, "reported_ms": task.reported_ms, "note": task.note}


def _task_out(row: TaskRow) -> TaskOut:
    return TaskOut.model_validate(row)


class Jobs:
    """The operators' jobs and reports over the registry and the kept plans (OperationService plans)."""

    def __init__(self, db: Database, operations: object) -> None:
        from .service import OperationService

        assert isinstance(operations, OperationService)
        self._db = db
        self._operations = operations

    async def _current(self, organisation: str) -> DispatchCurrent | None:
        try:
            return await self._operations.current(organisation)
        except NotFound:
            return None

    async def mine(self, who: Principal) -> list[JobOut]:
        """The machines `who` drives (the registry's `operator`) and their stops in the current plan."""
        rows = await self._db.run(lambda s: list(s.scalars(
            select(MachineRow).where(MachineRow.organisation_id == who.organisation, MachineRow.operator == who.name)
            .order_by(MachineRow.id))))
        current = await self._current(who.organisation)
        return [JobOut(machine=m.id, name=m.name, status=MachineStatus(m.status), node_id=m.node_id,
                       plan_id=None if current is None else current.id,
                       stops=[] if current is None else current.plan.routes.get(m.id, [])) for m in rows]

    async def report(self, task_id: str, body: TaskReportIn, who: Principal, now_ms: int) -> TaskReportOut:
        """Record `who`'s report on a task of the current plan. An operator may report only on a task the plan
        gives to a machine they drive (Forbidden otherwise); Conflict for a task the plan does not hold. Done
        and breakdown plan again from the registry and keep the plan."""
        current = await self._current(who.organisation)
        machine_id = _assigned(current, task_id)

        def apply(session: Session) -> tuple[TaskOut, MachineStatus]:
            task = session.get(TaskRow, task_id)
            if task is None or task.organisation_id != who.organisation:
                raise NotFound("task_id", task_id, "no task with this id")
            if machine_id is None:
                raise Conflict("task_id", task_id, "is in no machine's route of the current plan: plan first "
                               "(POST /api/v1/dispatch/plan with keep: true)")
            machine = session.get(MachineRow, machine_id)
            if who.role is Role.OPERATOR and (machine is None or machine.operator != who.name):
                raise Forbidden("task_id", task_id, f"is planned for machine {machine_id}, which you do not drive: "
                                "report on your own machine's tasks")
            if machine is None:
                raise Conflict("task_id", task_id, f"is planned for machine {machine_id}, which is not in the "
                               "registry: plan from the registry's machines")
            task.status = {ReportKind.WORKING: TaskStatus.WORKING, ReportKind.DONE: TaskStatus.DONE,
                           ReportKind.BREAKDOWN: TaskStatus.OPEN}[body.report]
            if body.report is ReportKind.DONE:
                task.reported_pct = 100.0
            elif body.done_pct is not None:
                task.reported_pct = body.done_pct
            task.note = body.note
            task.reported_by = who.name[:80]
            task.reported_ms = now_ms
            if body.report is ReportKind.BREAKDOWN:
                machine.status = MachineStatus.BROKEN
            session.flush()
            return _task_out(task), MachineStatus(machine.status)

        task, status = await self._db.run(apply)
        assert machine_id is not None and current is not None
        if self._operations.events is not None:  # the dispatch page shows the share reported live
            self._operations.events.publish("task", task_event(task, machine_id, body.report))
        replanned, error = None, None
        if body.report is not ReportKind.WORKING:
            try:
                again = DispatchIn(solver=current.request.solver, time_limit_s=current.request.time_limit_s, keep=True,
                                   registry=True)
                out = await self._operations.dispatch(again, f"{who.name} ({body.report} on {task_id})"[:80],
                                                      who.organisation)
                replanned = out.kept_id
            except (ContractError, Conflict, NotFound) as e:  # nothing left to plan: the report stands
                error = str(e)
        return TaskReportOut(task=task, machine=machine_id, machine_status=status, replanned_id=replanned,
                             replan_error=error)
