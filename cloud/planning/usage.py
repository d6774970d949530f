"""Water the zones were given, from the command lifecycle: what reached each zone by day (for the
balance), what the budgets have used, and when a hydraulic group is next free.

A completed, aborted or cancelled command counts with what the controller reported (a run a
cancel stopped reports what it ran, a cancelled held one nothing): its volume over the zone's
area when the flow meter measured one (1 L/m² = 1 mm), else its runtime at the emitters'
precipitation rate. A command still in flight (created, sent, received, started) counts for the
budgets at its planned duration, so two plans cannot both spend the same millimetres.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from furrow.edge.commands import RUNS

from ..commands.lifecycle import CommandState
from ..db import CommandRow, ZoneRow

DONE = (CommandState.COMPLETED, CommandState.ABORTED, CommandState.CANCELLED)
IN_FLIGHT = (CommandState.CREATED, CommandState.SENT, CommandState.RECEIVED, CommandState.STARTED)


@dataclass(frozen=True)
class Applied:
    """One command's water on the zone."""

    command_id: str
    start_ms: int
    gross_mm: float
    measured: bool
    """True when the controller reported it (completed/aborted); False: planned, still in flight."""


def applied_mm(row: CommandRow, area_ha: float, rate_mm_h: float) -> Applied | None:
    """The water a command put (or will put) on the zone; None for one that never ran."""
    if row.action not in RUNS:
        return None
    if row.state in DONE:
        if row.volume_l is not None and area_ha > 0:
            mm = row.volume_l / (area_ha * 10_000.0)
        else:
            mm = (row.runtime_s or 0) / 3600.0 * rate_mm_h
        start = row.updated_ms - (row.runtime_s or 0) * 1000
        return Applied(row.id, start, mm, True)
    if row.state in IN_FLIGHT:
        return Applied(row.id, row.not_before_ms, (row.duration_s or 0) / 3600.0 * rate_mm_h, False)
    return None


def zone_commands(session: Session, zone_id: str, since_ms: int) -> list[CommandRow]:
    """The zone's open commands created since `since_ms`."""
    q = select(CommandRow).where(CommandRow.zone == zone_id, CommandRow.created_ms >= since_ms)
    return list(session.scalars(q.order_by(CommandRow.created_ms)))


def irrigation_by_day(applied: Iterable[Applied], tz: ZoneInfo, efficiency: float) -> dict[date, float]:
    """Net mm (gross x efficiency) that reached the zone, by the local day each run started;
    only what the controller reported counts."""
    out: dict[date, float] = {}
    for a in applied:
        if a.measured:
            d = datetime.fromtimestamp(a.start_ms / 1000, tz).date()
            out[d] = out.get(d, 0.0) + a.gross_mm * efficiency
    return out


def used_since(applied: Iterable[Applied], since_ms: int, exclude: frozenset[str] = frozenset()) -> float:
    """Gross mm spent (reported) or committed (in flight) from `since_ms` on."""
    return sum(a.gross_mm for a in applied if a.start_ms >= since_ms and a.command_id not in exclude)


def own_plan(key: str) -> Callable[[CommandRow], bool]:
    """Whether a command is one of the plan `key`'s own (its first run, or a split run "key:i")."""
    return lambda r: bool(r.idempotency_key) and (r.idempotency_key == key or
                                                   str(r.idempotency_key).startswith(key + ":"))


def unbalanced_rows(session: Session, zone_id: str, cutoff_ms: int, now_ms: int) -> list[CommandRow]:
    """The zone's open commands whose water the depletion at `cutoff_ms` does not count yet: those
    in flight (not started ones only while they may still start) and those that ran from the
    cut-off on (the balance counts a run on the day it started)."""
    q = select(CommandRow).where(CommandRow.zone == zone_id, CommandRow.action.in_(RUNS), or_(
        CommandRow.state.in_([str(s) for s in IN_FLIGHT]),
        and_(CommandRow.state.in_([str(s) for s in DONE]), CommandRow.updated_ms >= cutoff_ms)))
    out = []
    for r in session.scalars(q.order_by(CommandRow.created_ms)):
        if r.state in DONE:
            if r.updated_ms - (r.runtime_s or 0) * 1000 >= cutoff_ms:
                out.append(r)
        elif r.state == CommandState.STARTED or r.expires_ms > now_ms:
            out.append(r)
    return out


def group_busy_until_ms(session: Session, zone_id: str, group: str | None, now_ms: int) -> int | None:
    """When the last in-flight run of another zone of the same hydraulic group ends (None: free)."""
    if not group:
        return None
    others = list(session.scalars(select(ZoneRow.id).where(ZoneRow.hydraulic_group == group,
                                                           ZoneRow.id != zone_id)))
    if not others:
        return None
    q = select(CommandRow).where(CommandRow.zone.in_(others), CommandRow.state.in_([str(s) for s in IN_FLIGHT]),
                                 CommandRow.action.in_(RUNS))
    # a started run began when the controller said so (updated_ms), at the earliest at not_before
    ends = [(max(r.not_before_ms, r.updated_ms) if r.state == CommandState.STARTED else r.not_before_ms)
            + (r.duration_s or 0) * 1000 for r in session.scalars(q)]
    busy = max(ends, default=None)
    return busy if busy is not None and busy > now_ms else None
