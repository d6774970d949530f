"""Ingest without a Reading per value: `Reports` and its line protocol, and the orjson decode,
each against what it replaces, over generated input (hypothesis)."""

from __future__ import annotations

import json
import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from furrow.cloud.ingest import decode, flatten
from furrow.cloud.storage import Reports
from furrow.cloud.storage.lineprotocol import report_lines, to_line, to_lines
from furrow.edge.batch import decode_batch, make_batch, make_item, validate_item
from furrow.edge.errors import ContractError
from furrow.edge.measurements import MEASUREMENTS
from furrow.edge.payload import make_reading, make_uplink
from tests.cloud_support import T0

NAMES = sorted(MEASUREMENTS)


@st.composite
def reading(draw: st.DrawFn, role: str) -> dict | None:
    name = draw(st.sampled_from([n for n in NAMES if MEASUREMENTS[n][5] == role] or NAMES))
    _code, _unit, low, high, _digits, _role = MEASUREMENTS[name]
    where = draw(st.sampled_from(["depth", "channel", "none"]))
    depth = draw(st.integers(0, 300)) if where == "depth" else None
    channel = draw(st.integers(1, 254)) if where == "channel" else None
    try:
        if draw(st.integers(0, 5)) == 0:
            return make_reading(name, None, depth_cm=depth, channel=channel,
                                fault=draw(st.sampled_from(["disconnected", 'odd "fault"\\', "crc, bad=1"])))
        return make_reading(name, draw(st.floats(low, high, allow_nan=False, allow_infinity=False)),
                            depth_cm=depth, channel=channel)
    except ContractError:
        return None


@st.composite
def report(draw: st.DrawFn) -> tuple[str, str, dict | None, int | None, list[str]]:
    """(site, gateway, uplink, rx_ms, flags) as validate_item gives them (uplink None: the
    generated report broke the contract)."""
    role = draw(st.sampled_from(["soil", "weather", "irrigation"]))
    readings = [r for r in draw(st.lists(reading(role), max_size=6)) if r is not None]
    seq = draw(st.integers(0, 3_000_000))
    ts = T0 + draw(st.integers(-10**9, 10**9))
    node = draw(st.sampled_from(["soil-01", "a_b-c", "w-1"]))
    rx = draw(st.none() | st.integers(ts, ts + 10**6))
    flags = draw(st.lists(st.sampled_from(["late", "clock_corrected", 'q"uote']), max_size=2))
    site, gateway = draw(st.sampled_from([("demo", "gw-1"), ("far", "gw 2,x=y")]))
    try:
        uplink = make_uplink(node, role, seq, ts, readings, "0.1.0", bat_v=3.7)
        checked, rx_ms, flags = validate_item(make_item(uplink, rx, flags), 0)
    except ContractError:
        return site, gateway, None, None, []
    return site, gateway, checked, rx_ms, flags


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(report(), max_size=5), min_size=1, max_size=3))
def test_reports_give_flattens_readings_and_to_lines_lines(batches):
    """Reports (ingest's validated reports, kept as they are) yield exactly the Readings
    `flatten` makes, in order, and `report_lines` formats exactly `to_lines`'s lines (and
    `to_line`'s) for them, merged batches too; `late` finds what the readings would."""
    parts = []
    for reports in batches:
        part = Reports()
        expected = []
        for site, gateway, uplink, rx_ms, flags in reports:
            if uplink is None:
                continue
            part.add(site, gateway, uplink, rx_ms, flags)
            expected += flatten(site, gateway, uplink, rx_ms, flags)
        assert list(part) == expected and len(part) == len(expected)
        parts.append(part)
    merged = Reports.join(parts)
    readings = list(merged)
    assert len(merged) == len(readings)
    lines = report_lines(merged)
    assert lines == to_lines(readings) == [to_line(r) for r in readings]
    cut = T0
    old = [r for r in readings if r.ts_ms < cut]
    assert merged.late(cut) == ((min(r.ts_ms for r in old), max(r.ts_ms for r in old), sorted({r.node for r in old}))
                                if old else None)


def _canonical(x: object) -> object:
    """A value with its JSON type kept (True is not 1, 1.0 is not 1, -0.0 is not 0.0)."""
    if isinstance(x, bool) or x is None:
        return x
    if isinstance(x, int):
        return ("int", x)
    if isinstance(x, float):
        return ("float", repr(x))
    if isinstance(x, str):
        return ("str", x)
    if isinstance(x, list):
        return [_canonical(v) for v in x]
    if isinstance(x, dict):
        return {k: _canonical(v) for k, v in x.items()}
    raise AssertionError(type(x))


def _outcome(fn, data: bytes) -> object:
    try:
        return _canonical(fn(data))
    except ContractError as e:
        return ("refused", e.field, repr(e.value), e.reason)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.integers(-2**64 - 5, 2**64 + 5)
    | st.floats() | st.text() | st.characters(codec=None).map(lambda c: c + "\ud800"),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=120, deadline=None)
@given(JSON_VALUES, st.sampled_from(["items", "doc", "bytes"]), st.binary(max_size=8), st.integers(0, 200))
def test_the_orjson_decode_agrees_with_the_contracts_decode_batch(value, where, noise, at):
    """`decode` (orjson, CPython) and the contract's `decode_batch` (json) give the same batch,
    with the same types, or refuse it with the same error: over generated JSON values as a
    batch's items, as a whole document, and with random bytes spliced in. NaN, infinities,
    integers past 64 bits (orjson makes floats of them), lone surrogates and text that is not
    UTF-8 are among them."""
    if where == "doc":
        data = json.dumps(value).encode()
    else:
        good = make_batch("demo", "gw-1", "gw-1-000001", T0, [])
        good["items"] = value if isinstance(value, list) else [value]
        data = json.dumps(good, ensure_ascii=where == "items").encode("utf-8", "surrogatepass")
        if where == "bytes":
            at = min(at, len(data))
            data = data[:at] + noise + data[at:]
    assert _outcome(decode, data) == _outcome(decode_batch, data)


def test_the_orjson_decode_takes_what_orjson_refuses_as_the_contract_does():
    """Cases orjson alone would read otherwise, each decoded as the contract does."""
    base = json.dumps(make_batch("demo", "gw-1", "gw-1-000001", T0, []))
    for item in ("NaN", "-Infinity", "1e400", "18446744073709551616", "-9223372036854775809", '"\\ud800"'):
        data = base.replace('"items": []', f'"items": [{item}]').encode()
        got = decode(data)["items"][0]
        want = decode_batch(data)["items"][0]
        assert type(got) is type(want) and (got == want or math.isnan(got) and math.isnan(want)), item
    assert type(decode(base.replace('"items": []', '"items": [18446744073709551616]').encode())["items"][0]) is int
