"""The firmware cores, drivers and Modbus slave run in the real MicroPython runtime."""

from pathlib import Path

import pytest
from pymodbus.framer import FramerRTU
from pymodbus.pdu import DecodePDU

from furrow.edge import modbus_map, payload
from tests.mplib import board_lib

pytestmark = pytest.mark.micropython


@pytest.fixture(scope="module")
def firmware_lib(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """/lib as the build lays it out on a board, plus the datasheet fakes."""
    return board_lib(tmp_path_factory.mktemp("mp") / "lib", "firmware_fakes.py")


def _ok(result) -> list[str]:  # type: ignore[no-untyped-def]
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines and lines[-1] == "OK", result.stdout + result.stderr
    return lines


SOIL = r"""
import sys
assert sys.implementation.name == "micropython"
from furrow.edge import payload, modbus_map
from furrow.firmware.seqstore import SeqStore
from furrow.firmware.soil_node import SoilNode
from furrow.firmware.drivers.soil_moisture import CapacitiveMoisture
from furrow.firmware.drivers.ds18b20 import DS18B20
from firmware_fakes import FakeADC, FakeOneWire, FakeDS18B20

T0 = 1767225600000
bus = FakeOneWire(FakeDS18B20(18.5))
probes = [(10, CapacitiveMoisture(FakeADC(37000), 52000, 22000), DS18B20(bus)),
          (30, CapacitiveMoisture(FakeADC(0), 52000, 22000), None)]
node = SoilNode("soil-01", SeqStore("/seq", reserve=10), probes, interval_ms=60000)
assert node.tick(T0) == []
ups = node.tick(T0 + 750)
assert node.tick(T0 + 59300) == []  # starts the conversion for the next report
ups += node.tick(T0 + 60050)
assert len(ups) == 2 and [u["seq"] for u in ups] == [0, 1]
up = ups[-1]
r = dict(((x["name"], x["depth_cm"]), x) for x in up["readings"])
assert r[("vwc_pct", 10)]["value"] == 22.5, r
assert r[("soil_temp_c", 10)]["value"] == 18.5
assert r[("vwc_pct", 30)]["fault"] == "disconnected"
assert payload.decode(payload.encode_json(up)) == up
assert payload.decode(payload.encode_binary(up)) == up
back = modbus_map.decode_inputs("soil-01", list(node.registers()))
assert back["seq"] == 1 and len(back["readings"]) == len(up["readings"])
# a reboot: a new store on the same file never repeats a seq
assert SeqStore("/seq", reserve=10).next() == 10
print("BIN", payload.encode_binary(up).hex())
print("OK")
"""


def test_soil_node_reports_and_round_trips_on_micropython(micropython, firmware_lib: Path) -> None:  # type: ignore[no-untyped-def]
    """A soil node ticks, reports with DS18B20 and moisture probes, and its payload round-trips in MicroPython."""
    lines = _ok(micropython.run(SOIL, lib_dir=firmware_lib))
    [binary] = [bytes.fromhex(line.split()[1]) for line in lines if line.startswith("BIN")]
    up = payload.decode(binary)  # CPython reads what MicroPython encoded
    assert (up["node"], up["seq"]) == ("soil-01", 1)


RTU = r"""
from furrow.edge.crc import crc16_modbus
from furrow.firmware.modbus_slave import RtuSlave, char_us_for_baud
from furrow.firmware.soil_node import SoilNode
from furrow.firmware.drivers.soil_moisture import CapacitiveMoisture
from firmware_fakes import FakeADC, MemorySeq

node = SoilNode("soil-01", MemorySeq(7), [(20, CapacitiveMoisture(FakeADC(37000), 52000, 22000), None)])
node.tick(1767225600000)
slave = RtuSlave(1, node.registers(), node.holding, char_us=char_us_for_baud(9600), on_write=node.on_holding_write)
req = bytes([1, 4, 0, 0, 0, 112])
crc = crc16_modbus(req)
req += bytes([crc & 0xFF, crc >> 8])
assert slave.feed(req[:3], 1000) is None  # partial frame
reply = slave.feed(req[3:], 2000)
assert reply[:3] == bytes([1, 4, 224]) and len(reply) == 229
crc = crc16_modbus(reply[:-2])
assert reply[-2] == crc & 0xFF and reply[-1] == crc >> 8
bad = bytearray(req)
bad[-1] ^= 1
assert slave.feed(bytes(bad), 100000) is None and slave.stats["crc_errors"] == 1


def frame(body):
    c = crc16_modbus(body)
    return body + bytes([c & 0xFF, c >> 8])


# unit address 0 refused by the node's handler: exception 03, nothing stored
refused = slave.feed(frame(bytes([1, 6, 0, 0, 0, 0])), 200000)
assert refused[:3] == bytes([1, 0x86, 3]), refused
assert node.holding[0] == 1
assert slave.feed(frame(bytes([1, 4, 0, 0, 0, 0])), 300000)[:3] == bytes([1, 0x84, 3])
assert slave.feed(frame(bytes([1, 4, 0, 111, 0, 2])), 400000)[:3] == bytes([1, 0x84, 2])
assert slave.feed(frame(bytes([2, 4, 0, 0, 0, 1])), 500000) is None
print("REPLY", reply.hex())
print("OK")
"""


def test_rtu_slave_answers_fc04_on_micropython(micropython, firmware_lib: Path) -> None:  # type: ignore[no-untyped-def]
    """Inside MicroPython the slave answers FC04 with a frame pymodbus accepts, and gives the right exceptions."""
    lines = _ok(micropython.run(RTU, lib_dir=firmware_lib))
    [reply] = [bytes.fromhex(line.split()[1]) for line in lines if line.startswith("REPLY")]
    used, pdu = FramerRTU(DecodePDU(False)).processIncomingFrame(reply)
    assert used == len(reply) and pdu is not None
    up = modbus_map.decode_inputs("soil-01", pdu.registers)
    assert up["seq"] == 7 and up["readings"][0]["value"] == 22.5


IRRIGATION = r"""
import json
from furrow.edge import commands
from furrow.firmware.irrigation_node import IrrigationNode
from firmware_fakes import FakeValve, FakeFlowMeter, MemorySeq

T0 = 1767225600000
valves = [FakeValve(), FakeValve()]
meter = FakeFlowMeter(30.0)
node = IrrigationNode("irr-01", MemorySeq(), valves, flow_meter=meter, interval_ms=60000)
cmd = commands.encode(commands.make_command("c-1", "irr-01", 1, "open", 120, 180, T0, T0 + 3600000))
acks = node.on_command(cmd, T0)
assert [a["state"] for a in acks] == ["received", "started"], acks
assert valves[0].is_open and node.valve_states() == [True, False]
assert node.on_command(cmd, T0 + 1000)[0]["state"] == "started"  # a retry is not run again
done = []
t = T0
while t <= T0 + 120000:
    node.on_heartbeat(t)
    done += node.tick(t)[0]
    meter.run(10)  # 10 s of flow at 30 L/min
    t += 10000
assert [(a["id"], a["state"]) for a in done] == [("c-1", "completed")], done
assert done[0]["runtime_s"] == 120 and done[0]["volume_l"] == 60.0, done[0]
assert not valves[0].is_open and valves[0].calls == [False, True, False]
late = commands.encode(commands.make_command("c-2", "irr-01", 2, "open", 60, 60, T0, T0 + 60000))
[ack] = node.on_command(late, T0 + 120001)
assert ack["state"] == "rejected" and "expired" in ack["reason"], ack
assert not valves[1].is_open
assert node.on_command(b"\x00garbage", T0) == [] and node.stats["bad_commands"] == 1
print("ACK", json.dumps(done[0]))
print("OK")
"""


def test_irrigation_node_runs_and_refuses_on_micropython(micropython, firmware_lib: Path) -> None:  # type: ignore[no-untyped-def]
    """In MicroPython an irrigation command is received, started and completed; an expired one is refused."""
    lines = _ok(micropython.run(IRRIGATION, lib_dir=firmware_lib))
    assert any(line.startswith("ACK") and '"completed"' in line for line in lines)


DRIVERS = r"""
from furrow.firmware.drivers.ds18b20 import DS18B20, crc8
from firmware_fakes import FakeOneWire, FakeDS18B20, POWER_ON_SCRATCHPAD
assert crc8(POWER_ON_SCRATCHPAD) == 0x1C
bus = FakeOneWire(FakeDS18B20(-10.125))
s = DS18B20(bus)
assert s.read() == (None, "not_ready")
assert s.convert()
assert s.read() == (-10.125, None)
bus.corrupt_byte = 3
assert s.read() == (None, "crc_error")
bus.absent = True
assert s.read() == (None, "disconnected")
print("OK")
"""


def test_ds18b20_driver_on_micropython(micropython, firmware_lib: Path) -> None:  # type: ignore[no-untyped-def]
    """The DS18B20 driver's CRC-8 and fault handling behave the same in MicroPython."""
    _ok(micropython.run(DRIVERS, lib_dir=firmware_lib))


MAILBOX = r"""
import sys
import struct
assert sys.implementation.name == "micropython"
from furrow.edge import commands, modbus_map
from furrow.edge.crc import crc16_modbus
from furrow.firmware.irrigation_node import IrrigationNode
from furrow.firmware.modbus_commands import CommandMailbox
from furrow.firmware.modbus_slave import RtuSlave
from firmware_fakes import FakeValve, MemorySeq

T0 = 1767225600000


def frame(pdu):
    body = bytes([1]) + pdu
    return body + struct.pack("<H", crc16_modbus(body))


valve = FakeValve()
node = IrrigationNode("irr-mb", MemorySeq(), [valve], interval_ms=60000)
node.tick(T0)
box = CommandMailbox(node)
slave = RtuSlave(1, box.inputs, box.holding, coils=node.coils(), on_write=box.on_write)
cmd = commands.make_command("c-mp", "irr-mb", 1, "open", 60, 120, T0, T0 + 600000)
regs = modbus_map.encode_command_regs(cmd)
pdu = struct.pack(">BHHB", 16, modbus_map.CMD_BASE, len(regs), 2 * len(regs))
for r in regs:
    pdu += struct.pack(">H", r)
reply = slave.feed(frame(pdu), 0)
assert reply[1] == 16, reply
assert valve.is_open
reply = slave.feed(frame(struct.pack(">BHH", 4, modbus_map.ACK_BASE, modbus_map.ACK_COUNT)), 0)
ack_regs = [struct.unpack(">H", reply[3 + 2 * i: 5 + 2 * i])[0] for i in range(modbus_map.ACK_COUNT)]
counter, ack = modbus_map.decode_ack_regs(ack_regs)
assert ack["state"] == "started" and ack["id"] == "c-mp" and counter == 2, (counter, ack)
bad = slave.feed(frame(struct.pack(">BHHB", 16, modbus_map.CMD_BASE, 1, 2) + b"\x00\x01"), 0)
assert bad[1] == 0x90 and bad[2] == 3
print("OK")
"""


def test_modbus_command_mailbox_on_micropython(micropython, firmware_lib):
    """On MicroPython, a command written over Modbus opens the valve and its ack is served;
    a partial mailbox write is refused with exception 03."""
    _ok(micropython.run(MAILBOX, lib_dir=firmware_lib))
