"""The planner in the service: POST /zones/{id}/plan records a decision with its rule, inputs and
explanation and issues the command through the command lifecycle; decisions; overrides; roles."""

from __future__ import annotations

import json
import math
from datetime import date

import pytest
from sqlalchemy import create_engine

from furrow.cloud.agronomy.et0 import DailyWeather, Site, et0_daily
from furrow.cloud.auth import Role
from furrow.cloud.migrations import current, head
from furrow.cloud.planning import PlanningService
from furrow.edge.batch import make_batch
from furrow.edge.commands import make_ack
from furrow.edge.payload import make_reading, make_uplink
from tests.cloud_support import T0, eventually, item, local_settings, problem, running_app, soil_uplink

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
    """On a fresh PostgreSQL the migrations reach the newest revision (decisions, overrides, budgets)
    and the dry zone irrigates once, as on SQLite."""
    async with running_app(local_settings(tmp_path, database_url=pg_database)) as c:
        engine = create_engine(pg_database)
        try:
            assert current(engine) == head()
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
        assert r.status_code == 409 and "vwc_pct" in problem(r)["reason"] and "soil-01" in problem(r)["reason"]
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
        assert r.status_code == 422 and problem(r)["field"] == "amount_mm"


async def test_water_now_on_a_zone_without_its_valve_is_409_naming_it(tmp_path):
    """water_now on a zone whose valve was removed answers 409 naming the valve and records nothing
    (it answered 201, and the next plan then failed); a skip, which needs no valve, is still taken."""
    async with running_app(local_settings(tmp_path)) as c:
        await _farm(c, vwc=20.0)
        (valve,) = (await c.get("/api/v1/registry/valves")).json()
        assert (await c.delete(f"/api/v1/registry/valves/{valve['id']}")).status_code == 204
        r = await c.post("/api/v1/zones/z1/override", json={"action": "water_now", "reason": "dry"})
        assert r.status_code == 409, r.text
        assert problem(r)["field"] == "zone" and "valve: the zone has 0 valve(s)" in problem(r)["reason"]
        r = await c.post("/api/v1/zones/z1/override", json={"action": "skip", "reason": "harvest"})
        assert r.status_code == 201 and r.json()["id"] == 1  # the refused water_now took no id


@pytest.mark.parametrize("path", ["plan", "override"])
async def test_a_technician_may_read_decisions_but_not_plan_or_override(tmp_path, path):
    """Technician: 403 on plan and override (naming the roles that may), 200 on decisions."""
    async with running_app(local_settings(tmp_path)) as c:
        await _farm(c, vwc=20.0)
        tom = {"Authorization": f"Bearer {(await c.app.state.services.tokens.issue('tom', Role.TECHNICIAN, 1)).token}"}
        r = await c.post(f"/api/v1/zones/z1/{path}", json={"action": "hold", "reason": "x"}, headers=tom)
        assert r.status_code == 403 and "agronomist" in problem(r)["reason"]
        assert (await c.get("/api/v1/zones/z1/decisions", headers=tom)).status_code == 200
        assert await _planner_commands(c) == []


# ---- the balance from the farm's own weather, budgets, groups, forecast, schedule --------------

DAY = 24 * HOUR
JAN4_23H = T0 + 3 * DAY + 23 * HOUR  # 2026-01-04 23:00 UTC, a Sunday night: days 1-3 are complete
CROP = {"l_ini": 10, "l_dev": 15, "l_mid": 20, "l_late": 10, "kc_ini": 0.35, "kc_mid": 1.15, "kc_end": 0.45,
        "p": 0.5}
BALANCE_KEYS = {"date", "et0_mm", "kc", "etc_mm", "rain_mm", "effective_rain_mm", "irrigation_mm", "depletion_mm",
                "taw_mm", "raw_mm", "ks", "gdd_cum", "stage", "probe_correction_mm", "source", "cover_pct"}


