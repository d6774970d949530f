"""A moth population's flights by degree days: the truth the HIL pest scenario holds a trap camera's
counts, the cloud's biofix, its generation forecast and its alert against.

The European corn borer flies as the University of Wisconsin's table dates it (agweather.cals.wisc.edu,
'European Corn Borer', data of J. W. Apple; modified degree days above 50 °F, capped at 86 °F, summed from
1 January): first spring moths at 374 °F·d, peak spring moths at 631, first summer moths at 1400, peak
summer moths at 1733. Each flight's nightly catch per trap follows a normal curve in degree days that
peaks at the flight's peak; the first moths come where it rises past `ONSET_SHARE` of its height, two
standard deviations before the peak. A night's catch is a Poisson draw on that mean.

The flights use the same modified degree days as the species table (agronomy/crop.py), from the farm's
true daily minimum and maximum, not from what a weather node measured: the cloud's forecast is held
against the weather that was, not against its own inputs.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import date

from furrow.cloud.agronomy.crop import gdd_modified_average
from furrow.cloud.agronomy.species import F_DD, f_to_c

from .pests import poisson

ONSET_SHARE = math.exp(-2.0)  # a normal curve two standard deviations before its peak


@dataclass(frozen=True)
class Flight:
    """A flight: its first moths and its peak, in °C·d from 1 January."""

    first_dd: float
    peak_dd: float

    @property
    def sd_dd(self) -> float:
        return (self.peak_dd - self.first_dd) / 2.0

    def share(self, dd: float) -> float:
        """The nightly catch at `dd` as a share of the flight's peak (0 before its first moths)."""
        if dd < self.first_dd:
            return 0.0
        return math.exp(-0.5 * ((dd - self.peak_dd) / self.sd_dd) ** 2)


ECB_FLIGHTS = (Flight(374 * F_DD, 631 * F_DD), Flight(1400 * F_DD, 1733 * F_DD))
"""University of Wisconsin agweather, European corn borer (J. W. Apple): spring and summer flights."""
ECB_LOWER_C, ECB_UPPER_C = f_to_c(50.0), f_to_c(86.0)


@dataclass
class MothFlights:
    """The population: feed it each day's true weather (`night`), get that night's catch per trap."""

    flights: tuple[Flight, ...] = ECB_FLIGHTS
    peak_per_night: float = 12.0
    lower_c: float = ECB_LOWER_C
    upper_c: float = ECB_UPPER_C
    rng: random.Random = field(default_factory=lambda: random.Random(1))
    degree_days: float = 0.0
    log: list[tuple[date, float, float]] = field(default_factory=list)
    """(day, °C·d from 1 January at its end, mean catch per trap that night)."""

    def day(self, day: date, tmin_c: float, tmax_c: float) -> float:
        """One day's development; the mean catch per trap of the night that follows it."""
        self.degree_days += gdd_modified_average(tmin_c, tmax_c, self.lower_c, self.upper_c)
        mean = self.peak_per_night * max(f.share(self.degree_days) for f in self.flights)
        self.log.append((day, self.degree_days, mean))
        return mean

    def catch(self, mean: float) -> int:
        """A night's catch in one trap: a Poisson draw (Knuth's method; means here stay small)."""
        return poisson(self.rng, mean)

    def first_moths(self, flight: int) -> date | None:
        """The day flight `flight` (0 first) reached its first moths' degree days."""
        return next((d for d, dd, _ in self.log if dd >= self.flights[flight].first_dd), None)
