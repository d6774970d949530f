"""The planner in the service: POST /zones/{id}/plan records a decision with its rule, inputs and
explanation and issues the command through the command lifecycle; decisions; overrides; roles."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine

from furrow.cloud.auth import Role
from furrow.cloud.migrations import current, head
from furrow.edge.batch import make_batch
from furrow.edge.payload import make_reading, make_uplink
from tests.cloud_support import T0, item, local_settings, running_app, soil_uplink

HOUR = 3_600_000
# TAW = (31 - 14) % of 300 mm = 51 mm; p 0.5 -> MAD 25.5 mm; 12 mm/h emitters
ZONE = {"id": "z1", "field_id": "f1", "name": "Zone 1", "area_ha": 2.0, "soil_texture": "loam",
        "field_capacity_pct": 31.0, "wilting_point_pct": 14.0, "root_depth_cm": 30, "crop": "maize",
        "planting_date": "2026-04-20", "precip_rate_mm_h": 12.0, "hydraulic_group": "pump-1"}


async def _farm(c, vwc: float | None) -> None:
    """Site, field, zone z1 with soil-01 (10 cm), irr-01 valve 1 and wx-01; the probe reads `vwc`
    (none: no reading), and irr-01 has reported through a gateway so its commands can be routed."""
    for path, body in [("sites", {"id": "s1", "name": "Farm", "timezone": "UTC"}),
                       ("fields", {"id": "f1", "site_id": "s1", "name": "North"}), ("zones", ZONE),
                       ("nodes", {"id": "soil-01", "role": "soil", "zone_id": "z1", "depths_cm": [10]}),
                       ("nodes", {"id": "irr-01", "role": "irrigation", "zone_id": "z1"}),
                       ("nodes", {"id": "wx-01", "role": "weather", "zone_id": "z1"}),
                       ("valves", {"node_id": "irr-01", "channel": 1, "zone_id": "z1"})]:
        r = await c.post(f"/api/v1/registry/{path}", json=body)
        assert r.status_code == 201, r.text
    irr = make_uplink("irr-01", "irrigation", 1, T0, [make_reading("valve_open", 0, channel=1)], "0.1.0")
    items = [item(irr)] + ([item(soil_uplink(vwc=vwc))] if vwc is not None else [])
    r = await c.post("/api/v1/ingest/batch", json=make_batch("demo", "gw-1", "b1", T0, items))
    assert r.status_code == 200 and not r.json()["rejected"], r.text


async def _rain(c, mm: float) -> None:
    up = make_uplink("wx-01", "weather", 1, T0 + HOUR, [make_reading("rain_mm", mm)], "0.1.0")
    r = await c.post("/api/v1/ingest/batch", json=make_batch("demo", "gw-1", "b2", T0, [item(up)]))
    assert r.status_code == 200 and not r.json()["rejected"], r.text


async def _planner_commands(c) -> list[dict]:
    return [x for x in (await c.get("/api/v1/commands")).json() if x["origin"] == "planner"]


async def _dry_zone_irrigates_once(c) -> None:
    r = await c.post("/api/v1/zones/z1/plan")
    assert r.status_code == 200, r.text
    d = r.json()
    assert (d["action"], d["rule"]) == ("irrigate", "mad-reached")
    assert d["inputs"]["depletion_mm"] == 33.0 and d["inputs"]["taw_mm"] == 51.0  # (31 - 20) % of 300 mm
    assert "reached MAD 25.5 mm" in d["explanation"] and d["origin"] == "person:bootstrap-admin"
    (cmd,) = await _planner_commands(c)
    assert d["command_ids"] == [cmd["id"]]
    assert cmd["duration_s"] == 9900  # 33 mm / 12 mm/h = 2.75 h
    assert cmd["amount_min"] == 165 and cmd["zone"] == "z1" and cmd["request_reason"] == d["explanation"]

    again = (await c.post("/api/v1/zones/z1/plan")).json()
    assert again["command_ids"] == [cmd["id"]] and len(await _planner_commands(c)) == 1
    listed = (await c.get("/api/v1/zones/z1/decisions")).json()
    assert [x["id"] for x in listed] == [again["id"], d["id"]]
    assert listed[0]["rule"] == "mad-reached" and listed[0]["inputs"]["sources"]["probes"][0]["vwc_pct"] == 20.0


async def test_a_dry_zone_irrigates_once_a_day(tmp_path):
    """Probes 11 points under field capacity: irrigate by mad-reached, the rule and explanation
    recorded, one command of origin planner for 33 mm at 12 mm/h (9900 s); planning again the
    same day records a second decision pointing at the same command, and creates none."""
    async with running_app(local_settings(tmp_path)) as c:
        await _farm(c, vwc=20.0)
        await _dry_zone_irrigates_once(c)


async def test_the_migration_and_planning_on_postgresql(tmp_path, pg_database):
    """On a fresh PostgreSQL the migrations reach the newest revision (decisions and overrides
    tables) and the dry zone irrigates once, as on SQLite."""
    async with running_app(local_settings(tmp_path, database_url=pg_database)) as c:
        engine = create_engine(pg_database)
        try:
            assert current(engine) == head() == "0002"
        finally:
            engine.dispose()
        await _farm(c, vwc=20.0)
        await _dry_zone_irrigates_once(c)


async def test_a_wet_zone_is_skipped_and_no_command_is_made(tmp_path):
    """Probes near field capacity: a skip decision by below-mad is recorded, no command."""
    async with running_app(local_settings(tmp_path)) as c:
        await _farm(c, vwc=30.0)
        d = (await c.post("/api/v1/zones/z1/plan")).json()
        assert (d["action"], d["rule"], d["command_ids"]) == ("skip", "below-mad", [])
        assert "below MAD 25.5 mm" in d["explanation"]
        assert await _planner_commands(c) == []
        assert [x["rule"] for x in (await c.get("/api/v1/zones/z1/decisions")).json()] == ["below-mad"]


async def test_rain_since_the_probes_reading_counts(tmp_path):
    """10 mm from the zone's rain gauge after the probes read 33 mm of depletion leaves 23 mm,
    under MAD: skip, with the rain recorded among the inputs."""
    async with running_app(local_settings(tmp_path)) as c:
        await _farm(c, vwc=20.0)
        await _rain(c, 10.0)
        d = (await c.post("/api/v1/zones/z1/plan")).json()
        assert (d["action"], d["rule"]) == ("skip", "below-mad")
        assert d["inputs"]["rain_since_balance_mm"] == 10.0 and d["inputs"]["depletion_now_mm"] == 23.0


async def test_no_probe_reading_is_409_naming_it(tmp_path):
    """A zone whose probes have never reported cannot be planned: 409 naming vwc_pct; nothing recorded."""
    async with running_app(local_settings(tmp_path)) as c:
        await _farm(c, vwc=None)
        r = await c.post("/api/v1/zones/z1/plan")
        assert r.status_code == 409 and "vwc_pct" in r.json()["detail"] and "soil-01" in r.json()["detail"]
        assert (await c.get("/api/v1/zones/z1/decisions")).json() == []
        assert (await c.post("/api/v1/zones/nope/plan")).status_code == 404


async def test_overrides_are_honoured_by_the_next_plan(tmp_path):
    """An agronomist's skip makes the next plan "skip" by override-skip, naming her; resume ends it;
    water_now waters the amount asked at once (6 mm: 1800 s), once."""
    async with running_app(local_settings(tmp_path)) as c:
        await _farm(c, vwc=20.0)
        ana = {"Authorization": f"Bearer {(await c.app.state.services.tokens.issue('ana', Role.AGRONOMIST, 1)).token}"}
        r = await c.post("/api/v1/zones/z1/override", json={"action": "skip", "reason": "harvest"}, headers=ana)
        assert r.status_code == 201 and r.json()["by"] == "person:ana"
        d = (await c.post("/api/v1/zones/z1/plan", headers=ana)).json()
        assert (d["action"], d["rule"], d["command_ids"]) == ("skip", "override-skip", [])
        assert d["inputs"]["override"]["by"] == "person:ana" and d["inputs"]["override"]["reason"] == "harvest"
        assert await _planner_commands(c) == []

        await c.post("/api/v1/zones/z1/override", json={"action": "resume", "reason": "harvested"}, headers=ana)
        body = {"action": "water_now", "amount_mm": 6, "reason": "fertigation"}
        assert (await c.post("/api/v1/zones/z1/override", json=body, headers=ana)).status_code == 201
        d = (await c.post("/api/v1/zones/z1/plan", headers=ana)).json()
        assert (d["action"], d["rule"]) == ("irrigate", "override-water-now")
        (cmd,) = await _planner_commands(c)
        assert cmd["duration_s"] == 1800 and d["command_ids"] == [cmd["id"]]
        d = (await c.post("/api/v1/zones/z1/plan", headers=ana)).json()
        assert d["rule"] == "mad-reached" and len(await _planner_commands(c)) == 2

        bad = {"action": "skip", "amount_mm": 3, "reason": "x"}
        r = await c.post("/api/v1/zones/z1/override", json=bad, headers=ana)
        assert r.status_code == 422 and r.json()["detail"]["field"] == "amount_mm"


@pytest.mark.parametrize("path", ["plan", "override"])
async def test_a_technician_may_read_decisions_but_not_plan_or_override(tmp_path, path):
    """Technician: 403 on plan and override (naming the roles that may), 200 on decisions."""
    async with running_app(local_settings(tmp_path)) as c:
        await _farm(c, vwc=20.0)
        tom = {"Authorization": f"Bearer {(await c.app.state.services.tokens.issue('tom', Role.TECHNICIAN, 1)).token}"}
        r = await c.post(f"/api/v1/zones/z1/{path}", json={"action": "hold", "reason": "x"}, headers=tom)
        assert r.status_code == 403 and "agronomist" in r.json()["detail"]
        assert (await c.get("/api/v1/zones/z1/decisions", headers=tom)).status_code == 200
        assert await _planner_commands(c) == []
