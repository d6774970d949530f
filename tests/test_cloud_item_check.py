"""The cloud's one-pass item check (``furrow.uplink_check.check_item`` in ``ingest.check_items``) agrees
with the contract (``edge.batch.validate_item``) on every item: the same accepted reports, to the byte,
the same readings, and the same refusals naming the same field, value and reason."""

import json

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from furrow.cloud.errors import printable
from furrow.cloud.ingest import Rejection, check_items, decode, flatten
from furrow.edge.batch import encode_batch, make_batch, make_item, validate_item
from furrow.edge.errors import ContractError
from furrow.edge.measurements import MEASUREMENTS
from furrow.edge.position import POSITIONS_KIND
from furrow.uplink_check import check_item
from tests.test_edge_payload import _json_values, uplinks

_TOP_KEYS = ["v", "node", "role", "seq", "ts_ms", "fw", "bat_v", "rssi_dbm", "readings", "rx_ms", "flags", "kind",
             "extra"]
_READING_KEYS = ["name", "value", "unit", "depth_cm", "channel", "fault", "extra"]
_FLAGS = st.lists(st.sampled_from(["clock_corrected", "late", "x"]) | st.text(max_size=4), max_size=10)


@st.composite
def _items(draw):
    """A valid report item (rx_ms and flags as a gateway sets them), then up to three changes: a key of
    the item or of a reading set to any JSON value or removed, a reading renamed to another role's
    measurement, a reading repeated, or the item made a positions item by its kind."""
    rx_ms = draw(st.none() | st.integers(0, 2**53))
    item = json.loads(json.dumps(make_item(draw(uplinks()), rx_ms, draw(st.lists(st.sampled_from(
        ["clock_corrected", "late"]), max_size=2)))))
    for _ in range(draw(st.integers(0, 3))):
        readings = item.get("readings")
        reading = draw(st.sampled_from(readings)) if isinstance(readings, list) and readings else None
        change = draw(st.sampled_from(["top", "reading", "rename", "repeat", "remove", "flags", "kind"]))
        if change == "rename" and isinstance(reading, dict):
            name = draw(st.sampled_from(sorted(MEASUREMENTS)))
            reading.update(name=name, unit=MEASUREMENTS[name][1])
        elif change == "repeat" and reading is not None:
            readings.append(reading)
        elif change == "reading" and isinstance(reading, dict):
            reading[draw(st.sampled_from(_READING_KEYS))] = draw(_json_values)
        elif change == "remove":
            target = reading if isinstance(reading, dict) and draw(st.booleans()) else item
            target.pop(draw(st.sampled_from(_READING_KEYS if target is reading else _TOP_KEYS)), None)
        elif change == "flags":
            item["flags"] = draw(_FLAGS | _json_values)
        elif change == "kind":
            item["kind"] = draw(st.sampled_from([POSITIONS_KIND, "report"]))
        else:
            item[draw(st.sampled_from(_TOP_KEYS))] = draw(_json_values)
    return item


def _contract(items: list, keeps_tracks: bool) -> tuple[list, list[Rejection]]:
    """What ingest did before the one-pass check: the contract on each item."""
    checked, rejected = [], []
    for index, item in enumerate(items):
        try:
            uplink, rx_ms, flags = validate_item(item, index)
            if uplink.get("kind") == POSITIONS_KIND and not keeps_tracks:
                raise ContractError(f"items.{index}.kind", "positions", "this cloud keeps no tracks")
        except ContractError as e:
            rejected.append(Rejection(index, e.field, printable(e.value), e.reason))
            continue
        checked.append((index, uplink, rx_ms, flags))
    return checked, rejected


def _same(got: tuple[list, list[Rejection]], want: tuple[list, list[Rejection]]) -> None:
    # orjson's bytes tell 1 from 1.0 and -0.0 from 0.0 and keep key order; repr tells NaN apart
    assert orjson.dumps(got[0]) == orjson.dumps(want[0])
    assert [repr(r) for r in got[1]] == [repr(r) for r in want[1]]
    readings = [orjson.dumps(flatten("s", "gw", u, rx, f)) for _, u, rx, f in got[0] if "readings" in u]
    assert readings == [orjson.dumps(flatten("s", "gw", u, rx, f)) for _, u, rx, f in want[0] if "readings" in u]


@settings(max_examples=400, deadline=None)
@given(items=st.lists(_items(), min_size=1, max_size=6), keeps_tracks=st.booleans())
def test_a_batch_of_generated_items_is_checked_as_the_contract_checks_it(items, keeps_tracks):
    """Valid items and items with any key set to any JSON value (NaN, infinities, integers past 64 bits,
    booleans, nested objects) or removed, written as a gateway writes them and read back as ingest reads
    them: `check_items` accepts the same reports with the same readings and refuses the same items with
    the same field, value and reason as the contract item by item."""
    raw = encode_batch(make_batch("s", "gw", "gw-1", 1_767_225_600_000, items))
    parsed = decode(raw)["items"]
    _same(check_items(parsed, keeps_tracks), _contract(parsed, keeps_tracks))


@settings(max_examples=400, deadline=None)
@given(item=_items())
def test_the_one_pass_check_accepts_only_what_the_contract_accepts_and_gives_its_form(item):
    """`check_item` either defers (None) or gives exactly the contract's (uplink, rx_ms, flags)."""
    fast = check_item(item)
    if fast is None:
        return
    assert orjson.dumps(fast) == orjson.dumps(validate_item(item, 0))


def test_the_one_pass_check_takes_the_common_item_and_defers_the_rest():
    """The check is not a pass-through: a gateway's ordinary item is taken in one pass, and each kind of
    doubt (a bad value, a positions item, bad flags, a negative rx_ms) is left to the contract."""
    item = json.loads(json.dumps(make_item({"v": "1.6", "node": "soil-01", "role": "soil", "seq": 4,
                                            "ts_ms": 1_767_225_600_000, "fw": "0.1.0", "bat_v": 3.7,
                                            "rssi_dbm": -70, "readings": [{"name": "vwc_pct", "unit": "%",
                                                                           "depth_cm": 10, "value": 23.4}]},
                                           1_767_225_600_500, ["clock_corrected"])))
    assert check_item(item) == validate_item(item, 0)
    for change in ({"rx_ms": -1}, {"flags": [1]}, {"flags": ["a"] * 9}, {"kind": POSITIONS_KIND},
                   {"seq": True}, {"readings": [{"name": "vwc_pct", "value": 123.0}]}):
        assert check_item({**item, **change}) is None, change
    checked, rejected = check_items([item, {**item, "seq": -1}])
    assert [c[0] for c in checked] == [0]
    assert rejected == [Rejection(1, "items.1.seq", -1, "must be an integer 0..4294967295")]
