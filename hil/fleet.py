"""The nodes of a scenario: which there are, and the firmware cores that run them.

A `NodeSpec` says what a node is (role, zone, probe depths, valves, report
interval, wire encoding). A fleet turns the specs into running firmware cores
on the virtual farm and steps them: `step(now_ms, due, commands, pulses)`
hands each core what happened (commands from the gateway, rain-gauge tips,
insects in a trap), ticks it, and returns what it produced. Two fleets share
this interface:

- `CPythonFleet`: the cores run in this process on the emulated hardware of
  hil/hardware.py (the firmware's own drivers read emulated ADCs, valves set
  the farm's valves, a pulse flow meter integrates the farm's flow);
- `hil.micropython_fleet.MicroPythonFleet`: the same cores run in the real
  MicroPython runtime; this process computes the sensor inputs from the
  same emulated hardware and applies the valve outputs to the farm.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from furrow.edge import payload
from furrow.firmware.injector import Injector
from furrow.hil import nodes
from furrow.hil.clock import SimClock
from furrow.hil.farm import Farm
from furrow.hil.hardware import CanopyCamera, FlowMeter
from furrow.hil.injector import DosingPump, LineEC
from furrow.hil.reflectance import canopy_reflectance_pair
from furrow.hil.trap_camera import PheromoneTrap

ROLES = ("soil", "weather", "irrigation", "pest", "camera")
EC_BAND_DS_M = (0.5, 3.0)
"""A fertigating controller's line EC band: the water's 0.4 dS/m is below it (a pump that moves nothing stops)."""


@dataclass(frozen=True)
class NodeSpec:
    node_id: str
    role: str
    interval_s: int
    zone: str = ""
    depths_cm: tuple[int, ...] = ()
    valve_zones: tuple[str, ...] = ()
    """Irrigation: the zone each valve waters, valve 1 first."""
    rate_mm_h: float = 12.0
    traps: int = 1
    encoding: str = "json"
    link: str = "mqtt"
    """Irrigation on the MicroPython fleet: "modbus" serves its RTU slave and command mailbox (`unit`)."""
    unit: int = 1
    canopy_zone: str = ""
    """Weather: the zone its reflectance pair looks down on, for NDVI (hil/reflectance.py); none without."""
    offset_s: int = 0
    """Seconds after its first tick that its report grid starts (a camera photographs at noon)."""
    injector_l_h: float = 0.0
    """Irrigation: the rate of its fertigation dosing pump (hil/injector.py), 0 without one."""
    lure: str = ""
    """Camera: the species a pheromone trap's lure draws (hil/trap_camera.py); the camera photographs that
    trap's liner, which the farm's pest population flies onto, instead of a canopy. None without."""

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}, not {self.role!r} (node {self.node_id})")
        if self.encoding not in ("json", "binary"):
            raise ValueError(f"encoding must be 'json' or 'binary', not {self.encoding!r} (node {self.node_id})")
        if self.lure and self.role != "camera":
            raise ValueError(f"only a camera watches a lured trap's liner, not {self.role} {self.node_id}")
        if self.injector_l_h and self.role != "irrigation":
            raise ValueError(f"only an irrigation controller has an injector, not {self.role} {self.node_id}")
        if self.link not in ("mqtt", "modbus") or (self.link == "modbus" and self.role != "irrigation"):
            raise ValueError(f"link must be 'mqtt', or 'modbus' for an irrigation node, not {self.link!r} "
                             f"(node {self.node_id}, {self.role})")


@dataclass
class Output:
    """What one step produced: uplinks as wire bytes (with the dict), acks as dicts."""

    uplinks: list[tuple[dict[str, Any], bytes]] = field(default_factory=list)
    acks: list[dict[str, Any]] = field(default_factory=list)
    cameras: list[str] = field(default_factory=list)
    """Camera nodes ticked: their photos wait in flash for the link (hil/camera_link.py)."""


def encode(spec: NodeSpec, up: dict[str, Any]) -> bytes:
    return payload.encode_binary(up) if spec.encoding == "binary" else payload.encode_json(up)


class Fleet(Protocol):
    specs: dict[str, NodeSpec]

    def step(self, now_ms: int, due: list[str], commands: list[tuple[str, bytes]],
             pulses: dict[str, list[tuple[int, int]]]) -> Output: ...

    def close(self) -> None: ...


class CPythonFleet:
    """The firmware cores in this process, on the emulated hardware."""

    def __init__(self, specs: list[NodeSpec], farm: Farm, clock: SimClock, state_dir: Path) -> None:
        for s in specs:
            if s.role == "camera" and s.zone not in farm.zones:
                raise ValueError(f"camera {s.node_id}: zone {s.zone!r} is not one of the farm's")
            if s.link != "mqtt":
                raise ValueError(f"node {s.node_id}: link {s.link!r} runs on the MicroPython fleet only")
        self.pumps: dict[str, DosingPump] = {}
        """Each injector's dosing pump: its `delivered_ml` is what truly went into the line."""
        self.specs = {s.node_id: s for s in specs}
        self.farm = farm
        self.cores: dict[str, Any] = {}
        self.meters: dict[str, FlowMeter] = {}
        self.cameras: dict[str, CanopyCamera] = {}
        """Each camera node's sensor; its `truths` hold each photo's true cover (a trap camera's: the lure's moths)."""
        self.lured_traps: dict[str, PheromoneTrap] = {}
        """Each trap camera's trap: the engine sticks the population's catches on its liner."""
        for s in specs:
            ms = s.interval_s * 1000
            if s.role == "soil":
                self.cores[s.node_id] = nodes.soil_node(farm, s.node_id, s.zone, list(s.depths_cm), state_dir, ms,
                                                        clock.s, with_temperature=False)  # type: ignore[arg-type]
            elif s.role == "weather":
                canopy = canopy_reflectance_pair(farm, s.canopy_zone, clock.s) if s.canopy_zone else None
                self.cores[s.node_id] = nodes.weather_node(farm, s.node_id, state_dir, ms, clock.s,  # type: ignore[arg-type]
                                                           canopy=canopy)
            elif s.role == "irrigation":
                injector = None
                if s.injector_l_h:
                    pump = self.pumps[s.node_id] = DosingPump(s.injector_l_h)
                    injector = Injector(pump, s.injector_l_h, LineEC(farm, s.node_id, pump), EC_BAND_DS_M)  # type: ignore[arg-type]
                core, meter = nodes.irrigation_node(farm, s.node_id, list(s.valve_zones), state_dir, ms,  # type: ignore[arg-type]
                                                    rate_mm_h=s.rate_mm_h, injector=injector)
                self.cores[s.node_id], self.meters[s.node_id] = core, meter
            elif s.role == "camera" and s.lure:
                trap = PheromoneTrap(s.lure, rng=random.Random(len(self.lured_traps) * 1000 + 11))
                self.lured_traps[s.node_id] = trap
                self.cores[s.node_id], self.cameras[s.node_id] = nodes.trap_camera_node(
                    trap, s.node_id, state_dir, ms, seed=len(self.cameras) * 1000)
            elif s.role == "camera":
                # photographs its zone's canopy, whose green cover the farm's crop knows
                self.cores[s.node_id], self.cameras[s.node_id] = nodes.camera_node(
                    lambda zone=farm.zones[s.zone]: zone.crop.canopy_fraction, s.node_id, state_dir, ms,
                    seed=len(self.cameras) * 1000)
            else:
                self.cores[s.node_id] = nodes.pest_node(s.node_id, state_dir, ms, traps=s.traps)

    def step(self, now_ms: int, due: list[str], commands: list[tuple[str, bytes]],
             pulses: dict[str, list[tuple[int, int]]]) -> Output:
        out = Output()
        for part in [*self.meters.values(), *self.pumps.values()]:
            part.advance(now_ms / 1000)
        for node_id, data in commands:
            out.acks += self.cores[node_id].on_command(data, now_ms)
        for node_id, events in pulses.items():
            core = self.cores[node_id]
            for channel, count in events:
                for i in range(count):
                    # each tip or catch a little apart, all inside the step that just ended
                    at = now_ms - (count - i) * 100
                    core.on_pulse(at) if channel == 0 else core.on_catch(channel, at)
        for node_id in due:
            core, spec = self.cores[node_id], self.specs[node_id]
            if spec.role == "irrigation":
                core.on_heartbeat(now_ms)  # the gateway's broker is up and heard
                acks, ups = core.tick(now_ms)
                out.acks += acks
            elif spec.role == "camera":
                core.tick(now_ms)  # a photo into its flash when due; its chunks go by deliver_photos
                out.cameras.append(node_id)
                continue
            else:
                ups = core.tick(now_ms)
            out.uplinks += [(up, encode(spec, up)) for up in ups]
        return out

    def close(self) -> None:
        return None
