"""The zone page's soil fertility in a real browser (Playwright, Debian's Chromium) against a running cloud
service: the zone's soil tests, its newest recommendation with its explanation and the applications
recorded, in English and in Simplified Chinese; an irrigation controller's injector registered and
recalibrated on its node page."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from furrow.edge import commands
from tests.cloud_support import batch_of, item
from tests.dashboard_support import Farm, login_with_token, new_page, screenshot
from tests.gateway_support import valve_uplink
from tests.test_cloud_fertility import SQUARE

ZONE = {"id": "z-f", "field_id": "f1", "name": "Zone F", "area_ha": 2.0, "soil_texture": "loam",
        "field_capacity_pct": 31.0, "wilting_point_pct": 14.0, "root_depth_cm": 30, "crop": "maize",
        "planting_date": "2026-04-20", "precip_rate_mm_h": 12.0}
PRODUCTS = ({"id": "urea", "name": "Urea", "n_pct": 46, "p2o5_pct": 0, "k2o_pct": 0, "price_per_kg": 2.0},
            {"id": "dap", "name": "DAP", "n_pct": 18, "p2o5_pct": 46, "k2o_pct": 0, "price_per_kg": 3.5},
            {"id": "kcl", "name": "KCl", "n_pct": 0, "p2o5_pct": 0, "k2o_pct": 60, "price_per_kg": 3.0})


@pytest.fixture(scope="module")
def farm(tmp_path_factory):
    """A maize zone with two soil samples, the farm's products and coefficients, a recommendation and one
    application; a second zone with none of these; two more with a boundary for the entry forms."""
    f = Farm(tmp_path_factory.mktemp("fertility-dashboard"))
    f.start()
    try:
        with f.client() as c:
            for path, body in [("/registry/sites", {"id": "farm", "name": "Farm", "timezone": "UTC"}),
                               ("/registry/fields", {"id": "f1", "site_id": "farm", "name": "Field 1"}),
                               ("/registry/zones", ZONE), ("/registry/zones", {**ZONE, "id": "z-g", "name": "Zone G"}),
                               ("/registry/zones", {**ZONE, "id": "z-h", "name": "Zone H"}),
                               ("/registry/zones", {**ZONE, "id": "z-i", "name": "Zone I"}),
                               ("/registry/zones", {**ZONE, "id": "z-j", "name": "Zone J"}),
                               ("/registry/nodes", {"id": "irr-j", "role": "irrigation"}),
                               ("/registry/valves", {"node_id": "irr-j", "channel": 1, "zone_id": "z-j"}),
                               ("/registry/nodes", {"id": "irr-k", "role": "irrigation"}),
                               ("/registry/nodes", {"id": "irr-l", "role": "irrigation"}),
                               ("/registry/nodes", {"id": "soil-k", "role": "soil", "zone_id": "z-g"})]:
                r = c.post(path, json=body)
                assert r.status_code == 201, r.text
            assert c.put("/fertility/injectors/irr-j", json={"rate_l_h": 120}).status_code == 200
            r = c.post("/ingest/batch", json=batch_of([item(valve_uplink("irr-j", 1))], site="farm"))
            assert r.status_code == 200, r.text  # irr-j reports through gateway gw-1: commands to it are routed
            for zone in ("z-h", "z-i"):
                assert c.put(f"/registry/zones/{zone}/boundary", json=SQUARE).status_code == 200
            r = c.post("/auth/tokens", json={"user": "tom", "role": "technician"})
            f.tokens["technician"], f.user_of["technician"] = r.json()["token"], "tom"
            r = c.post("/auth/tokens", json={"user": "ana", "role": "agronomist"})
            f.tokens["agronomist"], f.user_of["agronomist"] = r.json()["token"], "ana"
            for p in PRODUCTS:
                assert c.put(f"/fertility/sites/farm/products/{p['id']}", json=p).status_code == 200
            r = c.put("/fertility/sites/farm/coefficients/maize", json={
                "correction": {"N": 0.6, "P2O5": 0.5, "K2O": 0.4}, "topdress_share": {"N": 0.4}, "topdress_at": 40,
                "note": "county trials"})
            assert r.status_code == 200, r.text
            for sid, n, p, k in (("A", 76, 14, 110), ("B", 84, 16, 130)):
                r = c.post("/zones/z-f/soil-samples", json={
                    "sampled_on": "2026-03-10", "lab": "county-lab", "lab_sample_id": sid, "point": f"P{sid}",
                    "results": {"ph": {"value": 7.9}, "alkali_n_mg_kg": {"value": n}, "olsen_p_mg_kg": {"value": p},
                                "available_k_mg_kg": {"value": k}}})
                assert r.status_code == 201, r.text
            r = c.post("/zones/z-f/fertility/recommend", json={"season": "2026", "target_yield_kg_ha": 9000})
            assert r.status_code == 201, r.text
            r = c.post("/zones/z-f/fertility/applications", json={
                "season": "2026", "product_id": "dap", "rate_kg_ha": 200, "applied_on": "2026-04-19",
                "method": "broadcast"})
            assert r.status_code == 201, r.text
        yield f
    finally:
        f.stop()


@pytest.mark.parametrize(("locale", "title", "balance", "basal", "method"), [
    ("en-GB", "Soil fertility and fertiliser", "target-yield balance", "basal", "broadcast"),
    ("zh-CN", "土壤肥力与施肥", "目标产量养分平衡法", "基肥", "撒施")])
def test_the_zone_page_shows_soil_tests_the_recommendation_and_applications(farm, dashboard_browser, locale, title,
                                                                            balance, basal, method):
    """Zone F's page lists its two soil tests, the recommendation's N, P2O5 and K2O with their method, the basal
    and top-dress mixes and the explanation (N 448.36 kg/ha, by hand in tests/test_cloud_fertility.py), and the
    DAP application; zone G's says it has none of them."""
    page = new_page(dashboard_browser, locale=locale)
    login_with_token(page, farm, "admin")
    page.goto(f"{farm.url}/#/zone/z-f?days=7")
    section = page.get_by_test_id("fertility")
    expect(section).to_have_attribute("data-ready", "1")
    expect(section.locator("h3").first).to_have_text(title)
    expect(section).to_have_attribute("data-samples", "2")
    expect(section).to_have_attribute("data-applications", "1")
    expect(page.get_by_test_id("soil-tests").locator("tbody tr")).to_have_count(2)
    rec = page.get_by_test_id("recommendation")
    expect(rec.locator("tbody tr").first).to_contain_text("448.4")  # the table's one decimal
    expect(rec.locator("tbody tr").first).to_contain_text(balance)
    expect(rec.locator("tr[data-kind=basal]")).to_contain_text(basal)
    expect(rec.locator("tr[data-kind=topdress]")).to_contain_text("Urea")  # the product's name, not its id
    explanation = page.get_by_test_id("fertility-explanation")
    expect(explanation).to_contain_text("2.57")  # maize's uptake per 100 kg, whole
    expect(explanation).to_contain_text("27.5%")
    expect(explanation).to_contain_text("448.36")
    # the mixes in the explanation name products as the tables do (the server's text named them by id)
    expect(explanation).to_contain_text(re.compile(r"Urea [\d.,]+ kg/ha"))
    expect(explanation).not_to_contain_text(re.compile(r"\b(urea|dap|kcl) \d"))
    expect(page.get_by_test_id("applications").locator("tbody tr")).to_contain_text(method)
    expect(page.get_by_test_id("applications").locator("tbody tr")).not_to_contain_text("person:")  # who, by name
    assert page.errors == []
    if locale == "en-GB":
        section.scroll_into_view_if_needed()
        screenshot(page, "zone-fertility")
    page.goto(f"{farm.url}/#/zone/z-g?days=7")
    section = page.get_by_test_id("fertility")
    expect(section).to_have_attribute("data-ready", "1")
    expect(section).to_have_attribute("data-samples", "0")
    expect(section).to_have_attribute("data-recommendation", "")
    page.context.close()


