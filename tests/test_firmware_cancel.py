"""The irrigation node's answer to a cancel (contract 1.2), over MQTT and its Modbus mailbox."""

from __future__ import annotations

import asyncio
import struct
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from furrow.edge import commands, modbus_map, signing
from furrow.edge.cancel import make_cancel
from furrow.edge.crc import crc16_modbus
from furrow.firmware.irrigation_node import IrrigationNode
from furrow.firmware.journal import Journal, MemoryJournal
from furrow.firmware.modbus_commands import CommandMailbox
from furrow.firmware.modbus_slave import RtuSlave
from furrow.gateway.app import cancel_and_wait
from furrow.gateway.buffer import DurableBuffer
from furrow.gateway.config import ModbusDeviceConfig
from furrow.gateway.modbus import ModbusPoller
from furrow.hil.modbus_bus import ModbusBus
from tests.firmware_fakes import FakeFlowMeter, FakeValve, MemorySeq
from tests.gateway_support import wait_until

T0 = 1_767_225_600_000
S = 1000
HOUR = 3600 * S
NIGHT = T0 + 8 * HOUR  # the held run's not-before
KEY = bytes(range(32))


def _open(cmd_id: str = "c-night", valve: int = 1, not_before_ms: int = NIGHT, **over: Any) -> dict[str, Any]:
    c = dict(cmd_id=cmd_id, node="irr-01", valve=valve, action="open", duration_s=600, max_runtime_s=900,
             not_before_ms=not_before_ms, expires_ms=not_before_ms + HOUR)
    c.update(over)
    return commands.make_command(**c)


def _cancel(cmd: dict[str, Any], now_ms: int = T0) -> bytes:
    return commands.encode(make_cancel(cmd, now_ms))


def _node(journal: Any = None, meter: FakeFlowMeter | None = None, **kw: Any) -> tuple[IrrigationNode, list[FakeValve]]:
    valves = [FakeValve(), FakeValve()]
    return IrrigationNode("irr-01", MemorySeq(), valves, interval_ms=60 * S, flow_meter=meter, journal=journal,
                          **kw), valves


def _live(node: IrrigationNode, start: int, end: int, step: int = 60 * S) -> list[dict[str, Any]]:
    """Run the node from `start` to `end` with the gateway heard throughout; the acks it made."""
    acks: list[dict[str, Any]] = []
    for t in range(start, end + 1, step):
        node.on_heartbeat(t)
        acks += node.tick(t)[0]
    return acks


def _states(acks: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(a["id"], a["state"]) for a in acks]


def test_a_held_command_that_is_cancelled_never_opens_its_valve() -> None:
    """A command held for its not-before is dropped by its cancel: "cancelled", and the valve never opens."""
    node, valves = _node()
    cmd = _open()
    assert _states(node.on_command(commands.encode(cmd), T0)) == [("c-night", "received")]
    [ack] = node.on_command(_cancel(cmd), T0 + 60 * S)
    assert (ack["id"], ack["state"], ack["runtime_s"], ack["volume_l"]) == ("c-night", "cancelled", None, None)
    assert _live(node, T0 + 120 * S, NIGHT + 2 * HOUR) == []
    assert valves[0].calls == [False]


def test_a_cancel_after_the_valve_opened_closes_it_with_runtime_and_volume() -> None:
    """A cancel for a running command closes its valve at once; the ack is "cancelled" with what ran."""
    meter = FakeFlowMeter(rate_l_min=30.0)
    node, valves = _node(meter=meter)
    cmd = _open(not_before_ms=T0)
    assert _states(node.on_command(commands.encode(cmd), T0)) == [("c-night", "received"), ("c-night", "started")]
    meter.run(120)
    [ack] = node.on_command(_cancel(cmd, T0 + 120 * S), T0 + 120 * S)
    assert (ack["state"], ack["runtime_s"], ack["volume_l"]) == ("cancelled", 120, 60.0)
    assert not valves[0].is_open and valves[0].calls == [False, True, False]
    assert _live(node, T0 + 180 * S, T0 + 2 * HOUR) == []  # no "completed" later, nothing reopens


