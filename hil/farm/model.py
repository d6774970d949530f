"""The virtual farm: zones (soil column + crop), weather, pests and valves on one clock.

`Farm.advance(t_s)` integrates everything up to `t_s` in pieces that never
cross an hour, so a scenario may step by the hour or by the minute and get
the same farm. Per piece and zone (see docs/hil.md for the whole model):

    ET0 share   the day's ET0 (FAO-56, from the weather) spread 90 % with the sun, 10 % evenly
    ETc         Ks × Kc × ET0 share (FAO-56 eq. 80; Ks from the zone's true depletion, eq. 84)
    rain        the hour's rain enters the soil (runoff when the profile is saturated)
    irrigation  each open valve's flow [L/min] × open time / zone area [m2] = mm
    drainage    above field capacity, downwards

At each midnight the day is closed: degree days move the crop and the
pests on, and the day's truth is recorded per zone (largest depletion, RAW,
whether the crop was stressed, rain, irrigation, ET).

It offers the interface the emulated hardware (hil/hardware.py) reads:
``zones[name].vwc(depth_cm)``, ``weather(t_s)``, ``soil_temp_c``, ``noise``,
``connect_valve``/``set_valve``/``valve_flow_l_min``.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime

from furrow.cloud.agronomy.atmosphere import atmospheric_pressure
from furrow.cloud.agronomy.water_balance import water_stress_coefficient
from furrow.hil.clock import DAY_S, HOUR_S
from furrow.hil.virtual_farm import WeatherNow

from .crop import Crop
from .pests import PestPopulation
from .soil import SoilColumn
from .weather import FarmDay


@dataclass(frozen=True)
class DayTruth:
    """One zone-day as the farm knows it (never shown to the policies)."""

    day_index: int
    depletion_max_mm: float
    depletion_end_mm: float
    raw_mm: float
    taw_mm: float
    stressed: bool
    rain_mm: float
    irrigation_mm: float
    etc_mm: float
    kc: float
    stage: str


@dataclass
class FarmZone:
    name: str
    soil: SoilColumn
    crop: Crop
    area_m2: float = 1000.0
    sown_day: int = 0
    """The farm day the crop was sown: before it the field is bare and its degree days do not count."""
    irrigated_mm: float = 0.0
    days: list[DayTruth] = field(default_factory=list)
    _day: dict[str, float] = field(default_factory=lambda: {"dr_max": 0.0, "rain": 0.0, "irr": 0.0, "etc": 0.0})

    def vwc(self, depth_cm: float) -> float:
        """θ [%] at a probe's depth (hil/hardware.ProbeADC reads this)."""
        return self.soil.vwc_pct(depth_cm)

    def raw_mm(self, et0_mm_day: float) -> float:
        """RAW = p TAW, p adjusted for the day's ETc (FAO-56 eq. 83, table 22)."""
        return self.crop.p(self.crop.kc * et0_mm_day) * self.soil.taw_mm()


@dataclass(frozen=True)
class ValveRun:
    """One time a valve was open, as the farm saw it."""

    node: str
    channel: int
    zone: str
    start_s: float
    end_s: float
    litres: float


