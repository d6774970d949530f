"""The crop's expected canopy cover over its season, and whether a zone lags its neighbours (pure).

Expected cover from FAO-56's stage definitions (ch. 6, "Length of growth stages", fig. 25): the
initial stage runs from planting to about 10 % ground cover, the development stage from 10 % to
effective full cover, which FAO-56 puts at about 70-80 % for many crops (EFFECTIVE_FULL = 0.8 here),
held through mid-season. In the late season green cover falls as Kc falls: to the cover that gives
Kc end through FAO-56 ch. 9's relation in its simplest form (Kd = (Kc end - 0.15) / (Kc mid - 0.15),
taken as the cover fraction of effective full cover), an assumption of this page, not a FAO-56
table. Linear within each stage, as the Kc curve is (eq. 66). A crop staged by degree days takes the same
curve on its thermal time: the stage lengths in °C·d, the position the degree days accumulated since
planting as the water balance counts them (`expected_series_thermal`).

Lagging: the cover measured against the expected one, ratio r = measured / expected, compared with
the same ratio of the neighbours (the other zones of the site measured within NEIGHBOUR_DAYS). Using
the ratio lets zones planted on other days or with other crops be compared. A zone lags when

    r < median(r of the neighbours) - RATIO_GAP   and   measured < expected x median - MIN_POINTS

with at least MIN_NEIGHBOURS neighbours. RATIO_GAP 0.2 is a fifth of the expected canopy;
MIN_POINTS 10 percentage points is above the method's own scatter (Canopeo against two reference
tools: RMSD 0.04-0.12, mean 0.073; Patrignani & Ochsner 2015, abstract), so one photo's error does
not flag a zone.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import date, timedelta

from ..agronomy.canopy_kc import KC_MIN
from ..agronomy.crop import CropCoefficients

INITIAL_END = 0.10
EFFECTIVE_FULL = 0.80
NEIGHBOUR_DAYS = 7
RATIO_GAP = 0.20
MIN_POINTS = 10.0
MIN_NEIGHBOURS = 2


def expected_cover(day_in_season: float, c: CropCoefficients) -> float:
    """Expected green cover (0..1) on day `day_in_season` (planting = day 1) by the stage lengths (days); for a crop
    staged by degree days, `day_in_season` is the degree days since planting and the lengths are in °C·d."""
    end_ini, end_dev = c.l_ini, c.l_ini + c.l_dev
    end_mid, end = end_dev + c.l_mid, c.length
    if day_in_season <= 0:
        return 0.0
    if day_in_season <= end_ini:
        return INITIAL_END * day_in_season / c.l_ini
    if day_in_season <= end_dev:
        return INITIAL_END + (EFFECTIVE_FULL - INITIAL_END) * (day_in_season - end_ini) / c.l_dev
    if day_in_season <= end_mid:
        return EFFECTIVE_FULL
    final = EFFECTIVE_FULL * max(0.0, min(1.0, (c.kc_end - KC_MIN) / max(1e-9, c.kc_mid - KC_MIN)))
    if day_in_season <= end:
        return EFFECTIVE_FULL + (final - EFFECTIVE_FULL) * (day_in_season - end_mid) / c.l_late
    return 0.0  # harvested


def expected_series(planting: date, c: CropCoefficients, start: date, end: date) -> list[tuple[date, float]]:
    """(day, expected cover %) for each day in [start, end)."""
    out = []
    d = start
    while d < end:
        out.append((d, round(100 * expected_cover((d - planting).days + 1, c), 1)))
        d += timedelta(days=1)
    return out


def expected_series_thermal(c: CropCoefficients, gdd_cum: dict[date, float], start: date,
                            end: date) -> list[tuple[date, float]]:
    """(day, expected cover %) for each day in [start, end) with a degree-day sum (the balance's complete days)."""
    return [(d, round(100 * expected_cover(g, c), 1)) for d, g in sorted(gdd_cum.items()) if start <= d < end]


@dataclass(frozen=True)
class Standing:
    """A zone's newest measured cover and its expected cover that day."""

    zone: str
    day: date
    measured_pct: float
    expected_pct: float

    @property
    def ratio(self) -> float | None:
        return None if self.expected_pct <= 0 else self.measured_pct / self.expected_pct


@dataclass(frozen=True)
class Lag:
    """Whether the zone lags, and the figures the rule compared."""

    lagging: bool
    reason: str
    ratio: float | None = None
    neighbours_median: float | None = None
    neighbours: tuple[str, ...] = ()


def lagging(zone: Standing | None, neighbours: list[Standing], today: date) -> Lag:
    """The rule in the module docstring."""
    if zone is None or zone.ratio is None:
        return Lag(False, "no measured cover against an expected one")
    fresh = [n for n in neighbours if n.ratio is not None and (today - n.day).days <= NEIGHBOUR_DAYS]
    if len(fresh) < MIN_NEIGHBOURS:
        return Lag(False, f"{len(fresh)} neighbour(s) measured within {NEIGHBOUR_DAYS} days; "
                   f"{MIN_NEIGHBOURS} are needed", zone.ratio)
    med = statistics.median(n.ratio for n in fresh)  # type: ignore[misc]
    short_pts = zone.expected_pct * med - zone.measured_pct
    lags = zone.ratio < med - RATIO_GAP and short_pts > MIN_POINTS
    why = (f"cover {zone.measured_pct:.0f}% is {zone.ratio:.2f} of the expected {zone.expected_pct:.0f}%, "
           f"the neighbours' median {med:.2f}: {short_pts:.0f} points short")
    return Lag(lags, why, round(zone.ratio, 3), round(med, 3), tuple(n.zone for n in fresh))
