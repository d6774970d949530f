"""Soil fertility in the service (cloud/fertility/): soil tests entered and imported from a lab's CSV with
units converted at the boundary, the zone's soil map, a farm's products and coefficients, a recommendation
that explains itself, append-only applications and the season's nutrient balance."""

import math
from datetime import UTC, datetime

import pytest
from sqlalchemy import create_engine, inspect

from furrow.cloud.fertility.units import K_MG_PER_CMOL, convert
from furrow.cloud.migrations import current, head
from furrow.edge.errors import ContractError
from furrow.edge.payload import make_reading, make_uplink
from tests.cloud_support import batch_of, item, local_settings, problem, running_app, soil_uplink

HOUR = 3_600_000
DAY = 24 * HOUR

SQUARE = {"type": "Polygon", "coordinates": [[[-0.881, 41.650], [-0.878, 41.650], [-0.878, 41.652],
                                              [-0.881, 41.652], [-0.881, 41.650]]]}
ZONE = {"id": "z1", "field_id": "f1", "name": "Zone 1", "area_ha": 2.0, "soil_texture": "loam",
        "field_capacity_pct": 31.0, "wilting_point_pct": 14.0, "root_depth_cm": 30, "crop": "maize",
        "planting_date": "2026-04-20", "precip_rate_mm_h": 12.0}
MAPPING = {"zone": "地块", "sampled_on": "采样日期", "lab_sample_id": "样品编号", "point": "点位",
           "lat": "纬度", "lon": "经度", "depth": "深度",
           "results": {"ph": {"column": "pH"}, "organic_matter_g_kg": {"column": "有机质(%)", "unit": "%"},
                       "alkali_n_mg_kg": {"column": "碱解氮"}, "olsen_p_mg_kg": {"column": "有效磷"},
                       "available_k_mg_kg": {"column": "速效钾"}}}
CSV = """样品编号,地块,点位,纬度,经度,深度,采样日期,pH,有机质(%),碱解氮,有效磷,速效钾
S1,z1,P1,41.6505,-0.8805,0-20,2026-03-10,7.9,1.8,82,14.5,120
S2,z1,P2,41.6515,-0.8795,0-20,2026-03-10,8.0,abc,78,15.5,110
S3,z9,P3,41.6512,-0.8790,0-20,2026-03-10,7.8,1.6,80,16.5,130
S4,z1,P4,41.6511,-0.8792,20-0,2026-13-10,7.7,1.7,76,13.5,-
S5,z1,P5,41.6517,-0.8785,0-20,2026-03-11,8.1,2.0,90,17.5,140
"""


async def _farm(c) -> None:
    for path, body in [("sites", {"id": "s1", "name": "Farm", "timezone": "UTC"}),
                       ("fields", {"id": "f1", "site_id": "s1", "name": "North"}), ("zones", ZONE)]:
        r = await c.post(f"/api/v1/registry/{path}", json=body)
        assert r.status_code == 201, r.text
    assert (await c.put("/api/v1/registry/zones/z1/boundary", json=SQUARE)).status_code == 200


def test_units_convert_once_at_the_boundary():
    """% organic matter to g/kg, ppm to mg/kg, exchangeable K in cmol/kg to mg/kg, P2O5 to P, uS/cm to dS/m."""
    assert convert("organic_matter_g_kg", "1.8", "%") == 18.0
    assert convert("olsen_p_mg_kg", 10, "ppm") == 10.0
    assert convert("available_k_mg_kg", 0.35, "cmol/kg") == pytest.approx(0.35 * K_MG_PER_CMOL, abs=1e-4)
    assert convert("olsen_p_mg_kg", 22.9, "mg/kg P2O5") == pytest.approx(10.0, abs=0.01)
    assert convert("ec_ds_m", 450, "uS/cm") == 0.45
    assert convert("ph", "7,9", None) == 7.9  # a decimal comma


def test_bad_units_and_values_are_named():
    """A unit a result does not take, a value out of its range, and text are refused naming the field."""
    with pytest.raises(ContractError) as e:
        convert("olsen_p_mg_kg", 10, "cmol/kg", "results.olsen_p_mg_kg")
    assert e.value.field == "results.olsen_p_mg_kg" and "takes" in e.value.reason
    with pytest.raises(ContractError, match="outside .* a unit or typing error"):
        convert("ph", "79", None)  # a lost decimal point: pH 7.9
    with pytest.raises(ContractError, match="not a number"):
        convert("ph", "high", None)


