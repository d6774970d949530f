"""Crop growth on the virtual farm (documented in docs/hil.md).

Degree days (FAO-56's stages measured in GDD, average method with a base and
an upper cut-off, `cloud.agronomy.gdd`) drive the stage and the single crop
coefficient Kc (`kc_single`, FAO-56 eq. 66); canopy cover follows Kc between
its initial and mid-season values (a linear stand-in for FAO-56 eq. 76). The
crop's water use is Ks × Kc × ET0 (eq. 80) with Ks from the true depletion
(eq. 84), so a stressed crop transpires less.

A zone's `stand` (1: a full stand) thins its canopy: a poorly established or damaged crop covers
`stand` × the curve's cover, and its Kc falls with the cover as FAO-56 ch. 9's density coefficient
says (cloud/agronomy/canopy_kc.py): Kc = curve Kc × Kc(cover) / Kc(full stand's cover), the sun at
65° (a summer noon at mid latitudes), so the measured cover of its photos is what its water use is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from furrow.cloud.agronomy import CropCoefficients, Stage, gdd, kc_single
from furrow.cloud.agronomy.canopy_kc import kc_from_cover
from furrow.cloud.agronomy.crop import crop_stage
from furrow.cloud.agronomy.water_balance import depletion_fraction

# Grain maize, stages in degree days above 10 °C (cut-off 30 °C); Kc from FAO-56 table 12.
MAIZE = CropCoefficients(l_ini=180, l_dev=420, l_mid=600, l_late=300, kc_ini=0.3, kc_mid=1.2, kc_end=0.6)
MAIZE_P = 0.55  # FAO-56 table 22


@dataclass
class Crop:
    coefficients: CropCoefficients = MAIZE
    p_table: float = MAIZE_P
    base_c: float = 10.0
    upper_c: float | None = 30.0
    gdd_total: float = 0.0
    stand: float = 1.0
    """The share of a full stand (0..1]: a sparse or damaged crop covers that much of the curve's cover."""
    height_m: float = 2.0

    def add_day(self, tmin_c: float, tmax_c: float) -> float:
        """Accumulate one day's degree days; returns them."""
        g = gdd(tmin_c, tmax_c, self.base_c, self.upper_c)
        self.gdd_total += g
        return g

    @property
    def stage(self) -> Stage:
        return crop_stage(self.gdd_total, self.coefficients)

    @property
    def kc(self) -> float:
        curve = kc_single(self.gdd_total, self.coefficients)
        full = self._full_cover()
        if self.stand >= 1.0 or full <= 0.0:
            return curve
        sun = math.radians(65.0)
        k_mid = self.coefficients.kc_mid
        return curve * kc_from_cover(k_mid, full * self.stand, self.height_m, sun) / kc_from_cover(
            k_mid, full, self.height_m, sun)

    def _full_cover(self) -> float:
        c = self.coefficients
        return min(1.0, max(0.0, (kc_single(self.gdd_total, c) - c.kc_ini) / (c.kc_mid - c.kc_ini)))

    @property
    def canopy_fraction(self) -> float:
        """The green cover a nadir photo of the zone sees (0..1)."""
        return self._full_cover() * min(1.0, max(0.0, self.stand))

    def p(self, etc_mm_day: float) -> float:
        """The day's depletion fraction for no stress (FAO-56 table 22, adjusted for ETc)."""
        return depletion_fraction(self.p_table, etc_mm_day)
