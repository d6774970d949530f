"""Irrigation policies a scenario can run: `furrow` (the planner) and `timer` (the baseline).

`furrow` is the cloud's agronomy run on what the nodes reported and the
pipeline stored, never on the farm's hidden state. Once a day, at the plan
hour, per zone:

1. weather of the last 24 h from the weather node's stored readings: Tmin,
   Tmax, RH min/max, mean wind, Rs summed from the irradiance readings, and
   rain from the gauge; ET0 by FAO-56 eq. 6 (`et0_daily`); degree days;
2. the FAO-56 water balance (`water_balance_day`) on that day with the crop
   staged by those degree days, the irrigation the controllers reported done
   (runtime x precipitation rate), and each probe's newest vwc_pct reading of
   the day, which nudge the modelled depletion (probe assimilation);
3. `plan_zone` decides (MAD reached, refill to target, night window, runtime
   cap) and `schedule_groups` sequences a hydraulic group; each command the
   decision carries is issued with its not-before, expiry and max runtime.

`timer` is what a farm without Furrow runs: every `every_days` days at 22:00
each zone gets the same depth, sized so that the crop does not stress in an
average week at full canopy: depth = every_days x Kc_mid x mean ET0 of the
site's climate (no rain, no probes, no crop stage).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from furrow.cloud.agronomy import DailyWeather, Site, ZoneConfig, et0_daily, gdd
from furrow.cloud.agronomy.planner import ZoneState, plan_zone, schedule_groups
from furrow.cloud.agronomy.water_balance import (
    DayInput,
    ProbeReading,
    params_from_zone,
    probe_depletion,
    water_balance_day,
)
from furrow.cloud.storage import ReadingStore
from furrow.hil.command_log import CommandLog, CommandRequest

DAY_MS = 86_400_000


@dataclass(frozen=True)
class ZoneSetup:
    """One zone as the cloud knows it: its agronomy config and the nodes registered to it."""

    config: ZoneConfig
    soil_nodes: tuple[str, ...]
    weather_node: str


class Policy(Protocol):
    name: str
    plan_hour: int

    async def plan(self, now: datetime, log: CommandLog) -> list[CommandRequest]: ...

    def summary(self) -> dict[str, object]: ...


def _ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)


@dataclass
class _ZoneState:
    dr_mm: float | None = None
    gdd: float = 0.0


@dataclass
class FurrowPolicy:
    """The planner, fed by the cloud's stored readings (see the module docstring)."""

    zones: list[ZoneSetup]
    store: ReadingStore
    site: Site
    plan_hour: int = 21
    name: str = "furrow"
    rules: Counter[str] = field(default_factory=Counter)
    history: dict[str, list[tuple[float, float, float]]] = field(default_factory=dict)
    """zone -> (day, balance depletion, RAW) as the planner saw it, for the report."""
    _state: dict[str, _ZoneState] = field(default_factory=dict)

    async def _weather(self, node: str, start_ms: int, end_ms: int, day: datetime) -> tuple[DailyWeather, float] | None:
        readings = await self.store.query(node, None, start_ms, end_ms, 100_000)
        by: dict[str, list[tuple[int, float]]] = {}
        for r in readings:
            if r.value is not None:
                by.setdefault(r.measurement, []).append((r.ts_ms, r.value))
        temps = [v for _, v in by.get("air_temp_c", [])]
        if not temps:
            return None
        rh = [v for _, v in by.get("rh_pct", [])]
        wind = [v for _, v in by.get("wind_ms", [])]
        rs = sorted(by.get("rs_w_m2", []))
        rs_mj = None
        if len(rs) >= 12:
            step_s = (end_ms - start_ms) / 1000 / len(rs)  # each reading stands for its share of the window
            rs_mj = sum(v for _, v in rs) * step_s / 1e6
        w = DailyWeather(day=day.date(), tmin_c=min(temps), tmax_c=max(temps),
                         rh_min_pct=min(rh) if rh else None, rh_max_pct=max(rh) if rh else None,
                         wind_ms=sum(wind) / len(wind) if wind else None, rs_mj_m2=rs_mj)
        return w, sum(v for _, v in by.get("rain_mm", []))

    async def _probes(self, nodes: tuple[str, ...], start_ms: int, end_ms: int) -> list[ProbeReading]:
        """The newest vwc_pct of each probe within the window (a day: older is no news of today)."""
        out = []
        for node in nodes:
            newest: dict[int, float | None] = {}
            for r in await self.store.query(node, "vwc_pct", start_ms, end_ms, 10_000):  # oldest first
                if r.depth_cm is not None:
                    newest[r.depth_cm] = r.value
            # a faulted probe (value None) stays out; quality 1 for a healthy calibrated one
            out += [ProbeReading(depth_cm=d, vwc_pct=v) for d, v in sorted(newest.items()) if v is not None]
        return out

    async def plan(self, now: datetime, log: CommandLog) -> list[CommandRequest]:
        end_ms = _ms(now)
        start_ms = end_ms - DAY_MS
        decisions = []
        seen: dict[str, tuple[DailyWeather, float] | None] = {}  # one station serves many zones
        for z in self.zones:
            cfg = z.config
            st = self._state.setdefault(cfg.id, _ZoneState())
            params = params_from_zone(cfg)
            probes = await self._probes(z.soil_nodes, start_ms, end_ms)
            if z.weather_node not in seen:
                seen[z.weather_node] = await self._weather(z.weather_node, start_ms, end_ms, now)
            weather = seen[z.weather_node]
            if weather is None:
                self.rules["no-weather"] += 1
                continue
            w, rain = weather
            if st.dr_mm is None:
                est = probe_depletion(probes, params.theta_fc, params.theta_wp, params.zr_m, params.probe_reach_cm)
                st.dr_mm = max(0.0, est.depletion_mm) if est is not None else cfg.balance.initial_depletion_mm
            day_gdd = gdd(w.tmin_c, w.tmax_c, cfg.crop.gdd_base_c, cfg.crop.gdd_upper_c, cfg.crop.gdd_method)
            st.gdd += day_gdd
            irrigated = log.completed_net_mm(cfg.id, start_ms, end_ms, cfg.irrigation.precipitation_rate_mm_h)
            et0 = et0_daily(w, self.site).et0_mm
            rec = water_balance_day(params, st.dr_mm, st.gdd,
                                    DayInput(day=w.day, et0_mm=et0, rain_mm=rain, irrigation_mm=irrigated,
                                             probes=tuple(probes), gdd=day_gdd))
            st.dr_mm = rec.dr_mm
            self.history.setdefault(cfg.id, []).append((end_ms / DAY_MS, rec.dr_mm, rec.raw_mm))
            decision = plan_zone(cfg, ZoneState(depletion_mm=rec.dr_mm, taw_mm=rec.taw_mm), None, None, now)
            self.rules[decision.rule] += 1
            decisions.append(decision)
        requests = []
        for d in schedule_groups(decisions):
            for c in d.commands:
                nb = _ms(datetime.fromisoformat(str(c["not_before"])))
                requests.append(CommandRequest(zone=d.zone, node=str(c["node"]), valve=int(c["valve"]),  # type: ignore[call-overload]
                                               duration_s=int(c["duration_s"]),  # type: ignore[call-overload]
                                               max_runtime_s=int(c["max_runtime_s"]),  # type: ignore[call-overload]
                                               not_before_ms=nb, expires_ms=nb + int(c["ttl_s"]) * 1000,  # type: ignore[call-overload]
                                               net_mm=d.net_mm, why=d.explanation))
        return requests

    def summary(self) -> dict[str, object]:
        return {"planner_rules": dict(self.rules)}


