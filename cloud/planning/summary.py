"""GET /zones/{zone}/agronomy: the zone's crop and pest picture at a glance (best effort).

    {"stage", "gdd_cum", "kc"}      from the newest day of the water balance (None without weather)
    "next_decision"                 the zone's latest recorded planner decision, or None
    "pests": [...]                  per pest node and trap: catch per trap per week over the last
                                    four weeks and its trend (pests.trap_pressure); the registry
                                    holds no action thresholds yet, so "threshold" is None
    "disease_risk": [...]           leaf-wetness periods of the last 7 days (leaf_wet_pct ≥ 50 %
                                    in the hour): per pathogen configured on the zone, each wet
                                    period with its infection risk index (pests.wet_periods, the
                                    generic model of Magarey et al. 2005 with the pathogen's
                                    values); with none configured, the periods with "risk_index"
                                    None and a note saying why (docs/agronomy.md, "Pests and
                                    diseases")
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from ..agronomy.pests import PathogenParams, TrapCount, Trend, weekly_catch, wet_periods
from ..registry.models import PathogenIn
from ..storage import ReadingStore
from .weather import HOUR_MS, hourly_means

DAY_MS = 86_400_000
WET_PCT = 50.0  # a leaf-wetness sensor whose hourly mean is at least this counts the hour as wet
NO_PATHOGEN = ("no pathogen is configured for this zone: a risk index needs the infection-model values "
               "of the pathogen watched (registry zones.pathogens)")


async def pest_summary(store: ReadingStore, pest_nodes: list[str], now_ms: int, tz: ZoneInfo) -> list[dict[str, Any]]:
    """Weekly catch per trap and its trend, per pest node and trap channel."""
    out: list[dict[str, Any]] = []
    today = datetime.fromtimestamp(now_ms / 1000, tz).date()
    for node in pest_nodes:
        buckets = await store.aggregate([node], "trap_count", now_ms - 28 * DAY_MS, now_ms, DAY_MS, "sum")
        by_trap: dict[int, list[TrapCount]] = {}
        for b in buckets:
            if b.value is not None:
                day = datetime.fromtimestamp(b.time_ms / 1000, tz).date()
                by_trap.setdefault(b.channel or 0, []).append(TrapCount(f"{node}/{b.channel}", day, int(b.value), 1.0))
        for channel, counts in sorted(by_trap.items()):
            weekly = [(start, weekly_catch(counts, start)) for start in
                      (today - timedelta(days=7 * (k + 1) - 1) for k in range(3, -1, -1))]
            series = [(d, v) for d, v in weekly if v is not None]
            out.append({"node": node, "trap": channel, "catch_per_trap_week": series[-1][1] if series else None,
                        "weekly": [{"week_start": d.isoformat(), "catch": round(v, 2)} for d, v in series],
                        "trend": str(_trend([v for _, v in series])), "threshold": None})
    return out


def _trend(values: list[float]) -> Trend:
    """Least-squares slope per week against 10 % of the mean catch (steady within it)."""
    if len(values) < 2:
        return Trend.UNKNOWN
    n = len(values)
    mx, my = (n - 1) / 2, sum(values) / n
    slope = sum((i - mx) * (v - my) for i, v in enumerate(values)) / sum((i - mx) ** 2 for i in range(n))
    band = 0.1 * max(my, 1e-9)
    return Trend.RISING if slope > band else Trend.FALLING if slope < -band else Trend.STEADY


async def wetness_summary(store: ReadingStore, weather_nodes: list[str], now_ms: int,
                          tz: ZoneInfo) -> list[dict[str, Any]]:
    """Leaf-wetness periods of the last 7 days: consecutive wet hours, with their mean temperature."""
    if not weather_nodes:
        return []
    start = now_ms - 7 * DAY_MS
    wet = hourly_means(((b.node, b.time_ms, b.value) for b in await store.aggregate(
        weather_nodes, "leaf_wet_pct", start, now_ms, HOUR_MS, "mean") if b.value is not None), tz)
    temp = hourly_means(((b.node, b.time_ms, b.value) for b in await store.aggregate(
        weather_nodes, "air_temp_c", start, now_ms, HOUR_MS, "mean") if b.value is not None), tz)
    periods: list[dict[str, Any]] = []
    current: list[tuple[date, int]] = []

    def close() -> None:
        if current:
            temps = [temp[k] for k in current if k in temp]
            d, h = current[0]
            periods.append({"start": datetime(d.year, d.month, d.day, h, tzinfo=tz).isoformat(),
                            "wet_hours": len(current),
                            "mean_temp_c": round(sum(temps) / len(temps), 1) if temps else None,
                            "risk_index": None, "note": NO_PATHOGEN})

    for key in sorted(wet):
        if wet[key] >= WET_PCT and (not current or _next_hour(current[-1]) == key):
            current.append(key)
        else:
            close()
            current = [key] if wet[key] >= WET_PCT else []
    close()
    return periods


def _next_hour(key: tuple[date, int]) -> tuple[date, int]:
    d, h = key
    return (d, h + 1) if h < 23 else (d + timedelta(days=1), 0)


def pathogen_params(p: PathogenIn) -> PathogenParams:
    """The infection model's parameters of a pathogen configured in the registry."""
    return PathogenParams(t_min_c=p.tmin_c, t_opt_c=p.topt_c, t_max_c=p.tmax_c, w_min_h=p.wmin_h,
                          w_max_h=p.wmax_h, dry_interrupt_h=p.dry_interrupt_h)


