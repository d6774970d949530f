"""Field operations through the API (cloud/machinery/service.py, api/routes/operations.py): a track becomes
an operation with its worked area, once; a field's progress per kind is the union of its operations."""

from __future__ import annotations

import pytest
from pyproj import Geod
from shapely.geometry import shape
from sqlalchemy import create_engine, inspect, text

from furrow.cloud.db import Database
from furrow.cloud.fields.spatial import spatial_for
from furrow.cloud.migrations import current, head
from furrow.cloud.vigour.boundaries import as_geojson
from tests.cloud_support import local_settings, problem, running_app
from tests.test_machinery_coverage import back_and_forth, field, run
from tests.test_machinery_tracks import geojson_points
from tests.tracker_support import position_messages, positions_batch

BOUNDARY = as_geojson(field())  # 100 x 200 m, 2 ha


def csv_track(fixes) -> str:
    return "time,lat,lon,implement\n" + "".join(
        f"{f.t_ms},{f.lat!r},{f.lon!r},{'down' if f.down else 'up'}\n" for f in fixes)


def operation(xs: list[float], kind: str = "sowing", **extra) -> dict:
    return {"field": "f1", "kind": kind, "machine": "tractor-2", "implement": "drill-10m", "width_m": 10,
            "operator": "Li Wei", "product": "maize", "rate": 75000, "rate_unit": "seeds/ha",
            "track_format": "csv", "track": csv_track(back_and_forth(xs)), **extra}


async def _field(c, boundary: dict | None = BOUNDARY) -> None:
    for path, body in [("sites", {"id": "s1", "name": "Farm", "timezone": "UTC"}),
                       ("fields", {"id": "f1", "site_id": "s1", "name": "North"})]:
        r = await c.post(f"/api/v1/registry/{path}", json=body)
        assert r.status_code == 201, r.text
    if boundary is not None:
        r = await c.put("/api/v1/registry/fields/f1/boundary", json=boundary)
        assert r.status_code == 200, r.text


async def test_an_operation_is_recorded_from_its_track_once_and_read_back(tmp_path):
    """Two 10 m passes 8 m apart: 0.36 ha covered (18%), 0.04 ha overlap, 200 s at 7.2 km/h; the same track
    again is the same operation (200); the same track as GeoJSON points gives the same area; the list leaves
    out the covered ground, GET of one has it."""
    async with running_app(local_settings(tmp_path)) as c:
        await _field(c)
        r = await c.post("/api/v1/operations", json=operation([5, 13]))
        assert r.status_code == 201, r.text
        op = r.json()
        assert op["covered_ha"] == pytest.approx(0.36, rel=1e-5)
        assert op["overlap_ha"] == pytest.approx(0.04, rel=1e-4)
        assert op["covered_pct"] == pytest.approx(18.0, rel=1e-4)
        assert (op["work_s"], op["fixes"], op["speed_kmh"]) == (200, 204, pytest.approx(7.2, rel=1e-6))
        assert (op["kind"], op["machine"], op["operator"], op["rate_unit"]) == ("sowing", "tractor-2", "Li Wei",
                                                                                "seeds/ha")
        points = [(f.lon, f.lat, {"time": f.t_ms, "implement": "down" if f.down else "up"})
                  for f in back_and_forth([5, 13])]
        as_geojson_track = operation([5, 13], track_format="geojson", track=geojson_points(*points), machine="t-9")
        r = await c.post("/api/v1/operations", json=as_geojson_track)
        assert r.status_code == 201 and r.json()["covered_ha"] == pytest.approx(0.36, rel=1e-5)  # the same track
        again = await c.post("/api/v1/operations", json=operation([5, 13]))
        assert again.status_code == 200 and again.json()["id"] == op["id"]
        listed = (await c.get("/api/v1/operations", params={"field": "f1"})).json()
        assert {o["id"] for o in listed} == {op["id"], r.json()["id"]} and listed[0]["covered"] is None
        one = (await c.get(f"/api/v1/operations/{op['id']}")).json()
        assert one["covered"]["type"] in ("Polygon", "MultiPolygon")
        assert one["skipped"] == {"type": "MultiPolygon", "coordinates": []}  # the passes overlap: no strip missed
        gap = (await c.post("/api/v1/operations", json=operation([5, 17], machine="t-3"))).json()
        strips = (await c.get(f"/api/v1/operations/{gap['id']}")).json()["skipped"]  # the map draws this
        assert gap["skipped_ha"] == pytest.approx(0.04, rel=1e-4)
        assert abs(Geod(ellps="WGS84").geometry_area_perimeter(shape(strips))[0]) / 1e4 == pytest.approx(0.04, rel=1e-4)
        assert (await c.get("/api/v1/operations/999")).status_code == 404


