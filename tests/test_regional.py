"""The regional view (issue 21): a test region with a small group: no published cell comes from fewer than
k farms, and no difference of published cells (a total less its published parts, over every query the
regional user can make) does either. Each farm's area is a distinct power of two, so any sum of areas
says exactly which farms it is made of."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from furrow.cloud import Settings
from furrow.cloud._time import now_ms
from furrow.cloud.auth import Role
from furrow.cloud.db import AlertRow
from furrow.cloud.regional import Withheld, suppress
from furrow.cloud.regional.service import expected_withheld
from furrow.cloud.registry import FIELDS, SITES, ZONES
from furrow.cloud.registry.models import FieldIn, SiteIn, ZoneIn
from furrow.cloud.tenancy.organisations import OrganisationNew, create_organisation
from furrow.edge.batch import make_batch
from furrow.edge.payload import make_reading, make_uplink
from tests.cloud_support import SECRET_KEY, T0, item, local_settings, problem, running_app, soil_uplink
from tests.test_cloud_planning import CROP, DAY, HOUR, JAN4_23H, _hour, _weather_farm

K = 3
# farm: (region, crop). 65/01/02 has one farm (the small group); 65/02/01 one wheat farm among maize ones.
FARMS = {"f0": ("65/01/01", "maize"), "f1": ("65/01/01", "maize"), "f2": ("65/01/01", "maize"),
         "f3": ("65/01/02", "maize"), "f4": ("65/02/01", "maize"), "f5": ("65/02/01", "maize"),
         "f6": ("65/02/01", "maize"), "f7": ("65/02/01", "wheat")}
AREA = {f: float(2 ** i) for i, f in enumerate(FARMS)}  # ha: 1, 2, 4 ... 128
DAY_MS = 86_400_000
# a species over its action threshold (a pest-species alert) at some time in the last 7 days: (farm, days since
# it resolved, None while open). f2's resolved 10 days ago: not this week. The private farm's never counts.
PEST_ALERTS = {"f0": None, "f1": 3, "f2": 10, "f4": None, "f5": 6, "f7": None, "private": None}
PEST_WEEK = {"f0", "f1", "f4", "f5", "f7"}


def farms_in(area: float) -> set[str]:
    """The farms whose areas add up to `area` (each is a distinct power of two)."""
    bits = round(area)
    assert bits == area and 0 <= bits < 2 ** len(FARMS), area
    return {f for i, f in enumerate(FARMS) if bits >> i & 1}


async def _region(c) -> str:  # noqa: ANN001
    services = c.app.state.services
    for f, (region, crop) in FARMS.items():
        body = OrganisationNew(id=f"org-{f}", name=f"Farm {f}", region=region, shares_regional=True)
        await services.db.run(lambda s, b=body: create_organisation(s, b))
        await services.registry.create(SITES, SiteIn(id=f"{f}-s", name=f), f"org-{f}")
        await services.registry.create(FIELDS, FieldIn(id=f"{f}-f", site_id=f"{f}-s", name=f), f"org-{f}")
        await services.registry.create(ZONES, ZoneIn(
            id=f"{f}-z", field_id=f"{f}-f", name=f, area_ha=AREA[f], soil_texture="loam", field_capacity_pct=31,
            wilting_point_pct=14, root_depth_cm=60, crop=crop, precip_rate_mm_h=5), f"org-{f}")
    # a farm of the region that does not share: never counted
    body = OrganisationNew(id="org-private", name="Private", region="65/01/01", shares_regional=False)
    await services.db.run(lambda s: create_organisation(s, body))
    await services.registry.create(SITES, SiteIn(id="p-s", name="p"), "org-private")
    await services.registry.create(FIELDS, FieldIn(id="p-f", site_id="p-s", name="p"), "org-private")
    await services.registry.create(ZONES, ZoneIn(
        id="p-z", field_id="p-f", name="p", area_ha=1000, soil_texture="loam", field_capacity_pct=31,
        wilting_point_pct=14, root_depth_cm=60, crop="maize", precip_rate_mm_h=5), "org-private")
    # the three farms of 65/01/01 irrigated 10 mm each: 10 mm over (1 + 2 + 4) ha = 700 m3
    for f in ("f0", "f1", "f2"):
        admin = (await services.tokens.issue(f"{f}-admin", Role.ADMIN, 1, organisation=f"org-{f}")).token
        r = await c.post("/api/v1/trace/records", headers={"Authorization": f"Bearer {admin}"}, json={
            "field": f"{f}-f", "season": "2026", "occurred_at": "2026-07-01T06:00:00Z", "zone": f"{f}-z",
            "details": {"kind": "irrigation", "water_mm": 10}})
        assert r.status_code == 201, r.text
    now = now_ms()

    def pests(s) -> None:  # noqa: ANN001
        for f, days in PEST_ALERTS.items():
            zone = "p-z" if f == "private" else f"{f}-z"
            resolved = None if days is None else now - days * DAY_MS
            s.add(AlertRow(kind="pest-species", subject=f"{zone}/codling-moth", zone=zone, severity=2,
                           message="codling moth over threshold", evidence={}, first_ms=now - 20 * DAY_MS,
                           last_ms=resolved or now, resolved_ms=resolved))
    await services.db.run(pests)
    return (await services.tokens.issue("bureau", Role.REGIONAL, 1, region="65")).token


async def test_a_small_group_is_withheld_and_cannot_be_subtracted_out(tmp_path):
    """Every query the bureau can make (each region of the tree): each published cell is made of at least
    3 farms, and each published total less its published parts (sub-regions, or crops) is made of none or
    at least 3; the lone farm of 65/01/02 and the lone wheat farm are never alone in any figure."""
    async with running_app(local_settings(tmp_path)) as c:
        bureau = {"Authorization": f"Bearer {await _region(c)}"}
        published: dict[tuple[str, str], dict] = {}
        withheld: dict[tuple[str, str], str] = {}
        for region in ("65", "65/01", "65/02", "65/01/01", "65/01/02", "65/02/01"):
            r = await c.get("/api/v1/regional", params={"region": region, "season": "2026"}, headers=bureau)
            assert r.status_code == 200, r.text
            assert r.json()["min_farms"] == K
            for cell in r.json()["cells"]:
                key = (cell["region"], cell["crop"])
                if cell["withheld"]:
                    withheld[key] = cell["withheld"]
                    assert cell["farms"] is None and cell["area_ha"] is None and cell["pest_farms_over"] is None
                else:
                    assert published.get(key, cell) == cell, "two queries gave one cell two values"
                    published[key] = cell
        assert withheld[("65/01/02", "maize")] == withheld[("65/02/01", "wheat")] == "small_group"
        assert withheld[("65/01/01", "maize")] == "complementary"  # else 65/01 less it is the lone farm
        for key, cell in published.items():
            made_of = farms_in(cell["area_ha"])
            assert len(made_of) == cell["farms"] >= K, (key, made_of)
            # pest pressure: exactly the cell's farms with a species over threshold this week (one zone each)
            assert cell["pest_farms_over"] == cell["pest_zones_over"] == len(made_of & PEST_WEEK), key
            assert "org-private" not in made_of and cell["area_ha"] < 1000
        # every total less its published parts, along the region tree and along the crops
        regions = {r for r, _ in published | withheld}
        crops = {c for _, c in published | withheld} - {"*"}
        groups = []
        for region in regions:
            children = [x for x in regions if x.rsplit("/", 1)[0] == region and "/" in x]
            groups += [((region, crop), [(x, crop) for x in children]) for crop in crops | {"*"}]
            groups.append(((region, "*"), [(region, crop) for crop in crops]))
        checked = 0
        for total, parts in groups:
            if total not in published:
                continue
            rest = published[total]["area_ha"] - sum(published[p]["area_ha"] for p in parts if p in published)
            assert len(farms_in(rest)) in (0,) or len(farms_in(rest)) >= K, (total, farms_in(rest))
            # the pest figures subtract to the same farms: none of a small group's is given away
            pests = published[total]["pest_farms_over"] - sum(
                published[p]["pest_farms_over"] for p in parts if p in published)
            assert pests == len(farms_in(rest) & PEST_WEEK), (total, pests)
            checked += 1
        assert checked >= 4
        assert published[("65", "*")]["farms"] == 8 and published[("65", "*")]["area_ha"] == 255
        assert published[("65/01", "*")]["water_m3"] == 700  # 10 mm x 7 ha x 10 m3/(mm ha)
        assert published[("65", "*")]["pest_farms_over"] == 5  # f0 f1 f4 f5 f7; not f2 (10 days), not private
        # outside the bureau's region, an unknown region, a farm's admin: no
        r = await c.get("/api/v1/regional", params={"region": "66", "season": "2026"}, headers=bureau)
        assert r.status_code == 404 and problem(r)["field"] == "region"
        r = await c.get("/api/v1/regional", params={"region": "65/09", "season": "2026"}, headers=bureau)
        assert r.status_code == 404
        assert (await c.get("/api/v1/regional", params={"season": "2026"})).status_code == 403


def test_suppression_protects_a_lone_part_from_its_total_and_needs_k_of_3_or_more(tmp_path):
    """A total of 4 farms with parts of 3 and 1: the 1 is withheld, and the 3 with it (4 - 3 = the lone
    farm); a total of 6 with parts 3, 3 publishes all. Settings refuse k below 3, naming the field."""
    a, b = frozenset({"a", "b", "c"}), frozenset({"d", "e", "f"})
    assert suppress({"T": a | {"x"}, "A": a, "X": frozenset({"x"})}, [("T", ["A", "X"])], 3) == {
        "X": "small_group", "A": "complementary"}
    assert suppress({"T": a | b, "A": a, "B": b}, [("T", ["A", "B"])], 3) == {}
    with pytest.raises(ValidationError, match="regional_min_farms"):
        Settings(data_dir=tmp_path, secret_key=SECRET_KEY, regional_min_farms=2)


async def test_expected_yield_of_one_farm_is_never_shown_though_its_cells_are(tmp_path):
    """The default organisation (z1 of tests/test_cloud_planning.py: maize planted 2026-01-01, weather and
    probes, the farm's Ym entered) has a real FAO-33 estimate in tonnes and joins county 65/01/01 with f0-f2:
    the province's cell (9 farms) is published, but as it is the only farm with an expected yield, no cell shows one,
    neither does the open dataset; the suppression over the farms with an estimate is the same function."""
    async with running_app(local_settings(tmp_path)) as c:
        await _weather_farm(c)
        r = await c.put("/api/v1/sites/s1/yield-potentials/maize", json={"ym_t_ha": 10, "source": "the farm's best"})
        assert r.status_code == 200, r.text
        r = await c.put("/api/v1/organisation", json={"name": "Home", "region": "65/01/01", "shares_regional": True})
        assert r.status_code == 200, r.text
        own = (await c.get("/api/v1/zones/z1/expected-yield")).json()
        assert own["total_t"] and own["total_t"] > 0, own  # there is a figure to give away
        bureau = {"Authorization": f"Bearer {await _region(c)}"}
        cells = []
        for region in ("65", "65/01", "65/01/01"):
            r = await c.get("/api/v1/regional", params={"region": region, "season": "2026"}, headers=bureau)
            cells += r.json()["cells"]
        (top,) = {(x["farms"], x["withheld"]) for x in cells if x["region"] == "65" and x["crop"] == "*"}
        assert top == (9, None)  # the province's cell, with the farm in it, is shown
        assert all(x["expected_yield_t"] is None and x["expected_yield_farms"] is None for x in cells)
        r = await c.post("/api/v1/regional/datasets", json={"season": "2026"}, headers=bureau)
        assert r.status_code == 201, r.text
        # the expected yield's own suppression: with the table's pattern to start from, as the service runs it
        services = c.app.state.services
        t = await services.regional.full_table("2026", K, 0)
        assert {len(v) for v in t.expected_contributors.values()} == {0, 1}
        assert all(cell in t.expected_withheld for cell, v in t.expected_contributors.items() if v)


# farm: (its own Ym, t/ha; the probes' vwc, %; the zone's area, ha): three estimates that differ
ESTIMATED = {"f0": (8.0, 16.0, 3.0), "f1": (10.0, 18.0, 5.0), "f2": (12.0, 20.0, 6.0)}


async def _admin(c, f: str) -> dict[str, str]:  # noqa: ANN001
    """The headers of an admin of farm f's organisation."""
    token = await c.app.state.services.tokens.issue(f"{f}-admin", Role.ADMIN, 1, organisation=f"org-{f}")
    return {"Authorization": f"Bearer {token.token}"}


async def _estimated_zone(c, f: str, ym: float, vwc: float, area: float) -> None:  # noqa: ANN001
    """Farm f's second zone {f}-ey: maize planted 2026-01-01 with its own weather node (hourly reports over
    2026-01-01..03, as tests/test_cloud_planning.py's wx-01) and a probe reading `vwc` at the end of each day;
    the farm enters its own Ym for maize. Its expected yield is then a real FAO-33 estimate in tonnes."""
    c.app.state.services.planning.clock = lambda: JAN4_23H
    admin = await _admin(c, f)
    for path, b in [("zones", {"id": f"{f}-ey", "field_id": f"{f}-f", "name": f"{f} ey", "area_ha": area,
                               "soil_texture": "loam", "field_capacity_pct": 31.0, "wilting_point_pct": 14.0,
                               "root_depth_cm": 30, "crop": "maize", "planting_date": "2026-01-01",
                               "crop_coefficients": CROP, "precip_rate_mm_h": 12.0}),
                    ("nodes", {"id": f"soil-{f}", "role": "soil", "zone_id": f"{f}-ey", "depths_cm": [10]}),
                    ("nodes", {"id": f"wx-{f}", "role": "weather", "zone_id": f"{f}-ey", "lat": 41.65,
                               "lon": -0.88})]:
        r = await c.post(f"/api/v1/registry/{path}", json=b, headers=admin)
        assert r.status_code == 201, r.text
    items, seq = [], 1
    for day in range(3):
        for h in range(24):
            readings = [make_reading(m, v) for m, v in _hour(day, h).items()]
            items.append(item(make_uplink(f"wx-{f}", "weather", seq, T0 + day * DAY + h * HOUR + 1_800_000,
                                          readings, "0.1.0")))
            seq += 1
        items.append(item(soil_uplink(f"soil-{f}", day + 1, T0 + day * DAY + 23 * HOUR + 1_800_000, vwc)))
    r = await c.post("/api/v1/ingest/batch", json=make_batch(f"{f}-s", "gw-1", f"ey-{f}", T0, items),
                     headers=admin)
    assert r.status_code == 200 and not r.json()["rejected"], r.text
    r = await c.put(f"/api/v1/sites/{f}-s/yield-potentials/maize", headers=admin,
                    json={"ym_t_ha": ym, "source": f"farm {f}'s best"})
    assert r.status_code == 200, r.text


async def test_a_published_expected_yield_is_the_sum_of_its_farms_own_estimates(tmp_path):
    """f0, f1 and f2 (county 65/01/01, all maize) each have a zone with a real FAO-33 estimate (their own Ym,
    weather and probes): the cells the three make up that the table shows (city 65/01 and province 65, all
    crops, and the city's maize) publish 3 farms and, as expected yield, the sum of the three zones' own total_t from
    GET /zones/{zone}/expected-yield (to 0.001 t, the API's rounding); the county's cells, withheld by the
    table, stay withheld; no published expected yield, nor a total less its published parts, counts 1 or 2
    farms; and the open dataset's own check accepts the table."""
    async with running_app(local_settings(tmp_path)) as c:
        bureau = {"Authorization": f"Bearer {await _region(c)}"}
        own = {}
        for f, (ym, vwc, area) in ESTIMATED.items():
            await _estimated_zone(c, f, ym, vwc, area)
            r = await c.get(f"/api/v1/zones/{f}-ey/expected-yield", headers=await _admin(c, f))
            assert r.status_code == 200, r.text
            x = r.json()
            assert x["missing"] == [] and x["total_t"] > 0 and x["ym_t_ha"] == ym, x
            assert x["total_t"] == pytest.approx(area * x["ya_t_ha"], abs=2e-3)
            own[f] = x["total_t"]
        assert len(set(own.values())) == 3, own  # three different figures: the sum says they were all added
        cells = {}
        for region in ("65", "65/01", "65/02", "65/01/01", "65/01/02", "65/02/01"):
            r = await c.get("/api/v1/regional", params={"region": region, "season": "2026"}, headers=bureau)
            assert r.status_code == 200, r.text
            cells |= {(x["region"], x["crop"]): x for x in r.json()["cells"]}
        total = sum(own.values())
        for key in (("65", "*"), ("65/01", "*"), ("65/01", "maize")):
            assert cells[key]["withheld"] is None, key
            assert cells[key]["expected_yield_farms"] == 3, (key, cells[key])
            assert cells[key]["expected_yield_t"] == pytest.approx(total, abs=1e-3), (key, cells[key], own)
        # cells the table withholds (65 less its maize would be the lone wheat farm) hide their expected yield
        for key in (("65", "maize"), ("65/01/01", "maize"), ("65/01/01", "*")):
            assert cells[key]["withheld"] and cells[key]["expected_yield_t"] is None, key
        for key in (("65/02", "*"), ("65/02/01", "*"), ("65/01/02", "maize")):
            assert cells[key]["expected_yield_t"] is None and cells[key]["expected_yield_farms"] is None, key
        # suppression over the farms with an estimate: every published figure counts 0 or >= 3 of them, and so
        # does every published total less its published parts (sub-regions, or crops)
        shown = {k: x["expected_yield_farms"] or 0 for k, x in cells.items() if x["expected_yield_t"] is not None}
        assert all(n >= K for n in shown.values()), shown
        regions = {r for r, _ in cells}
        crops = {cr for _, cr in cells} - {"*"}
        for (region, crop), n in shown.items():
            children = [x for x in regions if x.rsplit("/", 1)[0] == region and "/" in x]
            for parts in ([(x, crop) for x in children], [(region, cr) for cr in crops] if crop == "*" else []):
                rest = n - sum(shown.get(p, 0) for p in parts)
                assert rest == 0 or rest >= K, ((region, crop), parts, rest)
        r = await c.post("/api/v1/regional/datasets", json={"season": "2026"}, headers=bureau)
        assert r.status_code == 201, r.text


def test_expected_yield_is_withheld_where_too_few_farms_have_one_or_a_difference_shows_them():
    """A total of 6 farms whose parts of 3 and 3 are all published: when only a, b, c and d have an expected
    yield, the part with d alone is withheld for it (small group) and so is the other (the total less it is
    d); with a, b, c only, the total and that part publish the same 3 farms' sum and nothing is withheld."""
    a, b = frozenset("abc"), frozenset("def")
    groups = [("T", ["A", "B"])]
    assert suppress({"T": a | b, "A": a, "B": b}, groups, 3) == {}
    assert expected_withheld({"T": a | {"d"}, "A": a, "B": frozenset("d")}, groups, 3, {}) == {
        "B": Withheld.SMALL, "A": Withheld.COMPLEMENT}
    assert expected_withheld({"T": a, "A": a, "B": frozenset()}, groups, 3, {}) == {}
    # a cell the table withholds stays withheld for its expected yield too
    assert expected_withheld({"T": a, "A": a, "B": frozenset()}, groups, 3, {"A": Withheld.COMPLEMENT}) == {
        "A": Withheld.COMPLEMENT}


async def test_water_of_one_farm_is_withheld_though_its_cells_are_shown(tmp_path):
    """f4 alone irrigates in 65/02 (10 mm over 16 ha, 1,600 m3; water is 100 m3 per ha here, so each water sum
    says which farms made it): its cells are shown, their water is not, nor may any published water figure, or
    a total less its published parts, be made of 1 or 2 farms (65/01's water would be the province's less f4's)."""
    async with running_app(local_settings(tmp_path)) as c:
        bureau = {"Authorization": f"Bearer {await _region(c)}"}
        services = c.app.state.services
        admin = (await services.tokens.issue("f4-admin", Role.ADMIN, 1, organisation="org-f4")).token
        r = await c.post("/api/v1/trace/records", headers={"Authorization": f"Bearer {admin}"}, json={
            "field": "f4-f", "season": "2026", "occurred_at": "2026-07-01T06:00:00Z", "zone": "f4-z",
            "details": {"kind": "irrigation", "water_mm": 10}})
        assert r.status_code == 201, r.text
        cells = {}
        for region in ("65", "65/01", "65/02", "65/01/01", "65/02/01"):
            r = await c.get("/api/v1/regional", params={"region": region, "season": "2026"}, headers=bureau)
            cells |= {(x["region"], x["crop"]): x for x in r.json()["cells"]}
        assert cells[("65/02", "*")]["farms"] == 4 and cells[("65/02", "*")]["water_m3"] is None
        water = {k: x["water_m3"] for k, x in cells.items() if x["water_m3"] is not None}
        assert water[("65", "*")] == 2300  # f0, f1, f2 and f4: 100 x (1 + 2 + 4 + 16)
        for key, w in water.items():
            assert len(farms_in(w / 100)) in (0,) or len(farms_in(w / 100)) >= K, (key, farms_in(w / 100))
        regions = {r for r, _ in cells}
        crops = {c for _, c in cells} - {"*"}
        for total, w in water.items():
            region, crop = total
            children = [x for x in regions if x.rsplit("/", 1)[0] == region and "/" in x]
            for parts in ([(x, crop) for x in children], [(region, c) for c in crops] if crop == "*" else []):
                rest = farms_in((w - sum(water.get(p, 0) for p in parts)) / 100)
                assert len(rest) == 0 or len(rest) >= K, (total, parts, rest)
        # the open dataset holds the same, and its check agrees
        r = await c.post("/api/v1/regional/datasets", json={"season": "2026"}, headers=bureau)
        assert r.status_code == 201, r.text
