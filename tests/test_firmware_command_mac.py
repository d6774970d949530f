"""The node's side of signed commands (contract 1.1): the HMAC written from hashlib.sha256 alone,
the canonical bytes, and an irrigation node with a key refusing commands without the right node
MAC, over MQTT, through the Modbus mailbox, from its config, and on the real MicroPython runtime."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest

from furrow.edge import commands, modbus_map, signing
from furrow.firmware.config import validate as validate_firmware_config
from furrow.firmware.irrigation_node import IrrigationNode
from furrow.firmware.modbus_commands import CommandMailbox
from tests.firmware_fakes import FakeValve, MemorySeq
from tests.mplib import board_lib
from tests.test_firmware_board_config import _Clock, main  # noqa: F401 - `main`: firmware/main.py on fake pins

T0 = 1_767_225_600_000
HOUR = 3_600_000
NODE_KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))


def _command(cmd_id: str = "c-0123456789abcdef01234567", node: str = "irr-01", now: int = T0,
             ttl_ms: int = HOUR, **over: Any) -> dict[str, Any]:
    c = dict(cmd_id=cmd_id, node=node, valve=1, action="open", duration_s=60, max_runtime_s=120,
             not_before_ms=now, expires_ms=now + ttl_ms)
    c.update(over)
    return commands.make_command(**c)


# -- the contract: bytes and MACs -------------------------------------------------------------------------


@pytest.mark.parametrize("key_len", [0, 1, 16, 32, 63, 64, 65, 130])
def test_hmac_from_sha256_matches_cpythons_hmac(key_len: int) -> None:
    """The HMAC the nodes compute from hashlib.sha256 alone equals CPython's hmac module for short and long keys."""
    key, msg = bytes((7 * i) & 0xFF for i in range(key_len)), b"furrow" * 40
    assert signing.hmac_sha256(key, msg) == hmac.new(key, msg, hashlib.sha256).digest()


def test_signed_bytes_cover_every_field_and_cannot_be_confused() -> None:
    """Changing any signed field changes the signed bytes, and netstrings keep '1','23' apart from '12','3'."""
    base = dict(_command(), issued_ms=T0, site="farm", gateway="gw-1", kid="k1", nmac="0" * 32)
    changed = {"id": "c-x", "node": "irr-02", "valve": 2, "action": "close", "duration_s": 61,
               "max_runtime_s": 121, "not_before_ms": T0 + 1, "expires_ms": T0 + HOUR + 1, "issued_ms": T0 + 1,
               "site": "farm2", "gateway": "gw-2", "kid": "k2", "nmac": "1" * 32}
    for field, value in changed.items():
        assert signing.signed_bytes(dict(base, **{field: value})) != signing.signed_bytes(base), field
    a = dict(base, site="1", gateway="23")
    b = dict(base, site="12", gateway="3")
    assert signing.signed_bytes(a) != signing.signed_bytes(b)


def test_node_mac_is_the_same_over_mqtt_and_through_the_modbus_mailbox() -> None:
    """The MAC covers whole seconds: a command decoded from the mailbox checks with the MAC made for MQTT."""
    cmd = _command(not_before_ms=T0 + 1234, expires_ms=T0 + HOUR + 999)
    cmd["nmac"] = signing.node_mac(NODE_KEY, cmd)
    regs = modbus_map.encode_command_regs(cmd)
    assert len(regs) == modbus_map.CMD_COUNT_MAC
    decoded = commands.validate_command(modbus_map.decode_command_regs("irr-01", regs))
    assert decoded["nmac"] == cmd["nmac"] and signing.check_node_mac(NODE_KEY, decoded) is None

# -- the node checks its MAC ------------------------------------------------------------------------------


def _irrigation_node(key: bytes | None = NODE_KEY) -> tuple[IrrigationNode, list[FakeValve]]:
    valves = [FakeValve(), FakeValve()]
    node = IrrigationNode("irr-01", MemorySeq(), valves, interval_ms=60_000, cmd_key=key)
    node.tick(T0)
    return node, valves


def test_node_with_a_key_runs_a_command_with_its_mac_and_refuses_the_rest() -> None:
    """With cmd_key set, the right nmac opens the valve; none, tampered, or another node's key are rejected."""
    node, valves = _irrigation_node()
    cmd = _command()
    bad = {"missing": dict(_command("c-missing")),
           "tampered": dict(_command("c-tampered"), nmac=signing.node_mac(NODE_KEY, _command("c-tampered"))),
           "other key": dict(_command("c-other"), nmac=signing.node_mac(OTHER_KEY, _command("c-other")))}
    bad["tampered"]["duration_s"] = 120  # changed after the MAC was made
    for why, c in bad.items():
        [ack] = node.on_command(commands.encode(c), T0)
        assert ack["state"] == "rejected" and ack["reason"].startswith("node mac:"), why
    assert not any(v.is_open for v in valves) and node.stats["mac_refused"] == 3
    acks = node.on_command(commands.encode(dict(cmd, nmac=signing.node_mac(NODE_KEY, cmd))), T0)
    assert [a["state"] for a in acks] == ["received", "started"] and valves[0].is_open


