"""Inputs of the alert rules that need more than the newest reading: disease risk (hourly leaf
wetness and temperature, per pathogen configured on a zone), trap pressure (weeks of counts).
Each reads the store and hands plain values to the agronomy engine's pure models."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

from ..agronomy.alerts import TEXT, RiskSnapshot
from ..agronomy.pests import TrapCount, trap_pressure, wet_periods
from ..planning.summary import leaf_wetness_hours, pathogen_params
from ..registry.models import PathogenIn
from ..storage import ReadingStore

HOUR_MS = 3_600_000
DISEASE_WINDOW_H = 48
TRAP_WEEKS = 4


def _day(ms: int) -> date:
    return datetime.fromtimestamp(ms / 1000, UTC).date()


def _day_start_ms(d: date) -> int:
    return int(datetime.combine(d, datetime.min.time(), UTC).timestamp() * 1000)


async def disease_risk(store: ReadingStore, zone: str, weather_nodes: list[str], pathogen: PathogenIn,
                       now_ms: int) -> RiskSnapshot | None:
    """The highest infection risk index, for one pathogen configured on a zone, of the wet periods
    in the last 48 h at the zone's weather nodes (pests.wet_periods: the generic model of Magarey
    et al. 2005 with the pathogen's values); subject "<zone>/<pathogen>". None when the nodes have
    no hour with both leaf wetness and temperature then."""
    end = now_ms - now_ms % HOUR_MS + HOUR_MS
    hours = await leaf_wetness_hours(store, weather_nodes, end - DISEASE_WINDOW_H * HOUR_MS, end)
    if not hours:
        return None
    subject = f"{zone}/{pathogen.name}"
    periods = wet_periods(hours, pathogen_params(pathogen))
    if not periods:
        return RiskSnapshot(subject=subject, value=0.0, threshold=1.0)
    worst = max(periods, key=lambda p: p.risk_index)
    found = {"wet_hours": worst.hours, "mean_temp_c": round(worst.mean_temp_c, 1), "pathogen": pathogen.name,
             "source": pathogen.source}
    detail = (TEXT("alert.disease-detail-no-infection", **found) if worst.required_h is None
              else TEXT("alert.disease-detail", required_h=round(worst.required_h, 1), **found))
    return RiskSnapshot(subject=subject, value=round(worst.risk_index, 2), threshold=1.0, detail=detail)


async def trap_risk(store: ReadingStore, node: str, now_ms: int, threshold_per_week: float,
                    lured: frozenset[int] = frozenset()) -> RiskSnapshot | None:
    """Catch per trap per week at a pest node's counters over the last 4 weeks against the one
    threshold for traps with no lure (pests.trap_pressure); the channels in `lured` are left out (their
    species' own threshold watches them). None when the other channels reported no trap_count then."""
    start = _day_start_ms(_day(now_ms) - timedelta(days=7 * TRAP_WEEKS - 1))
    per_day: dict[tuple[int | None, date], float] = defaultdict(float)
    for r in await store.query(node, "trap_count", start, now_ms + 1, 100_000):
        if r.value is not None and (r.channel or 1) not in lured:
            per_day[(r.channel, _day(r.ts_ms))] += r.value
    if not per_day:
        return None
    counts = [TrapCount(trap=f"{node}/{ch}", day=d, count=int(n), days_exposed=1.0) for (ch, d), n in per_day.items()]
    status = trap_pressure(node, counts, threshold_per_week, _day(now_ms), weeks=TRAP_WEEKS)
    return RiskSnapshot(subject=node, value=round(status.catch_per_trap_week, 1), threshold=threshold_per_week,
                        detail=TEXT("alert.trap-detail", catch=round(status.catch_per_trap_week, 1),
                                    trend=str(status.trend), slope=round(status.slope_per_week, 1)))
