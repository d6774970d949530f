"""The buffer's SQLite file: its tables, and what opening it checks and brings up to date.

Opening runs SQLite's quick check (a corrupt file raises, and the buffer salvages it:
recovery.py), puts the file in WAL mode with ``synchronous=FULL`` (buffer.py says why),
creates what is missing, and upgrades a file written by an older gateway: readings get
their priority and their sent batch, and drops kept per node become gap reports (gaps.py).
``counters`` also keeps the command relay's refusal counts (``relay:`` names, added when
first counted: an older file takes them as it is).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from . import gaps

SCHEMA = """
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
INDEXES = """
CREATE INDEX IF NOT EXISTS readings_prio ON readings (prio, id);
CREATE INDEX IF NOT EXISTS readings_unsent ON readings (id) WHERE batch IS NULL;
CREATE INDEX IF NOT EXISTS readings_batch ON readings (batch) WHERE batch IS NOT NULL;
CREATE INDEX IF NOT EXISTS readings_sent ON readings (sent_ms) WHERE batch IS NOT NULL;
"""


def open_file(path: Path, now_ms: int) -> sqlite3.Connection:
    """The buffer file at `path`, checked and up to date (made at `now_ms` if new); raises
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
        if "batch" not in columns:  # ... from before receipts: every row is unsent
            db.execute("ALTER TABLE readings ADD COLUMN batch TEXT")
            db.execute("ALTER TABLE readings ADD COLUMN sent_ms INTEGER")
        db.executescript(INDEXES)
        db.executemany("INSERT OR IGNORE INTO counters (name, value) VALUES (?, 0)", [(c,) for c in COUNTERS])
        # when the file was made: the gap log's report ids start from it
        db.execute("INSERT OR IGNORE INTO counters (name, value) VALUES ('epoch_ms', ?)", (now_ms,))
        gaps.adopt_old_drops(db)
    except BaseException:
        db.close()
        raise
    return db
