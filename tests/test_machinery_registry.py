"""Machines, implements, dispatch tasks and regions of the farm in the registry (issue 20): registered, checked
(errors naming the field and the value), audited and scoped to an organisation like nodes; dispatch planned from
them; an operator's job and reports (a breakdown plans again around the machine); progress per region."""

from __future__ import annotations

import pytest

from furrow.cloud.auth import Role
from furrow.cloud.tenancy.organisations import OrganisationNew, create_organisation
from tests.cloud_support import local_settings, problem, problems, running_app
from tests.test_machinery_dispatch import LAT, LON
from tests.test_machinery_operations import _field, operation

DRILL = {"id": "drill-6m", "name": "Drill 6 m", "kind": "drill", "width_m": 6, "operations": ["sowing"]}
BOOM = {"id": "boom-24", "name": "Boom 24 m", "kind": "sprayer", "width_m": 24, "operations": ["spraying"]}
TRACKER = {"id": "trk-1", "role": "tracker"}


def machine(mid: str, implements: list[str], **kw) -> dict:
    return {"id": mid, "name": mid.title(), "type": "tractor", "width_m": 6, "speed_kmh": 8,
            "implement_ids": implements, "lat": LAT, "lon": LON, **kw}


def task(tid: str, kind: str, implement: str, **kw) -> dict:
    return {"id": tid, "field_id": "f1", "kind": kind, "implement_id": implement, **kw}


async def _post(c, path: str, body: dict, **kw) -> dict:  # noqa: ANN001
    r = await c.post(f"/api/v1/registry/{path}", json=body, **kw)
    assert r.status_code == 201, (path, r.text)
    return r.json()


async def _bearer(c, name: str, role: Role, organisation: str = "default") -> dict:  # noqa: ANN001
    token = (await c.app.state.services.tokens.issue(name, role, 1, organisation=organisation)).token
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize(("path", "body", "field", "value"), [
    ("implements", {**DRILL, "operations": ["planting"]}, "operations.0", "planting"),
    ("implements", {**DRILL, "width_m": 0}, "width_m", 0),
    ("machines", machine("d1", ["drill-6m"], node_id="soil-1"), "node_id", "soil-1"),
    ("machines", machine("d1", ["drill-6m"], node_id="nope"), "node_id", "nope"),
    ("machines", machine("d1", ["drill-6m", "plough"]), "implement_ids.1", "plough"),
    ("machines", machine("d1", ["drill-6m"], operator="nobody"), "operator", "nobody"),
    ("machines", machine("d1", ["drill-6m"], lon=None), "lon", None),
    ("machines", machine("d1", ["drill-6m"], type="bicycle"), "type", "bicycle"),
    ("machines", machine("d1", ["drill-6m"], status="tired"), "status", "tired"),
    ("tasks", task("t1", "spraying", "drill-6m"), "implement_id", "drill-6m"),
    ("tasks", task("t1", "sowing", "drill-6m", field_id="f9"), "field_id", "f9"),
    ("tasks", task("t1", "sowing", "drill-6m", priority=9), "priority", 9),
    ("regions", {"id": "east", "name": "East", "field_ids": ["f1", "f9"]}, "field_ids.1", "f9"),
    ("regions", {"id": "east", "name": "East", "field_ids": ["f1", "f1"]}, "field_ids", '["f1", "f1"]'),
])
async def test_a_bad_machine_implement_task_or_region_is_refused_naming_field_and_value(tmp_path, path, body, field,
                                                                                        value):
    """Each invalid object answers 422 with the offending field and its value: a node that is no tracker or does
    not exist, an implement or field not registered, an operator who is no user, an implement that does not do
    the task's kind, half a position."""
    async with running_app(local_settings(tmp_path)) as c:
        await _field(c)
        await _post(c, "zones", {"id": "z1", "field_id": "f1", "name": "Z", "area_ha": 1, "soil_texture": "loam",
                                 "field_capacity_pct": 30, "wilting_point_pct": 15, "root_depth_cm": 60,
                                 "crop": "maize", "precip_rate_mm_h": 5})
        await _post(c, "nodes", {"id": "soil-1", "role": "soil", "zone_id": "z1"})
        await _post(c, "implements", DRILL)
        r = await c.post(f"/api/v1/registry/{path}", json=body)
        assert r.status_code == 422, r.text
        named = {p["field"]: p["value"] for p in problems(r)}
        assert field in named and named[field] == value, problems(r)


