"""Salvage from a corrupt buffer file: every reading that can still be read.

An SD card that loses a block, or a write torn by a power cut on hardware that
lies about fsync, can leave pages SQLite cannot read. The buffer then moves
the file aside and starts afresh (see DurableBuffer), copying over what this
module can still read: readings are read in id ranges, and a range whose
pages are unreadable is stepped over, so one bad page costs at most the
readings stored on it, never the rest.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

SALVAGE_STEP = 256


def salvage(path: Path) -> tuple[list[tuple[Any, ...]], int]:
    """Readings still readable in a corrupt buffer file, stepping over the id
    ranges whose pages cannot be read. Returns (rows, unreadable ranges)."""
    rows: list[tuple[Any, ...]] = []
    unreadable = 0
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.DatabaseError:
        return rows, 1
    try:
        try:
            (top,) = db.execute("SELECT MAX(id) FROM readings").fetchone()
        except sqlite3.DatabaseError:
            top = None
        if top is None:
            try:
                (top,) = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'readings'").fetchone()
            except (sqlite3.DatabaseError, TypeError):
                return rows, 1
        start = 0
        while start <= top:
            try:
                rows += db.execute(
                    "SELECT node, seq, rx_ms, flags, payload FROM readings WHERE id >= ? AND id < ? ORDER BY id",
                    (start, start + SALVAGE_STEP),
                ).fetchall()
            except sqlite3.DatabaseError:
                unreadable += 1
            start += SALVAGE_STEP
    finally:
        db.close()
    return rows, unreadable
