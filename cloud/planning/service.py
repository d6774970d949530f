"""Runs the pure planner for a registry zone, records the decision and issues its commands.

Inputs: the registry zone (inputs.zone_config), the probes' depletion (inputs.zone_water, as
the zone summary computes it), rain since the probes' reading from the zone's weather
nodes, the agronomist's override in force, and now in the site's time zone. A command is
created through CommandService with origin "planner" and an idempotency key per zone and
local day, so planning the same zone again that day never waters twice.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from .._time import now_ms as _now_ms
from .._time import parse_instant
from ..agronomy.planner import Decision, Override, OverrideKind, WeatherNow, ZoneState, plan_zone
from ..commands import CommandService
from ..db import Database, DecisionRow, OverrideRow
from ..registry import FIELDS, SITES, Registry, ZoneOut
from ..storage import ReadingStore
from .inputs import DEFAULT_P, MissingInputs, ZoneWater, rain_since, zone_config, zone_water
from .models import DecisionOut, OverrideAction, OverrideOut

_KIND = {OverrideAction.SKIP: OverrideKind.SKIP, OverrideAction.HOLD: OverrideKind.HOLD,
         OverrideAction.WATER_NOW: OverrideKind.WATER_NOW}


def _in_force(row: OverrideRow | None, now_ms: int) -> OverrideRow | None:
    """The newest override, unless it was ended, has run out or (water_now) was used."""
    if row is None or row.action == OverrideAction.RESUME:
        return None
    if row.until_ms is not None and row.until_ms <= now_ms:
        return None
    if row.action == OverrideAction.WATER_NOW and row.used_by_decision is not None:
        return None
    return row


class PlanningService:
    """plan(zone) -> a recorded decision; the decisions of a zone; overrides."""

    def __init__(self, db: Database, registry: Registry, store: ReadingStore, commands: CommandService,
                 clock: Callable[[], int] = _now_ms) -> None:
        self._db = db
        self._registry = registry
        self._store = store
        self._commands = commands
        self._clock = clock

    async def _timezone(self, zone: ZoneOut) -> ZoneInfo:
        field: Any = await self._registry.get(FIELDS, zone.field_id)
        site: Any = await self._registry.get(SITES, field.site_id)
        try:
            return ZoneInfo(site.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise MissingInputs(zone.id, "timezone", f"site {site.id!r} has an unknown time zone "
                                f"{site.timezone!r}") from None

    async def _override(self, zone_id: str, now_ms: int) -> OverrideRow | None:
        def newest(session: Session) -> OverrideRow | None:
            q = select(OverrideRow).where(OverrideRow.zone_id == zone_id).order_by(OverrideRow.id.desc()).limit(1)
            return session.scalar(q)

        return _in_force(await self._db.run(newest), now_ms)

    async def plan(self, zone_id: str, origin: str) -> DecisionOut:
        """Plan one zone now; record the decision; create its command(s). MissingInputs (409)
        names what is missing; NotFound (404) for an unknown zone."""
        zone = await self._registry.get_zone(zone_id)
        nodes = await self._registry.nodes_of_zone(zone_id)
        config = zone_config(zone, await self._registry.valves_of_zone(zone_id), nodes)
        water = await zone_water(zone, nodes, self._store)
        if water.depletion_mm is None:
            names = ", ".join(n.id for n in nodes) or "none"
            raise MissingInputs(zone_id, "vwc_pct", "no soil moisture reading within the root zone "
                                f"(nodes registered in the zone: {names})")
        tz = await self._timezone(zone)
        now_ms = self._clock()
        now = datetime.fromtimestamp(now_ms / 1000, tz)
        since_ms = water.oldest_probe_ms or now_ms
        rain = await rain_since(nodes, self._store, since_ms, now_ms) if since_ms < now_ms else None
        row = await self._override(zone_id, now_ms)
        override = None if row is None else Override(
            _KIND[OverrideAction(row.action)],
            until=None if row.until_ms is None else datetime.fromtimestamp(row.until_ms / 1000, tz),
            amount_mm=row.amount_mm, by=row.by, reason=row.reason)
        state = ZoneState(depletion_mm=water.depletion_mm, taw_mm=water.taw_mm, override=override)
        decision = plan_zone(config, state, None if rain is None else WeatherNow(rain), None, now)

        command_ids = []
        for i, cmd in enumerate(decision.commands):
            key = f"override:{row.id}" if row is not None and decision.rule == "override-water-now" \
                else f"plan:{zone_id}:{now.date().isoformat()}"
            out, _ = await self._commands.create(
                zone=zone_id, amount_min=int(cmd["duration_s"]) / 60,  # type: ignore[call-overload]
                not_before_ms=parse_instant("not_before", str(cmd["not_before"])),
                ttl_s=int(cmd["ttl_s"]), max_runtime_s=int(cmd["max_runtime_s"]),  # type: ignore[call-overload]
                origin="planner", request_reason=decision.explanation[:400],
                idempotency_key=key if i == 0 else f"{key}:{i}", now_ms=now_ms)
            command_ids.append(out.id)
        return await self._record(decision, zone_id, now_ms, origin, command_ids, water, rain, row)

    async def _record(self, decision: Decision, zone_id: str, now_ms: int, origin: str, command_ids: list[str],
                      water: ZoneWater, rain: float | None, override: OverrideRow | None) -> DecisionOut:
        record = decision.to_record()
        inputs = dict(record["inputs"])  # type: ignore[call-overload]
        inputs["sources"] = {
            "depletion": "probes only, as GET /zones/{zone}/summary: (FC - mean vwc) x root depth",
            "probes": [{"node": p.node, "depth_cm": p.depth_cm, "vwc_pct": p.vwc_pct, "ts_ms": p.ts_ms}
                       for p in water.probes],
            "rain": "rain_mm of the zone's weather nodes since the probes' reading" if rain is not None
            else "absent: no weather node in the zone (or no time since the probes' reading)",
            "et0": "not used: the depletion is measured by the probes, not modelled",
            "forecast": "absent: no forecast source configured",
            "crop_p": f"{DEFAULT_P} (FAO-56 table 22 common value; the registry holds no crop coefficients)",
        }
        detail = {k: record[k] for k in ("adjustments", "net_mm", "gross_mm", "runtime_s", "not_before",
                                          "hydraulic_group", "commands")}

        def insert(session: Session) -> DecisionOut:
            row = DecisionRow(zone_id=zone_id, ts_ms=now_ms, rule=decision.rule, action=str(decision.action),
                              inputs=inputs, explanation=decision.explanation[:2000], command_ids=command_ids,
                              origin=origin[:80], detail=detail)
            session.add(row)
            session.flush()
            if override is not None and decision.rule == "override-water-now":
                used = session.get(OverrideRow, override.id)
                if used is not None:
                    used.used_by_decision = row.id
            return DecisionOut.model_validate(row)

        return await self._db.run(insert)

    async def decisions(self, zone_id: str, limit: int = 100) -> list[DecisionOut]:
        """The zone's decisions, newest first."""

        def list_(session: Session) -> list[DecisionOut]:
            q = select(DecisionRow).where(DecisionRow.zone_id == zone_id)
            q = q.order_by(DecisionRow.ts_ms.desc(), DecisionRow.id.desc()).limit(limit)
            return [DecisionOut.model_validate(r) for r in session.scalars(q)]

        return await self._db.run(list_)

    async def override(self, zone_id: str, action: OverrideAction, reason: str, by: str,
                       until_ms: int | None = None, amount_mm: float | None = None) -> OverrideOut:
        """Record an override of an existing zone; the newest one in force is what plan() honours."""
        await self._registry.get_zone(zone_id)
        now_ms = self._clock()

        def insert(session: Session) -> OverrideOut:
            row = OverrideRow(zone_id=zone_id, ts_ms=now_ms, action=str(action), until_ms=until_ms,
                              amount_mm=amount_mm, reason=reason, by=by[:80])
            session.add(row)
            session.flush()
            return OverrideOut.model_validate(row)

        return await self._db.run(insert)
