"""Inputs the fuzzers found crashing a decoder, kept as regular tests (each now a named rejection)."""

from __future__ import annotations

import json
import struct

import pytest

from furrow.edge import batch, commands, modbus_map, payload
from furrow.edge.crc import crc16_modbus
from furrow.edge.errors import ContractError
from furrow.gateway.config import ConfigError, load_config
from tests.cloud_support import local_settings, problem, running_app
from tests.fuzz_targets import _rtu_rig

GOOD = {"v": "1.0", "node": "soil-01", "role": "soil", "seq": 1, "ts_ms": 1767225600000, "fw": "0.1.0",
        "bat_v": None, "rssi_dbm": None, "readings": [{"name": "vwc_pct", "value": 20.0, "depth_cm": 10}]}


def _uplink(**changes) -> bytes:
    doc = json.loads(json.dumps(GOOD))
    for path, value in changes.items():
        target = doc
        keys = path.split("__")
        for k in keys[:-1]:
            target = target[int(k) if k.isdigit() else k]
        target[keys[-1]] = value
    return json.dumps(doc).encode()


@pytest.mark.parametrize(("changes", "field"), [
    ({"readings__0__name": {"": "x"}}, "readings.0.name"),  # was TypeError: unhashable type: 'dict'
    ({"role": ["soil"]}, "role"),  # was TypeError: unhashable type: 'list'
    ({"readings__0__value": None, "readings__0__fault": ["disconnected"]}, "readings.0.fault"),
])
def test_an_unhashable_name_role_or_fault_is_a_named_rejection(changes, field):
    """A list or object where a name is expected is refused naming the field (it raised TypeError)."""
    with pytest.raises(ContractError) as e:
        payload.decode(_uplink(**changes))
    assert e.value.field == field


DEEP = b"[" * 100_000 + b"]" * 100_000


@pytest.mark.parametrize("decode", [payload.decode, batch.decode_batch, commands.decode_command,
                                    commands.decode_ack, commands.decode_status])
def test_json_nested_past_the_parsers_limit_is_a_named_rejection(decode):
    """100,000 nested arrays are refused as invalid JSON (json.loads raised RecursionError)."""
    with pytest.raises(ContractError) as e:
        decode(DEEP)
    assert e.value.field in ("payload", "batch", "command", "ack", "status")
    assert "not valid JSON" in e.value.reason


async def test_the_cloud_answers_a_deeply_nested_batch_with_422(tmp_path):
    """POST /ingest/batch with 100,000 nested arrays gets 422 naming the batch, not a 500."""
    async with running_app(local_settings(tmp_path)) as client:
        r = await client.post("/api/v1/ingest/batch", content=DEEP, headers={"Content-Type": "application/json"})
    assert r.status_code == 422
    assert problem(r)["field"] == "batch"


def _ack_block(id_bytes: bytes) -> list[int]:
    regs = modbus_map.encode_ack_regs(commands.make_ack("c-1", "irr-01", "completed", 0), 7)
    raw = id_bytes.ljust(32, b"\0")
    regs[:16] = list(struct.unpack(">16H", raw))
    return regs


def test_an_ack_block_with_a_non_utf8_command_id_is_a_named_rejection():
    """The gateway reading an ack block whose id is not UTF-8 gets a ContractError (was UnicodeDecodeError)."""
    with pytest.raises(ContractError) as e:
        modbus_map.decode_ack_regs(_ack_block(b"c-\xff\xfe"))
    assert e.value.field == "input_register.112"


def test_a_short_ack_block_is_a_named_rejection():
    """An ack block of the wrong length is refused naming it (was IndexError)."""
    with pytest.raises(ContractError) as e:
        modbus_map.decode_ack_regs([0x7FFF])
    assert e.value.field == "input_register.112" and e.value.value == 1


def test_a_mailbox_command_with_a_non_utf8_id_is_a_named_rejection_and_answered_with_exception_03():
    """decode_command_regs refuses a non-UTF-8 id by name, and the node answers the write with exception 03."""
    cmd = commands.make_command("c-1", "irr-01", 1, "open", 60, 120, 1767225600000, 1767225660000)
    regs = modbus_map.encode_command_regs(cmd)
    regs[0] = 0xFFFE
    with pytest.raises(ContractError) as e:
        modbus_map.decode_command_regs("irr-01", regs)
    assert e.value.field == "holding_register.32"
    body = bytes([1]) + struct.pack(">BHHB", 16, modbus_map.CMD_BASE, len(regs), 2 * len(regs))
    body += struct.pack(f">{len(regs)}H", *regs)
    reply = _rtu_rig().feed(body + struct.pack("<H", crc16_modbus(body)), 0)
    assert reply[1:3] == bytes([0x90, 0x03])


def test_a_gateway_config_that_is_not_utf8_is_a_config_error(tmp_path):
    """A TOML file with a non-UTF-8 byte gives ConfigError naming the file and byte (was UnicodeDecodeError)."""
    path = tmp_path / "gateway.toml"
    path.write_bytes(b'site = "demo"\ngateway_id = "g\xdd\x01w-1"\n')
    with pytest.raises(ConfigError) as e:
        load_config(path)
    assert str(path) in str(e.value) and "not UTF-8 at byte" in e.value.problems[0]


def test_a_gateway_config_nested_past_the_parsers_depth_is_a_config_error(tmp_path):
    """3,000 nested arrays give ConfigError naming the nesting (tomllib raised RecursionError)."""
    path = tmp_path / "gateway.toml"
    path.write_text("site = " + "[" * 3000 + "1" + "]" * 3000 + "\n")
    with pytest.raises(ConfigError) as e:
        load_config(path)
    assert e.value.problems == ["not valid TOML: arrays or tables nested too deeply"]


async def test_a_valve_key_past_int64_is_422_not_500(tmp_path):
    """GET/PUT/DELETE /registry/valves/<2**68> answer 422 naming the key (SQLite raised OverflowError: a 500)."""
    huge = "314330165001629663232"  # found by schemathesis
    async with running_app(local_settings(tmp_path)) as client:
        answers = [await client.get(f"/api/v1/registry/valves/{huge}"),
                   await client.delete(f"/api/v1/registry/valves/{huge}"),
                   await client.put(f"/api/v1/registry/valves/{huge}",
                                    json={"node_id": "irr-01", "channel": 1, "zone_id": "z"})]
    assert [r.status_code for r in answers] == [422, 422, 422]
    assert all(problem(r)["field"] == "key" for r in answers)


async def test_deleting_a_site_with_a_gateway_is_409_not_500(tmp_path):
    """DELETE /registry/sites/<id> of a site a gateway was registered under (by issuing its broker
    credentials) answers 409 naming the site: the gateway row's foreign key made it a 500 (found by
    the long api fuzz run)."""
    async with running_app(local_settings(tmp_path)) as client:
        assert (await client.post("/api/v1/registry/sites", json={"id": "s9", "name": "Farm"})).status_code == 201
        assert (await client.post("/api/v1/gateways/s9/gw-1/credentials")).status_code == 201
        r = await client.delete("/api/v1/registry/sites/s9")
    assert r.status_code == 409 and (problem(r)["field"], problem(r)["value"]) == ("site", "s9")
    assert "gateways" in problem(r)["reason"]
