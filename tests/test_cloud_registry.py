"""The farm registry over the API: sites -> fields -> zones -> nodes and valves, CRUD with
validation that names the bad field, referential checks, and mm-to-minutes through a zone."""

from __future__ import annotations

import pytest

from furrow.edge.batch import make_batch
from furrow.edge.payload import make_reading, make_uplink
from tests.cloud_support import T0, item, local_settings, problem, problems, running_app

ZONE = {"id": "z1", "field_id": "f1", "name": "Zone 1", "area_ha": 2.0, "soil_texture": "loam",
        "field_capacity_pct": 31.0, "wilting_point_pct": 14.0, "root_depth_cm": 60, "crop": "maize",
        "planting_date": "2026-04-20", "precip_rate_mm_h": 6.0, "hydraulic_group": "pump-1"}


@pytest.fixture
async def client(tmp_path):
    async with running_app(local_settings(tmp_path)) as c:
        for path, body in [("sites", {"id": "s1", "name": "Farm"}),
                           ("fields", {"id": "f1", "site_id": "s1", "name": "North", "area_ha": 10})]:
            assert (await c.post(f"/api/v1/registry/{path}", json=body)).status_code == 201
        yield c


async def test_registry_crud_round_trip(client):
    """A zone, a node and a valve are created, read, listed by parent, replaced and deleted."""
    assert (await client.post("/api/v1/registry/zones", json=ZONE)).status_code == 201
    node = {"id": "soil-01", "role": "soil", "zone_id": "z1", "lat": 41.6, "lon": -0.9, "depths_cm": [10, 30],
            "calibration": {"dry": 2900, "wet": 1300}, "firmware": "0.1.0"}
    r = await client.post("/api/v1/registry/nodes", json=node)
    assert r.status_code == 201 and r.json()["depths_cm"] == [10, 30]
    assert (await client.post("/api/v1/registry/nodes", json={"id": "irr-01", "role": "irrigation"})).status_code == 201
    r = await client.post("/api/v1/registry/valves", json={"node_id": "irr-01", "channel": 1, "zone_id": "z1"})
    assert r.status_code == 201
    valve_id = r.json()["id"]

    assert (await client.get("/api/v1/registry/zones/z1")).json()["soil_texture"] == "loam"
    listed = (await client.get("/api/v1/registry/nodes", params={"parent": "z1"})).json()
    assert [n["id"] for n in listed] == ["soil-01"]
    r = await client.put("/api/v1/registry/zones/z1", json={**ZONE, "crop": "wheat"})
    assert r.status_code == 200 and r.json()["crop"] == "wheat"

    r = await client.delete("/api/v1/registry/zones/z1")
    assert r.status_code == 409 and "still has" in problem(r)["reason"]
    assert (await client.delete(f"/api/v1/registry/valves/{valve_id}")).status_code == 204
    assert (await client.delete("/api/v1/registry/nodes/soil-01")).status_code == 204
    assert (await client.delete("/api/v1/registry/zones/z1")).status_code == 204
    assert (await client.get("/api/v1/registry/zones/z1")).status_code == 404


@pytest.mark.parametrize(("change", "field"), [
    ({"wilting_point_pct": 35.0}, "wilting_point_pct"),
    ({"precip_rate_mm_h": 0}, "precip_rate_mm_h"),
    ({"soil_texture": "mud"}, "soil_texture"),
    ({"id": "Zone 1"}, "id"),
    ({"planting_date": "20th April"}, "planting_date"),
    ({"colour": "green"}, "colour"),
])
async def test_a_bad_zone_is_refused_naming_the_field(client, change, field):
    """Each invalid zone answers 422 and the error names the offending field."""
    r = await client.post("/api/v1/registry/zones", json={**ZONE, **change})
    assert r.status_code == 422
    assert field in [p["field"].split(".")[-1] for p in problems(r)]


async def test_a_missing_parent_or_duplicate_is_named(client):
    """A zone of an unknown field is 422 naming field_id; the same id twice is 409."""
    r = await client.post("/api/v1/registry/zones", json={**ZONE, "field_id": "nope"})
    assert r.status_code == 422 and problem(r)["field"] == "field_id"
    assert (await client.post("/api/v1/registry/zones", json=ZONE)).status_code == 201
    assert (await client.post("/api/v1/registry/zones", json=ZONE)).status_code == 409


async def test_millimetres_need_a_registered_zone_and_only_one_amount(client):
    """amount_mm on a valve of no zone, or two amounts at once, is 422 naming the field."""
    up = make_uplink("irr-09", "irrigation", 1, T0, [make_reading("valve_open", 0, channel=1)], "0.1.0")
    await client.post("/api/v1/ingest/batch", json=make_batch("s1", "gw-1", "b1", T0, [item(up)]))
    r = await client.post("/api/v1/commands", json={"node": "irr-09", "valve": 1, "amount_mm": 5})
    assert r.status_code == 422 and problem(r)["field"] == "amount_mm"
    r = await client.post("/api/v1/commands", json={"node": "irr-09", "valve": 1, "duration_s": 5, "amount_min": 1})
    assert r.status_code == 422 and problem(r)["field"] == "amount_min"
    r = await client.post("/api/v1/commands", json={"node": "irr-09", "valve": 1, "amount_min": 1.5})
    assert r.status_code == 201 and r.json()["duration_s"] == 90
    r = await client.post("/api/v1/commands", json={"zone": "z9", "amount_mm": 5})
    assert r.status_code == 422 and problem(r)["field"] == "zone"