@dataclass
class TimerPolicy:
    """A fixed schedule (see the module docstring for its sizing)."""

    zones: list[ZoneSetup]
    mean_et0_mm: float
    kc_mid: float
    every_days: int = 3
    start_hour: int = 22
    plan_hour: int = 21
    name: str = "timer"
    _day: int = 0

    @property
    def depth_mm(self) -> float:
        return self.every_days * self.kc_mid * self.mean_et0_mm

    async def plan(self, now: datetime, log: CommandLog) -> list[CommandRequest]:
        self._day += 1
        if (self._day - 1) % self.every_days:
            return []
        start = now.astimezone(UTC).replace(hour=self.start_hour, minute=0, second=0, microsecond=0)
        out = []
        for z in self.zones:
            irr = z.config.irrigation
            runtime = min(irr.max_runtime_s, math.ceil(self.depth_mm / irr.precipitation_rate_mm_h * 3600))
            nb = _ms(start)
            out.append(CommandRequest(zone=z.config.id, node=irr.node, valve=irr.valve, duration_s=runtime,
                                      max_runtime_s=min(irr.max_runtime_s, runtime + 600), not_before_ms=nb,
                                      expires_ms=nb + int(timedelta(hours=2).total_seconds() * 1000),
                                      net_mm=runtime / 3600 * irr.precipitation_rate_mm_h,
                                      why=f"timer: {self.depth_mm:.1f} mm every {self.every_days} days"))
        return out

    def summary(self) -> dict[str, object]:
        return {"timer_depth_mm": round(self.depth_mm, 1), "timer_every_days": self.every_days}