async def test_a_sample_entered_keeps_stored_and_given_units(tmp_path):
    """A sample posted with organic matter in % and K in cmol/kg is stored in g/kg and mg/kg beside what was
    given; a bad unit is 422 naming results.<name>."""
    async with running_app(local_settings(tmp_path)) as c:
        await _farm(c)
        body = {"sampled_on": "2026-03-10", "lab": "county-lab", "lab_sample_id": "A1", "lat": 41.651, "lon": -0.88,
                "results": {"organic_matter_g_kg": {"value": 1.8, "unit": "%"},
                            "available_k_mg_kg": {"value": 0.3, "unit": "cmol/kg"}}}
        r = await c.post("/api/v1/zones/z1/soil-samples", json=body)
        assert r.status_code == 201, r.text
        s = r.json()
        assert s["season"] == "2026" and s["results"] == {"organic_matter_g_kg": 18.0, "available_k_mg_kg": 117.294}
        assert s["given"]["organic_matter_g_kg"] == {"value": 1.8, "unit": "%"} and s["by"] == "person:bootstrap-admin"
        bad = await c.post("/api/v1/zones/z1/soil-samples",
                           json={**body, "lab_sample_id": "A2",
                                 "results": {"olsen_p_mg_kg": {"value": 9, "unit": "%%"}}})
        assert bad.status_code == 422 and problem(bad)["field"] == "results.olsen_p_mg_kg"


async def test_lab_csv_with_bad_rows_imports_the_good_ones_and_names_each_bad_cell(tmp_path):
    """Five rows: S2 has text for organic matter, S3 names an unknown zone, S4 has a reversed depth and a
    13th month; S1 and S5 are stored (units converted), every bad cell is named by row and column, and a
    second import of the same file stores nothing twice."""
    async with running_app(local_settings(tmp_path)) as c:
        await _farm(c)
        assert (await c.put("/api/v1/fertility/labs/county-lab/mapping", json=MAPPING)).status_code == 200
        post = lambda data: c.post("/api/v1/fertility/labs/county-lab/import", content=data,  # noqa: E731
                                   headers={"Content-Type": "text/csv"})
        r = await post(CSV.encode())
        assert r.status_code == 200, r.text
        out = r.json()
        assert out["imported"] == 2 and out["rejected_rows"] == 3 and out["duplicates"] == 0
        cells = {(e["row"], e["column"]): (e["value"], e["reason"]) for e in out["errors"]}
        assert set(cells) == {(3, "有机质(%)"), (4, "地块"), (5, "深度"), (5, "采样日期")}
        assert cells[(3, "有机质(%)")] == ("abc", "not a number")
        assert cells[(4, "地块")][1] == "no zone with this id in the registry"
        assert cells[(5, "采样日期")][1].startswith("not a date")
        samples = (await c.get("/api/v1/zones/z1/soil-samples")).json()
        assert [(s["lab_sample_id"], s["source"]) for s in samples] == [("S1", "csv:county-lab:row 2"),
                                                                          ("S5", "csv:county-lab:row 6")]
        assert samples[0]["results"]["organic_matter_g_kg"] == 18.0
        again = (await post(CSV.encode("gb18030"))).json()  # what Chinese spreadsheet software writes
        assert again["imported"] == 0 and again["duplicates"] == 2


async def test_an_import_whose_header_lacks_a_mapped_column_names_it(tmp_path):
    """A CSV without the mapped 速效钾 column imports nothing and names the column at row 1."""
    async with running_app(local_settings(tmp_path)) as c:
        await _farm(c)
        await c.put("/api/v1/fertility/labs/county-lab/mapping", json=MAPPING)
        data = "\n".join(",".join(line.split(",")[:-1]) for line in CSV.splitlines()).encode()
        out = (await c.post("/api/v1/fertility/labs/county-lab/import", content=data,
                            headers={"Content-Type": "text/csv"})).json()
        assert out["imported"] == 0 and out["errors"][0]["row"] == 1 and out["errors"][0]["column"] == "速效钾"
        unknown = await c.post("/api/v1/fertility/labs/other/import", content=CSV.encode(),
                               headers={"Content-Type": "text/csv"})
        assert unknown.status_code == 404 and problem(unknown)["field"] == "lab"


