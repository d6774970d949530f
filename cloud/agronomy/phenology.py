"""A pest's season by degree days: the biofix from the traps, each day's degree days, and the dates
its stages and generations are reached, observed so far and forecast beyond today.

* **Biofix** (`first_sustained_catch`): the first trap check of a run of `in_a_row` checks that
  each caught at least `min_catch` per trap; the biofix is the first check of the run. This is
  "first sustained catch" as MSU Enviroweather's codling moth model states it (the first date a
  moth is trapped, provided moths are caught on two successive trap checks); the species table
  gives each species' numbers and source (species.py).
* **Degree days** from the biofix day on (MSU: "begin accumulating degree days on the day of the
  biofix"), by the species' method (crop.gdd: single sine with a horizontal cut-off, or the
  modified average), from the farm's own weather node for days past, the weather forecast for the
  days it covers, and beyond it the site's climate normals (agronomy/normals.py: the farm's own
  history of at least ten years, or normals the agronomist imported); a site with neither gets the
  mean of the last `RECENT_DAYS` measured days (a persistence estimate, labelled as one). Each day
  says which (`Basis`), and so does each date the calendar gives; a date from normals with standard
  deviations comes with the dates one standard deviation warmer and cooler would give.
* **Calendar** (`stage_calendar`): a stage is reached on the first day the running sum reaches its
  degree days; generation g's stages come (g - 1) x `generation_dd` later.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from .crop import GddMethod, gdd

RECENT_DAYS = 14
HORIZON_DAYS = 150
_EPS = 1e-6  # degree days: a sum that equals a stage's reaches it, whatever the float rounding


class Basis(StrEnum):
    OBSERVED = "observed"
    FORECAST = "forecast"
    NORMAL = "normal"
    """Beyond the forecast: the site's climate normals (agronomy/normals.py)."""
    RECENT = "recent"
    """Beyond the forecast when the site has no normals: the mean degree days of the last RECENT_DAYS
    measured days (a persistence estimate, and said so)."""


@dataclass(frozen=True)
class DayDd:
    day: date
    dd: float
    basis: Basis


@dataclass(frozen=True)
class StageDate:
    """When generation `generation`'s `name` is (or will be) reached: None beyond the horizon."""

    name: str
    generation: int
    dd: float
    day: date | None
    basis: Basis | None
    early: date | None = None
    late: date | None = None
    """For a date from normals with standard deviations: the date if every day from the normals on were
    one standard deviation warmer (`early`) or cooler (`late`); None beyond the horizon."""


def first_sustained_catch(checks: Sequence[tuple[date, float]], min_catch: float, in_a_row: int) -> date | None:
    """The biofix: the first of `in_a_row` consecutive trap checks (date, catch per trap since the
    check before) each catching at least `min_catch`; None until there is such a run."""
    run: list[date] = []
    for day, catch in sorted(checks):
        run = run + [day] if catch >= min_catch else []
        if len(run) >= in_a_row:
            return run[0]
    return None


def degree_days(weather: Sequence[tuple[date, float, float, Basis]], base_c: float, upper_c: float | None,
                method: GddMethod) -> list[DayDd]:
    """Each (day, tmin, tmax, basis) to its degree days by `method`."""
    return [DayDd(d, gdd(tmin, tmax, base_c, upper_c, method), basis) for d, tmin, tmax, basis in weather]


def with_recent_weather(days: Sequence[DayDd], until: date, recent_days: int = RECENT_DAYS) -> list[DayDd]:
    """`days` continued to `until` with the mean of the last `recent_days` observed days (no
    observed day: nothing is added, the calendar stops where the data stop)."""
    out = list(days)
    observed = [d.dd for d in days if d.basis is Basis.OBSERVED][-recent_days:]
    if not observed or not out:
        return out
    mean = sum(observed) / len(observed)
    day = out[-1].day + timedelta(days=1)
    while day <= until:
        out.append(DayDd(day, mean, Basis.RECENT))
        day += timedelta(days=1)
    return out


def stage_calendar(series: Sequence[DayDd], stages: Sequence[tuple[str, float]], generation_dd: float | None,
                   generations: int = 1) -> list[StageDate]:
    """The date each stage of generations 1..`generations` is reached on the day-by-day `series`
    (from the biofix day on); a stage the series does not reach has no date."""
    targets = []
    for g in range(generations if generation_dd else 1):
        offset = g * (generation_dd or 0.0)
        targets += [(name, g + 1, dd + offset) for name, dd in stages]
    out = []
    total, i = 0.0, 0
    days = list(series)
    for name, gen, target in sorted(targets, key=lambda t: t[2]):
        while i < len(days) and total < target - _EPS:
            total += days[i].dd
            i += 1
        reached = total >= target - _EPS and i > 0
        out.append(StageDate(name, gen, round(target, 1), days[i - 1].day if reached else None,
                             days[i - 1].basis if reached else None))
    return out


def accumulated(series: Sequence[DayDd], through: date) -> float:
    """Degree days of the series' days up to and including `through`."""
    return sum(d.dd for d in series if d.day <= through)
