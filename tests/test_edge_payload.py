"""The uplink payload contract: both encodings round-trip every role, and bad
input is refused with an error naming the field."""

import json
import math
import sys

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from furrow.edge import CONTRACT_VERSION, payload
from furrow.edge.batch import validate_item
from furrow.edge.errors import ContractError
from furrow.edge.measurements import FAULTS, MEASUREMENTS, ROLES, measurements_of_role

ids = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=32)


@st.composite
def readings_of(draw, role):
    names = measurements_of_role(role)
    out = []
    seen = set()
    for _ in range(draw(st.integers(0, 12))):
        name = draw(st.sampled_from(names))
        _code, _unit, lo, hi, decimals, _role = MEASUREMENTS[name]
        kwargs = {}
        if role == "soil":
            kwargs["depth_cm"] = draw(st.integers(0, 1000))
        elif name in ("valve_open", "trap_count"):
            kwargs["channel"] = draw(st.integers(1, 254))
        if draw(st.booleans()):
            kwargs["fault"] = draw(st.sampled_from(sorted(FAULTS)))
        else:
            kwargs["value"] = draw(st.floats(lo, hi, allow_nan=False))
        key = (name, kwargs.get("depth_cm"), kwargs.get("channel"))
        if key not in seen:
            seen.add(key)
            out.append(payload.make_reading(name, **kwargs))
    return out


@st.composite
def uplinks(draw, role=None):
    role = role or draw(st.sampled_from(sorted(ROLES)))
    return payload.make_uplink(
        node=draw(ids),
        role=role,
        seq=draw(st.integers(0, payload.SEQ_MAX)),
        ts_ms=draw(st.integers(0, payload.TS_MS_MAX)),
        readings=draw(readings_of(role)),
        fw="%d.%d.%d" % tuple(draw(st.integers(0, 255)) for _ in range(3)),
        bat_v=draw(st.none() | st.floats(0, 65.535, allow_nan=False)),
        rssi_dbm=draw(st.none() | st.integers(-128, 0)),
    )


@pytest.mark.parametrize("role", sorted(ROLES))
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_json_round_trip_every_role(role, data):
    """decode(encode_json(p)) == p for generated payloads of each role."""
    p = data.draw(uplinks(role))
    assert payload.decode(payload.encode_json(p)) == p


@pytest.mark.parametrize("role", sorted(ROLES))
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_binary_round_trip_every_role(role, data):
    """decode(encode_binary(p)) == p for generated payloads of each role."""
    p = data.draw(uplinks(role))
    assert payload.decode(payload.encode_binary(p)) == p


def _soil():
    return payload.make_uplink(
        "soil-01",
        "soil",
        7,
        1_767_225_600_000,
        [payload.make_reading("vwc_pct", 23.4, depth_cm=10)],
        "0.1.0",
        bat_v=3.7,
        rssi_dbm=-60,
    )


def test_binary_is_compact():
    """A one-reading soil report fits in well under 64 bytes in binary."""
    assert len(payload.encode_binary(_soil())) < 64


def test_unknown_major_version_refused_with_clear_error():
    """A payload of contract major 2 is refused, naming the field and what to do."""
    raw = json.loads(payload.encode_json(_soil()))
    raw["v"] = "2.0"
    with pytest.raises(ContractError) as e:
        payload.decode(json.dumps(raw).encode())
    assert e.value.field == "v" and e.value.value == "2.0"
    assert "major version 2" in str(e.value) and "upgrade" in str(e.value)


def test_newer_minor_version_accepted_and_unknown_keys_dropped():
    """A newer minor (1.7) with an extra key decodes to a canonical 1.0 payload."""
    raw = json.loads(payload.encode_json(_soil()))
    raw["v"] = "1.7"
    raw["future_key"] = 1
    p = payload.decode(json.dumps(raw).encode())
    assert p == _soil() and p["v"] == CONTRACT_VERSION


def test_binary_unknown_major_refused():
    """The binary form carries the version too, and major 2 is refused."""
    b = bytearray(payload.encode_binary(_soil()))
    b[1] = 0x20
    from furrow.edge.crc import crc16_modbus

    b[-2:] = crc16_modbus(bytes(b[:-2])).to_bytes(2, "little")
    with pytest.raises(ContractError, match="major version 2"):
        payload.decode(bytes(b))


