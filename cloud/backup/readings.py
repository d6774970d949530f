"""The readings: the SQLite store's file, or InfluxDB 1.x exported as line protocol.

SQLite: the standard library's online backup copies ``readings.db`` page by page while the service may
still be writing (a consistent snapshot), into the archive as it is.

InfluxDB 1.x: every retention policy's every measurement is read with ``SELECT * ... GROUP BY *`` (chunked,
timestamps in nanoseconds) and written back out as line protocol, each field in the type InfluxDB holds it
in (``SHOW FIELD KEYS``: an integer keeps its ``i``), one gzip file per retention policy. This needs only the
HTTP API and the credentials the service already has, and restores into any 1.x. Debian's influxd 1.6 does
have ``influxd backup -portable``, but it needs the RPC port (8088) of the server itself and its restore
refuses a database that exists, which the service makes at startup; the export also lets a restore check
each point count. InfluxDB 2.x is not covered: use ``influx backup`` there.
"""

from __future__ import annotations

import gzip
import json
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from ..storage.influx1_rollups import CHANGES_POLICY
from ..storage.lineprotocol import _KEY_ESCAPES, _MEASUREMENT_ESCAPES, _STRING_ESCAPES
from .archive import BackupError

Progress = Callable[[str], None]
CHUNK_SIZE = 10_000
LINES_PER_WRITE = 5_000
PROGRESS_EVERY = 100_000


# --- SQLite -----------------------------------------------------------------------------------------

def sqlite_copy(src: Path, dest: Path) -> int:
    """A consistent copy of the SQLite readings file (online backup); the number of readings in it."""
    if not src.exists():
        raise BackupError(f"{src}: no readings file (FURROW_STORAGE=sqlite keeps readings there)")
    source = sqlite3.connect(f"file:{src}?mode=ro", uri=True)
    target = sqlite3.connect(dest)
    try:
        with target:
            source.backup(target)
        return target.execute("SELECT count(*) FROM readings").fetchone()[0]
    finally:
        target.close()
        source.close()


def sqlite_count(path: Path) -> int:
    """Readings in the SQLite file at `path` (0 when there is none)."""
    if not path.exists():
        return 0
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return db.execute("SELECT count(*) FROM readings").fetchone()[0]
    except sqlite3.OperationalError:  # a file without the table yet
        return 0
    finally:
        db.close()


def sqlite_restore(copy: Path, dest: Path) -> None:
    """Put the archived readings file in place of `dest` (and drop its WAL files)."""
    for extra in ("-wal", "-shm"):
        Path(str(dest) + extra).unlink(missing_ok=True)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".restoring")
    shutil.copyfile(copy, tmp)
    tmp.replace(dest)


# --- InfluxDB 1.x -----------------------------------------------------------------------------------

