"""Backups (cloud/backup/): `furrow cloud backup` of an installation with a registry, readings, production
records and keys, then `furrow cloud restore` into an empty one gives the same rows in every table, the same
readings and the same keys, and the chains verify; on SQLite, and on PostgreSQL + InfluxDB 1.6. A damaged
archive, a wrong passphrase and a non-empty target are refused before anything is written, each named. The
signed heads exported off-site show a chain deleted with its heads, which the database alone cannot."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import tarfile
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from furrow.cli import main as furrow
from furrow.cloud.backup import readings, relational
from furrow.cloud.commands.signing import add_node_key, generate_key
from furrow.cloud.storage.influx1_rollups import CHANGES_POLICY
from furrow.edge.image_forward import encode_image, make_image_header
from tests.cloud_support import SECRET_KEY, T0, batch_of, item, local_settings, running_app, soil_uplink
from tests.image_support import field_jpeg
from tests.test_machinery_operations import BOUNDARY
from tests.test_trace_records import HARVEST, SOWING, SPRAYING, ZONE, _farm, _season

PASSPHRASE = "correct horse battery staple"
LOT = "F1-2026-A"


def _use(monkeypatch, root: Path, **extra: str) -> dict[str, str]:  # noqa: ANN001
    """The FURROW_* environment of the installation in `root` (as `furrow cloud` reads it), and its settings
    for the in-process app."""
    for name in [n for n in os.environ if n.startswith("FURROW_")]:
        monkeypatch.delenv(name)
    values = {"data_dir": str(root), "secret_key": SECRET_KEY, "mqtt_enabled": "false",
              "command_signing_keys_dir": str(root / "keys"), "command_node_keys_file": str(root / "node_keys.json"),
              **extra}
    for name, value in values.items():
        monkeypatch.setenv(f"FURROW_{name.upper()}", value)
    return values


def _settings(values: dict[str, str]):  # noqa: ANN202
    return local_settings(Path(values["data_dir"]), **{k: v for k, v in values.items() if k != "data_dir"})


def _run(capsys, *args: str) -> tuple[int, str]:  # noqa: ANN001
    capsys.readouterr()
    code = furrow(list(args))
    out = capsys.readouterr()
    return code, out.out + out.err


def _tables(url: str) -> dict[str, list]:
    """Every row of every table, in primary-key order, as the backup writes them."""
    engine = create_engine(url)
    try:
        return {t.name: list(relational.table_rows(engine, t)) for t in relational._tables(engine)}
    finally:
        engine.dispose()


def _keys(root: Path) -> dict[str, bytes]:
    files = {p.name: p.read_bytes() for p in (root / "keys").iterdir()}
    return files | {"node_keys.json": (root / "node_keys.json").read_bytes()}


async def _installation(values: dict[str, str], full: bool = True) -> None:
    """A farm: registry (site, field with its boundary, zone, nodes), a soil probe's readings (full), a sowing,
    a spraying and a harvest as production records (signed), a signing key and a node key. The whole season of
    tests/test_trace_records.py (commands, applications, machine operations) is the full tier's."""
    root = Path(values["data_dir"])
    generate_key(root / "keys")
    add_node_key(root / "node_keys.json", "irr-01")
    async with running_app(_settings(values)) as c:
        if full == "season":
            await _farm(c)
            await _season(c)
        else:
            for path, body in [("sites", {"id": "demo", "name": "Farm", "timezone": "Asia/Shanghai"}),
                               ("fields", {"id": "f1", "site_id": "demo", "name": "North"}), ("zones", ZONE),
                               ("nodes", {"id": "soil-01", "role": "soil", "zone_id": "z1", "depths_cm": [10]})]:
                assert (await c.post(f"/api/v1/registry/{path}", json=body)).status_code == 201
            assert (await c.put("/api/v1/registry/fields/f1/boundary", json=BOUNDARY)).status_code == 200
            if full:
                probe = [item(soil_uplink("soil-01", seq, T0 + seq * 3_600_000, vwc=20.0 + seq / 3))
                         for seq in range(1, 4)]
                assert (await c.post("/api/v1/ingest/batch", json=batch_of(probe))).status_code == 200
                r = await c.post("/api/v1/registry/nodes", json={"id": "cam-01", "role": "camera", "zone_id": "z1"})
                assert r.status_code == 201, r.text
                jpeg = field_jpeg(64, 48)
                header = make_image_header("demo", "gw-1", "cam-01", 1, "canopy", "jpeg", T0, T0 + 5000, len(jpeg),
                                           hashlib.sha256(jpeg).hexdigest())
                r = await c.post("/api/v1/ingest/image", content=encode_image(header, jpeg))
                assert r.status_code == 200 and r.json()["status"] == "stored", r.text
            for body in (SOWING, SPRAYING, HARVEST):
                assert (await c.post("/api/v1/trace/records", json=body)).status_code == 201
        assert len((await c.post("/api/v1/trace/checkpoints")).json()) == 1


