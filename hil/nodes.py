"""Build real firmware node cores wired to emulated hardware on a virtual farm."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from furrow.edge.image import DEFAULT_CHUNK_BYTES
from furrow.firmware.camera_node import CameraNode
from furrow.firmware.drivers.camera import Camera
from furrow.firmware.drivers.ds18b20 import DS18B20
from furrow.firmware.drivers.reflectance import ReflectancePair
from furrow.firmware.drivers.soil_moisture import CapacitiveMoisture
from furrow.firmware.image_store import ImageStore
from furrow.firmware.injector import Injector
from furrow.firmware.irrigation_node import IrrigationNode
from furrow.firmware.journal import Journal
from furrow.firmware.pest_node import PestNode
from furrow.firmware.seqstore import SeqStore
from furrow.firmware.soil_node import SoilNode
from furrow.firmware.weather_node import WeatherNode
from furrow.hil.farm.trap_card import Look
from furrow.hil.hardware import AirSensor, CanopyCamera, DS18B20Bus, FlowMeter, ProbeADC, Solar, Valve, Wind
from furrow.hil.trap_camera import PheromoneTrap, TrapCamera
from furrow.hil.virtual_farm import VirtualFarm, VirtualZone

FW = "0.1.0"
DRY_RAW, WET_RAW = 50_000, 20_000


def _seqstore(state_dir: Path, node_id: str) -> SeqStore:
    """Each emulated node keeps its sequence number in its own 'flash' file,
    so a restarted demo continues where it stopped."""
    state_dir.mkdir(parents=True, exist_ok=True)
    return SeqStore(str(state_dir / f"{node_id}.seq"))


def soil_node(farm: VirtualFarm, node_id: str, zone: str, depths_cm: list[int], state_dir: Path,
              interval_ms: int, clock_s: Callable[[], float], with_temperature: bool = True) -> SoilNode:
    """A probe string at `depths_cm`: a capacitive moisture probe at each depth, and a DS18B20
    beside it unless `with_temperature` is False (a string without temperature sensors)."""
    probes = []
    for depth in depths_cm:
        moisture = CapacitiveMoisture(ProbeADC(farm, zone, depth, DRY_RAW, WET_RAW), DRY_RAW, WET_RAW)
        temperature = DS18B20(DS18B20Bus(lambda d=depth: farm.soil_temp_c(d, clock_s()))) if with_temperature \
            else None
        probes.append((depth, moisture, temperature))
    return SoilNode(node_id, _seqstore(state_dir, node_id), probes, fw=FW, interval_ms=interval_ms,
                    battery=lambda: 3.7, rssi=lambda: -70)


def weather_node(farm: VirtualFarm, node_id: str, state_dir: Path, interval_ms: int,
                 clock_s: Callable[[], float], canopy: ReflectancePair | None = None) -> WeatherNode:
    """A weather station; with `canopy`, its reflectance pair reports red, NIR and NDVI (hil/reflectance.py)."""
    return WeatherNode(node_id, _seqstore(state_dir, node_id), air=AirSensor(farm, clock_s), fw=FW,
                       interval_ms=interval_ms, wind=Wind(farm, clock_s), solar=Solar(farm, clock_s),
                       canopy=canopy, battery=lambda: 3.9, rssi=lambda: -75)


def irrigation_node(farm: VirtualFarm, node_id: str, zones: list[str], state_dir: Path, interval_ms: int,
                    rate_mm_h: float = 12.0, injector: Injector | None = None) -> tuple[IrrigationNode, FlowMeter]:
    """A controller with one valve per zone (valve n waters zones[n-1]); with `injector`, it fertigates."""
    valves = []
    for channel, zone in enumerate(zones, start=1):
        farm.connect_valve(node_id, channel, zone, rate_mm_h)
        valves.append(Valve(farm, node_id, channel))
    meter = FlowMeter(farm, node_id)
    # The command journal lives next to the seq file, so a restarted emulated
    # controller ends an interrupted run "aborted" and never re-runs a retry.
    core = IrrigationNode(node_id, _seqstore(state_dir, node_id), valves, fw=FW, interval_ms=interval_ms,
                          flow_meter=meter, journal=Journal(str(state_dir / f"{node_id}.journal")),
                          boot_reason="emulator restart", injector=injector)
    return core, meter


def camera_node(cover: Callable[[], float], node_id: str, state_dir: Path, interval_ms: int, seed: int = 0,
                framesize: str = "vga", chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> tuple[CameraNode, CanopyCamera]:
    """A camera over a canopy whose cover (0..1) is `cover()`: the real camera node core and driver on an emulated
    sensor, its photos in a flash image store in `state_dir`. Returns (core, sensor); `sensor.truths` holds each
    photo's true cover."""
    sensor = CanopyCamera(cover, seed)
    seq = _seqstore(state_dir, f"{node_id}.img")  # makes state_dir
    core = CameraNode(node_id, Camera(sensor, framesize), ImageStore(str(state_dir / f"{node_id}.images")), seq,
                      kind="canopy", fw=FW, interval_ms=interval_ms, chunk_bytes=chunk_bytes)
    return core, sensor


