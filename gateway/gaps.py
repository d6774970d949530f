"""The gateway's gap log: every reading it does not forward, per node and reason, kept until the
cloud has stored the report (edge/batch.py, ``gaps``).

Three reasons: ``quota`` (the buffer was full), ``flood`` (the node sent past its message budget,
flood.py) and ``quarantine`` (the report broke the contract). Drops of one node for one reason
gather in one open report, as seq ranges, until a batch carries it; after that the report is
sealed and new drops open the next one, so what the cloud keeps under a report's id never
changes. A report leaves the log only when the receipt of a batch that carried it arrives.

The log lives in the buffer's SQLite file and is written in the buffer's own transactions
(`GapLog` takes its connection): a drop is on disk before the node is acknowledged, and the
counts survive a restart. The pure part is `merge_ranges`.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from typing import Any, NamedTuple

from furrow.edge.batch import GAP_QUOTA, MAX_GAP_RANGES, make_gap

SCHEMA = """
CREATE TABLE IF NOT EXISTS gaps (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    node     TEXT,
    reason   TEXT    NOT NULL,
    count    INTEGER NOT NULL,
    seqs     TEXT    NOT NULL,
    first_ms INTEGER NOT NULL,
    last_ms  INTEGER NOT NULL,
    batch    TEXT,
    sent_ms  INTEGER
);
"""


class Drop(NamedTuple):
    """One reading not forwarded: its node (None when the input named none), why, and its seq if known."""

    node: str | None
    reason: str
    seq: int | None = None


def merge_ranges(ranges: Iterable[Iterable[int]], seqs: Iterable[int]) -> list[list[int]]:
    """`ranges` ([first, last] each) with `seqs` added, sorted and merged where they touch."""
    spans = sorted([[int(a), int(b)] for a, b in ranges] + [[s, s] for s in seqs])
    out: list[list[int]] = []
    for a, b in spans:
        if out and a <= out[-1][1] + 1:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return out


class GapLog:
    """Gap reports on the buffer's connection; every call runs inside the caller's transaction
    (and under its lock) except where it says otherwise."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def record(self, drops: Iterable[Drop], ms: int) -> int:
        """Add drops to their node's open report for the reason; how many were added."""
        grouped: dict[tuple[str | None, str], list[int | None]] = {}
        for d in drops:
            grouped.setdefault((d.node, d.reason), []).append(d.seq)
        for (node, reason), seqs in grouped.items():
            known = [s for s in seqs if s is not None]
            row = self._db.execute("SELECT id, seqs FROM gaps WHERE node IS ? AND reason = ? AND batch IS NULL"
                                   " ORDER BY id DESC LIMIT 1", (node, reason)).fetchone()
            merged = merge_ranges(json.loads(row[1]) if row else [], known)
            if row is not None and len(merged) <= MAX_GAP_RANGES:
                self._db.execute("UPDATE gaps SET count = count + ?, seqs = ?, last_ms = ? WHERE id = ?",
                                 (len(seqs), json.dumps(merged), ms, row[0]))
                continue
            if row is not None:  # full: seal it, and the new drops open the next report
                self._db.execute("UPDATE gaps SET batch = '' WHERE id = ?", (row[0],))
            ranges = merge_ranges([], known)
            chunks = [ranges[i:i + MAX_GAP_RANGES] for i in range(0, len(ranges), MAX_GAP_RANGES)] or [[]]
            unknown = len(seqs) - len(known)
            for n, chunk in enumerate(chunks):
                count = sum(b - a + 1 for a, b in chunk) + (unknown if n == len(chunks) - 1 else 0)
                sealed = None if n == len(chunks) - 1 else ""
                self._db.execute("INSERT INTO gaps (node, reason, count, seqs, first_ms, last_ms, batch)"
                                 " VALUES (?, ?, ?, ?, ?, ?, ?)",
                                 (node, reason, count, json.dumps(chunk), ms, ms, sealed))
        return sum(len(s) for s in grouped.values())

    def due(self, resend_before_ms: int | None) -> list[tuple[int, dict[str, Any]]]:
        """Reports no batch carried yet (or carried by one sent before `resend_before_ms` whose
        receipt never came), as (id, gap report), oldest first."""
        rows = self._db.execute(
            "SELECT id, node, reason, count, seqs, first_ms, last_ms FROM gaps"
            " WHERE batch IS NULL OR batch = '' OR sent_ms < ? ORDER BY id",
            (-1 if resend_before_ms is None else resend_before_ms,)).fetchall()
        # The cloud keeps a report once per gateway under its id: the log's row id, after when
        # this buffer file was made (a buffer made anew starts its row ids again).
        (epoch,) = self._db.execute("SELECT value FROM counters WHERE name = 'epoch_ms'").fetchone()
        return [(i, make_gap(f"{epoch}-{i}", node, reason, count, json.loads(seqs), f, last))
                for i, node, reason, count, seqs, f, last in rows]

    def sent(self, ids: Iterable[int], batch: str, sent_ms: int) -> None:
        self._db.executemany("UPDATE gaps SET batch = ?, sent_ms = ? WHERE id = ?", [(batch, sent_ms, i) for i in ids])

    def unsent(self, batch: str) -> None:
        """The batch never reached the broker: its reports go with the next one (sealed, as sent)."""
        self._db.execute("UPDATE gaps SET batch = '', sent_ms = NULL WHERE batch = ?", (batch,))

    def stored(self, batch: str) -> int:
        """The cloud stored the batch: its reports leave the log; how many."""
        return self._db.execute("DELETE FROM gaps WHERE batch = ?", (batch,)).rowcount

    def totals(self) -> dict[str, dict[str, int]]:
        """Readings in reports the cloud has not confirmed yet: {reason: {node: count}}."""
        out: dict[str, dict[str, int]] = {}
        for node, reason, count in self._db.execute("SELECT node, reason, SUM(count) FROM gaps GROUP BY node, reason"):
            out.setdefault(reason, {})[node or "?"] = int(count)
        return out


def adopt_old_drops(db: sqlite3.Connection) -> None:
    """A buffer file from before the gap log kept quota drops per node, unreported: they become
    quota reports (one seq range each) and the old table goes."""
    if not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'unreported_drops'").fetchone():
        return
    (ms,) = db.execute("SELECT value FROM counters WHERE name = 'epoch_ms'").fetchone()
    db.execute("BEGIN IMMEDIATE")
    db.execute("INSERT INTO gaps (node, reason, count, seqs, first_ms, last_ms, batch)"
               " SELECT node, ?, count, json_array(json_array(min_seq, max_seq)), ?, ?, '' FROM unreported_drops",
               (GAP_QUOTA, ms, ms))
    db.execute("DROP TABLE unreported_drops")
    db.execute("COMMIT")
