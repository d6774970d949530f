"""The crop coefficient of a sparse or stressed canopy from its measured ground cover (FAO-56 ch. 9).

FAO-56 (Allen et al., 1998), chapter 9, "Mid-season stage - adjustment for sparse vegetation",
estimates the basal crop coefficient of vegetation that covers the ground only in part from the
fraction of ground it covers, through a density coefficient Kd:

    Kcb = Kc,min + Kd (Kcb,full - Kc,min)                       (the issue's eq. 97)
    Kd  = min(1, ML fc, fc,eff ^ (1 / (1 + h)))                 (the issue's eq. 98)

fc,eff is the fraction of ground covered or shaded by vegetation near solar noon, h the mean crop
height [m], ML = 2 the multiplier FAO-56 writes as "2 fc" (Allen & Pereira, 2009, Irrig. Sci.
28:17-34, formalised Kd, write ML fc,eff and give ML 1.5-2.0), Kc,min ≈ 0.15 the coefficient of bare dry soil.
For canopies of rounded or random plants FAO-56 takes fc,eff = fc / sin(β), β the sun's elevation
at noon (for rows, fc (1 + (h/w) / tan β), which needs the rows' width w the registry does not
hold: the random form is used). The equation numbers are the issue's; the form was checked
against an independent implementation of FAO-56 ch. 9 (the sebkc R package, kc.R) and Allen &
Pereira (2009), as the FAO text itself could not be read offline here.

Furrow's balance is single-coefficient (FAO-56 ch. 6 and 8): in place of Kcb,full it uses the
crop's Kc mid, the full-cover value of its curve, as Allen & Pereira (2009) do for the single Kc
(with a soil coefficient where Kc,min stands). During the initial stage Kc is soil evaporation,
set by how often the surface is wetted (FAO-56 ch. 6, Kc ini), not by cover: the measured cover
is used from the development stage on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

from .radiation import solar_declination

KC_MIN = 0.15
"""Kc,min: the crop coefficient of bare, dry soil (FAO-56 ch. 9: about 0.15-0.20)."""
ML = 2.0
"""The multiplier on fc,eff in Kd: FAO-56's "2 fc" (Allen & Pereira 2009: 1.5-2.0)."""


def noon_solar_elevation(latitude_deg: float, day: date) -> float:
    """β [rad], the sun's elevation at solar noon: 90° - |φ - δ|, δ by FAO-56 eq. 24."""
    delta = solar_declination(day.timetuple().tm_yday)
    return math.pi / 2 - abs(math.radians(latitude_deg) - delta)


def effective_cover(fc: float, solar_elevation_rad: float) -> float:
    """fc,eff = fc / sin(β), at most 1: rounded or random canopies (FAO-56 ch. 9)."""
    if not 0.0 <= fc <= 1.0:
        raise ValueError(f"fc must be within 0..1, got {fc}")
    s = math.sin(solar_elevation_rad)
    return 1.0 if s <= 0.0 else min(1.0, fc / s)


def effective_cover_rows(fc: float, solar_elevation_rad: float, height_to_width: float) -> float:
    """fc,eff = fc (1 + (h/w) / tan β), at most 1: row crops whose rows' height and width are known (FAO-56 ch. 9)."""
    if not 0.0 <= fc <= 1.0:
        raise ValueError(f"fc must be within 0..1, got {fc}")
    if solar_elevation_rad <= 0.0:
        return 1.0
    return min(1.0, fc * (1.0 + height_to_width / math.tan(solar_elevation_rad)))


def kcb_full(h_m: float, u2_ms: float = 2.0, rh_min_pct: float = 45.0) -> float:
    """Kcb,full, the basal coefficient at full cover from the crop's height (FAO-56 ch. 9):
    min(1.0 + 0.1 h, 1.20) + [0.04 (u2 - 2) - 0.004 (RHmin - 45)] (h/3)^0.3."""
    return min(1.0 + 0.1 * h_m, 1.20) + (0.04 * (u2_ms - 2.0) - 0.004 * (rh_min_pct - 45.0)) * (h_m / 3.0) ** 0.3


def density_coefficient(fc: float, fc_eff: float, h_m: float, ml: float = ML) -> float:
    """Kd = min(1, ML fc, fc,eff^(1/(1+h))), as FAO-56 (1998) prints it, with "2 fc" (the sebkc
    implementation reads it so too); Allen & Pereira (2009) later write ML fc,eff in the middle term."""
    if h_m < 0:
        raise ValueError(f"crop height must not be negative, got {h_m}")
    return min(1.0, ml * fc, fc_eff ** (1.0 / (1.0 + h_m)) if fc_eff > 0 else 0.0)


def kc_from_cover(kc_full: float, fc: float, h_m: float, solar_elevation_rad: float, kc_min: float = KC_MIN) -> float:
    """Kc = Kc,min + Kd (Kc,full - Kc,min) for a measured ground cover fc (module docstring)."""
    fc_eff = effective_cover(fc, solar_elevation_rad)
    return kc_min + density_coefficient(fc, fc_eff, h_m) * max(0.0, kc_full - kc_min)


@dataclass(frozen=True)
class MeasuredCover:
    """A zone's ground cover on a day: the fraction (0..1), and where it came from (for the records)."""

    fc: float
    source: str