def _ident(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Influx1:
    """The few InfluxDB 1.x HTTP calls a backup and a restore make (synchronous)."""

    def __init__(self, url: str, database: str, username: str | None, password: str | None,
                 timeout_s: float = 60.0) -> None:
        self.database = database
        auth = httpx.BasicAuth(username, password or "") if username else None
        self.http = httpx.Client(base_url=url.rstrip("/"), auth=auth, timeout=timeout_s)

    def close(self) -> None:
        self.http.close()

    def query(self, q: str, *, post: bool = False, db: bool = True) -> list[dict[str, Any]]:
        params = {"q": q, "epoch": "ns", **({"db": self.database} if db else {})}
        try:
            resp = self.http.post("/query", params=params) if post else self.http.get("/query", params=params)
        except httpx.HTTPError as e:
            raise BackupError(f"cannot reach InfluxDB at {self.http.base_url}: {e}") from None
        body = resp.json() if resp.headers.get("content-type", "").startswith("application/json") else {}
        error = body.get("error") or next((r["error"] for r in body.get("results", []) if "error" in r), None)
        if resp.status_code >= 400 or error:
            raise BackupError(f"InfluxDB at {self.http.base_url} refused {q!r}: {error or resp.status_code}")
        return (body.get("results") or [{}])[0].get("series") or []

    def database_exists(self) -> bool:
        series = self.query("SHOW DATABASES", db=False)
        return any(v[0] == self.database for s in series for v in s.get("values") or [])

    def retention_policies(self) -> list[dict[str, Any]]:
        out = []
        for s in self.query(f"SHOW RETENTION POLICIES ON {_ident(self.database)}"):
            for v in s.get("values") or []:
                out.append(dict(zip(s["columns"], v, strict=True)))
        return out

    def measurements(self) -> list[str]:
        return [v[0] for s in self.query("SHOW MEASUREMENTS") for v in s.get("values") or []]

    def field_types(self, rp: str, measurement: str) -> dict[str, str]:
        types: dict[str, str] = {}
        for s in self.query(f"SHOW FIELD KEYS FROM {_ident(rp)}.{_ident(measurement)}"):
            for name, kind in s.get("values") or []:
                types.setdefault(name, kind)
        return types

    def series(self, rp: str, measurement: str) -> Iterator[dict[str, Any]]:
        """Every point of `rp`.`measurement`, chunked, as InfluxDB's series objects."""
        q = f"SELECT * FROM {_ident(self.database)}.{_ident(rp)}.{_ident(measurement)} GROUP BY *"
        params = {"db": self.database, "q": q, "epoch": "ns", "chunked": "true", "chunk_size": str(CHUNK_SIZE)}
        with self.http.stream("GET", "/query", params=params) as resp:
            if resp.status_code >= 400:
                raise BackupError(f"InfluxDB refused {q!r}: {resp.status_code} {resp.read()[:200]!r}")
            for line in resp.iter_lines():
                if not line.strip():
                    continue
                body = json.loads(line)
                for result in body.get("results") or []:
                    if "error" in result:
                        raise BackupError(f"InfluxDB refused {q!r}: {result['error']}")
                    yield from result.get("series") or []

    def write(self, rp: str, lines: list[str]) -> None:
        params = {"db": self.database, "rp": rp, "precision": "ns"}
        try:
            resp = self.http.post("/write", params=params, content="\n".join(lines).encode())
        except httpx.HTTPError as e:
            raise BackupError(f"cannot reach InfluxDB at {self.http.base_url}: {e}") from None
        if resp.status_code != 204:
            raise BackupError(f"InfluxDB refused a write to {self.database}.{rp}: {resp.status_code} "
                              f"{resp.text.strip()[:200]}")


def _field(value: Any, kind: str) -> str:
    if kind == "integer":
        return f"{int(value)}i"
    if kind == "boolean":
        return "true" if value else "false"
    if kind == "string":
        return '"' + str(value).translate(_STRING_ESCAPES) + '"'
    return repr(float(value))


def _tag(value: str) -> str:
    out = value.translate(_KEY_ESCAPES)
    return out + " " if out.endswith("\\") else out


def series_lines(s: dict[str, Any], types: dict[str, str]) -> Iterator[str]:
    """Line protocol for one series object of `SELECT * ... GROUP BY *` (tags sorted, null fields left out)."""
    tags = "".join(f",{k.translate(_KEY_ESCAPES)}={_tag(v)}" for k, v in sorted((s.get("tags") or {}).items()) if v)
    head = s["name"].translate(_MEASUREMENT_ESCAPES) + tags
    columns = s["columns"]
    for values in s.get("values") or []:
        fields = ",".join(f"{c.translate(_KEY_ESCAPES)}={_field(v, types.get(c, 'float'))}"
                          for c, v in zip(columns[1:], values[1:], strict=True) if v is not None)
        if fields:
            yield f"{head} {fields} {values[0]}"


def influx_export(influx: Influx1, into: Path, progress: Progress) -> dict[str, Any]:
    """Every point of the database, one `<rp>.lp.gz` per retention policy in `into`; what was found."""
    if not influx.database_exists():
        raise BackupError(f"InfluxDB has no database {influx.database!r} (FURROW_INFLUX_DATABASE)")
    # (not the chart caches' change marks: they matter for a day, and a restore marks everything changed)
    policies = [rp for rp in influx.retention_policies() if rp["name"] != CHANGES_POLICY]
    measurements = influx.measurements()
    points: dict[str, int] = {}
    for rp in policies:
        name = rp["name"]
        n = 0
        with gzip.open(into / f"{name}.lp.gz", "wt", encoding="utf-8", compresslevel=6) as f:
            for m in measurements:
                types = influx.field_types(name, m)
                if not types:
                    continue
                before = n
                for s in influx.series(name, m):
                    for line in series_lines(s, types):
                        f.write(line + "\n")
                        n += 1
                        if n % PROGRESS_EVERY == 0:
                            progress(f"readings: {influx.database}.{name}: {n:,} points ...")
                if n > before:
                    progress(f"readings: {influx.database}.{name}.{m}: {n - before:,} points")
        points[name] = n
    return {"database": influx.database, "retention_policies": policies, "points": points}


def influx_occupied(influx: Influx1) -> list[str]:
    """The measurements the target database holds (none when it does not exist yet)."""
    return influx.measurements() if influx.database_exists() else []


def influx_import(influx: Influx1, source: Path, about: dict[str, Any], progress: Progress) -> None:
    """Write the exported points back, making any retention policy the target lacks first. The database and
    Furrow's own policies are made by the caller (the store's ensure_database) beforehand."""
    have = {rp["name"] for rp in influx.retention_policies()}
    for rp in about["retention_policies"]:
        if rp["name"] not in have:
            influx.query(f"CREATE RETENTION POLICY {_ident(rp['name'])} ON {_ident(influx.database)} DURATION "
                         f"{rp['duration'] if rp['duration'] != '0s' else 'INF'} REPLICATION {rp.get('replicaN') or 1}"
                         f" SHARD DURATION {rp['shardGroupDuration']}" + (" DEFAULT" if rp.get("default") else ""),
                         post=True)
    for name, expected in about["points"].items():
        if name == CHANGES_POLICY:  # an archive from before they were left out
            continue
        n = 0
        batch: list[str] = []
        with gzip.open(source / f"{name}.lp.gz", "rt", encoding="utf-8") as f:
            for line in f:
                batch.append(line.rstrip("\n"))
                if len(batch) == LINES_PER_WRITE:
                    influx.write(name, batch)
                    n += len(batch)
                    batch = []
                    if n % PROGRESS_EVERY == 0:
                        progress(f"readings: {influx.database}.{name}: {n:,} points ...")
        if batch:
            influx.write(name, batch)
            n += len(batch)
        if n != expected:
            raise BackupError(f"readings {name}.lp.gz: {n} points read, the manifest says {expected}")
        if n:
            progress(f"readings: {influx.database}.{name}: {n:,} points restored")
