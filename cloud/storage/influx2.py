"""Readings in InfluxDB 2.x through the official influxdb_client library.

Writes go through the v2 write API (POST /api/v2/write?org=..&bucket=..
&precision=ns, ``Authorization: Token ...``) with the same line protocol as
the 1.x store; the library is synchronous, so calls run in a worker thread.
Reads are Flux queries (POST /api/v2/query?org=..); windowed series use
``aggregateWindow``. No InfluxDB 2.x server runs in the tests: they check the
exact requests this store sends and parse canned annotated-CSV answers; the 1.x
store is the one tested against a real server.
"""

import asyncio
import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from influxdb_client import InfluxDBClient, WritePrecision
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.rest import ApiException

from furrow.edge.measurements import MEASUREMENTS

from ._reading import AGGREGATES, Bucket, Reading, StorageRejected, StorageUnavailable
from ._reports import Reports
from ._retry import RetryPolicy, retrying
from .lineprotocol import TAG_KEYS, from_row, readable, report_lines, to_lines

log = logging.getLogger(__name__)

_RETRY_LATER = {401, 403, 404}


def _tag_int(value: object) -> int | None:
    """A depth_cm or channel tag as an integer; absent (null or empty) is None."""
    return None if value is None or value == "" else int(str(value))


def _flux_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _ms(t: datetime) -> int:
    """Milliseconds of a record's _time, in integers (floats would round 0.999 down)."""
    return (t - _EPOCH) // timedelta(milliseconds=1)


