"""The durable buffer: every accepted reading is on disk before anyone is told so.

One SQLite file in WAL mode. Readings are keyed UNIQUE(node, seq), so a report
that arrives twice (a redelivered MQTT message, a Modbus image polled again)
is stored once. Rows leave the buffer only when the cloud broker has
acknowledged the batch that carried them.

Why ``synchronous=FULL``: in WAL mode ``NORMAL`` survives a process crash but
not a power cut (the WAL is fsynced only at checkpoints), and a gateway on a
farm loses power. FULL fsyncs the WAL on every commit, so a row whose commit
returned is on the disk; callers batch many rows into one commit to pay the
fsync once (0.4 to 3.5 ms per commit on the development VM; see the
gateway README).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from furrow.edge.batch import make_item

# The quarantine keeps the newest rows only: it is for a technician to read,
# and a node spewing garbage must not fill the disk the readings need.
QUARANTINE_KEEP = 10_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS readings (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    node    TEXT    NOT NULL,
    seq     INTEGER NOT NULL,
    rx_ms   INTEGER NOT NULL,
    flags   TEXT    NOT NULL,
    payload TEXT    NOT NULL,
    UNIQUE (node, seq)
);
CREATE TABLE IF NOT EXISTS quarantine (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    rx_ms   INTEGER NOT NULL,
    source  TEXT    NOT NULL,
    reason  TEXT    NOT NULL,
    raw     BLOB    NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (
    name    TEXT PRIMARY KEY,
    value   INTEGER NOT NULL
);
"""
_COUNTERS = ("received", "duplicates", "forwarded", "quarantined")


class Item(NamedTuple):
    """One reading to store: a validated uplink, when it arrived, quality flags."""

    uplink: dict[str, Any]
    rx_ms: int
    flags: Sequence[str] = ()


class Quarantined(NamedTuple):
    """An input that broke the contract, kept with where it came from and why."""

    raw: bytes
    source: str
    reason: str


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class DurableBuffer:
    """SQLite-backed store-and-forward buffer, safe to share between threads.

    One connection guarded by one lock: the paho thread, the asyncio loop's
    worker threads and the Modbus poller all write through it, and SQLite
    serialises writers anyway.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, one per call.
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        self._db.executemany("INSERT OR IGNORE INTO counters (name, value) VALUES (?, 0)", [(c,) for c in _COUNTERS])

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> DurableBuffer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _rollback(self) -> None:
        # A failed COMMIT may already have rolled back; a second ROLLBACK would
        # raise and hide the error that matters.
        if self._db.in_transaction:
            self._db.execute("ROLLBACK")

    def _bump(self, name: str, by: int) -> None:
        if by:
            self._db.execute("UPDATE counters SET value = value + ? WHERE name = ?", (by, name))

    def put_many(self, items: Iterable[Item | tuple], quarantined: Iterable[Quarantined | tuple] = ()) -> int:
        """Store readings (and quarantined inputs) in one transaction.

        Returns how many readings were new; a (node, seq) already buffered is
        counted as a duplicate and ignored. When this returns, the rows are on
        disk; when it raises, none of them are.
        """
        rows = []
        for uplink, rx_ms, *rest in items:
            flags = list(rest[0]) if rest else []
            rows.append((uplink["node"], uplink["seq"], rx_ms, json.dumps(flags), json.dumps(uplink)))
        bad = [(now_ms(), source, reason, bytes(raw)) for raw, source, reason in quarantined]
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                before = self._db.total_changes
                self._db.executemany(
                    "INSERT OR IGNORE INTO readings (node, seq, rx_ms, flags, payload) VALUES (?, ?, ?, ?, ?)",
                    rows,
                )
                inserted = self._db.total_changes - before
                self._bump("received", len(rows))
                self._bump("duplicates", len(rows) - inserted)
                if bad:
                    self._insert_quarantine(bad)
                self._db.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise
        return inserted

    def quarantine(self, raw: bytes, source: str, reason: str) -> None:
        """Keep an input that broke the contract, with its source and reason."""
        self.put_many((), [Quarantined(raw, source, reason)])

    def _insert_quarantine(self, bad: list[tuple[int, str, str, bytes]]) -> None:
        self._db.executemany("INSERT INTO quarantine (rx_ms, source, reason, raw) VALUES (?, ?, ?, ?)", bad)
        self._bump("quarantined", len(bad))
        self._db.execute(
            "DELETE FROM quarantine WHERE id <= (SELECT MAX(id) FROM quarantine) - ?",
            (QUARANTINE_KEEP,),
        )

    def next_batch(self, limit: int) -> list[tuple[int, dict[str, Any]]]:
        """Up to `limit` buffered readings, oldest first, as (rowid, batch item)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, rx_ms, flags, payload FROM readings ORDER BY id LIMIT ?", (limit,)
            ).fetchall()
        return [
            (rowid, make_item(json.loads(payload), rx_ms, json.loads(flags))) for rowid, rx_ms, flags, payload in rows
        ]

    def mark_forwarded(self, rowids: Iterable[int]) -> int:
        """Drop readings the cloud has acknowledged; returns how many were dropped."""
        ids = [(i,) for i in rowids]
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                before = self._db.total_changes
                self._db.executemany("DELETE FROM readings WHERE id = ?", ids)
                deleted = self._db.total_changes - before
                self._bump("forwarded", deleted)
                self._db.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise
        return deleted

    def quarantined(self, limit: int = 100) -> list[dict[str, Any]]:
        """The newest quarantined inputs, newest first (for technicians and tests)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT rx_ms, source, reason, raw FROM quarantine ORDER BY id DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [
            {"rx_ms": rx_ms, "source": source, "reason": reason, "raw": bytes(raw)}
            for rx_ms, source, reason, raw in rows
        ]

    def stats(self) -> dict[str, int]:
        """Counts kept across restarts: pending, received, duplicates,
        forwarded_total, quarantined."""
        with self._lock:
            counters = dict(self._db.execute("SELECT name, value FROM counters").fetchall())
            (pending,) = self._db.execute("SELECT COUNT(*) FROM readings").fetchone()
        return {
            "pending": pending,
            "received": counters["received"],
            "duplicates": counters["duplicates"],
            "forwarded_total": counters["forwarded"],
            "quarantined": counters["quarantined"],
        }