class Farm:
    """Zones, weather days and pests from `start` (a midnight: the farm's hours are local hours)."""

    def __init__(self, zones: list[FarmZone], days: list[FarmDay], start: datetime, seed: int = 1,
                 pests: PestPopulation | None = None, elevation_m: float = 100.0) -> None:
        if start.utcoffset() is None or (start.hour, start.minute, start.second, start.microsecond) != (0, 0, 0, 0):
            raise ValueError(f"start must be an aware midnight (the farm's hours are its local hours), got {start!r}")
        self.pressure_kpa = atmospheric_pressure(elevation_m)
        self.zones = {z.name: z for z in zones}
        self.days = days
        self.start_s = start.timestamp()
        self.t_s = self.start_s
        self.pests = pests or PestPopulation(rng=random.Random(seed + 7))
        self._rng = random.Random(seed)
        self._valves: dict[tuple[str, int], tuple[str, float]] = {}  # -> (zone, flow L/min)
        self._open: dict[tuple[str, int], tuple[float, float]] = {}  # -> (opened at, litres so far)
        self.runs: list[ValveRun] = []
        self.rain_total_mm = 0.0
        self._rain_pending_mm = 0.0  # for the rain gauges

    # -- what the hardware reads --------------------------------------------

    def day(self, t_s: float) -> FarmDay:
        i = int((t_s - self.start_s) // DAY_S)
        return self.days[min(max(i, 0), len(self.days) - 1)]

    def weather(self, t_s: float) -> WeatherNow:
        d = self.day(t_s)
        hour = ((t_s - self.start_s) % DAY_S) / HOUR_S
        days = (t_s - self.start_s) / DAY_S
        # the semidiurnal tide (peaks near 10:00 and 22:00; Dai & Wang 1999) on a 5-day synoptic swing
        pressure = (self.pressure_kpa + 0.05 * math.cos(2 * math.pi * (hour - 10.0) / 12.0)
                    + 0.6 * math.sin(2 * math.pi * days / 5.0))
        # the wind veers with the weather systems and a little with the day
        direction = 225.0 + 70.0 * math.sin(2 * math.pi * days / 3.3) + 20.0 * math.sin(2 * math.pi * hour / 24.0)
        return WeatherNow(air_temp_c=d.temp_c(hour), rh_pct=d.rh_pct(hour), pressure_kpa=round(pressure, 3),
                          wind_ms=d.wind_ms() * (0.7 + 0.6 * d.sun_share(hour, 1.0) * 6),
                          wind_dir_deg=direction % 360, rs_w_m2=d.rs_w_m2(hour), rain_mm_h=d.rain_in(math.floor(hour)))

    def soil_temp_c(self, depth_cm: int, t_s: float) -> float:
        """Soil temperature: the day's mean air temperature, the daily wave damped and delayed with depth."""
        d = self.day(t_s)
        hour = ((t_s - self.start_s) % DAY_S) / HOUR_S
        mean, half = (d.weather.tmax_c + d.weather.tmin_c) / 2, (d.weather.tmax_c - d.weather.tmin_c) / 2
        damping = math.exp(-depth_cm / 12.0)
        return mean + half * damping * math.sin((hour - 9.0 - depth_cm / 5.0) / 24.0 * 2 * math.pi)

    def noise(self, sigma: float) -> float:
        return self._rng.gauss(0.0, sigma)

    def connect_valve(self, node: str, channel: int, zone: str, rate_mm_h: float) -> None:
        """Valve `channel` of controller `node` waters `zone` at `rate_mm_h` over its area."""
        area = self.zones[zone].area_m2
        self._valves[(node, channel)] = (zone, rate_mm_h * area / 60.0)

    def set_valve(self, node: str, channel: int, is_open: bool) -> None:
        key = (node, channel)
        if is_open and key not in self._open:
            self._open[key] = (self.t_s, 0.0)
        elif not is_open and key in self._open:
            start, litres = self._open.pop(key)
            zone = self._valves[key][0] if key in self._valves else ""
            self.runs.append(ValveRun(node, channel, zone, start, self.t_s, litres))

    def valve_flow_l_min(self, node: str) -> float:
        return sum(self._valves[k][1] for k in self._open if k[0] == node and k in self._valves)

    def take_rain_mm(self) -> float:
        """Rain fallen since the last call (what the rain gauges have to tip for)."""
        mm, self._rain_pending_mm = self._rain_pending_mm, 0.0
        return mm

    # -- time -----------------------------------------------------------------

    def advance(self, t_s: float) -> None:
        """Integrate the farm up to `t_s`, never across an hour boundary in one piece."""
        while self.t_s < t_s - 1e-9:
            next_hour = (math.floor((self.t_s - self.start_s) / HOUR_S) + 1) * HOUR_S + self.start_s
            b = min(t_s, next_hour)
            self._piece(self.t_s, b)
            self.t_s = b
            if (b - self.start_s) % DAY_S == 0:
                self._close_day(int((b - self.start_s) // DAY_S) - 1)

    def _piece(self, a: float, b: float) -> None:
        d = self.day(a)
        hour = ((a - self.start_s) % DAY_S) / HOUR_S
        width_h = (b - a) / HOUR_S
        et0 = d.et0_mm * (0.9 * d.sun_share(hour, width_h) + 0.1 * width_h / 24.0)
        rain = d.rain_in(hour, width_h)
        self.rain_total_mm += rain
        self._rain_pending_mm += rain
        water: dict[str, float] = {}
        for key, (opened, litres) in list(self._open.items()):
            if key in self._valves:
                zone, flow = self._valves[key]
                got = flow * (b - a) / 60.0
                self._open[key] = (opened, litres + got)
                water[zone] = water.get(zone, 0.0) + got / self.zones[zone].area_m2
        for z in self.zones.values():
            kc = z.crop.kc
            taw = z.soil.taw_mm()
            raw = z.crop.p(kc * d.et0_mm) * taw
            ks = water_stress_coefficient(z.soil.depletion_mm(), taw, raw)
            z._day["etc"] += z.soil.transpire(ks * kc * et0)
            irr = water.get(z.name, 0.0)
            if rain or irr:
                z.soil.infiltrate(rain + irr)
                z.irrigated_mm += irr
            z.soil.drain(width_h)
            z._day["rain"] += rain
            z._day["irr"] += irr
            z._day["dr_max"] = max(z._day["dr_max"], z.soil.depletion_mm())

    def _close_day(self, index: int) -> None:
        d = self.days[min(index, len(self.days) - 1)]
        for z in self.zones.values():
            raw = z.raw_mm(d.et0_mm)
            z.days.append(DayTruth(index, round(z._day["dr_max"], 2), round(z.soil.depletion_mm(), 2), round(raw, 2),
                                   round(z.soil.taw_mm(), 2), z._day["dr_max"] > raw, round(z._day["rain"], 2),
                                   round(z._day["irr"], 2), round(z._day["etc"], 2), round(z.crop.kc, 3),
                                   str(z.crop.stage)))
            z._day = {"dr_max": z.soil.depletion_mm(), "rain": 0.0, "irr": 0.0, "etc": 0.0}
            if index >= z.sown_day:
                z.crop.add_day(d.weather.tmin_c, d.weather.tmax_c)
        self.pests.add_day(d.weather.tmin_c, d.weather.tmax_c)

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.t_s, UTC)
