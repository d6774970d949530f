"""Pests and diseases: trap counts against action thresholds, insect development
by degree days, and a leaf-wetness/temperature infection risk.

* Trap catches are normalised to catch per trap per week (the unit most action
  thresholds are published in) and their trend is the least-squares slope of the
  last weeks.
* Insect development: degree days from a biofix by the species' method (single sine with a
  horizontal cut-off, crop.gdd_single_sine, or the modified average); a generation every
  `dd_per_generation`. Thresholds and generation lengths are per species and come from the
  species table (species.py), each with its source; the biofix, the stages' dates and the
  forecast beyond today are in phenology.py.
* Infection risk: the generic infection model of Magarey, Sutton & Thayer (2005),
  "A simple generic infection model for foliar fungal plant pathogens",
  Phytopathology 95:92-100 — the wetness duration needed at temperature T is
  W(T) = Wmin / f(T), with f the beta-shaped temperature response
  f(T) = ((Tmax - T)/(Tmax - Topt)) ((T - Tmin)/(Topt - Tmin))^((Topt - Tmin)/(Tmax - Topt)),
  capped at Wmax. The risk index is the wet hours observed over W(T).
  The parameters are per pathogen (the paper tabulates them). Those published values
  could not be verified while this was written, so none are built in and PathogenParams
  has no defaults: an agronomist configures the pathogens they watch on the zone, with
  the values' source (registry `pathogens`, docs/agronomy.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from .crop import GddMethod, gdd


class Trend(StrEnum):
    RISING = "rising"
    FALLING = "falling"
    STEADY = "steady"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class TrapCount:
    """Catch in one trap since it was last emptied."""

    trap: str
    day: date
    count: int
    days_exposed: float = 7.0


@dataclass(frozen=True)
class TrapStatus:
    """A trap group's pressure against its action threshold, explained."""

    subject: str
    catch_per_trap_week: float
    threshold: float
    above_threshold: bool
    trend: Trend
    slope_per_week: float
    weekly: tuple[tuple[date, float], ...]
    rule: str


def weekly_catch(counts: Sequence[TrapCount], week_start: date) -> float | None:
    """Mean catch per trap per week in the 7 days from week_start (None without data)."""
    end = week_start + timedelta(days=7)
    rates = [c.count / c.days_exposed * 7.0 for c in counts if week_start <= c.day < end and c.days_exposed > 0]
    if not rates:
        return None
    return sum(rates) / len(rates)


def trap_pressure(subject: str, counts: Sequence[TrapCount], threshold_per_trap_week: float, today: date,
                  weeks: int = 4, steady_band: float = 0.1) -> TrapStatus:
    """Catch per trap per week over the last `weeks` weeks, compared with the action
    threshold (the latest week decides), with the trend of the weekly series."""
    series: list[tuple[date, float]] = []
    for k in range(weeks - 1, -1, -1):
        start = today - timedelta(days=7 * (k + 1) - 1)
        value = weekly_catch(counts, start)
        if value is not None:
            series.append((start, value))
    latest = series[-1][1] if series else 0.0
    slope = 0.0
    trend = Trend.UNKNOWN
    if len(series) >= 2:
        xs = [(d - series[0][0]).days / 7.0 for d, _ in series]
        ys = [v for _, v in series]
        mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
        sxx = sum((x - mx) ** 2 for x in xs)
        slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx if sxx else 0.0
        band = steady_band * max(threshold_per_trap_week, 1e-9)
        trend = Trend.RISING if slope > band else Trend.FALLING if slope < -band else Trend.STEADY
    above = latest >= threshold_per_trap_week
    rule = (f"catch {latest:.1f}/trap/week {'≥' if above else '<'} action threshold {threshold_per_trap_week:g}"
            f", trend {trend} ({slope:+.1f}/week)")
    return TrapStatus(subject=subject, catch_per_trap_week=latest, threshold=threshold_per_trap_week,
                      above_threshold=above, trend=trend, slope_per_week=slope, weekly=tuple(series), rule=rule)


