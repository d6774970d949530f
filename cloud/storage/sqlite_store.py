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
from collections.abc import Sequence
from pathlib import Path

from .._time import Clock, now_ms
from ._reading import AGGREGATES, Bucket, Reading

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
CREATE TABLE IF NOT EXISTS readings_hourly (
    node        TEXT    NOT NULL,
    measurement TEXT    NOT NULL,
    depth_cm    INTEGER NOT NULL,
    channel     INTEGER NOT NULL,
    hour_ms     INTEGER NOT NULL,
    sum         REAL,
    n           INTEGER NOT NULL,
    min         REAL,
    max         REAL,
    PRIMARY KEY (node, measurement, depth_cm, channel, hour_ms)
);
CREATE TABLE IF NOT EXISTS rollup_state (id INTEGER PRIMARY KEY CHECK (id = 1), last_rowid INTEGER NOT NULL);
INSERT OR IGNORE INTO rollup_state (id, last_rowid) VALUES (1, 0);
-- The newest reading of each sensor, kept by a trigger: latest() reads one row per sensor
-- instead of ranking the node's whole history (seconds with a season of data).
CREATE TABLE IF NOT EXISTS readings_latest (
    node        TEXT    NOT NULL,
    measurement TEXT    NOT NULL,
    depth_cm    INTEGER NOT NULL,
    channel     INTEGER NOT NULL,
    ts_ms       INTEGER NOT NULL,
    seq         INTEGER NOT NULL,
    rid         INTEGER NOT NULL,
    PRIMARY KEY (node, measurement, depth_cm, channel)
);
CREATE TRIGGER IF NOT EXISTS readings_keep_latest AFTER INSERT ON readings BEGIN
    INSERT INTO readings_latest (node, measurement, depth_cm, channel, ts_ms, seq, rid)
    VALUES (new.node, new.measurement, new.depth_cm, new.channel, new.ts_ms, new.seq, new.rowid)
    ON CONFLICT (node, measurement, depth_cm, channel) DO UPDATE SET
        ts_ms = excluded.ts_ms, seq = excluded.seq, rid = excluded.rid
    WHERE excluded.ts_ms > readings_latest.ts_ms
       OR (excluded.ts_ms = readings_latest.ts_ms AND excluded.seq > readings_latest.seq);
END;
"""

# A store made before readings_latest existed: fill it once from the history.
_BACKFILL_LATEST = """
INSERT OR REPLACE INTO readings_latest (node, measurement, depth_cm, channel, ts_ms, seq, rid)
SELECT node, measurement, depth_cm, channel, ts_ms, seq, rid FROM (
    SELECT node, measurement, depth_cm, channel, ts_ms, seq, rowid AS rid, ROW_NUMBER() OVER (
        PARTITION BY node, measurement, depth_cm, channel ORDER BY ts_ms DESC, seq DESC) AS rn
    FROM readings)
