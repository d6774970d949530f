"""The zone page's pest forecast in a real browser (Playwright, Debian's Chromium) against a running cloud
service: trap photos counted, the biofix, the coming stages dated from the weather node, and the catch
against the species' cited threshold, in English and in Simplified Chinese."""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from furrow.cloud.agronomy.species import SHIPPED
from furrow.edge.batch import make_batch, make_item
from furrow.edge.image_forward import encode_image, make_image_header
from furrow.edge.payload import make_reading, make_uplink
from tests.dashboard_support import Farm, login_with_token, new_page, screenshot
from tests.test_dashboard_catalogues import catalogue
from tests.test_pest_service import ZONE, card_photo, hour_temp

HOUR, DAY = 3_600_000, 86_400_000
MOTHS = (0, 0, 1, 3, 5, 8, 8, 12)  # on the card at the photos of the last 8 days, 06:00 UTC


@pytest.fixture(scope="module")
def farm(tmp_path_factory):
    """Zone z1 with a weather node reporting every hour of the last 14 days and a trap camera whose corn
    earworm liner was photographed each of the last 8 mornings."""
    f = Farm(tmp_path_factory.mktemp("pests-dashboard"))
    f.start()
    try:
        now = int(time.time() * 1000)
        midnight = now - now % DAY
        with f.client() as c:
            for path, body in [("/registry/sites", {"id": "s1", "name": "Farm", "timezone": "UTC"}),
                               ("/registry/fields", {"id": "f1", "site_id": "s1", "name": "North"}),
                               ("/registry/zones", ZONE),
                               ("/registry/nodes", {"id": "wx-01", "role": "weather", "zone_id": "z1"}),
                               ("/registry/nodes", {"id": "cam-01", "role": "camera", "zone_id": "z1"})]:
                assert c.post(path, json=body).status_code == 201
            r = c.put("/pests/traps/cam-01/1", json={"card": "white-pheromone", "lure": "helicoverpa-zea",
                                                     "view_width_mm": 200})
            assert r.status_code == 200, r.text
            hours = [midnight - 14 * DAY + k * HOUR for k in range(14 * 24) if midnight - 14 * DAY + k * HOUR < now]
            ups = [make_uplink("wx-01", "weather", i + 1, t + 1_800_000,
                               [make_reading("air_temp_c", round(hour_temp(t % DAY // HOUR), 2))], "0.1.0")
                   for i, t in enumerate(hours) if t + 1_800_000 < now]
            batch = make_batch("s1", "gw-1", "gw-1-000001", now, [make_item(u, u["ts_ms"] + 500) for u in ups])
            r = c.post("/ingest/batch", json=batch)
            assert r.status_code == 200 and not r.json()["rejected"], r.text
            for seq, moths in enumerate(MOTHS, start=1):
                data = card_photo(moths)
                ts = midnight - (len(MOTHS) + 1 - seq) * DAY + 6 * HOUR
                header = make_image_header("s1", "gw-1", "cam-01", seq, "trap", "jpeg", ts, ts + 1000, len(data),
                                           hashlib.sha256(data).hexdigest())
                r = c.post("/ingest/image", content=encode_image(header, data))
                assert r.status_code == 200 and r.json()["status"] == "stored", r.text
        f.biofix = (datetime.fromtimestamp(midnight / 1000, UTC).date() - timedelta(days=len(MOTHS) - 2)).isoformat()
        yield f
    finally:
        f.stop()


@pytest.fixture(scope="module")
def browser(dashboard_browser):
    return dashboard_browser


@pytest.mark.parametrize(("locale", "title", "source"), [("en-GB", "Pest forecast", "Threshold from: Purdue"),
                                                         ("zh-CN", "虫情预测", "指标来源：Purdue")])
def test_the_zone_page_shows_the_pest_forecast(farm, browser, locale, title, source):
    """The zone page names the lured species, its biofix from the traps, the coming stages with dates and
    what they rest on, and the catch over the species' threshold with that threshold's source."""
    page = new_page(browser, locale=locale)
    login_with_token(page, farm, "admin")
    page.goto(f"{farm.url}/#/zone/z1")
    section = page.get_by_test_id("pest-forecast")
    expect(section).to_have_attribute("data-ready", "1")
    expect(section.locator("h3").first).to_have_text(title)
    expect(section).to_have_attribute("data-species", "1")
    block = page.get_by_test_id("pest-helicoverpa-zea")
    expect(block).to_have_attribute("data-biofix", farm.biofix)
    expect(block).to_have_attribute("data-above", "1")
    expect(block.locator("h4")).to_have_text("Helicoverpa zea")
    rows = page.get_by_test_id("pest-stages-helicoverpa-zea").locator("tbody tr")
    expect(rows.first).to_be_visible()
    assert rows.count() >= 3
    expect(block).to_contain_text(source)
    basis = {"en-GB": ("measured weather", "recent weather"), "zh-CN": ("实测天气", "近期天气")}[locale]
    assert rows.first.locator("td").nth(4).inner_text() in basis
    assert page.errors == []
    page.context.close()


def test_a_trap_photo_is_reviewed_over_its_outlines(farm, browser):
    """From the zone page's newest trap photo to its review page: the photo with the counter's 12 objects
    outlined as targets; a corrected count of 13 is saved and becomes the count shown, with its history."""
    page = new_page(browser)
    login_with_token(page, farm, "admin")
    page.goto(f"{farm.url}/#/zone/z1")
    expect(page.get_by_test_id("pest-forecast")).to_have_attribute("data-ready", "1")
    page.get_by_test_id("review-link").first.click()
    expect(page).to_have_url(f"{farm.url}/app/#/trap/cam-01/{len(MOTHS)}")
    view = page.locator("[data-view=trap]")
    expect(view).to_have_attribute("data-rendered", "1")
    expect(view).to_have_attribute("data-objects", "12")
    expect(page.get_by_test_id("outlines").locator("polygon.target")).to_have_count(12)
    expect(page.get_by_test_id("trap-reviews")).to_have_count(0)
    form = page.get_by_test_id("review-form")
    form.locator("input[name=target]").fill("13")
    form.locator("input[name=total]").fill("13")
    form.locator("input[name=note]").fill("one under the lid")
    form.get_by_role("button").click()
    expect(view).to_have_attribute("data-target", "13")
    expect(page.get_by_test_id("trap-reviews").locator("tbody tr")).to_have_count(1)
    expect(page.get_by_test_id("trap-reviews")).to_contain_text("12 → 13")
    expect(page.get_by_test_id("trap-summary")).to_contain_text("bootstrap-admin")
    screenshot(page, "trap-review")
    assert page.errors == []
    page.context.close()


@pytest.mark.parametrize(("locale", "words"), [("en-GB", "per trap per night (action threshold 1)"),
                                               ("zh-CN", "每诱捕器每晚")])
def test_the_overview_shows_pest_pressure_per_zone(farm, browser, locale, words):
    """The farm overview's tile of zone z1 names its lured species and the catch against that species' own
    action threshold, marked as over it."""
    page = new_page(browser, locale=locale)
    login_with_token(page, farm, "admin")
    page.goto(f"{farm.url}/#/")
    line = page.locator('[data-zone="z1"]').get_by_test_id("pest-pressure-helicoverpa-zea")
    expect(line).to_have_attribute("data-above", "1")
    expect(line).to_contain_text("Helicoverpa zea")
    expect(line).to_contain_text(words)
    assert page.errors == []
    page.context.close()


def test_every_shipped_stage_has_its_words_in_the_catalogues():
    """The zone page translates the shipped species' stage names: each has its text in both languages."""
    names = {s.name for sp in SHIPPED if sp.development for s in sp.development.stages}
    for locale in ("en", "zh-CN"):
        assert sorted(n for n in names if f"pest-stage.{n}" not in catalogue(locale)) == [], locale


def test_every_shipped_threshold_crop_has_its_words_in_the_catalogues():
    """The zone page names the crops a shipped threshold was set for (sweet corn, potato, tomato) in the
    reader's language: each has its text in both languages."""
    crops = {c for sp in SHIPPED for a in sp.actions or () for c in a.crops or ()}
    assert {"sweet corn", "potato", "tomato"} <= crops
    for locale in ("en", "zh-CN"):
        assert sorted(c for c in crops if f"crop.{c}" not in catalogue(locale)) == [], locale


@pytest.mark.parametrize(("locale", "basis", "words", "other"), [
    ("en-GB", "climate normals", "imported climate normals", "set for tomato; this zone grows maize"),
    ("zh-CN", "气候常年值", "导入的气候常年值", "针对番茄制定；本地块种植玉米")])
def test_stages_after_the_forecast_show_the_normals_and_their_range(farm, browser, locale, basis, words, other):
    """With normals imported for the site (standard deviations given), the zone page dates the stages after
    the weather it has from them, each with the range one standard deviation warmer or cooler gives, and
    names the normals' source. With the species' threshold entered as a tomato one, the maize zone's page
    says the catch is compared with another crop's threshold."""
    rows_csv = "\n".join(["doy,tmax_c,tmin_c,tmax_sd_c,tmin_sd_c"] + [f"{d},29.0,17.0,2.5,2.0" for d in range(1, 366)])
    with farm.client() as c:
        r = c.put("/sites/s1/normals", params={"source": "CMA 1991-2020 daily normals, station 54511"},
                  content=rows_csv.encode(), headers={"content-type": "text/csv"})
        assert r.status_code == 200, r.text
        sp = c.get("/pests/species/helicoverpa-zea").json()
        sp["actions"][0]["crops"] = ["tomato"]
        assert c.put("/pests/species/helicoverpa-zea", json=sp).status_code == 200
    try:
        page = new_page(browser, locale=locale)
        login_with_token(page, farm, "admin")
        page.goto(f"{farm.url}/#/zone/z1")
        expect(page.get_by_test_id("pest-forecast")).to_have_attribute("data-ready", "1")
        note = page.get_by_test_id("pest-beyond-helicoverpa-zea")
        expect(note).to_have_attribute("data-beyond", "normals")
        expect(note).to_contain_text(words)
        expect(note.locator("cite")).to_have_text("CMA 1991-2020 daily normals, station 54511")
        rows = page.get_by_test_id("pest-stages-helicoverpa-zea").locator("tbody tr")
        expect(rows.first).to_be_visible()
        normal = [rows.nth(k) for k in range(rows.count()) if rows.nth(k).locator("td").nth(4).inner_text() == basis]
        assert normal, "no stage dated from the normals"
        cell = normal[0].locator("td").nth(3)
        early, late = cell.get_attribute("data-early"), cell.get_attribute("data-late")
        assert early and late and early in cell.inner_text() and late in cell.inner_text()
        expect(page.get_by_test_id("threshold-other-crop")).to_contain_text(other)
        assert page.errors == []
        page.context.close()
    finally:
        with farm.client() as c:
            assert c.delete("/sites/s1/normals").status_code == 204
            assert c.delete("/pests/species/helicoverpa-zea").status_code == 204


def _corn_borer_zone(farm) -> None:
    """Zone z2 of field f1 with pest node pest-02, its counter channel 1 lured for the European corn borer:
    2 moths a night on each of the last 5 mornings (10 a week). Made once for both locales."""
    now = int(time.time() * 1000)
    midnight = now - now % DAY
    with farm.client() as c:
        if c.get("/registry/zones/z2").status_code == 200:
            return
        for path, body in [("/registry/zones", {**ZONE, "id": "z2", "crop": "sweet corn"}),
                           ("/registry/nodes", {"id": "pest-02", "role": "pest", "zone_id": "z2"})]:
            assert c.post(path, json=body).status_code == 201
        r = c.put("/pests/traps/pest-02/1", json={"card": "white-pheromone", "lure": "ostrinia-nubilalis"})
        assert r.status_code == 200, r.text
        ups = [make_uplink("pest-02", "pest", d + 1, midnight - d * DAY + 6 * HOUR,
                           [make_reading("trap_count", 2, channel=1)], "0.1.0") for d in range(5)
               if midnight - d * DAY + 6 * HOUR < now]
        batch = make_batch("s1", "gw-1", "gw-1-pest02", now, [make_item(u, u["ts_ms"] + 500) for u in ups])
        r = c.post("/ingest/batch", json=batch)
        assert r.status_code == 200 and not r.json()["rejected"], r.text


@pytest.mark.parametrize(("locale", "own", "both"), [
    ("en-GB", ["action threshold 5)", "threshold for sweet corn"],
     ["60 per trap per week for potato", "5 per trap per week for sweet corn", "none for maize"]),
    ("zh-CN", ["防治指标 5）", "针对甜玉米"],
     ["马铃薯每个诱捕器每周 60 头", "甜玉米每个诱捕器每周 5 头", "没有针对本地块种植的玉米"])])
def test_the_zone_page_shows_the_corn_borer_threshold_of_its_crop(farm, browser, locale, own, both):
    """A sweet corn zone's page holds the European corn borer to its sweet corn threshold (5 a week, Highmoor
    Farm) and says it is the crop's; the same zone growing maize names both thresholds and their crops
    (potato 60, sweet corn 5) and that none is maize's: the catch is compared with the first, 60."""
    _corn_borer_zone(farm)
    page = new_page(browser, locale=locale)
    login_with_token(page, farm, "admin")
    try:
        page.goto(f"{farm.url}/#/zone/z2")
        expect(page.get_by_test_id("pest-forecast")).to_have_attribute("data-ready", "1")
        block = page.get_by_test_id("pest-ostrinia-nubilalis")
        expect(block).to_have_attribute("data-above", "1")
        mine = block.get_by_test_id("threshold-own-crop")
        expect(mine).to_have_attribute("data-threshold", "5")
        for words in own:
            expect(block).to_contain_text(words)
        expect(block.locator("cite")).to_contain_text("Highmoor")
        with farm.client() as c:
            assert c.put("/registry/zones/z2", json={**ZONE, "id": "z2", "crop": "maize"}).status_code == 200
        page.reload()
        note = page.get_by_test_id("pest-ostrinia-nubilalis").get_by_test_id("threshold-other-crop")
        for words in both:
            expect(note).to_contain_text(words)
        expect(page.get_by_test_id("pest-ostrinia-nubilalis")).to_have_attribute("data-above", "0")
        assert page.errors == []
    finally:
        page.context.close()
        with farm.client() as c:
            assert c.put("/registry/zones/z2", json={**ZONE, "id": "z2", "crop": "sweet corn"}).status_code == 200