async def test_machines_implements_tasks_and_regions_round_trip_audited_and_guarded(tmp_path):
    """Registered, read, listed (tasks by field), edited and deleted through /registry like nodes; a tracker node
    needs no zone; deleting what another still names is 409 naming it; every write is in the audit log."""
    async with running_app(local_settings(tmp_path)) as c:
        await _field(c)
        await _post(c, "nodes", TRACKER)
        await _post(c, "implements", DRILL)
        await _bearer(c, "li", Role.OPERATOR)
        out = await _post(c, "machines", machine("d1", ["drill-6m"], node_id="trk-1", operator="li", fuel="diesel",
                                                 fuel_tank_l=280))
        assert (out["status"], out["node_id"], out["fuel_tank_l"], out["efficiency"]) == ("available", "trk-1", 280,
                                                                                         0.7)
        await _post(c, "tasks", task("sow", "sowing", "drill-6m", priority=1))
        await _post(c, "regions", {"id": "east", "name": "East block", "field_ids": ["f1"]})
        assert (await c.post("/api/v1/registry/machines", json=machine("d1", ["drill-6m"]))).status_code == 409
        assert [t["id"] for t in (await c.get("/api/v1/registry/tasks", params={"parent": "f1"})).json()] == ["sow"]
        r = await c.put("/api/v1/registry/machines/d1", json={**out, "status": "maintenance"})
        assert r.status_code == 200 and r.json()["status"] == "maintenance"
        assert (await c.get("/api/v1/registry/machines/d1")).json()["status"] == "maintenance"

        for path, key, named in (("implements", "drill-6m", "1 dispatch_tasks"), ("fields", "f1", "1 dispatch_tasks"),
                                 ("nodes", "trk-1", "1 machines")):
            r = await c.delete(f"/api/v1/registry/{path}/{key}")
            assert r.status_code == 409 and named in problem(r)["reason"], r.text
        assert (await c.delete("/api/v1/registry/tasks/sow")).status_code == 204
        for path, key, named in (("implements", "drill-6m", "named by d1"), ("fields", "f1", "named by east")):
            r = await c.delete(f"/api/v1/registry/{path}/{key}")
            assert r.status_code == 409 and named in problem(r)["reason"], r.text
        for path, key in (("regions", "east"), ("machines", "d1"), ("implements", "drill-6m")):
            assert (await c.delete(f"/api/v1/registry/{path}/{key}")).status_code == 204, (path, key)
        assert (await c.get("/api/v1/registry/machines/d1")).status_code == 404
        actions = [(e["action"], e["target"]) for e in reversed((await c.get("/api/v1/audit",
                                                                             params={"limit": 100})).json())]
        for expected in [("registry.create_implement", "implement:drill-6m"), ("registry.create_machine", "machine:d1"),
                         ("registry.create_task", "task:sow"), ("registry.create_region", "region:east"),
                         ("registry.replace_machine", "machine:d1"), ("registry.delete_task", "task:sow"),
                         ("registry.delete_machine", "machine:d1")]:
            assert expected in actions, (expected, actions)


