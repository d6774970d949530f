"""Fault injection for HIL scenarios: on the emulated hardware, the nodes,
the RS-485 bus, the links and the gateway process.

Every fault is a small object a scenario switches on and off; what decides
*when* is a `FaultPlan`, a pure, seeded schedule, so a run repeats for its
seed. The faults, by where they act:

- sensors: `FaultyADC` (probe disconnected: the input floats to the rail;
  stuck at its last value; noisy), `disconnect_one_wire` (DS18B20 absent);
- valves and flow: `FaultyValve` (stuck open or closed; it also logs the
  valve's drive, the intervals the controller held it open, which is what
  `valve_overruns` and `commands_executed_late` are measured from) and
  `LeakyFlowMeter` (flow with every valve closed, or excess flow);
- nodes: `NodeSlot` (a core behind a power switch: `reboot` and `brownout`
  restart it from its flash, the seq store, outbox and command journal, the
  RAM lost), `FullFlash` (the flash refuses writes), `drifting_clock`;
- the RS-485 bus: `BusFaults` (per unit: dead, CRC errors, timeouts), for
  `hil.modbus_bus.ModbusBus.faults`;
- links and processes (hil/fault_links.py, re-exported here): `LinkCut` (a
  TCP hop that can go down: the WAN between gateway and cloud, a node's radio
  link), `GatewayProcess` (`furrow gateway --config FILE` as a real process,
  SIGKILLed and restarted); a broker restart is `hil.mosquitto`'s `restart()`.
"""

from __future__ import annotations

import errno
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from furrow.firmware.outbox import Outbox
from furrow.hil.fault_links import GatewayProcess, LinkCut, gateway_toml
from furrow.hil.hardware import ADC_FULL, FlowMeter
from furrow.hil.virtual_farm import VirtualFarm

KINDS = (
    "sensor_disconnected", "sensor_stuck", "sensor_noisy", "node_reboot", "node_brownout", "flash_full",
    "bus_crc", "bus_timeout", "bus_dead", "broker_restart", "gateway_kill", "wan_outage", "node_link_down",
    "clock_drift", "valve_stuck_open", "valve_stuck_closed", "leak",
)


# -- the schedule -----------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    """One fault on `target` from `start_s` for `duration_s` (run seconds); 0 is instantaneous."""

    kind: str
    target: str
    start_s: float
    duration_s: float = 0.0
    params: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind={self.kind!r}: must be one of {', '.join(KINDS)}")
        if not self.start_s >= 0:
            raise ValueError(f"start_s={self.start_s!r}: must be a time >= 0")
        if not self.duration_s >= 0:
            raise ValueError(f"duration_s={self.duration_s!r}: must be >= 0")

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s

    def active(self, t_s: float) -> bool:
        return self.start_s <= t_s < self.end_s


class FaultPlan:
    """The faults of a run, in start order."""

    def __init__(self, faults: list[Fault]) -> None:
        self.faults = sorted(faults, key=lambda f: (f.start_s, f.kind, f.target))

    def active(self, kind: str, target: str, t_s: float) -> Fault | None:
        return next((f for f in self.faults if f.kind == kind and f.target == target and f.active(t_s)), None)

    def starting(self, after_s: float, until_s: float) -> list[Fault]:
        """Faults that start in [after_s, until_s): what to inject on this step."""
        return [f for f in self.faults if after_s <= f.start_s < until_s]

    def of_kind(self, kind: str) -> list[Fault]:
        return [f for f in self.faults if f.kind == kind]


def kill_times(seed: int, count: int, first_s: float, min_gap_s: float, max_gap_s: float) -> list[float]:
    """`count` moments, the first at `first_s` plus a random gap, each next one a
    random gap of [min_gap_s, max_gap_s) later: repeatable for `seed`."""
    if count < 0 or not 0 < min_gap_s <= max_gap_s:
        raise ValueError(f"count={count}, gaps [{min_gap_s}, {max_gap_s}): need count >= 0 and 0 < min <= max")
    rng = random.Random(seed)
    out, t = [], first_s
    for _ in range(count):
        t += rng.uniform(min_gap_s, max_gap_s)
        out.append(round(t, 3))
    return out


# -- sensors ------------------------------------------------------------------------

SENSOR_MODES = ("ok", "disconnected", "stuck", "noisy")


