"""Dispatch (cloud/machinery/dispatch.py): effective field capacity by hand, travel, and plans a person can
check: OR-Tools finds the shorter makespan where greedy does not, implements decide who may do what, a
broken machine is planned around."""

from __future__ import annotations

import pytest

from furrow.cloud.machinery.dispatch import Machine, Task, capacity_ha_h, greedy, plan, travel_h
from tests.test_machinery_coverage import back_and_forth

LON, LAT = 114.4, 36.0


def drill(mid: str, **kw) -> Machine:
    """A 6 m drill at 8 km/h, E = 0.70: 3.36 ha/h."""
    return Machine(mid, ("drill",), 6.0, 8.0, 0.7, 20.0, LON, LAT, **kw)


def task(tid: str, hours: float, implement: str = "drill", **kw) -> Task:
    """A task of `hours` of a drill's work (3.36 ha/h) in a field at the yard."""
    return Task(tid, f"f-{tid}", 3.36 * hours, implement, LON, LAT, **kw)


def test_capacity_and_travel_by_hand():
    """ASABE EP496.3: 8 km/h x 6 m x 0.70 / 10 = 3.36 ha/h, so 10 ha take 2.98 h; 0.1 degree of latitude at
    36 N is 11.09 km of meridian arc, 14.42 km by road (x1.3), 0.721 h at 20 km/h."""
    assert capacity_ha_h(8, 6, 0.7) == pytest.approx(3.36)
    assert 10 / drill("d").capacity_ha_h == pytest.approx(2.976, abs=1e-3)
    assert travel_h(LON, LAT, LON, LAT + 0.1, 20) == pytest.approx(11.0948 * 1.3 / 20, rel=1e-3)


def test_ortools_finds_the_shorter_makespan_greedy_misses():
    """Two drills, tasks of 1, 1 and 2 hours (equal priority, no deadlines, all at the yard): greedy in its
    order gives 1+2 h to one drill (3 h); the optimum is 2 h (the 2 h task alone, the two 1 h on the other)."""
    machines = [drill("d1"), drill("d2")]
    tasks = [task("a", 1, priority=1), task("b", 1, priority=1), task("c", 2, priority=2)]
    g = greedy(machines, tasks)
    assert g.makespan_h == pytest.approx(3.0)
    p = plan(machines, tasks, time_limit_s=0.5)
    assert (p.solver, p.makespan_h) == ("ortools", pytest.approx(2.0))
    assert sorted(sorted(s.task for s in r) for r in p.routes.values()) == [["a", "b"], ["c"]]


def test_implements_decide_and_travel_counts_and_a_breakdown_is_planned_around():
    """Only the sprayer sprays; a field 0.1 degree north costs the drill 0.72 h on the road before 1 h of work;
    a task no machine carries the implement for is left out, named; with the sprayer broken, spraying is
    left out and the drills share the rest."""
    sprayer = Machine("s1", ("boom",), 24.0, 10.0, 0.7, 25.0, LON, LAT)  # 16.8 ha/h
    machines = [drill("d1"), sprayer]
    far = Task("far", "north", 3.36, "drill", LON, LAT + 0.1)
    tasks = [far, task("spray", 16.8 / 3.36, "boom"), task("harvest", 1, "header")]
    p = plan(machines, tasks, time_limit_s=0.5)
    assert [s.task for s in p.routes["s1"]] == ["spray"] and p.routes["s1"][0].end_h == pytest.approx(1.0)
    [stop] = p.routes["d1"]
    assert stop.travel_h == pytest.approx(0.7212, abs=1e-3) and stop.end_h == pytest.approx(1.7212, abs=1e-3)
    assert p.left_out == {"harvest": "no available machine carries 'header'"}
    broken = plan([drill("d1"), drill("d2"), Machine("s1", ("boom",), 24, 10, 0.7, 25, LON, LAT, available=False)],
                  [task("a", 1), task("b", 1), task("spray", 1, "boom")], time_limit_s=0.5)
    assert set(broken.left_out) == {"spray"} and broken.makespan_h == pytest.approx(1.0)


def test_a_deadline_missed_is_marked_late():
    """One drill, two 1 h tasks, both due within 1 h: the second ends at 2 h, late."""
    p = plan([drill("d1")], [task("a", 1, deadline_h=1.0), task("b", 1, deadline_h=1.0)], solver="greedy")
    assert [(s.task, s.late) for s in p.routes["d1"]] == [("a", False), ("b", True)]


