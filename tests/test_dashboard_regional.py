"""The regional page (views/regional.js) in a real browser (Playwright, Debian's Chromium) against a running cloud
service: the test region of tests/test_regional.py (8 sharing farms, a one-farm county, a lone wheat farm, pest
alerts) added to the dashboard tests' service; a regional user lands on it, sees every cell the API gives with
its figures and pest pressure, withheld cells as withheld with the reason and no figure, drills down to a county,
publishes an open dataset and withdraws it (its file then answers 410); in Simplified Chinese and English."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from playwright.sync_api import Page, expect

from furrow.cloud import Settings
from furrow.cloud._time import now_ms
from furrow.cloud.auth import Role
from furrow.cloud.auth.tokens import TokenStore
from furrow.cloud.db import AlertRow, Database
from furrow.cloud.registry import FIELDS, SITES, ZONES, Registry
from furrow.cloud.registry.models import FieldIn, SiteIn, ZoneIn
from furrow.cloud.tenancy.organisations import OrganisationNew, create_organisation
from furrow.edge.batch import make_batch
from furrow.edge.payload import make_reading, make_uplink
from tests.cloud_support import item, soil_uplink
from tests.dashboard_support import SECRET_KEY, Farm, new_page, screenshot
from tests.test_cloud_planning import CROP, HOUR, _hour
from tests.test_dashboard_i18n import COLLECT, chinese_in, data_of, missing_keys, untranslated
from tests.test_regional import AREA, DAY_MS, ESTIMATED, FARMS, PEST_ALERTS

BUREAU = "bureau-rg"


async def _build(farm: Farm) -> str:
    """The test region's organisations, sites, fields and zones (ids rg-*), its pest alerts, and a regional
    user for province 65, written to the running service's database; returns the user's token."""
    settings = Settings(data_dir=farm.data_dir, secret_key=SECRET_KEY)
    db = Database(settings.resolved_database_url())
    registry = Registry(db)
    now = now_ms()
    try:
        for f, (region, crop) in FARMS.items():
            org = f"org-rg-{f}"
            body = OrganisationNew(id=org, name=f"Farm rg-{f}", region=region, shares_regional=True)
            await db.run(lambda s, b=body: create_organisation(s, b))
            await registry.create(SITES, SiteIn(id=f"rg-{f}-s", name=f"rg-{f}"), org)
            await registry.create(FIELDS, FieldIn(id=f"rg-{f}-f", site_id=f"rg-{f}-s", name=f"rg-{f}"), org)
            await registry.create(ZONES, ZoneIn(
                id=f"rg-{f}-z", field_id=f"rg-{f}-f", name=f"rg-{f}", area_ha=AREA[f], soil_texture="loam",
                field_capacity_pct=31, wilting_point_pct=14, root_depth_cm=60, crop=crop, precip_rate_mm_h=5), org)

        def pests(s) -> None:  # noqa: ANN001
            for f, days in PEST_ALERTS.items():
                if f in FARMS:
                    resolved = None if days is None else now - days * DAY_MS
                    s.add(AlertRow(kind="pest-species", subject=f"rg-{f}-z/codling-moth", zone=f"rg-{f}-z",
                                   severity=2, message="codling moth over threshold", evidence={},
                                   first_ms=now - 20 * DAY_MS, last_ms=resolved or now, resolved_ms=resolved))
        await db.run(pests)
        return (await TokenStore(db, settings.token_key()).issue(BUREAU, Role.REGIONAL, 1, region="65")).token
    finally:
        db.dispose()


@pytest.fixture(scope="module")
def farm(dashboard_farm):
    """The dashboard tests' service with the test region in it (in a thread: Playwright's sync API keeps an
    event loop running in this one)."""
    if "regional" not in dashboard_farm.tokens:
        with ThreadPoolExecutor(1) as pool:
            dashboard_farm.tokens["regional"] = pool.submit(asyncio.run, _build(dashboard_farm)).result()
        dashboard_farm.user_of["regional"] = BUREAU
    return dashboard_farm


def _login(page: Page, farm: Farm) -> None:
    """Log in with the regional user's token: the regional page is where it lands."""
    page.goto(f"{farm.url}/")
    page.fill("input[name=token]", farm.tokens["regional"])
    page.get_by_test_id("token-login").click()
    expect(page.get_by_test_id("who")).to_contain_text(f"{BUREAU} ·")
    expect(page.locator("[data-view=regional][data-rendered='1']")).to_be_visible()


