"""Yield monitor data (cloud/machinery/yield_map.py): the log read with errors naming line and column, standard
moisture, the worked example, and a simulated combine's log (hil/machinery.py) cleaned and totalled."""

from __future__ import annotations

import pytest

from furrow.cloud.machinery.yield_map import YieldFilters, YieldPoint, harvest, read_yield_csv, standard_mass
from furrow.cloud.vigour.boundaries import parse_boundary
from furrow.edge.errors import ContractError
from furrow.hil.machinery import STANDARD_MOISTURE_PCT, Field, Pattern, Receiver, YieldMonitor, fao33_yield_kg_m2

T0 = 1_780_000_000


def test_standard_moisture_keeps_the_dry_matter():
    """20 kg wet at 22 % is 18.4615 kg at 15.5 % (78 / 84.5 of it): the module's worked example."""
    assert standard_mass(20.0, 22.0, 15.5) == pytest.approx(18.461538, abs=1e-6)


def test_fao33_yield_of_a_stressed_and_an_irrigated_half():
    """FAO-33 eq. 1 with maize's Ky 1.25 and Ym 12 t/ha: ETa/ETm 0.70 gives 7.5 t/ha, 0.95 gives 11.25 t/ha."""
    assert fao33_yield_kg_m2(1.2, 1.25, 0.70) == pytest.approx(0.75)
    assert fao33_yield_kg_m2(1.2, 1.25, 0.95) == pytest.approx(1.125)
    with pytest.raises(ValueError, match="eta_over_etm"):
        fao33_yield_kg_m2(1.2, 1.25, 1.2)


def test_one_second_of_flow_is_the_worked_example_yield():
    """A header-down straight run of 20 kg/s wet at 22 % at 2 m/s with 9 m: every kept point is 10.256 t/ha, and
    the total is the flow integrated (20 x 78 / 84.5 kg a second) over the run in the field."""
    field = Field(114.4, 36.0, 9.0, 1, 200.0)
    points = []
    for s in range(101):
        lon, lat = field.lonlat(4.5, 2.0 * s)
        points.append(YieldPoint((T0 + s) * 1000, lon, lat, 20.0, 22.0, True))
    total = harvest(points, 9.0, parse_boundary(field.boundary), 15.5, YieldFilters(flow_delay_s=0))
    assert {round(y, 3) for _, _, y in total.yields} == {10.256}
    assert total.mass_kg == pytest.approx(100 * 20 * 78 / 84.5, rel=1e-9)
    assert total.harvested_ha == pytest.approx(0.18, rel=2e-3)


def test_a_bad_log_line_is_named():
    """A flow that is not a number names its line and column; a missing column is named."""
    with pytest.raises(ContractError) as e:
        read_yield_csv("time,lat,lon,flow_kg_s,moisture_pct\n1780000000000,36,114.4,lots,22\n")
    assert (e.value.field, e.value.value) == ("line 2.flow_kg_s", "lots")
    with pytest.raises(ContractError, match="moisture_pct"):
        read_yield_csv("time,lat,lon,flow_kg_s\n1780000000000,36,114.4,3\n")


def test_a_simulated_combines_log_totals_within_3_pct_of_what_it_cut():
    """The HIL combine's monitor (12 s elevator delay, 3 s lag, 3 % noise, a spike every 150 s) over a field of two
    yields: the total at 15.5 % is within 3 % of the cut mass; spikes are dropped from the map, the pass ends too."""
    field = Field(114.403, 36.0, 9.0, 6, 200.0)
    pattern = Pattern(field, passes=6, speed_m_s=2.0, turn_s=20)
    crop = lambda x, _y: 0.75 if x < 27 else 1.125  # noqa: E731 - t/ha 7.5 and 11.25
    monitor = YieldMonitor(pattern, T0, crop, seed=3)
    receiver = Receiver(pattern, T0, noise_m=0.3, correlation_s=30, quality=2, seed=3)
    for s in range(T0, T0 + pattern.duration_s + 40):
        _, pose, lonlat = receiver.epoch(s)
        monitor.on_epoch(s, pose, lonlat)
    assert monitor.true_kg == pytest.approx(3 * 9 * 200 * (0.75 + 1.125), rel=1e-9)
    total = harvest(read_yield_csv(monitor.csv()), 9.0, parse_boundary(field.boundary), STANDARD_MOISTURE_PCT)
    assert abs(total.mass_kg - monitor.true_kg) / monitor.true_kg < 0.03, (total.mass_kg, monitor.true_kg)
    assert total.dropped["yield_sd"] >= 1 and total.dropped["start_pass"] > 0
    assert max(y for _, _, y in total.yields) < 15  # no spike (3 x 11.25 t/ha) left in the map


def combine_log(seed: int = 3) -> tuple[Field, YieldMonitor]:
    """A simulated combine's monitor over 6 passes of a 54 x 200 m field (7.5 and 11.25 t/ha halves)."""
    field = Field(114.403, 36.0, 9.0, 6, 200.0)
    pattern = Pattern(field, passes=6, speed_m_s=2.0, turn_s=20)
    monitor = YieldMonitor(pattern, T0, lambda x, _y: 0.75 if x < 27 else 1.125, seed=seed)
    receiver = Receiver(pattern, T0, noise_m=0.3, correlation_s=30, quality=2, seed=seed)
    for s in range(T0, T0 + pattern.duration_s + 40):
        _, pose, lonlat = receiver.epoch(s)
        monitor.on_epoch(s, pose, lonlat)
    return field, monitor


async def test_a_yield_log_posted_is_totalled_for_its_field_kept_once_and_its_map_read_back(tmp_path):
    """POST /yield-logs: 201 with the total within 3 % of what was cut; the same log again 200 with the same id;
    listed for its field; GET gives the map's kept points; a bad line is 422 naming it."""
    from tests.cloud_support import local_settings, problem, running_app
    from tests.test_machinery_operations import _field

    field, monitor = combine_log()
    body = {"field": "f1", "crop": "maize", "machine": "combine-1", "width_m": 9.0, "log": monitor.csv()}
    async with running_app(local_settings(tmp_path)) as c:
        await _field(c, field.boundary)
        r = await c.post("/api/v1/yield-logs", json=body)
        assert r.status_code == 201, r.text
        out = r.json()
        assert abs(out["mass_kg"] - monitor.true_kg) / monitor.true_kg < 0.03 and out["crop"] == "maize"
        assert out["yields"] is None and out["kept"] > 0
        again = await c.post("/api/v1/yield-logs", json=body)
        assert again.status_code == 200 and again.json()["id"] == out["id"]
        assert [x["id"] for x in (await c.get("/api/v1/yield-logs", params={"field": "f1"})).json()] == [out["id"]]
        full = (await c.get(f"/api/v1/yield-logs/{out['id']}")).json()
        assert len(full["yields"]) == out["kept"]
        bad = {**body, "log": "time,lat,lon,flow_kg_s,moisture_pct\n1780000000000,36,114.4,x,22\n"}
        r = await c.post("/api/v1/yield-logs", json=bad)
        assert r.status_code == 422 and problem(r)["field"] == "line 2.flow_kg_s", r.text