def test_a_cancel_before_its_command_is_remembered_and_the_command_refused() -> None:
    """A cancel for an id never seen is kept as "cancelled"; the command arriving later gets that ack and never runs."""
    node, valves = _node()
    cmd = _open()
    [ack] = node.on_command(_cancel(cmd), T0)
    assert (ack["id"], ack["state"]) == ("c-night", "cancelled")
    assert node.on_command(commands.encode(cmd), T0 + S) == [ack]
    assert node.on_command(commands.encode(cmd), NIGHT) == [ack]  # nor once it is due
    assert _live(node, NIGHT, NIGHT + 2 * HOUR) == []
    assert valves[0].calls == [False]


def test_a_duplicate_cancel_is_harmless() -> None:
    """A second cancel repeats the first one's ack and changes nothing, even with another command on the valve."""
    node, valves = _node()
    cmd = _open()
    node.on_command(commands.encode(cmd), T0)
    [first] = node.on_command(_cancel(cmd), T0 + S)
    assert first["state"] == "cancelled"
    other = _open("c-other", not_before_ms=T0 + 2 * S)
    node.on_command(commands.encode(other), T0 + 2 * S)
    assert valves[0].is_open
    assert node.on_command(_cancel(cmd, T0 + 3 * S), T0 + 3 * S) == [first]
    assert valves[0].is_open  # the other command's run goes on


def test_a_cancel_for_a_finished_command_repeats_its_final_ack() -> None:
    """Too late to cancel: the command's own final ack comes back, and nothing is recorded as cancelled."""
    node, _ = _node()
    cmd = _open(not_before_ms=T0, duration_s=60)
    node.on_command(commands.encode(cmd), T0)
    [done] = _live(node, T0 + 60 * S, T0 + 60 * S)
    assert done["state"] == "completed"
    assert node.on_command(_cancel(cmd, T0 + 120 * S), T0 + 120 * S) == [done]


def test_a_cancel_acts_at_once_whatever_its_not_before_says() -> None:
    """A node whose clock is behind the cloud's does not hold a cancel: the held command is dropped at once."""
    node, valves = _node()
    cmd = _open(not_before_ms=T0 + 60 * S)
    node.on_command(commands.encode(cmd), T0)
    [ack] = node.on_command(commands.encode(make_cancel(cmd, T0 + 30 * S)), T0)  # made 30 s ahead of this clock
    assert ack["state"] == "cancelled"
    assert _live(node, T0, T0 + 2 * HOUR) == [] and valves[0].calls == [False]


@pytest.mark.parametrize("cancel_first", [False, True])
def test_a_cancelled_command_stays_refused_after_a_reset(tmp_path: Path, cancel_first: bool) -> None:
    """The "cancelled" ack is journalled: after a reset the command (held and cancelled, or cancelled before it
    came) is still refused, and the reboot does not report it aborted."""
    cmd = _open()
    node, _ = _node(journal=Journal(str(tmp_path / "journal")))
    if not cancel_first:
        node.on_command(commands.encode(cmd), T0)
    node.on_command(_cancel(cmd), T0 + S)
    rebooted, valves = _node(journal=Journal(str(tmp_path / "journal")), boot_reason="power cut")
    assert _live(rebooted, T0 + 2 * S, T0 + 2 * S) == []  # nothing was held or running at the reset
    [ack] = rebooted.on_command(commands.encode(cmd), NIGHT)
    assert (ack["id"], ack["state"]) == ("c-night", "cancelled")
    assert _live(rebooted, NIGHT, NIGHT + 2 * HOUR) == [] and valves[0].calls == [False]