def _check_cells(page: Page, farm: Farm, region: str, words: dict) -> dict:
    """Every cell the API gives for the region is a row: a withheld one with its reason and no figure, a
    published one with its farms and pest pressure."""
    with httpx.Client(base_url=f"{farm.url}/api/v1", headers={"Authorization": f"Bearer {farm.tokens['regional']}"},
                      timeout=60) as c:
        view = c.get("/regional", params={"season": "2026", "region": region}).json()
    rows = page.get_by_test_id("regional-cells").locator("tbody tr")
    expect(rows).to_have_count(len(view["cells"]))
    for cell in view["cells"]:
        row = page.locator(f"tr[data-region='{cell['region']}'][data-crop='{cell['crop']}']")
        if cell["withheld"]:
            expect(row).to_have_attribute("data-withheld", cell["withheld"])
            expect(row).to_contain_text(words[cell["withheld"]])
            expect(row.locator("[data-figure]")).to_have_count(0)
        else:
            expect(row.locator("td").nth(2)).to_have_text(str(cell["farms"]))
            expect(row.locator("[data-figure=pest]")).to_have_text(words["pest"].format(**cell))
    return view


ZH_TYPED = ("新疆 2026 年作物与用水", "一个农场退出了项目")  # what the zh-CN test types: data, in English too


@pytest.mark.parametrize(("locale", "words"), [
    ("zh-CN", {"small_group": "不予显示：农场数少于 3", "complementary": "不予显示：若显示",
               "pest": "{farms} 个农场中 {pest_farms_over:.0f} 个（{pest_zones_over:.0f} 个灌区）",
               "published": "已发布。",
               "title": ZH_TYPED[0], "reason": ZH_TYPED[1]}),
    ("en-GB", {"small_group": "Withheld: fewer than 3 farms", "complementary": "Withheld: with it, a smaller group",
               "pest": "{pest_farms_over:.0f} of {farms} farms ({pest_zones_over:.0f} zones)",
               "published": "Published.", "title": "Crops and water 2026", "reason": "a farm left the programme"})])
def test_the_regional_page_shows_the_suppressed_table_and_publishes_and_withdraws_a_dataset(
        farm, dashboard_browser, locale, words):
    """The regional user lands on the page; each cell of province 65 and of city 65/01 as the API gives it
    (withheld ones with the reason and no figure; farms and pest pressure); only the regional page in the
    menu; a dataset published with a title is listed with its three files (the CSV downloads without login),
    withdrawn with a reason it shows that and no file, and the CSV answers 410; nothing untranslated."""
    page = new_page(dashboard_browser, locale=locale)
    _login(page, farm)
    page.goto(f"{farm.url}/app/#/regional?season=2026")
    expect(page.locator("[data-view=regional][data-rendered='1']")).to_be_visible()
    view = _check_cells(page, farm, "65", words)
    assert {c["withheld"] for c in view["cells"]} >= {"small_group", None}
    assert page.locator("#nav a:visible").all_inner_texts() == [page.locator("[data-nav=regional]").inner_text()]
    # down to 65/01: its one-farm county is withheld, the three-farm one too (complementary)
    page.locator("tr[data-region='65/01'][data-crop='*'] a").click()
    expect(page.locator("tr[data-region='65/01/02'][data-crop='maize']")).to_have_attribute(
        "data-withheld", "small_group")
    _check_cells(page, farm, "65/01", words)
    expect(page.locator("tr[data-region='65/01/01'][data-crop='maize']")).to_have_attribute(
        "data-withheld", "complementary")

    page.locator("input[name=title]").fill(words["title"])
    page.get_by_test_id("publish").click()
    expect(page.get_by_test_id("dataset-status")).to_have_text(words["published"])
    row = page.get_by_test_id("dataset-list").locator("tbody tr", has_text=words["title"])
    expect(row).to_have_attribute("data-withdrawn", "0")
    csv_url = row.locator("a[data-file='data.csv']").get_attribute("href")
    assert csv_url and httpx.get(csv_url, timeout=30).status_code == 200
    expect(row.locator("a[data-file]")).to_have_count(3)
    texts = page.evaluate(COLLECT)
    assert missing_keys(page) == [] and page.errors == []
    if locale == "zh-CN":
        assert untranslated(texts, [*data_of(farm), BUREAU, words["title"], "65/01/01", "65/01/02", "65/01", "2026",
                                    "65"]) == []
        screenshot(page, "zh-regional")
    else:
        for typed in ZH_TYPED:  # the zh-CN test's dataset, listed here too
            texts = [[text.replace(typed, " "), where] for text, where in texts]
        assert chinese_in(texts) == []
        screenshot(page, "regional")

    row.locator("input[name=reason]").fill(words["reason"])
    row.get_by_test_id("withdraw").click()
    expect(row).to_have_attribute("data-withdrawn", "1")
    expect(row).to_contain_text(words["reason"])
    expect(row.locator("a[data-file]")).to_have_count(0)
    assert httpx.get(csv_url, timeout=30).status_code == 410
    assert missing_keys(page) == [] and page.errors == []
    page.context.close()


