"""Air: pressure, the psychrometric constant, vapour pressures and wind at 2 m.

Allen, R.G., Pereira, L.S., Raes, D., Smith, M. (1998). *Crop evapotranspiration.
Guidelines for computing crop water requirements.* FAO Irrigation and Drainage
Paper 56 (FAO-56), chapter 3. Equation numbers below are the paper's.
Temperatures in °C, pressures in kPa, wind in m/s.
"""

from __future__ import annotations

import math


def atmospheric_pressure(z_m: float) -> float:
    """P [kPa] at elevation z [m] above sea level (FAO-56 eq. 7)."""
    return 101.3 * ((293.0 - 0.0065 * z_m) / 293.0) ** 5.26


def psychrometric_constant(p_kpa: float) -> float:
    """γ [kPa/°C] from atmospheric pressure (FAO-56 eq. 8, λ = 2.45 MJ/kg)."""
    return 0.665e-3 * p_kpa


def saturation_vapour_pressure(t_c: float) -> float:
    """e°(T) [kPa] at air temperature T (FAO-56 eq. 11)."""
    return 0.6108 * math.exp(17.27 * t_c / (t_c + 237.3))


def mean_saturation_vapour_pressure(tmin_c: float, tmax_c: float) -> float:
    """es [kPa] = mean of e°(Tmax) and e°(Tmin) (FAO-56 eq. 12)."""
    return (saturation_vapour_pressure(tmax_c) + saturation_vapour_pressure(tmin_c)) / 2.0


def slope_vapour_pressure_curve(t_c: float) -> float:
    """Δ [kPa/°C] at air temperature T (FAO-56 eq. 13)."""
    return 4098.0 * saturation_vapour_pressure(t_c) / (t_c + 237.3) ** 2


def ea_from_tdew(tdew_c: float) -> float:
    """ea [kPa] from dewpoint temperature (FAO-56 eq. 14)."""
    return saturation_vapour_pressure(tdew_c)


def ea_from_rhmin_rhmax(tmin_c: float, tmax_c: float, rh_min_pct: float, rh_max_pct: float) -> float:
    """ea [kPa] from RHmax and RHmin (FAO-56 eq. 17)."""
    return (saturation_vapour_pressure(tmin_c) * rh_max_pct / 100.0
            + saturation_vapour_pressure(tmax_c) * rh_min_pct / 100.0) / 2.0


def ea_from_rhmax(tmin_c: float, rh_max_pct: float) -> float:
    """ea [kPa] from RHmax only, when RHmin is unreliable (FAO-56 eq. 18)."""
    return saturation_vapour_pressure(tmin_c) * rh_max_pct / 100.0


def ea_from_rhmean(tmin_c: float, tmax_c: float, rh_mean_pct: float) -> float:
    """ea [kPa] from mean relative humidity, the least preferred (FAO-56 eq. 19)."""
    return rh_mean_pct / 100.0 * mean_saturation_vapour_pressure(tmin_c, tmax_c)


def ea_from_tmin(tmin_c: float, tdew_offset_c: float = 0.0) -> float:
    """ea [kPa] when humidity data are missing: Tdew ≈ Tmin - offset (FAO-56 ch. 3
    "Missing humidity data", eq. 48). The offset is 0 in humid climates and 2-3 °C
    in arid ones, where the air does not saturate at night."""
    return saturation_vapour_pressure(tmin_c - tdew_offset_c)


def ea_from_rh_hourly(t_c: float, rh_pct: float) -> float:
    """ea [kPa] for an hour from its mean temperature and RH (FAO-56 eq. 54)."""
    return saturation_vapour_pressure(t_c) * rh_pct / 100.0


DEFAULT_WIND_MS = 2.0
"""FAO-56 ch. 3 "Missing wind speed data": 2 m/s, the global average over 2000 stations."""


def wind_speed_2m(uz_ms: float, z_m: float) -> float:
    """u2 [m/s] from wind measured at height z [m] (FAO-56 eq. 47, log profile)."""
    if z_m <= 0.08:
        raise ValueError(f"wind height must be above 0.08 m, got {z_m}")
    return uz_ms * 4.87 / math.log(67.8 * z_m - 5.42)
