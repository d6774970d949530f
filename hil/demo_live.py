"""The demo's live part: the farm's firmware cores on a real MQTT broker and RS-485 bus.

After the backfill the same cores, on the same virtual farm, carry on in real time (or `speed`
times faster): MQTT nodes through `MqttNodeRunner` (their outboxes are flash files beside their
seq files), cameras through `MqttCameraRunner` (their photos in flash until the gateway has them),
the RS-485 node through the emulated bus the gateway polls. `FarmDriver` is every
runner's `on_tick`: it moves the farm to the demo clock and hands the farm's events to the
nodes (flow to the meters, rain to the gauge as bucket tips, insects to the traps and to the trap
camera's liner), as the HIL engine does between scenario steps.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from furrow.edge import modbus_map
from furrow.firmware.weather_node import RAIN_MM_PER_TIP
from furrow.hil.clock import SimClock
from furrow.hil.farm import Farm
from furrow.hil.fleet import CPythonFleet
from furrow.hil.modbus_bus import ModbusBus
from furrow.hil.mqtt_camera import MqttCameraRunner
from furrow.hil.mqtt_node import MqttNodeRunner


class DemoClock:
    """Farm time in Unix ms: the wall clock until `go_live`; then, at a `speed` other than 1,
    `speed` times as fast from the farm time it was given (at 1 it stays the wall clock)."""

    def __init__(self, speed: float = 1.0, wall_s: Callable[[], float] = time.time) -> None:
        if not speed > 0:
            raise ValueError(f"speed must be positive, not {speed!r}")
        self.speed = speed
        self._wall_s = wall_s
        self._origin = (wall_s(), wall_s())  # (farm s, wall s)
        self._rate = 1.0

    def go_live(self, farm_s: float) -> None:
        """Farm time runs on from `farm_s` (where the simulated weeks stopped) at the demo's speed,
        so the minutes the simulation took are no gap in the farm's record."""
        if self.speed != 1:
            self._origin, self._rate = (farm_s, self._wall_s()), self.speed

    def s(self) -> float:
        farm0, wall0 = self._origin
        return farm0 + (self._wall_s() - wall0) * self._rate

    def ms(self) -> int:
        return int(self.s() * 1000)


class FarmDriver:
    """Moves the farm (and the cores' simulated clock) to each tick's time; gives the nodes the
    farm's events. Every runner calls it before ticking its core; a second call at the same
    time does nothing."""

    def __init__(self, farm: Farm, sim: SimClock, fleet: CPythonFleet) -> None:
        self.farm, self.sim, self.fleet = farm, sim, fleet
        self._rain_carry = 0.0
        self._t_s = sim.s()

    def __call__(self, now_ms: int) -> None:
        t = now_ms / 1000
        if t <= self._t_s:
            return
        hours = (t - self._t_s) / 3600
        self._t_s = t
        self.sim.advance_to(t)
        self.farm.advance(t)
        for meter in self.fleet.meters.values():
            meter.advance(t)
        self._rain_carry += self.farm.take_rain_mm()
        tips = int(self._rain_carry / RAIN_MM_PER_TIP + 1e-9)
        self._rain_carry -= tips * RAIN_MM_PER_TIP
        temp = self.farm.weather(t).air_temp_c
        for node_id, spec in self.fleet.specs.items():
            core = self.fleet.cores[node_id]
            if spec.role == "weather":
                for _ in range(tips):
                    core.on_pulse(now_ms)
            elif spec.role == "pest":
                for channel in range(1, spec.traps + 1):
                    for _ in range(self.farm.pests.catches(temp, hours)):
                        core.on_catch(channel, now_ms)
        for trap in self.fleet.lured_traps.values():  # a trap camera's liner
            trap.catch(self.farm.pests.catches(temp, hours), hours)


class LiveFarm:
    """The fleet's cores on the broker and the bus, every one reporting each `interval_s` of farm time."""

    def __init__(self, fleet: CPythonFleet, driver: FarmDriver, clock: DemoClock, *, site: str, host: str,
                 mqtt_port: int, modbus_port: int, modbus_units: dict[str, int], state_dir: Path,
                 interval_s: int) -> None:
        self.fleet = fleet
        for node_id, core in fleet.cores.items():
            if fleet.specs[node_id].role != "camera":  # a camera keeps its photo a day
                # as a technician sets it over the bus or in config.json (holding register 1)
                core.on_holding_write(modbus_map.HOLD_INTERVAL_S, [interval_s])
        self.runners: list[MqttNodeRunner] = []
        self.cameras: list[MqttCameraRunner] = []
        self.bus = ModbusBus(host, modbus_port, baud=19_200, clock_ms=clock.ms, on_tick=driver,
                             state_dir=state_dir)
        for node_id, spec in fleet.specs.items():
            core = fleet.cores[node_id]
            if node_id in modbus_units:
                self.bus.add(core, modbus_units[node_id])
            elif spec.role == "camera":
                self.cameras.append(MqttCameraRunner(core, site, host, mqtt_port, clock_ms=clock.ms, drain_s=10.0))
            else:
                self.runners.append(MqttNodeRunner(core, site, host, mqtt_port, encoding=spec.encoding,
                                                   clock_ms=clock.ms, on_tick=driver, state_dir=state_dir))

    @property
    def node_ids(self) -> list[str]:
        return ([r.node_id for r in self.runners] + [n.node_id for n in self.bus.nodes]
                + [c.node_id for c in self.cameras])

    async def start_bus(self) -> None:
        await self.bus.start()

    async def run(self, stop: asyncio.Event) -> None:
        """Every node until `stop`; the MQTT nodes flush their outboxes before they return."""
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self.bus.run(stop), name="rs485 bus")
            for runner in self.runners:
                tg.create_task(runner.run(stop), name=runner.node_id)
            for camera in self.cameras:
                tg.create_task(camera.run(stop), name=camera.node_id)

    async def close(self) -> None:
        await self.bus.close()

    def sent(self) -> tuple[int, int]:
        """(reports, readings) the live nodes handed on: published (MQTT) or put in registers (bus)."""
        reports = sum(r.reports_sent for r in self.runners) + sum(n.reports_made for n in self.bus.nodes)
        readings = sum(r.readings_sent for r in self.runners) + sum(n.readings_made for n in self.bus.nodes)
        return reports, readings