def test_binary_corruption_detected_by_crc():
    """Flipping any single byte of a binary payload is caught (CRC or framing)."""
    good = payload.encode_binary(_soil())
    for i in range(len(good)):
        bad = bytearray(good)
        bad[i] ^= 0x5A
        with pytest.raises(ContractError):
            payload.decode(bytes(bad))


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda p: p.update(seq=-1), "seq"),
        (lambda p: p.update(seq="7"), "seq"),
        (lambda p: p.update(node="Soil 01"), "node"),
        (lambda p: p.update(role="drone"), "role"),
        (lambda p: p.update(fw="1.0"), "fw"),
        (lambda p: p.update(ts_ms=1.5), "ts_ms"),
        (lambda p: p.update(ts_ms=2**62), "ts_ms"),
        (lambda p: p["readings"].append(dict(p["readings"][0])), "readings.1"),
        (lambda p: p.update(rssi_dbm=20), "rssi_dbm"),
        (lambda p: p["readings"][0].update(value=140.0), "readings.0.value"),
        (lambda p: p["readings"][0].update(unit="m3/m3"), "readings.0.unit"),
        (lambda p: p["readings"][0].update(name="rain_mm", unit="mm"), "readings.0.name"),
        (lambda p: p["readings"][0].update(name="vwc"), "readings.0.name"),
        (lambda p: p["readings"][0].update(value=None), "readings.0.value"),
        (lambda p: p["readings"][0].update(fault="gremlins", value=None), "readings.0.fault"),
        (lambda p: p["readings"][0].update(depth_cm=-5), "readings.0.depth_cm"),
    ],
)
def test_invalid_payload_names_the_field(mutate, field):
    """Each kind of bad value is refused with an error naming its field."""
    raw = json.loads(payload.encode_json(_soil()))
    mutate(raw)
    with pytest.raises(ContractError) as e:
        payload.decode(json.dumps(raw).encode())
    assert e.value.field == field
    assert field in str(e.value)


@pytest.mark.parametrize("data", [b"", b"{", b"[]", b"null", b"\xf7\x10", "é".encode("latin-1")])
def test_garbage_is_a_contract_error_not_a_crash(data):
    """Empty, truncated or non-object input raises ContractError, nothing else."""
    with pytest.raises(ContractError):
        payload.decode(data)


@settings(max_examples=2000, deadline=None)
@given(st.binary(max_size=200))
def test_decoder_never_raises_anything_but_contract_error(data):
    """Arbitrary bytes either decode or raise ContractError (never another exception)."""
    try:
        payload.decode(data)
    except ContractError:
        pass


def test_fault_reading_carries_no_value():
    """A sensor fault is reported as a fault code with value None, never a number."""
    r = payload.make_reading("soil_temp_c", fault="disconnected", depth_cm=30)
    assert r["value"] is None and r["fault"] == "disconnected"
    with pytest.raises(ContractError, match="carries no value"):
        payload.make_reading("soil_temp_c", 20.0, fault="disconnected", depth_cm=30)


# Floats at the edges a sensor, a driver bug or a hostile client can put in a payload. Python's json
# reads NaN, Infinity and -Infinity; orjson, which the gateway's buffer writes with (gateway/buffer.py),
# would write NaN and the infinities as null, so none of them may get past decoding.
_EDGE_FLOATS = (st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=True)
                | st.sampled_from([math.nan, -math.nan, math.inf, -math.inf, -0.0, 0.0, 5e-324, -5e-324,
                                   sys.float_info.max, -sys.float_info.max, 65.535, math.nextafter(65.535, 99),
                                   -50.0, math.nextafter(-50.0, -99), 70.0, math.nextafter(70.0, 99)]))


@settings(max_examples=300, deadline=None)
@given(value=_EDGE_FLOATS, where=st.sampled_from(["value", "bat_v"]))
def test_edge_floats_round_trip_through_the_gateway_buffer_or_are_refused_naming_the_field(value, where):
    """A NaN, an infinity, a subnormal, -0.0 or a float just past a range, as a weather reading's value
    (air_temp_c, -50..70) or as bat_v (0..65.535): decoded, it is a finite number in range that the
    gateway's orjson buffer row and the cloud's item check give back unchanged; otherwise decoding and
    the cloud's item check both refuse it with a ContractError naming the field."""
    up = {"v": CONTRACT_VERSION, "node": "wx-01", "role": "weather", "seq": 1, "ts_ms": 1_767_225_600_000,
          "fw": "0.1.0", "bat_v": 3.7, "rssi_dbm": -60, "readings": [{"name": "air_temp_c", "value": 21.5}]}
    if where == "value":
        up["readings"][0]["value"] = value
        field, lo, hi = "readings.0.value", -50.0, 70.0
    else:
        up["bat_v"] = value
        field, lo, hi = "bat_v", 0.0, 65.535
    data = json.dumps(up).encode()  # NaN and the infinities as the NaN/Infinity tokens json.loads reads
    storable = math.isfinite(value) and lo <= value <= hi
    try:
        got = payload.decode(data)
    except ContractError as e:
        assert not storable, (value, e)
        assert e.field == field and (e.value == value or (e.value != e.value and value != value)), (e.field, e.value)
        with pytest.raises(ContractError) as cloud:
            validate_item({**up, "rx_ms": None}, 3)
        assert cloud.value.field == "items.3." + field
        return
    assert storable, (value, got)
    stored = got["readings"][0]["value"] if where == "value" else got["bat_v"]
    assert math.isfinite(stored) and lo <= stored <= hi
    row = orjson.dumps(got)  # the gateway's buffer row, forwarded as it is
    assert orjson.loads(row) == got == payload.decode(row)
    assert validate_item({**orjson.loads(row), "rx_ms": None}, 0)[0] == got


