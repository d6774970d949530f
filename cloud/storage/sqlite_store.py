"""Readings in SQLite: the embedded default for one machine and the demo farm.

The standard library's sqlite3 runs in a worker thread (asyncio.to_thread),
in WAL mode so readers never wait on the writer. UNIQUE(node, seq, measurement,
depth_cm, channel) with INSERT OR IGNORE stores a retried reading once; a
missing depth or channel is stored as -1 because SQLite treats NULLs in a
UNIQUE index as all distinct.
"""

import asyncio
import json
import sqlite3
import threading
from pathlib import Path

from ._reading import Reading

_NONE = -1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS readings (
    node        TEXT    NOT NULL,
    seq         INTEGER NOT NULL,
    measurement TEXT    NOT NULL,
    depth_cm    INTEGER NOT NULL,
    channel     INTEGER NOT NULL,
    site        TEXT    NOT NULL,
    gateway     TEXT    NOT NULL,
    role        TEXT    NOT NULL,
    unit        TEXT    NOT NULL,
    value       REAL,
    fault       TEXT,
    ts_ms       INTEGER NOT NULL,
    rx_ms       INTEGER,
    flags       TEXT,
    UNIQUE (node, seq, measurement, depth_cm, channel)
);
CREATE INDEX IF NOT EXISTS readings_node_ts ON readings (node, ts_ms);
CREATE INDEX IF NOT EXISTS readings_ts ON readings (ts_ms);
"""

_COLUMNS = (
    "node, seq, measurement, depth_cm, channel, site, gateway, role, unit,"
    " value, fault, ts_ms, rx_ms, flags"
)
_ORDER = "ORDER BY ts_ms, node, measurement, depth_cm, channel, seq"


def _to_row(r: Reading) -> tuple:
    return (
        r.node,
        r.seq,
        r.measurement,
        _NONE if r.depth_cm is None else r.depth_cm,
        _NONE if r.channel is None else r.channel,
        r.site,
        r.gateway,
        r.role,
        r.unit,
        r.value,
        r.fault,
        r.ts_ms,
        r.rx_ms,
        json.dumps(list(r.flags)) if r.flags else None,
    )


def _from_row(row: tuple) -> Reading:
    node, seq, measurement, depth, channel, site, gw, role, unit, value, fault, ts, rx, flags = row
    return Reading(
        site=site,
        gateway=gw,
        node=node,
        role=role,
        measurement=measurement,
        unit=unit,
        depth_cm=None if depth == _NONE else depth,
        channel=None if channel == _NONE else channel,
        value=value,
        fault=fault,
        seq=seq,
        ts_ms=ts,
        rx_ms=rx,
        flags=tuple(json.loads(flags)) if flags else (),
    )


class SqliteReadingStore:
    """ReadingStore on one SQLite file (``path``; ":memory:" works for one process)."""

    backend = "sqlite"

    def __init__(self, path: Path | str) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(_SCHEMA)

    def _run(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def _insert(self, rows: list[tuple]) -> int:
        with self._lock:
            before = self._conn.total_changes
            self._conn.execute("BEGIN")
            try:
                self._conn.executemany(
                    f"INSERT OR IGNORE INTO readings ({_COLUMNS}) VALUES "
                    "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
            return self._conn.total_changes - before

    async def write(self, points: list[Reading]) -> int:
        if not points:
            return 0
        return await asyncio.to_thread(self._insert, [_to_row(r) for r in points])

    async def query(
        self,
        node: str | None,
        measurement: str | None,
        start_ms: int,
        end_ms: int,
        limit: int,
    ) -> list[Reading]:
        where = ["ts_ms >= ?", "ts_ms < ?"]
        params: list = [start_ms, end_ms]
        if node is not None:
            where.append("node = ?")
            params.append(node)
        if measurement is not None:
            where.append("measurement = ?")
            params.append(measurement)
        sql = f"SELECT {_COLUMNS} FROM readings WHERE {' AND '.join(where)} {_ORDER} LIMIT ?"
        rows = await asyncio.to_thread(self._run, sql, (*params, limit))
        return [_from_row(row) for row in rows]

    async def latest(self, node: str) -> list[Reading]:
        sql = (
            f"SELECT {_COLUMNS} FROM ("
            f" SELECT {_COLUMNS}, ROW_NUMBER() OVER ("
            "  PARTITION BY measurement, depth_cm, channel ORDER BY ts_ms DESC, seq DESC) AS rn"
            " FROM readings WHERE node = ?)"
            " WHERE rn = 1 ORDER BY measurement, depth_cm, channel"
        )
        rows = await asyncio.to_thread(self._run, sql, (node,))
        return [_from_row(row) for row in rows]

    async def count(self, node: str | None = None) -> int:
        if node is None:
            rows = await asyncio.to_thread(self._run, "SELECT count(*) FROM readings")
        else:
            rows = await asyncio.to_thread(
                self._run, "SELECT count(*) FROM readings WHERE node = ?", (node,)
            )
        return int(rows[0][0])

    async def close(self) -> None:
        with self._lock:
            self._conn.close()
