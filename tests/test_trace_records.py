"""Production records (cloud/trace/): people's entries and what Furrow records become one hash chain per
field and season; the database refuses edits; `furrow trace verify` names the first altered or missing record
in a real SQLite and PostgreSQL database; a harvest lot traces back to its inputs and water."""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from furrow.cli import main as furrow
from furrow.cloud.commands.signing import generate_key, signer_from_settings
from furrow.cloud.trace.canonical import CanonicalError, canonical_json
from furrow.cloud.trace.chain import GENESIS, record_hash
from furrow.cloud.trace.service import water_mm
from furrow.edge import commands
from tests.cloud_support import T0, batch_of, item, local_settings, problem, running_app, soil_uplink
from tests.gateway_support import valve_uplink
from tests.test_machinery_operations import BOUNDARY, operation

NODE = "irr-01"
DAY = 86_400_000
ZONE = {"id": "z1", "field_id": "f1", "name": "Zone 1", "area_ha": 2.0, "soil_texture": "loam",
        "field_capacity_pct": 31.0, "wilting_point_pct": 14.0, "root_depth_cm": 30, "crop": "maize",
        "planting_date": "2026-04-20", "precip_rate_mm_h": 12.0}
UREA = {"id": "urea", "name": "Urea 46-0-0", "n_pct": 46, "p2o5_pct": 0, "k2o_pct": 0, "price_per_kg": 2.4}
SOWING = {"field": "f1", "season": "2026", "occurred_at": "2026-04-20T06:00:00Z",
          "details": {"kind": "sowing", "crop": "maize", "variety": "DK 159", "seed_lot": "DK159-2026-0412",
                      "rate": 75000, "rate_unit": "seeds/ha"}}
SPRAYING = {"field": "f1", "season": "2026", "occurred_at": "2026-08-10T07:30:00+08:00", "zone": "z1",
            "details": {"kind": "spraying", "product": "Coragen 20SC", "active_ingredient": "chlorantraniliprole",
                        "rate": 0.15, "rate_unit": "L/ha", "phi_days": 14, "target": "Spodoptera frugiperda"}}
HARVEST = {"field": "f1", "season": "2026", "occurred_at": "2026-09-01T08:00:00Z",
           "details": {"kind": "harvest", "lot_id": "F1-2026-A", "quantity_kg": 18000, "moisture_pct": 24.5}}


# --- the canonical form and the hash, worked examples ------------------------------------------------

def test_canonical_json_is_rfc_8785_on_its_own_examples():
    """RFC 8785 section 3.2.2.3's numbers come out as the RFC writes them; keys sort, no whitespace, UTF-8."""
    assert canonical_json([333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001]) == \
        b"[333333333.3333333,1e+30,4.5,0.002,1e-27]"
    assert canonical_json({"b": [1.0, -0.0, 1e-7, 1e21, 1e20], "a": "玉米\n\"", "c": None, "d": True}) == \
        '{"a":"玉米\\n\\"","b":[1,0,1e-7,1e+21,100000000000000000000],"c":null,"d":true}'.encode()


@pytest.mark.parametrize(("value", "says"), [({"data": {"rate": float("nan")}}, "data.rate: nan"),
                                             ({"q": [1, 2**60]}, "q[1]: integer"),
                                             ({"x": {1, 2}}, "x: set")])
def test_what_has_no_canonical_form_is_refused_naming_where(value, says):
    """NaN, an integer a JCS reader cannot hold, and a non-JSON value are refused, naming their place."""
    with pytest.raises(CanonicalError, match=says.replace("[", r"\[").replace("]", r"\]")):
        canonical_json(value)


