"""Crop growth on the virtual farm (documented in docs/hil.md).

Degree days (FAO-56's stages measured in GDD, average method with a base and
an upper cut-off, `cloud.agronomy.gdd`) drive the stage and the single crop
coefficient Kc (`kc_single`, FAO-56 eq. 66); canopy cover follows Kc between
its initial and mid-season values (a linear stand-in for FAO-56 eq. 76). The
crop's water use is Ks × Kc × ET0 (eq. 80) with Ks from the true depletion
(eq. 84), so a stressed crop transpires less.
"""

from __future__ import annotations

from dataclasses import dataclass

from furrow.cloud.agronomy import CropCoefficients, Stage, gdd, kc_single
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
        return kc_single(self.gdd_total, self.coefficients)

    @property
    def canopy_fraction(self) -> float:
        c = self.coefficients
        return min(1.0, max(0.0, (self.kc - c.kc_ini) / (c.kc_mid - c.kc_ini)))

    def p(self, etc_mm_day: float) -> float:
        """The day's depletion fraction for no stress (FAO-56 table 22, adjusted for ETc)."""
        return depletion_fraction(self.p_table, etc_mm_day)
