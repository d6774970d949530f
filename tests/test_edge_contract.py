"""Topics, commands, acks, batches and the Modbus register map of the contract."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from furrow.edge import batch, commands, modbus_map, payload, topics
from furrow.edge.crc import crc16_modbus
from furrow.edge.errors import ContractError
from furrow.edge.measurements import ROLES

T0 = 1_767_225_600_000


def test_crc16_modbus_known_vector():
    """CRC-16/MODBUS of '123456789' is 0x4B37 (the published check value)."""
    assert crc16_modbus(b"123456789") == 0x4B37
    # a real read-holding-registers request: 01 03 00 00 00 0A -> CRC C5CD (low byte first)
    assert crc16_modbus(bytes.fromhex("01030000000A")).to_bytes(2, "little") == bytes.fromhex("C5CD")


@pytest.mark.parametrize("leaf", ["up", "status", "cmd", "ack"])
def test_node_topics_parse_back(leaf):
    """Every node topic parses back to its parts."""
    t = topics.node_topic("farm-1", "soil-01", leaf)
    assert t == "furrow/v1/farm-1/node/soil-01/%s" % leaf
    assert topics.parse_topic(t) == ("node", "farm-1", "soil-01", leaf)


@pytest.mark.parametrize("leaf", ["batch", "status", "cmd", "ack", "receipt"])
def test_gateway_topics_parse_back_under_custom_root(leaf):
    """Gateway topics parse back, also under a multi-level test root."""
    t = topics.gateway_topic("farm-1", "gw-1", leaf, root="t/abc")
    assert topics.parse_topic(t, root="t/abc") == ("gw", "farm-1", "gw-1", leaf)


@pytest.mark.parametrize(
    "topic",
    ["furrow/v2/farm/node/n1/up", "furrow/v1/farm/node/n1/down", "furrow/v1/farm/x/n1/up", "other/v1/a/node/b/up",
     "furrow/v1/Farm/node/n1/up", "furrow/v1/farm/node/n1"],
)
def test_foreign_topics_refused(topic):
    """Topics outside the tree, of another version, or with bad ids are refused."""
    with pytest.raises(ContractError):
        topics.parse_topic(topic)


def test_filters_match_the_tree():
    """Subscription filters have one wildcard where the id goes."""
    assert topics.node_filter("+", "up") == "furrow/v1/+/node/+/up"
    assert topics.gateway_filter("s1", "batch", root="r") == "r/v1/s1/gw/+/batch"


def _cmd(**over):
    c = dict(cmd_id="c-1", node="irr-01", valve=1, action="open", duration_s=600, max_runtime_s=900,
             not_before_ms=T0, expires_ms=T0 + 3_600_000)
    c.update(over)
    return commands.make_command(**c)


def test_command_and_ack_round_trip():
    """Commands, acks and status messages survive encode/decode unchanged."""
    c = _cmd()
    assert commands.decode_command(commands.encode(c)) == c
    a = commands.make_ack("c-1", "irr-01", commands.ACK_COMPLETED, T0 + 600_000, runtime_s=600, volume_l=412.5)
    assert commands.decode_ack(commands.encode(a)) == a
    s = commands.make_status("irr-01", commands.STATUS_OFFLINE, T0, fw="0.1.0")
    assert commands.decode_status(commands.encode(s)) == s


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"duration_s": 1000}, "duration_s"),  # longer than max_runtime_s
        ({"valve": 0}, "valve"),
        ({"action": "flood"}, "action"),
        ({"expires_ms": T0}, "expires_ms"),
        ({"max_runtime_s": 0}, "max_runtime_s"),
        ({"node": "IRR"}, "node"),
        ({"action": "close", "duration_s": -5}, "duration_s"),
    ],
)
def test_unsafe_commands_refused(over, field):
    """A command that is not safe on its own (runtime, expiry, valve) is refused."""
    with pytest.raises(ContractError) as e:
        _cmd(**over)
    assert e.value.field == field


def test_batch_envelope_and_items():
    """A batch keeps good items checkable one by one; a bad item names its index."""
    p = payload.make_uplink("soil-01", "soil", 1, T0, [payload.make_reading("vwc_pct", 20.0, depth_cm=10)], "0.1.0")
    good = batch.make_item(p, T0 + 5, ["clock_corrected"])
    bad = dict(good, seq=-3)
    b = batch.decode_batch(batch.encode_batch(batch.make_batch("s1", "gw-1", "gw-1-1", T0, [good, bad])))
    assert batch.validate_item(b["items"][0], 0) == (p, T0 + 5, ["clock_corrected"])
    with pytest.raises(ContractError) as e:
        batch.validate_item(b["items"][1], 1)
    assert e.value.field == "items.1.seq"
    with pytest.raises(ContractError, match="major version 3"):
        batch.validate_envelope(dict(b, v="3.1"))
    with pytest.raises(ContractError) as e:
        batch.validate_envelope(dict(b, sent_ms="yesterday"))
    assert e.value.field == "sent_ms"


def test_gap_reports_are_checked_and_named_by_index():
    """A batch's gap reports come back as sent; a bad one is refused naming gaps.<index>.<field>."""
    gap = batch.make_gap("gw-1-7", "soil-01", batch.GAP_QUOTA, 65, [[0, 60], [62, 65]], T0, T0 + 90_000)
    unattributed = batch.make_gap("gw-1-8", None, batch.GAP_QUARANTINE, 1, [], T0, T0)
    b = dict(batch.make_batch("s1", "gw-1", "gw-1-1", T0, []), gaps=[gap, unattributed])
    assert batch.validate_gaps(batch.decode_batch(batch.encode_batch(b))) == [gap, unattributed]
    assert batch.validate_gaps(batch.make_batch("s1", "gw-1", "gw-1-1", T0, [])) == []
    for field, value in (("reason", "bored"), ("count", 0), ("seqs", [[5, 4]]), ("seqs", [[1]]), ("node", "A!"),
                         ("last_ms", T0 - 1), ("id", ""), ("seqs", [[0, 1]] * 65)):
        with pytest.raises(ContractError) as e:
            batch.validate_gaps(dict(b, gaps=[gap, dict(gap, **{field: value})]))
        assert e.value.field.startswith("gaps.1.%s" % field)