WHERE rn = 1
"""

HOUR_MS, DAY_MS = 3_600_000, 86_400_000
# Per (sensor, window): sum, count, min and max, from raw rows or from the hourly roll-up
# (which keeps sum and n, so a mean over any number of hours is exact).
_PART_SQL = {
    "raw": "SELECT node, depth_cm, channel, ts_ms - ts_ms % {w} AS t, value AS s, value IS NOT NULL AS n,"
           " value AS lo, value AS hi FROM readings"
           " WHERE measurement = ? AND node IN ({marks}) AND ts_ms >= ? AND ts_ms < ?",
    "rolled": "SELECT node, depth_cm, channel, hour_ms - hour_ms % {w} AS t, sum AS s, n, min AS lo, max AS hi"
              " FROM readings_hourly WHERE measurement = ? AND node IN ({marks}) AND hour_ms >= ? AND hour_ms < ?",
}
_MAX_SPANS = 16  # more runs of changed hours than this: one raw query beats many small ones


def _spans(hours: list[int]) -> list[tuple[int, int]]:
    """Sorted hour starts -> runs of consecutive hours [(start, end)]."""
    out: list[tuple[int, int]] = []
    for h in hours:
        if out and out[-1][1] == h:
            out[-1] = (out[-1][0], h + HOUR_MS)
        else:
            out.append((h, h + HOUR_MS))
    return out


def _complement(spans: list[tuple[int, int]], start: int, end: int) -> list[tuple[int, int]]:
    """[start, end) without the sorted, disjoint `spans`."""
    out, at = [], start
    for a, b in spans:
        if a > at:
            out.append((at, a))
        at = max(at, b)
    if at < end:
        out.append((at, end))
    return out


# fn -> how the parts' (s, n, lo, hi) give it: exact, as sums and counts are combined, never means
_FOLD = {"mean": "sum(s) / sum(n)", "sum": "sum(s)", "count": "sum(n)", "min": "min(lo)", "max": "max(hi)"}

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

    def __init__(self, path: Path | str, raw_retention_days: int | None = None, clock: Clock = now_ms) -> None:
        self._clock = clock  # what "past retention" is measured from
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(_SCHEMA)
        (empty_latest,) = self._conn.execute("SELECT NOT EXISTS (SELECT 1 FROM readings_latest)").fetchone()
        (has_readings,) = self._conn.execute("SELECT EXISTS (SELECT 1 FROM readings)").fetchone()
        if empty_latest and has_readings:
            self._conn.execute(_BACKFILL_LATEST)
        self.raw_retention_days = raw_retention_days

    def _run(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def _insert(self, rows: list[tuple]) -> int:
        with self._lock:
            self._conn.execute("BEGIN")
            try:
                # rowcount counts the rows inserted (a duplicate ignored is not); total_changes would
                # count the readings_latest trigger's writes too
                stored = self._conn.executemany(
                    f"INSERT OR IGNORE INTO readings ({_COLUMNS}) VALUES "
                    "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    rows,
                ).rowcount
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
            return stored

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
            f"SELECT {_COLUMNS} FROM readings"
            " WHERE rowid IN (SELECT rid FROM readings_latest WHERE node = ?)"
            " ORDER BY measurement, depth_cm, channel"
        )
        rows = await asyncio.to_thread(self._run, sql, (node,))
        return [_from_row(row) for row in rows]

    async def latest_many(self, nodes: Sequence[str]) -> dict[str, list[Reading]]:
        # a local index lookup per node: no round trip worth merging
        return {n: await self.latest(n) for n in sorted(set(nodes))}

    async def count(self, node: str | None = None) -> int:
        if node is None:
            rows = await asyncio.to_thread(self._run, "SELECT count(*) FROM readings")
        else:
            rows = await asyncio.to_thread(
                self._run, "SELECT count(*) FROM readings WHERE node = ?", (node,)
            )
        return int(rows[0][0])

    # --- roll-up and retention job --------------------------------------------

    def _maintain(self, now_ms: int) -> tuple[int, int]:
        """Add the rows inserted since the last run to their hours' roll-ups, then drop raw rows
        past the retention; (sensor-hours updated, deleted).

        Adding (not recomputing the hour from the raw rows) is exact: every row up to the last
        run's rowid is already in its hour's roll-up, and a late row for an hour whose raw rows
        retention has dropped must join what the roll-up holds, not replace it."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                (last,) = self._conn.execute("SELECT last_rowid FROM rollup_state WHERE id = 1").fetchone()
                (top,) = self._conn.execute("SELECT coalesce(max(rowid), 0) FROM readings").fetchone()
                touched = self._conn.execute(
                    "INSERT INTO readings_hourly (node, measurement, depth_cm, channel, hour_ms, sum, n, min, max)"
                    f" SELECT node, measurement, depth_cm, channel, ts_ms - (ts_ms % {HOUR_MS}) AS h, sum(value),"
                    " count(value), min(value), max(value)"
                    " FROM readings WHERE rowid > ? AND rowid <= ? AND value IS NOT NULL"
                    " GROUP BY node, measurement, depth_cm, channel, h"
                    " ON CONFLICT (node, measurement, depth_cm, channel, hour_ms) DO UPDATE SET"
                    " sum = readings_hourly.sum + excluded.sum, n = readings_hourly.n + excluded.n,"
                    " min = min(readings_hourly.min, excluded.min), max = max(readings_hourly.max, excluded.max)",
                    (last, top)).rowcount
                self._conn.execute("UPDATE rollup_state SET last_rowid = ? WHERE id = 1", (top,))
                deleted = 0
                if self.raw_retention_days:
                    horizon = now_ms - self.raw_retention_days * DAY_MS
                    deleted = self._conn.execute("DELETE FROM readings WHERE ts_ms < ?", (horizon,)).rowcount
                    self._conn.execute("DELETE FROM readings_latest WHERE ts_ms < ?", (horizon,))
                    # SQLite gives a new row max(rowid) + 1: had the newest rows gone, rowids up to
                    # `top` would come back and the next run would take them as rolled up already
                    (kept,) = self._conn.execute("SELECT coalesce(max(rowid), 0) FROM readings").fetchone()
                    if kept < top:
                        self._conn.execute("UPDATE rollup_state SET last_rowid = ? WHERE id = 1", (kept,))
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
            return touched, deleted

    async def maintain(self, now_ms: int) -> tuple[int, int]:
        """The roll-up and retention job (the app runs it every few minutes)."""
        return await asyncio.to_thread(self._maintain, now_ms)

    # --- aggregation ------------------------------------------------------------

    async def aggregate(self, nodes: list[str], measurement: str, start_ms: int, end_ms: int,
                        window_ms: int, fn: str) -> list[Bucket]:
        if fn not in AGGREGATES or not nodes:
            return []
        if window_ms % HOUR_MS:
            out = await self._raw_buckets(nodes, measurement, start_ms, end_ms, window_ms, fn)
        else:
            horizon = self._clock() - self.raw_retention_days * DAY_MS if self.raw_retention_days else None
            rows = await asyncio.to_thread(self._hourly, nodes, measurement, start_ms, end_ms, window_ms, fn, horizon)
            out = self._to_buckets(rows, measurement)
        out.sort(key=lambda b: (b.time_ms, b.node, -1 if b.depth_cm is None else b.depth_cm,
                                -1 if b.channel is None else b.channel))
        return out

    def _hourly(self, nodes: list[str], measurement: str, start_ms: int, end_ms: int, window_ms: int, fn: str,
                horizon: int | None) -> list[tuple]:
        """Rows (node, depth, channel, window, value, count) for a window of whole hours.

        An hour comes from the roll-up when it is rolled up and unchanged since: no row inserted
        after the job's last run (rowid > rollup_state.last_rowid) falls in it. Hours such rows
        touch (the newest ones, or a late backlog), and partial hours at the ends of the range,
        come from raw rows. Hours before the retention horizon always come from the roll-up: their
        raw rows are gone.
        """
        marks = ",".join("?" * len(nodes))
        first = min(end_ms, start_ms + (-start_ms) % HOUR_MS)  # whole hours: [first, stop)
        stop = max(first, end_ms - end_ms % HOUR_MS)
        keep = first if horizon is None else max(first, min(stop, horizon + (-horizon) % HOUR_MS))
        with self._lock:
            self._conn.execute("BEGIN")  # one snapshot: the roll-up job cannot run in between
            try:
                (last,) = self._conn.execute("SELECT last_rowid FROM rollup_state WHERE id = 1").fetchone()
                # the unary + keeps the indexes on node and ts_ms out of it: the rows since the
                # last run are a short rowid range, the node's rows over the range are not
                dirty = [h for (h,) in self._conn.execute(
                    f"SELECT DISTINCT ts_ms - ts_ms % {HOUR_MS} AS h FROM readings WHERE rowid > ?"
                    f" AND +measurement = ? AND +node IN ({marks}) AND +ts_ms >= ? AND +ts_ms < ? ORDER BY h",
                    (last, measurement, *nodes, keep, stop))]
                raw = _spans(dirty)
                if len(raw) > _MAX_SPANS:  # changes scattered all over: read raw rows for all of it
                    raw = [(keep, stop)] if keep < stop else []
                parts = [("rolled", a, b) for a, b in _complement(raw, first, stop)]
                parts += [("raw", a, b) for a, b in [*raw, (start_ms, first), (stop, end_ms)] if a < b]
                if not parts:
                    return []
                union = " UNION ALL ".join(_PART_SQL[t].format(w=int(window_ms), marks=marks) for t, _, _ in parts)
                sql = (f"SELECT node, depth_cm, channel, t, {_FOLD[fn]}, sum(n) FROM ({union})"
                       " GROUP BY node, depth_cm, channel, t")
                params = [p for _, a, b in parts for p in (measurement, *nodes, a, b)]
                return self._conn.execute(sql, params).fetchall()
            finally:
                self._conn.execute("COMMIT")

    @staticmethod
    def _to_buckets(rows: list[tuple], measurement: str) -> list[Bucket]:
        return [
            Bucket(node, measurement, None if d == _NONE else d, None if c == _NONE else c, t,
                   None if v is None else float(v), n)
            for node, d, c, t, v, n in rows if n
        ]

    async def _raw_buckets(self, nodes: list[str], measurement: str, start_ms: int, end_ms: int,
                           window_ms: int, fn: str) -> list[Bucket]:
        sql_fn = {"mean": "avg"}.get(fn, fn)
        marks = ",".join("?" * len(nodes))
        bucket = f"(ts_ms - (ts_ms % {int(window_ms)}))"
        sql = (
            f"SELECT node, depth_cm, channel, {bucket} AS t, {sql_fn}(value), count(value) FROM readings"
            f" WHERE measurement = ? AND node IN ({marks}) AND ts_ms >= ? AND ts_ms < ?"
            " GROUP BY node, depth_cm, channel, t ORDER BY t, node, depth_cm, channel"
        )
        rows = await asyncio.to_thread(self._run, sql, (measurement, *nodes, start_ms, end_ms))
        return self._to_buckets(rows, measurement)

    async def close(self) -> None:
        with self._lock:
            self._conn.close()