async def test_another_organisations_machinery_does_not_exist_for_a_farm(tmp_path):
    """Organisation B sees none of A's machines, implements, tasks or regions (404 by id, absent from lists), and
    may not name A's implement, field or tracker in its own (422, as names that do not exist)."""
    async with running_app(local_settings(tmp_path)) as c:
        await _field(c)
        await _post(c, "nodes", TRACKER)
        await _post(c, "implements", DRILL)
        await _post(c, "machines", machine("d1", ["drill-6m"], node_id="trk-1"))
        await _post(c, "tasks", task("sow", "sowing", "drill-6m"))
        await _post(c, "regions", {"id": "east", "name": "East", "field_ids": ["f1"]})
        await c.app.state.services.db.run(lambda s: create_organisation(s, OrganisationNew(id="org-b", name="B")))
        b = await _bearer(c, "b-admin", Role.ADMIN, "org-b")
        for path, key in (("machines", "d1"), ("implements", "drill-6m"), ("tasks", "sow"), ("regions", "east")):
            assert (await c.get(f"/api/v1/registry/{path}/{key}", headers=b)).status_code == 404, path
            assert (await c.get(f"/api/v1/registry/{path}", headers=b)).json() == [], path
            assert (await c.delete(f"/api/v1/registry/{path}/{key}", headers=b)).status_code == 404, path
        await _post(c, "sites", {"id": "b-site", "name": "B farm"}, headers=b)
        await _post(c, "fields", {"id": "b-field", "site_id": "b-site", "name": "B north"}, headers=b)
        await _post(c, "implements", {**DRILL, "id": "b-drill"}, headers=b)
        for path, body, field, value in (
                ("machines", machine("b1", ["drill-6m"]), "implement_ids.0", "drill-6m"),
                ("machines", machine("b1", ["b-drill"], node_id="trk-1"), "node_id", "trk-1"),
                ("tasks", task("b-sow", "sowing", "drill-6m", field_id="b-field"), "implement_id", "drill-6m"),
                ("tasks", task("b-sow", "sowing", "b-drill"), "field_id", "f1"),
                ("regions", {"id": "b-east", "name": "B", "field_ids": ["b-field", "f1"]}, "field_ids.1", "f1")):
            r = await c.post(f"/api/v1/registry/{path}", json=body, headers=b)
            assert r.status_code == 422, (path, r.text)
            assert (problem(r)["field"], problem(r)["value"]) == (field, value), (path, problem(r))
        assert (await c.post("/api/v1/dispatch/plan", json={"keep": True}, headers=b)).status_code == 422