async def _still_works(values: dict[str, str]) -> None:
    """The restored installation serves the lot verified and takes a new record after the restored ones."""
    async with running_app(_settings(values)) as c:
        lot = (await c.get(f"/api/v1/trace/lots/{LOT}")).json()
        assert lot["verified"] is True and lot["quantity_kg"] == 18000
        r = await c.post("/api/v1/trace/records", json={**SOWING, "season": "2027",
                                                        "occurred_at": "2026-10-01T06:00:00Z"})
        assert r.status_code == 201, r.text  # a new row id: PostgreSQL's sequences moved past the restored ones


async def test_sqlite_backup_restores_into_an_empty_installation_identically(tmp_path, monkeypatch, capsys):
    """SQLite: every table's rows, the readings file's rows, the image objects and the key files are identical
    after backup and restore; restore reports each chain verified; `furrow trace verify` passes on the restored
    database with the restored keys; the restored service serves the lot and appends; a second restore into the
    now full target is refused naming a table, and --replace restores over it."""
    a, b = tmp_path / "a", tmp_path / "b"
    source = _use(monkeypatch, a)
    await _installation(source)
    (tmp_path / "pass").write_text(PASSPHRASE + "\n")
    archive = tmp_path / "farm.furrow-backup"
    code, out = _run(capsys, "cloud", "backup", "--out", str(archive), "--passphrase-file", str(tmp_path / "pass"))
    assert code == 0, out
    assert "database: trace_records: 3 rows" in out and "readings: 6 in the SQLite store" in out, out

    target = _use(monkeypatch, b)
    code, out = _run(capsys, "cloud", "restore", str(archive), "--passphrase-file", str(tmp_path / "pass"))
    assert code == 0, out
    assert "every checksum matches" in out and "ok   trace f1/2026: 3 record(s), signed up to 3" in out, out
    before, after = _tables(f"sqlite:///{a / 'furrow.db'}"), _tables(f"sqlite:///{b / 'furrow.db'}")
    assert after == before and len(before["trace_records"]) == 3 and before["sites"] and before["users"]
    rows = {}
    for root in (a, b):
        db = sqlite3.connect(root / "readings.db")
        rows[root] = db.execute("SELECT * FROM readings ORDER BY node, seq, measurement").fetchall()
        db.close()
    assert rows[a] == rows[b] and len(rows[a]) == 6
    assert _keys(b) == _keys(a) and len(_keys(a)) == 3  # .key, .pub, node keys
    images = {root: {p.relative_to(root / "images"): p.read_bytes() for p in (root / "images").rglob("*")
                     if p.is_file()} for root in (a, b)}
    assert images[b] == images[a] and len(images[a]) == 2  # the photo and its thumbnail
    code, out = _run(capsys, "trace", "verify", "--database-url", f"sqlite:///{b / 'furrow.db'}", "--keys",
                     str(b / "keys"))
    assert code == 0 and "ok   f1/2026: 3 record(s), 1 signed head(s)" in out, out
    await _still_works(target)

    code, out = _run(capsys, "cloud", "restore", str(archive), "--passphrase-file", str(tmp_path / "pass"))
    assert code == 2 and "not empty (table " in out and "--replace" in out, out
    code, out = _run(capsys, "cloud", "restore", str(archive), "--passphrase-file", str(tmp_path / "pass"),
                     "--replace")
    assert code == 0, out
    assert _tables(f"sqlite:///{b / 'furrow.db'}") == before


