"""The buffer's marks as spans and ranges (buffer_file.py): a sent batch is spans of row ids, a
forwarded key is in a seq range of its node, and a file an older gateway wrote (one mark per row,
one ``done`` row per key) is upgraded with its unsent and sent-unreceipted batches and drains."""

from __future__ import annotations

import sqlite3
import zlib
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from furrow.edge.batch import RECEIPT_STORED, decode_batch, make_receipt
from furrow.gateway import DurableBuffer, Item
from furrow.gateway.buffer_file import LAYOUT
from furrow.gateway.forwarder import Forwarder
from tests.gateway_support import gateway_config, soil_uplink

# The layout gateways wrote up to commit f5cf5e5 (gateway/buffer_file.py there): the sent mark in
# each row, with three partial indexes, and one `done` row per forwarded key.
OLD_LAYOUT = """
CREATE TABLE readings (
    id INTEGER PRIMARY KEY AUTOINCREMENT, node TEXT NOT NULL, seq INTEGER NOT NULL, rx_ms INTEGER NOT NULL,
    flags TEXT NOT NULL, payload TEXT NOT NULL, prio INTEGER NOT NULL DEFAULT 0, batch TEXT, sent_ms INTEGER,
    UNIQUE (node, seq));
CREATE TABLE done (node TEXT NOT NULL, seq INTEGER NOT NULL, ms INTEGER NOT NULL, PRIMARY KEY (node, seq))
    WITHOUT ROWID;
CREATE INDEX done_ms ON done (ms);
CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE INDEX readings_prio ON readings (prio, id);
CREATE INDEX readings_unsent ON readings (id) WHERE batch IS NULL;
CREATE INDEX readings_batch ON readings (batch) WHERE batch IS NOT NULL;
CREATE INDEX readings_sent ON readings (sent_ms) WHERE batch IS NOT NULL;
"""
NOW = 1_800_000_000_000
# node "a", seqs 0..9 as row ids 1..10: which batch each went in (None: unsent), sent when
MARKS = ["old-1", "old-1", "old-1", None, None, "old-2", "old-2", "old-1", None, None]
SENT_MS = {"old-1": NOW - 600_000, "old-2": NOW - 300_000}
DONE = [("b", s) for s in (0, 1, 2, 3, 4, 7)]  # forwarded before the upgrade


def old_file(path: Path) -> None:
    db = sqlite3.connect(path)
    db.executescript(OLD_LAYOUT)
    db.executemany("INSERT INTO readings (node, seq, rx_ms, flags, payload, batch, sent_ms)"
                   " VALUES (?, ?, ?, ?, ?, ?, ?)",
                   [("a", s, NOW - 900_000, "[]", orjson.dumps(soil_uplink("a", s)).decode(), b, SENT_MS.get(b))
                    for s, b in enumerate(MARKS)])
    db.executemany("INSERT INTO done (node, seq, ms) VALUES (?, ?, ?)", [(n, s, NOW - 60_000) for n, s in DONE])
    db.executemany("INSERT INTO counters VALUES (?, ?)", [("received", 16), ("duplicates", 0), ("forwarded", 6),
                                                          ("quarantined", 0), ("dropped", 0), ("flooded", 0),
                                                          ("receipts_seen", 1), ("epoch_ms", NOW - 10**9)])
    db.commit()
    db.close()


def seqs(rows) -> list[int]:
    return [item["seq"] for _, item in rows]


