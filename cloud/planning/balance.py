"""A zone's daily water balance from the farm's own data (FAO-56 ch. 8, agronomy/water_balance.py):
ET0 from the zone's weather node(s), Kc from the crop stage (days or degree days since planting),
effective rain from the rain gauge, irrigation from the commands the controller completed, and
the probes' correction. Every day records where each term came from, and what stood in for a
missing one:

* no ET0 that day (temperatures too sparse): the last day's ET0 is carried, at most
  CARRY_DAYS days; after that the model stops and the probes alone give the depletion;
* no latitude (no node of the zone or site located): no ET0 at all, the probes alone;
* no rain gauge: rain is taken as 0 and the source says so (the probes then correct it);
* no crop coefficients in the registry: Kc 1 and stage "unknown";
* no probe reading that day: the model stands uncorrected;
* a measured canopy cover (photos, cloud/vigour/) sets Kc from the development stage on, by FAO-56
  ch. 9, where the crop has a height; a day without one (or a crop without a height) takes the curve.

`balance_rows` is pure; `zone_balance` fetches its inputs.

Planned every hour of a season, recomputing every day since planting from the store grew with
the square of the season's length. With a `BalanceCache` (PlanningService keeps one) a zone's
balance recomputes only its last REPLAY_DAYS days from the store and takes the days before
from its last computation, with the balance's running state at that point (depletion, degree
days, the ET0 carried). Late data for a day further back than that (a gateway back after more
than a week away) is folded in when the cache is rebuilt (a restart); meanwhile the probe
correction of every new day pulls the depletion back to what the probes measure. The measured
canopy covers are read for the whole season at every call (one small query) and are part of the
cache's key: a cover recorded for any day, even at the same instant, recomputes the balance.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from ..agronomy.canopy_kc import KC_MIN, MeasuredCover
from ..agronomy.crop import gdd
from ..agronomy.et0 import Site, et0_daily
from ..agronomy.water_balance import DayInput, ProbeReading, params_from_zone, probe_depletion, water_balance_day
from ..agronomy.zone import ZoneConfig
from ..db import Database
from ..registry.models import NodeOut, ZoneOut
from ..storage import ReadingStore
from ..vigour.cover import COVER_CARRY_DAYS, daily_cover
from ..vigour.records import cover_points
from .inputs import Location
from .usage import applied_mm, irrigation_by_day, zone_commands
from .weather import HOUR_MS, DayWeather, fetch_weather

CARRY_DAYS = 3
MAX_DAYS = 366
DEFAULT_DAYS = 30
REPLAY_DAYS = 7


@dataclass(frozen=True)
class BalanceRow:
    """One day as GET /zones/{zone}/balance gives it."""

    date: str
    et0_mm: float | None
    kc: float | None
    etc_mm: float | None
    rain_mm: float | None
    effective_rain_mm: float | None
    irrigation_mm: float
    depletion_mm: float | None
    taw_mm: float
    raw_mm: float | None
    ks: float | None
    gdd_cum: float | None
    stage: str
    probe_correction_mm: float | None
    source: str
    cover_pct: float | None = None
    """The measured canopy cover Kc came from (None: Kc is the crop curve's)."""
    excess_mm: float | None = None
    """Water the probes see above field capacity (waterlogging), mm; None without a modelled day."""
    etm_mm: float | None = None
    """The crop's ET with no water stress, Kc ET0 (FAO-56 eq. 58; FAO-33's ETm), unrounded; None without a
    modelled day. With etc_mm (Ks Kc ET0) it gives the season's ETa/ETm for the expected yield."""


@dataclass(frozen=True)
class Balance:
    rows: list[BalanceRow]
    sources: dict[str, str] = field(default_factory=dict)

    @property
    def modelled(self) -> bool:
        """Whether the newest day's depletion comes from the model (ET0 known), not the probes alone."""
        return bool(self.rows) and self.rows[-1].et0_mm is not None and self.rows[-1].depletion_mm is not None


def _r(x: float | None, n: int = 2) -> float | None:
    return None if x is None else round(x, n)


@dataclass(frozen=True)
class BalanceState:
    """The balance's running state at the end of a day (unrounded): where the next day starts."""

    dr_mm: float | None = None
    gdd_cum: float = 0.0
    last_et0: tuple[date, float] | None = None


def balance_rows(config: ZoneConfig, has_coefficients: bool, days: Sequence[DayWeather],
                 probes: dict[date, list[ProbeReading]], irrigation: dict[date, float],
                 has_gauge: bool, has_latitude: bool = True,
                 covers: dict[date, MeasuredCover] | None = None) -> list[BalanceRow]:
    """The balance day by day (module docstring); pure. Without `has_latitude` there is no ET0
    (config.site's latitude is then a placeholder): the probes alone give the depletion."""
    return run_balance(config, has_coefficients, days, probes, irrigation, has_gauge, has_latitude,
                       covers=covers)[0]


def run_balance(config: ZoneConfig, has_coefficients: bool, days: Sequence[DayWeather],
                probes: dict[date, list[ProbeReading]], irrigation: dict[date, float], has_gauge: bool,
                has_latitude: bool = True, start: BalanceState = BalanceState(),
                covers: dict[date, MeasuredCover] | None = None) -> tuple[list[BalanceRow], list[BalanceState]]:
    """`balance_rows` from the state `start` (the end of the day before `days`), with the state at
    the end of each day."""
    params = params_from_zone(config)
    crop = config.crop
    site = Site(latitude_deg=config.site.latitude_deg, elevation_m=config.site.elevation_m)
    taw = 1000.0 * (params.theta_fc - params.theta_wp) * params.zr_m
    rows: list[BalanceRow] = []
    states: list[BalanceState] = []
    dr, gdd_cum, last_et0 = start.dr_mm, start.gdd_cum, start.last_et0
    for d in days:
        notes: list[str] = list(d.notes)
        w = d.weather
        et0 = None
        if w is not None:
            gdd_cum += gdd(w.tmin_c, w.tmax_c, crop.gdd_base_c, crop.gdd_upper_c, crop.gdd_method)
            if has_latitude:
                et0 = et0_daily(w, site).et0_mm
                last_et0 = (d.day, et0)
            else:
                notes.append("no latitude (no located node): no ET0")
        elif last_et0 is not None and (d.day - last_et0[0]).days <= CARRY_DAYS:
            et0 = last_et0[1]
            notes.append(f"et0 carried from {last_et0[0].isoformat()}")
        progress = gdd_cum if crop.stages_in == "gdd" else float((d.day - crop.planting).days + 1)
        rain = d.rain_mm if has_gauge else 0.0
        irr = round(irrigation.get(d.day, 0.0), 2)
        day_probes = probes.get(d.day, [])
        if dr is None:  # the first day starts from the probes, else from field capacity
            first = probe_depletion(day_probes, params.theta_fc, params.theta_wp, params.zr_m, params.probe_reach_cm)
            dr = min(taw, max(0.0, first.depletion_mm)) if first is not None else 0.0
            notes.append("start: depletion from the probes" if first is not None
                         else "start: field capacity assumed (no probe reading)")
        if et0 is None:
            est = probe_depletion(day_probes, params.theta_fc, params.theta_wp, params.zr_m, params.probe_reach_cm)
            if est is not None:
                dr = min(taw, max(0.0, est.depletion_mm))
            why = "probes only: no ET0" if est is not None else "no ET0 and no probe reading: depletion carried"
            rows.append(BalanceRow(
                date=d.day.isoformat(), et0_mm=None, kc=None, etc_mm=None, rain_mm=_r(d.rain_mm),
                effective_rain_mm=None, irrigation_mm=irr, depletion_mm=_r(dr), taw_mm=round(taw, 2), raw_mm=None,
                ks=None, gdd_cum=None, stage="unknown", probe_correction_mm=None, source="; ".join([why, *notes])))
            states.append(BalanceState(dr, gdd_cum, last_et0))
            continue
        cover = (covers or {}).get(d.day)
        rec = water_balance_day(params, dr, progress, DayInput(d.day, et0, rain or 0.0, irr, tuple(day_probes),
                                                               cover=cover))
        dr = rec.dr_mm
        source = ["weather" if w is not None else "weather (carried)",
                  "rain gauge" if has_gauge else "no rain gauge: rain 0",
                  "probes" if rec.probe is not None else "no probe reading: model only"]
        if not has_coefficients:
            source.append("no crop coefficients: Kc 1")
        if rec.cover is not None:
            source.append(f"Kc {rec.kc:.2f} from canopy cover {rec.cover.source} (curve {rec.kc_curve:.2f})")
        rows.append(BalanceRow(
            date=d.day.isoformat(), et0_mm=_r(et0), kc=_r(rec.kc, 3), etc_mm=_r(rec.etc_adj_mm),
            rain_mm=_r(d.rain_mm), effective_rain_mm=_r(rec.p_eff_mm), irrigation_mm=irr,
            depletion_mm=_r(rec.dr_mm), taw_mm=round(taw, 2), raw_mm=_r(rec.raw_mm), ks=_r(rec.ks, 3),
            gdd_cum=_r(gdd_cum), stage=str(rec.stage) if has_coefficients else "unknown",
            probe_correction_mm=_r(rec.dr_mm - rec.dr_model_mm) if rec.probe is not None else None,
            source="; ".join(source + notes), cover_pct=_r(100 * rec.cover.fc, 1) if rec.cover else None,
            excess_mm=_r(rec.excess_mm), etm_mm=rec.etc_mm))
        states.append(BalanceState(dr, gdd_cum, last_et0))
    return rows, states


@dataclass
class _Cached:
    fingerprint: str
    start_day: date
    rows: list[BalanceRow]
    states: list[BalanceState]
    at_ms: int  # when it was computed
    sources: dict[str, object]


@dataclass
class BalanceCache:
    """Each zone's last computed balance (module docstring): rows and states from its first day.
    What was read or computed at one instant is not read again at that instant: the weather of
    a set of nodes over a window (the zones of a site share it in a planning pass, which plans
    every zone as of one instant), and a zone's whole balance (the alert job's, after a plan)."""

    zones: dict[str, _Cached] = field(default_factory=dict)
    weather_at: int | None = None
    weather: dict[tuple, list[DayWeather]] = field(default_factory=dict)

    def resume(self, zone: str, fingerprint: str, start_day: date, n_days: int, now_ms: int
               ) -> tuple[int, list[BalanceRow], list[BalanceState]]:
        """How many of the `n_days` days from `start_day` can be taken as computed (all of them
        if computed at this very instant, else all but the last REPLAY_DAYS, if the zone was
        computed that far with the same inputs), and those."""
        c = self.zones.get(zone)
        if c is None or c.fingerprint != fingerprint or c.start_day != start_day:
            return 0, [], []
        keep = min(len(c.rows), n_days if c.at_ms == now_ms else max(0, n_days - REPLAY_DAYS))
        return keep, c.rows[:keep], c.states[:keep]

    def store(self, zone: str, fingerprint: str, start_day: date, rows: list[BalanceRow],
              states: list[BalanceState], now_ms: int, sources: dict[str, object]) -> None:
        self.zones[zone] = _Cached(fingerprint, start_day, rows, states, now_ms, dict(sources))

    def sources(self, zone: str) -> dict[str, object]:
        """The sources of the zone's last computation."""
        return dict(self.zones[zone].sources)

    def weather_memo(self, now_ms: int) -> dict[tuple, list[DayWeather]]:
        """The weather read at `now_ms` (forgotten when the instant changes)."""
        if self.weather_at != now_ms:
            self.weather_at, self.weather = now_ms, {}
        return self.weather


ETC_DAYS = 14
ETC_SPREAD_SD = 3


def etc_ahead_mm(rows: Sequence[BalanceRow], days: int = ETC_DAYS) -> float | None:
    """The daily ETc the planner counts until the zone can next be watered (None without ET0 or Kc):
    the upper bound of the last `days` days' ET0, mean + ETC_SPREAD_SD (3) standard deviations (a
    day beyond it is rarer than 1 in 700 under a normal spread) and at least the highest of those
    days, times the last day's Kc. Not the last day's ETc: a hotter day ahead both uses more and
    lowers p (FAO-56 table 22, footnote: p = p_table + 0.04 (5 - ETc)), the cloud has no ETc
    forecast, and a warm spell raises ET0 from one day to the next (at two standard deviations the
    first days of the HIL's dry spell took a zone to RAW). The spread is the weather's alone: a step
    in Kc (a new canopy cover measurement, a stage) is the crop's state today, not a variation to
    expect, so it scales the bound instead of widening it (ETc = Kc ET0, FAO-56 eq. 56)."""
    window = rows[-days:]
    values = [r.et0_mm for r in window if r.et0_mm is not None]
    kc = next((r.kc for r in reversed(window) if r.kc is not None), None)
    if not values or kc is None:
        return None
    mean = sum(values) / len(values)
    sd = (sum((v - mean) ** 2 for v in values) / len(values)) ** 0.5
    return max(max(values), mean + ETC_SPREAD_SD * sd) * kc


def _day_bounds(d: date, tz: ZoneInfo) -> int:
    return int(datetime.combine(d, time(0), tz).timestamp() * 1000)


async def _probes_by_day(store: ReadingStore, nodes: list[str], start_ms: int, end_ms: int,
                         tz: ZoneInfo) -> dict[date, list[ProbeReading]]:
    """The last hourly mean of each probe (node, depth) on each local day."""
    if not nodes:
        return {}
    last: dict[tuple[date, str, int], tuple[int, float]] = {}
    for b in await store.aggregate(nodes, "vwc_pct", start_ms, end_ms, HOUR_MS, "mean"):
        if b.value is None or b.depth_cm is None:
            continue
        d = datetime.fromtimestamp(b.time_ms / 1000, tz).date()
        key = (d, b.node, b.depth_cm)
        if key not in last or last[key][0] < b.time_ms:
            last[key] = (b.time_ms, b.value)
    out: dict[date, list[ProbeReading]] = {}
    for (d, _node, depth), (_t, value) in sorted(last.items()):
        out.setdefault(d, []).append(ProbeReading(depth_cm=float(depth), vwc_pct=value))
    return out


def _et0_source(location: Location | None) -> str:
    if location is None:
        return "absent: no node of the zone or site has a latitude, nor the site, and ET0 needs one; the probes alone"
    elevation = (f"site elevation {location.elevation_m:g} m" if location.elevation_m is not None
                 else "site elevation 0 m (the site has none in the registry)")
    return f"FAO-56 eq. 6 with the ch. 3 missing-data rules, {elevation}, latitude of {location.source}"


def _cover_source(config: ZoneConfig, measurements: int) -> str:
    if not measurements:
        return "absent: no measured canopy cover; Kc from the crop curve"
    if config.crop.height_m is None:
        return (f"{measurements} canopy cover measurement(s) not used: the crop has no height_m, and FAO-56 ch. 9's "
                "density coefficient needs it; Kc from the crop curve")
    return (f"{measurements} canopy cover measurement(s) (canopy_cover), interpolated between them and carried "
            f"{COVER_CARRY_DAYS} days: Kc = {KC_MIN:g} + Kd (Kc mid - {KC_MIN:g}) from the development stage on "
            f"(FAO-56 ch. 9, h {config.crop.height_m:g} m)")


async def zone_balance(zone: ZoneOut, config: ZoneConfig, nodes: list[NodeOut], weather_nodes: list[str],
                       location: Location | None, store: ReadingStore, db: Database, tz: ZoneInfo, today: date,
                       days: int = DEFAULT_DAYS, cache: BalanceCache | None = None,
                       now_ms: int = 0) -> Balance:
    """The balance over the complete local days before `today`: from planting (at most MAX_DAYS
    back) when the zone has a planting date, else the last `days` days. Rows: the last `days`.
    With `cache`, only the last REPLAY_DAYS days are read and recomputed, nothing again at the
    same instant `now_ms` (module docstring)."""
    first = today - timedelta(days=MAX_DAYS)
    start_day = max(zone.planting_date, first) if zone.planting_date else today - timedelta(days=days)
    day_list = [start_day + timedelta(days=i) for i in range((today - start_day).days)]
    sources = {
        "weather": f"weather node(s) {', '.join(weather_nodes)}" if weather_nodes else "absent: no weather node",
        "et0": _et0_source(location),
        "kc": "registry crop_coefficients (FAO-56 eq. 66)" if zone.crop_coefficients else
        "fallback Kc 1: the zone has no crop_coefficients",
        "irrigation": "completed commands: volume over the zone's area, else runtime x precipitation rate",
        "probes": "daily last hourly mean per probe, weighted by depth (water_balance.probe_depletion)",
    }
    if not day_list:
        return Balance([], sources)
    soil = [n.id for n in nodes if n.role == "soil"]
    # every cover of the season: one before the replayed days may still interpolate into them
    season_ms = _day_bounds(start_day, tz) - COVER_CARRY_DAYS * 86_400_000
    points = await db.run(lambda s: cover_points(s, zone.id, season_ms, _day_bounds(today, tz)))
    sources["cover"] = _cover_source(config, len(points))
    fingerprint = repr((config.model_dump_json(), zone.crop_coefficients is not None, weather_nodes, soil,
                        location, tz.key, zone.area_ha, zone.precip_rate_mm_h, points))
    kept, old_rows, old_states = (cache.resume(zone.id, fingerprint, start_day, len(day_list), now_ms)
                                  if cache else (0, [], []))
    if cache is not None and kept == len(day_list):  # computed at this instant already
        return Balance(old_rows[-days:], {**cache.sources(zone.id), "replay": "as computed at this instant"})
    sources["replay"] = (f"days to {day_list[kept - 1].isoformat()} as last computed, the last {len(day_list) - kept} "
                         "replayed from the store" if kept else "full: every day recomputed from the store")
    all_days, day_list = day_list, day_list[kept:]
    start_ms, end_ms = _day_bounds(day_list[0], tz), _day_bounds(today, tz)
    memo = cache.weather_memo(now_ms) if cache is not None else None
    key = (tuple(weather_nodes), start_ms, end_ms, tz.key)
    weather = memo.get(key) if memo is not None else None
    if weather is None:
        weather = await fetch_weather(store, weather_nodes, start_ms, end_ms, tz, day_list)
        if memo is not None:
            memo[key] = weather
    has_gauge = any(d.rain_mm is not None for d in weather) and bool(weather_nodes)
    sources["rain"] = "rain_mm of the weather node(s), FAO-56 ch. 8 effective rain" if has_gauge else \
        "absent: no rain gauge, rain taken as 0"
    probes = await _probes_by_day(store, soil, start_ms, end_ms, tz)
    # a run on the first day may have been created a day or two before it
    rows = await db.run(lambda s: zone_commands(s, zone.id, start_ms - 2 * 86_400_000))
    applied = [a for a in (applied_mm(r, zone.area_ha, zone.precip_rate_mm_h) for r in rows) if a is not None]
    irrigation = irrigation_by_day(applied, tz, config.irrigation.efficiency)
    covers = daily_cover(points, day_list, tz)
    # ET0 for every day of the season is CPU work: off the event loop
    new_rows, new_states = await asyncio.to_thread(
        run_balance, config, zone.crop_coefficients is not None, weather, probes, irrigation, has_gauge,
        location is not None, old_states[-1] if old_states else BalanceState(), covers)
    rows_all, states_all = old_rows + new_rows, old_states + new_states
    if cache is not None:
        cache.store(zone.id, fingerprint, all_days[0], rows_all, states_all, now_ms, sources)
    return Balance(rows_all[-days:], sources)