def _influx_lines(url: str, database: str) -> dict[str, list[str]]:
    """Every point of the database as line protocol, by retention policy, sorted."""
    influx = readings.Influx1(url, database, None, None)
    try:
        out: dict[str, list[str]] = {}
        for rp in influx.retention_policies():
            if rp["name"] == CHANGES_POLICY:  # the chart caches' change marks: not backed up (a restore makes one)
                continue
            lines = out.setdefault(rp["name"], [])
            for m in influx.measurements():
                types = influx.field_types(rp["name"], m)
                for s in influx.series(rp["name"], m) if types else []:
                    lines += readings.series_lines(s, types)
            lines.sort()
        return out
    finally:
        influx.close()


@pytest.mark.parametrize("farm", [True, pytest.param("season", marks=pytest.mark.full)])
async def test_postgresql_and_influxdb_backup_restores_identically(tmp_path, monkeypatch, capsys, postgres,
                                                                   pg_database, influxdb, influx_db, farm):
    """PostgreSQL + InfluxDB 1.6: restored into a new PostgreSQL database and a new InfluxDB database, every
    table's rows, every point of every retention policy (as line protocol, field types kept) and the keys are
    identical; the chain verifies; every id sequence is past the restored ids. The full tier runs it on
    test_trace_records' whole season (commands, fertiliser, a machine operation too) and has the restored service
    append a record."""
    a, b = tmp_path / "a", tmp_path / "b"
    influx = {"storage": "influxdb1", "influx_url": influxdb.url}
    source = _use(monkeypatch, a, database_url=pg_database, influx_database=influx_db, **influx)
    await _installation(source, farm)
    n = 7 if farm == "season" else 3
    archive = tmp_path / "farm.tar"
    monkeypatch.setenv("FURROW_BACKUP_PASSPHRASE", PASSPHRASE)
    code, out = _run(capsys, "cloud", "backup", "--out", str(archive))
    assert code == 0, out
    assert "database: postgresql" in out and f"readings: {influx_db}.autogen.vwc_pct: 3 points" in out, out

    name = f"restored_{uuid.uuid4().hex[:12]}"
    postgres.create_database(name)
    try:
        target = _use(monkeypatch, b, database_url=postgres.url(name), influx_database=name, **influx)
        monkeypatch.setenv("FURROW_BACKUP_PASSPHRASE", PASSPHRASE)
        code, out = _run(capsys, "cloud", "restore", str(archive))
        assert code == 0, out
        assert f"ok   trace f1/2026: {n} record(s), signed up to {n}" in out, out
        before, after = _tables(pg_database), _tables(postgres.url(name))
        assert after == before and len(before["trace_records"]) == n
        points = _influx_lines(influxdb.url, influx_db)
        assert _influx_lines(influxdb.url, name) == points and len(points["autogen"]) == (7 if farm == "season" else 6)
        assert all(",seq=" in line and "i,value=" in line for line in points["autogen"])  # integers stay integers
        assert _keys(b) == _keys(a)
        code, out = _run(capsys, "trace", "verify", "--database-url", postgres.url(name), "--keys", str(b / "keys"))
        assert code == 0, out
        engine = create_engine(postgres.url(name))
        try:  # every id sequence is past its table's restored ids: the next row gets a new id
            with engine.connect() as conn:
                for table in ("trace_records", "trace_checkpoints", "audit_log", "users"):
                    top = conn.scalar(text(f"SELECT max(id) FROM {table}"))
                    nxt = conn.scalar(text(f"SELECT nextval(pg_get_serial_sequence('{table}', 'id'))"))
                    assert top is not None and nxt > top, (table, top, nxt)
        finally:
            engine.dispose()
        if farm == "season":  # and the restored service appends a record (an app's start: the full tier's)
            await _still_works(target)
    finally:
        postgres.drop_database(name)
        influxdb.drop_database(name)


