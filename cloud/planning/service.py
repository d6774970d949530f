"""Runs the pure planner for a registry zone, records the decision and issues its commands.

Inputs, and where each comes from (recorded in every decision's inputs.sources):

* depletion: the zone's daily water balance to the end of yesterday (balance.py: ET0 from the
  weather node(s), Kc from the crop stage, rain, completed irrigation, probe correction), less
  today's rain so far; when the balance has no ET0 (no weather), the probes alone, as the zone
  summary computes them, less the rain since their reading;
* the week's and season's water used, the zone's runs the depletion does not count yet (in
  flight, or run since its cut-off: deducted like rain, so a refill ordered before midnight is
  not ordered again after it), and when another zone of the hydraulic group is busy until,
  from the command lifecycle (usage.py);
* the forecast, from the configured provider (forecasts.py: stored, its id in the sources; none by default);
* the forecast rain the zone's last plan of an earlier day counted on (rule rain-forecast or adjustment
  shrunk-for-forecast), against the rain the gauge measured over its window since: when less fell, the
  decision says so (decision.forecast-missed);
* the agronomist's override in force, and now in the site's time zone.

A command is created through CommandService with origin "planner" and an idempotency key per
zone and local day, so planning the same zone again that day never waters twice. Each decision
is published on the event bus as "decision".
"""

from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from .._time import Clock, now_ms
from ..agronomy.planner import Decision, MissedRain, Override, OverrideKind, WeatherNow, ZoneState, plan_zone
from ..commands import CommandService
from ..db import Database, DecisionRow, OverrideRow
from ..events import EventBus
from ..registry import FIELDS, SITES, ZONES, Registry, ZoneOut
from ..registry.models import NodeOut
from ..storage import ReadingStore
from .balance import DEFAULT_DAYS, ETC_DAYS, ETC_SPREAD_SD, MAX_DAYS, Balance, BalanceCache, etc_ahead_mm, zone_balance
from .forecast import Where
from .forecasts import ForecastService
from .inputs import DEFAULT_P, Location, MissingInputs, locate, one_valve, rain_since, zone_config, zone_water
from .models import DecisionOut, OverrideAction, OverrideOut
from .summary import disease_summary, pest_summary
from .usage import applied_mm, group_busy_until_ms, own_plan, unbalanced_rows, used_since, zone_commands

log = logging.getLogger(__name__)

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


def _ms(d: date, tz: ZoneInfo) -> int:
    return int(datetime.combine(d, time(0), tz).timestamp() * 1000)