def test_a_keyed_node_takes_a_cancel_only_with_its_node_mac() -> None:
    """A cancel without a valid nmac is refused and the held command stays; the signed cancel drops it."""
    node, valves = _node(cmd_key=KEY)
    cmd = commands.validate_command(dict(_open(), nmac=signing.node_mac(KEY, _open())))
    node.on_command(commands.encode(cmd), T0)
    cancel = make_cancel(cmd, T0)
    [refused] = node.on_command(commands.encode(cancel), T0 + S)
    assert refused["state"] == "rejected" and refused["reason"].startswith("node mac:")
    forged = dict(cancel, nmac=cmd["nmac"])  # the open's MAC does not pass for its cancel
    assert node.on_command(commands.encode(forged), T0 + S)[0]["state"] == "rejected"
    signed = dict(cancel, nmac=signing.node_mac(KEY, cancel))
    assert node.on_command(commands.encode(signed), T0 + 2 * S)[0]["state"] == "cancelled"
    assert _live(node, NIGHT, NIGHT + 2 * HOUR) == [] and valves[0].calls == [False]


def test_every_cancel_outcome_is_journalled_like_any_ack() -> None:
    """The journal holds the "cancelled" ack and no longer lists the dropped command as waiting."""
    journal = MemoryJournal()
    node, _ = _node(journal=journal)
    cmd = _open()
    node.on_command(commands.encode(cmd), T0)
    assert journal.state["waiting"] == ["c-night"]
    node.on_command(_cancel(cmd), T0 + S)
    assert journal.state["waiting"] == [] and journal.state["acks"][-1]["state"] == "cancelled"


# -- over the Modbus mailbox (RtuSlave frames, as a master sends them) ------------------------


def _frame(pdu: bytes) -> bytes:
    body = bytes([1]) + pdu
    return body + struct.pack("<H", crc16_modbus(body))


def _write(slave: RtuSlave, cmd: dict[str, Any]) -> bytes:
    regs = modbus_map.encode_command_regs(cmd)
    return slave.feed(_frame(struct.pack(">BHHB", 16, modbus_map.CMD_BASE, len(regs), 2 * len(regs))
                             + struct.pack(f">{len(regs)}H", *regs)), 0)


def _ack(slave: RtuSlave) -> tuple[int, dict[str, Any] | None]:
    reply = slave.feed(_frame(struct.pack(">BHH", 4, modbus_map.ACK_BASE, modbus_map.ACK_COUNT)), 0)
    return modbus_map.decode_ack_regs(list(struct.unpack(f">{modbus_map.ACK_COUNT}H", reply[3:-2])))


@pytest.fixture
def mailbox_rig() -> tuple[IrrigationNode, CommandMailbox, RtuSlave, list[FakeValve]]:
    node, valves = _node()
    node.tick(T0)
    box = CommandMailbox(node)
    return node, box, RtuSlave(1, box.inputs, box.holding, coils=node.coils(), on_write=box.on_write), valves


def test_a_cancel_written_into_the_mailbox_drops_the_held_command(mailbox_rig) -> None:  # type: ignore[no-untyped-def]
    """Over RS-485 a cancel written after a held command drops it: the ack block serves "cancelled", no valve opens."""
    node, box, slave, valves = mailbox_rig
    cmd = _open()
    assert _write(slave, cmd)[1] == 16
    assert _ack(slave)[1]["state"] == "received"
    assert _write(slave, make_cancel(cmd, T0))[1] == 16  # a normal echo, not an exception
    counter, ack = _ack(slave)
    assert (ack["id"], ack["state"], ack["runtime_s"], counter) == ("c-night", "cancelled", None, 2)
    for t in range(NIGHT - 60 * S, NIGHT + 2 * HOUR, 60 * S):
        node.on_heartbeat(t)
        box.post(node.tick(t)[0])
    assert _ack(slave)[0] == 2 and valves[0].calls == [False]


def test_a_cancel_written_into_the_mailbox_closes_a_running_valve(mailbox_rig) -> None:  # type: ignore[no-untyped-def]
    """Over RS-485 a cancel for a running command closes its valve; the ack block serves "cancelled" and its runtime."""
    node, box, slave, valves = mailbox_rig
    cmd = _open(not_before_ms=T0)
    _write(slave, cmd)
    assert valves[0].is_open
    node.on_heartbeat(T0 + 90 * S)
    _write(slave, make_cancel(cmd, T0 + 90 * S))
    _, ack = _ack(slave)
    assert (ack["state"], ack["runtime_s"]) == ("cancelled", 90) and not valves[0].is_open


