"""Irrigation commands over Modbus: the firmware's command mailbox, on its own
and written by the real gateway poller over the emulated RS-485 bus."""

from __future__ import annotations

import asyncio
import struct
import time
from datetime import timedelta

import pytest

from furrow.edge import commands, modbus_map
from furrow.edge.crc import crc16_modbus
from furrow.firmware.irrigation_node import IrrigationNode
from furrow.firmware.modbus_commands import HOLDING_LEN, INPUT_LEN, CommandMailbox
from furrow.firmware.modbus_slave import RtuSlave
from furrow.gateway.app import cancel_and_wait
from furrow.gateway.buffer import DurableBuffer
from furrow.gateway.config import ModbusDeviceConfig
from furrow.gateway.modbus import ModbusPoller
from furrow.hil import nodes
from furrow.hil.modbus_bus import ModbusBus
from furrow.hil.virtual_farm import VirtualFarm, VirtualZone
from tests.firmware_fakes import FakeValve, MemorySeq
from tests.gateway_support import wait_until

T0 = 1_767_225_600_000


def _frame(pdu: bytes, unit: int = 1) -> bytes:
    body = bytes([unit]) + pdu
    return body + struct.pack("<H", crc16_modbus(body))


def _write_command(regs: list[int], address: int = modbus_map.CMD_BASE) -> bytes:
    return _frame(struct.pack(">BHHB", 16, address, len(regs), 2 * len(regs)) + struct.pack(f">{len(regs)}H", *regs))


def _read_ack(slave: RtuSlave) -> tuple[int, dict | None]:
    reply = slave.feed(_frame(struct.pack(">BHH", 4, modbus_map.ACK_BASE, modbus_map.ACK_COUNT)), 0)
    regs = list(struct.unpack(f">{modbus_map.ACK_COUNT}H", reply[3:-2]))
    return modbus_map.decode_ack_regs(regs)


@pytest.fixture
def rig():
    valves = [FakeValve(), FakeValve()]
    node = IrrigationNode("irr-mb", MemorySeq(), valves, interval_ms=60_000)
    node.tick(T0)
    box = CommandMailbox(node)
    slave = RtuSlave(1, box.inputs, box.holding, coils=node.coils(), on_write=box.on_write)
    return node, box, slave, valves


def _cmd(**over) -> dict:
    c = dict(cmd_id="c-0123456789abcdef01234567", node="irr-mb", valve=1, action="open", duration_s=60,
             max_runtime_s=120, not_before_ms=T0, expires_ms=T0 + 600_000)
    c.update(over)
    return commands.make_command(**c)


def test_a_command_written_over_modbus_runs_and_its_ack_is_served(rig):
    """One FC16 write of a whole command opens the valve; the ack block shows
    'started' with a new counter, and 'completed' once the duration is over."""
    node, box, slave, valves = rig
    assert len(box.holding) == HOLDING_LEN and len(box.inputs) == INPUT_LEN
    assert _read_ack(slave) == (0, None)
    reply = slave.feed(_write_command(modbus_map.encode_command_regs(_cmd())), 0)
    assert reply[1] == 16  # a normal FC16 echo, not an exception
    assert valves[0].is_open
    counter, ack = _read_ack(slave)
    assert ack["state"] == "started" and ack["id"] == _cmd()["id"] and counter == 2  # received, then started
    acks, _ = node.tick(T0 + 61_000)
    box.post(acks)
    counter, ack = _read_ack(slave)
    assert ack["state"] == "completed" and ack["runtime_s"] >= 60 and counter == 3 and not valves[0].is_open


def test_a_retried_command_over_modbus_never_waters_twice(rig):
    """Writing the same command again re-serves its ack; the valve is not reopened."""
    node, box, slave, valves = rig
    regs = modbus_map.encode_command_regs(_cmd())
    slave.feed(_write_command(regs), 0)
    acks, _ = node.tick(T0 + 61_000)
    box.post(acks)
    slave.feed(_write_command(regs), 0)
    assert not valves[0].is_open and node.stats["duplicates"] >= 1
    assert _read_ack(slave)[1]["state"] == "completed"


