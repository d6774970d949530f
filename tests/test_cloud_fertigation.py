"""Fertigation in the service: a product and dose become a fertigate command with the stock volume and window,
bad requests are refused naming the field and the bound, and a fertigate's end records its application once,
at the rate of the volume injected; a volume beyond the dose plus one tick of the pump is flagged."""

from __future__ import annotations

import pytest

from furrow.cloud.fertility.fertigation import over_dose_flag, tick_ml
from furrow.edge import commands
from tests.cloud_support import T0, batch_of, item, local_settings, problem, running_app
from tests.gateway_support import valve_uplink
from tests.test_cloud_fertility import ZONE as FERTILITY_ZONE

NODE = "irr-01"
ZONE = {**FERTILITY_ZONE, "precip_rate_mm_h": 5.0}
UREA = {"id": "urea", "name": "Urea 46-0-0", "n_pct": 46, "p2o5_pct": 0, "k2o_pct": 0, "price_per_kg": 2.4,
        "stock_kg_per_l": 0.3}
ASK = {"season": "2026", "product_id": "urea", "dose_kg_ha": 12, "duration_s": 3600, "inject_from_s": 600,
       "inject_until_s": 3300}
INJECTOR = {"rate_l_h": 120, "ec_band_ds_m": [0.5, 3.0], "calibrated_on": "2026-04-02",
            "note": "bucket test: 2.00 l in 60 s"}


async def _farm(c) -> None:  # noqa: ANN001
    for path, body in [("sites", {"id": "demo", "name": "Farm", "timezone": "UTC"}),
                       ("fields", {"id": "f1", "site_id": "demo", "name": "North"}), ("zones", ZONE),
                       ("nodes", {"id": NODE, "role": "irrigation"}),
                       ("valves", {"node_id": NODE, "channel": 1, "zone_id": "z1"})]:
        r = await c.post(f"/api/v1/registry/{path}", json=body)
        assert r.status_code == 201, r.text
    assert (await c.put("/api/v1/fertility/sites/demo/products/urea", json=UREA)).status_code == 200
    assert (await c.put(f"/api/v1/fertility/injectors/{NODE}", json=INJECTOR)).status_code == 200
    # the node reports through gateway gw-1 of site demo, so commands to it can be routed
    assert (await c.post("/api/v1/ingest/batch", json=batch_of([item(valve_uplink(NODE, 1))]))).status_code == 200


async def test_a_dose_becomes_the_stock_volume_and_window_of_a_fertigate(tmp_path):
    """12 kg/ha of urea on 2 ha from a 0.3 kg/l stock is 80 l of stock solution, within 600..3300 s of a 1 h run;
    the injector's rate is the registered one (a request may repeat it)."""
    async with running_app(local_settings(tmp_path)) as c:
        await _farm(c)
        r = await c.post("/api/v1/zones/z1/fertility/fertigations", json={**ASK, "injector_l_h": 120})
        assert r.status_code == 201, r.text
        cmd = r.json()["command"]
        assert (cmd["action"], cmd["node"], cmd["valve"], cmd["duration_s"]) == ("fertigate", NODE, 1, 3600)
        assert (cmd["inject_ml"], cmd["inject_from_s"], cmd["inject_until_s"]) == (80_000, 600, 3300)
        assert r.json()["fertigation"] == {"command_id": cmd["id"], "zone_id": "z1", "season": "2026",
                                           "product_id": "urea", "dose_kg_ha": 12.0, "area_ha": 2.0,
                                           "stock_kg_per_l": 0.3, "inject_ml": 80_000, "rate_l_h": 120.0,
                                           "by": "person:bootstrap-admin"}


async def test_a_concentration_becomes_a_dose(tmp_path):
    """100 mg/l of urea in the water of the 2700 s window (5 mm/h on 2 ha: 75 000 l) is 7.5 kg, 3.75 kg/ha, 25 l."""
    async with running_app(local_settings(tmp_path)) as c:
        await _farm(c)
        body = {**ASK, "concentration_mg_l": 100}
        del body["dose_kg_ha"]
        r = await c.post("/api/v1/zones/z1/fertility/fertigations", json=body)
        assert r.status_code == 201, r.text
        assert r.json()["fertigation"]["dose_kg_ha"] == 3.75 and r.json()["command"]["inject_ml"] == 25_000


