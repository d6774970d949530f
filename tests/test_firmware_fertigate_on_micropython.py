"""Fertigation on the real MicroPython runtime: the 1.5 node doses within the window while water flows and stops
on lost flow, EC out of band and cancel; a node of contract 1.4 refuses a fertigate and opens nothing."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from furrow.edge import commands, modbus_map, signing
from furrow.edge.cancel import make_cancel
from tests.mplib import board_lib
from tests.test_firmware_cancel_on_micropython import PRELUDE as CANCEL_PRELUDE
from tests.test_firmware_cancel_on_micropython import _lib_at

pytestmark = pytest.mark.micropython

T0 = 1_767_225_600_000
KEY = bytes(range(32))
# main's last commit on contract 1.4: the firmware a farm may still run
CONTRACT_1_4 = "4b55118ac01cc7a80e6e14bae5bf2af3f5d14b43"


def _fert(cmd_id: str) -> dict:
    cmd = commands.make_command(cmd_id, "irr-01", 1, "fertigate", 600, 900, T0, T0 + 3600_000,
                                inject=(1500, 60, 540))
    return {**cmd, "nmac": signing.node_mac(KEY, cmd)}


def _wire() -> dict[str, object]:
    """What the gateway publishes, made here with the CPython contract (and the node MAC of KEY)."""
    out: dict[str, object] = {"KEY": list(KEY)}
    for name in ("DOSE", "DRY", "EC", "CANCEL"):
        out[name] = commands.encode(_fert("f-" + name.lower())).decode()
    cancel = make_cancel(commands.validate_command(json.loads(out["CANCEL"])), T0 + 100_000)
    out["CANCEL_IT"] = commands.encode({**cancel, "nmac": signing.node_mac(KEY, cancel)}).decode()
    forged = dict(_fert("f-forged"), inject_ml=15000)  # ten times the dose, the MAC left as it was
    out["FORGED"] = commands.encode(forged).decode()
    out["MAILBOX_REGS"] = modbus_map.encode_command_regs(_fert("f-mailbox"))
    return out


def _ok(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().splitlines()[-1] == "OK", result.stdout + result.stderr


PRELUDE = CANCEL_PRELUDE + r"""

class LineEC:
    def __init__(self, v):
        self.v = v

    def read(self):
        return self.v


def each_second(node, valve, pump, meter, start_s, end_s, at=None):
    acks = []
    for t in range(start_s, end_s + 1):
        if at is not None:
            at(t)
        meter.run(1)
        node.on_heartbeat(T0 + t * 1000)
        acks += node.tick(T0 + t * 1000)[0]
        assert not (pump.is_open and not valve.is_open), t
    return acks
"""

NEW_NODE = r"""
from furrow.firmware.injector import Injector


def controller(ec=None):
    valve, pump, meter = FakeValve(), FakeValve(), FakeFlowMeter(20.0)
    inj = Injector(pump, 36.0, ec, (0.5, 3.0) if ec else None, 30000)
    node = IrrigationNode("irr-01", MemorySeq(), [valve], flow_meter=meter, injector=inj, no_flow_ms=60000,
                          cmd_key=bytes(KEY))
    return node, valve, pump, meter


node, valve, pump, meter = controller()
assert [a["state"] for a in node.on_command(FORGED.encode(), T0)] == ["rejected"] and not valve.is_open
assert [a["state"] for a in node.on_command(DOSE.encode(), T0)] == ["received", "started"]
on = []
acks = each_second(node, valve, pump, meter, 1, 620, lambda t: on.append(t) if pump.is_open else None)
assert (min(on), max(on)) == (61, 210), (min(on), max(on))
assert (acks[-1]["state"], acks[-1]["injected_ml"]) == ("completed", 1500), acks[-1]
assert not valve.is_open and not pump.is_open


def dry(t):
    if t == 100:
        meter.rate = 0.0
    if t > 100:
        assert not pump.is_open, t


node, valve, pump, meter = controller()
node.on_command(DRY.encode(), T0)
final = each_second(node, valve, pump, meter, 1, 200, dry)[-1]
assert final["state"] == "aborted" and "no flow" in final["reason"] and final["injected_ml"] == 400, final

node, valve, pump, meter = controller(LineEC(4.5))
node.on_command(EC.encode(), T0)
final = each_second(node, valve, pump, meter, 1, 120)[-1]
assert final["state"] == "aborted" and "outside 0.50..3.00" in final["reason"], final
assert not valve.is_open and not pump.is_open

node, valve, pump, meter = controller()
node.on_command(CANCEL.encode(), T0)
each_second(node, valve, pump, meter, 1, 99)
[ack] = node.on_command(CANCEL_IT.encode(), T0 + 100000)
assert (ack["state"], ack["injected_ml"]) == ("cancelled", 400), ack
assert not valve.is_open and not pump.is_open

# -- over RS-485: the fertigate written into the mailbox (32-72), its ack read with the volume (112-135) --
node, valve, pump, meter = controller()
node.tick(T0)
box = CommandMailbox(node)
slave = RtuSlave(1, box.inputs, box.holding, coils=node.coils(), on_write=box.on_write)
assert write(slave, MAILBOX_REGS)[1] == 16 and valve.is_open
acks = each_second(node, valve, pump, meter, 1, 620)
box.post(acks)
reply = slave.feed(frame(struct.pack(">BHH", 4, modbus_map.ACK_BASE, modbus_map.ACK_COUNT_INJECTED)), 0)
regs = [struct.unpack(">H", reply[3 + 2 * i:5 + 2 * i])[0] for i in range(modbus_map.ACK_COUNT_INJECTED)]
counter, fields = modbus_map.decode_ack_regs(regs)
assert (fields["id"], fields["state"], fields["injected_ml"]) == ("f-mailbox", "completed", 1500), fields
print("OK")
"""


def _script(body: str) -> str:
    consts = "".join(f"{k} = {json.dumps(v)}\n" for k, v in _wire().items())
    return PRELUDE + consts + body


def test_fertigate_doses_and_stops_on_micropython(micropython, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """On MicroPython, a signed fertigate doses 1500 ml within its window and completes; lost flow, EC out of band
    and a cancel each stop the pump with the valve; a dose changed in transit fails the node MAC."""
    lib = board_lib(tmp_path / "lib", "firmware_fakes.py")
    _ok(micropython.run(_script(NEW_NODE), lib_dir=lib))


OLD_NODE = r"""
from furrow.edge import CONTRACT_VERSION
assert CONTRACT_VERSION == "1.4"
valve, meter = FakeValve(), FakeFlowMeter(20.0)
node = IrrigationNode("irr-01", MemorySeq(), [valve], flow_meter=meter, cmd_key=bytes(KEY))
[refused] = node.on_command(DOSE.encode(), T0)
assert refused["state"] == "rejected" and refused["reason"].startswith("invalid command: action='fertigate'"), refused
assert each_second(node, valve, valve, meter, 1, 30) == [] and valve.calls == [False]
print("OK")
"""


def test_a_contract_1_4_node_refuses_a_fertigate_on_micropython(micropython, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The firmware of contract 1.4, on MicroPython, rejects a fertigate as an unknown action and opens nothing."""
    lib = _lib_at(CONTRACT_1_4, tmp_path / "lib")
    _ok(micropython.run(_script(OLD_NODE), lib_dir=lib))
