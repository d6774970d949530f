"""Reference evapotranspiration ET0: FAO-56 Penman-Monteith, daily and hourly.

Equation numbers are those of FAO-56 (Allen et al., 1998); the ASCE standardized
short reference (ASCE-EWRI, 2005) is the same equation with its own Cn/Cd.
Every result carries its intermediates and the method used for each input, so a
number on a dashboard can be traced back to the rule that produced it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum

from . import atmosphere as atm
from . import radiation as rad


class Reference(StrEnum):
    """Which reference surface equation to use."""

    FAO56 = "fao56"
    ASCE_SHORT = "asce-short"


# (Cn, Cd) per reference and time step. ASCE-EWRI (2005) table 1: short reference
# daily 900/0.34; hourly 37 with Cd 0.24 by day and 0.96 by night.
_DAILY_CN_CD = {Reference.FAO56: (900.0, 0.34), Reference.ASCE_SHORT: (900.0, 0.34)}
_HOURLY_CN = 37.0
_HOURLY_CD = {Reference.FAO56: (0.34, 0.34), Reference.ASCE_SHORT: (0.24, 0.96)}


def et0_penman_monteith(delta: float, rn: float, g: float, gamma: float, t_c: float, u2: float,
                        es: float, ea: float, cn: float = 900.0, cd: float = 0.34) -> float:
    """ET0 [mm per period], FAO-56 Penman-Monteith.

    With cn=900, cd=0.34 and daily inputs this is FAO-56 eq. 6 [mm/day]; with
    cn=37 and hourly inputs it is eq. 53 [mm/h].
    """
    num = 0.408 * delta * (rn - g) + gamma * cn / (t_c + 273.0) * u2 * (es - ea)
    return num / (delta + gamma * (1.0 + cd * u2))


@dataclass(frozen=True)
class Site:
    """Where the weather station is, and the site constants the missing-data rules need."""

    latitude_deg: float
    elevation_m: float
    longitude_deg: float | None = None
    """East positive; needed for hourly ET0 (solar time)."""
    wind_height_m: float = 2.0
    krs: float = rad.KRS_INTERIOR
    """Hargreaves radiation coefficient: 0.16 interior, 0.19 coastal (FAO-56 eq. 50)."""
    tdew_offset_c: float = 0.0
    """Tdew ≈ Tmin - offset when humidity is missing: 0 humid, 2-3 °C arid (FAO-56 ch. 3)."""
    night_rs_rso: float = 0.8
    """Rs/Rso at night before any day has been seen: FAO-56 Example 19 uses 0.8 (semi-arid);
    0.4-0.6 suits humid climates."""
    reference: Reference = Reference.FAO56
    a_s: float = 0.25
    b_s: float = 0.50

    def __post_init__(self) -> None:
        if not -90.0 <= self.latitude_deg <= 90.0:
            raise ValueError(f"latitude_deg must be within -90..90, got {self.latitude_deg}")
        if self.longitude_deg is not None and not -180.0 <= self.longitude_deg <= 180.0:
            raise ValueError(f"longitude_deg must be within -180..180, got {self.longitude_deg}")

    @property
    def phi(self) -> float:
        return math.radians(self.latitude_deg)


@dataclass(frozen=True)
class DailyWeather:
    """One day at a station. Any input but the temperatures may be None (missing)."""

    day: date
    tmin_c: float
    tmax_c: float
    rh_min_pct: float | None = None
    rh_max_pct: float | None = None
    rh_mean_pct: float | None = None
    ea_kpa: float | None = None
    tdew_c: float | None = None
    wind_ms: float | None = None
    rs_mj_m2: float | None = None
    sunshine_h: float | None = None
    g_mj_m2: float = 0.0
    """Soil heat flux; 0 for a day (FAO-56 eq. 42), eq. 44 for months."""


@dataclass(frozen=True)
class Et0Result:
    """ET0 and everything it was computed from."""

    et0_mm: float
    values: dict[str, float]
    methods: dict[str, str] = field(default_factory=dict)


def actual_vapour_pressure_daily(w: DailyWeather, site: Site) -> tuple[float, str]:
    """ea [kPa] by the best available input, in FAO-56's order of preference
    (ch. 3: dewpoint, then RHmax/RHmin, RHmax, RHmean; Tmin when all are missing)."""
    if w.ea_kpa is not None:
        return w.ea_kpa, "measured ea"
    if w.tdew_c is not None:
        return atm.ea_from_tdew(w.tdew_c), "eq. 14 (Tdew)"
    if w.rh_min_pct is not None and w.rh_max_pct is not None:
        return atm.ea_from_rhmin_rhmax(w.tmin_c, w.tmax_c, w.rh_min_pct, w.rh_max_pct), "eq. 17 (RHmax, RHmin)"
    if w.rh_max_pct is not None:
        return atm.ea_from_rhmax(w.tmin_c, w.rh_max_pct), "eq. 18 (RHmax only)"
    if w.rh_mean_pct is not None:
        return atm.ea_from_rhmean(w.tmin_c, w.tmax_c, w.rh_mean_pct), "eq. 19 (RHmean)"
    how = f"eq. 48 missing humidity (Tdew = Tmin - {site.tdew_offset_c:g})"
    return atm.ea_from_tmin(w.tmin_c, site.tdew_offset_c), how


def et0_daily(w: DailyWeather, site: Site) -> Et0Result:
    """Daily ET0 [mm/day], FAO-56 eq. 6, with the chapter 3 missing-data rules:
    ea from Tmin, Rs from sunshine (eq. 35) or the temperature range (eq. 50, capped
    at Rso), wind 2 m/s, wind at another height converted to 2 m (eq. 47)."""
    if w.tmax_c < w.tmin_c:
        raise ValueError(f"tmax_c {w.tmax_c} is below tmin_c {w.tmin_c}")
    methods: dict[str, str] = {}
    t_mean = (w.tmax_c + w.tmin_c) / 2.0  # eq. 9
    p = atm.atmospheric_pressure(site.elevation_m)
    gamma = atm.psychrometric_constant(p)
    delta = atm.slope_vapour_pressure_curve(t_mean)
    es = atm.mean_saturation_vapour_pressure(w.tmin_c, w.tmax_c)
    ea, methods["ea"] = actual_vapour_pressure_daily(w, site)
    if w.wind_ms is None:
        u2, methods["u2"] = atm.DEFAULT_WIND_MS, "missing wind: 2 m/s default"
    elif site.wind_height_m != 2.0:
        u2, methods["u2"] = atm.wind_speed_2m(w.wind_ms, site.wind_height_m), f"eq. 47 (from {site.wind_height_m:g} m)"
    else:
        u2, methods["u2"] = w.wind_ms, "measured at 2 m"
    j = w.day.timetuple().tm_yday
    ra = rad.extraterrestrial_radiation_daily(site.phi, j)
    big_n = rad.daylight_hours(site.phi, j)
    rso = rad.clear_sky_radiation(ra, site.elevation_m)
    if w.rs_mj_m2 is not None:
        rs, methods["rs"] = w.rs_mj_m2, "measured Rs"
    elif w.sunshine_h is not None:
        rs = rad.solar_radiation_from_sunshine(ra, w.sunshine_h, big_n, site.a_s, site.b_s)
        methods["rs"] = "eq. 35 (sunshine)"
    else:
        rs = min(rso, rad.solar_radiation_from_temperature(ra, w.tmin_c, w.tmax_c, site.krs))
        methods["rs"] = f"eq. 50 missing radiation (kRs {site.krs:g})"
    rns = rad.net_shortwave_radiation(rs)
    rnl = rad.net_longwave_radiation(w.tmax_c, w.tmin_c, ea, rs / rso if rso > 0 else 0.5)
    rn = rad.net_radiation(rns, rnl)
    cn, cd = _DAILY_CN_CD[site.reference]
    et0 = et0_penman_monteith(delta, rn, w.g_mj_m2, gamma, t_mean, u2, es, ea, cn, cd)
    methods["equation"] = "FAO-56 eq. 6" if site.reference is Reference.FAO56 else "ASCE-EWRI 2005 short, daily"
    values = {"t_mean": t_mean, "p": p, "gamma": gamma, "delta": delta, "es": es, "ea": ea, "u2": u2, "j": j,
              "ra": ra, "n_daylight": big_n, "rs": rs, "rso": rso, "rs_rso": rs / rso if rso > 0 else 0.0,
              "rns": rns, "rnl": rnl, "rn": rn, "g": w.g_mj_m2}
    return Et0Result(et0_mm=et0, values=values, methods=methods)


@dataclass(frozen=True)
class HourlyWeather:
    """One period (normally an hour) ending at `end`, an aware local time."""

    end: datetime
    temp_c: float
    rh_pct: float | None = None
    ea_kpa: float | None = None
    wind_ms: float | None = None
    rs_mj_m2: float | None = None
    t1_h: float = 1.0

    def __post_init__(self) -> None:
        if self.end.utcoffset() is None:
            raise ValueError("end must carry its UTC offset")


@dataclass(frozen=True)
class SunPosition:
    """Solar geometry of one period (FAO-56 eq. 24, 25, 28-33)."""

    j: int
    omega: float
    omega_s: float
    ra: float
    sin_beta: float


def sun_position(end: datetime, t1_h: float, site: Site) -> SunPosition:
    """Solar angles and Ra for the period of t1 hours ending at `end`."""
    if site.longitude_deg is None:
        raise ValueError("hourly ET0 needs the site longitude")
    mid = end - timedelta(hours=t1_h / 2.0)
    offset_h = mid.utcoffset().total_seconds() / 3600.0  # type: ignore[union-attr]
    lz_west = -15.0 * offset_h
    lm_west = -site.longitude_deg
    t_mid = mid.hour + mid.minute / 60.0 + mid.second / 3600.0
    j = mid.timetuple().tm_yday
    omega = rad.solar_time_angle(t_mid, lz_west, lm_west, j)
    omega = math.atan2(math.sin(omega), math.cos(omega))  # keep within -π..π
    delta = rad.solar_declination(j)
    ws = rad.sunset_hour_angle(site.phi, delta)
    ra = rad.extraterrestrial_radiation_hourly(site.phi, j, omega, t1_h)
    sin_beta = math.sin(site.phi) * math.sin(delta) + math.cos(site.phi) * math.cos(delta) * math.cos(omega)
    return SunPosition(j=j, omega=omega, omega_s=ws, ra=ra, sin_beta=sin_beta)


LOW_SUN_SIN_BETA = math.sin(0.30)
"""Below a solar elevation of 0.3 rad Rs/Rso is unreliable; the carried ratio is used (ASCE-EWRI 2005)."""


def et0_hourly(w: HourlyWeather, site: Site, carried_rs_rso: float | None = None,
               ea_fallback_kpa: float | None = None, rs_rso_fallback: float | None = None) -> Et0Result:
    """ET0 [mm per period] for one hour, FAO-56 eq. 53, with G from eq. 45/46.

    By night (and with the sun below 0.3 rad) Rnl uses `carried_rs_rso`, the ratio
    seen 2-3 hours before sunset (FAO-56 ch. 4, hourly), else `site.night_rs_rso`.
    Missing humidity uses `ea_fallback_kpa` (the series passes e°(day's Tmin), eq. 48);
    missing Rs uses `rs_rso_fallback` × Rso (the series passes the day's eq. 50 ratio);
    missing wind is 2 m/s.
    """
    methods: dict[str, str] = {}
    sun = sun_position(w.end, w.t1_h, site)
    daytime = sun.ra > 0.0
    p = atm.atmospheric_pressure(site.elevation_m)
    gamma = atm.psychrometric_constant(p)
    delta = atm.slope_vapour_pressure_curve(w.temp_c)
    es = atm.saturation_vapour_pressure(w.temp_c)
    if w.ea_kpa is not None:
        ea, methods["ea"] = w.ea_kpa, "measured ea"
    elif w.rh_pct is not None:
        ea, methods["ea"] = atm.ea_from_rh_hourly(w.temp_c, w.rh_pct), "eq. 54 (RHhr)"
    elif ea_fallback_kpa is not None:
        ea, methods["ea"] = ea_fallback_kpa, "eq. 48 missing humidity (e° of the day's Tmin)"
    else:
        ea, methods["ea"] = atm.ea_from_tmin(w.temp_c, site.tdew_offset_c), "missing humidity, e°(T - offset)"
    if w.wind_ms is None:
        u2, methods["u2"] = atm.DEFAULT_WIND_MS, "missing wind: 2 m/s default"
    elif site.wind_height_m != 2.0:
        u2, methods["u2"] = atm.wind_speed_2m(w.wind_ms, site.wind_height_m), f"eq. 47 (from {site.wind_height_m:g} m)"
    else:
        u2, methods["u2"] = w.wind_ms, "measured at 2 m"
    rso = rad.clear_sky_radiation(sun.ra, site.elevation_m)
    if w.rs_mj_m2 is not None:
        rs, methods["rs"] = w.rs_mj_m2, "measured Rs"
    elif not daytime:
        rs, methods["rs"] = 0.0, "night: Rs = 0"
    else:
        ratio = rs_rso_fallback if rs_rso_fallback is not None else site.night_rs_rso
        rs, methods["rs"] = ratio * rso, f"missing radiation: Rso x {ratio:.2f} (eq. 50 ratio of the day)"
    night_ratio = carried_rs_rso if carried_rs_rso is not None else site.night_rs_rso
    if daytime and sun.sin_beta >= LOW_SUN_SIN_BETA and rso > 0:
        rs_rso = min(1.0, rs / rso)
        methods["rs_rso"] = "Rs/Rso of the hour"
    else:
        rs_rso = night_ratio
        methods["rs_rso"] = ("carried from 2-3 h before sunset" if carried_rs_rso is not None
                             else f"night default {site.night_rs_rso:g}")
    rns = rad.net_shortwave_radiation(rs)
    rnl = rad.net_longwave_radiation(w.temp_c, w.temp_c, ea, rs_rso, rad.SIGMA_HOUR)
    rn = rad.net_radiation(rns, rnl)
    g = rad.soil_heat_flux_hourly(rn, daytime)
    cd_day, cd_night = _HOURLY_CD[site.reference]
    cd = cd_day if daytime else cd_night
    # Cn = 37 is per hour; a shorter period (Rn, G per period) scales it by t1
    et0 = et0_penman_monteith(delta, rn, g, gamma, w.temp_c, u2, es, ea, _HOURLY_CN * w.t1_h, cd)
    methods["equation"] = "FAO-56 eq. 53" if site.reference is Reference.FAO56 else "ASCE-EWRI 2005 short, hourly"
    values = {"j": sun.j, "omega": sun.omega, "omega_s": sun.omega_s, "ra": sun.ra, "rso": rso, "rs": rs,
              "rs_rso": rs_rso, "p": p, "gamma": gamma, "delta": delta, "es": es, "ea": ea, "u2": u2,
              "rns": rns, "rnl": rnl, "rn": rn, "g": g, "daytime": 1.0 if daytime else 0.0}
    return Et0Result(et0_mm=et0, values=values, methods=methods)


def _pre_sunset(sun: SunPosition) -> bool:
    """The period's midpoint lies 2-3 h before sunset (ωs - 0.79 ≤ ω ≤ ωs - 0.52)."""
    return sun.omega_s - 0.79 <= sun.omega <= sun.omega_s - 0.52


def et0_hourly_series(rows: Sequence[HourlyWeather], site: Site) -> list[Et0Result]:
    """Hourly ET0 for a time-ordered series, applying the night-time and missing-data
    rules across rows: the Rs/Rso of 2-3 h before sunset is carried into the night;
    missing humidity takes e° of the local day's Tmin (eq. 48); missing Rs takes the
    day's Hargreaves ratio (eq. 50 over eq. 37) times the hour's Rso."""
    by_day: dict[date, list[float]] = {}
    for w in rows:
        by_day.setdefault((w.end - timedelta(hours=w.t1_h / 2)).date(), []).append(w.temp_c)
    day_ratio: dict[date, float] = {}
    for d, temps in by_day.items():
        j = d.timetuple().tm_yday
        ra_d = rad.extraterrestrial_radiation_daily(site.phi, j)
        rso_d = rad.clear_sky_radiation(ra_d, site.elevation_m)
        rs_d = min(rso_d, rad.solar_radiation_from_temperature(ra_d, min(temps), max(temps), site.krs))
        day_ratio[d] = rs_d / rso_d if rso_d > 0 else site.night_rs_rso
    carried: float | None = None
    out: list[Et0Result] = []
    for w in rows:
        d = (w.end - timedelta(hours=w.t1_h / 2)).date()
        result = et0_hourly(w, site, carried_rs_rso=carried,
                            ea_fallback_kpa=atm.ea_from_tmin(min(by_day[d]), site.tdew_offset_c),
                            rs_rso_fallback=day_ratio[d])
        sun = sun_position(w.end, w.t1_h, site)
        if _pre_sunset(sun) and result.values["rso"] > 0:
            carried = min(1.0, result.values["rs"] / result.values["rso"])
        out.append(result)
    return out


def et0_daily_series(rows: Iterable[DailyWeather], site: Site) -> list[Et0Result]:
    """Daily ET0 for each row."""
    return [et0_daily(w, site) for w in rows]
