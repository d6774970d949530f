"""A species' season in a zone from its traps and the weather, as pure functions.

* `card_checks`: a card keeps what it caught, so each photo's catch is its count minus the
  previous photo's; a count that falls means a fresh card, and then the count itself is the catch.
  The catch is spread over the nights since the previous photo (at least one).
* `species_season`: the biofix from the checks (the species' rule), degree days from the biofix
  (agronomy/phenology.py, agronomy/pests.insect_development), the stage calendar with the action
  window, and the catch against the species' action threshold for the zone's crop with its trend
  (agronomy/pests.trap_pressure).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from ..agronomy.alerts import SpeciesPressure
from ..agronomy.crop import GddMethod
from ..agronomy.normals import Normals
from ..agronomy.pests import TrapCount, Trend, insect_development, trap_pressure
from ..agronomy.phenology import (
    HORIZON_DAYS,
    Basis,
    DayDd,
    StageDate,
    degree_days,
    first_sustained_catch,
    stage_calendar,
    with_recent_weather,
)
from ..agronomy.species import DdMethod, Species

DAY_MS = 86_400_000
TREND_WEEKS = 4
GENERATIONS_AHEAD = 3

_METHODS = {DdMethod.SINE: GddMethod.SINE, DdMethod.MODIFIED: GddMethod.MODIFIED}


@dataclass(frozen=True)
class Check:
    """One look at a trap: the catch since the look before, over `nights`."""

    trap: str
    day: date
    catch: int
    nights: float

    @property
    def per_night(self) -> float:
        return self.catch / self.nights


def card_checks(trap: str, counts: Sequence[tuple[int, int]], tz: ZoneInfo) -> list[Check]:
    """(photo time ms, insects of the target on the card) in time order -> one Check per photo after
    the first (the first says only what was on the card already), on the photo's local day."""
    out = []
    for (t0, c0), (t1, c1) in zip(counts, counts[1:], strict=False):
        catch = c1 - c0 if c1 >= c0 else c1  # a count that falls is a fresh card
        nights = max(1.0, round((t1 - t0) / DAY_MS))
        out.append(Check(trap, datetime.fromtimestamp(t1 / 1000, tz).date(), catch, nights))
    return out


def pulse_checks(trap: str, per_day: Sequence[tuple[date, int]]) -> list[Check]:
    """A pulse-counting trap's catches per local day, one Check each."""
    return [Check(trap, d, n, 1.0) for d, n in sorted(per_day)]


def nightly(checks: Sequence[Check]) -> list[tuple[date, float]]:
    """The mean catch per trap per night on each day some trap was checked."""
    by_day: dict[date, list[float]] = {}
    for c in checks:
        by_day.setdefault(c.day, []).append(c.per_night)
    return sorted((d, sum(v) / len(v)) for d, v in by_day.items())


@dataclass(frozen=True)
class ThresholdOf:
    """One of a species' action thresholds and the crops its source set it for."""

    catch: float
    per: str
    crops: tuple[str, ...]


@dataclass(frozen=True)
class Pressure:
    """The catch against the action threshold: `value` in the threshold's unit (per trap per night:
    the latest check's mean; per week: the last 7 days' sum, per trap), which traps are at or over it,
    and the weekly trend."""

    value: float
    threshold: float
    per: str
    above: bool
    traps_over: tuple[str, ...]
    trend: Trend
    slope_per_week: float
    source: str
    crops: tuple[str, ...] = ()
    """The crops the source set the threshold for (none: it names none)."""
    crop: str | None = None
    """The zone's crop."""
    crop_match: bool | None = None
    """True when the threshold is the one set for the zone's crop; False when it was set for other crops (then
    it is not the zone's own: the species has none for the crop)."""
    thresholds: tuple[ThresholdOf, ...] = ()
    """When none is the zone's crop's (crop_match False): every action threshold of the species with its crops,
    so the zone page and the alert name them all."""