def _hour(day: int, h: int) -> dict[str, float]:
    """Day `day` (0 = 2026-01-01), hour h: a sine day 6-18 °C, RH 95-55 %, 2 m/s, sun 06-18 h;
    8 mm of rain at 15:00 on day 1."""
    t = 12.0 + 6.0 * math.sin(2 * math.pi * (h - 9) / 24)
    sun = max(0.0, 500.0 * math.sin(math.pi * (h - 6) / 12)) if 6 <= h <= 18 else 0.0
    return {"air_temp_c": round(t, 2), "rh_pct": round(75.0 - 20.0 * (t - 12.0) / 6.0, 2), "wind_ms": 2.0,
            "rs_w_m2": round(sun, 1), "rain_mm": 8.0 if (day, h) == (1, 15) else 0.0}


async def _weather_farm(c, zone: dict | None = None, vwc: float = 16.0, valve: dict | None = None,
                        runs: tuple[tuple[int, int], ...] = (), wx: dict | None = None) -> None:
    """z1 (crop coefficients, planted 2026-01-01) with soil-01, irr-01 and wx-01 (41.65 N); the
    completed `runs` (runtime_s, at_ms); then wx-01 reports every hour of 2026-01-01..03 and
    soil-01 reads `vwc` at 10 cm at the end of each day (until then z1 cannot be planned)."""
    c.app.state.services.planning.clock = lambda: JAN4_23H
    body = {**ZONE, "planting_date": "2026-01-01", "crop_coefficients": CROP, **(zone or {})}
    for path, b in [("sites", {"id": "s1", "name": "Farm", "timezone": "UTC"}),
                    ("fields", {"id": "f1", "site_id": "s1", "name": "North"}), ("zones", body),
                    ("nodes", {"id": "soil-01", "role": "soil", "zone_id": "z1", "depths_cm": [10]}),
                    ("nodes", {"id": "irr-01", "role": "irrigation", "zone_id": "z1"}),
                    ("nodes", {"id": "wx-01", "role": "weather", "zone_id": "z1", "lat": 41.65, "lon": -0.88,
                               **(wx or {})}),
                    ("valves", {"node_id": "irr-01", "channel": 1, "zone_id": "z1", **(valve or {})})]:
        r = await c.post(f"/api/v1/registry/{path}", json=b)
        assert r.status_code == 201, r.text
    irr = [item(make_uplink("irr-01", "irrigation", 1, T0, [make_reading("valve_open", 0, channel=1)], "0.1.0"))]
    r = await c.post("/api/v1/ingest/batch", json=make_batch("demo", "gw-1", "bi", T0, irr))
    assert r.status_code == 200 and not r.json()["rejected"], r.text
    for runtime_s, at_ms in runs:
        await _completed_run(c, runtime_s, at_ms)
    items = []
    seq = 1
    for day in range(3):
        for h in range(24):
            readings = [make_reading(m, v) for m, v in _hour(day, h).items()]
            items.append(item(make_uplink("wx-01", "weather", seq, T0 + day * DAY + h * HOUR + 1_800_000,
                                          readings, "0.1.0")))
            seq += 1
        items.append(item(soil_uplink(seq=day + 1, ts_ms=T0 + day * DAY + 23 * HOUR + 1_800_000, vwc=vwc)))
    r = await c.post("/api/v1/ingest/batch", json=make_batch("demo", "gw-1", "bw", T0, items))
    assert r.status_code == 200 and not r.json()["rejected"], r.text


async def _completed_run(c, runtime_s: int, at_ms: int) -> None:
    """A command on z1 that the controller reports completed after `runtime_s` at `at_ms`."""
    r = await c.post("/api/v1/commands", json={"zone": "z1", "duration_s": runtime_s})
    assert r.status_code in (200, 201), r.text
    ack = make_ack(r.json()["id"], "irr-01", "completed", at_ms, runtime_s=runtime_s)
    await c.app.state.services.commands.apply_ack(ack, now_ms=at_ms)


