"""Weather for the virtual farm: a seeded generator, or a replayed station CSV.

A day's weather is a `furrow.cloud.agronomy.DailyWeather` (the columns of
`furrow agro et0`) plus its rain; its reference ET0 comes from the FAO-56
functions (`et0_daily`), never from a formula of the farm's own.

Generator (documented in docs/hil.md):
- mean temperature follows the season (a sine over the year) plus a
  first-order autoregressive anomaly (a warm spell lasts days);
- the diurnal range is 12 °C on dry days, 7 °C on wet ones; the hourly
  temperature is a sine with its minimum at 03:00 and maximum at 15:00;
- rain follows a two-state Markov chain (P(wet | dry), P(wet | wet)) with
  exponential amounts, falling in a block of hours in the afternoon;
  a `dry_spell` (first day, length) forces dry, hotter days;
- humidity from the dew point (≈ Tmin - 1 °C dry, Tmin wet), solar
  radiation as a share of the clear-sky value (FAO-56 eq. 37) that rain
  days cut, spread over the day as a half sine from 06:00 to 18:00.
"""

from __future__ import annotations

import csv
import math
import random
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from furrow.cloud.agronomy import DailyWeather, Site, et0_daily
from furrow.cloud.agronomy import atmosphere as atm
from furrow.cloud.agronomy import radiation as rad
from furrow.cloud.agronomy.tables import TableError, check_header, daily_rows, hourly_rows, number

SUNRISE_H, SUNSET_H = 6.0, 18.0


@dataclass(frozen=True)
class FarmDay:
    """One day of weather at the farm, with its ET0 and where its rain falls."""

    weather: DailyWeather
    rain_mm: float
    et0_mm: float
    rain_start_h: int = 14
    rain_hours: int = 3

    @property
    def day(self) -> date:
        return self.weather.day

    def temp_c(self, hour: float) -> float:
        """Hourly temperature: a sine with Tmin at 03:00 and Tmax at 15:00."""
        w = self.weather
        mean, half = (w.tmax_c + w.tmin_c) / 2.0, (w.tmax_c - w.tmin_c) / 2.0
        return mean + half * math.sin((hour - 9.0) / 24.0 * 2.0 * math.pi)

    def rh_pct(self, hour: float) -> float:
        """Relative humidity from the day's vapour pressure at the hour's temperature (FAO-56 eq. 10)."""
        w = self.weather
        ea = atm.ea_from_tdew(w.tdew_c) if w.tdew_c is not None else atm.ea_from_tmin(w.tmin_c)
        return max(5.0, min(100.0, 100.0 * ea / atm.saturation_vapour_pressure(self.temp_c(hour))))

    def sun_share(self, hour: float, width_h: float = 1.0) -> float:
        """Share of the day's radiation falling in [hour, hour + width_h): a half sine from sunrise to sunset."""
        a, b = max(hour, SUNRISE_H), min(hour + width_h, SUNSET_H)
        if b <= a:
            return 0.0
        day_len = SUNSET_H - SUNRISE_H

        def cum(x: float) -> float:
            return (1.0 - math.cos(math.pi * (x - SUNRISE_H) / day_len)) / 2.0

        return cum(b) - cum(a)

    def rs_w_m2(self, hour: float) -> float:
        """Solar irradiance at `hour` [W/m2], from the day's Rs [MJ/m2] and the half-sine shape."""
        rs = self.weather.rs_mj_m2 or 0.0
        if not SUNRISE_H < hour < SUNSET_H:
            return 0.0
        day_len_s = (SUNSET_H - SUNRISE_H) * 3600.0
        peak = rs * 1e6 * math.pi / (2.0 * day_len_s)
        return peak * math.sin(math.pi * (hour - SUNRISE_H) / (SUNSET_H - SUNRISE_H))

    def rain_in(self, hour: float, width_h: float = 1.0) -> float:
        """Rain [mm] falling in [hour, hour + width_h): evenly over the rain block."""
        if self.rain_mm <= 0.0:
            return 0.0
        a, b = max(hour, self.rain_start_h), min(hour + width_h, self.rain_start_h + self.rain_hours)
        return self.rain_mm * max(0.0, b - a) / self.rain_hours

    def wind_ms(self) -> float:
        return self.weather.wind_ms if self.weather.wind_ms is not None else 2.0


@dataclass(frozen=True)
class Climate:
    """The generator's parameters (defaults: a temperate summer at 40° N)."""

    latitude_deg: float = 40.0
    elevation_m: float = 100.0
    mean_temp_c: float = 21.0
    seasonal_amp_c: float = 5.0
    warmest_doy: int = 200
    anomaly_sd_c: float = 1.5
    anomaly_keep: float = 0.7
    p_wet_after_dry: float = 0.18
    p_wet_after_wet: float = 0.45
    mean_rain_mm: float = 9.0
    clear_share_dry: float = 0.78
    clear_share_wet: float = 0.38
    dry_spell: tuple[int, int] | None = None
    """(first day index, number of days) forced dry and 3 °C warmer."""
    dry_spell_warming_c: float = 3.0

    @property
    def site(self) -> Site:
        return Site(latitude_deg=self.latitude_deg, elevation_m=self.elevation_m)