async def test_dispatch_from_the_registry_an_operators_job_reports_and_a_breakdown_replans_on_postgresql(
        tmp_path, pg_database):
    """On PostgreSQL: a plan made from the registry (no machines or tasks in the body) gives sowing f1's 1.64 ha
    left to the drill and spraying to the sprayer; operator li sees the drill's job, reports 40% on the sowing
    (no new plan) and may not report on the spraying (403) nor change the registry, irrigation, fertility or the
    plan (403); li's breakdown marks the drill broken and plans again, the sowing going to the spare drill, and a
    body (not from the registry) that says the drill is available is refused naming machines.0.available; wang's
    done takes the spraying out of the next plan; every report is audited."""
    async with running_app(local_settings(tmp_path, database_url=pg_database)) as c:
        await _field(c)
        assert (await c.post("/api/v1/operations", json=operation([5, 13]))).status_code == 201  # 0.36 ha sown
        li, wang = await _bearer(c, "li", Role.OPERATOR), await _bearer(c, "wang", Role.OPERATOR)
        await _post(c, "nodes", TRACKER)
        for body in (DRILL, BOOM):
            await _post(c, "implements", body)
        await _post(c, "machines", machine("d1", ["drill-6m"], node_id="trk-1", operator="li"))
        await _post(c, "machines", machine("s1", ["boom-24"], type="sprayer", width_m=24, speed_kmh=10,
                                           operator="wang"))
        await _post(c, "machines", machine("d9", [], type="tractor"))  # no implement: not planned with
        await _post(c, "tasks", task("sow", "sowing", "drill-6m", priority=1))
        await _post(c, "tasks", task("spray", "spraying", "boom-24"))
        r = await c.post("/api/v1/dispatch/plan", json={"solver": "greedy", "keep": True})
        assert r.status_code == 200, r.text
        plan = r.json()
        assert {m: [s["task"] for s in stops] for m, stops in plan["routes"].items() if stops} == {
            "d1": ["sow"], "s1": ["spray"]}
        assert plan["routes"]["d1"][0]["area_ha"] == pytest.approx(1.64, rel=1e-3)
        current = (await c.get("/api/v1/dispatch/current")).json()
        assert [m["id"] for m in current["request"]["machines"]] == ["d1", "s1"] and current["request"]["registry"]
        assert current["request"]["machines"][0]["node"] == "trk-1"  # no fix stored: it stood at its lat/lon

        jobs = (await c.get("/api/v1/jobs/mine", headers=li)).json()
        assert [(j["machine"], [s["task"] for s in j["stops"]], j["plan_id"]) for j in jobs] == [
            ("d1", ["sow"], plan["kept_id"])]
        r = await c.post("/api/v1/tasks/sow/report", json={"report": "working", "done_pct": 40}, headers=li)
        assert r.status_code == 200, r.text
        assert (r.json()["task"]["status"], r.json()["task"]["reported_pct"], r.json()["replanned_id"]) == (
            "working", 40, None)
        r = await c.post("/api/v1/tasks/spray/report", json={"report": "done"}, headers=li)
        assert r.status_code == 403 and "s1" in problem(r)["reason"], r.text
        for method, path, body in (
                ("POST", "/api/v1/registry/machines", machine("x", ["drill-6m"])),
                ("PUT", "/api/v1/registry/machines/d1", machine("d1", ["drill-6m"], operator="li")),
                ("POST", "/api/v1/registry/tasks", task("more", "sowing", "drill-6m")),
                ("POST", "/api/v1/commands", {"node": "irr-1", "valve": 1, "duration_s": 60}),
                ("POST", "/api/v1/zones/z1/plan", {}),
                ("POST", "/api/v1/zones/z1/fertility/recommend", {}),
                ("POST", "/api/v1/dispatch/plan", {"keep": True}),
                ("POST", "/api/v1/operations", operation([30]))):
            r = await c.request(method, path, json=body, headers=li)
            assert r.status_code == 403 and problem(r)["value"] == "operator", (method, path, r.text)

        await _post(c, "implements", {**DRILL, "id": "drill-3m", "width_m": 3})
        await _post(c, "machines", machine("d2", ["drill-3m", "drill-6m"], width_m=3))
        r = await c.post("/api/v1/tasks/sow/report", json={"report": "breakdown", "note": "hose burst"}, headers=li)
        assert r.status_code == 200, r.text
        out = r.json()
        assert (out["machine"], out["machine_status"], out["task"]["status"]) == ("d1", "broken", "open")
        assert out["replanned_id"] is not None and out["replan_error"] is None
        current = (await c.get("/api/v1/dispatch/current")).json()
        assert current["id"] == out["replanned_id"]
        assert {m: [s["task"] for s in stops] for m, stops in current["plan"]["routes"].items() if stops} == {
            "d2": ["sow"], "s1": ["spray"]}
        assert [m["available"] for m in current["request"]["machines"] if m["id"] == "d1"] == [False]
        assert (await c.get("/api/v1/registry/machines/d1")).json()["status"] == "broken"
        # planned again with `registry`: the registry's state, whatever the lists say (one place a machine breaks)
        body = {**current["request"], "keep": False,
                "machines": [{**m, "available": True} for m in current["request"]["machines"]]}
        r = await c.post("/api/v1/dispatch/plan", json=body)
        assert r.status_code == 200 and not r.json()["routes"].get("d1"), r.text
        # and from a body (registry: false) too: a body may not put back a machine the registry says is broken
        r = await c.post("/api/v1/dispatch/plan", json={**body, "registry": False})
        assert r.status_code == 422 and (problem(r)["field"], problem(r)["value"]) == ("machines.0.available", True)
        assert "d1 is broken in the registry" in problem(r)["reason"], r.text
        body = {**body, "registry": False, "machines": current["request"]["machines"]}  # d1 available: false
        r = await c.post("/api/v1/dispatch/plan", json=body)
        assert r.status_code == 200 and not r.json()["routes"].get("d1") and r.json()["routes"]["d2"], r.text
        assert (await c.get("/api/v1/jobs/mine", headers=li)).json()[0]["stops"] == []

        r = await c.post("/api/v1/tasks/spray/report", json={"report": "done"}, headers=wang)
        assert r.status_code == 200 and r.json()["task"]["status"] == "done", r.text
        current = (await c.get("/api/v1/dispatch/current")).json()
        assert [t["id"] for t in current["request"]["tasks"]] == ["sow"] and not current["plan"]["routes"].get("s1")
        r = await c.post("/api/v1/tasks/spray/report", json={"report": "working"}, headers=wang)
        assert r.status_code == 409 and problem(r)["field"] == "task_id", r.text  # not in the plan any more
        assert (await c.post("/api/v1/tasks/nope/report", json={"report": "done"}, headers=wang)).status_code == 404
        audit = [(e["actor"], e["action"], e["target"]) for e in (await c.get("/api/v1/audit",
                                                                              params={"limit": 100})).json()]
        assert [a for a in audit if a[1] == "task.report"] == [
            ("wang", "task.report", "task:spray"), ("li", "task.report", "task:sow"),
            ("li", "task.report", "task:sow")]


