"""Readings in InfluxDB 1.x over its HTTP API.

Writes are POST /write?db=..&precision=ns (see lineprotocol) with up to ``lines_per_request``
lines each, retried with capped, jittered backoff on 5xx and connection
errors; when the retries run out the store raises StorageUnavailable so the
caller keeps the data and applies back-pressure. Reads are InfluxQL over
GET /query with epoch=ms.
"""

import httpx

from furrow.edge.measurements import MEASUREMENTS

from ._reading import Reading, StorageRejected, StorageUnavailable
from ._retry import RetryPolicy, retrying
from .lineprotocol import from_row, to_lines

# 401/403: wrong credentials, 404: no such database. Retrying later can succeed
# once an operator fixes it, so the data is kept (unavailable), never dropped.
_RETRY_LATER = {401, 403, 404}


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
    ) -> None:
        if not database:
            raise ValueError("database must be a non-empty name")
        self.database = database
        self._retry = retry or RetryPolicy()
        self._lines_per_request = lines_per_request
        auth = httpx.BasicAuth(username, password or "") if username else None
        self._http = httpx.AsyncClient(base_url=url.rstrip("/"), auth=auth, timeout=timeout_s)

    # --- writing ---------------------------------------------------------

    async def write(self, points: list[Reading]) -> int:
        lines = to_lines(points)
        step = self._lines_per_request
        for i in range(0, len(lines), step):
            await self._post_lines("\n".join(lines[i : i + step]).encode())
        return len(points)

    async def _post_lines(self, body: bytes) -> None:
        params = {"db": self.database, "precision": "ns"}

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
        body = resp.json()
        if "error" in body:
            raise StorageRejected(self.backend, f"query {q!r}: {body['error']}")
        result = (body.get("results") or [{}])[0]
        if "error" in result:
            raise StorageRejected(self.backend, f"query {q!r}: {result['error']}")
        return result.get("series") or []

    async def ensure_database(self) -> None:
        """CREATE DATABASE (a no-op when it exists)."""
        await self._query(f"CREATE DATABASE {_ident(self.database)}", post=True)

    @staticmethod
    def _from(measurement: str | None) -> str:
        names = [measurement] if measurement is not None else list(MEASUREMENTS)
        return ",".join(_ident(n) for n in names)

    @staticmethod
    def _readings(series: list[dict]) -> list[Reading]:
        out = []
        for s in series:
            columns = s["columns"]
            tags = s.get("tags") or {}
            for values in s.get("values") or []:
                out.append(from_row(s["name"], tags, dict(zip(columns, values, strict=True))))
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
        q = (
            f"SELECT * FROM {self._from(None)} WHERE {_ident('node')} = {_literal(node)} "
            "GROUP BY * ORDER BY time DESC LIMIT 1"
        )
        newest: dict[tuple, Reading] = {}
        # A node that moved gateway has two series per sensor: keep the newer.
        for r in self._readings(await self._query(q)):
            key = r.sensor_key()
            old = newest.get(key)
            if old is None or (r.ts_ms, r.seq) > (old.ts_ms, old.seq):
                newest[key] = r
        return [newest[k] for k in sorted(newest)]

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

    async def close(self) -> None:
        await self._http.aclose()