class PlanningService:
    """plan(zone) -> a recorded decision; plan_all() for the scheduler; balance; overrides."""

    def __init__(self, db: Database, registry: Registry, store: ReadingStore, commands: CommandService,
                 clock: Clock = now_ms, forecast: ForecastService | None = None,
                 events: EventBus | None = None) -> None:
        self._db = db
        self._registry = registry
        self._store = store
        self._commands = commands
        self.clock = clock
        self.forecast = forecast or ForecastService(None, db, clock)
        # each zone's last balance: a pass replays only its last days from the store (balance.py)
        self._balances = BalanceCache()
        self.events = events

    async def _site(self, zone: ZoneOut) -> tuple[str, ZoneInfo]:
        field: Any = await self._registry.get(FIELDS, zone.field_id)
        site: Any = await self._registry.get(SITES, field.site_id)
        try:
            return site.id, ZoneInfo(site.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise MissingInputs(zone.id, "timezone", f"site {site.id!r} has an unknown time zone "
                                f"{site.timezone!r}") from None

    async def weather_nodes(self, zone: ZoneOut, nodes: list[NodeOut], site_id: str) -> list[str]:
        """The zone's weather nodes; without one, those of the other zones of the same site."""
        return (await self._weather_and_location(nodes, site_id))[0]

    async def _weather_and_location(self, nodes: list[NodeOut], site_id: str) -> tuple[list[str], Location | None]:
        """The zone's weather nodes (without one, those of the other zones of the same site) and
        where its ET0 is computed for: locate(), the weather nodes', else the zone's, else the
        site's nodes' or the site's own latitude; the site's elevation."""
        site: Any = await self._registry.get(SITES, site_id)
        site_nodes: list[NodeOut] | None = None
        weather = [n.id for n in nodes if n.role == "weather"]
        if not weather:
            site_nodes = await self._registry.nodes_of_site(site_id)
            weather = sorted({n.id for n in site_nodes if n.role == "weather"})
        own = locate(weather, nodes, [], site)
        if own is not None and own.source.startswith(("weather node", "zone node")):
            return weather, own
        if site_nodes is None:
            site_nodes = await self._registry.nodes_of_site(site_id)
        return weather, locate(weather, nodes, site_nodes, site)

    async def _override(self, zone_id: str, now_ms: int) -> OverrideRow | None:
        def newest(session: Session) -> OverrideRow | None:
            q = select(OverrideRow).where(OverrideRow.zone_id == zone_id).order_by(OverrideRow.id.desc()).limit(1)
            return session.scalar(q)

        return _in_force(await self._db.run(newest), now_ms)

    async def balance(self, zone_id: str, days: int = DEFAULT_DAYS) -> Balance:
        """The zone's daily balance over the last `days` complete local days."""
        zone = await self._registry.get_zone(zone_id)
        nodes = await self._registry.nodes_of_zone(zone_id)
        site_id, tz = await self._site(zone)
        now_ms = self.clock()
        today = datetime.fromtimestamp(now_ms / 1000, tz).date()
        weather, location = await self._weather_and_location(nodes, site_id)
        config = zone_config(zone, await self._registry.valves_of_zone(zone_id), location, need_valve=False)
        return await zone_balance(zone, config, nodes, weather, location, self._store, self._db, tz, today, days,
                                  self._balances, now_ms)

    async def gdd_by_day(self, zone_id: str) -> dict[date, float]:
        """The zone's degree days since planting at the end of each complete local day of its balance (from
        planting, at most the balance's MAX_DAYS back); empty without a planting date or a temperature."""
        zone = await self._registry.get_zone(zone_id)
        if zone.planting_date is None:
            return {}
        balance = await self.balance(zone_id, days=MAX_DAYS)
        return {date.fromisoformat(r.date): r.gdd_cum for r in balance.rows if r.gdd_cum is not None}

    async def agronomy(self, zone_id: str) -> dict[str, Any]:
        """Stage, degree days, Kc, the latest decision, pests and disease risk (summary.py)."""
        zone = await self._registry.get_zone(zone_id)
        nodes = await self._registry.nodes_of_zone(zone_id)
        site_id, tz = await self._site(zone)
        now_ms = self.clock()
        weather = await self.weather_nodes(zone, nodes, site_id)
        balance = await self.balance(zone_id, days=1)
        last = balance.rows[-1] if balance.rows else None
        latest = await self.decisions(zone_id, limit=1)
        return {"stage": last.stage if last else None, "gdd_cum": last.gdd_cum if last else None,
                "kc": last.kc if last else None,
                "next_decision": latest[0].model_dump() if latest else None,
                "pests": await pest_summary(self._store, [n.id for n in nodes if n.role == "pest"], now_ms, tz),
                "disease_risk": await disease_summary(self._store, weather, zone.pathogens, now_ms, tz)}

    async def plan(self, zone_id: str, origin: str, publish_plans: bool = True,
                   now_ms: int | None = None) -> DecisionOut:
        """Plan one zone now (or as of `now_ms`: plan_all plans every zone as of one instant);
        record the decision; create its command(s); publish the plans of its valves' gateways
        (unless `publish_plans` is False: plan_all does it once at the end). MissingInputs (409)
        names what is missing; NotFound (404) for an unknown zone."""
        zone = await self._registry.get_zone(zone_id)
        nodes = await self._registry.nodes_of_zone(zone_id)
        valves = await self._registry.valves_of_zone(zone_id)
        site_id, tz = await self._site(zone)
        weather_nodes, location = await self._weather_and_location(nodes, site_id)
        config = zone_config(zone, valves, location)
        now_ms = self.clock() if now_ms is None else now_ms
        now = datetime.fromtimestamp(now_ms / 1000, tz)
        today = now.date()
        balance = await zone_balance(zone, config, nodes, weather_nodes, location, self._store, self._db, tz, today,
                                     cache=self._balances, now_ms=now_ms)
        water = await zone_water(zone, nodes, self._store)
        sources: dict[str, object] = dict(balance.sources)
        etc: float | None = None  # the crop's use per day, counted until water can next reach it
        if balance.modelled:
            last = balance.rows[-1]
            depletion, taw = float(last.depletion_mm or 0.0), last.taw_mm
            etc = etc_ahead_mm(balance.rows)
            since_ms = _ms(today, tz)
            sources["depletion"] = (f"water balance to the end of {last.date} ({last.source}); "
                                    "rain since local midnight deducted; the crop's use counted from then at the "
                                    f"upper bound of ET0 over the last {ETC_DAYS} days (mean + {ETC_SPREAD_SD} sd) "
                                    "x the last day's Kc")
        elif water.depletion_mm is not None:
            depletion, taw = water.depletion_mm, water.taw_mm
            since_ms = water.oldest_probe_ms or now_ms
            sources["depletion"] = ("probes only, as GET /zones/{zone}/summary: (FC - mean vwc) x root depth; "
                                    "the balance has no ET0 (" + ("no weather" if location else
                                                                  "no node has a latitude") + ")")
        else:
            names = ", ".join(n.id for n in nodes) or "none"
            raise MissingInputs(zone_id, "vwc_pct", "no soil moisture reading within the root zone and no "
                                f"weather to model the balance (nodes registered in the zone: {names})")
        rain = await rain_since(weather_nodes, self._store, since_ms, now_ms) if since_ms < now_ms else None
        row = await self._override(zone_id, now_ms)
        override = None if row is None else Override(
            _KIND[OverrideAction(row.action)],
            until=None if row.until_ms is None else datetime.fromtimestamp(row.until_ms / 1000, tz),
            amount_mm=row.amount_mm, by=row.by, reason=row.reason)
        key = f"plan:{zone_id}:{today.isoformat()}"
        week_used, season_used = await self._used(zone, tz, today, key)
        pending_mm, pending_ids = await self._unbalanced(zone, config.irrigation.efficiency, since_ms, now_ms, key)
        busy_ms = await self._db.run(lambda s: group_busy_until_ms(s, zone_id, zone.hydraulic_group, now_ms))
        where = Where(site_id, zone_id, location.lat if location else None, location.lon if location else None, tz)
        answer = await self.forecast.rain(where, now_ms)
        sources["forecast"] = answer.source
        if answer.forecast_id is not None:
            sources["forecast_id"] = answer.forecast_id  # the stored forecast (forecasts table): a replay reads it
        missed = await self._missed_rain(zone_id, weather_nodes, _ms(today, tz), now_ms, tz)
        if missed is not None:
            sources["forecast_missed"] = ("the zone's last plan before today counted on forecast rain; rain_mm of the "
                                          "weather node(s) from that plan to the end of its forecast's horizon")
        state = ZoneState(depletion_mm=depletion, taw_mm=taw, override=override, week_used_mm=round(week_used, 2),
                          season_used_mm=round(season_used, 2), irrigation_since_balance_mm=round(pending_mm, 2),
                          group_busy_until=None if busy_ms is None else datetime.fromtimestamp(busy_ms / 1000, tz),
                          etc_mm_day=etc, depletion_at=datetime.fromtimestamp(since_ms / 1000, tz),
                          forecast_missed=missed)
        decision = plan_zone(config, state, None if rain is None else WeatherNow(rain), answer.forecast, now)

        command_ids = []
        for i, run in enumerate(decision.runs):
            k = f"override:{row.id}" if row is not None and decision.rule == "override-water-now" else key
            # the plans go out once, at the end of the pass (below, or plan_all)
            out, _ = await self._commands.create_run(
                run, zone=zone_id, origin="planner", request_reason=decision.explanation[:400],
                idempotency_key=k if i == 0 else f"{k}:{i}", now_ms=now_ms, replan=False)
            command_ids.append(out.id)
        sources.update({
            "probes": [{"node": p.node, "depth_cm": p.depth_cm, "vwc_pct": p.vwc_pct, "ts_ms": p.ts_ms}
                       for p in water.probes],
            "rain_now": "rain_mm of the weather node(s) since the depletion's time" if rain is not None
            else "absent: no weather node (or no time since the depletion's time)",
            "irrigation_since_balance": (
                "net mm (gross x efficiency) of the zone's runs the depletion does not count yet, in flight "
                f"(planned duration) or run since its cut-off: {', '.join(pending_ids) or 'none'} "
                "(today's own plan left out: it is re-planned)"),
            "budgets": "gross mm of the zone's commands: reported when done, planned while in flight "
                       "(week from Monday 00:00, season from planting)",
            "crop_p": f"{config.crop.p}" + ("" if zone.crop_coefficients else
                                           f" (FAO-56 table 22 common value {DEFAULT_P}; no crop coefficients)"),
        })
        out = await self._record(decision, zone_id, now_ms, origin, command_ids, sources, row, balance)
        plans = self._commands.plans
        if publish_plans and plans is not None:  # even with no command: the plan replaces the old one
            await plans.publish_for_nodes(sorted({v.node_id for v in valves}), now_ms)
        return out

    async def _missed_rain(self, zone_id: str, gauges: list[str], today_ms: int, now_ms: int,
                           tz: ZoneInfo) -> MissedRain | None:
        """The forecast rain the zone's newest plan of an earlier day counted on (rule rain-forecast, or the
        adjustment shrunk-for-forecast), when the gauges measured less over its horizon up to now; None when
        that plan counted on none, there is no gauge, or the rain fell."""
        if not gauges:
            return None

        def newest(session: Session) -> DecisionRow | None:
            q = select(DecisionRow).where(DecisionRow.zone_id == zone_id, DecisionRow.ts_ms < today_ms)
            return session.scalars(q.order_by(DecisionRow.ts_ms.desc(), DecisionRow.id.desc()).limit(1)).first()

        row = await self._db.run(newest)
        forecast = (row.inputs or {}).get("forecast") if row is not None else None
        if row is None or not forecast or not (row.rule == "rain-forecast" or "shrunk-for-forecast" in
                                               (row.detail or {}).get("adjustments", [])):
            return None
        expected = float(forecast["rain_mm"]) * float(forecast.get("probability") or 1.0)
        end_ms = min(now_ms, row.ts_ms + int(forecast.get("horizon_h") or 24) * 3_600_000)
        fell = await rain_since(gauges, self._store, row.ts_ms, end_ms) if row.ts_ms < end_ms else None
        if fell is None or fell >= expected:
            return None
        return MissedRain(expected_mm=expected, fell_mm=fell, since=datetime.fromtimestamp(row.ts_ms / 1000, tz),
                          source=str(forecast.get("source") or "forecast"))

    async def _used(self, zone: ZoneOut, tz: ZoneInfo, today: date, key: str) -> tuple[float, float]:
        """Gross mm used this week and this season, leaving out today's own plan (it is re-planned)."""
        week_start = today - timedelta(days=today.weekday())
        season_start = zone.planting_date if zone.planting_date and zone.planting_date <= today \
            else date(today.year, 1, 1)
        since = min(_ms(week_start, tz), _ms(season_start, tz))
        rows = await self._db.run(lambda s: zone_commands(s, zone.id, since - 86_400_000))
        mine = frozenset(r.id for r in rows if own_plan(key)(r))
        applied = [a for a in (applied_mm(r, zone.area_ha, zone.precip_rate_mm_h) for r in rows) if a is not None]
        return used_since(applied, _ms(week_start, tz), mine), used_since(applied, _ms(season_start, tz), mine)

    async def _unbalanced(self, zone: ZoneOut, efficiency: float, cutoff_ms: int, now_ms: int,
                          key: str) -> tuple[float, list[str]]:
        """Net mm of the zone's runs the depletion at `cutoff_ms` does not count yet, and their ids,
        leaving out today's own plan (it is re-planned, and the idempotency key keeps it single)."""
        mine = own_plan(key)
        rows = [r for r in await self._db.run(lambda s: unbalanced_rows(s, zone.id, cutoff_ms, now_ms))
                if not mine(r)]
        applied = [a for a in (applied_mm(r, zone.area_ha, zone.precip_rate_mm_h) for r in rows) if a is not None]
        return sum(a.gross_mm for a in applied) * efficiency, [a.command_id for a in applied]

    async def plan_all(self, origin: str = "scheduler") -> dict[str, str]:
        """Plan every zone as of one instant; one zone failing never stops the others. {zone: rule
        or error}."""
        now_ms = self.clock()
        results: dict[str, str] = {}
        for zone in await self._registry.all(ZONES):
            zone_id = zone.id  # type: ignore[attr-defined]
            try:
                results[zone_id] = (await self.plan(zone_id, origin, publish_plans=False, now_ms=now_ms)).rule
            except Exception as e:  # noqa: BLE001 - one zone's failure is logged, the rest go on
                log.warning("scheduled plan of zone %s failed: %s", zone_id, e)
                results[zone_id] = f"error: {e}"
        plans = self._commands.plans
        if plans is not None:
            await plans.publish_all(now_ms)  # every gateway's plan, once
        return results

    async def _record(self, decision: Decision, zone_id: str, now_ms: int, origin: str, command_ids: list[str],
                      sources: dict[str, object], override: OverrideRow | None, balance: Balance) -> DecisionOut:
        record = decision.to_record()
        inputs = dict(record["inputs"])  # type: ignore[call-overload]
        inputs["sources"] = sources
        inputs["balance_day"] = vars(balance.rows[-1]) if balance.rows else None
        detail = {k: record[k] for k in ("adjustments", "net_mm", "gross_mm", "runtime_s", "not_before",
                                          "hydraulic_group", "commands")}

        def insert(session: Session) -> DecisionOut:
            row = DecisionRow(zone_id=zone_id, ts_ms=now_ms, rule=decision.rule, action=str(decision.action),
                              inputs=inputs, explanation=decision.explanation[:2000], command_ids=command_ids,
                              origin=origin[:80], detail=detail, messages=record["messages"])
            session.add(row)
            session.flush()
            if override is not None and decision.rule == "override-water-now":
                used = session.get(OverrideRow, override.id)
                if used is not None:
                    used.used_by_decision = row.id
            return DecisionOut.model_validate(row)

        out = await self._db.run(insert)
        if self.events is not None:
            self.events.publish("decision", {"id": out.id, "zone_id": zone_id, "ts_ms": now_ms, "rule": out.rule,
                                             "action": out.action, "explanation": out.explanation,
                                             "messages": out.messages,
                                             "command_ids": command_ids, "origin": out.origin})
        return out

    async def decisions(self, zone_id: str, limit: int = 100) -> list[DecisionOut]:
        """The zone's decisions, newest first."""

        def list_(session: Session) -> list[DecisionOut]:
            q = select(DecisionRow).where(DecisionRow.zone_id == zone_id)
            q = q.order_by(DecisionRow.ts_ms.desc(), DecisionRow.id.desc()).limit(limit)
            return [DecisionOut.model_validate(r) for r in session.scalars(q)]

        return await self._db.run(list_)

    async def override(self, zone_id: str, action: OverrideAction, reason: str, by: str,
                       until_ms: int | None = None, amount_mm: float | None = None) -> OverrideOut:
        """Record an override of an existing zone; the newest one in force is what plan() honours.
        water_now is refused (MissingInputs, 409) when the zone has no one valve to water with:
        the next plan could make no command of it."""
        await self._registry.get_zone(zone_id)
        if action is OverrideAction.WATER_NOW:
            one_valve(zone_id, await self._registry.valves_of_zone(zone_id))
        now_ms = self.clock()

        def insert(session: Session) -> OverrideOut:
            row = OverrideRow(zone_id=zone_id, ts_ms=now_ms, action=str(action), until_ms=until_ms,
                              amount_mm=amount_mm, reason=reason, by=by[:80])
            session.add(row)
            session.flush()
            return OverrideOut.model_validate(row)

        return await self._db.run(insert)
