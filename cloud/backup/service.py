"""`backup` and `restore` of a whole installation (docs/cloud.md, "Backups"), from and into its settings.

An archive holds (manifest.json lists each part with its SHA-256):

* ``database/<table>.jsonl.gz``: every table of the relational database (relational.py), SQLite or PostgreSQL
* ``readings/readings.db`` (SQLite store) or ``readings/influx/<rp>.lp.gz`` (InfluxDB 1.x, readings.py)
* ``objects/<key>``: the image objects the ``images`` table names (files or an S3 bucket)
* ``keys.enc``: the signing keys, node keys and token secret, sealed with a passphrase (keys.py)

A restore reads and checks the whole archive, opens the keys and checks that the target is empty before it
writes anything; then it writes the database, the readings, the objects and the keys, and verifies every
production record chain against the restored public keys.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData, select

from furrow import __version__

from .. import migrations
from .._time import now_ms
from ..db import Database
from ..settings import Settings
from . import keys as keyring
from . import readings, relational
from .archive import BackupError, Manifest, Staging, read_archive, write_archive

Progress = Callable[[str], None]
KEYS_PART = "keys.enc"


@dataclass
class Restored:
    """What a restore did, and each production record chain's verification afterwards."""

    said: list[str] = field(default_factory=list)
    chains: list[Any] = field(default_factory=list)  # cloud.trace.chain.ChainReport

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.chains)


def _image_keys(db: Database) -> list[str]:
    meta = MetaData()
    meta.reflect(db.engine, only=lambda name, _: name == "images")
    if "images" not in meta.tables:
        return []
    images = meta.tables["images"]
    with db.engine.connect() as conn:
        return sorted({k for row in conn.execute(select(images.c.key, images.c.thumb_key)) for k in row if k})


def backup(settings: Settings, out: Path, passphrase: str | None, progress: Progress, *,
           with_keys: bool = True) -> Manifest:
    """Write the archive of the installation `settings` describe to `out`."""
    from ..images import objects_from_settings

    if settings.storage == "influxdb2":
        raise BackupError("FURROW_STORAGE=influxdb2: back its bucket up with `influx backup` (InfluxDB 2.x's own); "
                          "this backup covers SQLite and InfluxDB 1.x readings")
    files = keyring.gather(settings) if with_keys else {}
    if files and passphrase is None:
        raise BackupError("the keys are encrypted with a passphrase: give --passphrase-file FILE (or set "
                          "FURROW_BACKUP_PASSPHRASE), or leave the keys out with --no-keys")
    db = Database(settings.resolved_database_url())
    work = Path(tempfile.mkdtemp(prefix=".furrow-backup-", dir=out.parent))
    try:
        staging = Staging(work)
        manifest = Manifest(__version__, migrations.current(db.engine), now_ms(),
                            {"database": db.engine.dialect.name, "storage": settings.storage})
        progress(f"database: {db.engine.dialect.name} at schema revision {manifest.schema_revision}")
        counts = relational.dump(db.engine, staging.path("database/x").parent, progress)
        for table, rows in counts.items():
            staging.add(manifest, f"database/{table}.jsonl.gz", "table", table=table, rows=rows)

        if settings.storage == "sqlite":
            n = readings.sqlite_copy(settings.data_dir / "readings.db", staging.path("readings/readings.db"))
            staging.add(manifest, "readings/readings.db", "readings-sqlite", readings=n)
            progress(f"readings: {n:,} in the SQLite store")
        else:
            influx = readings.Influx1(settings.influx_url, settings.influx_database, settings.influx_username,
                                      settings.influx_password)
            try:
                about = readings.influx_export(influx, staging.path("readings/influx/x").parent, progress)
            finally:
                influx.close()
            for rp, points in about["points"].items():
                staging.add(manifest, f"readings/influx/{rp}.lp.gz", "readings-influx1", retention_policy=rp,
                            points=points)
            manifest.extra["influx"] = about

        objects = objects_from_settings(settings)
        image_keys = _image_keys(db)
        for i, key in enumerate(image_keys, 1):
            try:
                data = objects.get(key)
            except KeyError:
                raise BackupError(f"the images table names object {key!r}, which the object store does not "
                                  "have") from None
            staging.path(f"objects/{key}").write_bytes(data)
            staging.add(manifest, f"objects/{key}", "object")
            if i % 1000 == 0:
                progress(f"objects: {i:,} of {len(image_keys):,} ...")
        if image_keys:
            progress(f"objects: {len(image_keys):,}")

        if files:
            assert passphrase is not None
            staging.path(KEYS_PART).write_bytes(keyring.seal(files, passphrase))
            staging.add(manifest, KEYS_PART, "keys", files=sorted(files))
            progress(f"keys: {len(files)} file(s), encrypted")
        write_archive(out, staging, manifest)
        progress(f"archive: {out} ({out.stat().st_size:,} bytes, {len(manifest.parts)} parts)")
        return manifest
    finally:
        db.dispose()
        shutil.rmtree(work, ignore_errors=True)