async def test_soil_map_places_each_located_sample_against_the_boundary(tmp_path):
    """The map gives the zone's boundary and each located sample's value, inside or not."""
    async with running_app(local_settings(tmp_path)) as c:
        await _farm(c)
        for sid, lon, p in (("A", -0.8800, 12.0), ("B", -0.8700, 20.0)):
            await c.post("/api/v1/zones/z1/soil-samples", json={
                "sampled_on": "2026-03-10", "lab": "l", "lab_sample_id": sid, "lat": 41.651, "lon": lon,
                "results": {"olsen_p_mg_kg": {"value": p}}})
        m = (await c.get("/api/v1/zones/z1/soil-map", params={"result": "olsen_p_mg_kg"})).json()
        assert m["boundary"]["type"] == "Polygon" and m["unit"] == "mg/kg"
        assert [(p["value"], p["inside"]) for p in m["points"]] == [(12.0, True), (20.0, False)]
        bad = await c.get("/api/v1/zones/z1/soil-map", params={"result": "gold"})
        assert bad.status_code == 422 and problem(bad)["field"] == "result"


async def _recommendable(c) -> None:
    await _farm(c)
    for p in ({"id": "urea", "name": "Urea 46-0-0", "n_pct": 46, "p2o5_pct": 0, "k2o_pct": 0, "price_per_kg": 2.0},
              {"id": "dap", "name": "DAP 18-46-0", "n_pct": 18, "p2o5_pct": 46, "k2o_pct": 0, "price_per_kg": 3.5},
              {"id": "kcl", "name": "KCl 0-0-60", "n_pct": 0, "p2o5_pct": 0, "k2o_pct": 60, "price_per_kg": 3.0}):
        r = await c.put(f"/api/v1/fertility/sites/s1/products/{p['id']}", json=p)
        assert r.status_code == 200, r.text
    r = await c.put("/api/v1/fertility/sites/s1/coefficients/maize", json={
        "correction": {"N": 0.6, "P2O5": 0.5, "K2O": 0.4}, "topdress_share": {"N": 0.4}, "topdress_at": 40,
        "note": "county trials"})
    assert r.status_code == 200, r.text
    for sid, n, p, k in (("A", 76, 14, 110), ("B", 84, 16, 130)):
        await c.post("/api/v1/zones/z1/soil-samples", json={
            "sampled_on": "2026-03-10", "lab": "l", "lab_sample_id": sid,
            "results": {"alkali_n_mg_kg": {"value": n}, "olsen_p_mg_kg": {"value": p},
                        "available_k_mg_kg": {"value": k}}})


async def test_coefficients_show_each_source_and_what_is_not_confirmed(tmp_path):
    """Built-in maize uptake cites its table, the farm's correction names who entered it, peanut's efficiency
    is null and says to enter it."""
    async with running_app(local_settings(tmp_path)) as c:
        await _recommendable(c)
        maize = (await c.get("/api/v1/fertility/sites/s1/coefficients/maize")).json()
        assert maize["uptake_per_kg"]["N"] == {"value": 0.0257, "source": maize["uptake_per_kg"]["N"]["source"]}
        assert "e7feng.com" in maize["uptake_per_kg"]["N"]["source"]
        assert maize["correction"]["N"] == {"value": 0.6, "source": "entered by person:bootstrap-admin: county trials"}
        peanut = (await c.get("/api/v1/fertility/sites/s1/coefficients/peanut")).json()
        assert peanut["efficiency"]["N"]["value"] is None and "not confirmed" in peanut["efficiency"]["N"]["source"]
        none = await c.get("/api/v1/fertility/sites/s1/coefficients/sorghum")
        assert none.status_code == 409 and problem(none)["field"] == "crop"


async def test_a_recommendation_explains_itself_and_is_stored(tmp_path):
    """Maize 9000 kg/ha on the mean of two samples (alkali N 80, Olsen P 15, K 120): N = (9000 x 0.0257 -
    80 x 2.25 x 0.6)/0.275 = 448.36 kg/ha by hand; the least-cost mix, N split 60/40 into basal and top-dress;
    inputs name the samples and the balance's absence; the text names each product by its name, not its id."""
    async with running_app(local_settings(tmp_path)) as c:
        await _recommendable(c)
        r = await c.post("/api/v1/zones/z1/fertility/recommend", json={"season": "2026", "target_yield_kg_ha": 9000})
        assert r.status_code == 201, r.text
        rec = r.json()
        need = {n["nutrient"]: n for n in rec["needs"]}
        assert need["N"]["rate_kg_ha"] == pytest.approx((9000 * 0.0257 - 80 * 2.25 * 0.6) / 0.275, abs=0.01)
        assert need["P2O5"]["rate_kg_ha"] == pytest.approx((9000 * 0.0086 - 15 * 2.25 * 0.5) / 0.116, abs=0.01)
        assert rec["inputs"]["soil"]["alkali_n_mg_kg"] == 80.0 and len(rec["inputs"]["soil_tests"]["samples"]) == 2
        basal, top = rec["applications"]
        assert basal["kind"] == "basal" and basal["feasible"] and set(basal["products_kg_ha"]) == {"urea", "dap", "kcl"}
        assert top["need_kg_ha"]["N"] == pytest.approx(0.4 * need["N"]["rate_kg_ha"], abs=0.01)
        assert top["products_kg_ha"] == {"urea": pytest.approx(top["need_kg_ha"]["N"] / 0.46, abs=0.01)}
        keys = [m["key"] for m in rec["messages"]]
        assert keys[:4] == ["fert.balance", "fert.balance", "fert.balance", "fert.mix"]
        assert "fert.water-unknown" in keys
        # the text (English here, the dashboard's catalogues the rest) names products as a person reads them;
        # the mixes stay keyed by id
        assert top["text"].startswith("topdress: Urea 46-0-0 ") and "DAP 18-46-0 " in basal["text"]
        assert rec["messages"][3]["params"]["products"] == basal["text"].split(": ", 1)[1].rsplit(" for ", 1)[0]
        assert "urea " not in rec["explanation"] and "dap " not in rec["explanation"], rec["explanation"]
        listed = (await c.get("/api/v1/zones/z1/fertility/recommendations")).json()
        assert [x["id"] for x in listed] == [rec["id"]]