def test_node_mac_checked_through_the_modbus_mailbox() -> None:
    """A mailbox write with the nmac (registers 59-66) runs; one with a register changed, or none, is rejected."""
    node, valves = _irrigation_node()
    box = CommandMailbox(node)

    def ack() -> dict[str, Any] | None:
        regs = [box.inputs[i] for i in range(modbus_map.ACK_BASE, modbus_map.ACK_BASE + modbus_map.ACK_COUNT)]
        return modbus_map.decode_ack_regs(regs)[1]

    tampered = _command("c-tampered")
    regs = modbus_map.encode_command_regs(dict(tampered, nmac=signing.node_mac(NODE_KEY, tampered)))
    regs[18:20] = [0, 119]  # duration_s
    box.on_write(modbus_map.CMD_BASE, regs)
    assert ack()["state"] == "rejected" and not valves[0].is_open
    unsigned = modbus_map.encode_command_regs(_command("c-unsigned"))  # a 1.0 write of 27 registers
    box.on_write(modbus_map.CMD_BASE, unsigned)
    assert ack()["state"] == "rejected" and not valves[0].is_open
    good = _command()
    box.on_write(modbus_map.CMD_BASE, modbus_map.encode_command_regs(dict(good, nmac=signing.node_mac(NODE_KEY, good))))
    assert ack()["state"] == "started" and valves[0].is_open


def test_firmware_config_names_a_bad_cmd_key_without_showing_it() -> None:
    """A node config with a malformed cmd_key fails validation naming the field, and the value is not echoed."""
    cfg = {"node": "irr-01", "site": "farm", "role": "irrigation", "link": "mqtt",
           "mqtt": {"host": "10.0.0.1"}, "valves": [{"pin": 25}], "cmd_key": "abc"}
    _, errors = validate_firmware_config(cfg)
    assert [(e[0], e[1]) for e in errors if e[0] == "cmd_key"] == [("cmd_key", "<hidden>")]
    _, errors = validate_firmware_config(dict(cfg, cmd_key=NODE_KEY.hex()))
    assert not [e for e in errors if e[0] == "cmd_key"]


def test_board_builds_an_irrigation_node_with_its_cmd_key(main: Any, tmp_path: Path) -> None:  # noqa: F811
    """firmware/main.py hands the config's cmd_key (hex) to the irrigation core as bytes."""
    irr = main.build_node({"node": "irr-01", "role": "irrigation", "seq_path": str(tmp_path / "seq"),
                           "journal_path": str(tmp_path / "journal"), "valves": [{"pin": 12}],
                           "cmd_key": NODE_KEY.hex()}, _Clock())
    assert irr.cmd_key == NODE_KEY


MP_NODE_MAC = r"""
import json
from furrow.edge import commands, signing
from furrow.firmware.irrigation_node import IrrigationNode
from firmware_fakes import FakeValve, MemorySeq

cases = json.loads(%(cases)r)
for c in cases:
    key = bytes(c["key"])
    assert signing.hmac_sha256(key, c["msg"].encode()) == bytes(c["hmac"]), c["msg"]
    assert signing.node_mac(key, c["cmd"]) == c["cmd"]["nmac"]
    assert signing.signed_bytes(c["cmd"]) == c["signed"].encode()
T0 = %(t0)d
valves = [FakeValve()]
node = IrrigationNode("irr-01", MemorySeq(), valves, interval_ms=60000, cmd_key=bytes(cases[0]["key"]))
node.tick(T0)
good = cases[0]["cmd"]
bad = dict(good)
bad["id"] = "c-tampered"
[ack] = node.on_command(commands.encode(bad), T0)
assert ack["state"] == "rejected" and ack["reason"].startswith("node mac:"), ack
assert not valves[0].is_open
acks = node.on_command(commands.encode(good), T0 + 1000)  # after its not-before
assert [a["state"] for a in acks] == ["received", "started"], acks
assert valves[0].is_open
print("OK")
"""


@pytest.mark.micropython
def test_node_mac_on_the_real_micropython_runtime(micropython, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """MicroPython computes CPython hmac's HMAC, the same node MAC and signed bytes; its node refuses tampering."""
    cases = []
    for i, key_len in enumerate((32, 16, 64, 100)):
        key = bytes((i + 3 * j) & 0xFF for j in range(key_len))
        cmd = _command(f"c-mp-{i}", duration_s=60 + i, not_before_ms=T0 + 7)
        cmd["nmac"] = signing.node_mac(key, cmd)
        msg = f"message {i} " * (i * 20 + 1)
        cases.append({"key": list(key), "cmd": cmd, "msg": msg,
                      "hmac": list(hmac.new(key, msg.encode(), hashlib.sha256).digest()),
                      "signed": signing.signed_bytes(cmd).decode()})
    lib = board_lib(tmp_path / "lib", "firmware_fakes.py")
    result = micropython.run(MP_NODE_MAC % {"cases": json.dumps(cases), "t0": T0}, lib_dir=lib)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().splitlines()[-1] == "OK"
