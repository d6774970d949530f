"""Finish estimates for the kept dispatch plan, from the server, as positions arrive (issue 20).

For each machine of an organisation's current plan: its task now is the first of its route whose field is not
done for that kind of work (DONE_PCT, as the operator's page counts it). The area left is the field less
what the recorded operations of that kind cover, less what the machine's own live track has worked on the
field since the plan was kept or the last such operation ended (implement-down fixes, the worked-area code of
coverage.py: the work not recorded yet). The finish is now plus the area left at the machine's effective
field capacity C = S w E / 10 ha/h (ASABE EP496.3 section 4.1.1, as the planner counts its work time).

`EtaPublisher` recomputes them after new fixes are stored or an operation is recorded, at most once every
`min_interval_s`, and publishes an ``eta`` event per organisation with a plan (each stream keeps only its
organisation's machines: their fields and trackers name it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from furrow.edge.errors import ContractError

from ..db import DispatchPlanRow, OperationRow
from ..errors import FurrowError, NotFound
from ..events import EventBus
from ..vigour.boundaries import parse_boundary
from .coverage import worked_area
from .service import _field

log = logging.getLogger(__name__)

DONE_PCT = 99.5  # a field this far covered counts as done (the job page's rule)


def capacity_ha_h(speed_kmh: float, width_m: float, efficiency: float) -> float:
    """Effective field capacity C = S w E / 10 (ha/h; S km/h, w m, E fraction), ASABE EP496.3 section 4.1.1."""
    return speed_kmh * width_m * efficiency / 10


async def machine_etas(ops: Any, organisation: str) -> list[dict[str, Any]]:
    """Each machine of `organisation`'s kept plan with a task left: the task, the area left (recorded and
    live), the capacity and the finish estimate (module docstring). Empty without a kept plan."""
    try:
        current = await ops.current(organisation)
    except NotFound:
        return []
    now = ops.clock()
    tasks = {t.id: t for t in current.request.tasks}
    latest = {node: fix for node, _, fix, _ in await ops.tracks.latest()}
    out = []
    for m in current.request.machines:
        if not m.available:
            continue
        for stop in current.plan.routes.get(m.id, []):
            task = tasks[stop.task]
            try:
                progress = await ops.progress(stop.field)
            except FurrowError:
                continue
            done = next((k.covered_pct for k in progress.kinds if k.kind == task.kind), 0.0)
            if done >= DONE_PCT:
                continue
            recorded_left = progress.field_ha * (1 - done / 100)
            live_ha, since = 0.0, current.plan.planned_ms
            if m.node is not None and m.node in latest:
                def last_end(session: Session, field: str = stop.field, kind: str = task.kind) -> int | None:
                    return session.scalar(select(OperationRow.ended_ms).where(
                        OperationRow.field_id == field, OperationRow.kind == kind)
                        .order_by(OperationRow.ended_ms.desc()).limit(1))

                ended = await ops._db.run(last_end)
                since = max(since, ended or 0)
                fixes = [f.as_fix() for f in await ops.tracks.track(m.node, since + 1, latest[m.node].t_ms)
                         if f.valid]
                if len(fixes) >= 2:
                    outline = await ops._db.run(lambda s, f=stop.field: _field(s, f).boundary)
                    boundary = parse_boundary(outline)
                    with contextlib.suppress(ContractError):
                        cov = await asyncio.to_thread(worked_area, fixes, m.width_m, boundary)
                        live_ha = cov.covered_ha
            left = max(0.0, recorded_left - live_ha)
            c = capacity_ha_h(m.speed_kmh, m.width_m, m.efficiency)
            out.append({"machine": m.id, "node": m.node, "task": stop.task, "field": stop.field, "kind": task.kind,
                        "done_pct": round(done, 2), "recorded_left_ha": round(recorded_left, 4),
                        "live_worked_ha": round(live_ha, 4), "left_ha": round(left, 4),
                        "capacity_ha_h": round(c, 4), "since_ms": since,
                        "last_fix_ms": latest[m.node].t_ms if m.node in latest else None,
                        "finish_ms": now + round(left / c * 3_600_000), "planned_end_ms": stop.end_ms,
                        "late": now + round(left / c * 3_600_000) > stop.end_ms})
            break
    return out


def organisations_with_plans(session: Session) -> list[str]:
    return list(session.scalars(select(DispatchPlanRow.organisation_id).distinct()))


class EtaPublisher:
    """After new fixes are stored (TrackStore.on_new), every organisation's machine ETAs recomputed and published
    as ``eta``, at most once every `min_interval_s` seconds (fixes that come meanwhile wait for the next pass)."""

    def __init__(self, ops: Any, events: EventBus, min_interval_s: float = 5.0) -> None:
        self.ops, self.events, self.min_interval_s = ops, events, min_interval_s
        self._last = -1e9
        self._task: asyncio.Task | None = None

    async def publish_once(self) -> int:
        """Publish each organisation's ETAs now; how many machines they hold."""
        n = 0
        for org in await self.ops._db.run(organisations_with_plans):
            etas = await machine_etas(self.ops, org)
            self.events.publish("eta", {"machines": etas})  # each stream keeps its organisation's (EventScope)
            n += len(etas)
        return n

    async def on_operation(self, _out: object) -> None:
        """An operation recorded (OperationService.on_record): the area left changed."""
        self.poke()

    def poke(self) -> None:
        """New fixes: a pass soon (one already waiting takes them)."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._pass(), name="machine etas")

    async def _pass(self) -> None:
        wait = self._last + self.min_interval_s - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        self._last = time.monotonic()
        try:
            await self.publish_once()
        except Exception:  # the next fixes try again
            log.exception("machine ETAs could not be computed")

    async def close(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