def test_a_record_hash_is_sha256_of_its_canonical_body_and_the_hash_before():
    """The hash of a first record is SHA-256 over these exact bytes (docs/traceability.md); another prev, or
    any other value, gives another hash."""
    rec = {"field": "f1", "season": "2026", "seq": 1, "kind": "sowing", "occurred_ms": 1776664800000,
           "zone": None, "data": {"crop": "maize", "seed_lot": "DK159-2026-0412", "rate": 75000.0},
           "corrects": None, "source": "entry:k1", "lot": None, "by": "person:maria", "recorded_ms": 1776670000000,
           "prev": GENESIS}
    body = (b'{"by":"person:maria","corrects":null,"data":{"crop":"maize","rate":75000,'
            b'"seed_lot":"DK159-2026-0412"},"field":"f1","kind":"sowing","lot":null,"occurred_ms":1776664800000,'
            b'"prev":"' + GENESIS.encode() + b'","recorded_ms":1776670000000,"season":"2026","seq":1,'
            b'"source":"entry:k1","type":"furrow.trace.record/1","zone":null}')
    assert record_hash(rec) == hashlib.sha256(body).hexdigest()
    assert record_hash({**rec, "prev": "1" * 64}) != record_hash(rec)
    assert record_hash({**rec, "data": {**rec["data"], "rate": 75001.0}}) != record_hash(rec)


def test_a_rotated_out_key_still_checks_what_it_signed(tmp_path):
    """After a rotation the old key's .key is removed and its .pub kept: the signer signs with the new kid and
    still offers the old public key, so heads signed before the rotation keep verifying."""
    old, old_private, _ = generate_key(tmp_path, kid="k20260101000000-0001")
    new, _, _ = generate_key(tmp_path, kid="k20260601000000-0002")
    old_private.unlink()
    signer = signer_from_settings(local_settings(tmp_path, command_signing_keys_dir=tmp_path))
    assert signer.kid == new and set(signer.keys) == {new} and set(signer.public_keys()) == {old, new}


def test_water_applied_from_the_flow_meter_or_the_runtime():
    """40 000 l over 2 ha is 2 mm (1 mm on 1 ha = 10 000 l); without a volume, 1800 s at 12 mm/h is 6 mm."""
    assert water_mm(40_000, 1800, 2.0, 12.0) == (2.0, "flow meter volume / zone area")
    assert water_mm(None, 1800, 2.0, 12.0) == (6.0, "runtime x zone precipitation rate")
    assert water_mm(None, None, 2.0, 12.0) == (None, None)


# --- through the service, on a real database ---------------------------------------------------------

async def _farm(c) -> None:  # noqa: ANN001
    for path, body in [("sites", {"id": "demo", "name": "Farm", "timezone": "Asia/Shanghai"}),
                       ("fields", {"id": "f1", "site_id": "demo", "name": "North"}), ("zones", ZONE),
                       ("nodes", {"id": NODE, "role": "irrigation"}),
                       ("nodes", {"id": "soil-01", "role": "soil", "zone_id": "z1", "depths_cm": [10]}),
                       ("valves", {"node_id": NODE, "channel": 1, "zone_id": "z1"})]:
        r = await c.post(f"/api/v1/registry/{path}", json=body)
        assert r.status_code == 201, r.text
    assert (await c.put("/api/v1/registry/fields/f1/boundary", json=BOUNDARY)).status_code == 200
    assert (await c.put("/api/v1/fertility/sites/demo/products/urea", json=UREA)).status_code == 200
    assert (await c.post("/api/v1/ingest/batch", json=batch_of([item(valve_uplink(NODE, 1))]))).status_code == 200


