"""A pest population on the virtual farm (documented in docs/hil.md).

Degree days above the pest's base temperature drive development; each full
generation multiplies the adult population by `growth` (capped by a carrying
capacity), and adults emerge spread over the generation. Traps catch a
Poisson number of insects per hour, with mean proportional to the adults
active (none below the flight threshold temperature), so trap counts rise with
the population as a real monitoring network would see them.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from furrow.cloud.agronomy.crop import gdd_single_sine


@dataclass
class PestPopulation:
    base_c: float = 10.0
    upper_c: float | None = 31.0
    dd_per_generation: float = 550.0
    growth: float = 6.0
    capacity: float = 50_000.0
    adults: float = 200.0
    catch_per_adult_h: float = 0.0004
    flight_min_c: float = 15.0
    degree_days: float = 0.0
    rng: random.Random = field(default_factory=lambda: random.Random(1))

    def add_day(self, tmin_c: float, tmax_c: float) -> None:
        """One day's development: the population grows smoothly through each generation."""
        dd = gdd_single_sine(tmin_c, tmax_c, self.base_c, self.upper_c)
        self.degree_days += dd
        rate = math.log(self.growth) * dd / self.dd_per_generation
        self.adults = min(self.capacity, self.adults * math.exp(rate) * (1.0 - self.adults / (2 * self.capacity)))

    def catches(self, temp_c: float, hours: float = 1.0) -> int:
        """Insects caught by one trap in `hours` at `temp_c`."""
        if temp_c < self.flight_min_c:
            return 0
        lam = self.adults * self.catch_per_adult_h * hours
        # Knuth's method is fine for the small means traps see; a normal beyond
        if lam > 30:
            return max(0, int(round(self.rng.gauss(lam, math.sqrt(lam)))))
        return poisson(self.rng, lam)


def poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw by Knuth's method (fine for the small means traps see)."""
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1
