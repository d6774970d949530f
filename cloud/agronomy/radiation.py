"""Radiation: extraterrestrial, solar, clear-sky and net radiation (FAO-56 ch. 3).

Energies in MJ m-2 per period (day or hour), angles in radians unless the name
says degrees. Equation numbers are FAO-56's (Allen et al., 1998).
"""

from __future__ import annotations

import math

GSC = 0.0820
"""Solar constant [MJ m-2 min-1]."""
SIGMA_DAY = 4.903e-9
"""Stefan-Boltzmann constant [MJ K-4 m-2 day-1]."""
SIGMA_HOUR = SIGMA_DAY / 24.0
"""The same per hour, 2.043e-10 [MJ K-4 m-2 h-1] (FAO-56 eq. 39 note)."""
ALBEDO_GRASS = 0.23


def inverse_relative_distance(j: int) -> float:
    """dr, inverse relative Earth-Sun distance for day of year J (FAO-56 eq. 23)."""
    return 1.0 + 0.033 * math.cos(2.0 * math.pi * j / 365.0)


def solar_declination(j: int) -> float:
    """δ [rad] for day of year J (FAO-56 eq. 24)."""
    return 0.409 * math.sin(2.0 * math.pi * j / 365.0 - 1.39)


def sunset_hour_angle(phi: float, delta: float) -> float:
    """ωs [rad] (FAO-56 eq. 25); clamped for polar day and night."""
    x = -math.tan(phi) * math.tan(delta)
    return math.acos(max(-1.0, min(1.0, x)))


def extraterrestrial_radiation_daily(phi: float, j: int) -> float:
    """Ra [MJ m-2 day-1] for latitude φ [rad] and day of year J (FAO-56 eq. 21)."""
    dr = inverse_relative_distance(j)
    delta = solar_declination(j)
    ws = sunset_hour_angle(phi, delta)
    return (24.0 * 60.0 / math.pi * GSC * dr
            * (ws * math.sin(phi) * math.sin(delta) + math.cos(phi) * math.cos(delta) * math.sin(ws)))


def daylight_hours(phi: float, j: int) -> float:
    """N [h], maximum possible sunshine duration (FAO-56 eq. 34)."""
    return 24.0 / math.pi * sunset_hour_angle(phi, solar_declination(j))


def seasonal_correction(j: int) -> float:
    """Sc [h], seasonal correction for solar time (FAO-56 eq. 32, with b from eq. 33)."""
    b = 2.0 * math.pi * (j - 81) / 364.0
    return 0.1645 * math.sin(2.0 * b) - 0.1255 * math.cos(b) - 0.025 * math.sin(b)


def solar_time_angle(t_mid_h: float, lz_deg_west: float, lm_deg_west: float, j: int) -> float:
    """ω [rad] at the midpoint t [h, standard clock time] of the period (FAO-56 eq. 31).

    Lz is the longitude of the centre of the local time zone and Lm the site's,
    both in degrees west of Greenwich as the paper counts them.
    """
    return math.pi / 12.0 * ((t_mid_h + 0.06667 * (lz_deg_west - lm_deg_west) + seasonal_correction(j)) - 12.0)


def extraterrestrial_radiation_hourly(phi: float, j: int, omega: float, t1_h: float = 1.0) -> float:
    """Ra [MJ m-2 per period] for a period of t1 hours centred on ω (FAO-56 eq. 28-30).

    ω1 and ω2 (eq. 29, 30) are clipped to the sunset angle ±ωs, so a period that
    straddles sunrise or sunset counts only its sunlit part, and night gives 0.
    """
    delta = solar_declination(j)
    ws = sunset_hour_angle(phi, delta)
    w1 = max(-ws, min(ws, omega - math.pi * t1_h / 24.0))
    w2 = max(-ws, min(ws, omega + math.pi * t1_h / 24.0))
    if w2 <= w1:
        return 0.0
    ra = (12.0 * 60.0 / math.pi * GSC * inverse_relative_distance(j)
          * ((w2 - w1) * math.sin(phi) * math.sin(delta)
             + math.cos(phi) * math.cos(delta) * (math.sin(w2) - math.sin(w1))))
    return max(0.0, ra)


def solar_radiation_from_sunshine(ra: float, n_h: float, big_n_h: float, a_s: float = 0.25, b_s: float = 0.50) -> float:
    """Rs from sunshine duration n and daylight hours N, Angström (FAO-56 eq. 35)."""
    return (a_s + b_s * n_h / big_n_h) * ra


KRS_INTERIOR = 0.16
KRS_COASTAL = 0.19


def solar_radiation_from_temperature(ra: float, tmin_c: float, tmax_c: float, krs: float = KRS_INTERIOR) -> float:
    """Rs from the temperature range, Hargreaves' radiation formula (FAO-56 eq. 50).
    kRs is 0.16 for interior and 0.19 for coastal locations."""
    return krs * math.sqrt(max(0.0, tmax_c - tmin_c)) * ra


def clear_sky_radiation(ra: float, z_m: float) -> float:
    """Rso from elevation when as, bs are not calibrated (FAO-56 eq. 37)."""
    return (0.75 + 2e-5 * z_m) * ra


def clear_sky_radiation_angstrom(ra: float, a_s: float = 0.25, b_s: float = 0.50) -> float:
    """Rso = (as + bs) Ra near sea level or with calibrated as, bs (FAO-56 eq. 36)."""
    return (a_s + b_s) * ra


def net_shortwave_radiation(rs: float, albedo: float = ALBEDO_GRASS) -> float:
    """Rns = (1 - α) Rs (FAO-56 eq. 38)."""
    return (1.0 - albedo) * rs


def net_longwave_radiation(tmax_c: float, tmin_c: float, ea_kpa: float, rs_rso: float,
                           sigma: float = SIGMA_DAY) -> float:
    """Rnl (FAO-56 eq. 39). For an hour pass Tmax = Tmin = Thr and sigma=SIGMA_HOUR.
    Rs/Rso is limited to 1.0 as the paper requires."""
    ratio = min(1.0, max(0.0, rs_rso))
    t4 = ((tmax_c + 273.16) ** 4 + (tmin_c + 273.16) ** 4) / 2.0
    return sigma * t4 * (0.34 - 0.14 * math.sqrt(ea_kpa)) * (1.35 * ratio - 0.35)


def net_radiation(rns: float, rnl: float) -> float:
    """Rn = Rns - Rnl (FAO-56 eq. 40)."""
    return rns - rnl


def soil_heat_flux_monthly(t_prev_month_c: float, t_this_month_c: float) -> float:
    """G [MJ m-2 day-1] for a month from the previous month's mean (FAO-56 eq. 44).
    (Daily G is taken as 0, eq. 42.)"""
    return 0.14 * (t_this_month_c - t_prev_month_c)


def soil_heat_flux_hourly(rn: float, daytime: bool) -> float:
    """G for an hour: 0.1 Rn by day (FAO-56 eq. 45), 0.5 Rn by night (eq. 46)."""
    return (0.1 if daytime else 0.5) * rn
