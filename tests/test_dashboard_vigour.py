"""The zone page's crop vigour in a real browser (Playwright, Debian's Chromium) against a running cloud service:
measured cover against the expected curve, NDVI from a raster and from the zone's sensor, and the flag of a
zone lagging its neighbours, in English and in Simplified Chinese."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import expect

from furrow.edge.batch import make_batch, make_item
from furrow.edge.payload import make_reading, make_uplink
from tests.dashboard_support import Farm, login_with_token, new_page, screenshot

DAY_MS = 86_400_000
CROP = {"l_ini": 15, "l_dev": 25, "l_mid": 40, "l_late": 20, "kc_ini": 0.3, "kc_mid": 1.2, "kc_end": 0.35,
        "height_m": 2.0}


@pytest.fixture(scope="module")
def farm(tmp_path_factory):
    """A cloud service with three maize zones of one field planted 45 days ago (mid-season: 80 % expected):
    covers measured over the last weeks, z-a's well behind; NDVI from z-a's weather node."""
    f = Farm(tmp_path_factory.mktemp("vigour-dashboard"))
    f.start()
    try:
        now = int(time.time() * 1000)
        planting = time.strftime("%Y-%m-%d", time.gmtime((now - 45 * DAY_MS) / 1000))
        with f.client() as c:
            for path, body in [("/registry/sites", {"id": "farm", "name": "Farm", "timezone": "UTC"}),
                               ("/registry/fields", {"id": "f1", "site_id": "farm", "name": "Field 1"})]:
                assert c.post(path, json=body).status_code == 201
            for zid in ("z-a", "z-b", "z-c"):
                r = c.post("/registry/zones", json={
                    "id": zid, "field_id": "f1", "name": f"Zone {zid[-1].upper()}", "area_ha": 4,
                    "soil_texture": "loam",
                    "field_capacity_pct": 31, "wilting_point_pct": 14, "root_depth_cm": 60, "crop": "maize",
                    "planting_date": planting, "precip_rate_mm_h": 5, "crop_coefficients": CROP})
                assert r.status_code == 201, r.text
            assert c.post("/registry/nodes", json={"id": "wx-01", "role": "weather", "zone_id": "z-a",
                                                   "lat": 41.65, "lon": -0.88}).status_code == 201
            for days_ago, covers in ((20, (25, 38, 40)), (10, (35, 62, 65)), (2, (40, 76, 78))):
                for zid, pct in zip(("z-a", "z-b", "z-c"), covers, strict=True):
                    r = c.post(f"/zones/{zid}/cover", json={"cover_pct": pct, "at": now - days_ago * DAY_MS})
                    assert r.status_code == 201, r.text
            ups = [make_uplink("wx-01", "weather", i + 1, now - (12 - i) * DAY_MS,
                               [make_reading("ndvi", 0.3 + i / 40)], "0.1.0") for i in range(12)]
            batch = make_batch("farm", "gw-1", "gw-1-000001", now, [make_item(u, u["ts_ms"] + 500) for u in ups])
            r = c.post("/ingest/batch", json=batch)
            assert r.status_code == 200 and not r.json()["rejected"], r.text
        yield f
    finally:
        f.stop()


@pytest.fixture(scope="module")
def browser(dashboard_browser):
    return dashboard_browser


@pytest.mark.parametrize(("locale", "title", "flag"), [("en-GB", "Crop vigour", "Lagging its neighbours"),
                                                       ("zh-CN", "作物长势", "长势落后于相邻地块")])
def test_the_zone_page_plots_cover_and_ndvi_and_flags_a_lagging_zone(farm, browser, locale, title, flag):
    """Zone A's page draws its measured cover against the expected curve and its NDVI, and says it lags its
    neighbours (40 % is half the expected 80 %, theirs about 0.96); zone B's says it keeps up."""
    page = new_page(browser, locale=locale)
    login_with_token(page, farm, "admin")
    page.goto(f"{farm.url}/#/zone/z-a?days=30")
    section = page.get_by_test_id("vigour")
    expect(section).to_have_attribute("data-ready", "1")
    expect(section.locator("h3").first).to_have_text(title)
    expect(section).to_have_attribute("data-lagging", "1")
    expect(section.locator(".notice.warn")).to_contain_text(flag)
    expect(section).to_have_attribute("data-cover", "3")
    expect(section).to_have_attribute("data-sensor", "12")
    expect(page.get_by_test_id("cover-chart").locator("canvas")).to_have_count(1)
    expect(page.get_by_test_id("ndvi-chart").locator("canvas")).to_have_count(1)
    assert page.errors == []
    if locale == "en-GB":
        section.scroll_into_view_if_needed()
        screenshot(page, "zone-vigour")
    page.goto(f"{farm.url}/#/zone/z-b?days=30")
    section = page.get_by_test_id("vigour")
    expect(section).to_have_attribute("data-ready", "1")
    expect(section).to_have_attribute("data-lagging", "0")
    page.context.close()