def test_an_old_layout_file_keeps_its_unsent_rows_its_batches_and_its_forwarded_keys(tmp_path):
    """An old file's marks become spans of their batches and its `done` keys seq ranges: unsent rows
    go first, sent ones wait for their receipt or go again when due, receipts drop exactly their
    batch's rows, forwarded and buffered keys are still duplicates; the old indexes and table go."""
    path = tmp_path / "old.sqlite"
    old_file(path)
    with DurableBuffer(path, clock=lambda: NOW) as b:
        assert (b.stats()["pending"], b.stats()["in_flight"]) == (10, 6)
        assert seqs(b.next_batch(100)) == [3, 4, 8, 9]
        assert seqs(b.next_batch(100, resend_before_ms=NOW - 400_000)) == [0, 1, 2, 7, 3, 4, 8, 9]
        assert b.put_many([Item(soil_uplink("b", s), NOW) for s in (3, 7, 5, 6)]) == 2  # 3, 7 were forwarded
        assert b.put_many([Item(soil_uplink("a", 2), NOW)]) == 0  # buffered, in flight
        assert b.stored("old-2") == (2, SENT_MS["old-2"])
        db = b._db
        assert db.execute("PRAGMA user_version").fetchone() == (LAYOUT,)
        names = {n for (n,) in db.execute("SELECT name FROM sqlite_master")}
        assert not names & {"done", "done_ms", "readings_unsent", "readings_batch", "readings_sent"}
        assert not db.execute("SELECT 1 FROM sqlite_master WHERE tbl_name = 'readings' AND sql IS NULL").fetchone()
        # the keys: a's buffered (8 of them still here), b's forwarded with the new 5 and 6 here
        assert db.execute("SELECT node, lo, hi, held FROM seq_ranges ORDER BY node, lo").fetchall() == [
            ("a", 0, 9, 8), ("b", 0, 6, 2), ("b", 7, 7, 0)]
    with DurableBuffer(path, clock=lambda: NOW) as b:  # opened again: nothing is upgraded twice
        assert (b.stats()["pending"], b.stats()["in_flight"]) == (10, 4)
        assert b.stored("old-1") == (4, SENT_MS["old-1"])
        assert seqs(b.next_batch(100)) == [3, 4, 8, 9, 5, 6]
        assert b.stats()["forwarded_total"] == 12


async def test_an_old_layout_file_drains_through_the_forwarder(tmp_path):
    """The forwarder drains an upgraded file: each receipt takes its batch's rows, the old batches
    go again once a receipt shows them lost, and every reading reaches the cloud and leaves."""
    path = tmp_path / "buffer.sqlite"
    old_file(path)
    now = [NOW]
    config = gateway_config(tmp_path, "127.0.0.1", 1, "t", forward_batch_size=3)
    got: list[tuple[str, int]] = []

    async def cloud(payload: bytes) -> dict:  # stores the batch and answers with its receipt, as over HTTPS
        batch = decode_batch(zlib.decompress(payload))
        got.extend((i["node"], i["seq"]) for i in batch["items"])
        now[0] += 120_000  # the cloud's receipt_wait (60 s) passes between batches
        return make_receipt(batch["batch_id"], RECEIPT_STORED, len(batch["items"]))

    with DurableBuffer(path, clock=lambda: now[0]) as b:
        fwd = Forwarder(b, config, clock=lambda: now[0])
        assert fwd.receipts
        for _ in range(10):
            await fwd.forward_once(cloud, probe=False)
        assert b.stats()["pending"] == 0 and b.stats()["in_flight"] == 0 and not b.waiting()
        assert b.stats()["forwarded_total"] == 16
    assert sorted(got) == [("a", s) for s in range(10)]


def test_a_resent_part_of_a_batch_leaves_the_rest_with_it(tmp_path):
    """A batch due again that does not fit one batch goes in part: its first rows join the new batch,
    the rest stay with the old one; each receipt drops exactly its rows."""
    with DurableBuffer(tmp_path / "b.sqlite") as b:
        b.put_many([Item(soil_uplink("a", s), 0) for s in range(6)])
        first = [r for r, _ in b.next_batch(4)]
        b.sent("b1", first, [], 100)
        again = b.next_batch(2, resend_before_ms=150)
        assert seqs(again) == [0, 1]
        b.sent("b2", [r for r, _ in again], [], 200)
        assert (b.stats()["in_flight"], seqs(b.next_batch(10))) == (4, [4, 5])
        assert seqs(b.next_batch(10, resend_before_ms=150)) == [2, 3, 4, 5]
        assert b.stored("b1") == (2, 100)
        assert b.stored("b2") == (2, 200)
        assert (b.stats()["pending"], b.stats()["in_flight"], b.stats()["forwarded_total"]) == (2, 0, 4)