async def leaf_wetness_hours(store: ReadingStore, nodes: list[str], start_ms: int,
                             end_ms: int) -> list[tuple[datetime, bool, float]]:
    """(hour start, leaf wet?, mean air temperature) per hour in [start, end), oldest first, the
    means taken over `nodes`; an hour without both a wetness and a temperature reading is left
    out (pests.wet_periods then neither counts it wet nor lets it end a period)."""
    if not nodes:
        return []
    means: dict[str, dict[int, float]] = {}
    for measurement in ("leaf_wet_pct", "air_temp_c"):
        acc: dict[int, list[float]] = {}
        for b in await store.aggregate(nodes, measurement, start_ms, end_ms, HOUR_MS, "mean"):
            if b.value is not None:
                acc.setdefault(b.time_ms, []).append(b.value)
        means[measurement] = {ms: sum(v) / len(v) for ms, v in acc.items()}
    wet, temp = means["leaf_wet_pct"], means["air_temp_c"]
    return [(datetime.fromtimestamp(ms / 1000, UTC), wet[ms] >= WET_PCT, temp[ms]) for ms in sorted(wet) if ms in temp]


async def disease_summary(store: ReadingStore, weather_nodes: list[str], pathogens: list[PathogenIn] | None,
                          now_ms: int, tz: ZoneInfo) -> list[dict[str, Any]]:
    """The wet periods of the last 7 days, per configured pathogen with its risk index (wet hours
    over the wetness its model needs at the period's mean temperature); without pathogens, the
    leaf-wetness periods alone (wetness_summary), risk_index None."""
    if not pathogens:
        return await wetness_summary(store, weather_nodes, now_ms, tz)
    end = now_ms - now_ms % HOUR_MS + HOUR_MS
    hours = await leaf_wetness_hours(store, weather_nodes, end - 7 * DAY_MS, end)
    out: list[dict[str, Any]] = []
    for p in pathogens:
        for period in wet_periods(hours, pathogen_params(p)):
            out.append({"pathogen": p.name, "start": period.start.astimezone(tz).isoformat(),
                        "wet_hours": period.hours, "mean_temp_c": round(period.mean_temp_c, 1),
                        "required_h": None if period.required_h is None else round(period.required_h, 1),
                        "risk_index": round(period.risk_index, 2), "source": p.source})
    return out