def _occupied(settings: Settings, db: Database, manifest: Manifest, key_files: dict[str, bytes]) -> list[str]:
    """What the target already holds, one phrase each (empty for an empty installation)."""
    held = [f"table {t} has {n} row(s)" for t, n in relational.occupied(db.engine).items()]
    if manifest.source.get("storage") == "sqlite":
        n = readings.sqlite_count(settings.data_dir / "readings.db")
        if n:
            held.append(f"{settings.data_dir / 'readings.db'} has {n} reading(s)")
    else:
        influx = readings.Influx1(settings.influx_url, settings.influx_database, settings.influx_username,
                                  settings.influx_password)
        try:
            found = readings.influx_occupied(influx)
        finally:
            influx.close()
        if found:
            held.append(f"InfluxDB database {settings.influx_database!r} has measurements {', '.join(found)}")
    if key_files:
        held += [f"key file {p} exists" for p in keyring.occupied(settings)]
    return held


def restore(settings: Settings, archive: Path, passphrase: str | None, progress: Progress, *,
            replace: bool = False) -> Restored:
    """Restore `archive` into the installation `settings` describe (module docstring)."""
    from ..commands.signing import load_public_keys
    from ..images import objects_from_settings
    from ..trace.service import verify_all

    done = Restored()
    work = Path(tempfile.mkdtemp(prefix=".furrow-restore-", dir=settings.data_dir if Path(settings.data_dir).is_dir()
                                 else None))
    db = None
    try:
        progress(f"archive: reading and checking {archive}")
        manifest = read_archive(archive, work)
        progress(f"archive: {len(manifest.parts)} parts, every checksum matches (made by Furrow "
                 f"{manifest.furrow_version}, schema revision {manifest.schema_revision}, from "
                 f"{manifest.source.get('database')} + {manifest.source.get('storage')})")
        revision = manifest.schema_revision
        if revision is not None and not migrations.known(revision):
            raise BackupError(f"the archive's schema is at revision {revision}, which this Furrow does not know "
                              f"(its newest is {migrations.head()}): restore with the Furrow that made it or a newer "
                              "one")
        wanted = "sqlite" if manifest.source.get("storage") == "sqlite" else "influxdb1"
        if settings.storage != wanted:
            raise BackupError(f"the archive's readings come from FURROW_STORAGE={wanted}; this installation has "
                              f"FURROW_STORAGE={settings.storage}: restore into one that stores readings the same way")
        key_files: dict[str, bytes] = {}
        if manifest.part(KEYS_PART) is not None:
            if passphrase is None:
                raise BackupError("the archive's keys are encrypted: give --passphrase-file FILE (or set "
                                  "FURROW_BACKUP_PASSPHRASE)")
            key_files = keyring.open_sealed((work / KEYS_PART).read_bytes(), passphrase, KEYS_PART)

        db = Database(settings.resolved_database_url())
        held = _occupied(settings, db, manifest, key_files)
        if held and not replace:
            raise BackupError("the target installation is not empty (" + "; ".join(held) + "): restore into an "
                              "empty one, or give --replace to erase what it holds first")
        if held:
            progress("target: erasing what it holds (--replace): " + "; ".join(held))
            relational.erase(db.engine)

        tables = {p["table"]: p["rows"] for p in manifest.parts if p["kind"] == "table"}
        relational.load(db.engine, work / "database", revision, tables, progress)
        done.said.append(f"database: {len(tables)} tables, {sum(tables.values()):,} rows")

        if wanted == "sqlite":
            readings.sqlite_restore(work / "readings/readings.db", settings.data_dir / "readings.db")
            n = readings.sqlite_count(settings.data_dir / "readings.db")
            progress(f"readings: {n:,} in the SQLite store")
            done.said.append(f"readings: {n:,} (SQLite)")
        else:
            _restore_influx(settings, work / "readings/influx", manifest.extra["influx"], progress, held)
            done.said.append(f"readings: {sum(manifest.extra['influx']['points'].values()):,} points (InfluxDB)")

        objects = [p for p in manifest.parts if p["kind"] == "object"]
        if objects:
            store = objects_from_settings(settings)
            if hasattr(store, "ensure_bucket"):
                store.ensure_bucket()
            for p in objects:
                store.put(p["path"][len("objects/"):], (work / p["path"]).read_bytes(), "image/jpeg")
            progress(f"objects: {len(objects):,} restored")
            done.said.append(f"objects: {len(objects):,}")

        done.said += keyring.place(settings, key_files)
        directory = keyring._signing_dir(settings)
        public = load_public_keys(directory) if directory is not None and directory.is_dir() else None
        with db.sessions() as session:
            done.chains = verify_all(session, public)
        return done
    finally:
        if db is not None:
            db.dispose()
        shutil.rmtree(work, ignore_errors=True)


def _restore_influx(settings: Settings, source: Path, about: dict[str, Any], progress: Progress,
                    erase: list[str]) -> None:
    from ..storage import open_store

    influx = readings.Influx1(settings.influx_url, settings.influx_database, settings.influx_username,
                              settings.influx_password)
    try:
        if erase and influx.database_exists():
            influx.query(f'DROP DATABASE "{settings.influx_database}"', post=True, db=False)
        store = open_store(settings)

        async def ensure() -> None:
            try:
                await store.ensure_database()  # the database, Furrow's retention policies and roll-up queries
            finally:
                await store.close()

        # in a thread of its own: the caller may itself be inside an event loop (a test, a future API route)
        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, ensure()).result()
        readings.influx_import(influx, source, about, progress)
        if settings.influx_rollups:  # instances serving this database drop the roll-up windows they cached
            marker = open_store(settings)

            async def mark() -> None:
                try:
                    await marker.rolled_up_again(None, 0, 1 << 62)
                finally:
                    await marker.close()

            with ThreadPoolExecutor(1) as pool:
                pool.submit(asyncio.run, mark()).result()
    finally:
        influx.close()