@dataclass(frozen=True)
class Season:
    """What Furrow knows of a species in a zone on `today`."""

    species: str
    today: date
    traps: tuple[str, ...]
    checks: int
    biofix: date | None
    biofix_rule: str
    degree_days: float | None
    generations_completed: int | None
    stages: tuple[StageDate, ...] = ()
    window: tuple[StageDate, StageDate] | None = None
    pressure: Pressure | None = None
    missing: tuple[str, ...] = ()
    """What the table or the data lack for a full forecast (e.g. 'thresholds', 'weather')."""
    weather_basis: dict[str, int] = field(default_factory=dict)
    """How many days of the series are observed, forecast, normal, recent weather."""
    beyond_forecast: str | None = None
    """What the days after the forecast come from: 'normals' or 'recent' (the site has no normals)."""
    normals_kind: str | None = None
    """'farm' (the farm's own history) or 'imported' (the agronomist's file), when normals are used."""
    normals_source: str | None = None
    """The normals' source ('farm weather 2014-2025 ...' or the agronomist's citation)."""
    normals_sd: bool = False
    """Whether the normals give standard deviations (then dates from them have early and late)."""


def _pressure(sp: Species, checks: Sequence[Check], today: date, crop: str | None) -> Pressure | None:
    chosen = sp.action_for(crop)
    if chosen is None or not checks:
        return None
    a, crop_match = chosen
    counts = [TrapCount(c.trap, c.day, c.catch, c.nights) for c in checks]
    week_threshold = a.catch * 7 if a.per == "night" else a.catch
    status = trap_pressure(sp.key, counts, week_threshold, today, weeks=TREND_WEEKS)
    traps = sorted({c.trap for c in checks})
    if a.per == "night":
        latest_day = max(c.day for c in checks)
        latest = [c for c in checks if c.day == latest_day]
        value = sum(c.per_night for c in latest) / len(latest)
        over = tuple(sorted({c.trap for c in latest if c.per_night >= a.catch}))
    else:
        since = today - timedelta(days=6)
        per_trap = {t: sum(c.catch for c in checks if c.trap == t and since <= c.day <= today) for t in traps}
        value = sum(per_trap.values()) / len(per_trap)
        over = tuple(t for t, n in per_trap.items() if n >= a.catch)
    return Pressure(round(value, 2), a.catch, a.per, value >= a.catch, over, status.trend,
                    round(status.slope_per_week / (7 if a.per == "night" else 1), 2), a.source,
                    tuple(a.crops or ()), crop, crop_match,
                    tuple(ThresholdOf(t.catch, t.per, tuple(t.crops or ())) for t in sp.actions or ())
                    if crop_match is False else ())