async def test_progress_per_region_sums_its_fields(tmp_path):
    """Region east holds f1 (2 ha, 0.36 ha sown by passes at x = 5 and 13, 10 m wide) and f2 (1 ha west half of
    the same outline shifted, no work) and f3 (no boundary, named, not counted): 3 ha, 0.36 ha sown = 12%; the
    sowing's 0.36 ha counts as planted; region west holds f2 alone: nothing worked."""
    from shapely.affinity import translate

    from furrow.cloud.vigour.boundaries import as_geojson
    from tests.test_machinery_coverage import field

    async with running_app(local_settings(tmp_path)) as c:
        await _field(c)
        assert (await c.post("/api/v1/operations", json=operation([5, 13]))).status_code == 201
        await _post(c, "fields", {"id": "f2", "site_id": "s1", "name": "South"})
        await _post(c, "fields", {"id": "f3", "site_id": "s1", "name": "Meadow"})
        south = as_geojson(translate(field(50, 200), yoff=-0.01))  # 1 ha, ~1.1 km south of f1
        assert (await c.put("/api/v1/registry/fields/f2/boundary", json=south)).status_code == 200
        await _post(c, "regions", {"id": "east", "name": "East", "field_ids": ["f1", "f2", "f3"]})
        await _post(c, "regions", {"id": "west", "name": "West", "field_ids": ["f2"]})
        regions = (await c.get("/api/v1/progress/regions")).json()
        east, west = regions
        f1 = (await c.get("/api/v1/fields/f1/progress")).json()
        f2 = (await c.get("/api/v1/fields/f2/progress")).json()
        assert (east["region"], east["fields"], east["fields_without_boundary"]) == ("east", ["f1", "f2"], ["f3"])
        assert east["area_ha"] == pytest.approx(f1["field_ha"] + f2["field_ha"], abs=1e-4)
        assert east["area_ha"] == pytest.approx(3.0, rel=1e-3)
        assert east["planted_ha"] == pytest.approx(0.36, rel=1e-4)
        assert east["planted_pct"] == pytest.approx(12.0, rel=1e-3)
        assert [(k["kind"], k["covered_ha"]) for k in east["kinds"]] == [("sowing", pytest.approx(0.36, rel=1e-4))]
        assert (west["region"], west["planted_ha"], west["kinds"]) == ("west", 0.0, [])
