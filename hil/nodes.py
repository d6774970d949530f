"""Build real firmware node cores wired to emulated hardware on a virtual farm."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from furrow.firmware.drivers.ds18b20 import DS18B20
from furrow.firmware.drivers.soil_moisture import CapacitiveMoisture
from furrow.firmware.irrigation_node import IrrigationNode
from furrow.firmware.seqstore import SeqStore
from furrow.firmware.soil_node import SoilNode
from furrow.firmware.weather_node import WeatherNode
from furrow.hil.hardware import AirSensor, DS18B20Bus, FlowMeter, ProbeADC, Solar, Valve, Wind
from furrow.hil.virtual_farm import VirtualFarm

FW = "0.1.0"
DRY_RAW, WET_RAW = 50_000, 20_000


def _seqstore(state_dir: Path, node_id: str) -> SeqStore:
    """Each emulated node keeps its sequence number in its own 'flash' file,
    so a restarted demo continues where it stopped."""
    state_dir.mkdir(parents=True, exist_ok=True)
    return SeqStore(str(state_dir / f"{node_id}.seq"))


def soil_node(farm: VirtualFarm, node_id: str, zone: str, depths_cm: list[int], state_dir: Path,
              interval_ms: int, clock_s: Callable[[], float]) -> SoilNode:
    probes = []
    for depth in depths_cm:
        moisture = CapacitiveMoisture(ProbeADC(farm, zone, depth, DRY_RAW, WET_RAW), DRY_RAW, WET_RAW)
        temperature = DS18B20(DS18B20Bus(lambda d=depth: farm.soil_temp_c(d, clock_s())))
        probes.append((depth, moisture, temperature))
    return SoilNode(node_id, _seqstore(state_dir, node_id), probes, fw=FW, interval_ms=interval_ms,
                    battery=lambda: 3.7, rssi=lambda: -70)


def weather_node(farm: VirtualFarm, node_id: str, state_dir: Path, interval_ms: int,
                 clock_s: Callable[[], float]) -> WeatherNode:
    return WeatherNode(node_id, _seqstore(state_dir, node_id), air=AirSensor(farm, clock_s), fw=FW,
                       interval_ms=interval_ms, wind=Wind(farm, clock_s), solar=Solar(farm, clock_s),
                       battery=lambda: 3.9, rssi=lambda: -75)


def irrigation_node(farm: VirtualFarm, node_id: str, zones: list[str], state_dir: Path, interval_ms: int,
                    rate_mm_h: float = 12.0) -> tuple[IrrigationNode, FlowMeter]:
    """A controller with one valve per zone (valve n waters zones[n-1])."""
    valves = []
    for channel, zone in enumerate(zones, start=1):
        farm.connect_valve(node_id, channel, zone, rate_mm_h)
        valves.append(Valve(farm, node_id, channel))
    meter = FlowMeter(farm, node_id)
    core = IrrigationNode(node_id, _seqstore(state_dir, node_id), valves, fw=FW, interval_ms=interval_ms,
                          flow_meter=meter)
    return core, meter
