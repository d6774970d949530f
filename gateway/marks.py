"""The buffer's marks, kept beside its readings rather than in them (buffer_file.py says why).

`InFlight`: the batches sent and waiting for their receipts, as spans of reading ids. A reading no
span covers is unsent, so sending a batch writes a row or two, never the readings themselves.
Spans never overlap; ids are never reused (AUTOINCREMENT), so a span covers only readings of its
batch. Readings in the middle of a span that leave (the quota) leave a hole nothing else can take.

`SeqRanges`: the (node, seq) of readings stored here or gone, as ranges of consecutive seqs per node,
with how many of each range's keys are still held. A range takes keys for at most its `span_ms` and
goes whole when none is held and its newest event is past the dedup window. It is the buffer's dedup:
a UNIQUE (node, seq) index on the readings cost an index entry written and deleted per reading
(docs/performance.md); a range costs a row or two per run of consecutive seqs.

Both work on the buffer's connection, under its lock and inside its transactions (as gaps.py).
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterable
from typing import Any

import orjson

# Row ids passed as one JSON array: one statement for a whole batch, not one per row.
IDS = "(SELECT value FROM json_each(?))"
# Past every row id: the end of a walk over unsent rows above the last span.
_TOP = 2**62

Row = tuple[Any, ...]


def runs(values: Iterable[int]) -> list[list[int]]:
    """Sorted distinct integers as [first, last] runs of consecutive ones."""
    out: list[list[int]] = []
    for v in values:
        if out and v == out[-1][1] + 1:
            out[-1][1] = v
        else:
            out.append([v, v])
    return out


class InFlight:
    """Sent batches as spans of reading ids (table ``in_flight``)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        # Every reading below this id is in flight: where the walk for the oldest unsent readings
        # starts, so the spans of a backlog of sent batches are stepped over once, not per batch.
        self._floor = 0

    def _span_at(self, row_id: int) -> tuple[int, int, int] | None:
        """(lo, hi, sent_ms) of the span starting last at or before `row_id` (the only one that can
        cover it), or None."""
        return self._db.execute("SELECT lo, hi, sent_ms FROM in_flight WHERE lo <= ? ORDER BY lo DESC LIMIT 1",
                                (row_id,)).fetchone()

    def due(self, sql: str, limit: int, before_ms: int) -> list[Row]:
        """Up to `limit` rows (`sql` selects them from readings) of batches sent before `before_ms`,
        oldest batch first."""
        out: list[Row] = []
        spans = self._db.execute("SELECT lo, hi FROM in_flight WHERE sent_ms < ? ORDER BY sent_ms, lo", (before_ms,))
        try:  # read as far as the batch needs: after a long outage thousands of batches may be due
            while len(out) < limit and (span := spans.fetchone()) is not None:
                out += self._db.execute(sql + " WHERE id BETWEEN ? AND ? ORDER BY id LIMIT ?",
                                        (*span, limit - len(out))).fetchall()
        finally:
            spans.close()
        return out

    def oldest(self, sql: str, n: int) -> list[Row]:
        """The `n` oldest unsent rows: a walk up the ids from the floor, stepping over spans."""
        out: list[Row] = []
        at, first = self._floor, None
        while len(out) < n:
            span = self._span_at(at)
            if span is not None and span[1] >= at:
                at = span[1] + 1
                continue
            (nxt,) = self._db.execute("SELECT coalesce(MIN(lo), ?) FROM in_flight WHERE lo > ?", (_TOP, at)).fetchone()
            got = self._db.execute(sql + " WHERE id >= ? AND id < ? ORDER BY id LIMIT ?",
                                   (at, nxt, n - len(out))).fetchall()
            if got and first is None:
                first = got[0][0]
            out += got
            if nxt == _TOP:
                break
            at = nxt
        if n > 0:  # all below the first unsent row found (or below where the walk ended) is in flight
            self._floor = first if first is not None else at
        return out

    def newest(self, sql: str, n: int, since_ms: int) -> list[Row]:
        """Of the `n` newest unsent rows, those received since `since_ms`, newest first: a walk
        down the ids stepping over spans. The ids and times are read first, the rows only for
        the fresh ones (in a backlog drain none are: splicing them was a third of the select)."""
        ids: list[int] = []
        seen = 0
        (at,) = self._db.execute("SELECT MAX(id) FROM readings").fetchone()
        while at is not None and seen < n:
            span = self._span_at(at)
            if span is not None and span[1] >= at:
                if span[2] < since_ms:  # its rows came before it went: none below is fresh
                    break
                at = span[0] - 1
                continue
            bottom = span[1] if span is not None else -1
            got = self._db.execute("SELECT id, rx_ms FROM readings WHERE id > ? AND id <= ? ORDER BY id DESC LIMIT ?",
                                   (bottom, at, n - seen)).fetchall()
            seen += len(got)
            ids += [i for i, rx_ms in got if rx_ms >= since_ms]
            if span is None:
                break
            at = bottom
        if not ids:
            return []
        return self._db.execute(sql + f" WHERE id IN {IDS} ORDER BY id DESC", (orjson.dumps(ids),)).fetchall()

    def add(self, batch: str, ids: list[int], sent_ms: int) -> None:
        """The readings `ids` (sorted, distinct) went in `batch`: as few spans as cover them and
        nothing else. Readings going again leave the spans of the batch they went in before."""
        if not ids:
            return
        parts = runs(ids)
        for a, b in parts:
            self._carve(a, b)
        self._db.executemany("INSERT INTO in_flight (lo, hi, batch, sent_ms) VALUES (?, ?, ?, ?)",
                             [(a, b, batch, sent_ms) for a, b in self._joined(parts)])

    def _carve(self, a: int, b: int) -> None:
        """Take ids a..b out of the spans that cover them; what is left of a span keeps its batch."""
        cut = []
        spans = self._db.execute("SELECT lo, hi, batch, sent_ms FROM in_flight WHERE lo <= ? ORDER BY lo DESC", (b,))
        try:  # spans never overlap: the first that ends before `a` is the last to look at
            while (span := spans.fetchone()) is not None and span[1] >= a:
                cut.append(span)
        finally:
            spans.close()
        for lo, hi, batch, sent_ms in cut:
            self._db.execute("DELETE FROM in_flight WHERE lo = ?", (lo,))
            for piece in ((lo, a - 1), (b + 1, hi)):
                if piece[0] <= piece[1] and self._live(*piece):
                    self._db.execute("INSERT INTO in_flight (lo, hi, batch, sent_ms) VALUES (?, ?, ?, ?)",
                                     (*piece, batch, sent_ms))

    def _live(self, lo: int, hi: int) -> bool:
        (live,) = self._db.execute("SELECT EXISTS (SELECT 1 FROM readings WHERE id BETWEEN ? AND ?)",
                                   (lo, hi)).fetchone()
        return bool(live)

    def _joined(self, parts: list[list[int]]) -> list[list[int]]:
        """Runs of one batch joined where no other reading and no span lies between them (the ids
        of readings gone since): fewer spans, and none overlapping another."""
        out = [parts[0]]
        for a, b in parts[1:]:
            end = out[-1][1]
            (between,) = self._db.execute(
                "SELECT EXISTS (SELECT 1 FROM readings WHERE id > ?1 AND id < ?2)"
                " OR EXISTS (SELECT 1 FROM in_flight WHERE lo > ?1 AND lo < ?2)", (end, a)).fetchone()
            if between:
                out.append([a, b])
            else:
                out[-1][1] = b
        return out

    def unsent(self, batch: str) -> None:
        """`batch` never got through: its readings are unsent again."""
        (lo,) = self._db.execute("SELECT MIN(lo) FROM in_flight WHERE batch = ?", (batch,)).fetchone()
        if lo is not None:  # the walk for the oldest must start at or below them
            self._floor = min(self._floor, lo)
        self._db.execute("DELETE FROM in_flight WHERE batch = ?", (batch,))

    def spans(self, batch: str) -> list[tuple[int, int, int]]:
        """(lo, hi, sent_ms) of `batch`'s spans."""
        return self._db.execute("SELECT lo, hi, sent_ms FROM in_flight WHERE batch = ?", (batch,)).fetchall()

    def stored(self, batch: str) -> None:
        """`batch`'s readings left (its receipt): its spans go."""
        self._db.execute("DELETE FROM in_flight WHERE batch = ?", (batch,))

    def prune(self) -> None:
        """Spans whose readings all went (the quota) while their batch waited for a receipt."""
        self._db.execute("DELETE FROM in_flight WHERE NOT EXISTS (SELECT 1 FROM readings WHERE id BETWEEN lo AND hi)")

    def waiting(self) -> bool:
        """Whether any reading is in flight."""
        (rows,) = self._db.execute("SELECT EXISTS (SELECT 1 FROM in_flight WHERE EXISTS"
                                   " (SELECT 1 FROM readings WHERE id BETWEEN lo AND hi))").fetchone()
        return bool(rows)

    def count(self) -> int:
        """How many readings are in flight (a walk over them: for stats, not for every batch)."""
        (n,) = self._db.execute("SELECT coalesce(SUM((SELECT COUNT(*) FROM readings WHERE id BETWEEN lo AND hi)), 0)"
                                " FROM in_flight").fetchone()
        return int(n)


