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

Exactly once: the (node, seq) of every reading that left the buffer
(forwarded, or dropped by the quota) is kept in ``done`` for the dedup
window, so a node redelivering a reading the cloud already has does not
store it a second time.

Bounded: a quota (rows and bytes) is enforced in the transaction that
inserts; past it the oldest readings of the lowest priority go first, are
counted (``dropped``) and kept per node until the forwarder has reported
them to the cloud. Ingest never blocks on a full buffer, and commands never
touch it.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import orjson

from furrow.clock import Clock, system_clock
from furrow.edge.batch import make_item

from .recovery import salvage

log = logging.getLogger(__name__)

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
CREATE TABLE IF NOT EXISTS done (
    node    TEXT    NOT NULL,
    seq     INTEGER NOT NULL,
    ms      INTEGER NOT NULL,
    PRIMARY KEY (node, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS done_ms ON done (ms);
CREATE TABLE IF NOT EXISTS unreported_drops (
    node    TEXT PRIMARY KEY,
    count   INTEGER NOT NULL,
    min_seq INTEGER NOT NULL,
    max_seq INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS ack_outbox (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    raw     BLOB    NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (
    name    TEXT PRIMARY KEY,
    value   INTEGER NOT NULL
);
"""
_COUNTERS = ("received", "duplicates", "forwarded", "quarantined", "dropped")
# Row ids bound into one statement (SQLite allows 32,766 variables since 3.32, 999 before).
_IDS_PER_STATEMENT = 900
# Forwarded keys are pruned from `done` at most this often.
PRUNE_EVERY_MS = 60_000


def _text(value: object) -> str:
    """JSON text of a validated uplink or its flags, as the readings table keeps them."""
    return orjson.dumps(value).decode()


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


class DurableBuffer:
    """SQLite-backed store-and-forward buffer, safe to share between threads.

    One connection guarded by one lock: the paho thread, the asyncio loop's
    worker threads and the Modbus poller all write through it, and SQLite
    serialises writers anyway.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        max_rows: int = 0,
        max_bytes: int = 0,
        keep_roles: Sequence[str] = ("irrigation",),
        dedup_window_s: float = 2 * 86400.0,
        clock: Clock = system_clock,
    ) -> None:
        self.path = Path(path)
        self._clock = clock
        self.max_rows = max_rows
        self.max_bytes = max_bytes
        self._keep_roles = frozenset(keep_roles)
        self._dedup_window_ms = int(dedup_window_s * 1000)
        self._pruned_at_ms = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        # Set when the file was found corrupt at start: where it was moved and
        # how many readings were saved from it.
        self.recovered: dict[str, Any] | None = None
        try:
            self._db = self._open()
        except sqlite3.DatabaseError as e:
            self._db = self._recover(e)
        (self._pending,) = self._db.execute("SELECT COUNT(*) FROM readings").fetchone()
        (self._page_size,) = self._db.execute("PRAGMA page_size").fetchone()

    def _open(self) -> sqlite3.Connection:
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, one per call.
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            (check,) = db.execute("PRAGMA quick_check(1)").fetchone()
            if check != "ok":
                raise sqlite3.DatabaseError(f"quick_check: {check}")
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.executescript(_SCHEMA)
            columns = {row[1] for row in db.execute("PRAGMA table_info(readings)")}
            if "prio" not in columns:  # a buffer file from before priorities
                db.execute("ALTER TABLE readings ADD COLUMN prio INTEGER NOT NULL DEFAULT 0")
            db.execute("CREATE INDEX IF NOT EXISTS readings_prio ON readings (prio, id)")
            db.executemany("INSERT OR IGNORE INTO counters (name, value) VALUES (?, 0)", [(c,) for c in _COUNTERS])
        except BaseException:
            db.close()
            raise
        return db

    def _recover(self, error: sqlite3.DatabaseError) -> sqlite3.Connection:
        """A corrupt file (an SD card's bad block, a torn write): move it aside,
        start a fresh buffer, and copy every reading that can still be read."""
        aside = self.path.with_name(f"{self.path.name}.corrupt-{self._clock()}")
        for suffix in ("", "-wal", "-shm"):
            src = self.path.with_name(self.path.name + suffix)
            if src.exists():
                src.rename(aside.with_name(aside.name + suffix))
        log.error("buffer %s is corrupt (%s): moved to %s, salvaging its readings", self.path, error, aside)
        db = self._open()
        rows, unreadable = salvage(aside)
        db.execute("BEGIN IMMEDIATE")
        db.executemany(
            "INSERT OR IGNORE INTO readings (node, seq, rx_ms, flags, payload, prio) VALUES (?, ?, ?, ?, ?, ?)",
            [(*row, 1 if orjson.loads(row[4]).get("role") in self._keep_roles else 0) for row in rows],
        )
        db.execute("UPDATE counters SET value = value + ? WHERE name = 'received'", (len(rows),))
        db.execute("COMMIT")
        self.recovered = {"moved_to": str(aside), "salvaged": len(rows), "unreadable_ranges": unreadable}
        log.error("salvaged %d readings from %s (%d unreadable id ranges)", len(rows), aside, unreadable)
        return db

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

    def put_many(
        self,
        items: Iterable[Item | tuple],
        quarantined: Iterable[Quarantined | tuple] = (),
        acks: Iterable[bytes] = (),
    ) -> int:
        """Store readings (and quarantined inputs, and command acks for the
        cloud) in one transaction.

        Returns how many readings were new; a (node, seq) already buffered is
        counted as a duplicate and ignored. When this returns, the rows are on
        disk; when it raises, none of them are.
        """
        rows = []
        for uplink, rx_ms, *rest in items:
            flags = list(rest[0]) if rest else []
            node, seq = uplink["node"], uplink["seq"]
            prio = 1 if uplink.get("role") in self._keep_roles else 0
            # orjson: the gateway's CPU went a tenth to re-encoding validated uplinks with json.dumps
            # (docs/performance.md); orjson takes about half the CPU per stored row.
            rows.append((node, seq, rx_ms, _text(flags), _text(uplink), prio, node, seq))
        bad = [(self._clock(), source, reason, bytes(raw)) for raw, source, reason in quarantined]
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                before = self._db.total_changes
                self._db.executemany(
                    "INSERT OR IGNORE INTO readings (node, seq, rx_ms, flags, payload, prio)"
                    " SELECT ?, ?, ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM done WHERE node = ? AND seq = ?)",
                    rows,
                )
                inserted = self._db.total_changes - before
                self._bump("received", len(rows))
                self._bump("duplicates", len(rows) - inserted)
                if bad:
                    self._insert_quarantine(bad)
                ack_rows = [(bytes(a),) for a in acks]
                if ack_rows:
                    self._db.executemany("INSERT INTO ack_outbox (raw) VALUES (?)", ack_rows)
                dropped = self._enforce_quota(inserted) if inserted else 0
                self._db.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise
            self._pending += inserted - dropped
        return inserted

    def _used_bytes(self) -> int:
        (pages,) = self._db.execute("PRAGMA page_count").fetchone()
        (free,) = self._db.execute("PRAGMA freelist_count").fetchone()
        return int((pages - free) * self._page_size)

    def _enforce_quota(self, inserted: int) -> int:
        """Drop the oldest lowest-priority readings past the quota (inside the
        caller's transaction); returns how many went."""
        pending = self._pending + inserted
        excess = pending - self.max_rows if self.max_rows else 0
        if self.max_bytes and pending:
            over = self._used_bytes() - self.max_bytes
            if over > 0:
                per_row = max(1, self._used_bytes() // pending)
                excess = max(excess, over // per_row + 1)
        if excess <= 0:
            return 0
        victims = self._db.execute(
            "SELECT id, node, seq FROM readings ORDER BY prio, id LIMIT ?", (excess,)
        ).fetchall()
        ms = self._clock()
        self._db.executemany("DELETE FROM readings WHERE id = ?", [(v[0],) for v in victims])
        self._db.executemany(
            "INSERT OR IGNORE INTO done (node, seq, ms) VALUES (?, ?, ?)", [(n, q, ms) for _, n, q in victims]
        )
        self._db.executemany(
            "INSERT INTO unreported_drops (node, count, min_seq, max_seq) VALUES (?, 1, ?, ?)"
            " ON CONFLICT (node) DO UPDATE SET count = count + 1,"
            " min_seq = MIN(min_seq, excluded.min_seq), max_seq = MAX(max_seq, excluded.max_seq)",
            [(n, q, q) for _, n, q in victims],
        )
        self._bump("dropped", len(victims))
        return len(victims)

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

    def next_batch(self, limit: int, fresh_since_ms: int | None = None) -> list[tuple[int, dict[str, Any]]]:
        """Up to `limit` buffered readings as (rowid, batch item), oldest first.

        With `fresh_since_ms`, and more pending than fit in one batch, up to
        half the batch is the newest readings received since then (newest
        first), the rest the oldest: the present goes out at once while the
        backlog drains behind it.
        """
        sql = "SELECT id, rx_ms, flags, payload FROM readings"
        with self._lock:
            fresh: list[Any] = []
            if fresh_since_ms is not None and self._pending > limit:
                newest = self._db.execute(sql + " ORDER BY id DESC LIMIT ?", (max(1, limit // 2),)).fetchall()
                fresh = [r for r in newest if r[1] >= fresh_since_ms]
            oldest = self._db.execute(sql + " ORDER BY id LIMIT ?", (limit - len(fresh),)).fetchall()
        taken = {r[0] for r in fresh}
        rows = fresh + [r for r in oldest if r[0] not in taken]
        return [
            (rowid, make_item(orjson.loads(payload), rx_ms, orjson.loads(flags)))
            for rowid, rx_ms, flags, payload in rows
        ]

    def mark_forwarded(self, rowids: Iterable[int]) -> int:
        """Drop readings the cloud has acknowledged, remembering their keys for
        the dedup window; returns how many were dropped."""
        ids = list(rowids)
        ms = self._clock()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                deleted = 0
                # A statement per chunk of ids, not per row: a drained batch is 5,000 rows, and one
                # INSERT and one DELETE per row were a fifth of the drain's CPU (docs/performance.md).
                for i in range(0, len(ids), _IDS_PER_STATEMENT):
                    chunk = ids[i:i + _IDS_PER_STATEMENT]
                    marks = ",".join("?" * len(chunk))
                    self._db.execute("INSERT OR IGNORE INTO done (node, seq, ms)"
                                     f" SELECT node, seq, ? FROM readings WHERE id IN ({marks})", (ms, *chunk))
                    deleted += self._db.execute(f"DELETE FROM readings WHERE id IN ({marks})", chunk).rowcount
                self._bump("forwarded", deleted)
                # abs: a wall clock stepped back prunes at once rather than not for hours
                if abs(ms - self._pruned_at_ms) > PRUNE_EVERY_MS:
                    self._pruned_at_ms = ms
                    self._db.execute("DELETE FROM done WHERE ms < ?", (ms - self._dedup_window_ms,))
                self._db.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise
            self._pending -= deleted
        return deleted

    def put_acks(self, raws: Iterable[bytes]) -> None:
        """Keep command acks for the cloud durably (outside a reading commit)."""
        self.put_many((), (), raws)

    def next_acks(self, limit: int = 100) -> list[tuple[int, bytes]]:
        """The oldest acks not yet acknowledged by the cloud, as (id, raw)."""
        with self._lock:
            rows = self._db.execute("SELECT id, raw FROM ack_outbox ORDER BY id LIMIT ?", (limit,)).fetchall()
        return [(i, bytes(raw)) for i, raw in rows]

    def acks_sent(self, ids: Iterable[int]) -> None:
        """The cloud broker acknowledged these acks: forget them."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany("DELETE FROM ack_outbox WHERE id = ?", [(i,) for i in ids])
                self._db.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise

    def ack_count(self) -> int:
        with self._lock:
            (n,) = self._db.execute("SELECT COUNT(*) FROM ack_outbox").fetchone()
        return int(n)

    def unreported_drops(self) -> dict[str, dict[str, int]]:
        """Readings dropped by the quota and not yet reported to the cloud:
        {node: {"count", "min_seq", "max_seq"}}."""
        with self._lock:
            rows = self._db.execute("SELECT node, count, min_seq, max_seq FROM unreported_drops").fetchall()
        return {n: {"count": c, "min_seq": lo, "max_seq": hi} for n, c, lo, hi in rows}

    def drops_reported(self, reported: dict[str, dict[str, int]]) -> None:
        """The cloud acknowledged a report of these drops: forget them (drops
        counted since then stay)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for node, d in reported.items():
                    self._db.execute(
                        "UPDATE unreported_drops SET count = count - ? WHERE node = ?", (d["count"], node)
                    )
                self._db.execute("DELETE FROM unreported_drops WHERE count <= 0")
                self._db.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise

    def oldest_rx_ms(self) -> int | None:
        """When the oldest pending reading arrived (None when empty)."""
        with self._lock:
            row = self._db.execute("SELECT rx_ms FROM readings ORDER BY id LIMIT 1").fetchone()
        return row[0] if row else None

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
        forwarded_total, quarantined, dropped (by the quota)."""
        with self._lock:
            counters = dict(self._db.execute("SELECT name, value FROM counters").fetchall())
            pending = self._pending
        return {
            "pending": pending,
            "dropped": counters["dropped"],
            "received": counters["received"],
            "duplicates": counters["duplicates"],
            "forwarded_total": counters["forwarded"],
            "quarantined": counters["quarantined"],
        }