def _expected_et0(day: int) -> float:
    """FAO-56 eq. 6 from the day's hourly values, as the service's aggregation rules take them."""
    hours = [_hour(day, h) for h in range(24)]
    temps, rh = [x["air_temp_c"] for x in hours], [x["rh_pct"] for x in hours]
    w = DailyWeather(day=date(2026, 1, 1 + day), tmin_c=min(temps), tmax_c=max(temps), rh_min_pct=min(rh),
                     rh_max_pct=max(rh), wind_ms=2.0, rs_mj_m2=sum(x["rs_w_m2"] for x in hours) / 24 * 0.0864)
    return et0_daily(w, Site(latitude_deg=41.65, elevation_m=0.0)).et0_mm


async def test_the_balance_comes_from_the_farms_weather_rain_irrigation_and_probes(tmp_path):
    """GET /zones/z1/balance: one row per complete day with the agreed keys; ET0 from wx-01's hours
    (FAO-56 eq. 6), Kc 0.35 from the crop's initial stage, rain 8 mm on day 2 (effective), 6 mm of
    irrigation from a completed 30-min run at 12 mm/h, probe corrections, and every source named."""
    async with running_app(local_settings(tmp_path)) as c:
        await _weather_farm(c, runs=((1800, T0 + DAY + 12 * HOUR),))
        r = await c.get("/api/v1/zones/z1/balance", params={"days": 3})
        assert r.status_code == 200, r.text
        rows = r.json()
        assert [x["date"] for x in rows] == ["2026-01-01", "2026-01-02", "2026-01-03"]
        assert all(set(x) == BALANCE_KEYS for x in rows)
        for day, row in enumerate(rows):
            assert row["et0_mm"] == pytest.approx(_expected_et0(day), abs=0.006)
            assert row["kc"] == 0.35 and row["stage"] == "initial" and row["taw_mm"] == 51.0
            assert row["probe_correction_mm"] is not None and 0 <= row["depletion_mm"] <= 51.0
            assert "weather" in row["source"] and "rain gauge" in row["source"] and "probes" in row["source"]
        assert rows[1]["rain_mm"] == 8.0 and rows[1]["effective_rain_mm"] == 8.0 and rows[0]["rain_mm"] == 0.0
        assert [x["irrigation_mm"] for x in rows] == [0.0, 6.0, 0.0]
        assert rows[2]["gdd_cum"] > rows[0]["gdd_cum"] >= 0
        bad = await c.get("/api/v1/zones/z1/balance", params={"days": 0})
        assert bad.status_code == 422 and problem(bad)["field"] == "days"

        d = (await c.post("/api/v1/zones/z1/plan")).json()
        assert d["inputs"]["sources"]["depletion"].startswith("water balance to the end of 2026-01-03")
        assert d["inputs"]["balance_day"]["date"] == "2026-01-03"
        assert d["inputs"]["depletion_mm"] == pytest.approx(rows[2]["depletion_mm"], abs=0.01)


async def test_without_weather_the_balance_says_so_and_planning_uses_the_probes(tmp_path):
    """A zone whose weather node never reports temperatures: the balance rows have no ET0 and say
    "probes only", and the plan's sources record the fallback to the probes."""
    async with running_app(local_settings(tmp_path)) as c:
        await _farm(c, vwc=20.0)
        rows = (await c.get("/api/v1/zones/z1/balance", params={"days": 2})).json()
        assert len(rows) == 2 and all(x["et0_mm"] is None for x in rows)
        assert all(x["source"].startswith(("probes only", "no ET0")) for x in rows)
        d = (await c.post("/api/v1/zones/z1/plan")).json()
        assert d["inputs"]["sources"]["depletion"].startswith("probes only")
        assert d["inputs"]["sources"]["kc"].startswith("fallback Kc 1")


async def test_weekly_budget_limits_the_planned_amount(tmp_path):
    """Week budget 10 mm with 6 mm already applied this week (a completed run): the dry zone gets
    4 mm (1200 s at 12 mm/h), budget-limited, the explanation naming the 4.0 mm left."""
    async with running_app(local_settings(tmp_path)) as c:
        await _weather_farm(c, zone={"week_budget_mm": 10.0}, runs=((1800, T0 + DAY + 12 * HOUR),))
        d = (await c.post("/api/v1/zones/z1/plan")).json()
        assert (d["action"], d["rule"]) == ("irrigate", "mad-reached"), d
        assert "budget-limited" in d["detail"]["adjustments"] and d["inputs"]["week_used_mm"] == 6.0
        assert "cut to the 4.0 mm left in the budget" in d["explanation"]
        (cmd,) = [x for x in await _planner_commands(c)]
        assert cmd["duration_s"] == 1200