@dataclass(frozen=True)
class Development:
    """Degree days since biofix and the generations they make."""

    degree_days: float
    generations_completed: int
    fraction_of_current: float
    dd_to_next: float


def insect_development(days: Sequence[tuple[float, float]], base_c: float, upper_c: float | None,
                       dd_per_generation: float, first_generation_dd: float | None = None,
                       method: GddMethod = GddMethod.SINE) -> Development:
    """Development from (tmin_c, tmax_c) days since the biofix, by `method` (single sine with
    horizontal cut-off unless the species' model says otherwise). The first generation may need a
    different sum (from the biofix to first emergence) than the following ones."""
    dd = sum(gdd(tmin, tmax, base_c, upper_c, method) for tmin, tmax in days)
    first = first_generation_dd if first_generation_dd is not None else dd_per_generation
    if dd < first:
        return Development(dd, 0, dd / first, first - dd)
    rest = dd - first
    full = int(rest // dd_per_generation)
    into = rest - full * dd_per_generation
    return Development(dd, 1 + full, into / dd_per_generation, dd_per_generation - into)


@dataclass(frozen=True)
class PathogenParams:
    """Parameters of the generic infection model (Magarey et al., 2005): cardinal temperatures
    [°C], minimum and maximum wetness duration [h], dry interruption [h]. No defaults: they
    are a pathogen's published values, given by whoever configures it."""

    t_min_c: float
    t_opt_c: float
    t_max_c: float
    w_min_h: float
    w_max_h: float
    dry_interrupt_h: float
    """A dry spell shorter than this does not end a wet period."""


def temperature_response(t_c: float, p: PathogenParams) -> float:
    """f(T), 0 outside (Tmin, Tmax), 1 at Topt (beta function, Magarey et al. 2005)."""
    if not p.t_min_c < t_c < p.t_max_c:
        return 0.0
    exponent = (p.t_opt_c - p.t_min_c) / (p.t_max_c - p.t_opt_c)
    return ((p.t_max_c - t_c) / (p.t_max_c - p.t_opt_c)) * ((t_c - p.t_min_c) / (p.t_opt_c - p.t_min_c)) ** exponent


def wetness_required_h(t_c: float, p: PathogenParams) -> float | None:
    """W(T) = Wmin / f(T), or None when infection cannot happen at T (W > Wmax or f = 0)."""
    f = temperature_response(t_c, p)
    if f <= 0:
        return None
    w = p.w_min_h / f
    return w if w <= p.w_max_h else None


@dataclass(frozen=True)
class WetPeriod:
    start: datetime
    hours: float
    mean_temp_c: float
    required_h: float | None
    risk_index: float
    """Observed wet hours / required hours; ≥ 1 means infection conditions were met."""


def wet_periods(hours: Sequence[tuple[datetime, bool, float]], p: PathogenParams) -> list[WetPeriod]:
    """Wet periods from hourly (time, leaf wet?, air temperature) in time order, with
    each period's infection risk index. Dry gaps shorter than dry_interrupt_h are
    bridged (they neither count as wet nor end the period)."""
    periods: list[WetPeriod] = []
    cur: list[tuple[datetime, float]] = []
    dry_run = 0

    def close() -> None:
        if not cur:
            return
        wet_h = float(len(cur))
        mean_t = sum(t for _, t in cur) / len(cur)
        need = wetness_required_h(mean_t, p)
        periods.append(WetPeriod(cur[0][0], wet_h, mean_t, need, wet_h / need if need else 0.0))

    for when, wet, temp in hours:
        if wet:
            cur.append((when, temp))
            dry_run = 0
        elif cur:
            dry_run += 1
            if dry_run >= p.dry_interrupt_h:
                close()
                cur = []
                dry_run = 0
    close()
    return periods