def _enter_sample(form, date: str, point: str, lat: float, lon: float, p: float) -> None:
    form.locator("[data-field=sampled_on]").fill(date)
    form.locator("[data-field=lab]").fill("county-lab")
    form.locator("[data-field=point]").fill(point)
    form.locator("[data-field=lat]").fill(str(lat))
    form.locator("[data-field=lon]").fill(str(lon))
    form.locator("[data-field=olsen_p_mg_kg]").fill(str(p))
    form.locator("[data-field=ph]").fill("7.8")
    form.locator("button[type=submit]").click()


@pytest.mark.parametrize(("locale", "zone", "saved", "broadcast"), [
    ("en-GB", "z-h", "Saved.", "broadcast"), ("zh-CN", "z-i", "已保存。", "撒施")])
def test_soil_tests_and_an_application_entered_on_the_zone_page(farm, dashboard_browser, locale, zone, saved,
                                                                 broadcast):
    """An agronomist's forms: two located soil tests entered on the page appear in the table and on the soil map
    (one point outside the zone's boundary ringed), a bad one is refused naming its field, and an application of
    urea appears in the list; a technician sees no forms."""
    page = new_page(dashboard_browser, locale=locale)
    login_with_token(page, farm, "admin")
    page.goto(f"{farm.url}/#/zone/{zone}?days=7")
    section = page.get_by_test_id("fertility")
    expect(section).to_have_attribute("data-ready", "1")
    form = page.get_by_test_id("soil-test-form")
    _enter_sample(form, "2026-03-10", "P1", 41.651, -0.8795, 12.5)
    expect(page.get_by_test_id("soil-test-form-status")).to_have_text(saved)
    expect(section).to_have_attribute("data-samples", "1")
    _enter_sample(form, "2026-03-10", "P2", 41.6535, -0.8800, 21.0)  # north of the square: outside
    expect(section).to_have_attribute("data-samples", "2")
    # Olsen P 21 beside 12.5: each column as precise as its most precise value (21.0, not 21)
    expect(page.get_by_test_id("soil-tests").locator("tbody tr").first).to_contain_text("21.0")
    soil_map = page.get_by_test_id("soil-map")
    expect(soil_map).to_have_attribute("data-points", "2")
    expect(soil_map.locator("g.sample[data-point=P1]")).to_have_attribute("data-inside", "true")
    expect(soil_map.locator("g.sample[data-point=P2]")).to_have_attribute("data-inside", "false")
    expect(soil_map.locator("g.sample[data-point=P2] text")).to_contain_text("21")
    expect(soil_map.locator("polygon.zone-boundary")).to_have_count(1)
    page.get_by_test_id("soil-map-result").select_option("ph")
    expect(soil_map.locator("g.sample[data-point=P1]")).to_have_attribute("data-value", "7.8")
    # a depth that ends above where it starts: the server's refusal, naming the field, stays on the form
    form.locator("[data-field=sampled_on]").fill("2026-03-11")
    form.locator("[data-field=lab]").fill("county-lab")
    form.locator("[data-field=depth_top_cm]").fill("30")
    form.locator("[data-field=ph]").fill("7.7")
    form.locator("button[type=submit]").click()
    expect(page.get_by_test_id("soil-test-form-status")).to_contain_text("depth_bottom_cm")
    expect(section).to_have_attribute("data-samples", "2")
    apps = page.get_by_test_id("application-form")
    apps.locator("[data-field=product_id]").select_option("urea")
    apps.locator("[data-field=rate_kg_ha]").fill("120")
    apps.locator("[data-field=applied_on]").fill("2026-05-02")
    apps.locator("[data-field=season]").fill("2026")
    apps.locator("button[type=submit]").click()
    expect(page.get_by_test_id("application-form-status")).to_have_text(saved)
    expect(section).to_have_attribute("data-applications", "1")
    row = page.get_by_test_id("applications").locator("tbody tr")
    expect(row).to_contain_text("120")
    expect(row).to_contain_text(broadcast)
    assert page.errors == []
    if locale == "en-GB":
        section.scroll_into_view_if_needed()
        screenshot(page, "zone-fertility-entry")
    page.context.close()
    page = new_page(dashboard_browser, locale=locale)
    login_with_token(page, farm, "technician")
    page.goto(f"{farm.url}/#/zone/{zone}?days=7")
    expect(page.get_by_test_id("fertility")).to_have_attribute("data-ready", "1")
    expect(page.get_by_test_id("fertility-forms")).to_have_count(0)
    page.context.close()


