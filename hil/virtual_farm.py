"""A small virtual farm for emulated nodes to measure: soil water by depth,
weather with a daily cycle, and valves that wet the soil.

Deliberately simple for now (the HIL issue deepens it): each zone's soil is a
few layers whose volumetric water content falls with evapotranspiration,
fastest near the surface, and rises with irrigation, capped at field capacity
with the excess draining to the layer below. Everything is a pure function of
the time you advance it to, so a run is repeatable for a seed.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

DAY_S = 86_400.0


@dataclass
class SoilLayer:
    depth_cm: int
    thickness_mm: float
    vwc_pct: float


@dataclass
class VirtualZone:
    """One irrigation zone's soil column."""

    name: str
    area_m2: float = 100.0
    """What one valve waters: its flow is the application rate over this area."""
    field_capacity_pct: float = 34.0
    wilting_point_pct: float = 14.0
    layers: list[SoilLayer] = field(
        default_factory=lambda: [SoilLayer(10, 200.0, 27.0), SoilLayer(30, 200.0, 29.0), SoilLayer(60, 300.0, 31.0)]
    )
    # share of the zone's evapotranspiration drawn from each layer, top first
    uptake: tuple[float, ...] = (0.5, 0.35, 0.15)
    irrigated_mm: float = 0.0

    def vwc(self, depth_cm: int) -> float:
        for layer in self.layers:
            if layer.depth_cm == depth_cm:
                return layer.vwc_pct
        raise KeyError(f"zone {self.name} has no layer at {depth_cm} cm")

    def evaporate(self, et_mm: float) -> None:
        for layer, share in zip(self.layers, self.uptake, strict=False):
            floor = self.wilting_point_pct * 0.8
            delta_pct = et_mm * share / layer.thickness_mm * 100.0
            layer.vwc_pct = max(floor, layer.vwc_pct - delta_pct)

    def add_water(self, mm: float) -> None:
        """Water enters the top layer; above field capacity it drains down,
        and what leaves the bottom layer is deep percolation."""
        self.irrigated_mm += mm
        carry = mm
        for layer in self.layers:
            room_mm = (self.field_capacity_pct - layer.vwc_pct) / 100.0 * layer.thickness_mm
            take = min(carry, max(room_mm, 0.0))
            layer.vwc_pct += take / layer.thickness_mm * 100.0
            carry -= take
            if carry <= 0:
                break


@dataclass
class WeatherNow:
    air_temp_c: float
    rh_pct: float
    pressure_kpa: float
    wind_ms: float
    wind_dir_deg: float
    rs_w_m2: float
    rain_mm_h: float


class VirtualFarm:
    """The farm's zones and weather, advanced in real or simulated time."""

    def __init__(self, zones: list[VirtualZone], seed: int = 1, et0_mm_day: float = 5.0) -> None:
        self.zones = {z.name: z for z in zones}
        self.et0_mm_day = et0_mm_day
        self._rng = random.Random(seed)
        self._t_s: float | None = None
        # valve -> (zone name, application rate mm per hour while open)
        self._valves: dict[tuple[str, int], tuple[str, float]] = {}
        self._open: set[tuple[str, int]] = set()

    def connect_valve(self, node: str, channel: int, zone: str, rate_mm_h: float) -> None:
        self._valves[(node, channel)] = (zone, rate_mm_h)

    def set_valve(self, node: str, channel: int, is_open: bool) -> None:
        if is_open:
            self._open.add((node, channel))
        else:
            self._open.discard((node, channel))

    def valve_flow_l_min(self, node: str) -> float:
        """Flow through a controller's open valves: rate [mm/h] x the zone's area [m²] is L/h
        (1 mm on 1 m² is 1 L), over 60 for L/min."""
        total = 0.0
        for key in self._open:
            if key[0] == node and key in self._valves:
                zone, rate_mm_h = self._valves[key]
                total += rate_mm_h * self.zones[zone].area_m2 / 60.0
        return total

    def weather(self, t_s: float) -> WeatherNow:
        """Diurnal weather: warmest mid-afternoon, sun from 06:00 to 18:00 UTC."""
        hour = (t_s % DAY_S) / 3600.0
        temp = 20.0 + 8.0 * math.sin((hour - 9.0) / 24.0 * 2 * math.pi)
        sun = max(0.0, math.sin((hour - 6.0) / 12.0 * math.pi)) if 6.0 <= hour <= 18.0 else 0.0
        return WeatherNow(
            air_temp_c=temp,
            rh_pct=max(20.0, min(98.0, 85.0 - 2.5 * (temp - 12.0))),
            pressure_kpa=101.3,
            wind_ms=2.0 + 1.5 * sun,
            wind_dir_deg=225.0,
            rs_w_m2=900.0 * sun,
            rain_mm_h=0.0,
        )

    def soil_temp_c(self, depth_cm: int, t_s: float) -> float:
        """Soil temperature follows the air, damped and delayed with depth."""
        hour = (t_s % DAY_S) / 3600.0
        damping = math.exp(-depth_cm / 12.0)
        return 18.0 + 6.0 * damping * math.sin((hour - 9.0 - depth_cm / 5.0) / 24.0 * 2 * math.pi)

    def advance(self, t_s: float) -> None:
        """Move the farm to time t_s (seconds): ET dries, open valves wet."""
        if self._t_s is None:
            self._t_s = t_s
            return
        dt = t_s - self._t_s
        if dt <= 0:
            return
        self._t_s = t_s
        sun = self.weather(t_s).rs_w_m2 / 900.0
        # ET follows the sun; integrates to about et0_mm_day over a day
        et_mm = self.et0_mm_day * sun * math.pi / 2.0 * dt / (DAY_S / 2.0)
        for zone in self.zones.values():
            zone.evaporate(et_mm)
        for key in self._open:
            if key in self._valves:
                zone_name, rate = self._valves[key]
                self.zones[zone_name].add_water(rate * dt / 3600.0)

    def noise(self, sigma: float) -> float:
        return self._rng.gauss(0.0, sigma)