def test_the_mailbox_decodes_a_command_once(rig, monkeypatch):
    """The mailbox hands the node the command it validated from the registers, not JSON to decode again
    (a round trip through a small heap); the node runs it under the same rules, and a retry of it
    repeats the very ack the first write made."""
    node, box, slave, valves = rig

    def no_json(data):
        raise AssertionError("the mailbox's command was decoded from JSON again")

    monkeypatch.setattr(commands, "decode_command", no_json)
    regs = modbus_map.encode_command_regs(_cmd())
    assert slave.feed(_write_command(regs), 0)[1] == 16 and valves[0].is_open
    started = _read_ack(slave)[1]
    slave.feed(_write_command(regs), 0)
    counter, again = _read_ack(slave)
    assert node.stats["duplicates"] == 1 and counter == 3 and again == started


def test_an_expired_command_over_modbus_is_rejected_not_run(rig):
    """The mailbox passes the node's own safety rules: an expired command is rejected."""
    node, box, slave, valves = rig
    node.tick(T0 + 700_000)
    slave.feed(_write_command(modbus_map.encode_command_regs(_cmd())), 0)
    assert not valves[0].is_open
    assert _read_ack(slave)[1]["state"] == "rejected"


@pytest.mark.parametrize("how", ["partial", "no_commit", "bad_valve_action"])
def test_a_malformed_mailbox_write_is_refused_with_exception_03(rig, how):
    """A write that is not one whole, committed, valid command answers exception 03 and runs nothing."""
    node, box, slave, valves = rig
    regs = modbus_map.encode_command_regs(_cmd())
    if how == "partial":
        frame = _write_command(regs[:10])
    elif how == "no_commit":
        frame = _write_command(regs[:-1] + [0])
    else:
        frame = _write_command(regs[:17] + [9] + regs[18:])
    reply = slave.feed(frame, 0)
    assert reply[1] == 0x90 and reply[2] == 3
    assert not any(v.is_open for v in valves) and box.stats["refused"] == 1


async def test_gateway_poller_writes_a_command_and_relays_the_acks(tmp_path):
    """The real gateway poller writes a command into an emulated irrigation node
    on the RS-485 bus; the firmware core opens the valve for the duration and
    the poller relays 'started' and 'completed' from the node's ack block."""
    farm = VirtualFarm([VirtualZone("z1")])
    core, meter = nodes.irrigation_node(farm, "irr-bus", ["z1"], tmp_path / "flash", 1000)

    def advance(now_ms: int) -> None:
        farm.advance(now_ms / 1000)
        meter.advance(now_ms / 1000)

    bus = ModbusBus(port=0, baud=115_200, tick_s=0.05, on_tick=advance)
    bus.add(core, 3)
    await bus.start()
    stop = asyncio.Event()
    ticking = asyncio.create_task(bus.run(stop))
    acks: list[dict] = []
    device = ModbusDeviceConfig(node_id="irr-bus", host="127.0.0.1", port=bus.port, unit=3, role="irrigation",
                                commands=True, poll_interval=timedelta(seconds=0.2), timeout=timedelta(seconds=1))
    try:
        with DurableBuffer(tmp_path / "b.sqlite") as buf:
            poller = ModbusPoller([device], buf.put_many, buf.quarantine, on_ack=lambda ack, raw: acks.append(ack))
            polling = asyncio.create_task(poller.run())
            try:
                await wait_until(lambda: poller.health()["irr-bus"]["polls"] > 0, "the first poll")
                now = int(time.time() * 1000)
                cmd = commands.make_command("c-bus000000000000000000001", "irr-bus", 1, "open", 1, 30,
                                            now - 1000, now + 60_000)
                await poller.write_command(cmd)
                await wait_until(lambda: any(a["state"] == "completed" for a in acks), "the completed ack", 30)
            finally:
                await cancel_and_wait(polling)
    finally:
        stop.set()
        await ticking
        await bus.close()
    states = [a["state"] for a in acks if a["id"] == cmd["id"]]
    assert "started" in states and states[-1] == "completed"
    assert core.valve_states() == [False] and farm.zones["z1"].irrigated_mm > 0