async def test_seasonal_budget_spent_skips(tmp_path):
    """A season budget of 5 mm with 6 mm used since planting: skip by budget-exhausted, no command."""
    async with running_app(local_settings(tmp_path)) as c:
        await _weather_farm(c, zone={"season_budget_mm": 5.0}, runs=((1800, T0 + DAY + 12 * HOUR),))
        d = (await c.post("/api/v1/zones/z1/plan")).json()
        assert (d["action"], d["rule"], d["command_ids"]) == ("skip", "budget-exhausted", [])
        assert d["inputs"]["season_used_mm"] == 6.0 and "the water budget is spent" in d["explanation"]


async def test_valve_max_runtime_splits_the_commands(tmp_path):
    """Valve maximum 5000 s: the refill becomes several planner commands, each within it, one after
    the other, split-at-max-runtime explained."""
    async with running_app(local_settings(tmp_path)) as c:
        await _weather_farm(c, valve={"max_runtime_s": 5000})
        d = (await c.post("/api/v1/zones/z1/plan")).json()
        assert d["action"] == "irrigate" and "split-at-max-runtime" in d["detail"]["adjustments"], d
        cmds = sorted(await _planner_commands(c), key=lambda x: x["not_before_ms"])
        assert len(cmds) == len(d["command_ids"]) == math.ceil(d["detail"]["runtime_s"] / 5000) >= 2
        assert all(x["duration_s"] <= 5000 for x in cmds)
        assert sum(x["duration_s"] for x in cmds) == d["detail"]["runtime_s"]
        pairs = zip(cmds, cmds[1:], strict=False)
        assert all(b["not_before_ms"] >= a["not_before_ms"] + a["duration_s"] * 1000 for a, b in pairs)
        bad = await c.post("/api/v1/registry/valves", json={"node_id": "irr-01", "channel": 2, "zone_id": "z1",
                                                             "max_runtime_s": 5})
        assert bad.status_code == 422 and "max_runtime_s" in bad.text


async def test_one_zone_at_a_time_per_hydraulic_group(tmp_path):
    """z2 shares pump-1 with z1: planned after z1 it starts when z1's run ends (group-busy)."""
    async with running_app(local_settings(tmp_path)) as c:
        await _weather_farm(c)
        for path, b in [("zones", {**ZONE, "id": "z2", "crop_coefficients": CROP}),
                        ("nodes", {"id": "irr-02", "role": "irrigation", "zone_id": "z2"}),
                        ("nodes", {"id": "soil-02", "role": "soil", "zone_id": "z2", "depths_cm": [10]}),
                        ("valves", {"node_id": "irr-02", "channel": 1, "zone_id": "z2"})]:
            assert (await c.post(f"/api/v1/registry/{path}", json=b)).status_code == 201
        ups = [item(make_uplink("irr-02", "irrigation", 1, T0, [make_reading("valve_open", 0, channel=1)], "0.1.0")),
               item(soil_uplink(node="soil-02", seq=1, ts_ms=T0 + 2 * DAY, vwc=16.0))]
        assert (await c.post("/api/v1/ingest/batch", json=make_batch("demo", "gw-1", "b9", T0, ups))).status_code == 200
        first = (await c.post("/api/v1/zones/z1/plan")).json()
        second = (await c.post("/api/v1/zones/z2/plan")).json()
        assert first["action"] == second["action"] == "irrigate"
        (c1,) = [x for x in await _planner_commands(c) if x["zone"] == "z1"]
        (c2,) = [x for x in await _planner_commands(c) if x["zone"] == "z2"]
        assert c2["not_before_ms"] == c1["not_before_ms"] + c1["duration_s"] * 1000
        assert "group-busy" in second["detail"]["adjustments"] and "group pump-1 busy until" in second["explanation"]


