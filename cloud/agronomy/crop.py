"""Crop growth: degree days, growth stages and the single crop coefficient curve.

Kc curve: FAO-56 ch. 6 (fig. 25, eq. 66). Degree days: the average method
(McMaster & Wilhelm, 1997, method 1), the modified average of the Midwest's insect models
(McMaster & Wilhelm, 1997, method 2) and the single-sine method with a horizontal
cut-off (Baskerville & Emin, 1969; as tabulated by Zalom et al., 1983, UC IPM).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum


class GddMethod(StrEnum):
    AVERAGE = "average"
    SINE = "sine"
    MODIFIED = "modified"


def gdd_average(tmin_c: float, tmax_c: float, base_c: float, upper_c: float | None = None) -> float:
    """Degree days of one day, average method: temperatures above the upper threshold
    count as the threshold (horizontal cut-off), then max(0, (Tmax + Tmin)/2 - Tbase)."""
    if upper_c is not None:
        tmax_c, tmin_c = min(tmax_c, upper_c), min(tmin_c, upper_c)
    return max(0.0, (tmax_c + tmin_c) / 2.0 - base_c)


def gdd_modified_average(tmin_c: float, tmax_c: float, base_c: float, upper_c: float | None = None) -> float:
    """Degree days of one day, modified average: Tmax capped at the upper threshold, Tmin raised to
    the base (and capped too), then (Tmax + Tmin)/2 - Tbase (McMaster & Wilhelm 1997, method 2; the
    European corn borer models' "do not use a maximum above 86 or a minimum below 50" °F)."""
    if upper_c is not None:
        tmax_c, tmin_c = min(tmax_c, upper_c), min(tmin_c, upper_c)
    tmax_c, tmin_c = max(tmax_c, base_c), max(tmin_c, base_c)
    return (tmax_c + tmin_c) / 2.0 - base_c


def gdd_single_sine(tmin_c: float, tmax_c: float, base_c: float, upper_c: float | None = None) -> float:
    """Degree days of one day, single-sine method with horizontal cut-off.

    The day's temperature is T(t) = M + A sin t over one cycle (M mean, A half the
    range); the result is (1/2π)∫ clip(T, base, upper) - base dt, in closed form.
    """
    if tmax_c < tmin_c:
        raise ValueError(f"tmax_c {tmax_c} is below tmin_c {tmin_c}")
    upper = math.inf if upper_c is None else upper_c
    if upper <= base_c:
        raise ValueError("upper threshold must be above the base")
    if tmin_c >= upper:
        return upper - base_c
    if tmax_c <= base_c:
        return 0.0
    m = (tmax_c + tmin_c) / 2.0
    a = (tmax_c - tmin_c) / 2.0
    if tmin_c >= base_c and tmax_c <= upper:
        return m - base_c
    # integration bounds in the half-cycle picture: θ1 where T = base, θ2 where T = upper
    th1 = math.asin(max(-1.0, min(1.0, (base_c - m) / a))) if tmin_c < base_c else -math.pi / 2.0
    th2 = math.asin(max(-1.0, min(1.0, (upper - m) / a))) if tmax_c > upper else math.pi / 2.0
    # over θ in [-π/2, π/2] (the rising and falling halves are symmetric):
    # ∫_{th1}^{th2} (m - base + a sin θ) dθ + (upper - base)(π/2 - th2), all over π
    part = (m - base_c) * (th2 - th1) + a * (math.cos(th1) - math.cos(th2))
    part += (upper - base_c) * (math.pi / 2.0 - th2) if tmax_c > upper else 0.0
    return part / math.pi


def gdd(tmin_c: float, tmax_c: float, base_c: float, upper_c: float | None = None,
        method: GddMethod = GddMethod.AVERAGE) -> float:
    """Degree days of one day by the chosen method."""
    if method is GddMethod.SINE:
        return gdd_single_sine(tmin_c, tmax_c, base_c, upper_c)
    if method is GddMethod.MODIFIED:
        return gdd_modified_average(tmin_c, tmax_c, base_c, upper_c)
    return gdd_average(tmin_c, tmax_c, base_c, upper_c)


class Stage(StrEnum):
    """FAO-56 growth stages (ch. 6, fig. 25)."""

    INITIAL = "initial"
    DEVELOPMENT = "development"
    MID = "mid-season"
    LATE = "late-season"
    DONE = "harvested"


@dataclass(frozen=True)
class CropCoefficients:
    """Stage lengths (in days, or in degree days when the crop is driven by GDD) and
    the three Kc values of the single crop coefficient curve (FAO-56 tables 11, 12)."""

    l_ini: float
    l_dev: float
    l_mid: float
    l_late: float
    kc_ini: float
    kc_mid: float
    kc_end: float

    def __post_init__(self) -> None:
        for name in ("l_ini", "l_dev", "l_mid", "l_late"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")

    @property
    def length(self) -> float:
        return self.l_ini + self.l_dev + self.l_mid + self.l_late


def crop_stage(progress: float, c: CropCoefficients) -> Stage:
    """The stage at `progress`: the day number in the season (planting day = 1, so
    day L_ini is the initial stage's last day), or degree days since planting."""
    if progress <= c.l_ini:
        return Stage.INITIAL
    if progress <= c.l_ini + c.l_dev:
        return Stage.DEVELOPMENT
    if progress <= c.l_ini + c.l_dev + c.l_mid:
        return Stage.MID
    if progress <= c.length:
        return Stage.LATE
    return Stage.DONE


def kc_single(progress: float, c: CropCoefficients) -> float:
    """Kc at `progress`: constant in the initial and mid stages, linear between them
    (FAO-56 eq. 66: Kc_i = Kc_prev + [(i - ΣL_prev)/L_stage](Kc_next - Kc_prev))."""
    stage = crop_stage(progress, c)
    if stage is Stage.INITIAL:
        return c.kc_ini
    if stage is Stage.DEVELOPMENT:
        return c.kc_ini + (progress - c.l_ini) / c.l_dev * (c.kc_mid - c.kc_ini)
    if stage is Stage.MID:
        return c.kc_mid
    if stage is Stage.LATE:
        start = c.l_ini + c.l_dev + c.l_mid
        return c.kc_mid + (progress - start) / c.l_late * (c.kc_end - c.kc_mid)
    return c.kc_end
