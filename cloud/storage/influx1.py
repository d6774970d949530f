"""Readings in InfluxDB 1.x over its HTTP API.

Writes are POST /write?db=..&precision=ns (see lineprotocol) with up to ``lines_per_request``
lines each, retried with capped, jittered backoff on 5xx and connection
errors; when the retries run out the store raises StorageUnavailable so the
caller keeps the data and applies back-pressure. Reads are InfluxQL over
GET /query with epoch=ms.
"""

import logging
import time
import uuid
from collections.abc import Sequence

import httpx
import numpy as np
import orjson

from furrow.edge.measurements import MEASUREMENTS

from .._time import Clock, now_ms
from ._reading import AGGREGATES, Bucket, Reading, StorageRejected, StorageUnavailable
from ._reports import Reports
from ._retry import RetryPolicy, retrying
from ._table import Table, buckets_of, stack, table_of
from .influx1_cache import (
    CHANGES_MEASUREMENT,
    CHANGES_POLICY,
    MARK_HORIZON_S,
    MARK_SLACK_S,
    Block,
    ClosedWindows,
    Series,
)
from .influx1_rollups import HOUR_MS, HOURLY, LATE_MS, NATIVE_MS, ROLLED, Rollups
from .lineprotocol import from_row, readable, report_lines, to_lines

log = logging.getLogger(__name__)

# 401/403: wrong credentials, 404: no such database. Retrying later can succeed
# once an operator fixes it, so the data is kept (unavailable), never dropped.
_RETRY_LATER = {401, 403, 404}


def _in_order(buckets: list[Bucket]) -> list[Bucket]:
    """`buckets` oldest first, then by node, depth and channel (the order `aggregate` answers in)."""
    buckets.sort(key=lambda b: (b.time_ms, b.node, b.depth_cm or -1, b.channel or -1))
    return buckets


CACHE_MARGIN_MS = HOUR_MS  # cached windows closed this long before the roll-ups call them closed (the
# daily continuous query runs hourly: a day it may still be recomputing is read afresh)
# nodes per `latest_many` query: their names are in the query's URL (GET /query), 100 keep it near 3 kB
LATEST_NODES_PER_QUERY = 100