def test_a_receipt_round_trips_and_a_bad_one_names_its_field():
    """A receipt decodes to what was made; a wrong status or batch id is refused by name."""
    r = batch.make_receipt("gw-1-1", batch.RECEIPT_STORED, 500, 2, 1)
    assert batch.decode_receipt(batch.encode_receipt(r)) == r
    refused = batch.make_receipt("gw-1-2", batch.RECEIPT_REFUSED, reason="gateway: claims another")
    assert batch.decode_receipt(batch.encode_receipt(refused)) == refused
    for field, value in (("status", "lost"), ("batch_id", ""), ("items", -1)):
        with pytest.raises(ContractError) as e:
            batch.decode_receipt(batch.encode_receipt(dict(r, **{field: value})))
        assert e.value.field == field
    with pytest.raises(ContractError) as e:
        batch.decode_receipt(b"[[[")
    assert e.value.field == "receipt"


def _sorted(readings):
    return sorted(readings, key=lambda r: (r["name"], r.get("depth_cm", -1), r.get("channel", -1)))


ROLE_READINGS = {
    "soil": [payload.make_reading("vwc_pct", 31.25, depth_cm=10), payload.make_reading("vwc_pct", 28.5, depth_cm=30),
             payload.make_reading("soil_temp_c", -3.5, depth_cm=10),
             payload.make_reading("soil_temp_c", fault="disconnected", depth_cm=30),
             payload.make_reading("soil_raw", 41234, depth_cm=10)],
    "weather": [payload.make_reading("air_temp_c", 24.31), payload.make_reading("rh_pct", 55.2),
                payload.make_reading("pressure_kpa", 101.32), payload.make_reading("rain_mm", 0.4),
                payload.make_reading("wind_ms", 3.1), payload.make_reading("wind_dir_deg", 271.5),
                payload.make_reading("rs_w_m2", 812.3), payload.make_reading("leaf_wet_pct", fault="not_ready")],
    "irrigation": [payload.make_reading("valve_open", 1, channel=1), payload.make_reading("valve_open", 0, channel=2),
                   payload.make_reading("flow_l_min", 42.5), payload.make_reading("volume_l", 123456.7),
                   payload.make_reading("line_pressure_kpa", 250.0)],
    "pest": [payload.make_reading("trap_count", 3, channel=1), payload.make_reading("trap_count", 0, channel=2)],
}


@pytest.mark.parametrize("role", sorted(ROLES))
def test_modbus_register_map_round_trips_every_role(role):
    """A report written to a role's input-register image decodes back to the same
    report (readings in map order, time to the whole second)."""
    p = payload.make_uplink("node-1", role, 70000, T0 + 42_000, ROLE_READINGS[role], "1.2.3", bat_v=3.301, rssi_dbm=-71)
    regs = modbus_map.encode_inputs(role, p["seq"], p["ts_ms"], p["fw"], p["readings"], p["bat_v"], p["rssi_dbm"])
    assert len(regs) == modbus_map.INPUT_COUNT and all(0 <= r <= 0xFFFF for r in regs)
    back = modbus_map.decode_inputs("node-1", regs)
    assert _sorted(back["readings"]) == _sorted(p["readings"])
    assert {k: v for k, v in back.items() if k != "readings"} == {k: v for k, v in p.items() if k != "readings"}


def test_modbus_map_starts_at_address_zero_with_version_and_role():
    """Register 0 holds the contract version and register 1 the role, so a
    technician's mbpoll read of reference 1 identifies the node."""
    regs = modbus_map.encode_inputs("weather", 1, T0, "0.1.0", [])
    assert regs[0] == 0x0106 and regs[1] == ROLES["weather"]  # contract 1.6


def test_modbus_unknown_major_refused():
    """A node speaking contract major 2 over Modbus is refused by name of the register."""
    regs = modbus_map.encode_inputs("soil", 1, T0, "0.1.0", [])
    regs[0] = 0x0200
    with pytest.raises(ContractError) as e:
        modbus_map.decode_inputs("soil-01", regs)
    assert e.value.field == "input_register.0"


@settings(max_examples=500, deadline=None)
@given(st.lists(st.integers(0, 0xFFFF), min_size=112, max_size=112))
def test_modbus_decoder_never_crashes_on_any_image(regs):
    """Any register image either decodes or raises ContractError."""
    try:
        modbus_map.decode_inputs("n1", regs)
    except ContractError:
        pass


def test_modbus_image_before_first_report_is_not_a_report():
    """An all-zero image (a node powered up but not yet reported) is told apart
    from a report of another contract version."""
    assert not modbus_map.has_report([0] * modbus_map.INPUT_COUNT)
    assert modbus_map.has_report(modbus_map.encode_inputs("soil", 0, T0, "0.1.0", []))


@pytest.mark.parametrize("volume", [float("nan"), float("inf"), -1.0, True])
def test_ack_volume_must_be_finite(volume):
    """An ack's volume must be a finite non-negative number: NaN or infinity
    would encode as invalid JSON."""
    with pytest.raises(ContractError) as e:
        commands.make_ack("c-1", "irr-01", commands.ACK_COMPLETED, T0, volume_l=volume)
    assert e.value.field == "volume_l"