async def test_the_dispatch_route_plans_from_the_fields_left_and_the_machines_live_positions(tmp_path):
    """Field f1 (2 ha) is 18% sown: sowing it has 1.64 ha left, 0.488 h for a 3.36 ha/h drill standing at the
    field (its tracker's newest fix); spraying needs the broken sprayer: left out; a machine with no position
    and no fix is 422 naming it."""
    from tests.cloud_support import local_settings, problem, running_app
    from tests.test_machinery_operations import _field, operation
    from tests.tracker_support import position_messages, positions_batch

    async with running_app(local_settings(tmp_path)) as c:
        await _field(c)
        assert (await c.post("/api/v1/operations", json=operation([5, 13]))).status_code == 201
        fixes = back_and_forth([50])[:3]
        batch = positions_batch("s1", "gw-1", "gw-1-1", position_messages("trk-1", fixes), fixes[-1].t_ms)
        assert (await c.post("/api/v1/ingest/batch", json=batch)).status_code == 200
        body = {"machines": [{"id": "d1", "implements": ["drill"], "width_m": 6, "speed_kmh": 8, "node": "trk-1"},
                             {"id": "s1", "implements": ["boom"], "width_m": 24, "speed_kmh": 10, "lon": LON,
                              "lat": LAT, "available": False}],
                "tasks": [{"id": "sow", "field": "f1", "kind": "sowing", "implement": "drill", "priority": 1},
                          {"id": "spray", "field": "f1", "kind": "spraying", "implement": "boom"}],
                "time_limit_s": 0.2}
        r = await c.post("/api/v1/dispatch/plan", json=body)
        assert r.status_code == 200, r.text
        out = r.json()
        [stop] = out["routes"]["d1"]
        assert stop["area_ha"] == pytest.approx(1.64, rel=1e-3) and stop["travel_h"] < 0.01
        assert (stop["end_ms"] - stop["start_ms"]) / 3.6e6 == pytest.approx(1.64 / 3.36, rel=1e-3)
        assert out["left_out"] == {"spray": "no available machine carries 'boom'"}
        body["machines"].append({"id": "x", "implements": ["drill"], "width_m": 6, "speed_kmh": 8, "node": "none"})
        r = await c.post("/api/v1/dispatch/plan", json=body)
        assert r.status_code == 422 and problem(r)["field"] == "machines.2", r.text


async def test_a_kept_plan_is_the_farms_current_one_until_the_next_is_kept(tmp_path):
    """No plan kept: GET /dispatch/current is 404; a plan asked with keep is returned with its id and read back with
    its request and who asked; a plan without keep changes nothing; a re-plan with the drill broken is the current
    one, the sowing left out."""
    from tests.cloud_support import local_settings, running_app
    from tests.test_machinery_operations import _field

    async with running_app(local_settings(tmp_path)) as c:
        await _field(c)
        assert (await c.get("/api/v1/dispatch/current")).status_code == 404
        body = {"machines": [{"id": "d1", "implements": ["drill"], "width_m": 6, "speed_kmh": 8, "lon": LON,
                              "lat": LAT}],
                "tasks": [{"id": "sow", "field": "f1", "kind": "sowing", "implement": "drill"}],
                "solver": "greedy", "keep": True}
        r = await c.post("/api/v1/dispatch/plan", json=body)
        assert r.status_code == 200 and r.json()["kept_id"] is not None, r.text
        first = r.json()
        assert (await c.post("/api/v1/dispatch/plan", json={**body, "keep": False})).json()["kept_id"] is None
        current = (await c.get("/api/v1/dispatch/current")).json()
        assert current["id"] == first["kept_id"] and current["plan"] == first and current["by"]
        assert current["request"]["machines"][0]["id"] == "d1" and current["request"]["keep"] is True
        body["machines"][0]["available"] = False
        r = await c.post("/api/v1/dispatch/plan", json=body)
        current = (await c.get("/api/v1/dispatch/current")).json()
        assert current["id"] == r.json()["kept_id"] > first["kept_id"]
        assert current["plan"]["routes"] == {} and "sow" in current["plan"]["left_out"]