TRAP_LOOK = Look(glare=1, dust=12, blur_px=0.5, jpeg_quality=85)
"""How a trap camera's photo of its liner is spoiled (the pest-season scenario's): a glare patch from the glue,
dust, a little blur, JPEG."""


def trap_camera_node(trap: PheromoneTrap, node_id: str, state_dir: Path, interval_ms: int, seed: int = 0,
                     framesize: str = "vga", chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> tuple[CameraNode, TrapCamera]:
    """A camera over `trap`'s liner: the real camera node core (kind "trap") and driver on an emulated sensor that
    renders the liner as it is at each photo; the technician's liner change follows each photo. Returns (core,
    sensor); `sensor.truths` holds the number of the lure's moths on the liner at each photo."""
    sensor = TrapCamera(lambda: trap.card, seed, TRAP_LOOK, after=trap.photographed)
    seq = _seqstore(state_dir, f"{node_id}.img")
    core = CameraNode(node_id, Camera(sensor, framesize), ImageStore(str(state_dir / f"{node_id}.images")), seq,
                      kind="trap", fw=FW, interval_ms=interval_ms, chunk_bytes=chunk_bytes)
    return core, sensor


def pest_node(node_id: str, state_dir: Path, interval_ms: int, traps: int = 2) -> PestNode:
    return PestNode(node_id, _seqstore(state_dir, node_id), traps=traps, fw=FW, interval_ms=interval_ms,
                    battery=lambda: 3.8, rssi=lambda: -80)


ROLES = ("soil", "weather", "irrigation", "pest")


def bench_node(role: str, node_id: str, state_dir: Path, interval_ms: int, clock_s: Callable[[], float],
               catch_every_s: float = 7.0) -> tuple[object, Callable[[int], None]]:
    """One node of `role` on its own small virtual farm, for bench testing and
    training: (core, on_tick). `on_tick(now_ms)` advances the farm, the flow
    meter, and (pest) an insect reaching trap 1 every `catch_every_s`."""
    farm = VirtualFarm([VirtualZone("bench")], seed=3)
    farm.advance(clock_s())
    meter: FlowMeter | None = None
    if role == "soil":
        core: object = soil_node(farm, node_id, "bench", [10, 30, 60], state_dir, interval_ms, clock_s)
    elif role == "weather":
        core = weather_node(farm, node_id, state_dir, interval_ms, clock_s)
    elif role == "irrigation":
        core, meter = irrigation_node(farm, node_id, ["bench"], state_dir, interval_ms)
    elif role == "pest":
        core = pest_node(node_id, state_dir, interval_ms)
    else:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    next_catch = [clock_s() + catch_every_s]

    def on_tick(now_ms: int) -> None:
        farm.advance(now_ms / 1000)
        if meter is not None:
            meter.advance(now_ms / 1000)
        if isinstance(core, PestNode) and now_ms / 1000 >= next_catch[0]:
            core.on_catch(1, now_ms)
            next_catch[0] += catch_every_s

    return core, on_tick