def test_a_product_and_a_fertigation_entered_on_the_zone_page(farm, dashboard_browser):
    """An agronomist adds urea with its stock strength on the product form; the fertigation form then offers it,
    a dose too big for the registered 120 l/h pump is refused naming dose_kg_ha, and 12 kg/ha in 40 minutes is
    sent: the zone's fertigations list its command with the 80,000 ml of stock (12 kg/ha x 2 ha / 0.3 kg/l). The
    Chinese page shows the same list under its Chinese heading."""
    page = new_page(dashboard_browser, locale="en-GB")
    login_with_token(page, farm, "admin")
    page.goto(f"{farm.url}/#/zone/z-j?days=7")
    section = page.get_by_test_id("fertility")
    expect(section).to_have_attribute("data-fertigations", "0")
    product = page.get_by_test_id("product-form")
    for name, v in (("id", "urea-sol"), ("name", "Urea solution"), ("n_pct", "46"), ("price_per_kg", "2.4"),
                    ("stock_kg_per_l", "0.3")):
        product.locator(f"[data-field={name}]").fill(v)
    product.locator("button[type=submit]").click()
    form = page.get_by_test_id("fertigation-form")
    expect(form.locator("[data-field=product_id] option")).to_have_count(1)  # only a product with a stock strength
    form.locator("[data-field=dose_kg_ha]").fill("30")
    form.locator("button[type=submit]").click()
    expect(page.get_by_test_id("fertigation-form-status")).to_contain_text("dose_kg_ha")
    form.locator("[data-field=dose_kg_ha]").fill("12")
    form.locator("button[type=submit]").click()
    expect(page.get_by_test_id("fertigation-form-status")).to_have_text("Saved.")
    expect(section).to_have_attribute("data-fertigations", "1")
    expect(page.get_by_test_id("fertigations").locator("tbody tr td.num").first).to_have_text(
        re.compile(r"^80[,\u202f ]?000$"))
    assert page.errors == []
    page.context.close()
    # the controller reports 96,000 ml of the 80,000 asked: beyond the dose plus one tick of the 120 l/h pump
    with farm.client() as c:
        [cmd] = [x for x in c.get("/commands", params={"limit": 500}).json()
                 if x["action"] == "fertigate" and x["zone"] == "z-j"]
        for state, extra in (("started", {}), ("completed", {"runtime_s": 2400, "volume_l": 8000.0,
                                                             "injected_ml": 96_000})):
            r = c.post("/commands/acks", json=commands.make_ack(cmd["id"], "irr-j", state, cmd["created_ms"] + 1000,
                                                                 **extra))
            assert r.status_code == 200, r.text
    page = new_page(dashboard_browser, locale="zh-CN")
    login_with_token(page, farm, "admin")
    page.goto(f"{farm.url}/#/zone/z-j?days=7")
    expect(page.get_by_test_id("fertility")).to_have_attribute("data-fertigations", "1")
    expect(page.get_by_test_id("fertigations").locator("h4")).to_have_text("水肥一体化施肥")
    expect(page.get_by_test_id("fertigation-form").locator("h4")).to_have_text("水肥一体化追肥")
    flagged = page.get_by_test_id("fertigations").locator("tbody tr[data-flagged='1'] td.warn")
    expect(flagged).to_contain_text("计量存疑")
    expect(flagged).to_have_attribute("title", re.compile(r"reported 96000 ml is beyond the 80000 ml asked"))
    expect(page.get_by_test_id("applications").locator("tr[data-flagged='1'] td.warn")).to_contain_text("计量存疑")
    assert page.errors == []
    page.context.close()


