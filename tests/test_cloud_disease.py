"""Disease risk from pathogens an agronomist configures on a zone: the registry validates their
infection-model values (SQLite and PostgreSQL), GET /zones/{id}/agronomy gives each pathogen's wet
periods with the risk index a hand computation predicts, and the disease-risk alert fires for the
zone and pathogen; a zone without pathogens has no risk index and no alert."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest
from sqlalchemy import create_engine, inspect, text

from furrow.cloud._time import now_ms
from furrow.cloud.migrations import current, head, upgrade
from furrow.cloud.planning.summary import NO_PATHOGEN
from furrow.edge.batch import make_batch
from furrow.edge.payload import make_reading, make_uplink
from tests.cloud_support import item, local_settings, problems, running_app

MINUTE = 60_000
HOUR = 60 * MINUTE
QUIET = {"alerts_interval_s": 3600.0}  # alerts are evaluated on demand only
ZONE = {"id": "z1", "field_id": "f1", "name": "Zone 1", "area_ha": 2.0, "soil_texture": "loam",
        "field_capacity_pct": 31.0, "wilting_point_pct": 14.0, "root_depth_cm": 30, "crop": "apple",
        "planting_date": "2026-01-01", "precip_rate_mm_h": 4.0}
# Made-up test values (not any real pathogen's): the point is the arithmetic, not the biology.
FUNGUS = {"name": "test-fungus", "tmin_c": 5.0, "topt_c": 20.0, "tmax_c": 30.0, "wmin_h": 6.0, "wmax_h": 48.0,
          "dry_interrupt_h": 4.0, "source": "test values, not a published pathogen's"}
# Needs far more than its wmax_h at 15 °C, so it cannot infect there.
WARM = {**FUNGUS, "name": "warm-fungus", "tmin_c": 14.0, "topt_c": 25.0, "tmax_c": 35.0, "wmax_h": 12.0}
SEQ = itertools.count(1)


async def _farm(c, zone: dict) -> None:
    for path, body in [("sites", {"id": "s1", "name": "Farm", "timezone": "UTC"}),
                       ("fields", {"id": "f1", "site_id": "s1", "name": "North"}), ("zones", zone)]:
        r = await c.post(f"/api/v1/registry/{path}", json=body)
        assert r.status_code == 201, r.text


def _weather(at: int, air_c: float, leaf_pct: float | None) -> dict:
    readings = [make_reading("air_temp_c", air_c)]
    if leaf_pct is not None:
        readings.append(make_reading("leaf_wet_pct", leaf_pct))
    return make_uplink("wx-01", "weather", next(SEQ), at, readings, "0.1.0", bat_v=3.9)


@pytest.mark.parametrize(("change", "field"), [
    ({"topt_c": 5.0}, "topt_c"),          # not above tmin_c
    ({"tmax_c": 19.0}, "tmax_c"),         # not above topt_c
    ({"wmin_h": 0}, "wmin_h"),
    ({"wmax_h": 5.0}, "wmax_h"),          # below wmin_h
    ({"source": "  "}, "source"),         # a citation is required
    ({"dry_interrupt_h": None}, "dry_interrupt_h"),
    ({"colour": "grey"}, "colour"),
])
async def test_a_bad_pathogen_is_refused_naming_the_field(tmp_path, change, field):
    """Each invalid pathogen of a zone answers 422 naming the offending field; a source is required."""
    async with running_app(local_settings(tmp_path)) as c:
        await _farm(c, {**ZONE, "id": "z0"})
        pathogen = {k: v for k, v in {**FUNGUS, **change}.items() if v is not None}
        r = await c.post("/api/v1/registry/zones", json={**ZONE, "pathogens": [pathogen]})
        assert r.status_code == 422, r.text
        assert field in [p["field"].split(".")[-1] for p in problems(r)]


async def test_pathogens_round_trip_and_names_must_differ(tmp_path):
    """Pathogens are stored and read back as given, replaced by a PUT, and two with one name are 422."""
    async with running_app(local_settings(tmp_path)) as c:
        await _farm(c, {**ZONE, "pathogens": [FUNGUS]})
        assert (await c.get("/api/v1/registry/zones/z1")).json()["pathogens"] == [FUNGUS]
        r = await c.put("/api/v1/registry/zones/z1", json={**ZONE, "pathogens": [FUNGUS, FUNGUS]})
        assert r.status_code == 422 and "test-fungus given twice" in r.text
        r = await c.put("/api/v1/registry/zones/z1", json={**ZONE, "pathogens": [WARM]})
        assert r.status_code == 200 and r.json()["pathogens"] == [WARM]
        assert (await c.put("/api/v1/registry/zones/z1", json=ZONE)).json()["pathogens"] is None


def test_migration_0006_keeps_existing_zones_without_pathogens(tmp_path):
    """A zone made at revision 0005 is still there after upgrading to the newest, watching no pathogen."""
    engine = create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        upgrade(engine, "0005")
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO sites (id, name, timezone) VALUES ('s1', 'Farm', 'UTC')"))
            conn.execute(text("INSERT INTO fields (id, site_id, name) VALUES ('f1', 's1', 'North')"))
            conn.execute(text("INSERT INTO zones (id, field_id, name, area_ha, soil_texture, field_capacity_pct, "
                              "wilting_point_pct, root_depth_cm, crop, precip_rate_mm_h) "
                              "VALUES ('z1', 'f1', 'Zone 1', 2, 'loam', 31, 14, 30, 'apple', 4)"))
        upgrade(engine)
        assert current(engine) == head()
        with engine.connect() as conn:
            assert conn.execute(text("SELECT id, pathogens FROM zones")).all() == [("z1", None)]
    finally:
        engine.dispose()


@pytest.mark.postgres
async def test_pathogens_on_postgresql(tmp_path, pg_database):
    """On PostgreSQL migration 0006 adds zones.pathogens; pathogens round-trip and a bad one is 422."""
    async with running_app(local_settings(tmp_path, database_url=pg_database)) as c:
        engine = create_engine(pg_database)
        try:
            assert current(engine) == head()
            assert "pathogens" in {col["name"] for col in inspect(engine).get_columns("zones")}
        finally:
            engine.dispose()
        await _farm(c, {**ZONE, "pathogens": [FUNGUS, WARM]})
        assert (await c.get("/api/v1/registry/zones/z1")).json()["pathogens"] == [FUNGUS, WARM]
        r = await c.put("/api/v1/registry/zones/z1", json={**ZONE, "pathogens": [{**FUNGUS, "tmax_c": 20.0}]})
        assert r.status_code == 422 and "tmax_c" in [p["field"].split(".")[-1] for p in problems(r)]


async def test_risk_index_and_alert_match_a_hand_computation(tmp_path):
    """Ten wet hours at a constant 15 °C ingested through the real path: for test-fungus
    (5/20/30 °C, Wmin 6 h) the agronomy route gives risk 10 / W(15) computed here by hand, and
    the disease-risk alert fires for z1/test-fungus; warm-fungus cannot infect at 15 °C (risk 0,
    no alert); zone z2, with no pathogen, gets the same wet period with risk_index null and a
    note saying why, and no alert."""
    async with running_app(local_settings(tmp_path, **QUIET)) as c:
        await _hand_computed_risk(c)


@pytest.mark.influxdb
async def test_the_hand_computed_risk_on_influxdb(tmp_path, influxdb, influx_db):
    """The same wet hours, route and alert with the readings in a real InfluxDB 1.x (its hourly means)."""
    settings = local_settings(tmp_path, storage="influxdb1", influx_url=influxdb.url, influx_database=influx_db,
                              **QUIET)
    async with running_app(settings) as c:
        await _hand_computed_risk(c)


async def _hand_computed_risk(c) -> None:
    """z1 watches test-fungus and warm-fungus with wx-01; z2 watches none (the site's wx-01 is its weather)."""
    await _farm(c, {**ZONE, "pathogens": [FUNGUS, WARM]})
    for body in [("zones", {**ZONE, "id": "z2"}), ("nodes", {"id": "wx-01", "role": "weather", "zone_id": "z1"})]:
        assert (await c.post(f"/api/v1/registry/{body[0]}", json=body[1])).status_code == 201
    now = now_ms()
    dry = [_weather(now - h * HOUR, 15.0, 0.0) for h in (12, 11)]
    wet = [_weather(now - h * HOUR, 15.0, 100.0) for h in range(10, 0, -1)]
    fresh = _weather(now - MINUTE, 15.0, None)  # heard just now (not offline); no wetness this hour
    body = make_batch("demo", "gw-1", "b1", now, [item(u) for u in [*dry, *wet, fresh]])
    r = await c.post("/api/v1/ingest/batch", json=body)
    assert r.status_code == 200 and not r.json()["rejected"], r.text

    # Magarey et al. (2005) beta response at T = 15 °C: f = (Tmax-T)/(Tmax-Topt) * ((T-Tmin)/(Topt-Tmin))^k,
    # k = (Topt-Tmin)/(Tmax-Topt) = 15/10; f = 1.5 * (2/3)^1.5 = 0.8165; W = Wmin / f = 7.35 h.
    f = (30 - 15) / (30 - 20) * ((15 - 5) / (20 - 5)) ** ((20 - 5) / (30 - 20))
    w = 6 / f
    assert w == pytest.approx(7.348, abs=1e-3)
    start = (now - 10 * HOUR) // HOUR * HOUR
    start_iso = datetime.fromtimestamp(start / 1000, UTC).isoformat()

    z1 = (await c.get("/api/v1/zones/z1/agronomy")).json()["disease_risk"]
    source = FUNGUS["source"]
    assert z1 == [
        {"pathogen": "test-fungus", "start": start_iso, "wet_hours": 10, "mean_temp_c": 15.0,
         "required_h": round(w, 1), "risk_index": round(10 / w, 2), "source": source},
        {"pathogen": "warm-fungus", "start": start_iso, "wet_hours": 10, "mean_temp_c": 15.0,
         "required_h": None, "risk_index": 0.0, "source": source}]
    z2 = (await c.get("/api/v1/zones/z2/agronomy")).json()["disease_risk"]
    assert z2 == [{"start": start_iso, "wet_hours": 10, "mean_temp_c": 15.0, "risk_index": None,
                   "note": NO_PATHOGEN}]

    r = await c.post("/api/v1/alerts/evaluate")
    assert r.status_code == 200, r.text
    disease = [a for a in (await c.get("/api/v1/alerts")).json() if a["kind"] == "disease-risk"]
    assert [(a["subject"], a["site"], a["zone"], a["severity"], a["evidence"]) for a in disease] == [
        ("z1/test-fungus", "s1", "z1", "warning", {"value": round(10 / w, 2), "threshold": 1.0})]
    assert "values from test values, not a published pathogen's" in disease[0]["message"]
