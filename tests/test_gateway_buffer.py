"""The durable buffer: stored once, forwarded in order, and still there after a SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

import furrow.gateway.buffer as buffer_module
from furrow.edge.batch import make_item
from furrow.gateway import DurableBuffer, Item, Quarantined
from furrow.gateway.quality import QualityChecker
from tests.gateway_support import soil_uplink, valve_uplink
from tests.test_edge_payload import uplinks

WAIT = 15.0


@pytest.fixture
def buf(tmp_path):
    with DurableBuffer(tmp_path / "buffer.sqlite") as b:
        yield b


def test_batches_come_oldest_first_as_batch_items(buf):
    """next_batch returns the oldest rows first, each an uplink plus rx_ms and flags."""
    buf.put_many([Item(soil_uplink("a", s), 1000 + s, ["late"]) for s in (5, 3, 9)])
    rows = buf.next_batch(2)
    assert [item["seq"] for _, item in rows] == [5, 3]
    assert rows[0][1]["rx_ms"] == 1005 and rows[0][1]["flags"] == ["late"]
    assert rows[0][1]["readings"] == soil_uplink("a", 5)["readings"]


def test_forwarded_rows_leave_and_the_rest_stay(buf):
    """mark_forwarded drops exactly the acknowledged rows and counts them."""
    buf.put_many([Item(soil_uplink("a", s), 0) for s in range(5)])
    first = buf.next_batch(3)
    assert buf.mark_forwarded([rowid for rowid, _ in first]) == 3
    assert [item["seq"] for _, item in buf.next_batch(10)] == [3, 4]
    assert buf.pending() == 2
    assert buf.stats() == {
        "pending": 2,
        "received": 5,
        "duplicates": 0,
        "forwarded_total": 3,
        "quarantined": 0,
        "dropped": 0,
        "flooded": 0,
        "in_flight": 0,
        "gaps_unconfirmed": {},
    }


def test_same_node_and_seq_is_stored_once(buf):
    """A (node, seq) already buffered is ignored and counted as a duplicate."""
    assert buf.put_many([Item(soil_uplink("a", 1), 0), Item(soil_uplink("b", 1), 0)]) == 2
    assert buf.put_many([Item(soil_uplink("a", 1, vwc=50.0), 9), Item(soil_uplink("a", 2), 0)]) == 1
    assert buf.put_many([Item(soil_uplink("a", 2), 0), Item(soil_uplink("a", 2), 0)]) == 0
    stats = buf.stats()
    assert stats["pending"] == 3 and stats["duplicates"] == 3 and stats["received"] == 6
    first = {item["node"]: item for _, item in buf.next_batch(10) if item["seq"] == 1}
    assert first["a"]["readings"][0]["value"] == 23.4  # the first copy wins


def test_a_failed_put_many_stores_nothing(buf):
    """put_many is one transaction: when a row fails, none of the batch is stored."""
    too_big = dict(soil_uplink("a", 2), seq=2**63)  # SQLite integers are signed 64-bit (the JSON encoder takes it)
    with pytest.raises(OverflowError):
        buf.put_many([Item(soil_uplink("a", 1), 0), Item(too_big, 0)])
    assert buf.stats()["pending"] == 0 and buf.stats()["received"] == 0
    assert buf.put_many([Item(soil_uplink("a", 1), 0)]) == 1


def test_quarantine_keeps_reason_source_and_raw_bytes_newest_first(buf, monkeypatch):
    """Quarantined inputs keep raw bytes, source and reason; only the newest are kept."""
    monkeypatch.setattr(buffer_module, "QUARANTINE_KEEP", 3)
    for i in range(5):
        buf.quarantine(b"\x00bad%d" % i, "t/node/x/up", f"seq={i}: broken")
    buf.put_many([], [Quarantined(b"{", "modbus:h:1/2", "payload='{': not valid JSON")])
    rows = buf.quarantined()
    assert [r["raw"] for r in rows] == [b"{", b"\x00bad4", b"\x00bad3"]
    assert rows[0]["source"] == "modbus:h:1/2" and "not valid JSON" in rows[0]["reason"]
    assert buf.stats()["quarantined"] == 6


def test_counters_survive_reopening(tmp_path):
    """Counts and pending rows are on disk, not in memory."""
    path = tmp_path / "b.sqlite"
    with DurableBuffer(path) as b:
        b.put_many([Item(soil_uplink("a", s), 0) for s in (1, 1, 2)])
        b.mark_forwarded([b.next_batch(1)[0][0]])
    with DurableBuffer(path) as b:
        assert b.stats() == {
            "pending": 1,
            "received": 3,
            "duplicates": 1,
            "forwarded_total": 1,
            "quarantined": 0,
            "dropped": 0,
            "flooded": 0,
            "in_flight": 0,
            "gaps_unconfirmed": {},
        }


def test_buffer_is_wal_with_full_sync(buf):
    """Commits fsync the WAL (synchronous=FULL), so they survive a power cut, not only a crash."""
    db = sqlite3.connect(buf.path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()
    assert buf._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_concurrent_writers_lose_nothing(buf):
    """Writers on several threads (paho, Modbus, asyncio workers) all get their rows in."""

    def write(node: str) -> None:
        for seq in range(50):
            buf.put_many([Item(soil_uplink(node, seq), 0)])

    threads = [threading.Thread(target=write, args=(f"n{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT)
    assert buf.stats()["pending"] == 200


_WRITER = textwrap.dedent(
    """
    import sys
    from furrow.gateway.buffer import DurableBuffer, Item
    from tests.gateway_support import soil_uplink

    buf = DurableBuffer(sys.argv[1])
    seq = 0
    while True:
        buf.put_many([Item(soil_uplink("soil-01", seq + i), 0) for i in range(5)])
        print(seq + 4, flush=True)  # acknowledged: the commit returned
        seq += 5
    """
)


def test_every_acknowledged_row_survives_sigkill(tmp_path):
    """Rows whose put_many returned are all there after the writer is SIGKILLed mid-stream."""
    path = tmp_path / "killed.sqlite"
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(path)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    acknowledged = -1
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            acknowledged = int(line)
            if acknowledged >= 200:
                break
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(WAIT)
    assert acknowledged >= 200, "the writer never got going"
    with DurableBuffer(path) as b:
        seqs = {item["seq"] for _, item in b.next_batch(100_000)}
    assert set(range(acknowledged + 1)) <= seqs
    # Whatever landed past the last acknowledgement is whole batches only.
    assert len(seqs) % 5 == 0


def test_a_corrupt_file_is_moved_aside_and_its_readable_rows_salvaged(tmp_path):
    """Garbage over a page in the middle of the file (a bad SD block): the buffer starts anyway,
    keeps the corrupt file aside, salvages the readings it can still read, and takes new ones."""
    path = tmp_path / "b.sqlite"
    with DurableBuffer(path) as b:
        b.put_many([Item(soil_uplink("a", s), 0) for s in range(3000)])
        b._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    size = path.stat().st_size
    with path.open("r+b") as f:
        f.seek((size // 2) // 4096 * 4096)
        f.write(b"\xde\xad\xbe\xef" * 1024)  # one whole page
    with DurableBuffer(path) as b:
        rec = b.recovered
        pending = b.stats()["pending"]
        assert b.put_many([Item(soil_uplink("b", 1), 0)]) == 1
    assert rec is not None and Path(rec["moved_to"]).exists()
    assert 2000 < rec["salvaged"] < 3000 and pending == rec["salvaged"]


def test_quality_checker_flags_spikes_but_not_steady_values():
    """A moisture jump of more than half its range is a spike; a valve that stays closed is not
    stuck (stuck windows per measurement: test_gateway_stuck.py)."""
    check = QualityChecker()
    rx = 1_767_225_600_000 + 10**9
    assert check(soil_uplink("s", 1, vwc=20.0), rx) == []
    assert "spike:vwc_pct" in check(soil_uplink("s", 2, vwc=85.0), rx)
    assert check(soil_uplink("s", 3, vwc=85.0), rx) == []
    valve = [check(valve_uplink("v", i), rx) for i in range(20)]
    assert all(f == [] for f in valve)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(up=uplinks())
def test_every_valid_uplink_comes_back_from_the_buffer_exactly_as_stored(tmp_path, up):
    """The rows' JSON (orjson) gives back the same uplink the stdlib's json would, for every role and value."""
    with DurableBuffer(tmp_path / f"b-{uuid.uuid4().hex}.sqlite") as b:
        b.put_many([Item(up, 7, ["spike"])])
        ((_, item),) = b.next_batch(10)
    assert item == make_item(json.loads(json.dumps(up)), 7, ["spike"])



def test_a_buffer_file_from_before_relay_counts_keeps_them_across_reopening(tmp_path):
    """A file an older gateway wrote (no relay counts) takes the relay's counts beside its reading
    counters, and a reopened buffer reads them back without disturbing the others."""
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.executescript("CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);"
                     "INSERT INTO counters VALUES ('received', 7), ('forwarded', 7);")
    db.close()
    with DurableBuffer(path) as b:
        assert b.relay_counts() == {}
        for name in ("plans_refused", "refused:unsigned", "plans_refused"):
            b.count_relay(name)
    with DurableBuffer(path) as b:
        assert b.relay_counts() == {"plans_refused": 2, "refused:unsigned": 1}
        assert (b.stats()["received"], b.stats()["forwarded_total"]) == (7, 7)


def test_batch_items_spliced_as_json_are_the_bytes_of_the_parsed_items(tmp_path, buf):
    """next_batch_json gives each item's JSON spliced from the stored row (no parse, no encode): the
    very bytes orjson writes for next_batch's item, for reports with flags, a clock-corrected report
    (ts_node_ms), fault readings and a tracker's positions item; and the forwarder's batch joined from
    them (encode_items) is byte for byte the batch encoded from the parsed items, with gaps or not."""
    import orjson

    from furrow.edge.batch import decode_batch, make_batch
    from furrow.edge.position import decode_positions, encode_positions, positions_item
    from furrow.gateway.forwarder import Forwarder
    from furrow.gateway.quality import TS_UNSET, correct_clock
    from tests.gateway_support import gateway_config

    fixes = [{"t_ms": 1_767_225_600_000 + 1000 * i, "lat_e7": 300_000_000 + i, "lon_e7": -1_100_000_000,
              "speed_cms": 120, "course_d10": None, "quality": 1, "sats": 9, "valid": True,
              "implement_down": i % 2 == 0,
              "engine_on": True} for i in range(3)]
    faulty = soil_uplink("b", 2)
    faulty["readings"][0] = {**faulty["readings"][0], "value": None, "fault": "disconnected"}
    buf.put_many([
        Item(soil_uplink("a", 1), 1_767_225_600_123, ["spike:vwc_pct", "stuck:vwc_pct@10"]),
        Item(correct_clock(soil_uplink("a", 2) | {"ts_ms": 5}, [TS_UNSET], 1_767_225_600_500), 1_767_225_600_500,
             [TS_UNSET]),
        Item(faulty, 0, []),
        Item(valve_uplink("v", 7), 1_767_225_601_000),
        Item(positions_item(decode_positions(encode_positions("trk-01", 4, fixes))), 1_767_225_602_000),
    ])
    parsed, spliced = buf.next_batch(10), buf.next_batch_json(10)
    assert len(parsed) == 5 and [r for r, _ in parsed] == [r for r, _ in spliced]
    for (_, item), (_, raw) in zip(parsed, spliced, strict=True):
        assert raw == orjson.dumps(item)
    config = gateway_config(tmp_path, "127.0.0.1", 1, "t", compress=False)
    fwd = Forwarder(buf, config)
    gaps = [{"id": "g-1", "node": "a", "reason": "quota", "count": 2, "seqs": [[3, 4]], "first_ms": 1, "last_ms": 2}]
    for with_gaps in ([], gaps):
        batch = make_batch(config.site, config.gateway_id, "b-1", 1_767_225_603_000, [i for _, i in parsed])
        if with_gaps:
            batch["gaps"] = with_gaps
        joined = fwd.encode_items("b-1", 1_767_225_603_000, [raw for _, raw in spliced], with_gaps)
        assert joined == fwd.encode(batch)
        assert decode_batch(joined) == batch
    assert fwd.encode_items("b-2", 1, [], []) == fwd.encode(make_batch(config.site, config.gateway_id, "b-2", 1, []))