def test_a_row_left_out_from_between_a_batchs_rows_stays_unsent(tmp_path):
    """A batch's rows need not be consecutive (a stale row among the fresh ones is left for the
    backlog): the row between them is not in the batch's spans and goes with the next batch."""
    now = 10_000_000
    with DurableBuffer(tmp_path / "b.sqlite") as b:
        b.put_many([Item(soil_uplink("a", s), 1) for s in range(20)])  # the backlog
        b.put_many([Item(soil_uplink("n", s), 1 if s == 2 else now) for s in range(5)])  # seq 2 is stale
        rows = b.next_batch(6, fresh_since_ms=now - 60_000)
        assert [(i["node"], i["seq"]) for _, i in rows] == [("n", 4), ("n", 3), *[("a", s) for s in range(4)]]
        b.sent("b1", [r for r, _ in rows], [], now)
        assert b.stats()["in_flight"] == 6
        later = [(i["node"], i["seq"]) for _, i in b.next_batch(100)]
        assert later == [("a", s) for s in range(4, 20)] + [("n", 0), ("n", 1), ("n", 2)]
        assert b.stored("b1")[0] == 6


def test_forwarded_keys_are_duplicates_for_the_window_and_forgotten_after(tmp_path):
    """Keys that left, in order or not, with gaps filled later, are duplicates while the dedup window
    lasts, kept in a few ranges per node; a range goes when its newest key is past the window."""
    now = [1_000_000_000]
    with DurableBuffer(tmp_path / "b.sqlite", dedup_window_s=48 * 3600, clock=lambda: now[0]) as b:
        for batch in ([5, 6, 7], [0, 1, 2], [3], [9, 10], [4, 8]):
            b.put_many([Item(soil_uplink("a", s), 0) for s in batch])
            assert b.mark_forwarded([r for r, _ in b.next_batch(10)]) == len(batch)
            now[0] += 1000
        assert b.put_many([Item(soil_uplink("a", s), 0) for s in range(11)]) == 0
        assert b._db.execute("SELECT COUNT(*) FROM seq_ranges").fetchone()[0] <= 5
        now[0] += 3 * 3600_000  # past the time one range takes keys: a new range starts
        b.put_many([Item(soil_uplink("a", 11), 0)])
        b.mark_forwarded([r for r, _ in b.next_batch(10)])
        now[0] += 46 * 3600_000  # the first ranges are past the window, the last is not
        b.put_many([Item(soil_uplink("b", 0), 0)])
        b.mark_forwarded([r for r, _ in b.next_batch(10)])  # prunes
        assert b.put_many([Item(soil_uplink("a", s), 0) for s in (0, 10, 11)]) == 2
        assert b.stats()["duplicates"] == 12


def assert_ranges_hold_the_keys(db: sqlite3.Connection) -> None:
    """The seq ranges never overlap, cover every buffered reading's key, and each holds as many
    readings as are buffered within it."""
    assert db.execute("SELECT COUNT(*) FROM seq_ranges a JOIN seq_ranges b ON a.node = b.node AND a.lo < b.lo"
                      " AND a.hi >= b.lo").fetchone() == (0,)
    assert db.execute("SELECT COUNT(*) FROM readings r WHERE NOT EXISTS (SELECT 1 FROM seq_ranges"
                      " WHERE node = r.node AND r.seq BETWEEN lo AND hi)").fetchone() == (0,)
    assert db.execute("SELECT node, lo, hi, held FROM seq_ranges s WHERE held != (SELECT COUNT(*) FROM readings"
                      " WHERE node = s.node AND seq BETWEEN s.lo AND s.hi)").fetchall() == []


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(st.tuples(st.sampled_from(["put", "send", "fail", "receipt", "resend", "reopen", "quota"]),
                              st.integers(0, 7)), max_size=40))