async def test_a_forecast_file_cuts_the_run_when_rain_covers_the_need(tmp_path):
    """A forecast file giving the site 60 mm at 90 %: rule rain-forecast (only what keeps the zone within MAD until
    the next night applied) naming the file and the stored forecast's id; with the file gone the stored forecast is
    still used (fetched within the day), saying the file is missing; with no usable forecast at all the zone gets
    its whole refill (rule mad-reached)."""
    forecast = tmp_path / "forecast.json"
    forecast.write_text(json.dumps({"sites": {"s1": {"rain_mm": 60, "probability": 0.9, "horizon_h": 24,
                                                      "issued_ms": JAN4_23H - HOUR}}}))
    async with running_app(local_settings(tmp_path, forecast_file=forecast)) as c:
        await _weather_farm(c)
        d = (await c.post("/api/v1/zones/z1/plan")).json()
        assert (d["action"], d["rule"]) == ("irrigate", "rain-forecast")
        assert "54.0 mm of rain expected within 24 h (file forecast.json (site s1))" in d["explanation"]
        forecast_id = d["inputs"]["sources"]["forecast_id"]
        assert d["inputs"]["sources"]["forecast"].startswith(f"file forecast.json (site s1), forecast #{forecast_id}")
        forecast.unlink()
        d = (await c.post("/api/v1/zones/z1/plan")).json()
        assert d["rule"] == "rain-forecast" and d["inputs"]["sources"]["forecast_id"] == forecast_id
        assert "does not exist" in d["inputs"]["sources"]["forecast"]
        c.app.state.services.planning.forecast.max_age_s = 60
        c.app.state.services.planning.clock = lambda: JAN4_23H + 120_000
        d = (await c.post("/api/v1/zones/z1/plan")).json()
        assert (d["action"], d["rule"]) == ("irrigate", "mad-reached")
        assert d["inputs"]["sources"]["forecast"].startswith("absent: forecast file")


async def test_agronomy_summary_shape(tmp_path):
    """GET /zones/z1/agronomy: stage, degree days and Kc of the newest balance day, the latest decision;
    bad crop coefficients are refused naming the field; a zone without a valve still has a balance."""
    async with running_app(local_settings(tmp_path)) as c:
        await _weather_farm(c)
        a = (await c.get("/api/v1/zones/z1/agronomy")).json()
        assert set(a) == {"stage", "gdd_cum", "kc", "next_decision", "pests", "disease_risk"}
        assert (a["stage"], a["kc"], a["next_decision"], a["pests"]) == ("initial", 0.35, None, [])
        d = (await c.post("/api/v1/zones/z1/plan")).json()
        assert (await c.get("/api/v1/zones/z1/agronomy")).json()["next_decision"]["id"] == d["id"]
        bad = {**ZONE, "id": "z9", "crop_coefficients": {**CROP, "kc_mid": 3}}
        r = await c.post("/api/v1/registry/zones", json=bad)
        assert r.status_code == 422 and "kc_mid" in r.text
        # a zone without a valve cannot be planned, but its balance and summary still answer
        assert (await c.post("/api/v1/registry/zones", json={**ZONE, "id": "z8"})).status_code == 201
        assert (await c.post("/api/v1/zones/z8/plan")).status_code == 409
        assert (await c.get("/api/v1/zones/z8/balance")).status_code == 200
        assert (await c.get("/api/v1/zones/z8/agronomy")).json()["stage"] is None


