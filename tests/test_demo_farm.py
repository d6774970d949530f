"""The demo farm's layout (hil/demo_farm.py): what the technician registers is what the virtual
farm does, so the cloud's expectations (flow, soil, crop) hold for the emulated hardware."""

from __future__ import annotations

from datetime import date

from furrow.cloud.alerts.snapshot import expected_flow_l_min
from furrow.cloud.registry.models import FieldIn, NodeIn, SiteIn, ValveIn, ZoneIn, ZoneOut
from furrow.hil import demo_farm
from furrow.hil.demo_live import DemoClock
from furrow.hil.virtual_farm import VirtualFarm, VirtualZone

MODELS = {"sites": SiteIn, "fields": FieldIn, "zones": ZoneIn, "nodes": NodeIn, "valves": ValveIn}
START = date(2026, 6, 1)


def _entries(kind: str) -> list[dict]:
    return [body for k, body in demo_farm.registry_entries(demo_farm.WUWEI, START) if k == kind]


def test_every_entry_is_valid_and_every_zone_has_one_valve_a_crop_and_a_planting_date():
    """Each entry passes the registry's own validation; each zone has exactly one valve, a planting
    date and crop coefficients staged in degree days; the site is located with its elevation."""
    for kind, body in demo_farm.registry_entries(demo_farm.WUWEI, START):
        MODELS[kind].model_validate(body)
    zones = _entries("zones")
    assert sorted(v["zone_id"] for v in _entries("valves")) == sorted(z["id"] for z in zones)
    assert all(z["planting_date"] and z["crop_coefficients"]["stages_in"] == "gdd" for z in zones)
    (site,) = _entries("sites")
    assert (site["lat"], site["elevation_m"]) == (37.93, 1530.0)


def test_each_valve_draws_the_flow_the_cloud_expects_for_its_zone():
    """With a valve open the controller's meter reads what the alert rule expects from the registered
    zone (rate x area), so the demo raises no false no-flow alert (it expected 20000 L/min from a
    10 ha zone while its farm watered 100 m², 20 L/min)."""
    farm = demo_farm.build_farm(demo_farm.WUWEI, START, 3, seed=1)
    zones = {z["id"]: ZoneOut.model_validate(z) for z in _entries("zones")}
    for v in _entries("valves"):
        farm.connect_valve(v["node_id"], v["channel"], v["zone_id"], demo_farm.PRECIP_RATE_MM_H)
        farm.set_valve(v["node_id"], v["channel"], True)
        assert abs(farm.valve_flow_l_min(v["node_id"]) - expected_flow_l_min(zones[v["zone_id"]])) < 1e-6
        farm.set_valve(v["node_id"], v["channel"], False)


def test_the_small_virtual_farm_flows_over_its_zones_area():
    """hil/virtual_farm.py (the bench node's and fault scenarios' farm) turns mm/h into L/min over the
    zone's own area: a 10 ha zone at 12 mm/h draws 20000 L/min, as the cloud expects, not 20."""
    farm = VirtualFarm([VirtualZone("z1", area_m2=100_000)])
    farm.connect_valve("irr-01", 1, "z1", 12.0)
    farm.set_valve("irr-01", 1, True)
    zone = ZoneOut(id="z1", field_id="f", name="Z", area_ha=10, soil_texture="loam", field_capacity_pct=34,
                   wilting_point_pct=14, root_depth_cm=60, crop="maize", precip_rate_mm_h=12.0)
    assert farm.valve_flow_l_min("irr-01") == expected_flow_l_min(zone) == 20_000


def test_the_farm_is_where_maize_grows_on_the_day_it_runs():
    """From April to September the northern farm, otherwise the southern one."""
    assert demo_farm.place_for(date(2026, 7, 1)) is demo_farm.WUWEI
    assert demo_farm.place_for(date(2026, 12, 6)) is demo_farm.GRIFFITH
    assert demo_farm.place_for(date(2027, 3, 31)) is demo_farm.GRIFFITH


def test_the_demo_clock_is_the_wall_clock_or_runs_on_from_the_season_at_its_speed():
    """At speed 1 farm time is the wall clock; at 60 it runs a minute a second from where the
    simulated weeks stopped, so the time they took leaves no gap in the farm's record."""
    wall = [1000.0]
    real, fast = DemoClock(1.0, lambda: wall[0]), DemoClock(60.0, lambda: wall[0])
    wall[0] = 1050.0  # the season took 50 s to simulate, up to farm time 1000
    real.go_live(1000.0)
    fast.go_live(1000.0)
    wall[0] = 1060.0
    assert real.s() == 1060.0 and fast.s() == 1000.0 + 10 * 60
