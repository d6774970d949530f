"""An operator's view of the farm: what their job needs, and nothing else of it (issue 20).

A caller holding ``job_read`` but not ``read`` (the operator role) reaches only the routes guarded by
``deps.JobReader``, and sees of them only its **job**:

- the machines it drives (the registry machine's ``operator`` is its name), their implements and trackers;
- the tasks the farm's current dispatch plan gives those machines, and those tasks' fields;
- those fields' sites and zones, and the sites its trackers report through (a position names the site).

An id of the organisation outside the job is treated as one of another organisation: 404 in a path or a
query, and dropped from every JSON answer and event (``narrow``). An id the organisation does not hold
(a free-text machine label on an operation, a body-planned machine) is kept, as the organisation filter
keeps an id nobody owns. Another organisation's ids are the organisation filter's, before this.

Which key of the API's JSON names which kind of id is written once here (``KEYS``): an object's ``id``
takes its kind from the list holding it (``"machines": [{"id": ...}]``) or, at the top of an answer of
``/registry/<kind>``, from the path; ``routes`` and ``left_out`` of a dispatch plan are keyed by machine
and by task.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db import DispatchPlanRow, FieldRow, ImplementRow, MachineRow, NodeRoute, NodeRow, TaskRow, ZoneRow
from ._owners import (
    FIELD,
    IMPLEMENT,
    MACHINE,
    NODE,
    SITE,
    TASK,
    ZONE,
    Kind,
    org_fields,
    org_nodes,
    org_sites,
    org_zones,
)

KEYS: dict[str, Kind] = {"site": SITE, "site_id": SITE, "field": FIELD, "field_id": FIELD, "zone": ZONE,
                         "zone_id": ZONE, "node": NODE, "node_id": NODE, "machine": MACHINE, "machine_id": MACHINE,
                         "implement": IMPLEMENT, "implement_id": IMPLEMENT, "task": TASK, "task_id": TASK}
LISTS: dict[str, Kind] = {"sites": SITE, "fields": FIELD, "zones": ZONE, "nodes": NODE, "machines": MACHINE,
                          "implements": IMPLEMENT, "tasks": TASK}  # the kind of an "id" in an object they hold
KEYED: dict[str, Kind] = {"routes": MACHINE, "left_out": TASK}  # objects keyed by ids
EVENTS = frozenset({"hello", "lagged", "position", "eta", "operation", "dispatch", "task"})
"""The live events a job's stream carries (narrowed like an answer); readings, commands, alerts, decisions,
fertility, images and the rest of the farm's events are not an operator's."""


@dataclass(frozen=True)
class JobScope:
    """The ids of a job (``allowed``) among the organisation's (``known``), by kind."""

    allowed: dict[Kind, frozenset[str]]
    known: dict[Kind, frozenset[str]]

    def outside(self, kind: Kind, value: object) -> bool:
        """Whether `value` is an id of the organisation that this job does not cover."""
        return (kind in self.known and isinstance(value, str) and value in self.known[kind]
                and value not in self.allowed.get(kind, ()))

    def _names_outside(self, item: dict, id_kind: Kind | None) -> bool:
        if id_kind is not None and self.outside(id_kind, item.get("id")):
            return True
        return any(k in KEYS and self.outside(KEYS[k], v) for k, v in item.items())

    def _prune(self, data: Any, id_kind: Kind | None) -> Any:
        if isinstance(data, dict):
            out = {}
            for k, v in data.items():
                if k in KEYED and isinstance(v, dict):
                    out[k] = {key: self._prune(x, None) for key, x in v.items() if not self.outside(KEYED[k], key)}
                else:
                    out[k] = self._prune(v, LISTS.get(k))
            return out
        if isinstance(data, list):
            return [self._prune(x, None) for x in data
                    if not (isinstance(x, dict) and self._names_outside(x, id_kind))]
        return data

    def narrow(self, data: Any, top_kind: Kind | None = None) -> Any:
        """`data` without what lies outside the job; None when `data` itself is such an object. `top_kind`:
        the kind of the answer's own ``id`` (``/registry/fields`` answers fields)."""
        if isinstance(data, dict) and self._names_outside(data, top_kind):
            return None
        return self._prune(data, top_kind)


def job_scope(session: Session, organisation: str, person: str) -> JobScope:
    """The job of `person` (an operator's user name) in `organisation`, from the registry and the current plan."""
    machines = list(session.scalars(select(MachineRow).where(MachineRow.organisation_id == organisation,
                                                             MachineRow.operator == person)))
    mine = {m.id for m in machines}
    plan = session.scalars(select(DispatchPlanRow).where(DispatchPlanRow.organisation_id == organisation)
                           .order_by(DispatchPlanRow.id.desc()).limit(1)).first()
    stops = [s for m, route in ((plan.plan or {}).get("routes", {}) if plan else {}).items() if m in mine
             for s in route]
    tasks = {s["task"] for s in stops}
    fields = {s["field"] for s in stops}
    nodes = {m.node_id for m in machines if m.node_id}
    implements = {i for m in machines for i in m.implement_ids}
    sites = set(session.scalars(select(FieldRow.site_id).where(FieldRow.id.in_(fields))))
    sites |= {s for s in session.scalars(select(NodeRow.site_id).where(NodeRow.id.in_(nodes))) if s}
    sites |= set(session.scalars(select(NodeRoute.site).where(NodeRoute.node.in_(nodes))))
    zones = set(session.scalars(select(ZoneRow.id).where(ZoneRow.field_id.in_(fields))))
    allowed = {MACHINE: mine, TASK: tasks, FIELD: fields, SITE: sites, NODE: nodes, IMPLEMENT: implements,
               ZONE: zones}
    known = {MACHINE: set(session.scalars(select(MachineRow.id).where(MachineRow.organisation_id == organisation))),
             TASK: set(session.scalars(select(TaskRow.id).where(TaskRow.organisation_id == organisation))),
             IMPLEMENT: set(session.scalars(select(ImplementRow.id)
                                            .where(ImplementRow.organisation_id == organisation))),
             FIELD: org_fields(session, organisation), SITE: org_sites(session, organisation),
             NODE: org_nodes(session, organisation), ZONE: org_zones(session, organisation)}
    if plan is not None:  # a plan's machines and tasks are the farm's too, registered or named in its request
        known[MACHINE] |= set((plan.plan or {}).get("routes", {})) | {m["id"] for m in
                                                                      (plan.request or {}).get("machines") or []}
        known[TASK] |= {t["id"] for t in (plan.request or {}).get("tasks") or []}
    return JobScope(allowed={k: frozenset(v) for k, v in allowed.items()},
                    known={k: frozenset(v) for k, v in known.items()})