async def test_progress_is_the_union_of_a_kinds_operations(tmp_path):
    """Sowing on the west 20 m then on x = 15..35 (overlapping 5 m): 35 m of 100 = 35%; spraying its own 10%."""
    async with running_app(local_settings(tmp_path)) as c:
        await _field(c)
        for body in (operation([5, 15]), operation([20, 30], machine="tractor-3"),
                     operation([5], kind="spraying", implement="boom-20m", width_m=20)):
            r = await c.post("/api/v1/operations", json=body)
            assert r.status_code == 201, r.text
        progress = (await c.get("/api/v1/fields/f1/progress")).json()
        assert progress["field_ha"] == pytest.approx(2.0, rel=1e-4)
        kinds = {k["kind"]: k for k in progress["kinds"]}
        assert set(kinds) == {"sowing", "spraying"}
        assert kinds["sowing"]["covered_pct"] == pytest.approx(35.0, rel=1e-3)
        assert kinds["sowing"]["operations"] == 2
        # a 20 m boom centred on x = 5 covers x = 0..15 inside the field: 15% (the rest is outside it)
        assert kinds["spraying"]["covered_pct"] == pytest.approx(15.0, rel=1e-3)
        sowing = (await c.get("/api/v1/operations", params={"field": "f1", "kind": "sowing"})).json()
        assert len(sowing) == 2


async def test_bad_operations_are_refused_with_the_reason(tmp_path):
    """No boundary: 409; unknown field: 404; a bad CSV line: 422 naming it; implement never down: 422; a track
    that never reaches the field: 422 naming the field; nothing of these is stored."""
    async with running_app(local_settings(tmp_path)) as c:
        await _field(c, boundary=None)
        r = await c.post("/api/v1/operations", json=operation([5]))
        assert r.status_code == 409 and "no boundary" in problem(r)["reason"]
        assert (await c.put("/api/v1/registry/fields/f1/boundary", json=BOUNDARY)).status_code == 200
        r = await c.post("/api/v1/operations", json=operation([5], field="nowhere"))
        assert r.status_code == 404
        bad = operation([5])
        bad["track"] = bad["track"].replace(",down\n", ",sideways\n", 1)
        r = await c.post("/api/v1/operations", json=bad)
        assert r.status_code == 422 and problem(r)["field"] == "track.line 2.implement"
        up = operation([5])
        up["track"] = up["track"].replace(",down\n", ",up\n")
        r = await c.post("/api/v1/operations", json=up)
        assert r.status_code == 422 and "implement down" in problem(r)["reason"]
        elsewhere = operation([5])
        elsewhere["track"] = csv_track(run(1005, 0, 200))  # 1 km east of the field
        r = await c.post("/api/v1/operations", json=elsewhere)
        assert r.status_code == 422 and problem(r)["field"] == "field" and "right field" in problem(r)["reason"]
        r = await c.get("/api/v1/fields/f1/progress")
        assert r.status_code == 200 and r.json()["kinds"] == []