def species_season(sp: Species, checks: Sequence[Check], weather: Sequence[tuple[date, float, float, Basis]],
                   today: date, normals: Normals | None = None, crop: str | None = None) -> Season:
    """The species' season (module docstring). `weather`: (day, tmin, tmax, basis) from some day on or
    before the biofix through the forecast, measured days first; `normals` carry the series beyond it
    (without them, the recent weather does, and the season says so); `crop` is the zone's, which the
    species' action thresholds are chosen by (Species.action_for)."""
    traps = tuple(sorted({c.trap for c in checks}))
    missing = [g for g in ("thresholds", "development", "biofix", "actions", "card") if getattr(sp, g) is None]
    rule = "none" if sp.biofix is None else (
        f"first of {sp.biofix.checks} checks in a row catching at least {sp.biofix.min_catch:g} per trap"
        if sp.biofix.rule == "first-sustained-catch" else f"date {sp.biofix.date}")
    biofix = None
    if sp.biofix is not None:
        if sp.biofix.rule == "first-sustained-catch":
            biofix = first_sustained_catch(nightly(checks), sp.biofix.min_catch, sp.biofix.checks)
        elif sp.biofix.date:
            month, day = (int(x) for x in sp.biofix.date.split("-"))
            biofix = date(today.year, month, day)
    pressure = _pressure(sp, checks, today, crop)
    base = Season(sp.key, today, traps, len(checks), biofix, rule, None, None, pressure=pressure)
    if sp.thresholds is None or biofix is None:
        return _replace(base, missing=tuple(missing + ([] if biofix else ["biofix date"])))
    t = sp.thresholds
    days = [w for w in weather if w[0] >= biofix]
    if not any(w[3] is Basis.OBSERVED for w in days):
        return _replace(base, missing=tuple(missing + ["weather"]))
    method = _METHODS[t.method]
    horizon = today + timedelta(days=HORIZON_DAYS)

    def series_of(sd: float) -> list[DayDd]:
        known = degree_days(days, t.lower_c, t.upper_c, method)
        if normals is None:
            return with_recent_weather(known, horizon)
        ahead = [(d, tmin, tmax, Basis.NORMAL) for d, tmin, tmax in
                 normals.weather(days[-1][0] + timedelta(days=1), horizon, sd)]
        return known + degree_days(ahead, t.lower_c, t.upper_c, method)

    series = series_of(0.0)
    past = [(tmin, tmax) for d, tmin, tmax, b in days if b is Basis.OBSERVED and d <= today]
    gen = sp.development.generation_dd if sp.development else None
    dev = insect_development(past, t.lower_c, t.upper_c, gen or math.inf, method=method)
    stages: tuple[StageDate, ...] = ()
    window = None
    if sp.development is not None:
        dd_now = dev.degree_days
        ahead_n = 1 + (int(dd_now // gen) if gen else 0) + (GENERATIONS_AHEAD - 1 if gen else 0)
        targets = [(s.name, s.dd) for s in sp.development.stages]
        calendar = stage_calendar(series, targets, gen, ahead_n)
        if normals is not None and normals.has_sd:
            warm = stage_calendar(series_of(1.0), targets, gen, ahead_n)
            cool = stage_calendar(series_of(-1.0), targets, gen, ahead_n)
            calendar = [replace(s, early=w.day, late=c.day) if s.basis is Basis.NORMAL or (
                s.day is None and (w.day is not None)) else s for s, w, c in zip(calendar, warm, cool, strict=True)]
        stages = tuple(calendar)
        if sp.window is not None:
            for g in range(1, ahead_n + 1):
                start = next(s for s in stages if s.generation == g and s.name == sp.window.start)
                end = next(s for s in stages if s.generation == g and s.name == sp.window.end)
                if end.day is None or end.day >= today:
                    window = (start, end)
                    break
    basis = {b.value: sum(1 for d in series if d.basis is b) for b in Basis}
    return _replace(base, degree_days=round(dev.degree_days, 1),
                    generations_completed=dev.generations_completed if gen else None, stages=stages, window=window,
                    missing=tuple(missing), weather_basis=basis,
                    beyond_forecast="normals" if normals is not None else "recent",
                    normals_kind=normals.kind if normals is not None else None,
                    normals_source=normals.source if normals is not None else None,
                    normals_sd=normals is not None and normals.has_sd)


def _replace(s: Season, **changes: object) -> Season:
    return replace(s, **changes)


def alert_pressure(zone: str, name: str, season: Season) -> SpeciesPressure:
    """What the alert rules need of a season with a pressure (agronomy/alerts.py SpeciesPressure): the traps
    at or over the threshold (all the species' traps when only their mean is), the next control window."""
    p = season.pressure
    assert p is not None
    window = None
    if season.window is not None:
        start, end = season.window
        window = (start.day.isoformat() if start.day else None, end.day.isoformat() if end.day else None)
    other = p.crop_match is False
    return SpeciesPressure(zone=zone, species=season.species, name=name, value=p.value, threshold=p.threshold,
                           per=p.per, traps=p.traps_over or season.traps, trend=str(p.trend), source=p.source,
                           window=window, threshold_crops=p.crops if other else (), crop=p.crop if other else None,
                           other_thresholds=tuple((t.catch, t.per, t.crops) for t in p.thresholds)
                           if len(p.thresholds) > 1 else ())