class FaultyADC:
    """An ADC input (`read_u16`) with a fault between the probe and the pin."""

    def __init__(self, adc: Any, seed: int = 1) -> None:
        self.adc = adc
        self.mode = "ok"
        self.noise_counts = 3000.0
        self._rng = random.Random(seed)
        self._last = ADC_FULL // 2
        self._stuck = self._last

    def set(self, mode: str, noise_counts: float | None = None) -> None:
        if mode not in SENSOR_MODES:
            raise ValueError(f"mode={mode!r}: must be one of {', '.join(SENSOR_MODES)}")
        if mode == "stuck":
            self._stuck = self._last
        if noise_counts is not None:
            self.noise_counts = noise_counts
        self.mode = mode

    def read_u16(self) -> int:
        if self.mode == "disconnected":
            return ADC_FULL  # an open input floats to the rail through the pull-up
        if self.mode == "stuck":
            return self._stuck
        raw = self.adc.read_u16()
        self._last = raw
        if self.mode == "noisy":
            raw = int(round(raw + self._rng.gauss(0.0, self.noise_counts)))
        return max(0, min(ADC_FULL, raw))


def fault_soil_probes(core: Any, seed: int = 1) -> dict[int, FaultyADC]:
    """Put a `FaultyADC` between every moisture probe of a SoilNode core and its
    driver; returns them by depth (cm)."""
    out = {}
    for i, (depth, moisture, _temperature) in enumerate(core.probes):
        moisture.adc = FaultyADC(moisture.adc, seed + i)
        out[depth] = moisture.adc
    return out


def disconnect_one_wire(core: Any, depth_cm: int, present: bool = False) -> None:
    """Unplug (or plug back) the DS18B20 at `depth_cm` of a SoilNode core."""
    for depth, _moisture, temperature in core.probes:
        if depth == depth_cm and temperature is not None:
            temperature.bus.present = present
            return
    raise KeyError(f"no temperature probe at {depth_cm} cm")


# -- valves and flow ---------------------------------------------------------------

VALVE_MODES = ("ok", "stuck_open", "stuck_closed")


class FaultyValve:
    """A relay-driven valve on the virtual farm that may stick.

    `drive` is what the controller asks (the solenoid's coil), the farm sees
    what the valve does: stuck open it passes water whatever the drive,
    stuck closed it passes none. `intervals` logs the drive's open periods
    (open_ms, close_ms or None) on `clock`, the controller's own time (set it
    to ``lambda: core.now_ms`` once the core exists).
    """

    def __init__(self, farm: VirtualFarm, node: str, channel: int) -> None:
        self.farm, self.node, self.channel = farm, node, channel
        self.mode = "ok"
        self.is_open = False  # the drive
        self.clock: Callable[[], int] | None = None
        self.intervals: list[list[int | None]] = []

    def set_mode(self, mode: str) -> None:
        if mode not in VALVE_MODES:
            raise ValueError(f"mode={mode!r}: must be one of {', '.join(VALVE_MODES)}")
        self.mode = mode
        self._apply()

    def set(self, is_open: bool) -> None:
        is_open = bool(is_open)
        if self.clock is not None and is_open != self.is_open:
            if is_open:
                self.intervals.append([self.clock(), None])
            elif self.intervals and self.intervals[-1][1] is None:
                self.intervals[-1][1] = self.clock()
        self.is_open = is_open
        self._apply()

    def _apply(self) -> None:
        passes = {"ok": self.is_open, "stuck_open": True, "stuck_closed": False}[self.mode]
        self.farm.set_valve(self.node, self.channel, passes)


class LeakyFlowMeter(FlowMeter):
    """The node's pulse flow meter, seeing its valves' flow plus `leak_l_min`
    (a burst pipe or a valve seat that does not seal)."""

    def __init__(self, farm: VirtualFarm, node: str) -> None:
        super().__init__(farm, node)
        self.leak_l_min = 0.0

    def _flow(self) -> float:
        return self.farm.valve_flow_l_min(self.node) + self.leak_l_min

    def advance(self, t_s: float) -> None:
        if self._t_s is not None and t_s > self._t_s:
            self._total_l += self._flow() * (t_s - self._t_s) / 60.0
        self._t_s = t_s

    def rate_l_min(self) -> float:
        return round(self._flow(), 2)


# -- nodes ---------------------------------------------------------------------------