class Influx2ReadingStore:
    """ReadingStore on an InfluxDB 2.x bucket."""

    backend = "influxdb2"

    def __init__(
        self,
        url: str,
        token: str,
        org: str,
        bucket: str,
        *,
        timeout_s: float = 10.0,
        retry: RetryPolicy | None = None,
        lines_per_request: int = 5000,
    ) -> None:
        self.org = org
        self.bucket = bucket
        self.unreadable = 0  # stored points read and skipped: no seq or time (lineprotocol.readable)
        self._retry = retry or RetryPolicy()
        self._lines_per_request = lines_per_request
        self._client = InfluxDBClient(
            url=url, token=token, org=org, timeout=int(timeout_s * 1000), enable_gzip=False
        )
        self._write_api = self._client.write_api(write_options=SYNCHRONOUS)
        self._query_api = self._client.query_api()

    def _error(self, e: Exception, what: str) -> Exception:
        if isinstance(e, ApiException):
            problem = f"{what} answered {e.status}: {str(e.body)[:200]}"
            status = e.status or 0
            if 400 <= status < 500 and status not in _RETRY_LATER:
                return StorageRejected(self.backend, problem)
            return StorageUnavailable(self.backend, problem)
        return StorageUnavailable(self.backend, f"{what} failed: {e!r}")

    async def write(self, points: Sequence[Reading]) -> int:
        lines = report_lines(points) if isinstance(points, Reports) else to_lines(points)
        step = self._lines_per_request
        for i in range(0, len(lines), step):
            chunk = lines[i : i + step]

            async def attempt(chunk: list[str] = chunk) -> None:
                try:
                    await asyncio.to_thread(
                        self._write_api.write,
                        bucket=self.bucket,
                        org=self.org,
                        record=chunk,
                        write_precision=WritePrecision.NS,
                    )
                except Exception as e:  # the library raises ApiException or urllib3 errors
                    raise self._error(e, "/api/v2/write") from e

            await retrying(attempt, self._retry)
        return len(points)

    async def _flux(self, flux: str) -> list[dict]:
        try:
            tables = await asyncio.to_thread(self._query_api.query, flux, org=self.org)
        except Exception as e:
            raise self._error(e, "/api/v2/query") from e
        return [record.values for table in tables for record in table.records]

    def _source(self, start_ms: int, end_ms: int, node: str | None, measurement: str | None) -> str:
        names = [measurement] if measurement is not None else list(MEASUREMENTS)
        cond = f"contains(value: r._measurement, set: [{', '.join(map(_flux_string, names))}])"
        if node is not None:
            cond += " and r.node == " + _flux_string(node)
        return (
            f"from(bucket: {_flux_string(self.bucket)})\n"
            f"  |> range(start: time(v: {int(start_ms) * 1_000_000}), "
            f"stop: time(v: {int(end_ms) * 1_000_000}))\n"
            f"  |> filter(fn: (r) => {cond})\n"
        )

    _PIVOT = '  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")\n'

    def _readings(self, rows: list[dict]) -> list[Reading]:
        """The readings of pivoted rows; a row without seq or time (not written by Furrow) is skipped and
        counted in `unreadable` (lineprotocol.readable)."""
        out = []
        for row in rows:
            row = {**row, "time": _ms(row["_time"]) if row.get("_time") is not None else None}
            if readable(row):
                out.append(from_row(row["_measurement"], {k: row.get(k) for k in TAG_KEYS}, row))
            else:
                self.unreadable += 1
                log.warning("skipped a stored point without seq or time in %s (not written by Furrow?): %d so far",
                            row.get("_measurement"), self.unreadable)
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
        flux = self._source(start_ms, end_ms, node, measurement) + self._PIVOT
        flux += f"  |> group()\n  |> sort(columns: [\"_time\"])\n  |> limit(n: {int(limit)})\n"
        readings = self._readings(await self._flux(flux))
        readings.sort(key=Reading.sort_key)
        return readings[:limit]

    async def latest(self, node: str) -> list[Reading]:
        flux = self._source(0, 2**62 // 1_000_000, node, None) + "  |> last()\n" + self._PIVOT
        newest: dict[tuple, Reading] = {}
        for r in self._readings(await self._flux(flux)):
            key = r.sensor_key()
            if key not in newest or (r.ts_ms, r.seq) > (newest[key].ts_ms, newest[key].seq):
                newest[key] = r
        return [newest[k] for k in sorted(newest)]

    async def latest_many(self, nodes: Sequence[str]) -> dict[str, list[Reading]]:
        return {n: await self.latest(n) for n in sorted(set(nodes))}

    async def count(self, node: str | None = None) -> int:
        flux = self._source(0, 2**62 // 1_000_000, node, None)
        flux += '  |> filter(fn: (r) => r._field == "seq")\n  |> group()\n  |> count()\n'
        return sum(int(row.get("_value") or 0) for row in await self._flux(flux))

    def _windowed(self, nodes: list[str], measurement: str, start_ms: int, end_ms: int,
                  window_ms: int, fn: str) -> str:
        """The Flux of a windowed series: `fn` and the value count per sensor and window,
        yielded as the results "agg" and "n". Windows start on the Unix epoch and are
        stamped with their start, as on 1.x and SQLite."""
        which = " or ".join(f"r.node == {_flux_string(n)}" for n in nodes)
        every = f"{int(window_ms)}ms"
        return (
            f"data = from(bucket: {_flux_string(self.bucket)})\n"
            f"  |> range(start: time(v: {int(start_ms) * 1_000_000}), "
            f"stop: time(v: {int(end_ms) * 1_000_000}))\n"
            f"  |> filter(fn: (r) => r._measurement == {_flux_string(measurement)}"
            f' and r._field == "value" and ({which}))\n'
            '  |> group(columns: ["node", "depth_cm", "channel"])\n'
            f"data\n  |> aggregateWindow(every: {every}, fn: {fn}, timeSrc: \"_start\", createEmpty: false)\n"
            '  |> yield(name: "agg")\n'
            f"data\n  |> aggregateWindow(every: {every}, fn: count, timeSrc: \"_start\", createEmpty: false)\n"
            '  |> yield(name: "n")\n'
        )

    async def aggregate(self, nodes: list[str], measurement: str, start_ms: int, end_ms: int,
                        window_ms: int, fn: str) -> list[Bucket]:
        """Per sensor and window, `fn` of the values (Flux aggregateWindow) and their count."""
        if fn not in AGGREGATES or measurement not in MEASUREMENTS or not nodes:
            return []
        rows = await self._flux(self._windowed(nodes, measurement, start_ms, end_ms, window_ms, fn))
        values: dict[tuple, float | None] = {}
        counts: dict[tuple, int] = {}
        for row in rows:
            key = (row.get("node") or "", _tag_int(row.get("depth_cm")), _tag_int(row.get("channel")),
                   _ms(row["_time"]))
            value = row.get("_value")
            if row.get("result") == "n":
                counts[key] = int(value or 0)
            else:
                values[key] = None if value is None else float(value)
        out = []
        for key, n in counts.items():
            node, depth, channel, time_ms = key
            if n:
                out.append(Bucket(node, measurement, depth, channel, time_ms, values.get(key), n))
        out.sort(key=lambda b: (b.time_ms, b.node, b.depth_cm or -1, b.channel or -1))
        return out

    async def close(self) -> None:
        await asyncio.to_thread(self._client.close)