async def _estimates(farm: Farm, planted_ms: int) -> dict[str, float]:
    """As tests/test_regional.py's _estimated_zone, in the running service: rg-f0, rg-f1 and rg-f2 each get a maize
    zone planted on the day of `planted_ms` with its own weather node and probe over its three days and the
    farm's Ym; returns each zone's total_t from GET /zones/{zone}/expected-yield."""
    settings = Settings(data_dir=farm.data_dir, secret_key=SECRET_KEY)
    db = Database(settings.resolved_database_url())
    try:
        tokens = {f: (await TokenStore(db, settings.token_key()).issue(f"rg-{f}-ey", Role.ADMIN, 1,
                                                                       organisation=f"org-rg-{f}")).token
                  for f in ESTIMATED}
    finally:
        db.dispose()
    planted = time.strftime("%Y-%m-%d", time.gmtime(planted_ms / 1000))
    own = {}
    for f, (ym, vwc, area) in ESTIMATED.items():
        async with httpx.AsyncClient(base_url=f"{farm.url}/api/v1", timeout=60,
                                     headers={"Authorization": f"Bearer {tokens[f]}"}) as c:
            zone = f"rg-{f}-ey"
            for path, b in [("zones", {"id": zone, "field_id": f"rg-{f}-f", "name": zone, "area_ha": area,
                                       "soil_texture": "loam", "field_capacity_pct": 31.0, "wilting_point_pct": 14.0,
                                       "root_depth_cm": 30, "crop": "maize", "planting_date": planted,
                                       "crop_coefficients": CROP, "precip_rate_mm_h": 12.0}),
                            ("nodes", {"id": f"rg-soil-{f}", "role": "soil", "zone_id": zone, "depths_cm": [10]}),
                            ("nodes", {"id": f"rg-wx-{f}", "role": "weather", "zone_id": zone, "lat": 41.65,
                                       "lon": -0.88})]:
                r = await c.post(f"/registry/{path}", json=b)
                assert r.status_code == 201, r.text
            items, seq = [], 1
            for day in range(3):
                for h in range(24):
                    readings = [make_reading(m, v) for m, v in _hour(day, h).items()]
                    items.append(item(make_uplink(f"rg-wx-{f}", "weather", seq,
                                                  planted_ms + day * DAY_MS + h * HOUR + 1_800_000, readings,
                                                  "0.1.0")))
                    seq += 1
                items.append(item(soil_uplink(f"rg-soil-{f}", day + 1,
                                              planted_ms + day * DAY_MS + 23 * HOUR + 1_800_000, vwc)))
            r = await c.post("/ingest/batch", json=make_batch(f"rg-{f}-s", "gw-1", f"rg-ey-{f}", planted_ms, items))
            assert r.status_code == 200 and not r.json()["rejected"], r.text
            r = await c.put(f"/sites/rg-{f}-s/yield-potentials/maize", json={"ym_t_ha": ym, "source": "our best"})
            assert r.status_code == 200, r.text
            x = (await c.get(f"/zones/{zone}/expected-yield")).json()
            assert x["missing"] == [] and x["total_t"] > 0, x
            own[f] = x["total_t"]
    return own


def test_the_regional_page_shows_a_published_expected_yield(farm, dashboard_browser):
    """Three farms of county 65/01/01 with real expected yields (planted three days ago, so the season is this
    year's): the province's row shows, in the expected-yield column, the sum of their own estimates in tonnes
    (as the API publishes it, 0.1 t), in English; the county's withheld rows show no figure."""
    today_ms = int(time.time() * 1000) // DAY_MS * DAY_MS
    planted_ms = today_ms - 3 * DAY_MS
    season = time.strftime("%Y", time.gmtime(planted_ms / 1000))
    with ThreadPoolExecutor(1) as pool:
        own = pool.submit(asyncio.run, _estimates(farm, planted_ms)).result()
    with httpx.Client(base_url=f"{farm.url}/api/v1", headers={"Authorization": f"Bearer {farm.tokens['regional']}"},
                      timeout=60) as c:
        cells = {(x["region"], x["crop"]): x
                 for x in c.get("/regional", params={"season": season, "region": "65"}).json()["cells"]}
    top = cells[("65", "*")]
    assert top["expected_yield_farms"] == 3 and top["expected_yield_t"] == pytest.approx(sum(own.values()), abs=1e-3)
    page = new_page(dashboard_browser, locale="en-GB")
    _login(page, farm)
    page.goto(f"{farm.url}/app/#/regional?season={season}&region=65")
    expect(page.locator("[data-view=regional][data-rendered='1']")).to_be_visible()
    expect(page.get_by_test_id("regional-cells").locator("th", has_text="Expected yield")).to_have_count(1)
    expect(page.locator("tr[data-region='65'][data-crop='*'] [data-figure=expected_yield_t]")).to_have_text(
        f"{top['expected_yield_t']:,.1f}")
    expect(page.locator("tr[data-region='65'][data-crop='maize'] [data-figure]")).to_have_count(0)  # withheld
    assert missing_keys(page) == [] and page.errors == []
    page.context.close()