async def test_operations_and_postgis_checks_on_postgresql(tmp_path, pg_database):
    """On PostgreSQL migration 0015 makes field_operations and creates PostGIS; the service then checks
    boundaries in PostGIS (a zone outside its field is still 422), and an operation is recorded there; a
    batch of live fixes sent twice is stored once (0017)."""
    async with running_app(local_settings(tmp_path, database_url=pg_database)) as c:
        engine = create_engine(pg_database)
        try:
            assert current(engine) == head()
            assert "field_operations" in inspect(engine).get_table_names()
            with engine.connect() as conn:
                assert conn.execute(text("SELECT extname FROM pg_extension WHERE extname = 'postgis'")).first()
        finally:
            engine.dispose()
        assert c.app.state.services.vigour.spatial.engine == "postgis"
        await _field(c)
        zone = {"id": "z1", "field_id": "f1", "name": "West", "area_ha": 1, "soil_texture": "loam",
                "field_capacity_pct": 30, "wilting_point_pct": 15, "root_depth_cm": 60, "crop": "maize",
                "precip_rate_mm_h": 5}
        assert (await c.post("/api/v1/registry/zones", json=zone)).status_code == 201
        outside = as_geojson(field(300, 200).difference(field(100, 200)))
        r = await c.put("/api/v1/registry/zones/z1/boundary", json=outside)
        assert r.status_code == 422 and "outside field f1" in problem(r)["reason"]
        r = await c.post("/api/v1/operations", json=operation([5, 13]))
        assert r.status_code == 201 and r.json()["covered_ha"] == pytest.approx(0.36, rel=1e-5)
        assert (await c.get("/api/v1/fields/f1/progress")).json()["kinds"][0]["covered_pct"] == pytest.approx(
            18.0, rel=1e-4)
        # live fixes (migration 0017) stored once on PostgreSQL too (its ON CONFLICT DO NOTHING)
        batch = positions_batch("s1", "gw-1", "gw-1-1", position_messages("trk-1", back_and_forth([5])[:70]), 1)
        for _ in range(2):
            assert (await c.post("/api/v1/ingest/batch", json=batch)).json()["fixes"] == 70
        assert [m["fixes"] for m in (await c.get("/api/v1/machines")).json()] == [70]
    db = Database(pg_database)
    try:
        assert spatial_for(db).engine == "postgis"
    finally:
        db.dispose()


async def test_planted_area_per_crop_comes_from_the_sowing_operations(tmp_path):
    """Field f1 (100 x 200 m) in two 1 ha zones, maize west (x 0..50), soybean east: sowing passes at x = 5 and
    13 (10 m wide) cover x 0..18, all in the maize zone: maize 0.36 ha planted (36%) though its planting date is
    entered too (the tracked sowing wins), soybean none; a zone with no boundary is named, not counted. Soybean
    given a planting date that has come and no tracked sowing: its whole 1 ha is planted, entered."""
    async with running_app(local_settings(tmp_path)) as c:
        await _field(c)
        zone = {"field_id": "f1", "area_ha": 1, "soil_texture": "loam", "field_capacity_pct": 30,
                "wilting_point_pct": 15, "root_depth_cm": 60, "precip_rate_mm_h": 5}
        west = as_geojson(field(50, 200))
        east = as_geojson(field(100, 200).difference(field(50, 200)))
        for zid, crop, boundary in (("zw", "maize", west), ("ze", "soybean", east), ("zn", "wheat", None)):
            planted = {"planting_date": "2026-04-20"} if zid == "zw" else {}
            r = await c.post("/api/v1/registry/zones", json={**zone, "id": zid, "name": zid, "crop": crop, **planted})
            assert r.status_code == 201, r.text
            if boundary is not None:
                r = await c.put(f"/api/v1/registry/zones/{zid}/boundary", json=boundary)
                assert r.status_code == 200, r.text
        assert (await c.post("/api/v1/operations", json=operation([5, 13]))).status_code == 201
        out = (await c.get("/api/v1/progress/crops")).json()
        crops = {x["crop"]: x for x in out["crops"]}
        assert set(crops) == {"maize", "soybean"} and out["zones_without_boundary"] == ["zn"]
        assert crops["maize"]["area_ha"] == pytest.approx(1.0, rel=1e-3)
        assert crops["maize"]["planted_ha"] == pytest.approx(0.36, rel=1e-3)
        assert crops["maize"]["planted_pct"] == pytest.approx(36.0, rel=1e-3)
        assert crops["maize"]["planted_entered_ha"] == 0
        assert crops["soybean"]["planted_ha"] == 0 and crops["soybean"]["kinds"][0]["kind"] == "sowing"
        ze = (await c.get("/api/v1/registry/zones/ze")).json()
        ze = {k: v for k, v in ze.items() if k in zone or k in ("id", "field_id", "name", "crop")}
        r = await c.put("/api/v1/registry/zones/ze", json={**ze, "planting_date": "2026-05-02"})
        assert r.status_code == 200, r.text
        soy = {x["crop"]: x for x in (await c.get("/api/v1/progress/crops")).json()["crops"]}["soybean"]
        assert soy["planted_ha"] == pytest.approx(1.0, rel=1e-3) == soy["planted_entered_ha"]
