"""An RS-485 irrigation controller in the HIL's MicroPython fleet, polled and commanded by the gateway's
real bus master over a simulated line: its mailbox takes commands and cancels, and the farm's own valve
record shows what opened."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from furrow.edge import commands
from furrow.edge.cancel import make_cancel
from furrow.edge.modbus_map import encode_command_regs
from furrow.gateway import DurableBuffer, ModbusDeviceConfig
from furrow.gateway.modbus import BusMaster, BusSchedule, Device
from furrow.gateway.quality import quality_flags
from furrow.hil.clock import SimClock
from furrow.hil.farm import Crop, Farm, FarmZone, SoilColumn, generate
from furrow.hil.fleet import CPythonFleet, NodeSpec
from furrow.hil.micropython_fleet import MicroPythonFleet
from furrow.hil.sim_line import SimulatedLine, run_inline

pytestmark = pytest.mark.micropython

START = datetime(2026, 5, 1, tzinfo=UTC)
EVENING_S = START.timestamp() + 18 * 3600
NIGHT_MS = int(START.timestamp() + 26 * 3600) * 1000  # 02:00 the next morning
UNIT = 3


def _farm() -> Farm:
    return Farm([FarmZone("z1", SoilColumn.uniform(0.3, 0.14, 60, start_fraction=0.3), Crop())],
                generate(START.date(), 3, 1), START)


async def test_the_gateway_master_cancels_a_night_run_held_by_an_rs485_controller_in_micropython(
        tmp_path: Path) -> None:
    """The gateway's bus master writes a night run and then its cancel into the MicroPython controller's
    mailbox and relays "cancelled": the farm's valve never opens that night. A run cancelled ten minutes
    after it opened closes, its runtime in the relayed ack matching the valve's own record. The controller's
    reports reach the gateway's buffer over the same line."""
    farm, clock = _farm(), SimClock(START)
    clock.advance_to(EVENING_S)
    farm.advance(EVENING_S)
    spec = NodeSpec("irr-485", "irrigation", 3600, valve_zones=("z1",), link="modbus", unit=UNIT)
    fleet = MicroPythonFleet([spec], farm, clock, tmp_path / "nodes")
    line = SimulatedLine(clock, fleet.answer)
    acks: list[dict[str, Any]] = []
    config = ModbusDeviceConfig(node_id="irr-485", host="sim", port=1, unit=UNIT, role="irrigation", commands=True,
                                poll_interval=timedelta(minutes=2), timeout=timedelta(seconds=0.5), retries=0)
    buf = DurableBuffer(tmp_path / "buffer.sqlite", clock=clock.ms)
    master = BusMaster(BusSchedule([Device.of(config)]), line, sink=buf.put_many, quarantine=buf.quarantine,
                       on_ack=lambda ack, _raw: acks.append(ack), quality=quality_flags, clock=clock.ms,
                       monotonic=clock.s, sleep=line.sleep, offload=run_inline)
    [device] = master.devices

    async def until(done: Any, what: str = "", within_s: float = 3600) -> None:
        """Run the master (the simulated clock moves with it) until `done()`, at most `within_s`."""
        limit = clock.s() + within_s
        while not done():
            assert clock.s() < limit, f"{what}: not within {within_s} s of simulated time"
            await master.step()
            farm.advance(clock.s())

    def acked(cmd_id: str, state: str) -> bool:
        return any((a["id"], a["state"]) == (cmd_id, state) for a in acks)

    async def write(cmd: dict[str, Any]) -> None:
        written = master.queue_write(device, encode_command_regs(cmd))
        await until(written.done, "the mailbox write")
        written.result()

    try:
        held = commands.make_command("c-night", "irr-485", 1, "open", 1800, 2400, NIGHT_MS, NIGHT_MS + 3600_000)
        await write(held)
        await until(lambda: acked("c-night", "received"), "received")
        await write(make_cancel(held, clock.ms()))
        await until(lambda: acked("c-night", "cancelled"), "the night run cancelled")

        now_cmd = commands.make_command("c-now", "irr-485", 1, "open", 1800, 2400, clock.ms(), clock.ms() + 600_000)
        await write(now_cmd)
        await until(lambda: acked("c-now", "started"), "the run started")
        opened_s = clock.s()
        await until(lambda: clock.s() >= opened_s + 600, "ten minutes")
        await write(make_cancel(now_cmd, clock.ms()))
        await until(lambda: acked("c-now", "cancelled"), "the open run cancelled")
        await until(lambda: clock.s() >= NIGHT_MS / 1000 + 2 * 3600, "the night", 12 * 3600)  # past its expiry
    finally:
        fleet.close()
        buf.close()
    assert [a["state"] for a in acks if a["id"] == "c-night"] == ["received", "cancelled"]
    [cancelled] = [a for a in acks if (a["id"], a["state"]) == ("c-now", "cancelled")]
    [run] = farm.runs  # the valve's own record: one opening, the run cancelled after ten minutes
    assert (run.node, run.channel) == ("irr-485", 1)
    assert 600 <= run.end_s - run.start_s < 601 + config.poll_interval.total_seconds()
    assert abs(cancelled["runtime_s"] - (run.end_s - run.start_s)) <= 1
    assert not fleet.valves["irr-485"][0].is_open
    assert device.health.reports >= 8  # hourly reports over the night, read from its registers


def test_rs485_nodes_run_on_the_micropython_fleet_only(tmp_path: Path) -> None:
    """The CPython fleet refuses an RS-485 node instead of running it as an MQTT one; a soil node cannot be one."""
    with pytest.raises(ValueError, match="MicroPython fleet only"):
        CPythonFleet([NodeSpec("irr-485", "irrigation", 3600, valve_zones=("z1",), link="modbus")], _farm(),
                     SimClock(START), tmp_path)
    with pytest.raises(ValueError, match="link"):
        NodeSpec("soil-1", "soil", 3600, link="modbus")
