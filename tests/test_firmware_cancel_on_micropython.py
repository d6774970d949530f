"""A cancel on the real MicroPython runtime: the 1.2 node drops, closes and remembers; a 1.1 node opens nothing."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from furrow.edge import commands, modbus_map
from furrow.edge.cancel import make_cancel
from tests.mplib import ROOT, board_lib

pytestmark = pytest.mark.micropython

T0 = 1_767_225_600_000
NIGHT = T0 + 8 * 3600_000
# main's last commit on contract 1.1: the firmware a farm may still run
CONTRACT_1_1 = "c8579153ad3caf2eda973f0a11254b45b07607a4"


def _open(cmd_id: str, not_before_ms: int) -> dict:
    return commands.make_command(cmd_id, "irr-01", 1, "open", 600, 900, not_before_ms, not_before_ms + 3600_000)


def _wire() -> dict[str, object]:
    """What the cloud and gateway send, made here with the CPython contract."""
    held, running, early = _open("c-held", NIGHT), _open("c-run", T0), _open("c-early", NIGHT)
    out: dict[str, object] = {}
    for name, cmd in (("HELD", held), ("RUN", running), ("EARLY", early)):
        out[name] = commands.encode(cmd).decode()
        out[name + "_CANCEL"] = commands.encode(make_cancel(cmd, T0)).decode()
        out[name + "_REGS"] = modbus_map.encode_command_regs(cmd)
        out[name + "_CANCEL_REGS"] = modbus_map.encode_command_regs(make_cancel(cmd, T0))
    return out


def _script(body: str) -> str:
    consts = "".join(f"{k} = {json.dumps(v)}\n" for k, v in _wire().items())
    return PRELUDE + consts + body


def _ok(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().splitlines()[-1] == "OK", result.stdout + result.stderr


PRELUDE = r"""
import sys
import struct
assert sys.implementation.name == "micropython"
from furrow.edge import CONTRACT_VERSION, modbus_map
from furrow.edge.crc import crc16_modbus
from furrow.firmware.irrigation_node import IrrigationNode
from furrow.firmware.modbus_commands import CommandMailbox
from furrow.firmware.modbus_slave import RtuSlave
from firmware_fakes import FakeValve, FakeFlowMeter, MemorySeq

T0 = 1767225600000
NIGHT = T0 + 8 * 3600000


def live(node, start, end, box=None):
    acks = []
    for t in range(start, end + 1, 60000):
        node.on_heartbeat(t)
        made = node.tick(t)[0]
        if box is not None:
            box.post(made)
        acks += made
    return acks


def frame(pdu):
    body = bytes([1]) + pdu
    return body + struct.pack("<H", crc16_modbus(body))


def write(slave, regs):
    pdu = struct.pack(">BHHB", 16, modbus_map.CMD_BASE, len(regs), 2 * len(regs))
    for r in regs:
        pdu += struct.pack(">H", r)
    return slave.feed(frame(pdu), 0)


def served_ack(slave):
    reply = slave.feed(frame(struct.pack(">BHH", 4, modbus_map.ACK_BASE, modbus_map.ACK_COUNT)), 0)
    regs = [struct.unpack(">H", reply[3 + 2 * i:5 + 2 * i])[0] for i in range(modbus_map.ACK_COUNT)]
    return modbus_map.decode_ack_regs(regs)


"""

NEW_NODE = r"""
assert CONTRACT_VERSION >= "1.2"  # the cancel came with 1.2
# -- over MQTT: the bytes the gateway publishes on node/irr-01/cmd --
valves = [FakeValve()]
meter = FakeFlowMeter(30.0)
from furrow.firmware.journal import Journal
node = IrrigationNode("irr-01", MemorySeq(), valves, flow_meter=meter, interval_ms=60000, journal=Journal("/journal"))
assert [a["state"] for a in node.on_command(HELD.encode(), T0)] == ["received"]
[ack] = node.on_command(HELD_CANCEL.encode(), T0 + 1000)
assert (ack["id"], ack["state"], ack["runtime_s"]) == ("c-held", "cancelled", None), ack
assert node.on_command(HELD_CANCEL.encode(), T0 + 2000) == [ack]  # a duplicate cancel: the same ack
[early] = node.on_command(EARLY_CANCEL.encode(), T0 + 3000)  # overtakes its command
assert early["state"] == "cancelled"
assert node.on_command(EARLY.encode(), T0 + 4000) == [early]  # refused: remembered as cancelled
assert [a["state"] for a in node.on_command(RUN.encode(), T0 + 5000)] == ["received", "started"]
assert valves[0].is_open
meter.run(60)
[closed] = node.on_command(RUN_CANCEL.encode(), T0 + 65000)
assert (closed["id"], closed["state"], closed["runtime_s"], closed["volume_l"]) == ("c-run", "cancelled", 60, 30.0)
assert not valves[0].is_open
# a reset: the journal keeps the cancels; retried commands are still refused, nothing opens
node = IrrigationNode("irr-01", MemorySeq(), valves, flow_meter=meter, interval_ms=60000, journal=Journal("/journal"))
assert live(node, T0 + 70000, T0 + 70000) == []
assert node.on_command(HELD.encode(), NIGHT)[0]["state"] == "cancelled"
assert node.on_command(EARLY.encode(), NIGHT)[0]["state"] == "cancelled"
assert live(node, NIGHT, NIGHT + 2 * 3600000) == []
assert valves[0].calls == [False, True, False, False], valves[0].calls  # only c-run ever opened

