"""Finish estimates from the server (cloud/machinery/eta.py): for the kept dispatch plan, each machine's task now,
the area left as recorded operations and its own live track since leave it, at its field capacity (ASABE EP496.3),
answered by GET /dispatch/etas and pushed as the live ``eta`` event when new fixes arrive."""

from __future__ import annotations

from dataclasses import replace

import pytest

from furrow.cloud.machinery.eta import capacity_ha_h
from tests.cloud_support import eventually, local_settings, running_app
from tests.test_machinery_coverage import T0, back_and_forth
from tests.test_machinery_operations import _field, operation
from tests.tracker_support import position_messages, positions_batch

PLAN = {"machines": [{"id": "d1", "implements": ["drill"], "width_m": 6, "speed_kmh": 8, "node": "trk-1"}],
        "tasks": [{"id": "sow", "field": "f1", "kind": "sowing", "implement": "drill"}],
        "solver": "greedy", "keep": True}


def test_capacity_is_asabe_ep496():
    """C = S w E / 10: a 6 m drill at 8 km/h with E 0.70 works 3.36 ha/h (the planner's own example)."""
    assert capacity_ha_h(8, 6, 0.7) == pytest.approx(3.36)


async def test_the_eta_follows_the_machines_live_work_and_is_pushed(tmp_path):
    """f1 (2 ha) 18 % sown by a recorded operation: d1 has 1.64 ha left, 0.488 h at 3.36 ha/h. Its tracker then
    drills two more 6 m passes (0.24 ha, not recorded yet): the answer counts them from the live track, about
    1.40 ha left and the finish 4.3 min sooner, and an ``eta`` event carries the same."""
    async with running_app(local_settings(tmp_path)) as c:
        services = c.app.state.services
        services.operations.clock = lambda: T0 - 60_000  # the plan is kept a minute before the work below
        services.etas.min_interval_s = 0.0  # each new batch of fixes recomputes (5 s apart at most in service)
        await _field(c)
        assert (await c.post("/api/v1/operations", json=operation([5, 13]))).status_code == 201
        standing = back_and_forth([50])[:1]
        first = positions_batch("s1", "gw-1", "gw-1-1", position_messages("trk-1", standing), standing[-1].t_ms)
        assert (await c.post("/api/v1/ingest/batch", json=first)).status_code == 200
        assert (await c.get("/api/v1/dispatch/etas")).json() == []  # no plan kept yet
        assert (await c.post("/api/v1/dispatch/plan", json=PLAN)).status_code == 200
        [before] = (await c.get("/api/v1/dispatch/etas")).json()
        assert (before["machine"], before["task"], before["kind"]) == ("d1", "sow", "sowing")
        assert before["left_ha"] == pytest.approx(1.64, rel=1e-3) and before["live_worked_ha"] == 0
        assert before["capacity_ha_h"] == pytest.approx(3.36)
        assert before["finish_ms"] - (T0 - 60_000) == pytest.approx(1.64 / 3.36 * 3.6e6, rel=1e-3)

        # ten minutes after the recorded operation's track (which ends 220 s after T0)
        work = [replace(f, t_ms=f.t_ms + 600_000) for f in back_and_forth([21, 27])]
        batch = positions_batch("s1", "gw-1", "gw-1-2", position_messages("trk-1", work, seq0=10), work[-1].t_ms)
        assert (await c.post("/api/v1/ingest/batch", json=batch)).status_code == 200
        [after] = (await c.get("/api/v1/dispatch/etas")).json()
        assert after["live_worked_ha"] == pytest.approx(0.24, rel=0.03)
        assert after["left_ha"] == pytest.approx(1.64 - after["live_worked_ha"], abs=1e-3)
        assert before["finish_ms"] - after["finish_ms"] == pytest.approx(after["live_worked_ha"] / 3.36 * 3.6e6,
                                                                         rel=1e-3)

        def pushed() -> list[dict]:
            return [e.data for e in services.events._history if e.kind == "eta"
                    and any(m["live_worked_ha"] > 0 for m in e.data["machines"])]

        async def arrived() -> bool:
            return bool(pushed())

        await eventually(arrived, "an eta event with the live work", seen=lambda: [e.kind for e in
                                                                                 services.events._history])
        assert pushed()[-1]["machines"][0]["left_ha"] == after["left_ha"]