@pytest.mark.parametrize(("locale", "node", "title", "none", "saved"), [
    ("en-GB", "irr-k", "Fertigation injector", "No injector registered", "Saved."),
    ("zh-CN", "irr-l", "施肥注肥泵", "未登记注肥泵", "已保存。")])
def test_an_injector_registered_and_recalibrated_on_the_node_page(farm, dashboard_browser, locale, node, title,
                                                                    none, saved):
    """A technician registers a controller's injector on its node page: a zero rate is refused naming rate_l_h,
    a band that falls naming ec_band_ds_m, a band with one end naming it before anything is sent; 120 l/h with a
    0.5-3.0 dS/m band is saved and shown, then recalibrated to 60 l/h, which the API then holds."""
    page = new_page(dashboard_browser, locale=locale)
    login_with_token(page, farm, "technician")
    page.goto(f"{farm.url}/#/node/{node}")
    card = page.get_by_test_id("injector")
    expect(card).to_have_attribute("data-registered", "0")
    expect(card.locator("h3")).to_have_text(title)
    expect(card).to_contain_text(none)
    form, status = page.get_by_test_id("injector-form"), page.get_by_test_id("injector-form-status")
    form.locator("[data-field=rate_l_h]").fill("0")
    form.locator("button[type=submit]").click()
    expect(status).to_contain_text("rate_l_h")
    form.locator("[data-field=rate_l_h]").fill("120")
    form.locator("[data-field=ec_low_ds_m]").fill("3")
    form.locator("[data-field=ec_high_ds_m]").fill("0.5")
    form.locator("button[type=submit]").click()
    expect(status).to_contain_text("ec_band_ds_m")
    expect(status).to_contain_text("low < high")  # the server's reason, not the form's own
    form.locator("[data-field=ec_high_ds_m]").fill("")
    form.locator("button[type=submit]").click()
    expect(status).to_contain_text("ec_band_ds_m")
    expect(card).to_have_attribute("data-registered", "0")
    form.locator("[data-field=ec_low_ds_m]").fill("0.5")
    form.locator("[data-field=ec_high_ds_m]").fill("3.0")
    form.locator("[data-field=calibrated_on]").fill("2026-04-02")
    form.locator("[data-field=note]").fill("bucket test: 2.00 l in 60 s")
    form.locator("button[type=submit]").click()
    expect(status).to_have_text(saved)
    expect(card).to_have_attribute("data-registered", "1")
    expect(card).to_have_attribute("data-rate", "120")
    registered = page.get_by_test_id("injector-registered")
    expect(registered.locator("[data-field=ec_band_ds_m]")).to_have_text(re.compile(r"0[.,]50.3[.,]00 dS/m"))
    expect(registered.locator("[data-field=calibrated_on]")).to_have_text("2026-04-02")
    expect(form.locator("[data-field=rate_l_h]")).to_have_value("120")  # the form holds what is registered
    form.locator("[data-field=rate_l_h]").fill("60")
    form.locator("[data-field=calibrated_on]").fill("2026-05-10")
    form.locator("button[type=submit]").click()
    expect(card).to_have_attribute("data-rate", "60")
    expect(registered.locator("[data-field=rate_l_h]")).to_contain_text("60")
    assert page.errors == []
    if locale == "en-GB":
        card.scroll_into_view_if_needed()
        screenshot(page, "node-injector")
    page.context.close()
    with farm.client() as c:
        [inj] = [i for i in c.get("/fertility/injectors").json() if i["node_id"] == node]
    assert (inj["rate_l_h"], inj["ec_band_ds_m"], inj["calibrated_on"], inj["by"]) == (
        60, [0.5, 3.0], "2026-05-10", "person:tom")


def test_an_agronomist_sees_the_injector_without_the_form(farm, dashboard_browser):
    """An agronomist's node page of irr-j shows its registered 120 l/h injector and no form (technicians and
    admins register injectors); a soil node's page has no injector."""
    page = new_page(dashboard_browser)
    login_with_token(page, farm, "agronomist")
    page.goto(f"{farm.url}/#/node/irr-j")
    expect(page.get_by_test_id("injector")).to_have_attribute("data-rate", "120")
    expect(page.get_by_test_id("injector")).to_contain_text("Technicians and admins register injectors")
    expect(page.get_by_test_id("injector-form")).to_have_count(0)
    page.goto(f"{farm.url}/#/node/soil-k")
    expect(page.get_by_test_id("calibration-result")).to_have_count(1)  # the page is drawn, without an injector
    expect(page.get_by_test_id("injector")).to_have_count(0)
    assert page.errors == []
    page.context.close()