# -- over RS-485: the same commands written into the mailbox by a master --
valve = FakeValve()
node = IrrigationNode("irr-01", MemorySeq(), [valve], interval_ms=60000)
node.tick(T0)
box = CommandMailbox(node)
slave = RtuSlave(1, box.inputs, box.holding, coils=node.coils(), on_write=box.on_write)
assert write(slave, HELD_REGS)[1] == 16
assert write(slave, HELD_CANCEL_REGS)[1] == 16
counter, ack = served_ack(slave)
assert (ack["id"], ack["state"], counter) == ("c-held", "cancelled", 2), (counter, ack)
assert write(slave, EARLY_CANCEL_REGS)[1] == 16 and write(slave, EARLY_REGS)[1] == 16
assert served_ack(slave)[1]["state"] == "cancelled"
write(slave, RUN_REGS)
assert valve.is_open
node.on_heartbeat(T0 + 30000)
write(slave, RUN_CANCEL_REGS)
counter, ack = served_ack(slave)
assert (ack["id"], ack["state"], ack["runtime_s"]) == ("c-run", "cancelled", 30) and not valve.is_open
live(node, T0 + 60000, NIGHT + 2 * 3600000, box)
assert served_ack(slave)[0] == counter and valve.calls == [False, True, False], valve.calls
print("OK")
"""


def test_a_cancel_drops_closes_and_is_remembered_on_micropython(micropython, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """On MicroPython, over MQTT bytes and through the Modbus slave, a cancel drops a held command, closes a
    running valve, refuses a command it overtook, is harmless twice, and survives a reset in the journal."""
    lib = board_lib(tmp_path / "lib", "firmware_fakes.py")
    _ok(micropython.run(_script(NEW_NODE), lib_dir=lib))


OLD_NODE = r"""
assert CONTRACT_VERSION == "1.1"
valves = [FakeValve()]
node = IrrigationNode("irr-01", MemorySeq(), valves, interval_ms=60000)
[received] = node.on_command(HELD.encode(), T0)
assert received["state"] == "received"
# a cancel for a command it holds: the repeat of that command's latest ack, nothing else
assert node.on_command(HELD_CANCEL.encode(), T0 + 1000) == [received]
# a cancel for an id it does not know: refused as an invalid command, not remembered
[refused] = node.on_command(EARLY_CANCEL.encode(), T0 + 2000)
assert refused["state"] == "rejected" and refused["reason"].startswith("invalid command: action='cancel'"), refused
assert [a["state"] for a in node.on_command(EARLY.encode(), T0 + 3000)] == ["received"]
assert valves[0].calls == [False]  # no cancel opened anything
# the documented limit: a 1.1 node still runs what it holds
assert [a["state"] for a in live(node, NIGHT, NIGHT)] == ["started"]

valve = FakeValve()
node = IrrigationNode("irr-01", MemorySeq(), [valve], interval_ms=60000)
node.tick(T0)
box = CommandMailbox(node)
slave = RtuSlave(1, box.inputs, box.holding, coils=node.coils(), on_write=box.on_write)
assert write(slave, HELD_REGS)[1] == 16
reply = write(slave, HELD_CANCEL_REGS)
assert reply[1] == 0x90 and reply[2] == 3, reply  # exception 03: action 3 is unknown to it
assert served_ack(slave)[1]["state"] == "received" and valve.calls == [False]
print("OK")
"""


def _lib_at(commit: str, dest: Path) -> Path:
    """/lib with edge/ and firmware/ as they were at `commit` (git archive of this repository)."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit, "edge", "firmware"], capture_output=True,
                             check=True).stdout
    (dest / "furrow").mkdir(parents=True)
    (dest / "furrow" / "__init__.py").write_text("")
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(dest / "furrow", filter="data")
    shutil.copy(ROOT / "tests" / "firmware_fakes.py", dest / "firmware_fakes.py")
    return dest


def test_a_contract_1_1_node_opens_nothing_and_survives_a_cancel_on_micropython(micropython, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The firmware of contract 1.1, on MicroPython, refuses a cancel over MQTT and through its mailbox without
    crashing or opening a valve (and, as docs/contract.md says, still runs the command it holds)."""
    _ok(micropython.run(_script(OLD_NODE), lib_dir=_lib_at(CONTRACT_1_1, tmp_path / "lib")))