def test_the_spans_and_ranges_agree_with_a_row_by_row_model(tmp_path_factory, ops):
    """Any sequence of puts (with keys that left, keys still here and a key twice in one commit coming
    again), sends (fresh first or not), failed sends, receipts, resends, quota drops and reopenings:
    pending, in flight and what is stored are what a model that marks each row says, a receipt drops
    exactly the rows of its batch, and the seq ranges hold exactly the buffered keys."""
    path = tmp_path_factory.mktemp("m") / "b.sqlite"
    clock = [1_000_000]
    unsent: dict[tuple[str, int], int] = {}  # key -> rx_ms
    flying: dict[tuple[str, int], str] = {}  # key -> batch
    left: set[tuple[str, int]] = set()
    sent_at: dict[str, int] = {}
    next_seq = {"a": 0, "b": 0}
    order: dict[tuple[str, int], int] = {}  # key -> when stored (the quota drops the oldest first)
    n_batches = 0
    b = DurableBuffer(path, clock=lambda: clock[0])
    try:
        for op, k in ops:
            clock[0] += 1000
            if op == "put":
                node = "ab"[k % 2]
                keys = [(node, next_seq[node] + i) for i in range(k + 1)]
                keys += [sorted(left)[k % len(left)]] if left and k % 3 == 0 else []  # one that left comes again
                held = sorted([*unsent, *flying])
                keys += [held[k % len(held)]] if held and k % 3 == 1 else []  # one still here comes again
                keys += keys[:1] if k % 4 == 3 else []  # twice in one commit
                next_seq[node] += k + 1 + (k % 2)  # sometimes a gap, as a lost report leaves
                rx = clock[0] if k % 2 else 0
                new = b.put_many([Item(soil_uplink(n, s), rx) for n, s in keys])
                fresh = [key for key in dict.fromkeys(keys) if key not in {*left, *unsent, *flying}]
                assert new == len(fresh)
                for key in fresh:
                    unsent[key] = rx
                    order[key] = len(order)
            elif op in ("send", "resend", "fail"):
                fresh = clock[0] - 5000 if k % 2 else None
                again = clock[0] - 2000 * k if op == "resend" else None
                rows = b.next_batch(k + 1, fresh_since_ms=fresh, resend_before_ms=again)
                keys = [(i["node"], i["seq"]) for _, i in rows]
                due = {key for key, batch in flying.items() if sent_at[batch] < (again or 0)}
                assert len(keys) == len(set(keys)) and set(keys) <= set(unsent) | due
                n_batches += 1
                batch = f"b{n_batches}"
                b.sent(batch, [r for r, _ in rows], [], clock[0])
                if op == "fail":
                    b.unsent(batch)
                    for key in keys:
                        unsent.setdefault(key, 0)
                        flying.pop(key, None)
                else:
                    sent_at[batch] = clock[0]
                    for key in keys:
                        unsent.pop(key, None)
                        flying[key] = batch
            elif op == "receipt" and sent_at:
                batch = sorted(sent_at)[k % len(sent_at)]
                mine = {key for key, bt in flying.items() if bt == batch}
                assert b.stored(batch)[0] == len(mine)
                for key in mine:
                    del flying[key]
                left |= mine
                del sent_at[batch]
            elif op == "quota":  # a full buffer drops its oldest rows, sent or not, to take a new one
                b.max_rows = max(1, len(unsent) + len(flying) + 1 - k)
                key = ("c", len(order))
                assert b.put_many([Item(soil_uplink(*key), 0)]) == 1
                order[key] = len(order)
                unsent[key] = 0
                b.max_rows = 0
                pending = sorted([*unsent, *flying], key=order.__getitem__)
                for victim in pending[:max(0, len(pending) - max(1, len(pending) - k))]:
                    unsent.pop(victim, None)
                    flying.pop(victim, None)
                    left.add(victim)
            elif op == "reopen":
                b.close()
                b = DurableBuffer(path, clock=lambda: clock[0])
            stats = b.stats()
            assert (stats["pending"], stats["in_flight"]) == (len(unsent) + len(flying), len(flying))
            assert_ranges_hold_the_keys(b._db)
            assert {(i["node"], i["seq"]) for _, i in b.next_batch(10**6)} == set(unsent)
    finally:
        b.close()