async def test_the_scheduled_job_plans_every_zone_on_postgresql(tmp_path, pg_database):
    """planning_interval_s 0.2 on PostgreSQL: the job plans z1 (origin "scheduler", budget-limited by
    its 10 mm week budget) although zone z3 has no valve and fails, and publishes the decision."""
    settings = local_settings(tmp_path, database_url=pg_database, planning_interval_s=0.2)
    async with running_app(settings) as c:
        services = c.app.state.services
        async with services.events.subscribe() as sub:
            await _weather_farm(c, zone={"week_budget_mm": 10.0}, runs=((1800, T0 + DAY + 12 * HOUR),))
            z3 = {**ZONE, "id": "z3", "hydraulic_group": None}
            assert (await c.post("/api/v1/registry/zones", json=z3)).status_code == 201

            async def scheduled() -> bool:
                found = [x for x in (await c.get("/api/v1/zones/z1/decisions")).json() if x["origin"] == "scheduler"]
                return bool(found) and found[0]["rule"] == "mad-reached"

            await eventually(scheduled, "a scheduled decision for z1")
            d = [x for x in (await c.get("/api/v1/zones/z1/decisions")).json() if x["origin"] == "scheduler"][0]
            assert "budget-limited" in d["detail"]["adjustments"]
            (cmd,) = await _planner_commands(c)
            assert cmd["duration_s"] == 1200 and d["command_ids"] == [cmd["id"]]
            assert (await c.get("/api/v1/zones/z3/decisions")).json() == []
            events = []
            while not sub.queue.empty():
                events.append(sub.queue.get_nowait())
            assert any(e.kind == "decision" and e.data["origin"] == "scheduler" and e.data["zone_id"] == "z1"
                       for e in events)


async def test_at_noon_the_plan_waits_for_the_night_window(tmp_path):
    """Planned at 12:00 the refill is deferred to the 22:00 window: the command's not_before is
    22:00 local and the explanation says so (deferred-to-window)."""
    async with running_app(local_settings(tmp_path)) as c:
        await _weather_farm(c)
        c.app.state.services.planning.clock = lambda: T0 + 3 * DAY + 12 * HOUR
        d = (await c.post("/api/v1/zones/z1/plan")).json()
        assert d["action"] == "irrigate" and "deferred-to-window" in d["detail"]["adjustments"], d
        assert "deferred to the night window at 2026-01-04 22:00" in d["explanation"]
        (cmd,) = await _planner_commands(c)
        assert cmd["not_before_ms"] == T0 + 3 * DAY + 22 * HOUR


async def test_a_refill_running_across_midnight_is_not_ordered_again(tmp_path):
    """Planned at 21:00, the refill starts at 22:00 and is still running at 00:30: the balance to the
    end of the day before cannot count it, so the 00:30 plan deducts it (already-irrigating, naming
    the command) instead of ordering a second refill; once it completes the balance counts it."""
    async with running_app(local_settings(tmp_path)) as c:
        await _weather_farm(c)
        planning = c.app.state.services.planning
        planning.clock = lambda: T0 + 3 * DAY + 21 * HOUR
        first = (await c.post("/api/v1/zones/z1/plan")).json()
        assert first["action"] == "irrigate" and "deferred-to-window" in first["detail"]["adjustments"], first
        (cmd,) = await _planner_commands(c)
        start = T0 + 3 * DAY + 22 * HOUR
        await c.app.state.services.commands.apply_ack(make_ack(cmd["id"], "irr-01", "started", start), now_ms=start)

        planning.clock = lambda: T0 + 4 * DAY + 30 * 60_000
        d = (await c.post("/api/v1/zones/z1/plan")).json()
        assert (d["action"], d["rule"], d["command_ids"]) == ("skip", "already-irrigating", []), d
        gross = cmd["duration_s"] / 3600 * 12.0
        assert d["inputs"]["irrigation_since_balance_mm"] == pytest.approx(gross, abs=0.01)
        assert cmd["id"] in d["inputs"]["sources"]["irrigation_since_balance"]
        assert [x["id"] for x in await _planner_commands(c)] == [cmd["id"]]

        done = start + cmd["duration_s"] * 1000
        ack = make_ack(cmd["id"], "irr-01", "completed", done, runtime_s=cmd["duration_s"])
        await c.app.state.services.commands.apply_ack(ack, now_ms=done)
        planning.clock = lambda: done + HOUR
        after = (await c.post("/api/v1/zones/z1/plan")).json()
        assert (after["rule"], after["inputs"]["irrigation_since_balance_mm"]) == ("below-mad", 0.0), after
        assert after["inputs"]["balance_day"]["irrigation_mm"] == pytest.approx(gross, abs=0.01)
        assert len(await _planner_commands(c)) == 1


