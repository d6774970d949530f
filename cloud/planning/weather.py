"""The farm's own weather, by local day: hourly means from the readings store, then the daily
inputs of FAO-56 eq. 6 (Tmin, Tmax, RHmin, RHmax, u2, Rs) and the day's rain.

A day is only as good as its hours. The rules, and why:

* temperature: Tmin and Tmax need at least MIN_HOURS (18) hourly means, or the extremes of
  the day may have been missed; without them the day has no ET0 (and no degree days);
* humidity: RHmin/RHmax under the same coverage rule, else left missing, and et0_daily
  applies FAO-56's missing-humidity rule (ea from Tmin, eq. 48);
* wind: the mean of the hours there are (at least 1), else missing (2 m/s, FAO-56 ch. 3);
* solar radiation: the daily mean of rs_w_m2 x 0.0864 [MJ m-2 day-1], only with all 24 hours,
  since a missing hour of sun biases it down; else missing (Hargreaves, eq. 50);
* rain: the sum of the day's rain_mm; with several gauges, their mean.

Several weather nodes are averaged hour by hour.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from ..agronomy.et0 import DailyWeather
from ..storage import ReadingStore

HOUR_MS = 3_600_000
MIN_HOURS = 18
W_M2_TO_MJ_DAY = 0.0864  # 1 W/m² over 86 400 s
MEASUREMENTS = ("air_temp_c", "rh_pct", "wind_ms", "rs_w_m2")


@dataclass(frozen=True)
class DayWeather:
    """One local day: the ET0 inputs (None when temperatures are too sparse), rain, and notes."""

    day: date
    weather: DailyWeather | None
    rain_mm: float | None
    """None when the zone has no rain gauge reading that day."""
    hours: dict[str, int] = field(default_factory=dict)
    notes: tuple[str, ...] = ()


def hourly_means(buckets: Iterable[tuple[str, int, float]], tz: ZoneInfo) -> dict[tuple[date, int], float]:
    """(node, hour start ms, mean) buckets of several nodes -> {(local day, local hour): mean over nodes}."""
    acc: dict[tuple[date, int], list[float]] = {}
    for _node, t_ms, value in buckets:
        local = datetime.fromtimestamp(t_ms / 1000, tz)
        acc.setdefault((local.date(), local.hour), []).append(value)
    return {k: sum(v) / len(v) for k, v in acc.items()}


def daily_rain(buckets: Iterable[tuple[str, int, float]], tz: ZoneInfo) -> dict[date, float]:
    """(node, hour start ms, sum) rain buckets -> {local day: mean over gauges of each gauge's total}."""
    per_node: dict[date, dict[str, float]] = {}
    for node, t_ms, value in buckets:
        d = datetime.fromtimestamp(t_ms / 1000, tz).date()
        per_node.setdefault(d, {}).setdefault(node, 0.0)
        per_node[d][node] += value
    return {d: sum(v.values()) / len(v) for d, v in per_node.items()}


def daily_weather(days: Sequence[date], hourly: dict[str, dict[tuple[date, int], float]],
                  rain: dict[date, float] | None) -> list[DayWeather]:
    """The daily inputs of each day from the hourly means of each measurement (module docstring)."""
    # one pass over the hours, grouped by day: a season is ~9000 hours a measurement, and scanning
    # them all for each day made this O(days x hours)
    by_day: dict[str, dict[date, list[float]]] = {m: {} for m in MEASUREMENTS}
    for m in MEASUREMENTS:
        for (day, _h), v in hourly.get(m, {}).items():
            by_day[m].setdefault(day, []).append(v)
    out = []
    for d in days:
        series = {m: by_day[m].get(d, []) for m in MEASUREMENTS}
        hours = {m: len(v) for m, v in series.items()}
        notes: list[str] = []
        temps, rh, wind, rs = (series[m] for m in MEASUREMENTS)
        weather = None
        if len(temps) >= MIN_HOURS:
            rh_ok = len(rh) >= MIN_HOURS
            if rh and not rh_ok:
                notes.append(f"rh_pct: {len(rh)} h < {MIN_HOURS}, humidity treated as missing")
            if rs and len(rs) < 24:
                notes.append(f"rs_w_m2: {len(rs)} h < 24, radiation treated as missing")
            weather = DailyWeather(
                day=d, tmin_c=min(temps), tmax_c=max(temps),
                rh_min_pct=min(rh) if rh_ok else None, rh_max_pct=max(rh) if rh_ok else None,
                wind_ms=sum(wind) / len(wind) if wind else None,
                rs_mj_m2=sum(rs) / 24 * W_M2_TO_MJ_DAY if len(rs) >= 24 else None)
        elif temps:
            notes.append(f"air_temp_c: {len(temps)} h < {MIN_HOURS}, no ET0 for the day")
        out.append(DayWeather(day=d, weather=weather, rain_mm=None if rain is None else round(rain.get(d, 0.0), 2),
                              hours=hours, notes=tuple(notes)))
    return out


async def fetch_weather(store: ReadingStore, nodes: list[str], start_ms: int, end_ms: int, tz: ZoneInfo,
                        days: Sequence[date]) -> list[DayWeather]:
    """Hourly aggregates of the weather nodes from the store, then daily_weather."""
    raw: dict[str, list[tuple[str, int, float]]] = {}
    sums: list[tuple[str, int, float]] | None = None
    if nodes:
        for m in MEASUREMENTS:
            buckets = await store.aggregate(nodes, m, start_ms, end_ms, HOUR_MS, "mean")
            raw[m] = [(b.node, b.time_ms, b.value) for b in buckets if b.value is not None]
        rain_buckets = await store.aggregate(nodes, "rain_mm", start_ms, end_ms, HOUR_MS, "sum")
        sums = [(b.node, b.time_ms, b.value) for b in rain_buckets if b.value is not None]
    # a season is thousands of hours per measurement: the grouping runs off the event loop
    return await asyncio.to_thread(_days_of, raw, sums, tz, days)


def _days_of(raw: dict[str, list[tuple[str, int, float]]], sums: list[tuple[str, int, float]] | None, tz: ZoneInfo,
             days: Sequence[date]) -> list[DayWeather]:
    hourly = {m: hourly_means(v, tz) for m, v in raw.items()}
    # no rain_mm at all in the window: the nodes have no gauge (None), not a dry spell (0)
    rain = None if sums is None else (daily_rain(sums, tz) or None)
    return daily_weather(days, hourly, rain)