# The layout of main up to 213bc6a (user_version 1): keys of buffered readings in a UNIQUE (node, seq)
# index, forwarded ones in `done_ranges`.
LAYOUT_1 = """
CREATE TABLE readings (
    id INTEGER PRIMARY KEY AUTOINCREMENT, node TEXT NOT NULL, seq INTEGER NOT NULL, rx_ms INTEGER NOT NULL,
    flags TEXT NOT NULL, payload TEXT NOT NULL, prio INTEGER NOT NULL DEFAULT 0, UNIQUE (node, seq));
CREATE TABLE in_flight (lo INTEGER PRIMARY KEY, hi INTEGER NOT NULL, batch TEXT NOT NULL, sent_ms INTEGER NOT NULL);
CREATE TABLE done_ranges (node TEXT NOT NULL, lo INTEGER NOT NULL, hi INTEGER NOT NULL, first_ms INTEGER NOT NULL,
    last_ms INTEGER NOT NULL, PRIMARY KEY (node, lo)) WITHOUT ROWID;
CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE INDEX readings_prio ON readings (prio, id);
PRAGMA user_version = 1;
"""


def test_a_layout_1_file_loses_its_unique_index_and_keeps_rows_ids_batches_and_keys(tmp_path):
    """A file with the UNIQUE (node, seq) index is rebuilt without it at start: its rows keep their ids
    (the in-flight batch still covers them), ids go on above the old counter, buffered and forwarded
    keys stay duplicates, and the batch's receipt drops exactly its rows."""
    path = tmp_path / "l1.sqlite"
    db = sqlite3.connect(path)
    db.executescript(LAYOUT_1)
    db.executemany("INSERT INTO readings (id, node, seq, rx_ms, flags, payload) VALUES (?, ?, ?, ?, '[]', ?)",
                   [(i + 1, "a", s, NOW, orjson.dumps(soil_uplink("a", s)).decode())
                    for i, s in enumerate((3, 4, 5, 9))])
    db.execute("UPDATE sqlite_sequence SET seq = 40 WHERE name = 'readings'")  # rows 5..40 left
    db.execute("INSERT INTO in_flight VALUES (1, 2, 'b-old', ?)", (NOW - 1000,))
    db.execute("INSERT INTO done_ranges VALUES ('a', 0, 2, ?, ?)", (NOW - 5000, NOW - 5000))
    db.commit()
    db.close()
    with DurableBuffer(path, clock=lambda: NOW) as b:
        assert b.stats()["pending"] == 4 and b.stats()["in_flight"] == 2
        assert b.put_many([Item(soil_uplink("a", s), NOW) for s in range(12)]) == 5  # 6, 7, 8, 10, 11
        assert b._db.execute("SELECT MIN(id) FROM readings WHERE seq = 6").fetchone() == (41,)
        assert_ranges_hold_the_keys(b._db)
        assert b.stored("b-old") == (2, NOW - 1000)
        assert seqs(b.next_batch(100)) == [5, 9, 6, 7, 8, 10, 11]
        assert b._db.execute("PRAGMA user_version").fetchone() == (LAYOUT,)
        assert not b._db.execute("SELECT name FROM sqlite_master WHERE name GLOB 'sqlite_autoindex_readings*'"
                                 " OR name = 'done_ranges'").fetchall()
    with DurableBuffer(path, clock=lambda: NOW) as b:  # opened again: nothing is rebuilt twice
        assert b.put_many([Item(soil_uplink("a", s), NOW) for s in range(13)]) == 1
        assert b.stats()["pending"] == 8


def test_a_reading_kept_past_the_window_is_still_a_duplicate(tmp_path):
    """A reading still here after the dedup window (a long outage) keeps its key: pruning forgets only
    keys that left."""
    now = [1_000_000_000]
    with DurableBuffer(tmp_path / "b.sqlite", dedup_window_s=3600, clock=lambda: now[0]) as b:
        b.put_many([Item(soil_uplink("a", s), 0) for s in range(3)])
        b.put_many([Item(soil_uplink("z", 0), 0)])
        now[0] += 5 * 3600_000
        rows = [r for r, i in b.next_batch(10) if i["node"] == "z"]
        assert b.mark_forwarded(rows) == 1  # prunes
        now[0] += 5 * 3600_000
        b.put_many([Item(soil_uplink("y", 0), 0)])
        b.mark_forwarded([r for r, i in b.next_batch(10) if i["node"] == "y"])  # prunes z's range
        assert b.put_many([Item(soil_uplink("a", s), 0) for s in range(4)]) == 1
        assert b.put_many([Item(soil_uplink("z", 0), 0)]) == 1  # left more than the window ago
        assert b._db.execute("SELECT node, lo, hi, held FROM seq_ranges WHERE node IN ('a', 'z') ORDER BY node, lo"
                             ).fetchall() == [("a", 0, 2, 3), ("a", 3, 3, 1), ("z", 0, 0, 1)]