async def _season(c) -> list[dict]:  # noqa: ANN001
    """A season on f1: sown, sprayed by a machine, watered by a command, fertilised, sprayed, harvested, and
    one record corrected. The chain as stored."""
    r = await c.post("/api/v1/trace/records", json={**SOWING, "idempotency_key": "sowing-f1-2026"})
    assert r.status_code == 201, r.text
    july = T0 + 181 * DAY  # 2026-07-01T00:00Z: the field's probe reads 20 and 25 % that day, 30 % the next
    probe = [soil_uplink("soil-01", seq, july + at, vwc=v)
             for seq, at, v in ((1, 6 * 3_600_000, 20.0), (2, 18 * 3_600_000, 25.0), (3, DAY + 6 * 3_600_000, 30.0))]
    r = await c.post("/api/v1/ingest/batch", json=batch_of([item(u) for u in probe], batch_id="gw-1-000002"))
    assert r.status_code == 200, r.text
    again = await c.post("/api/v1/trace/records", json={**SOWING, "idempotency_key": "sowing-f1-2026"})
    assert again.status_code == 200 and again.json()["seq"] == 1  # the same entry is recorded once
    r = await c.post("/api/v1/operations", json=operation([5, 13], kind="spraying", product="Roundup",
                                                              rate=2.0, rate_unit="L/ha"))
    assert r.status_code == 201, r.text  # T0 of the machinery tests: 2026-05-28
    cmd = (await c.post("/api/v1/commands", json={"node": NODE, "valve": 1, "duration_s": 1800})).json()
    ended = T0 + 190 * DAY  # 2026-07-10
    for state, extra in (("received", {}), ("started", {}), ("completed", {"runtime_s": 1800, "volume_l": 40_000.0})):
        r = await c.post("/api/v1/commands/acks", json=commands.make_ack(cmd["id"], NODE, state, ended, **extra))
        assert r.status_code == 200, r.text
    r = await c.post("/api/v1/zones/z1/fertility/applications",
                     json={"season": "2026", "product_id": "urea", "rate_kg_ha": 150, "applied_on": "2026-06-15",
                           "method": "broadcast"})
    assert r.status_code == 201, r.text
    spray = await c.post("/api/v1/trace/records", json=SPRAYING)
    assert spray.status_code == 201, spray.text
    fixed = {**SPRAYING, "details": {**SPRAYING["details"], "rate": 0.2}, "corrects": spray.json()["seq"],
             "reason": "the sprayer's log says 0.2 L/ha"}
    assert (await c.post("/api/v1/trace/records", json=fixed)).status_code == 201
    assert (await c.post("/api/v1/trace/records", json=HARVEST)).status_code == 201
    r = await c.get("/api/v1/trace/records", params={"field": "f1", "season": "2026"})
    assert r.status_code == 200
    return r.json()


async def _at_once(c, n: int) -> None:  # noqa: ANN001
    """`n` irrigation entries on f1/2026 sent at once: appenders race for the same next seq."""
    bodies = [{"field": "f1", "season": "2026", "occurred_at": f"2026-07-{day:02d}T05:00:00Z",
               "details": {"kind": "irrigation", "water_mm": 10 + day, "method": "furrow"}} for day in range(1, n + 1)]
    answers = await asyncio.gather(*(c.post("/api/v1/trace/records", json=b) for b in bodies))
    assert [r.status_code for r in answers] == [201] * n, [r.text for r in answers if r.status_code != 201]


def _keys(tmp_path):  # noqa: ANN001, ANN202
    generate_key(tmp_path / "keys")
    return tmp_path / "keys"


