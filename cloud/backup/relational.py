"""The relational database as portable JSON lines: every table, SQLite or PostgreSQL, either way round.

One gzip file per table: a first line naming the table and its columns (with how each is written: a plain
JSON value, a JSON document, or bytes in base64), then one JSON array per row in primary-key order. Floats
are written in Python's shortest round-trip form, so a value reads back bit for bit. The tables are those in
the database (reflected), so a table made by a migration this code has no model for is kept too.

Restore brings the empty target to the archive's schema revision, inserts the rows parents first (foreign
keys), moves PostgreSQL's id sequences past the restored ids, then migrates to this code's newest revision.
"""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData, Table, func, insert, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.types import JSON, LargeBinary

from .. import migrations
from .archive import BackupError

VERSION_TABLE = "alembic_version"
ROWS_PER_INSERT = 1000
PROGRESS_EVERY = 50_000

Progress = Callable[[str], None]


def _kind(column: Any) -> str:
    if isinstance(column.type, LargeBinary):
        return "bytes"
    if isinstance(column.type, JSON):
        return "json"
    return "value"


def _extension_tables(engine: Engine) -> set[str]:
    """PostgreSQL: tables an extension owns (PostGIS's spatial_ref_sys, which migration 0015 brings): the
    extension makes and fills them itself, so they are neither backed up nor erased."""
    if engine.dialect.name != "postgresql":
        return set()
    with engine.connect() as conn:
        return set(conn.scalars(text("SELECT c.relname FROM pg_class c JOIN pg_depend d ON d.objid = c.oid "
                                     "AND d.classid = 'pg_class'::regclass WHERE d.deptype = 'e'")))


def _reflected(engine: Engine) -> MetaData:
    skip = _extension_tables(engine) | {VERSION_TABLE}
    meta = MetaData()
    meta.reflect(engine, only=lambda name, _: name not in skip)
    return meta


def _tables(engine: Engine) -> list[Table]:
    """The database's own tables (not the schema version, not an extension's), parents first."""
    return list(_reflected(engine).sorted_tables)


def _encode(value: Any, kind: str) -> Any:
    if value is None:
        return None
    if kind == "bytes":
        return base64.b64encode(value).decode()
    if kind == "json" and isinstance(value, str):  # a JSON column some driver handed back undecoded
        return json.loads(value)
    return value


def _decode(value: Any, kind: str) -> Any:
    if value is None:
        return None
    return base64.b64decode(value) if kind == "bytes" else value


def table_rows(engine: Engine, table: Table) -> Iterator[list[Any]]:
    """The rows of `table` in primary-key order (every column when it has none), columns encoded."""
    kinds = [_kind(c) for c in table.columns]
    order = list(table.primary_key.columns) or list(table.columns)
    with engine.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=5000).execute(select(table).order_by(*order))
        for row in result:
            yield [_encode(v, k) for v, k in zip(row, kinds, strict=True)]


def dump(engine: Engine, into: Path, progress: Progress) -> dict[str, int]:
    """Write every table to `into/<table>.jsonl.gz`; {table: rows}."""
    counts = {}
    for table in _tables(engine):
        header = {"table": table.name, "columns": [{"name": c.name, "kind": _kind(c)} for c in table.columns]}
        n = 0
        with gzip.open(into / f"{table.name}.jsonl.gz", "wt", encoding="utf-8", compresslevel=6) as f:
            f.write(json.dumps(header, ensure_ascii=False) + "\n")
            for row in table_rows(engine, table):
                f.write(json.dumps(row, ensure_ascii=False, allow_nan=True) + "\n")
                n += 1
                if n % PROGRESS_EVERY == 0:
                    progress(f"database: {table.name}: {n:,} rows ...")
        counts[table.name] = n
        if n:
            progress(f"database: {table.name}: {n:,} rows")
    return counts


def occupied(engine: Engine) -> dict[str, int]:
    """The tables of the target that hold rows, {table: rows} (empty for an empty installation)."""
    out = {}
    with engine.connect() as conn:
        for table in _tables(engine):
            n = conn.scalar(select(func.count()).select_from(table))
            if n:
                out[table.name] = n
    return out


def erase(engine: Engine) -> None:
    """Drop every table of the target (and its schema version), for a restore told to replace it."""
    _reflected(engine).drop_all(engine)
    with engine.begin() as conn:
        conn.execute(text(f"DROP TABLE IF EXISTS {VERSION_TABLE}"))


def load(engine: Engine, source: Path, revision: str | None, tables: dict[str, int], progress: Progress) -> None:
    """Restore the tables dumped in `source` into the empty database of `engine` (module docstring)."""
    newest = migrations.head()
    if revision is not None:
        try:
            migrations.upgrade(engine, revision)
        except Exception as e:  # alembic: "Can't locate revision identified by ..."
            raise BackupError(f"the archive's schema is at revision {revision}, which this Furrow does not know "
                              f"(its newest is {newest}): restore with the Furrow that made it, or a newer one "
                              f"({str(e).splitlines()[0]})") from None
    targets = {t.name: t for t in _tables(engine)}
    missing = sorted(set(tables) - set(targets))
    if missing:
        raise BackupError(f"the archive has tables {', '.join(missing)} that the schema at revision {revision} "
                          "does not make")
    with engine.begin() as conn:
        for table in targets.values():  # parents first (foreign keys)
            if table.name not in tables:
                continue
            with gzip.open(source / f"{table.name}.jsonl.gz", "rt", encoding="utf-8") as f:
                header = json.loads(f.readline())
                columns = [c["name"] for c in header["columns"]]
                kinds = [c["kind"] for c in header["columns"]]
                unknown = [c for c in columns if c not in table.columns]
                if unknown:
                    raise BackupError(f"table {table.name}: the archive has columns {', '.join(unknown)} that the "
                                      f"schema at revision {revision} does not")
                batch: list[dict[str, Any]] = []
                n = 0
                for line in f:
                    values = json.loads(line)
                    batch.append({c: _decode(v, k) for c, v, k in zip(columns, values, kinds, strict=True)})
                    if len(batch) == ROWS_PER_INSERT:
                        conn.execute(insert(table), batch)
                        n += len(batch)
                        batch = []
                        if n % PROGRESS_EVERY == 0:
                            progress(f"database: {table.name}: {n:,} rows ...")
                if batch:
                    conn.execute(insert(table), batch)
                    n += len(batch)
            if n != tables[table.name]:
                raise BackupError(f"table {table.name}: {n} rows read, the manifest says {tables[table.name]}")
            if n:
                progress(f"database: {table.name}: {n:,} rows restored")
        if conn.dialect.name == "postgresql":
            _advance_sequences(conn, targets.values())
    migrations.upgrade(engine)


def _advance_sequences(conn: Any, tables: Any) -> None:
    """PostgreSQL: each serial id's sequence moved past the largest restored id, so new rows get new ids."""
    for table in tables:
        for column in table.primary_key.columns:
            seq = conn.scalar(text("SELECT pg_get_serial_sequence(:t, :c)"), {"t": table.name, "c": column.name})
            if seq is not None:
                conn.execute(text(f'SELECT setval(:s, COALESCE((SELECT MAX("{column.name}") FROM "{table.name}"), 0) '
                                  f'+ 1, false)'), {"s": seq})