async def test_a_five_grade_index_table_sets_p_from_its_band(tmp_path):
    """The five-grade wheat table of 中国土壤与肥料 2013(2):72-74 (see tests/test_agro_fertility.py), entered as
    the farm's P table: the zone's mean soil P of 15 falls in 12-18 (medium), so P2O5 is that band's 90 kg/ha;
    a grade outside the five is refused naming it."""
    async with running_app(local_settings(tmp_path)) as c:
        await _recommendable(c)
        table = [[7, "very_low", 135], [12, "low", 105], [18, "medium", 90], [38, "fairly_high", 60],
                 [None, "high", 0]]
        r = await c.put("/api/v1/fertility/sites/s1/coefficients/maize", json={
            "correction": {"N": 0.6, "P2O5": 0.5, "K2O": 0.4}, "index_tables": {"P2O5": table},
            "note": "the 2013 five-grade table"})
        assert r.status_code == 200, r.text
        r = await c.post("/api/v1/zones/z1/fertility/recommend", json={"season": "2026", "target_yield_kg_ha": 9000})
        assert r.status_code == 201, r.text
        p = {n["nutrient"]: n for n in r.json()["needs"]}["P2O5"]
        assert (p["method"], p["rate_kg_ha"]) == ("abundance-deficiency index", 90)
        bad = await c.put("/api/v1/fertility/sites/s1/coefficients/maize", json={
            "index_tables": {"P2O5": [[7, "rich", 0], [None, "high", 0]]}})
        assert bad.status_code == 422 and "rich" in bad.text


async def test_applications_are_append_only_and_feed_the_season_balance(tmp_path):
    """Two applications and a harvest: the balance adds their nutrients (a half-zone application counts half),
    removal is yield x uptake; there is no route to change or delete an application."""
    async with running_app(local_settings(tmp_path)) as c:
        await _recommendable(c)
        await c.post("/api/v1/zones/z1/fertility/recommend", json={"season": "2026", "target_yield_kg_ha": 9000})
        for body in ({"product_id": "dap", "rate_kg_ha": 200, "applied_on": "2026-04-19", "method": "broadcast"},
                     {"product_id": "urea", "rate_kg_ha": 200, "area_ha": 1.0, "applied_on": "2026-06-01",
                      "method": "side-dress"}):
            r = await c.post("/api/v1/zones/z1/fertility/applications", json={"season": "2026", **body})
            assert r.status_code == 201, r.text
        apps = (await c.get("/api/v1/zones/z1/fertility/applications", params={"season": "2026"})).json()
        assert apps[0]["nutrients_kg_ha"] == {"N": 36.0, "P2O5": 92.0, "K2O": 0.0} and apps[1]["area_ha"] == 1.0
        assert (await c.delete(f"/api/v1/zones/z1/fertility/applications/{apps[0]['id']}")).status_code in (404, 405)
        await c.post("/api/v1/zones/z1/fertility/harvests", json={"season": "2026", "yield_kg_ha": 8000,
                                                                   "harvested_on": "2026-09-20"})
        b = (await c.get("/api/v1/zones/z1/fertility/balance", params={"season": "2026"})).json()
        n = b["nutrients"]["N"]
        assert n["applied_kg_ha"] == pytest.approx(36 + 92 / 2)
        assert n["removed_kg_ha"] == pytest.approx(8000 * 0.0257) and n["surplus_kg_ha"] == pytest.approx(82 - 205.6)
        assert n["recommended_kg_ha"] == pytest.approx(448.36, abs=0.01)
        unknown = await c.post("/api/v1/zones/z1/fertility/applications", json={
            "season": "2026", "product_id": "nope", "rate_kg_ha": 1, "applied_on": "2026-06-01", "method": "band"})
        assert unknown.status_code == 404 and problem(unknown)["field"] == "product_id"