@pytest.mark.parametrize(("change", "field", "says"), [
    ({"dose_kg_ha": 30}, "dose_kg_ha", "at most 13.50 kg/ha of Urea 46-0-0 (urea) fits"),
    ({"inject_until_s": 3700}, "inject_until_s", "inject_from_s + 1 (601)..duration_s (3600)"),
    ({"inject_from_s": 3300}, "inject_until_s", "inject_from_s + 1 (3301)..duration_s (3600)"),
    ({"product_id": "kcl"}, "product_id", "no product with this id"),
    ({"concentration_mg_l": 100}, "body", "give one of dose_kg_ha or concentration_mg_l"),
    ({"injector_l_h": 150}, "injector_l_h", "is not the rate registered for irr-01's injector (120 l/h, calibrated "
                                            "2026-04-02)"),
])
async def test_a_bad_fertigation_is_refused_naming_the_field(tmp_path, change, field, says):
    """A dose the pump cannot deliver in the window, a window outside the run, an unknown product and two doses
    are each refused, naming the field and its bound; no command is made."""
    async with running_app(local_settings(tmp_path)) as c:
        await _farm(c)
        r = await c.post("/api/v1/zones/z1/fertility/fertigations", json={**ASK, **change})
        assert r.status_code in (404, 422), r.text
        p = problem(r)
        assert p["field"].endswith(field) and says in p["reason"], p
        assert (await c.get("/api/v1/commands")).json() == []


async def test_a_product_without_stock_strength_cannot_be_fertigated(tmp_path):
    """A product with no stock_kg_per_l is refused naming product_id."""
    async with running_app(local_settings(tmp_path)) as c:
        await _farm(c)
        assert (await c.put("/api/v1/fertility/sites/demo/products/urea",
                            json={**UREA, "stock_kg_per_l": None})).status_code == 200
        r = await c.post("/api/v1/zones/z1/fertility/fertigations", json=ASK)
        assert r.status_code == 422 and problem(r)["field"] == "product_id" and "stock_kg_per_l" in r.text


async def test_the_end_of_a_fertigate_records_its_application_once(tmp_path):
    """Half the stock injected before the run was aborted: one application at half the dose (6 kg/ha), however
    many times the final ack comes; an open command's end records nothing."""
    async with running_app(local_settings(tmp_path)) as c:
        await _farm(c)
        cmd = (await c.post("/api/v1/zones/z1/fertility/fertigations", json=ASK)).json()["command"]
        for state, extra in (("received", {}), ("started", {}),
                             ("aborted", {"runtime_s": 1500, "volume_l": 4100.0, "injected_ml": 40_000,
                                          "reason": "no flow for 120 s while open (stuck valve or pump failure)"})):
            ack = commands.make_ack(cmd["id"], NODE, state, T0 + 1000, **extra)
            for _ in range(2 if state == "aborted" else 1):
                r = await c.post("/api/v1/commands/acks", json=ack)
                assert r.status_code == 200, r.text
        got = (await c.get(f"/api/v1/commands/{cmd['id']}")).json()
        assert got["state"] == "aborted" and got["injected_ml"] == 40_000
        [app] = (await c.get("/api/v1/zones/z1/fertility/applications")).json()
        assert (app["rate_kg_ha"], app["method"], app["command_id"], app["area_ha"]) == (6.0, "fertigation",
                                                                                        cmd["id"], 2.0)
        assert app["nutrients_kg_ha"]["N"] == 2.76 and app["by"] == "person:bootstrap-admin"
        assert app["applied_on"] == "2026-01-01" and "40000 of 80000 ml" in app["note"]
        opened = (await c.post("/api/v1/commands", json={"node": NODE, "valve": 1, "duration_s": 60})).json()
        r = await c.post("/api/v1/commands/acks", json=commands.make_ack(opened["id"], NODE, "completed", T0 + 2000,
                                                                         runtime_s=60))
        assert r.status_code == 200
        assert len((await c.get("/api/v1/zones/z1/fertility/applications")).json()) == 1


