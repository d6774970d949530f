"""The buffer's SQLite file: its tables, and what opening it checks and brings up to date.

Opening runs SQLite's quick check (a corrupt file raises, and the buffer salvages it:
recovery.py), puts the file in WAL mode with ``synchronous=FULL`` (buffer.py says why),
creates what is missing, and upgrades a file written by an older gateway, in one transaction
(`upgrade`): readings get their priority, drops kept per node become gap reports (gaps.py), a
file that marked each sent row (columns ``batch`` and ``sent_ms``) and kept one ``done`` row per
forwarded reading gets the same facts as spans of row ids (``in_flight``), and the keys of the
readings, buffered or gone, become seq ranges (``seq_ranges``) in place of a UNIQUE (node, seq)
index (the readings table is rebuilt without it). ``counters`` also keeps the command relay's
refusal counts (``relay:`` names, added when first counted: an older file takes them as it is).

Why spans and ranges: a backlog drain's CPU went to SQLite's B-tree work per row, and the
per-row marks were most of it: a sent row was rewritten with its batch (three partial indexes
changed), and on its receipt deleted with five index entries and its key inserted twice into
``done`` and its time index; then the UNIQUE index's entry, written when the reading came and
deleted when it left, on pages of 1,000 nodes scattered over the index (docs/performance.md).
A batch is a few runs of consecutive row ids and a node's seqs are mostly one run, so all of
these now cost a row or two per batch and per node instead of several per reading.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from . import gaps

SCHEMA = """
-- No UNIQUE (node, seq): the keys are kept as ranges in seq_ranges (marks.py), which is the dedup.
CREATE TABLE IF NOT EXISTS readings (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    node    TEXT    NOT NULL,
    seq     INTEGER NOT NULL,
    rx_ms   INTEGER NOT NULL,
    flags   TEXT    NOT NULL,
    payload TEXT    NOT NULL,
    prio    INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS quarantine (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    rx_ms   INTEGER NOT NULL,
    source  TEXT    NOT NULL,
    reason  TEXT    NOT NULL,
    raw     BLOB    NOT NULL
);
-- Readings sent in a batch that waits for its receipt: every reading whose id is in [lo, hi].
-- Spans never overlap; ids are never reused (AUTOINCREMENT), so a span covers only readings of
-- its batch, and a reading no span covers is unsent.
CREATE TABLE IF NOT EXISTS in_flight (
    lo      INTEGER PRIMARY KEY,
    hi      INTEGER NOT NULL,
    batch   TEXT    NOT NULL,
    sent_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS in_flight_batch ON in_flight (batch);
CREATE INDEX IF NOT EXISTS in_flight_sent ON in_flight (sent_ms, lo);
-- The (node, seq) of readings stored here (`held` of them) or gone (forwarded, or dropped by the
-- quota), as seq ranges that never overlap; a range takes seqs for a limited time (buffer.py) and
-- goes when it holds none and its newest event is older than the dedup window.
CREATE TABLE IF NOT EXISTS seq_ranges (
    node     TEXT    NOT NULL,
    lo       INTEGER NOT NULL,
    hi       INTEGER NOT NULL,
    held     INTEGER NOT NULL,
    first_ms INTEGER NOT NULL,
    last_ms  INTEGER NOT NULL,
    PRIMARY KEY (node, lo)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ack_outbox (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    raw     BLOB    NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (
    name    TEXT PRIMARY KEY,
    value   INTEGER NOT NULL
);
"""
CACHE_KIB = 16 * 1024  # the page cache per connection, KiB
RELAY = "relay:"  # the prefix of the command relay's counters (relay_core.Tally)
COUNTERS = ("received", "duplicates", "forwarded", "quarantined", "dropped", "flooded", "receipts_seen")
INDEXES = "CREATE INDEX IF NOT EXISTS readings_prio ON readings (prio, id)"
# The layout version (PRAGMA user_version): 1 keeps marks as spans and ranges, 2 keeps the keys as
# seq ranges instead of a UNIQUE (node, seq) index. Files from before have 0.
LAYOUT = 2
# The readings table of layout 2, for the rebuild of an older file's (the same columns as SCHEMA's).
READINGS_2 = """
CREATE TABLE readings_2 (
    id INTEGER PRIMARY KEY AUTOINCREMENT, node TEXT NOT NULL, seq INTEGER NOT NULL, rx_ms INTEGER NOT NULL,
    flags TEXT NOT NULL, payload TEXT NOT NULL, prio INTEGER NOT NULL DEFAULT 0)"""


def open_file(path: Path, now_ms: int, dedup_span_ms: int) -> sqlite3.Connection:
    """The buffer file at `path`, checked and up to date (made at `now_ms` if new; an old
    file's forwarded keys become ranges of at most `dedup_span_ms` each); raises
    sqlite3.DatabaseError when it is corrupt."""
    # isolation_level=None: the buffer issues BEGIN/COMMIT itself, one per call.
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        (check,) = db.execute("PRAGMA quick_check(1)").fetchone()
        if check != "ok":
            raise sqlite3.DatabaseError(f"quick_check: {check}")
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        # SQLite's default page cache is 2 MB, less than one batch of 5,000 rows touches: the
        # select, the mark and the receipt each read the same pages again from the OS. 16 MiB keeps
        # a batch's pages between them (a backlog drain's SQLite CPU 10-20% lower; grows only as used).
        db.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
        db.executescript(SCHEMA)
        db.executescript(gaps.SCHEMA)
        columns = {row[1] for row in db.execute("PRAGMA table_info(readings)")}
        if "prio" not in columns:  # a buffer file from before priorities
            db.execute("ALTER TABLE readings ADD COLUMN prio INTEGER NOT NULL DEFAULT 0")
        db.execute(INDEXES)
        (layout,) = db.execute("PRAGMA user_version").fetchone()
        if layout < LAYOUT:
            upgrade(db, layout, "batch" in columns, now_ms, dedup_span_ms)
        db.executemany("INSERT OR IGNORE INTO counters (name, value) VALUES (?, 0)", [(c,) for c in COUNTERS])
        # when the file was made: the gap log's report ids start from it
        db.execute("INSERT OR IGNORE INTO counters (name, value) VALUES ('epoch_ms', ?)", (now_ms,))
        gaps.adopt_old_drops(db)
    except BaseException:
        db.close()
        raise
    return db


def upgrade(db: sqlite3.Connection, layout: int, marked_rows: bool, now_ms: int, span_ms: int) -> None:
    """A file from before layout 2, in one transaction: what `upgrade_marks` and `upgrade_keys` do."""
    db.execute("BEGIN IMMEDIATE")
    try:
        if layout < 1:
            upgrade_marks(db, marked_rows, span_ms)
        upgrade_keys(db, now_ms)
        db.execute(f"PRAGMA user_version = {LAYOUT}")
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


def upgrade_marks(db: sqlite3.Connection, marked_rows: bool, span_ms: int) -> None:
    """Layout 0 to 1: rows marked sent become spans of their batch (runs of consecutive rows with the
    same batch), the forwarded keys in ``done`` become seq ranges (runs of consecutive seqs of a node
    that left within the same `span_ms`), and the per-row marks' indexes and ``done`` go."""
    if marked_rows:
        # Gaps and islands: within a run of rows of one batch, the row's rank among all rows
        # minus its rank within its batch is constant.
        db.execute("""
            INSERT INTO in_flight (lo, hi, batch, sent_ms)
            SELECT MIN(id), MAX(id), batch, MAX(sent_ms) FROM (
                SELECT id, batch, sent_ms, n - ROW_NUMBER() OVER (PARTITION BY batch ORDER BY id) AS run
                FROM (SELECT id, batch, coalesce(sent_ms, 0) AS sent_ms, ROW_NUMBER() OVER (ORDER BY id) AS n
                      FROM readings)
            ) WHERE batch IS NOT NULL GROUP BY batch, run""")
        for index in ("readings_unsent", "readings_batch", "readings_sent"):
            db.execute(f"DROP INDEX IF EXISTS {index}")
    if db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'done'").fetchone():
        db.execute("CREATE TABLE IF NOT EXISTS done_ranges (node TEXT NOT NULL, lo INTEGER NOT NULL,"
                   " hi INTEGER NOT NULL, first_ms INTEGER NOT NULL, last_ms INTEGER NOT NULL,"
                   " PRIMARY KEY (node, lo)) WITHOUT ROWID")
        db.execute("""
            INSERT INTO done_ranges (node, lo, hi, first_ms, last_ms)
            SELECT node, MIN(seq), MAX(seq), MIN(ms), MAX(ms) FROM (
                SELECT node, seq, ms, seq - ROW_NUMBER() OVER (PARTITION BY node, ms / ? ORDER BY seq) AS run
                FROM done
            ) GROUP BY node, ms / ?, run""", (max(1, span_ms), max(1, span_ms)))
        db.execute("DROP TABLE done")


def upgrade_keys(db: sqlite3.Connection, now_ms: int) -> None:
    """Layout 1 to 2: the readings table is rebuilt without its UNIQUE (node, seq) index (SQLite cannot
    drop it) with every row and id kept, and the keys become seq ranges: the forwarded ones of
    ``done_ranges`` as they were, the buffered ones as runs of consecutive seqs per node, held. The
    ``batch`` and ``sent_ms`` columns of a layout-0 file go with the rebuild."""
    unique = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'index' AND tbl_name = 'readings'"
                        " AND name GLOB 'sqlite_autoindex_readings_*'").fetchone()
    if unique:
        (top,) = db.execute("SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'readings'), 0)").fetchone()
        db.execute(READINGS_2)
        db.execute("INSERT INTO readings_2 (id, node, seq, rx_ms, flags, payload, prio)"
                   " SELECT id, node, seq, rx_ms, flags, payload, prio FROM readings ORDER BY id")
        db.execute("DROP TABLE readings")
        db.execute("ALTER TABLE readings_2 RENAME TO readings")
        # ids are never reused (marks.py): the counter goes on from where the old table's was
        (top,) = db.execute("SELECT max(?, coalesce(MAX(id), 0)) FROM readings", (top,)).fetchone()
        db.execute("DELETE FROM sqlite_sequence WHERE name = 'readings'")
        db.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('readings', ?)", (top,))
        db.execute(INDEXES)
    db.execute("""
        INSERT INTO seq_ranges (node, lo, hi, held, first_ms, last_ms)
        SELECT node, MIN(seq), MAX(seq), COUNT(*), ?1, ?1 FROM (
            SELECT node, seq, seq - ROW_NUMBER() OVER (PARTITION BY node ORDER BY seq) AS run FROM readings
        ) GROUP BY node, run""", (now_ms,))
    if db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'done_ranges'").fetchone():
        db.execute("INSERT INTO seq_ranges (node, lo, hi, held, first_ms, last_ms)"
                   " SELECT node, lo, hi, 0, first_ms, last_ms FROM done_ranges")
        db.execute("DROP TABLE done_ranges")