async def test_a_recommendation_without_soil_tests_is_a_named_conflict(tmp_path):
    """No soil test for the zone: 409 naming the zone and what to do."""
    async with running_app(local_settings(tmp_path)) as c:
        await _farm(c)
        r = await c.post("/api/v1/zones/z1/fertility/recommend", json={"season": "2026", "target_yield_kg_ha": 9000})
        assert r.status_code == 409 and "soil test" in problem(r)["reason"]


@pytest.mark.postgres
async def test_the_fertility_migration_and_an_import_on_postgresql(tmp_path, pg_database):
    """On PostgreSQL migration 0014 makes the fertility tables; a lab CSV imports there as on SQLite, its
    re-import hitting the (zone, lab, sample id) uniqueness as duplicates, and a recommendation is stored."""
    async with running_app(local_settings(tmp_path, database_url=pg_database)) as c:
        engine = create_engine(pg_database)
        try:
            assert current(engine) == head()
            assert {"soil_samples", "lab_mappings", "fertility_coefficients", "fertiliser_products",
                    "fertiliser_recommendations", "fertiliser_applications", "harvests"} <= set(
                        inspect(engine).get_table_names())
        finally:
            engine.dispose()
        await _recommendable(c)
        assert (await c.put("/api/v1/fertility/labs/county-lab/mapping", json=MAPPING)).status_code == 200
        post = lambda: c.post("/api/v1/fertility/labs/county-lab/import", content=CSV.encode(),  # noqa: E731
                              headers={"Content-Type": "text/csv"})
        assert (await post()).json()["imported"] == 2
        assert (await post()).json()["duplicates"] == 2
        r = await c.post("/api/v1/zones/z1/fertility/recommend", json={"season": "2026", "target_yield_kg_ha": 9000})
        assert r.status_code == 201, r.text
        assert len(r.json()["inputs"]["soil_tests"]["samples"]) == 4  # two entered, two imported


async def test_a_waterlogged_root_zone_holds_the_top_dress_from_the_zone_balance(tmp_path):
    """A soil probe reading 40 % through the day before (field capacity 31 %) makes yesterday's balance show
    water above field capacity; the recommendation reads it and holds the top-dress, and names the day."""
    now = int(datetime(2026, 6, 5, 12, tzinfo=UTC).timestamp() * 1000)  # day 47 of the crop planted 2026-04-20
    async with running_app(local_settings(tmp_path), clock=lambda: now) as c:
        await _recommendable(c)
        for node in ({"id": "soil-01", "role": "soil", "zone_id": "z1", "depths_cm": [10]},
                     {"id": "wx-01", "role": "weather", "zone_id": "z1", "lat": 41.65, "lon": -0.88}):
            r = await c.post("/api/v1/registry/nodes", json=node)
            assert r.status_code == 201, r.text
        yesterday = now - 12 * HOUR - DAY
        ups = [soil_uplink(seq=i + 1, ts_ms=yesterday + i * HOUR, vwc=40.0) for i in range(24)]
        # a day of hourly air temperatures from 14 °C at 04:00 to 29 °C at 16:00: ET0 by Hargreaves
        ups += [make_uplink("wx-01", "weather", h + 1, yesterday + h * HOUR,
                            [make_reading("air_temp_c", round(21.5 - 7.5 * math.cos(2 * math.pi * (h - 4) / 24), 2))],
                            "0.1.0") for h in range(24)]
        r = await c.post("/api/v1/ingest/batch", json=batch_of([item(u) for u in ups]))
        assert r.status_code == 200 and not r.json()["rejected"], r.text
        rec = (await c.post("/api/v1/zones/z1/fertility/recommend",
                            json={"season": "2026", "target_yield_kg_ha": 9000})).json()
        water = rec["inputs"]["water"]
        assert water["state"] == "waterlogged" and water["excess_mm"] > 0, str(water)
        top = rec["applications"][1]
        assert top["kind"] == "topdress" and top["held"] == "waterlogged"
        assert "fert.hold-wet" in [m["key"] for m in rec["messages"]]
        assert water["progress"] == 47 and top["due"] is True  # past the farm's 40 days: due, but held