def test_a_mailbox_cancel_for_an_unknown_id_refuses_the_command_written_later(mailbox_rig) -> None:  # type: ignore[no-untyped-def]
    """A cancel written before its command is remembered: the command written later is answered "cancelled"."""
    node, box, slave, valves = mailbox_rig
    cmd = _open(not_before_ms=T0)
    _write(slave, make_cancel(cmd, T0))
    _write(slave, cmd)
    counter, ack = _ack(slave)
    assert (ack["state"], counter) == ("cancelled", 2) and valves[0].calls == [False]


async def test_the_gateway_poller_cancels_a_held_command_on_the_rs485_bus(tmp_path: Path) -> None:
    """A real master (the gateway's pymodbus poller) writes a held command and then its cancel into the node's
    mailbox on the emulated bus: it relays "cancelled", and the valve stays shut past the not-before; a cancel
    for a running command closes the valve and is relayed with its runtime."""
    clock = [T0]
    valves = [FakeValve(), FakeValve()]
    core = IrrigationNode("irr-bus", MemorySeq(), valves, interval_ms=60 * S)
    bus = ModbusBus(port=0, baud=115_200, tick_s=0.05, clock_ms=lambda: clock[0])
    bus.add(core, 3)
    await bus.start()
    stop = asyncio.Event()
    ticking = asyncio.create_task(bus.run(stop))
    acks: list[dict[str, Any]] = []
    device = ModbusDeviceConfig(node_id="irr-bus", host="127.0.0.1", port=bus.port, unit=3, role="irrigation",
                                commands=True, poll_interval=timedelta(seconds=0.2), timeout=timedelta(seconds=1))

    def acked(cmd_id: str, state: str) -> bool:
        return any((a["id"], a["state"]) == (cmd_id, state) for a in acks)

    held = _open("c-bus-held", node="irr-bus")
    running = _open("c-bus-run", node="irr-bus", valve=2, not_before_ms=T0)
    try:
        with DurableBuffer(tmp_path / "b.sqlite") as buf:
            poller = ModbusPoller([device], buf.put_many, buf.quarantine, on_ack=lambda ack, raw: acks.append(ack))
            polling = asyncio.create_task(poller.run())
            try:
                await wait_until(lambda: poller.health()["irr-bus"]["polls"] > 0, "the first poll")
                await poller.write_command(held)
                await wait_until(lambda: acked(held["id"], "received"), "the held command's received")
                await poller.write_command(make_cancel(held, T0))
                await wait_until(lambda: acked(held["id"], "cancelled"), "the cancel's ack")
                await poller.write_command(running)
                await wait_until(lambda: valves[1].is_open and acked(running["id"], "started"), "the run to start")
                clock[0] = T0 + 90 * S
                polls = poller.health()["irr-bus"]["polls"]
                await wait_until(lambda: poller.health()["irr-bus"]["polls"] > polls + 1, "polls at the new time")
                await poller.write_command(make_cancel(running, T0 + 90 * S))
                await wait_until(lambda: acked(running["id"], "cancelled"), "the running command's cancel")
                clock[0] = NIGHT + 60 * S  # past the held command's not-before, the gateway still polling
                polls = poller.health()["irr-bus"]["polls"]
                await wait_until(lambda: poller.health()["irr-bus"]["polls"] > polls + 3, "polls past the not-before")
            finally:
                await cancel_and_wait(polling)
    finally:
        stop.set()
        await ticking
        await bus.close()
    [cancelled_run] = [a for a in acks if (a["id"], a["state"]) == (running["id"], "cancelled")]
    assert cancelled_run["runtime_s"] == 90 and not valves[1].is_open
    assert valves[0].calls == [False] and not any(a["id"] == held["id"] and a["state"] == "started" for a in acks)