def generate(start: date, days: int, seed: int, climate: Climate = Climate()) -> list[FarmDay]:
    """`days` days of weather from `start`, repeatable for `seed`."""
    rng = random.Random(seed)
    site = climate.site
    out: list[FarmDay] = []
    anomaly = 0.0
    wet = False
    for i in range(days):
        d = start + timedelta(days=i)
        doy = d.timetuple().tm_yday
        in_spell = climate.dry_spell is not None and climate.dry_spell[0] <= i < sum(climate.dry_spell)
        anomaly = climate.anomaly_keep * anomaly + rng.gauss(0.0, climate.anomaly_sd_c)
        p_wet = climate.p_wet_after_wet if wet else climate.p_wet_after_dry
        wet = rng.random() < p_wet and not in_spell
        rain = round(rng.expovariate(1.0 / climate.mean_rain_mm), 1) if wet else 0.0
        wet = wet and rain >= 0.2
        mean = (climate.mean_temp_c + climate.seasonal_amp_c * math.cos(2 * math.pi * (doy - climate.warmest_doy) / 365)
                + anomaly + (climate.dry_spell_warming_c if in_spell else 0.0) - (1.5 if wet else 0.0))
        spread = 7.0 if wet else 12.0
        tmin, tmax = round(mean - spread / 2, 1), round(mean + spread / 2, 1)
        ra = rad.extraterrestrial_radiation_daily(site.phi, doy)
        rso = rad.clear_sky_radiation(ra, site.elevation_m)
        share = climate.clear_share_wet if wet else climate.clear_share_dry
        rs = round(rso * min(1.0, max(0.2, share + rng.gauss(0.0, 0.05))), 2)
        tdew = round(tmin - (0.0 if wet else 1.0 + 2.0 * in_spell), 1)
        wind = round(max(0.5, rng.gauss(2.0, 0.5)), 2)
        w = DailyWeather(day=d, tmin_c=tmin, tmax_c=tmax, tdew_c=tdew, wind_ms=wind, rs_mj_m2=rs)
        out.append(FarmDay(weather=w, rain_mm=rain if wet else 0.0, et0_mm=et0_daily(w, site).et0_mm,
                           rain_start_h=rng.randint(12, 18), rain_hours=rng.randint(2, 5)))
    return out


def replay(path: Path, site: Site) -> list[FarmDay]:
    """A station CSV in `furrow agro et0` columns, daily (date, tmin_c, tmax_c, ...) or hourly
    (time, temp_c, ...), plus an optional rain_mm column. Hourly rows are folded into days.
    Raises TableError naming the row and column of a bad cell."""
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
        header = rows[0].keys() if rows else ()
    if not rows:
        raise TableError(1, "date", None, f"{path} holds no data rows")
    rain = [number(i + 2, r, "rain_mm", 0.0, 500.0) or 0.0 if "rain_mm" in r else 0.0 for i, r in enumerate(rows)]
    if "time" in header:
        check_header(header, ("time", "temp_c"))
        return _fold_hourly(hourly_rows(rows), rain, site)
    check_header(header, ("date", "tmin_c", "tmax_c"))
    return [FarmDay(weather=w, rain_mm=r, et0_mm=et0_daily(w, site).et0_mm) for w, r in zip(daily_rows(rows), rain,
                                                                                            strict=True)]


def _fold_hourly(hours: list, rain: list[float], site: Site) -> list[FarmDay]:
    by_day: dict[date, list[tuple[object, float]]] = {}
    for h, r in zip(hours, rain, strict=True):
        by_day.setdefault((h.end - timedelta(minutes=30)).date(), []).append((h, r))
    out = []
    for d, items in sorted(by_day.items()):
        temps = [h.temp_c for h, _ in items]
        rhs = [h.rh_pct for h, _ in items if h.rh_pct is not None]
        winds = [h.wind_ms for h, _ in items if h.wind_ms is not None]
        rss = [h.rs_mj_m2 for h, _ in items if h.rs_mj_m2 is not None]
        w = DailyWeather(day=d, tmin_c=min(temps), tmax_c=max(temps),
                         rh_min_pct=min(rhs) if rhs else None, rh_max_pct=max(rhs) if rhs else None,
                         wind_ms=sum(winds) / len(winds) if winds else None,
                         rs_mj_m2=sum(rss) if len(rss) == len(items) else None)
        out.append(FarmDay(weather=w, rain_mm=round(sum(r for _, r in items), 2), et0_mm=et0_daily(w, site).et0_mm))
    return out
