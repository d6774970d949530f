"""GET /zones/{zone}/agronomy: the zone's crop and pest picture at a glance (best effort).

    {"stage", "gdd_cum", "kc"}      from the newest day of the water balance (None without weather)
    "next_decision"                 the zone's latest recorded planner decision, or None
    "pests": [...]                  per pest node and trap: catch per trap per week over the last
                                    four weeks and its trend (pests.trap_pressure); the registry
                                    holds no action thresholds yet, so "threshold" is None
    "disease_risk": [...]           leaf-wetness periods of the last 7 days (leaf_wet_pct ≥ 50 %
                                    in the hour), their hours and mean temperature; no pathogen
                                    parameters are configured, so "risk_index" is None (see
                                    docs/agronomy.md, "Pests and diseases")
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from ..agronomy.pests import TrapCount, Trend, weekly_catch
from ..storage import ReadingStore
from .weather import HOUR_MS, hourly_means

DAY_MS = 86_400_000
WET_PCT = 50.0


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
                            "risk_index": None})

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