async def test_the_injector_registry_is_what_a_fertigate_is_checked_against(tmp_path):
    """A controller without a registered injector is refused naming the node; the registry keeps the rate, band
    and calibration; only an irrigation controller takes one; a band must rise; a recalibration resizes what
    fits in the window (13.5 kg/ha at 120 l/h, 6.75 at 60)."""
    async with running_app(local_settings(tmp_path)) as c:
        await _farm(c)
        assert (await c.post("/api/v1/registry/nodes", json={"id": "irr-02", "role": "irrigation"})).status_code == 201
        assert (await c.post("/api/v1/registry/valves",
                             json={"node_id": "irr-02", "channel": 1, "zone_id": "z1"})).status_code == 201
        r = await c.post("/api/v1/zones/z1/fertility/fertigations", json={**ASK, "node": "irr-02", "valve": 1})
        assert r.status_code == 422 and problem(r)["field"] == "node" and "no injector registered" in r.text, r.text
        assert (await c.get("/api/v1/commands")).json() == []
        [inj] = (await c.get("/api/v1/fertility/injectors")).json()
        assert {k: inj[k] for k in INJECTOR} == INJECTOR and inj["node_id"] == NODE and inj["by"]
        assert (await c.post("/api/v1/registry/nodes", json={"id": "soil-01", "role": "soil"})).status_code == 201
        r = await c.put("/api/v1/fertility/injectors/soil-01", json=INJECTOR)
        assert r.status_code == 422 and problem(r)["field"] == "node" and "soil node" in r.text
        r = await c.put("/api/v1/fertility/injectors/nope", json=INJECTOR)
        assert r.status_code == 404
        r = await c.put(f"/api/v1/fertility/injectors/{NODE}", json={**INJECTOR, "ec_band_ds_m": [3.0, 0.5]})
        assert r.status_code == 422 and "ec_band_ds_m" in problem(r)["field"], r.text
        assert (await c.put(f"/api/v1/fertility/injectors/{NODE}", json={"rate_l_h": 60})).status_code == 200
        r = await c.post("/api/v1/zones/z1/fertility/fertigations", json={**ASK, "dose_kg_ha": 12, "node": NODE})
        assert r.status_code == 422 and "at most 6.75 kg/ha of Urea 46-0-0 (urea) fits" in problem(r)["reason"], r.text


def test_one_tick_of_the_pump_by_hand() -> None:
    """One 1 s tick of a 120 l/h pump is 33.3 ml, allowed as 34; 150 l/h is 41.7 -> 42; 36 l/h is exactly 10. The
    80,000 ml dose of 120 l/h passes at 80,034 ml and is flagged at 80,035, naming both volumes and the rate."""
    assert (tick_ml(120), tick_ml(150), tick_ml(36)) == (34, 42, 10)
    assert over_dose_flag(80_000, 80_034, 120) is None
    flag = over_dose_flag(80_000, 80_035, 120)
    assert flag is not None and "80035 ml" in flag and "80000 ml asked" in flag and "120 l/h" in flag
    assert "(80034 ml)" in flag


async def test_a_volume_beyond_the_dose_and_one_tick_is_flagged_on_the_command_and_application(tmp_path):
    """Two fertigates of 80,000 ml at the registered 120 l/h: one reported at 80,034 ml (within a tick) is not
    flagged; one reported at 96,000 ml is, on its command (injected_flag) and its application (volume_flag), and
    its application still records what the controller reported (14.4 kg/ha)."""
    async with running_app(local_settings(tmp_path)) as c:
        await _farm(c)
        ends = {}
        for injected in (80_034, 96_000):
            r = await c.post("/api/v1/zones/z1/fertility/fertigations", json={**ASK, "idempotency_key": str(injected)})
            assert r.status_code == 201, r.text
            assert r.json()["fertigation"]["rate_l_h"] == 120
            cmd = r.json()["command"]
            for state, extra in (("started", {}), ("completed", {"runtime_s": 3600, "volume_l": 10_000.0,
                                                                 "injected_ml": injected})):
                r = await c.post("/api/v1/commands/acks", json=commands.make_ack(cmd["id"], NODE, state, T0 + 1000,
                                                                                 **extra))
                assert r.status_code == 200, r.text
            ends[injected] = (await c.get(f"/api/v1/commands/{cmd['id']}")).json()
        assert ends[80_034]["injected_flag"] is None
        flag = ends[96_000]["injected_flag"]
        assert "reported 96000 ml" in flag and "80000 ml asked" in flag and "(80034 ml)" in flag
        apps = {a["command_id"]: a for a in (await c.get("/api/v1/zones/z1/fertility/applications")).json()}
        assert apps[ends[80_034]["id"]]["volume_flag"] is None
        assert apps[ends[96_000]["id"]]["volume_flag"] == flag and apps[ends[96_000]["id"]]["rate_kg_ha"] == 14.4