async def test_a_season_becomes_one_chain_signed_verified_and_a_lot_traced_back(tmp_path):
    """Each operation, whoever recorded it, is one record in f1/2026, each naming the hash before; the head is
    signed with the command key; the chain verifies; the lot traces back to the seed lot, the fertiliser, the
    sprays (the corrected rate, the pre-harvest interval met: 22 days of 14), 2 mm of water and the season's
    soil probe summary."""
    keys = _keys(tmp_path)
    async with running_app(local_settings(tmp_path, command_signing_keys_dir=keys)) as c:
        await _farm(c)
        chain = await _season(c)
        assert [(r["seq"], r["kind"], r["source"].split(":")[0]) for r in chain] == [
            (1, "sowing", "entry"), (2, "spraying", "operation"), (3, "irrigation", "command"),
            (4, "fertilisation", "application"), (5, "spraying", "entry"), (6, "spraying", "entry"),
            (7, "harvest", "entry")]
        assert chain[0]["prev"] == GENESIS
        assert all(b["prev"] == a["hash"] for a, b in zip(chain, chain[1:], strict=False))
        water = chain[2]["data"]
        assert (water["water_mm"], water["volume_l"], water["runtime_s"], chain[2]["zone"]) == (2.0, 40000.0, 1800,
                                                                                                "z1")
        assert chain[2]["occurred_ms"] == T0 + 190 * DAY  # the controller's end, not when the cloud heard it
        assert chain[3]["data"]["nutrients_kg_ha"] == {"N": 69.0, "P2O5": 0.0, "K2O": 0.0}
        assert chain[5]["corrects"] == 5 and chain[5]["data"]["reason"] == "the sprayer's log says 0.2 L/ha"
        assert chain[6]["lot"] == "F1-2026-A" and chain[0]["by"] == "person:bootstrap-admin"

        signed = (await c.post("/api/v1/trace/checkpoints")).json()
        assert [(s["field"], s["season"], s["seq"], s["head"]) for s in signed] == [("f1", "2026", 7,
                                                                                      chain[-1]["hash"])]
        assert (await c.post("/api/v1/trace/checkpoints")).json() == []  # nothing grew since
        v = (await c.get("/api/v1/trace/verify")).json()
        assert v["ok"] and v["chains"][0]["signed_seq"] == 7 and v["chains"][0]["unsigned_records"] == 0

        lot = (await c.get("/api/v1/trace/lots/F1-2026-A")).json()
        [h] = lot["harvests"]
        assert (lot["quantity_kg"], lot["fields"], lot["verified"]) == (18000, ["f1"], True)
        assert h["seed"][0]["seed_lot"] == "DK159-2026-0412" and h["fertilisers"][0]["product"] == "Urea 46-0-0"
        [machine, person] = h["sprays"]
        assert machine["product"] == "Roundup" and "phi_met" not in machine  # the machine knew no interval
        assert (person["rate"], person["phi_days"], person["phi_met"]) == (0.2, 14, True)
        assert person["days_before_harvest"] == 22.35  # 08-09 23:30Z to 09-01 08:00Z: 22 days 8.5 h
        assert h["water"] == {"irrigations": 1, "volume_l": 40000.0, "water_mm_by_zone": {"z1": 2.0}}
        sensors = h["sensors"]
        assert (sensors["nodes"], sensors["from_ms"]) == (["soil-01"], chain[0]["occurred_ms"])  # from the sowing
        # by measurement name; vwc 20 and 25 % on July 1, 30 % on July 2: (20 + 25 + 30) / 3, not 26.25
        temp, vwc = sensors["summary"]
        assert vwc == {"node": "soil-01", "measurement": "vwc_pct", "depth_cm": 10, "channel": None, "mean": 25.0,
                       "min": 20.0, "max": 30.0, "readings": 3, "days": 2}
        assert (temp["measurement"], temp["mean"], temp["readings"]) == ("soil_temp_c", 18.25, 3)
        assert (await c.get("/api/v1/trace/lots/NOPE")).status_code == 404

        audit = (await c.get("/api/v1/audit")).json()
        assert {"trace.record", "trace.sign"} <= {e["action"] for e in audit}


async def test_a_bad_entry_is_refused_naming_the_field(tmp_path):
    """A spraying without its pre-harvest interval, a correction of a record that is not there or of another
    kind, a correction without a reason, an unknown field and a date ahead of the clock are refused, naming
    what is wrong; six entries
    sent at once are all recorded, numbered 2 to 7, and the chain verifies (SQLite)."""
    async with running_app(local_settings(tmp_path)) as c:
        await _farm(c)
        assert (await c.post("/api/v1/trace/records", json=SOWING)).status_code == 201
        no_phi = {**SPRAYING, "details": {k: v for k, v in SPRAYING["details"].items() if k != "phi_days"}}
        r = await c.post("/api/v1/trace/records", json=no_phi)
        assert r.status_code == 422 and problem(r)["field"].endswith("phi_days"), r.text
        r = await c.post("/api/v1/trace/records", json={**SPRAYING, "corrects": 5, "reason": "typo"})
        assert r.status_code == 422 and problem(r)["field"] == "corrects" and "records 1 to 1" in r.text
        r = await c.post("/api/v1/trace/records", json={**SPRAYING, "corrects": 1, "reason": "typo"})
        assert r.status_code == 422 and problem(r)["field"] == "details.kind" and "is a sowing" in r.text
        r = await c.post("/api/v1/trace/records", json={**SOWING, "corrects": 1})
        assert r.status_code == 422 and "needs a reason" in r.text
        r = await c.post("/api/v1/trace/records", json={**SOWING, "field": "f9"})
        assert r.status_code == 404 and problem(r)["field"] == "field"
        r = await c.post("/api/v1/trace/records", json={**SOWING, "occurred_at": "2099-04-20T06:00:00Z"})
        assert r.status_code == 422 and problem(r)["field"] == "occurred_at" and "ahead of" in r.text
        assert len((await c.get("/api/v1/trace/records", params={"field": "f1", "season": "2026"})).json()) == 1
        await _at_once(c, 6)  # and entries sent at once each find their own place in the chain
        chain = (await c.get("/api/v1/trace/records", params={"field": "f1", "season": "2026"})).json()
        assert [r["seq"] for r in chain] == list(range(1, 8)) and (await c.get("/api/v1/trace/verify")).json()["ok"]


