"""The durable buffer: every accepted reading is on disk before anyone is told so.

One SQLite file in WAL mode. A reading's key (node, seq) is kept in a seq range
of its node (``seq_ranges``: marks.py) while it is here and for the dedup window
after it left, so a report that arrives twice (a redelivered MQTT message, a
Modbus image polled again, a reading the cloud already has) is stored once.
Rows leave the buffer only when the cloud has stored the batch that carried
them (its receipt: forwarder.py); until then the batch is kept as spans of row
ids with when it went (``in_flight``: marks.py), so a batch whose receipt never
comes goes again. A row is never rewritten when it
is sent: a reading no span covers is unsent.

Why ``synchronous=FULL``: in WAL mode ``NORMAL`` survives a process crash but
not a power cut (the WAL is fsynced only at checkpoints), and a gateway on a
farm loses power. FULL fsyncs the WAL on every commit, so a row whose commit
returned is on the disk; callers batch many rows into one commit to pay the
fsync once (0.4 to 3.5 ms per commit on the development VM; see the
gateway README).

Exactly once: the (node, seq) of every reading stored is kept in ``seq_ranges``,
as ranges of consecutive seqs per node, while the reading is here and for the
dedup window after it left (forwarded, or dropped by the quota); a report whose
key is in a range is a duplicate.

Bounded: a quota (rows and bytes) is enforced in the transaction that
inserts; past it the oldest readings of the lowest priority go first, are
counted (``dropped``) and go into the gap log (gaps.py) with the node's
flood and quarantine drops, until the cloud has stored the report. Ingest
never blocks on a full buffer, and commands never touch it.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import orjson

from furrow.clock import Clock, system_clock
from furrow.edge.batch import GAP_FLOOD, GAP_QUARANTINE, GAP_QUOTA, make_item

from .buffer_file import RELAY, open_file
from .gaps import Drop, GapLog
from .marks import IDS, InFlight, SeqRanges
from .recovery import salvage

log = logging.getLogger(__name__)

# The quarantine keeps the newest rows only: it is for a technician to read,
# and a node spewing garbage must not fill the disk the readings need.
QUARANTINE_KEEP = 10_000

# A row's batch item as JSON text, spliced in SQL: the stored uplink (orjson's compact JSON of a
# non-empty object, so it ends in "}") with rx_ms and flags (orjson's JSON of a list) added, as
# make_item adds them (an uplink never has either key).
_ITEM_JSON = """substr(payload, 1, length(payload) - 1) || ',"rx_ms":' || rx_ms || ',"flags":' || flags || '}'"""
# Keys gone are pruned from `seq_ranges` at most this often.
PRUNE_EVERY_MS = 60_000
# A seq range takes keys for at most the dedup window over this, and goes whole when it holds no
# reading and its newest event is past the window: a key is remembered for the window after it
# left and at most this share longer (2 h for the default 2 days).
DONE_RANGE_SHARE = 24


_NO_FLAGS = "[]"


def _text(value: object) -> str:
    """JSON text of a validated uplink or its flags, as the readings table keeps them."""
    return orjson.dumps(value).decode()


def _insert(db: sqlite3.Connection, keys: SeqRanges, rows: list[tuple[Any, ...]], ms: int) -> int:
    """Store the readings `rows` ((node, seq, rx_ms, flags, payload, prio)) whose key is not known, the
    first of each key only, and put their keys in the seq ranges; returns how many were stored. Inside
    the caller's transaction."""
    seen: set[tuple[str, int]] = set()
    fresh = []  # the first of each key in `rows`, in their order (ids follow arrival)
    for r in rows:
        if (r[0], r[1]) not in seen:
            seen.add((r[0], r[1]))
            fresh.append(r)
    (top,) = db.execute("SELECT coalesce(MAX(id), 0) FROM readings").fetchone()
    db.executemany("INSERT INTO readings (node, seq, rx_ms, flags, payload, prio)"
                   f" SELECT ?1, ?2, ?3, ?4, ?5, ?6 WHERE NOT {SeqRanges.KNOWN}", fresh)
    # ids only grow (AUTOINCREMENT): the rows above the old top are the ones just stored
    stored = db.execute("SELECT node, seq FROM readings WHERE id > ? ORDER BY node, seq", (top,)).fetchall()
    keys.stored(stored, ms)
    return len(stored)


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
        self._done_span_ms = max(1, self._dedup_window_ms // DONE_RANGE_SHARE)
        self._pruned_at_ms = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        # Set when the file was found corrupt at start: where it was moved and
        # how many readings were saved from it.
        self.recovered: dict[str, Any] | None = None
        try:
            self._db = self._open()
        except sqlite3.DatabaseError as e:
            if getattr(e, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
                # Not corruption: moving the file aside and salvaging it into a new one would need
                # more of the space that is missing, and a salvage that fails strands the readings
                # in the moved file. The file stays as it is; the gateway does not start.
                log.error("buffer %s: the disk is full (%s); the file is kept as it is. Free some space "
                          "(an older file's upgrade needs about the size of its readings) and start again",
                          self.path, e)
                raise
            self._db = self._recover(e)
        self._gaps = GapLog(self._db)
        self._in_flight = InFlight(self._db)
        self._keys = SeqRanges(self._db, self._done_span_ms)
        (self._pending,) = self._db.execute("SELECT COUNT(*) FROM readings").fetchone()
        (self._page_size,) = self._db.execute("PRAGMA page_size").fetchone()

    def _open(self) -> sqlite3.Connection:
        return open_file(self.path, self._clock(), self._done_span_ms)

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
        prios = [1 if orjson.loads(row[4]).get("role") in self._keep_roles else 0 for row in rows]
        rows = [(*row, p) for row, p in zip(rows, prios, strict=True)]
        _insert(db, SeqRanges(db, self._done_span_ms), rows, self._clock())
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

    @contextlib.contextmanager
    def _transaction(self, durable: bool = True) -> Iterator[None]:
        """One write transaction; the caller holds the lock. `durable=False` commits without the
        fsync (WAL, synchronous=NORMAL): for what only decides when a row goes again, which a
        power cut may cost a resend, never a reading; the next full commit makes it durable too."""
        if not durable:
            self._db.execute("PRAGMA synchronous=NORMAL")
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
                self._db.execute("COMMIT")
            except BaseException:
                # A failed COMMIT may already have rolled back; a second ROLLBACK would
                # raise and hide the error that matters.
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
        finally:
            if not durable:
                self._db.execute("PRAGMA synchronous=FULL")

    def _bump(self, name: str, by: int) -> None:
        if by:
            self._db.execute("UPDATE counters SET value = value + ? WHERE name = ?", (by, name))

    def put_many(
        self,
        items: Iterable[Item | tuple],
        quarantined: Iterable[Quarantined | tuple] = (),
        acks: Iterable[bytes] = (),
        drops: Iterable[Drop] = (),
    ) -> int:
        """Store readings (and quarantined inputs, command acks for the cloud,
        and the readings not forwarded for the gap log) in one transaction.

        Returns how many readings were new; a (node, seq) already buffered is
        counted as a duplicate and ignored. When this returns, the rows are on
        disk; when it raises, none of them are.
        """
        rows = []
        for uplink, rx_ms, *rest in items:
            flags = _text(list(rest[0])) if rest and rest[0] else _NO_FLAGS
            node, seq = uplink["node"], uplink["seq"]
            prio = 1 if uplink.get("role") in self._keep_roles else 0
            # orjson: the gateway's CPU went a tenth to re-encoding validated uplinks with json.dumps
            # (docs/performance.md); orjson takes about half the CPU per stored row.
            rows.append((node, seq, rx_ms, flags, _text(uplink), prio))
        bad = [(self._clock(), source, reason, bytes(raw)) for raw, source, reason in quarantined]
        drops = list(drops)
        with self._lock:
            with self._transaction():
                inserted = _insert(self._db, self._keys, rows, self._clock()) if rows else 0
                self._bump("received", len(rows))
                self._bump("duplicates", len(rows) - inserted)
                if bad:
                    self._insert_quarantine(bad)
                ack_rows = [(bytes(a),) for a in acks]
                if ack_rows:
                    self._db.executemany("INSERT INTO ack_outbox (raw) VALUES (?)", ack_rows)
                if drops:
                    self._gaps.record(drops, self._clock())
                    self._bump("flooded", sum(d.reason == GAP_FLOOD for d in drops))
                dropped = self._enforce_quota(inserted) if inserted else 0
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
        self._keys.left(sorted((n, q) for _, n, q in victims), ms)
        self._gaps.record([Drop(n, GAP_QUOTA, q) for _, n, q in victims], ms)
        self._bump("dropped", len(victims))
        return len(victims)

    def record_drops(self, drops: Iterable[Drop]) -> None:
        """Inputs not forwarded that never were readings here (the image store's dropped photos): into the
        gap log, on disk when this returns."""
        self.put_many((), drops=drops)

    def quarantine(self, raw: bytes, source: str, reason: str, node: str | None = None,
                   seq: int | None = None) -> None:
        """Keep an input that broke the contract, with its source and reason. A report of `node`
        (seq `seq`) is a reading not forwarded as well: the gap log reports it to the cloud."""
        drops = [Drop(node, GAP_QUARANTINE, seq)] if node is not None else []
        self.put_many((), [Quarantined(raw, source, reason)], (), drops)

    def _insert_quarantine(self, bad: list[tuple[int, str, str, bytes]]) -> None:
        self._db.executemany("INSERT INTO quarantine (rx_ms, source, reason, raw) VALUES (?, ?, ?, ?)", bad)
        self._bump("quarantined", len(bad))
        self._db.execute(
            "DELETE FROM quarantine WHERE id <= (SELECT MAX(id) FROM quarantine) - ?",
            (QUARANTINE_KEEP,),
        )

    def next_batch(self, limit: int, fresh_since_ms: int | None = None,
                   resend_before_ms: int | None = None) -> list[tuple[int, dict[str, Any]]]:
        """Up to `limit` readings to send, as (rowid, batch item): first those sent before
        `resend_before_ms` whose batch's receipt never came, then unsent ones, oldest first.

        With `fresh_since_ms`, and more pending than fit in one batch, up to
        half the batch is the newest unsent readings received since then (newest
        first): the present goes out at once while the backlog drains behind it.
        """
        rows = self._due("flags, payload", limit, fresh_since_ms, resend_before_ms)
        return [
            (rowid, make_item(orjson.loads(payload), rx_ms, orjson.loads(flags)))
            for rowid, rx_ms, flags, payload in rows
        ]

    def next_batch_json(self, limit: int, fresh_since_ms: int | None = None,
                        resend_before_ms: int | None = None) -> list[tuple[int, bytes]]:
        """The readings `next_batch` picks, each as its batch item's JSON (orjson's bytes of the
        same item), spliced by SQLite from the stored row: the uplink's JSON with ``rx_ms`` and
        ``flags`` added before its closing brace. No row is parsed or encoded again (the backlog
        drain's CPU went to that: docs/performance.md); forwarder.py joins them into the batch."""
        rows = self._due(_ITEM_JSON, limit, fresh_since_ms, resend_before_ms)
        return [(rowid, item.encode()) for rowid, _rx_ms, item in rows]

    def _due(self, columns: str, limit: int, fresh_since_ms: int | None,
             resend_before_ms: int | None) -> list[tuple[Any, ...]]:
        """(id, rx_ms, *columns) of the readings to send next, in `next_batch`'s order."""
        sql = f"SELECT id, rx_ms, {columns} FROM readings"
        with self._lock:
            rows = []
            if resend_before_ms is not None:
                rows = self._in_flight.due(sql, limit, resend_before_ms)
            if fresh_since_ms is not None and self._pending > limit and len(rows) < limit:
                rows += self._in_flight.newest(sql, max(1, (limit - len(rows)) // 2), fresh_since_ms)
            taken = {r[0] for r in rows}
            oldest = self._in_flight.oldest(sql, limit - len(rows))
        rows += [r for r in oldest if r[0] not in taken]
        return rows

    def next_gaps(self, resend_before_ms: int | None = None) -> list[tuple[int, dict[str, Any]]]:
        """Gap reports to send (gaps.py), as (id, report)."""
        with self._lock:
            return self._gaps.due(resend_before_ms)

    def sent(self, batch: str, rowids: Iterable[int], gap_ids: Iterable[int], sent_ms: int) -> None:
        """These readings and gap reports are going out in `batch`: they wait for its receipt. The
        readings are kept as spans of ids (runs of consecutive rows), not marked one by one."""
        ids = sorted(set(rowids))
        with self._lock, self._transaction(durable=False):
            self._in_flight.add(batch, ids, sent_ms)
            self._gaps.sent(gap_ids, batch, sent_ms)

    def unsent(self, batch: str) -> None:
        """`batch` never reached the cloud broker: its readings go with the next batch."""
        with self._lock, self._transaction(durable=False):
            self._in_flight.unsent(batch)
            self._gaps.unsent(batch)

    def stored(self, batch: str) -> tuple[int, int | None]:
        """The cloud stored `batch`: its readings and gap reports leave the buffer. Returns how
        many readings left and when the batch was sent (None when nothing of it is here)."""
        return self.stored_many([batch])[0]

    def stored_many(self, batches: Sequence[str]) -> list[tuple[int, int | None]]:
        """`stored` of each of `batches`, in one transaction: one commit (and its fsync) for several
        receipts, and the pages they share (the seq ranges, the ends of the spans) written once."""
        with self._lock:
            spans = [self._in_flight.spans(batch) for batch in batches]
            counts = self._forwarded("id BETWEEN ? AND ?", [(batch, [(lo, hi) for lo, hi, _ in s])
                                                             for batch, s in zip(batches, spans, strict=True)],
                                     receipt=True)
        return [(n, max((ms for *_, ms in s), default=None)) for n, s in zip(counts, spans, strict=True)]

    def waiting(self) -> bool:
        """Whether any reading or gap report was sent and waits for its receipt."""
        with self._lock:
            rows = self._in_flight.waiting()
            (gaps,) = self._db.execute("SELECT EXISTS (SELECT 1 FROM gaps WHERE batch > '')").fetchone()
        return bool(rows or gaps)

    def receipts_seen(self) -> bool:
        """Whether the cloud has ever sent a receipt (an older cloud sends none)."""
        with self._lock:
            (seen,) = self._db.execute("SELECT value FROM counters WHERE name = 'receipts_seen'").fetchone()
        return bool(seen)

    def mark_forwarded(self, rowids: Iterable[int], batch: str | None = None) -> int:
        """Drop readings the cloud has (by its broker's PUBACK, for a cloud that sends no
        receipts), with the gap reports of `batch`; returns how many readings were dropped."""
        with self._lock:
            return self._forwarded(f"id IN {IDS}", [(batch, [(_text(list(rowids)),)])])[0]

    def _forwarded(self, where: str, batches: list[tuple[str | None, list[tuple[Any, ...]]]],
                   receipt: bool = False) -> list[int]:
        """For each (batch, args) of `batches`: drop the readings `where` picks with each of `args`
        (the cloud has them) and the batch's gap reports, remembering the keys for the dedup window;
        under the lock, in one transaction. Set-based: a statement or two per span of a batch, whatever
        its size. With `receipt`, the batches' spans go too. Returns how many readings each dropped."""
        ms = self._clock()
        counts = []
        with self._transaction():
            select = f"SELECT node, seq FROM readings WHERE {where}"
            keys = []
            for batch, args in batches:
                keys += [key for a in args for key in self._db.execute(select, a)]
                before = self._db.total_changes
                self._db.executemany(f"DELETE FROM readings WHERE {where}", args)
                counts.append(self._db.total_changes - before)
                if batch is not None:
                    self._gaps.stored(batch)
                if receipt and batch is not None:
                    self._in_flight.stored(batch)
            deleted = sum(counts)
            self._keys.left(sorted(keys), ms)  # the batches' runs of a node joined: fewer statements
            self._bump("forwarded", deleted)
            if receipt:
                self._db.execute("UPDATE counters SET value = 1 WHERE name = 'receipts_seen'")
            # abs: a wall clock stepped back prunes at once rather than not for hours
            if abs(ms - self._pruned_at_ms) > PRUNE_EVERY_MS:
                self._pruned_at_ms = ms
                self._keys.prune(ms - self._dedup_window_ms)
                self._in_flight.prune()
        self._pending -= deleted
        return counts

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
        with self._lock, self._transaction():
            self._db.executemany("DELETE FROM ack_outbox WHERE id = ?", [(i,) for i in ids])

    def ack_count(self) -> int:
        with self._lock:
            (n,) = self._db.execute("SELECT COUNT(*) FROM ack_outbox").fetchone()
        return int(n)

    def relay_counts(self) -> dict[str, int]:
        """The command relay's refusal counts kept across restarts (relay_core.Tally)."""
        with self._lock:
            rows = self._db.execute("SELECT name, value FROM counters WHERE name GLOB ?", (RELAY + "*",)).fetchall()
        return {name.removeprefix(RELAY): value for name, value in rows}

    def count_relay(self, name: str) -> None:
        """One more of the relay's refusal count `name`."""
        # Without the fsync: a power cut may cost the last few counts (the next reading's commit
        # makes them durable), and a refusal does not wait for an fsync. A failed write (a full
        # disk) costs the count on disk only: the relay goes on.
        try:
            with self._lock, self._transaction(durable=False):
                self._db.execute("INSERT INTO counters (name, value) VALUES (?, 1) "
                                 "ON CONFLICT (name) DO UPDATE SET value = value + 1", (RELAY + name,))
        except sqlite3.Error as e:
            log.error("relay count %s not kept on disk: %s", name, e)

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

    def pending(self) -> int:
        """Readings not yet stored by the cloud (`stats()["pending"]` without its queries: the image
        link asks it each time it looks for a photo to send while a backlog drains)."""
        with self._lock:
            return self._pending

    def stats(self) -> dict[str, Any]:
        """Counts kept across restarts: pending (not yet stored by the cloud), in_flight (of
        those, sent and waiting for a receipt), received, duplicates, forwarded_total (stored
        by the cloud), quarantined, dropped (by the quota), flooded (refused by a node's
        budget), and gaps_unconfirmed ({reason: {node: readings}} the cloud has not confirmed)."""
        with self._lock:
            counters = dict(self._db.execute("SELECT name, value FROM counters").fetchall())
            pending = self._pending
            in_flight = self._in_flight.count()
            unconfirmed = self._gaps.totals()
        return {
            "pending": pending,
            "in_flight": in_flight,
            "dropped": counters["dropped"],
            "received": counters["received"],
            "duplicates": counters["duplicates"],
            "forwarded_total": counters["forwarded"],
            "quarantined": counters["quarantined"],
            "flooded": counters["flooded"],
            "gaps_unconfirmed": unconfirmed,
        }


