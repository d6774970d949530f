"""An RS-485 irrigation controller in the HIL's MicroPython fleet, driven by Modbus RTU frames on the
simulated clock: its command mailbox takes commands and cancels, and the farm's own valve record
shows what opened."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from pymodbus.framer import FramerRTU
from pymodbus.pdu import DecodePDU, ModbusPDU
from pymodbus.pdu.register_message import ReadInputRegistersRequest, WriteMultipleRegistersRequest

from furrow.edge import commands, modbus_map
from furrow.edge.cancel import make_cancel
from furrow.hil.clock import SimClock
from furrow.hil.farm import Crop, Farm, FarmZone, SoilColumn, generate
from furrow.hil.fleet import CPythonFleet, NodeSpec
from furrow.hil.micropython_fleet import MicroPythonFleet

pytestmark = pytest.mark.micropython

START = datetime(2026, 5, 1, tzinfo=UTC)
EVENING_S = START.timestamp() + 18 * 3600
NIGHT_MS = int(START.timestamp() + 26 * 3600) * 1000  # 02:00 the next morning
UNIT = 3


class Master:
    """Requests built and replies parsed by pymodbus's RTU framer, sent through the fleet."""

    def __init__(self, fleet: MicroPythonFleet, clock: SimClock) -> None:
        self.fleet, self.clock = fleet, clock
        self.framer = FramerRTU(DecodePDU(False))

    def _ask(self, request: ModbusPDU) -> ModbusPDU:
        [reply] = self.fleet.rtu(self.clock.ms(), [("irr-485", self.framer.buildFrame(request))])
        assert reply is not None, "no answer"
        used, pdu = self.framer.processIncomingFrame(reply)
        assert used == len(reply) and pdu is not None
        return pdu

    def write(self, cmd: dict) -> ModbusPDU:
        return self._ask(WriteMultipleRegistersRequest(dev_id=UNIT, address=modbus_map.CMD_BASE,
                                                       registers=modbus_map.encode_command_regs(cmd)))

    def ack(self) -> tuple[int, dict | None]:
        pdu = self._ask(ReadInputRegistersRequest(dev_id=UNIT, address=modbus_map.ACK_BASE,
                                                  count=modbus_map.ACK_COUNT))
        return modbus_map.decode_ack_regs(list(pdu.registers))


def _farm() -> Farm:
    return Farm([FarmZone("z1", SoilColumn.uniform(0.3, 0.14, 60, start_fraction=0.3), Crop())],
                generate(START.date(), 3, 1), START)


def test_an_rs485_controller_in_micropython_drops_a_cancelled_night_run_and_closes_a_cancelled_open_one(
        tmp_path: Path) -> None:
    """Through its mailbox, a night run held by the MicroPython controller and then cancelled never opens the
    farm's valve; a run cancelled while open closes it; "cancelled" is served in the ack block each time."""
    farm, clock = _farm(), SimClock(START)
    spec = NodeSpec("irr-485", "irrigation", 3600, valve_zones=("z1",), link="modbus", unit=UNIT)
    fleet = MicroPythonFleet([spec], farm, clock, tmp_path / "nodes")
    master = Master(fleet, clock)

    def to(t_s: float) -> None:
        clock.advance_to(t_s)
        farm.advance(t_s)
        fleet.step(clock.ms(), ["irr-485"], [], {})

    try:
        to(EVENING_S)
        held = commands.make_command("c-night", "irr-485", 1, "open", 1800, 2400, NIGHT_MS, NIGHT_MS + 3600_000)
        assert not master.write(held).isError()
        assert master.ack()[1]["state"] == "received"
        assert not master.write(make_cancel(held, clock.ms())).isError()
        assert master.ack()[1] == {"id": "c-night", "state": "cancelled", "runtime_s": None, "volume_l": None}

        to(EVENING_S + 60)
        now_cmd = commands.make_command("c-now", "irr-485", 1, "open", 1800, 2400, clock.ms(), clock.ms() + 600_000)
        master.write(now_cmd)
        assert master.ack()[1]["state"] == "started"
        for k in range(1, 3):  # ten minutes open, the gateway polling every five
            to(EVENING_S + 60 + 300 * k)
            master.ack()
        master.write(make_cancel(now_cmd, clock.ms()))
        _, ack = master.ack()
        assert (ack["id"], ack["state"], ack["runtime_s"]) == ("c-now", "cancelled", 600)

        t = clock.s()
        while t < NIGHT_MS / 1000 + 2 * 3600:  # the night, past the held run's not-before and expiry
            t += 300
            to(t)
            master.ack()
    finally:
        fleet.close()
    [run] = farm.runs  # the valve's own record: one opening, the run cancelled after ten minutes
    assert (run.node, run.channel, run.end_s - run.start_s) == ("irr-485", 1, 600)
    assert not fleet._valves["irr-485"][0].is_open


def test_rs485_nodes_run_on_the_micropython_fleet_only(tmp_path: Path) -> None:
    """The CPython fleet refuses an RS-485 node instead of running it as an MQTT one; a soil node cannot be one."""
    with pytest.raises(ValueError, match="MicroPython fleet only"):
        CPythonFleet([NodeSpec("irr-485", "irrigation", 3600, valve_zones=("z1",), link="modbus")], _farm(),
                     SimClock(START), tmp_path)
    with pytest.raises(ValueError, match="link"):
        NodeSpec("soil-1", "soil", 3600, link="modbus")