def _verify(capsys, *args: str) -> tuple[int, str]:  # noqa: ANN001
    capsys.readouterr()
    code = furrow(["trace", "verify", *args])
    out = capsys.readouterr()
    return code, out.out + out.err


async def test_sqlite_refuses_edits_and_verify_names_the_altered_then_the_removed_record(tmp_path, capsys):
    """The database refuses UPDATE and DELETE on the records and signed heads; someone who drops those
    triggers and changes record 2's rate makes `furrow trace verify` fail naming f1/2026 record 2; put back, it
    passes; the last record deleted, it names the signed head that no longer has its record."""
    keys = _keys(tmp_path)
    async with running_app(local_settings(tmp_path, command_signing_keys_dir=keys)) as c:
        for path, body in [("sites", {"id": "demo", "name": "Farm"}),
                           ("fields", {"id": "f1", "site_id": "demo", "name": "North"}), ("zones", ZONE)]:
            assert (await c.post(f"/api/v1/registry/{path}", json=body)).status_code == 201
        chain = [(await c.post("/api/v1/trace/records", json=body)).json() for body in (SOWING, SPRAYING, HARVEST)]
        assert len((await c.post("/api/v1/trace/checkpoints")).json()) == 1
    url = f"sqlite:///{tmp_path / 'furrow.db'}"
    assert _verify(capsys, "--database-url", url, "--keys", str(keys))[0] == 0
    row2 = chain[1]["id"]
    db = sqlite3.connect(tmp_path / "furrow.db")
    for statement in (f"UPDATE trace_records SET data = json_set(data, '$.rate', 0.05) WHERE id = {row2}",
                      f"DELETE FROM trace_records WHERE id = {row2}", "DELETE FROM trace_checkpoints"):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            db.execute(statement)
    db.execute("DROP TRIGGER trace_records_no_update")
    db.execute("DROP TRIGGER trace_records_no_delete")
    db.execute(f"UPDATE trace_records SET data = json_set(data, '$.rate', 0.05) WHERE id = {row2}")
    db.commit()
    code, out = _verify(capsys, "--database-url", url, "--keys", str(keys))
    assert code == 1 and f"f1/2026: record 2 (row id {row2}): its content hashes to" in out, out
    db.execute(f"UPDATE trace_records SET data = json_set(data, '$.rate', 0.15) WHERE id = {row2}")
    db.commit()
    assert _verify(capsys, "--database-url", url, "--keys", str(keys))[0] == 0
    db.execute("DELETE FROM trace_records WHERE seq = 3")
    db.commit()
    code, out = _verify(capsys, "--database-url", url, "--keys", str(keys), "--json")
    [report] = json.loads(out[: out.rindex("]") + 1])
    assert code == 1 and report["problem"]["what"] == "checkpoint" and report["problem"]["seq"] == 3
    assert "records were removed" in report["problem"]["reason"]
    db.close()