def test_receipts_stored_together_drop_each_batch_once_in_one_commit(tmp_path):
    """`stored_many`: several receipts in one transaction (one fsync), a receipt that came twice and one
    for a batch this file never sent among them: each batch's readings leave once, each count and
    sent time is its own, the keys stay duplicates, and what no receipt named stays in flight."""
    with DurableBuffer(tmp_path / "b.sqlite", clock=lambda: NOW) as b:
        b.put_many([Item(soil_uplink(n, s), NOW) for s in range(6) for n in ("a", "b")])
        for i, batch in enumerate(("x", "y", "z")):
            rows = [r for r, _ in b.next_batch(4)]
            b.sent(batch, rows, [], NOW - 1000 * (i + 1))
        commits = []
        b._db.set_trace_callback(lambda sql: commits.append(sql) if sql == "COMMIT" else None)
        # x's second receipt in the group: nothing left to drop, its sent time still told (it was answered)
        assert b.stored_many(["x", "z", "x", "never-sent"]) == [(4, NOW - 1000), (4, NOW - 3000), (0, NOW - 1000),
                                                                  (0, None)]
        b._db.set_trace_callback(None)
        assert len(commits) == 1
        assert (b.stats()["pending"], b.stats()["in_flight"], b.stats()["forwarded_total"]) == (4, 4, 8)
        assert_ranges_hold_the_keys(b._db)
        assert b.put_many([Item(soil_uplink(n, s), NOW) for s in range(6) for n in ("a", "b")]) == 0
        assert b.stored("y") == (4, NOW - 2000)
        assert b.stats()["pending"] == 0


def test_a_layout_1_file_on_a_full_disk_is_kept_as_it_is_and_upgrades_once_there_is_room(tmp_path, monkeypatch):
    """The rebuild of an older file needs free disk about the size of its readings. Without it SQLite
    says the disk is full (here SQLite's own page limit, PRAGMA max_page_count, stands for the full
    card): the gateway does not start, and the file is not taken for a corrupt one (moved aside and
    salvaged into a new file on the same full disk, which strands its readings): it stays where it
    is, as it was, and once there is room it upgrades with every reading and batch."""
    path = tmp_path / "l1.sqlite"
    db = sqlite3.connect(path)
    db.executescript(LAYOUT_1)
    db.executemany("INSERT INTO readings (node, seq, rx_ms, flags, payload) VALUES (?, ?, ?, '[]', ?)",
                   [(n, s, NOW, orjson.dumps(soil_uplink(n, s)).decode()) for s in range(300) for n in ("a", "b")])
    db.execute("INSERT INTO in_flight VALUES (1, 100, 'b-old', ?)", (NOW - 1000,))
    db.commit()
    db.close()
    connect = sqlite3.connect

    def full_disk(*args, **kwargs):  # each connection may grow its file by 8 pages, no more
        conn = connect(*args, **kwargs)
        (pages,) = conn.execute("PRAGMA page_count").fetchone()
        conn.execute(f"PRAGMA max_page_count = {pages + 8}")
        return conn

    monkeypatch.setattr(sqlite3, "connect", full_disk)
    with pytest.raises(sqlite3.OperationalError, match="full"):
        DurableBuffer(path, clock=lambda: NOW)
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir() if "corrupt" in p.name) == []
    with DurableBuffer(path, clock=lambda: NOW) as b:  # room again
        assert (b.stats()["pending"], b.stats()["in_flight"]) == (600, 100)
        assert b._db.execute("PRAGMA user_version").fetchone() == (LAYOUT,)
        assert b.stored("b-old") == (100, NOW - 1000)