async def test_without_a_located_node_there_is_no_et0_rather_than_a_latitude_of_0(tmp_path):
    """No node of the zone or site has a latitude: the balance computes no ET0 (FAO-56 needs one) instead
    of taking the equator, says so, and the plan uses the probes alone; a located node of another
    zone of the site then gives the latitude, named in the sources."""
    async with running_app(local_settings(tmp_path)) as c:
        await _weather_farm(c, wx={"lat": None, "lon": None})
        rows = (await c.get("/api/v1/zones/z1/balance", params={"days": 3})).json()
        assert all(r["et0_mm"] is None and "no latitude (no located node): no ET0" in r["source"] for r in rows)
        d = (await c.post("/api/v1/zones/z1/plan")).json()
        assert d["inputs"]["sources"]["et0"].startswith("absent: no node of the zone or site has a latitude")
        assert d["inputs"]["sources"]["depletion"].startswith("probes only") and "latitude" in \
            d["inputs"]["sources"]["depletion"]

        for path, b in [("zones", {**ZONE, "id": "z2"}),
                        ("nodes", {"id": "soil-02", "role": "soil", "zone_id": "z2", "lat": 41.65, "lon": -0.88})]:
            assert (await c.post(f"/api/v1/registry/{path}", json=b)).status_code == 201
        rows = (await c.get("/api/v1/zones/z1/balance", params={"days": 3})).json()
        assert [r["et0_mm"] for r in rows] == [pytest.approx(_expected_et0(day), abs=0.006) for day in range(3)]
        d = (await c.post("/api/v1/zones/z1/plan")).json()
        assert "latitude of site node soil-02 (41.65, -0.88)" in d["inputs"]["sources"]["et0"]
        assert d["inputs"]["sources"]["depletion"].startswith("water balance")


async def _days_of_weather(c, days: int, vwc_of=lambda day: 16.0 + 0.5 * day) -> None:
    """wx-01 reports every hour and soil-01 once a day for `days` days from 2026-01-01."""
    items, seq = [], 1000
    for day in range(days):
        for h in range(24):
            readings = [make_reading(m, v) for m, v in _hour(day, h).items()]
            items.append(item(make_uplink("wx-01", "weather", seq, T0 + day * DAY + h * HOUR + 1_800_000,
                                          readings, "0.1.0")))
            seq += 1
        items.append(item(soil_uplink(seq=seq, ts_ms=T0 + day * DAY + 23 * HOUR + 1_800_000, vwc=vwc_of(day))))
        seq += 1
    r = await c.post("/api/v1/ingest/batch", json=make_batch("demo", "gw-1", "bd", T0, items))
    assert r.status_code == 200 and not r.json()["rejected"], r.text


async def test_the_balance_replays_only_its_last_days_and_matches_a_full_recompute(tmp_path):
    """Balanced every day of a 14-day season, the planning service recomputes only the last REPLAY_DAYS days
    from the store and keeps the older ones from its last pass (at the same instant, all of them): the
    rows match a fresh service's full recompute, and a run completed within the replay window still counts."""
    async with running_app(local_settings(tmp_path)) as c:
        await _weather_farm(c)
        await _days_of_weather(c, 14)
        planning = c.app.state.services.planning
        for day in range(2, 15):
            planning.clock = lambda d=day: T0 + d * DAY + 21 * HOUR
            await planning.balance("z1", days=30)
        again = await planning.balance("z1", days=30)  # the same instant: as computed, nothing read again
        assert again.sources["replay"] == "as computed at this instant"
        await _completed_run(c, 1800, T0 + 12 * DAY + 2 * HOUR)  # 6 mm on day 13, within the replay window
        planning.clock = lambda: T0 + 14 * DAY + 22 * HOUR
        cached = await planning.balance("z1", days=30)
        fresh = PlanningService(planning._db, planning._registry, planning._store, planning._commands,
                                clock=planning.clock)
        full = await fresh.balance("z1", days=30)
        assert len(cached.rows) == 14 and cached.rows == full.rows
        assert cached.rows[12].irrigation_mm == 6.0
        assert "replayed" in cached.sources["replay"] and "full" in full.sources["replay"]