# The gateway's decoder (gateway/uplink_decode.py: orjson and a one-pass check, CPython only) must give
# the contract's answer on every input: the same canonical report, to the byte of the buffer row that
# is forwarded, or the same ContractError with the same field, value and reason.
def _outcome(decoder, raw):
    try:
        got = decoder(raw)
    except ContractError as e:
        return ("refused", e.field, repr(e.value), str(e))
    return ("stored", orjson.dumps(got))  # tells 1 from 1.0 and -0.0 from 0.0, keeps key order


_json_values = st.recursive(
    st.none() | st.booleans() | st.text(max_size=12)
    | st.integers(-(2**70), 2**70) | st.integers(-300, 300)
    | st.floats(allow_nan=True, allow_infinity=True) | st.floats(-200, 200)
    | st.sampled_from(sorted(MEASUREMENTS) + sorted(FAULTS) + sorted(ROLES) + ["%", "degC", "1.6", "2.0", "0.1.0"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)
_TOP_KEYS = ["v", "node", "role", "seq", "ts_ms", "fw", "bat_v", "rssi_dbm", "readings", "extra"]
_READING_KEYS = ["name", "value", "unit", "depth_cm", "channel", "fault", "extra"]


@st.composite
def _altered_reports(draw):
    """A valid report, then up to three changes: a key (top-level or a reading's) set to any JSON value
    or removed, a reading renamed to any measurement with that measurement's unit (another role's, so
    only the role is wrong), or a reading repeated; written as json.dumps writes it (NaN and Infinity
    tokens included)."""
    up = json.loads(json.dumps(draw(uplinks())))
    for _ in range(draw(st.integers(0, 3))):
        readings = up.get("readings")
        reading = draw(st.sampled_from(readings)) if isinstance(readings, list) and readings else None
        change = draw(st.sampled_from(["top", "reading", "rename", "repeat", "remove"]))
        if change == "rename" and isinstance(reading, dict):
            name = draw(st.sampled_from(sorted(MEASUREMENTS)))
            reading.update(name=name, unit=MEASUREMENTS[name][1])
        elif change == "repeat" and reading is not None:
            readings.append(reading)
        elif change == "reading" and isinstance(reading, dict):
            reading[draw(st.sampled_from(_READING_KEYS))] = draw(_json_values)
        elif change == "remove":
            target = reading if isinstance(reading, dict) and draw(st.booleans()) else up
            target.pop(draw(st.sampled_from(_READING_KEYS if target is reading else _TOP_KEYS)), None)
        else:
            up[draw(st.sampled_from(_TOP_KEYS))] = draw(_json_values)
    return json.dumps(up).encode()


@settings(max_examples=300, deadline=None)
@given(raw=_altered_reports())
def test_gateway_decoder_agrees_with_the_contract_on_altered_reports(raw):
    """On valid reports and on reports with keys set to any JSON value (NaN, infinities, integers past
    64 bits, booleans, nested objects) or removed, the gateway's decoder stores or refuses exactly as
    the contract does: the same row bytes, or the same field, value and reason."""
    from furrow.gateway.uplink_decode import decode_uplink

    assert _outcome(decode_uplink, raw) == _outcome(payload.decode, raw)


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_gateway_decoder_agrees_with_the_contract_on_numbers_as_written(data):
    """A reading's value, bat_v, seq and depth written in any JSON number form (1e1, 10.0, -0, -0.0,
    17 significant digits, an integer past 64 bits): both decoders read the same number."""
    from furrow.gateway.uplink_decode import decode_uplink

    number = data.draw(st.floats(-1e3, 1e3) | st.floats(allow_infinity=False, allow_nan=False)
                       | st.integers(-300, 300) | st.integers(-(2**66), 2**66))
    if isinstance(number, int):
        text = data.draw(st.sampled_from(["%d", "%d.0", "%de0", "%dE+1"])) % number
    else:
        text = data.draw(st.sampled_from(["%r", "%.17g", "%e", "%.1f", "%.0e"])) % number
    where = data.draw(st.sampled_from(["value", "bat_v", "seq", "depth_cm", "rssi_dbm"]))
    base = '{"v": "1.6", "node": "s-1", "role": "soil", "seq": 5, "ts_ms": 1767225600000, "fw": "0.1.0", ' \
           '"bat_v": %s, "rssi_dbm": %s, "readings": [{"name": "vwc_pct", "depth_cm": %s, "value": %s}]}'
    fields = {"bat_v": "3.7", "rssi_dbm": "-60", "depth_cm": "10", "value": "21.5", "seq": None}
    fields[where] = text
    raw = base % (fields["bat_v"], fields["rssi_dbm"], fields["depth_cm"], fields["value"])
    if where == "seq":
        raw = raw.replace('"seq": 5', '"seq": ' + text)
    assert _outcome(decode_uplink, raw.encode()) == _outcome(payload.decode, raw.encode())


@settings(max_examples=800, deadline=None)
@given(st.binary(max_size=200) | st.text(max_size=120).map(str.encode))
def test_gateway_decoder_agrees_with_the_contract_on_any_bytes(raw):
    """Arbitrary bytes and text: the gateway's decoder refuses (or accepts) exactly as the contract."""
    from furrow.gateway.uplink_decode import decode_uplink

    assert _outcome(decode_uplink, raw) == _outcome(payload.decode, raw)


def _valve(**changes):
    reading = {"name": "valve_open", "value": 1, "channel": 3, **changes}
    return {"v": "1.6", "node": "valve-1", "role": "irrigation", "seq": 9, "ts_ms": 1_767_225_600_000, "fw": "1.2.3",
            "bat_v": None, "rssi_dbm": None, "readings": [{k: v for k, v in reading.items() if v is not ...}]}


@pytest.mark.parametrize("report", [
    _valve(), _valve(channel=1), _valve(channel=254), _valve(channel=0), _valve(channel=255), _valve(channel=None),
    _valve(channel=True), _valve(channel=3.0), _valve(value=True), _valve(value=0.4), _valve(value=1.5),
    _valve(value=None, fault="disconnected"), _valve(value=1, fault="disconnected"), _valve(value=0, fault="x"),
    _valve(fault=None), _valve(fault=["disconnected"], value=None), _valve(unit="state"), _valve(unit=None),
    _valve(unit="%"), _valve(name="vwc_pct", unit="%"), _valve(name=["valve_open"]), _valve(value=...),
    {**_valve(), "v": "1.99"}, {**_valve(), "v": "2.0"}, {**_valve(), "v": 1.6}, {**_valve(), "v": ["1.6"]},
    {**_valve(), "node": "Valve-1"}, {**_valve(), "node": "v" * 33}, {**_valve(), "node": {"a": 1}},
    {**_valve(), "fw": "1.2.256"}, {**_valve(), "fw": "1.2"}, {**_valve(), "seq": -1}, {**_valve(), "seq": 2**32},
    {**_valve(), "ts_ms": True}, {**_valve(), "bat_v": 65.5355}, {**_valve(), "bat_v": 0}, {**_valve(), "bat_v": False},
    {**_valve(), "rssi_dbm": 1}, {**_valve(), "rssi_dbm": -60.0}, {**_valve(), "readings": {}},
    {**_valve(), "readings": []}, {**_valve(), "role": "drone", "readings": []}, {**_valve(), "role": "soil"},
    {**_valve(), "readings": [_valve()["readings"][0]] * 2}, {**_valve(), "readings": [1]},
    {**_valve(), "readings": [{"name": "valve_open", "value": 1, "channel": c} for c in range(1, 66)]},
])
def test_gateway_decoder_agrees_with_the_contract_on_edge_cases(report):
    """Each boundary and wrong type the contract checks (channel 0/1/254/255, a fault with a value, a
    unit or role that does not match, bool for int, 65 readings, unknown major version, ...): the
    gateway's decoder stores or refuses exactly as the contract does."""
    from furrow.gateway.uplink_decode import decode_uplink

    raw = json.dumps(report).encode()
    assert _outcome(decode_uplink, raw) == _outcome(payload.decode, raw)