class SeqRanges:
    """Keys of readings stored here or gone, as seq ranges per node (table ``seq_ranges``), each with how
    many of its keys are readings still in the buffer (``held``). The buffer's dedup: a key in a range is a
    duplicate. A range takes new keys for at most its `span_ms` and goes when none of its keys is held
    and its newest event (a key stored or leaving) is past the dedup window."""

    # Whether a seq is in a range of its node (ranges never overlap, so the one that starts last at
    # or before it is the only one that can hold it): params ?1 node, ?2 seq.
    KNOWN = "(coalesce((SELECT hi FROM seq_ranges WHERE node = ?1 AND lo <= ?2 ORDER BY lo DESC LIMIT 1), -1) >= ?2)"

    def __init__(self, db: sqlite3.Connection, span_ms: int) -> None:
        self._db = db
        self._span_ms = span_ms

    def _runs(self, keys: list[tuple[str, int]], ms: int) -> list[dict[str, Any]]:
        return [{"node": node, "a": a, "b": b, "ms": ms, "since": ms - self._span_ms}
                for node, group in itertools.groupby(keys, key=lambda k: k[0])
                for a, b in runs(seq for _, seq in group)]

    def stored(self, keys: list[tuple[str, int]], ms: int) -> None:
        """The readings of `keys` (sorted, none known yet: a reading is stored only when its key is
        not) are in the buffer: each run of consecutive seqs extends the node's range that ends just
        before it, if that range is young enough, or starts a range. Two statements per run, run by
        SQLite over all of them; a commit of live reports is one run per node."""
        if not keys:
            return
        todo = self._runs(keys, ms)
        self._db.executemany(
            "UPDATE seq_ranges SET hi = :b, held = held + :b - :a + 1, last_ms = :ms"
            " WHERE node = :node AND hi = :a - 1 AND first_ms >= :since"
            " AND lo = (SELECT lo FROM seq_ranges WHERE node = :node AND lo < :a ORDER BY lo DESC LIMIT 1)", todo)
        # Not where any of the run is known (after the update: the range it extended), so ranges
        # never overlap; by the premise above only the extended range is.
        self._db.executemany(
            "INSERT INTO seq_ranges (node, lo, hi, held, first_ms, last_ms) SELECT :node, :a, :b, :b - :a + 1, :ms, :ms"
            " WHERE coalesce((SELECT hi FROM seq_ranges WHERE node = :node AND lo <= :b ORDER BY lo DESC LIMIT 1), -1)"
            " < :a", todo)

    def left(self, keys: list[tuple[str, int]], ms: int) -> None:
        """The readings of `keys` (sorted; each held, and leaving once) left the buffer: each range they
        are in holds that many fewer, and remembers them for the window from now. One statement per run
        and range it meets; a backlog's batch is one run per node."""
        if not keys:
            return
        self._db.executemany(
            "UPDATE seq_ranges SET held = held - (min(hi, :b) - max(lo, :a) + 1), last_ms = :ms"
            " WHERE node = :node AND lo <= :b AND hi >= :a", self._runs(keys, ms))

    def prune(self, before_ms: int) -> None:
        """Ranges none of whose keys is held, whose newest event was before `before_ms`, go (a scan:
        the table is small)."""
        self._db.execute("DELETE FROM seq_ranges WHERE held = 0 AND last_ms < ?", (before_ms,))