class NodeSlot:
    """A node core behind a power switch. Everything not named here goes to
    the running core, so a runner or a bus holds the slot as its core.

    `make_core(boot_reason)` builds the core from the node's flash (its seq
    store, journal, ...), as a board does at boot. Every uplink and ack the
    core makes is passed to `on_uplink` / `on_ack` (the scenario's ledger)."""

    def __init__(self, make_core: Callable[[str], Any], on_uplink: Callable[[dict], None] | None = None,
                 on_ack: Callable[[dict], None] | None = None) -> None:
        self._make = make_core
        self._on_uplink = on_uplink or (lambda _up: None)
        self._on_ack = on_ack or (lambda _ack: None)
        self.inner = make_core("power on")
        self.boots = 1

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.__dict__["inner"], name)
        if name != "on_command":
            return attr

        # only a core that takes commands has on_command (runners check for it)
        def on_command(data: bytes, now_ms: int) -> list[dict]:
            acks = attr(data, now_ms)
            for ack in acks:
                self._on_ack(ack)
            return acks

        return on_command

    def tick(self, now_ms: int) -> Any:
        out = self.inner.tick(now_ms)
        ups = out[1] if isinstance(out, tuple) else out
        if isinstance(out, tuple):
            for ack in out[0]:
                self._on_ack(ack)
        for up in ups:
            self._on_uplink(up)
        return out

    def reboot(self, reason: str = "watchdog reset") -> None:
        """A reset: RAM is lost, the core boots again from its flash."""
        self.inner = self._make(reason)
        self.boots += 1

    def brownout(self) -> None:
        """The supply sags: relays drop out (every valve closes) and the MCU resets."""
        for valve in getattr(self.inner, "valves", []):
            valve.set(False)
        self.reboot("brownout")


def reboot_mqtt_node(runner: Any, slot: NodeSlot, brownout: bool = False) -> None:
    """Reset an MQTT node run by hil.mqtt_node.MqttNodeRunner: the core boots
    from flash and the outbox is read back from its file (RAM index lost)."""
    if brownout:
        slot.brownout()
    else:
        slot.reboot()
    old = runner.outbox
    runner.outbox = Outbox(old.path, slots=old.slots, slot_size=old.slot_size, sync_every=old.sync_every)


class FullFlash:
    """A journal (firmware/journal.py) on a flash that may be full: while
    `full`, every save fails with ENOSPC, as littlefs does."""

    def __init__(self, journal: Any) -> None:
        self.journal = journal
        self.full = False
        self.refused = 0

    def load(self) -> dict:
        return self.journal.load()

    def save(self, state: dict) -> None:
        if self.full:
            self.refused += 1
            raise OSError(errno.ENOSPC, "no space left on the flash")
        self.journal.save(state)


def drifting_clock(base_ms: Callable[[], int], ppm: float, offset_ms: int = 0) -> Callable[[], int]:
    """A node clock that runs `ppm` parts per million fast (negative: slow)
    from `offset_ms` off `base_ms` at the moment it is made."""
    t0 = base_ms()

    def now_ms() -> int:
        t = base_ms()
        return int(t + offset_ms + (t - t0) * ppm / 1e6)

    return now_ms


# -- the RS-485 bus ----------------------------------------------------------------


class BusFaults:
    """Line faults for hil.modbus_bus.ModbusBus (set ``bus.faults``): per unit,
    a dead device that hears nothing, and replies garbled (CRC error) or lost
    (timeout) with a probability, drawn from a seeded generator."""

    def __init__(self, seed: int = 1) -> None:
        self._rng = random.Random(seed)
        self.dead: set[int] = set()
        self.crc_p: dict[int, float] = {}
        self.timeout_p: dict[int, float] = {}
        self.counts = {"crc_errors": 0, "timeouts": 0, "unheard": 0}

    def hears(self, unit: int) -> bool:
        if unit in self.dead:
            self.counts["unheard"] += 1
            return False
        return True

    def on_reply(self, unit: int, reply: bytes) -> bytes | None:
        if self._rng.random() < self.timeout_p.get(unit, 0.0):
            self.counts["timeouts"] += 1
            return None
        if self._rng.random() < self.crc_p.get(unit, 0.0):
            self.counts["crc_errors"] += 1
            return reply[:-1] + bytes([reply[-1] ^ 0x5A])  # a flipped bit pattern in the CRC's high byte
        return reply


__all__ = [
    "KINDS", "BusFaults", "Fault", "FaultPlan", "FaultyADC", "FaultyValve", "FullFlash", "GatewayProcess",
    "LeakyFlowMeter", "LinkCut", "NodeSlot", "disconnect_one_wire", "drifting_clock", "fault_soil_probes",
    "gateway_toml", "kill_times", "reboot_mqtt_node",
]