async def test_postgresql_refuses_edits_and_verify_names_the_altered_record(tmp_path, pg_database, capsys):
    """On PostgreSQL the triggers refuse UPDATE, DELETE and TRUNCATE, even for the superuser; with triggers
    off for the session (session_replication_role = replica) a changed seed lot in record 1 makes verify name
    f1/2026 record 1; a forged signed head is named too. Six entries sent at once are numbered in turn."""
    keys = _keys(tmp_path)
    async with running_app(local_settings(tmp_path, database_url=pg_database, command_signing_keys_dir=keys)) as c:
        await _farm(c)
        chain = await _season(c)
        assert len((await c.post("/api/v1/trace/checkpoints")).json()) == 1
        await _at_once(c, 6)  # appenders racing for the next seq wait for each other (an advisory lock)
        grown = (await c.get("/api/v1/trace/records", params={"field": "f1", "season": "2026"})).json()
        assert [r["seq"] for r in grown] == list(range(1, 14))
    assert _verify(capsys, "--database-url", pg_database, "--keys", str(keys))[0] == 0
    engine = create_engine(pg_database)
    try:
        for statement in ("UPDATE trace_records SET by = 'x' WHERE seq = 1", "DELETE FROM trace_records",
                          "TRUNCATE trace_records", "UPDATE trace_checkpoints SET seq = 6"):
            with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
                conn.execute(text(statement))
        with engine.begin() as conn:
            conn.execute(text("SET LOCAL session_replication_role = replica"))
            conn.execute(text("UPDATE trace_records SET data = jsonb_set(data::jsonb, '{seed_lot}', "
                              "'\"DK159-2026-0999\"')::json WHERE id = :id"), {"id": chain[0]["id"]})
        code, out = _verify(capsys, "--database-url", pg_database, "--keys", str(keys))
        assert code == 1 and f"f1/2026: record 1 (row id {chain[0]['id']}): its content hashes to" in out, out
        with engine.begin() as conn:
            conn.execute(text("SET LOCAL session_replication_role = replica"))
            conn.execute(text("UPDATE trace_records SET data = jsonb_set(data::jsonb, '{seed_lot}', "
                              "'\"DK159-2026-0412\"')::json WHERE id = :id"), {"id": chain[0]["id"]})
            conn.execute(text("UPDATE trace_checkpoints SET signed_ms = signed_ms + 1"))
        code, out = _verify(capsys, "--database-url", pg_database, "--keys", str(keys))
        assert code == 1 and "f1/2026: checkpoint 7" in out and "signature" in out, out
        code, out = _verify(capsys, "--database-url", pg_database, "--hashes-only")
        assert code == 0 and "were not checked" in out
    finally:
        engine.dispose()


def test_verify_says_what_it_needs_and_refuses_a_database_without_records(tmp_path, capsys, monkeypatch):
    """Without --keys (nor its variable) verify says how to give them, exit 2; a database with no record
    tables is named as unreadable, exit 2, not passed as good."""
    monkeypatch.delenv("FURROW_COMMAND_SIGNING_KEYS_DIR", raising=False)
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    code, out = _verify(capsys, "--database-url", url)
    assert code == 2 and "give --keys DIR" in out and "FURROW_COMMAND_SIGNING_KEYS_DIR" in out
    code, out = _verify(capsys, "--database-url", url, "--hashes-only")
    assert code == 2 and "cannot read the production records" in out and "trace_records" in out


async def test_a_live_operation_recomputed_as_its_track_grows_is_recorded_again_as_a_correction(tmp_path):
    """Half a tracker's window, then the rest: the machine operation's first version is record 1, its
    recomputed version record 2 correcting it (with the fixes counted and why); the same window recorded again
    unchanged adds nothing."""
    from tests.test_machinery_coverage import back_and_forth
    from tests.test_machinery_live import NODE as TRACKER
    from tests.test_machinery_live import live
    from tests.test_machinery_operations import _field
    from tests.tracker_support import position_messages, positions_batch

    fixes = back_and_forth([5, 13])
    messages = position_messages(TRACKER, fixes)
    t0, t1 = fixes[0].t_ms, fixes[-1].t_ms
    half = len(messages) // 2
    async with running_app(local_settings(tmp_path)) as c:
        await _field(c)
        for batch_id, part in (("gw-1-1", messages[:half]), ("gw-1-2", messages[half:])):
            r = await c.post("/api/v1/ingest/batch", json=positions_batch("s1", "gw-1", batch_id, part, t1))
            assert r.status_code == 200, r.text
            assert (await c.post("/api/v1/operations", json=live(t0, t1))).status_code in (200, 201)
        assert (await c.post("/api/v1/operations", json=live(t0, t1))).status_code == 200
        chain = (await c.get("/api/v1/trace/records", params={"field": "f1", "season": "2026"})).json()
    assert [(r["seq"], r["kind"], r["corrects"]) for r in chain] == [(1, "sowing", None), (2, "sowing", 1)]
    assert chain[0]["data"]["fixes"] < chain[1]["data"]["fixes"] == len(fixes)
    assert "recomputed from 204 fixes" in chain[1]["data"]["reason"]