def _flip(archive: Path, member: str) -> None:
    """Change one byte in the middle of `member`'s data inside the tar."""
    with tarfile.open(archive) as tar:
        info = tar.getmember(member)
    with open(archive, "r+b") as f:
        f.seek(info.offset_data + info.size // 2)
        byte = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([byte[0] ^ 0xFF]))


async def test_a_damaged_archive_a_wrong_passphrase_and_a_missing_one_are_named(tmp_path, monkeypatch, capsys):
    """One byte changed in the records' table part: the restore names that part and its checksum and writes
    nothing; an archive cut short is named as such; a wrong passphrase is named as one; a backup with keys and
    no passphrase says how to give one or to leave the keys out."""
    a, b = tmp_path / "a", tmp_path / "b"
    source = _use(monkeypatch, a)
    await _installation(source, full=False)
    code, out = _run(capsys, "cloud", "backup", "--out", str(tmp_path / "x.tar"))
    assert code == 2 and "--passphrase-file" in out and "--no-keys" in out, out
    (tmp_path / "pass").write_text(PASSPHRASE)
    (tmp_path / "wrong").write_text("not the passphrase at all")
    archive = tmp_path / "farm.tar"
    assert _run(capsys, "cloud", "backup", "--out", str(archive), "--passphrase-file", str(tmp_path / "pass"))[0] == 0
    good = archive.read_bytes()

    _use(monkeypatch, b)
    code, out = _run(capsys, "cloud", "restore", str(archive), "--passphrase-file", str(tmp_path / "wrong"))
    assert code == 2 and "keys.enc: the passphrase does not open it" in out, out
    _flip(archive, "database/trace_records.jsonl.gz")
    code, out = _run(capsys, "cloud", "restore", str(archive), "--passphrase-file", str(tmp_path / "pass"))
    assert code == 2 and "damaged" in out and "database/trace_records.jsonl.gz: SHA-256" in out, out
    archive.write_bytes(good[: len(good) // 2])
    code, out = _run(capsys, "cloud", "restore", str(archive), "--passphrase-file", str(tmp_path / "pass"))
    assert code == 2 and ("missing" in out or "cut short" in out), out
    assert not (b / "furrow.db").exists() and not (b / "readings.db").exists() and not (b / "keys").exists()


@pytest.mark.parametrize("cut", ["the whole chain", "its last record"])
async def test_exported_heads_show_a_chain_deleted_or_cut_short_with_its_heads(tmp_path, monkeypatch, capsys, cut):
    """Someone who drops the triggers and deletes a chain (or its last record) together with the signed heads
    leaves a database that verifies; `verify --heads` with the heads exported before fails naming the chain."""
    a = tmp_path / "a"
    _use(monkeypatch, a)
    await _installation(_use(monkeypatch, a), full=False)
    heads = tmp_path / "heads.json"
    url = f"sqlite:///{a / 'furrow.db'}"
    code, out = _run(capsys, "trace", "export-heads", "--out", str(heads), "--database-url", url)
    assert code == 0 and "1 signed head(s)" in out, out
    assert _run(capsys, "trace", "verify", "--database-url", url, "--keys", str(a / "keys"), "--heads",
                str(heads))[0] == 0
    db = sqlite3.connect(a / "furrow.db")
    for trigger in ("trace_records_no_delete", "trace_checkpoints_no_delete"):
        db.execute(f"DROP TRIGGER {trigger}")
    where = "" if cut == "the whole chain" else " WHERE seq = 3"
    db.execute(f"DELETE FROM trace_records{where}")
    db.execute(f"DELETE FROM trace_checkpoints{where}")
    db.commit()
    db.close()
    code, out = _run(capsys, "trace", "verify", "--database-url", url, "--keys", str(a / "keys"))
    assert code == 0, out  # the limit: nothing in the database names what is gone
    code, out = _run(capsys, "trace", "verify", "--database-url", url, "--keys", str(a / "keys"), "--heads",
                     str(heads))
    reason = "the chain was deleted" if cut == "the whole chain" else "the chain ends at record 2"
    assert code == 1 and "f1/2026: exported head 3" in out and reason in out, out