def _ident(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _literal(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class Influx1ReadingStore:
    """ReadingStore on an InfluxDB 1.x database."""

    backend = "influxdb1"

    def __init__(
        self,
        url: str,
        database: str,
        *,
        username: str | None = None,
        password: str | None = None,
        timeout_s: float = 10.0,
        retry: RetryPolicy | None = None,
        lines_per_request: int = 5000,
        rollups: Rollups | None = None,
        clock: Clock = now_ms,
        chart_cache_rows: int = 0,
    ) -> None:
        if not database:
            raise ValueError("database must be a non-empty name")
        self.database = database
        self.rollups = rollups
        self._clock = clock  # which points are late, which roll-up windows are closed
        self._rollups_ready = False  # set once the policies and continuous queries exist
        self._retry = retry or RetryPolicy()
        self._lines_per_request = lines_per_request
        auth = httpx.BasicAuth(username, password or "") if username else None
        self._http = httpx.AsyncClient(base_url=url.rstrip("/"), auth=auth, timeout=timeout_s)
        # closed roll-up windows already read (influx1_cache); None: every chart asks InfluxDB
        self.closed = ClosedWindows(chart_cache_rows) if rollups is not None and chart_cache_rows > 0 else None
        self._writer = uuid.uuid4().hex[:16]  # this store's change marks (its own are applied as made)
        self._marks_read_at: float | None = None  # time.monotonic() of the last read of the marks
        self._marks_seen: set[tuple] = set()
        self.unreadable = 0  # stored points read and skipped: no seq or time (lineprotocol.readable)

    # --- writing ---------------------------------------------------------

    async def write(self, points: Sequence[Reading]) -> int:
        """Store `points`; a `Reports` (ingest's validated reports) is written without a
        `Reading` ever being made of it."""
        lines = report_lines(points) if isinstance(points, Reports) else to_lines(points)
        step = self._lines_per_request
        for i in range(0, len(lines), step):
            await self._post_lines("\n".join(lines[i : i + step]).encode())
        if self.rollups is not None:
            cut = self._clock() - LATE_MS
            if isinstance(points, Reports):
                late = points.late(cut)
            else:
                old = [p for p in points if p.ts_ms < cut]
                late = (min(p.ts_ms for p in old), max(p.ts_ms for p in old), sorted({p.node for p in old})) \
                    if old else None
            if late:  # older than the continuous queries look back: roll them up now
                await self.backfill_rollups(*late)
        return len(points)

    async def _post_lines(self, body: bytes, policy: str | None = None) -> None:
        params = {"db": self.database, "precision": "ns"}
        if policy is not None:
            params["rp"] = policy

        async def attempt() -> None:
            try:
                resp = await self._http.post("/write", params=params, content=body)
            except httpx.HTTPError as e:
                raise StorageUnavailable(
                    self.backend, f"cannot reach InfluxDB at {self._http.base_url}: {e!r}"
                ) from e
            if resp.status_code in (200, 204):
                return
            problem = f"/write answered {resp.status_code}: {resp.text.strip()[:200]}"
            if 400 <= resp.status_code < 500 and resp.status_code not in _RETRY_LATER:
                raise StorageRejected(self.backend, problem)
            raise StorageUnavailable(self.backend, problem)

        await retrying(attempt, self._retry)

    # --- reading ---------------------------------------------------------

    async def _query(self, q: str, *, post: bool = False) -> list[dict]:
        """Run InfluxQL; return the series of the first statement."""
        params = {"db": self.database, "q": q, "epoch": "ms"}
        try:
            if post:
                resp = await self._http.post("/query", params=params)
            else:
                resp = await self._http.get("/query", params=params)
        except httpx.HTTPError as e:
            raise StorageUnavailable(self.backend, f"cannot reach InfluxDB: {e!r}") from e
        if resp.status_code >= 500 or resp.status_code in _RETRY_LATER:
            raise StorageUnavailable(self.backend, f"/query answered {resp.status_code}")
        try:
            body = orjson.loads(resp.content)  # 43,200 rows of an hourly 90-day chart: a third of json's time
        except orjson.JSONDecodeError as e:
            raise StorageUnavailable(self.backend, f"/query answered {resp.status_code} with no JSON: {e}") from e
        if "error" in body:
            raise StorageRejected(self.backend, f"query {q!r}: {body['error']}")
        result = (body.get("results") or [{}])[0]
        if "error" in result:
            raise StorageRejected(self.backend, f"query {q!r}: {result['error']}")
        return result.get("series") or []

    async def ensure_database(self) -> None:
        """CREATE DATABASE (a no-op when it exists), then its retention policies and roll-ups."""
        await self._query(f"CREATE DATABASE {_ident(self.database)}", post=True)
        if self.rollups is not None:
            for statement in self.rollups.setup():
                try:
                    await self._query(statement, post=True)
                except StorageRejected as e:
                    if "already exists" not in str(e) and "not found" not in str(e):
                        raise
            self._rollups_ready = True

    async def backfill_rollups(self, start_ms: int, end_ms: int, nodes: list[str] | None = None) -> None:
        """Roll up [start, end] now (for `nodes`, or all): for data that arrived late or was
        loaded around the service. Writes through the store do it themselves."""
        if self.rollups is None:
            raise StorageRejected(self.backend, "roll-ups are not enabled (FURROW_INFLUX_ROLLUPS)")
        if not self._rollups_ready:  # InfluxDB was down at startup: set them up now
            await self.ensure_database()
        for statement in self.rollups.backfill(start_ms, end_ms, nodes):
            try:
                await self._query(statement, post=True)
            except StorageRejected as e:
                # the database is reachable but refused: the raw points are stored, which
                # matters most; the roll-up is redone by the next write or backfill
                raise StorageUnavailable(self.backend, f"roll-up failed: {e}") from e
        await self.rolled_up_again(nodes, start_ms, end_ms)

    async def rolled_up_again(self, nodes: list[str] | None, start_ms: int, end_ms: int) -> None:
        """Closed windows of `nodes` (None: all) from `start_ms` on changed: out of this process's
        cache now, and a change mark for every other instance's (``_read_marks``). A mark that cannot
        be written is StorageUnavailable: the caller keeps the batch and writes it again."""
        if self.closed is not None:
            self.closed.invalidate(nodes, start_ms, end_ms)
        text = orjson.dumps(sorted(nodes) if nodes else []).decode().replace("\\", "\\\\").replace('"', '\\"')
        line = (f"{CHANGES_MEASUREMENT},writer={self._writer} start_ms={int(start_ms)}i,end_ms={int(end_ms)}i,"
                f'nodes="{text}"')  # no timestamp: InfluxDB's clock orders every instance's marks
        await retrying(lambda: self._post_lines(line.encode(), CHANGES_POLICY), self._retry)

    async def _read_marks(self, cache: ClosedWindows) -> None:
        """Apply the change marks other instances wrote since the last read (and a minute before it,
        for writes stamped before they became visible); nothing read for too long: drop everything."""
        now = time.monotonic()
        back_s = MARK_SLACK_S if self._marks_read_at is None else now - self._marks_read_at + MARK_SLACK_S
        if back_s > MARK_HORIZON_S:
            cache.clear()
            back_s = MARK_SLACK_S
        q = (f'SELECT "start_ms", "end_ms", "nodes", "writer" FROM {_ident(CHANGES_POLICY)}.'
             f"{_ident(CHANGES_MEASUREMENT)} WHERE time > now() - {int(back_s * 1000) + 1}ms")
        seen = set()
        for s in await self._query(q):
            at = {c: i for i, c in enumerate(s.get("columns") or [])}
            for row in s.get("values") or []:
                mark = (row[0], row[at["writer"]], row[at["start_ms"]], row[at["end_ms"]], row[at["nodes"]])
                seen.add(mark)
                if mark not in self._marks_seen and mark[1] != self._writer:
                    cache.invalidate(orjson.loads(mark[4]) or None, int(mark[2]), int(mark[3]))
        self._marks_seen = seen  # older ones lie before every later read's window
        self._marks_read_at = now

    @staticmethod
    def _from(measurement: str | None) -> str:
        names = [measurement] if measurement is not None else list(MEASUREMENTS)
        return ",".join(_ident(n) for n in names)

    def _readings(self, series: list[dict]) -> list[Reading]:
        out = []
        skipped: list[str] = []
        for s in series:
            columns = s["columns"]
            tags = s.get("tags") or {}
            for values in s.get("values") or []:
                row = dict(zip(columns, values, strict=True))
                if readable(row):
                    out.append(from_row(s["name"], tags, row))
                else:
                    skipped.append(s["name"])
        if skipped:
            self.unreadable += len(skipped)
            log.warning("skipped %d stored point(s) without seq or time in %s (not written by Furrow?): "
                        "%d so far", len(skipped), ", ".join(sorted(set(skipped))), self.unreadable)
        return out

    async def query(
        self,
        node: str | None,
        measurement: str | None,
        start_ms: int,
        end_ms: int,
        limit: int,
    ) -> list[Reading]:
        if measurement is not None and measurement not in MEASUREMENTS:
            return []
        where = f"time >= {int(start_ms)}ms AND time < {int(end_ms)}ms"
        if node is not None:
            where += f" AND {_ident('node')} = {_literal(node)}"
        # GROUP BY * gives one series per sensor and LIMIT applies per series,
        # so the union holds the first `limit` readings overall however ties fall.
        q = (
            f"SELECT * FROM {self._from(measurement)} WHERE {where} "
            f"GROUP BY * ORDER BY time ASC LIMIT {int(limit)}"
        )
        readings = self._readings(await self._query(q))
        readings.sort(key=Reading.sort_key)
        return readings[:limit]

    async def latest(self, node: str) -> list[Reading]:
        return (await self.latest_many([node])).get(node, [])

    async def latest_many(self, nodes: Sequence[str]) -> dict[str, list[Reading]]:
        """``latest`` of each of `nodes` in one query per ``LATEST_NODES_PER_QUERY`` of them: a query per
        node cost the alert job 8 ms of InfluxDB and 3 ms of this process each (docs/performance.md,
        "Alert evaluation")."""
        wanted = sorted(set(nodes))
        newest: dict[str, dict[tuple, Reading]] = {n: {} for n in wanted}
        for i in range(0, len(wanted), LATEST_NODES_PER_QUERY):
            # The newest point *with seq* of each series (GROUP BY * gives one per sensor and gateway):
            # the field condition holds for every point Furrow writes (lineprotocol.readable), so
            # another program's newer point without seq no longer hides the sensor's newest reading.
            q = (
                f"SELECT * FROM {self._from(None)} WHERE ({self._which(wanted[i : i + LATEST_NODES_PER_QUERY])})"
                f' AND ({_ident("seq")} >= 0 OR {_ident("seq")} < 0) GROUP BY * ORDER BY time DESC LIMIT 1'
            )
            # A node that moved gateway has two series per sensor: keep the newer.
            for r in self._readings(await self._query(q)):
                mine = newest.setdefault(r.node, {})
                key = r.sensor_key()
                old = mine.get(key)
                if old is None or (r.ts_ms, r.seq) > (old.ts_ms, old.seq):
                    mine[key] = r
        return {n: [mine[k] for k in sorted(mine)] for n, mine in newest.items()}

    async def count(self, node: str | None = None) -> int:
        # Every point has a seq field, value or fault: counting seq counts faults too.
        q = f"SELECT count({_ident('seq')}) FROM {self._from(None)}"
        if node is not None:
            q += f" WHERE {_ident('node')} = {_literal(node)}"
        total = 0
        for s in await self._query(q):
            for values in s.get("values") or []:
                total += int(values[1] or 0)
        return total

    async def aggregate(self, nodes: list[str], measurement: str, start_ms: int, end_ms: int,
                        window_ms: int, fn: str) -> list[Bucket]:
        parts = await self._aggregate(nodes, measurement, start_ms, end_ms, window_ms, fn)
        return [b for part in parts for b in (buckets_of(part, measurement) if isinstance(part, Table) else part)]

    async def aggregate_table(self, nodes: list[str], measurement: str, start_ms: int, end_ms: int,
                              window_ms: int, fn: str) -> Table:
        """``aggregate`` as columns (``_table``): the windows the chart cache holds go from its arrays to
        the table without a Bucket each."""
        parts = await self._aggregate(nodes, measurement, start_ms, end_ms, window_ms, fn)
        return stack([part if isinstance(part, Table) else table_of(part) for part in parts])

    async def _aggregate(self, nodes: list[str], measurement: str, start_ms: int, end_ms: int,
                         window_ms: int, fn: str) -> list[list[Bucket] | Table]:
        """``aggregate``'s answer in parts over disjoint, ascending time ranges, each in order."""
        if fn not in AGGREGATES or measurement not in MEASUREMENTS or not nodes:
            return []
        which = self._which(nodes)
        # Closed hourly and daily windows come from the roll-ups, the newest ones from raw points.
        policy = self.rollups.policy_for(window_ms) if self.rollups else None
        out: list[list[Bucket] | Table] = []
        if self.rollups is not None and policy is not None:
            first = min(end_ms, start_ms + (-start_ms) % window_ms)  # a partial first window: raw
            split = min(end_ms, self.rollups.closed_before_ms(self._clock(), window_ms))
            if first < split:
                if start_ms < first:
                    out.append(_in_order(await self._raw_buckets(which, measurement, start_ms, first, window_ms, fn)))
                out += await self._rolled(policy, nodes, measurement, first, split, window_ms, fn)
                start_ms = split
        if start_ms < end_ms:
            out.append(_in_order(await self._raw_buckets(which, measurement, start_ms, end_ms, window_ms, fn)))
        return out

    @staticmethod
    def _which(nodes: list[str]) -> str:
        return " OR ".join(f"{_ident('node')} = {_literal(n)}" for n in nodes)

    async def _rolled(self, policy: str, nodes: list[str], measurement: str, start_ms: int, end_ms: int,
                      window_ms: int, fn: str) -> list[list[Bucket] | Table]:
        if self.closed is not None and self._rollups_ready:
            return await self._rolled_cached(policy, nodes, measurement, start_ms, end_ms, window_ms, fn)
        if window_ms == NATIVE_MS[policy]:
            return [await self._rolled_points(policy, self._which(nodes), measurement, start_ms, end_ms, fn)]
        return [_in_order(await self._rolled_grouped(policy, self._which(nodes), measurement, start_ms, end_ms,
                                                     window_ms, fn))]

    async def _rolled_cached(self, policy: str, nodes: list[str], measurement: str, start_ms: int, end_ms: int,
                             window_ms: int, fn: str) -> list[list[Bucket] | Table]:
        """``_rolled`` with the windows closed an hour (``CACHE_MARGIN_MS``) before the roll-ups call
        them closed made from the roll-up's columns ``self.closed`` holds, the windows it lacks read (and
        kept); the rest asked of InfluxDB as without the cache. A window `k` times the roll-up's own (the
        dashboard's 2- and 3-hour windows over 90 days) combines its `k` roll-up windows as InfluxQL's
        ``GROUP BY time`` does (``Block.windows``). The same buckets as without the cache (a test
        compares them on a real InfluxDB; a mean's last bit may differ where InfluxDB adds the sums in
        another order)."""
        cache = self.closed
        assert cache is not None and self.rollups is not None
        native = NATIVE_MS[policy]
        cut = max(start_ms, min(end_ms, self.rollups.closed_before_ms(self._clock() - CACHE_MARGIN_MS, native)))
        cut -= (cut - start_ms) % window_ms  # whole windows only (start_ms starts one)
        if cut >= end_ms:
            tail = []
        elif window_ms == native:
            tail = await self._rolled_points(policy, self._which(nodes), measurement, cut, end_ms, fn)
        else:
            tail = _in_order(await self._rolled_grouped(policy, self._which(nodes), measurement, cut, end_ms,
                                                        window_ms, fn))
        if cut <= start_ms:
            return [tail]
        nodes = sorted(set(nodes))
        blocks, read_for = await self._blocks(cache, policy, measurement, nodes, start_ms, cut)
        # every node's sensors side by side, in the order without the cache (node, then depth and channel)
        values, counts, sensors = [], [], []
        windows = (cut - start_ms) // window_ms
        for node in nodes:
            block = blocks[node]
            assert block is not None and block.lo <= start_ms and cut <= block.hi
            value, count = block.windows(start_ms, cut, window_ms, fn)
            order = sorted(range(len(block.sensors)), key=lambda j, s=block.sensors: (s[j][0] or -1, s[j][1] or -1, j))
            values.append(value[:, order])
            counts.append(count[:, order])
            sensors += [(node, *block.sensors[j]) for j in order]
            if node in read_for:
                cache.misses += windows
            else:
                cache.hits += windows
        if not sensors:
            return [tail]
        count = np.hstack(counts)
        held = np.flatnonzero(count.any(axis=1))  # the windows any sensor has a bucket in
        count = count[held]
        value = np.where(count > 0, np.hstack(values)[held], np.nan)
        return [Table(start_ms + held.astype(np.int64) * window_ms, tuple(sensors), value, count), tail]

    async def _blocks(self, cache: ClosedWindows, policy: str, measurement: str, nodes: list[str], start_ms: int,
                      cut: int) -> tuple[dict[str, Block], set[str]]:
        """Per node, a Block holding the closed windows [start, cut): `cache`'s, joined with what is read
        (and kept) for the windows it lacks; and the nodes that were read for."""
        await self._read_marks(cache)
        generation = cache.generation
        # per node, its block as it is now (an invalidation while InfluxDB answers replaces it, never
        # changes it), joined below with what is read for the windows it lacks
        blocks: dict[str, Block | None] = {}
        need: dict[tuple[int, int], list[str]] = {}
        for node in nodes:
            key = (policy, measurement, node)
            for gap in cache.missing(key, start_ms, cut):
                need.setdefault(gap, []).append(node)
            blocks[node] = cache.view(key)
        read_for: set[str] = set()
        native = NATIVE_MS[policy]
        for (a, b), group in need.items():
            read = await self._closed_rows(policy, measurement, group, a, b)
            for node in group:
                block = Block.of_series(a, b, native, read.get(node, []))
                cache.fill((policy, measurement, node), block, generation)
                held = blocks[node]
                blocks[node] = block if held is None else held.join(block)
                read_for.add(node)
        return blocks, read_for  # type: ignore[return-value]  # every node has one now

    def holds(self, nodes: list[str], measurement: str) -> bool:
        """Whether the chart cache holds hours of any of `nodes` (``chart_warmup``)."""
        cache = self.closed
        return cache is not None and any(cache.view((HOURLY, measurement, node)) is not None for node in nodes)

    async def hold(self, nodes: list[str], measurement: str, start_ms: int, end_ms: int) -> int:
        """Read the closed hours of [start, end) of `nodes` into the chart cache without making a chart
        (``chart_warmup``); the cells the cache holds after (0: no cache)."""
        cache = self.closed
        if cache is None or self.rollups is None or not self._rollups_ready or measurement not in MEASUREMENTS:
            return 0
        start_ms += (-start_ms) % HOUR_MS
        cut = min(end_ms, self.rollups.closed_before_ms(self._clock() - CACHE_MARGIN_MS, HOUR_MS))
        if cut > start_ms and nodes:
            await self._blocks(cache, HOURLY, measurement, sorted(set(nodes)), start_ms, cut)
            cache.trim([(HOURLY, measurement, node) for node in nodes], start_ms)
        return cache.rows

    async def _closed_rows(self, policy: str, measurement: str, nodes: list[str], start_ms: int,
                           end_ms: int) -> dict[str, list[Series]]:
        """node -> its sensors' roll-up rows, in the order InfluxDB answers them."""
        q = (
            f'SELECT "sum", "n", "min", "max" FROM {_ident(policy)}.{_ident(measurement)}'
            f" WHERE time >= {int(start_ms)}ms AND time < {int(end_ms)}ms AND ({self._which(nodes)})"
            f" GROUP BY {_ident('node')}, {_ident('depth_cm')}, {_ident('channel')}"
        )
        out: dict[str, list[Series]] = {}
        for s in await self._query(q):
            tags = s.get("tags") or {}
            node, depth, channel = tags.get("node", ""), tags.get("depth_cm") or None, tags.get("channel") or None
            out.setdefault(node, []).append((depth, channel, s.get("values") or []))
        return out

    async def _rolled_points(self, policy: str, which: str, measurement: str, start_ms: int, end_ms: int,
                             fn: str) -> list[Bucket]:
        """Windows as long as the roll-up's own (hours from the hourly one, days from the daily
        one): its points as they are, without InfluxQL's GROUP BY time, which took InfluxDB three
        times as long for the 43,200 hours of a 90-day zone chart (docs/performance.md, "Zone
        charts"). The points of one window that lie in several series (a node that changed
        gateway) are combined here as GROUP BY time would: sums and counts added, min of mins,
        max of maxes, the mean their quotient."""
        fields = {"mean": ("sum", "n"), "sum": ("sum", "n"), "count": ("n",), "min": ("min", "n"),
                  "max": ("max", "n")}[fn]
        q = (
            f"SELECT {', '.join(_ident(f) for f in fields)} FROM {_ident(policy)}.{_ident(measurement)}"
            f" WHERE time >= {int(start_ms)}ms AND time < {int(end_ms)}ms AND ({which})"
            f" GROUP BY {_ident('node')}, {_ident('depth_cm')}, {_ident('channel')}"
        )
        windows: dict[tuple[str, str | None, str | None, int], list] = {}
        for s in await self._query(q):
            tags = s.get("tags") or {}
            node, depth, channel = tags.get("node", ""), tags.get("depth_cm") or None, tags.get("channel") or None
            for row in s.get("values") or []:
                t, value, n = row[0], row[1], row[-1]
                if value is None or not n:
                    continue
                key = (node, depth, channel, t)
                have = windows.get(key)
                if have is None:
                    windows[key] = [value, n]
                else:  # another series of the same sensor in the same window
                    have[0] = min(have[0], value) if fn == "min" else max(have[0], value) if fn == "max" \
                        else have[0] + value
                    have[1] += n
        # sorted as plain tuples (C comparisons), in `_in_order`'s order, then made Buckets: a key
        # function over 43,200 Buckets cost more than the rest of this
        rows = []
        for i, ((node, depth, channel, t), (value, n)) in enumerate(windows.items()):
            d = None if depth is None else int(depth)
            c = None if channel is None else int(channel)
            rows.append((t, node, d or -1, c or -1, i, d, c, value / n if fn == "mean" else value, n))
        rows.sort()
        return [Bucket(node, measurement, d, c, int(t), float(agg), int(n)) for t, node, _, _, _, d, c, agg, n in rows]

    async def _rolled_grouped(self, policy: str, which: str, measurement: str, start_ms: int, end_ms: int,
                              window_ms: int, fn: str) -> list[Bucket]:
        q = (
            f"SELECT {ROLLED[fn]} AS agg, sum({_ident('n')}) AS n FROM {_ident(policy)}.{_ident(measurement)}"
            f" WHERE time >= {int(start_ms)}ms AND time < {int(end_ms)}ms AND ({which})"
            f" GROUP BY time({int(window_ms)}ms), {_ident('node')}, {_ident('depth_cm')}, {_ident('channel')}"
            " fill(none)"
        )
        return self._buckets(await self._query(q), measurement)

    async def _raw_buckets(self, which: str, measurement: str, start_ms: int, end_ms: int,
                           window_ms: int, fn: str) -> list[Bucket]:
        q = (
            f"SELECT {fn}({_ident('value')}) AS agg, count({_ident('value')}) AS n FROM {_ident(measurement)}"
            f" WHERE time >= {int(start_ms)}ms AND time < {int(end_ms)}ms AND ({which})"
            f" GROUP BY time({int(window_ms)}ms), {_ident('node')}, {_ident('depth_cm')}, {_ident('channel')}"
            " fill(none)"
        )
        return self._buckets(await self._query(q), measurement)

    @staticmethod
    def _buckets(series: list[dict], measurement: str) -> list[Bucket]:
        out = []
        for s in series:
            tags = s.get("tags") or {}
            depth, channel = tags.get("depth_cm") or None, tags.get("channel") or None
            for t, agg, n in s.get("values") or []:
                if n:
                    out.append(Bucket(tags.get("node", ""), measurement, None if depth is None else int(depth),
                                      None if channel is None else int(channel), int(t),
                                      None if agg is None else float(agg), int(n)))
        return out

    async def close(self) -> None:
        await self._http.aclose()
