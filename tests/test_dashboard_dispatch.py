"""The dispatch, job and progress pages (views/dispatch.js, job.js, progress.js) in a real browser (Playwright,
Debian's Chromium) against a running cloud: the farm's kept dispatch plan per machine with each task's progress,
the task no machine can do, a breakdown planned around; an operator's job on a phone-sized screen (390 x 844)
moving on as work is recorded; the progress by crop and field; in English and in Simplified Chinese."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.dashboard_support import login_with_token, new_page, screenshot
from tests.test_dashboard_i18n import COLLECT, chinese_in, data_of, missing_keys, untranslated
from tests.test_machinery_coverage import back_and_forth
from tests.test_machinery_operations import BOUNDARY, operation
from tests.test_machinery_yield import combine_log
from tests.tracker_support import position_messages, positions_batch

NODE = "trk-d1"
FIELD = "disp-1"
PHONE = {"width": 390, "height": 844}
PLAN = {"machines": [{"id": "drill-1", "implements": ["drill"], "width_m": 6, "speed_kmh": 8, "node": NODE},
                     {"id": "sprayer-1", "implements": ["boom"], "width_m": 24, "speed_kmh": 10, "node": NODE}],
        "tasks": [{"id": "sow-1", "field": FIELD, "kind": "sowing", "implement": "drill", "priority": 1},
                  {"id": "spray-1", "field": FIELD, "kind": "spraying", "implement": "boom"},
                  {"id": "till-1", "field": FIELD, "kind": "tillage", "implement": "drill", "priority": 5},
                  {"id": "cut-1", "field": FIELD, "kind": "harvest", "implement": "header"}],
        "solver": "greedy", "keep": True}


@pytest.fixture(scope="module")
def farm(dashboard_farm):
    """The dashboard tests' farm with field disp-1 (2 ha, the same outline as the machinery test's) sown 18 %,
    drill-1's tracker trk-d1 standing in it, and a kept plan: drill-1 sows first (priority 1), then tills,
    sprayer-1 sprays, nobody carries a header for the harvest."""
    with dashboard_farm.client() as c:
        field = {"id": FIELD, "site_id": "demo", "name": "Dispatch plot"}
        assert c.post("/registry/fields", json=field).status_code == 201
        assert c.put(f"/registry/fields/{FIELD}/boundary", json=BOUNDARY).status_code == 200
        assert c.post("/operations", json=operation([5, 13], field=FIELD)).status_code == 201
        fixes = back_and_forth([50])[:5]
        r = c.post("/ingest/batch", json=positions_batch("demo", "gw-1", "gw-1-trk-d1", position_messages(NODE, fixes),
                                                         fixes[-1].t_ms))
        assert r.status_code == 200, r.text
        r = c.post("/dispatch/plan", json=PLAN)
        assert r.status_code == 200 and r.json()["kept_id"], r.text
        maize, monitor = combine_log()
        harvest_plot = {"id": "disp-2", "site_id": "demo", "name": "Harvest plot"}
        assert c.post("/registry/fields", json=harvest_plot).status_code == 201
        assert c.put("/registry/fields/disp-2/boundary", json=maize.boundary).status_code == 200
        r = c.post("/yield-logs", json={"field": "disp-2", "crop": "maize", "machine": "combine-1", "width_m": 9.0,
                                        "log": monitor.csv()})
        assert r.status_code == 201, r.text
    return dashboard_farm


def words_check(page, farm, locale: str) -> None:
    texts = page.evaluate(COLLECT)
    assert missing_keys(page) == []
    if locale == "zh-CN":
        assert untranslated(texts, [*data_of(farm), NODE]) == []
    else:
        assert chinese_in(texts) == []


@pytest.mark.parametrize(("locale", "sowing", "left"), [("en-GB", "Sowing", "Harvest on Dispatch plot"),
                                                         ("zh-CN", "播种", "Dispatch plot的收获")])
def test_the_dispatch_page_shows_each_machines_tasks_and_what_no_machine_can_do(farm, dashboard_browser, locale,
                                                                                sowing, left):
    """drill-1's route sows disp-1 with 1.64 ha left and 18 % done; sprayer-1 sprays it; the harvest is listed as
    no machine's (its implement); each machine links to its operator's view; nothing untranslated."""
    page = new_page(dashboard_browser, locale=locale)
    login_with_token(page, farm, "admin")
    page.goto(f"{farm.url}/app/#/dispatch")
    expect(page.locator("[data-view=dispatch]")).to_have_attribute("data-rendered", "1")
    row = page.get_by_test_id("route-drill-1").locator("tr[data-task=sow-1]")
    expect(row).to_contain_text(sowing)
    expect(row).to_contain_text("1.64")
    expect(row.locator("td[data-done]")).to_have_attribute("data-done", "18")
    expect(page.get_by_test_id("route-sprayer-1").locator("tr[data-task=spray-1]")).to_be_visible()
    expect(page.get_by_test_id("left-out").locator("li[data-task=cut-1]")).to_contain_text(left)
    expect(page.locator("[data-machine=drill-1] a[href='#/job/drill-1']")).to_be_visible()
    words_check(page, farm, locale)
    screenshot(page, "zh-dispatch" if locale == "zh-CN" else "dispatch")
    assert page.errors == []
    page.context.close()


@pytest.mark.parametrize(("locale", "task"), [("en-GB", "Sowing on Dispatch plot"), ("zh-CN", "Dispatch plot：播种")])
def test_an_operator_sees_the_job_on_a_phone_and_it_moves_on_as_work_is_recorded(farm, dashboard_browser, locale,
                                                                                 task):
    """On a 390 px screen a technician's #/job/drill-1 shows the sowing of disp-1, its done share, the field's map
    (Leaflet, the map page's field shape and machine marker, no tiles) with the drill at its tracker's newest fix,
    and the tillage after it, with nothing wider than the screen;
    a sowing recorded meanwhile raises the done share without a reload (the live operation event), and the finish
    estimate becomes the server's (the live eta event) with the area left it counts."""
    with farm.client() as c:
        before = c.get(f"/fields/{FIELD}/progress").json()["kinds"][0]["covered_pct"]
        [trk] = [m for m in c.get("/machines").json() if m["node"] == NODE]
    page = new_page(dashboard_browser, locale=locale, **PHONE)
    login_with_token(page, farm, "technician")
    page.goto(f"{farm.url}/app/#/job/drill-1")
    expect(page.locator("[data-view=job]")).to_have_attribute("data-rendered", "1")
    job = page.get_by_test_id("job")
    expect(job).to_have_attribute("data-task", "sow-1")
    expect(job.locator(".job-task")).to_have_text(task)
    expect(job).to_have_attribute("data-done", f"{before:g}")
    # the field and the drill on the map page's Leaflet map, with no basemap configured: no tile fetched
    themap = page.get_by_test_id("job-map")
    expect(themap).to_have_attribute("data-tiles", "none")
    expect(themap.locator(f"path.field-boundary[data-field={FIELD}]")).to_have_count(1)
    expect(themap.locator(f"path.machine[data-machine={NODE}]")).to_have_attribute("data-t", str(trk["t_ms"]))
    expect(themap.locator(".leaflet-control-scale")).to_be_visible()
    assert page.locator(".leaflet-tile").count() == 0
    expect(job.locator("li[data-task=till-1]")).to_be_visible()
    assert page.evaluate("document.scrollingElement.scrollWidth") <= PHONE["width"]
    words_check(page, farm, locale)
    screenshot(page, "zh-job-phone" if locale == "zh-CN" else "job-phone")

    expect(page.locator("#live")).to_have_attribute("data-state", "live")
    xs = [21, 29] if locale == "en-GB" else [37, 45]
    with farm.client() as c:
        r = c.post("/operations", json=operation(xs, field=FIELD, machine="drill-1"))
        assert r.status_code == 201, r.text
        after = c.get(f"/fields/{FIELD}/progress").json()["kinds"][0]["covered_pct"]
    assert after > before
    expect(job).to_have_attribute("data-done", f"{after:g}")
    # the server's finish estimate, pushed after the operation (the eta event): the area left as it counts it
    with farm.client() as c:
        left = next(m["left_ha"] for m in c.get("/dispatch/etas").json() if m["machine"] == "drill-1")
    eta = page.get_by_test_id("job-eta")
    expect(eta).to_have_attribute("data-source", "server", timeout=30_000)
    expect(eta).to_have_attribute("data-left", f"{left:g}", timeout=30_000)
    assert page.errors == []
    page.context.close()


@pytest.mark.parametrize(("locale", "crop"), [("en-GB", "maize"), ("zh-CN", "玉米")])
def test_the_progress_page_shows_each_fields_work(farm, dashboard_browser, locale, crop):
    """#/progress lists disp-1 with its sowing share as stored; site demo's sowing as the sum of its fields'; each
    of the farm's operations as a bar on the season timeline; disp-2's harvest from its yield monitor log (crop,
    mean yield at standard moisture) and the harvest per crop and per field at maize's 15.5 %; each zone's expected
    yield (FAO-33) as the API gives it, with what it lacks
    named, in both languages, nothing untranslated."""
    with farm.client() as c:
        sown = c.get(f"/fields/{FIELD}/progress").json()["kinds"][0]
        ops = c.get("/operations").json()
        site_sown = 0.0
        for f in c.get("/registry/fields").json():
            if f["site_id"] == "demo" and f["boundary"]:
                kinds = c.get(f"/fields/{f['id']}/progress").json()["kinds"]
                site_sown += sum(k["covered_ha"] for k in kinds if k["kind"] == "sowing")
        [log] = c.get("/yield-logs", params={"field": "disp-2"}).json()
        totals = c.get("/yield-totals").json()
        year = max(z["planting_date"][:4] for z in c.get("/registry/zones").json() if z["planting_date"])
        expected = c.get("/expected-yield", params={"season": year}).json()
    assert expected and all(z["relative_yield"] is not None and z["ya_t_ha"] is None for z in expected)
    page = new_page(dashboard_browser, locale=locale)
    login_with_token(page, farm, "agronomist")
    page.goto(f"{farm.url}/app/#/progress")
    expect(page.locator("[data-view=progress]")).to_have_attribute("data-rendered", "1")
    cell = page.get_by_test_id("field-progress").locator(f"tr[data-field={FIELD}] td[data-kind=sowing]")
    expect(cell).to_contain_text(f"{sown['covered_pct']:.1f} %")
    sown_cell = page.get_by_test_id("site-progress").locator("tr[data-site=demo] td[data-kind=sowing]")
    assert float(sown_cell.get_attribute("data-ha")) == pytest.approx(site_sown, abs=1e-3)
    expect(page.get_by_test_id("timeline").locator("rect[data-op]")).to_have_count(len(ops))
    harvest = page.get_by_test_id("harvest").locator("tr[data-field=disp-2]")
    expect(harvest).to_contain_text(crop)
    expect(harvest.locator("td[data-yield]")).to_have_attribute("data-yield", f"{log['mean_yield_t_ha']:g}")
    # the harvest per crop and per field, at maize's standard 15.5 %, as GET /yield-totals gives it
    maize = next(x for x in totals["crops"] if x["crop"] == "maize")
    row = page.get_by_test_id("yield-crops").locator("tr[data-crop=maize]")
    expect(row).to_contain_text(crop)
    expect(row.locator("td[data-mass]")).to_have_attribute("data-mass", str(maize["mass_kg"]))
    expect(row.locator("td[data-standard]")).to_have_attribute("data-standard", "15.5")
    mine = next(x for x in totals["fields"] if x["field_id"] == "disp-2")
    assert mine["mass_kg"] == pytest.approx(log["mass_kg"], abs=0.01)  # one log, already at 15.5 %
    row = page.get_by_test_id("yield-fields").locator("tr[data-field=disp-2]")
    expect(row.locator("td[data-mass]")).to_have_attribute("data-mass", str(mine["mass_kg"]))
    rows = page.get_by_test_id("expected-yield").locator("tr[data-zone]")
    expect(rows).to_have_count(len(expected))
    for z in expected:  # no Ym entered on this farm: the relative yield, and "enter Ym" in the expected column
        row = page.get_by_test_id("expected-yield").locator(f"tr[data-zone={z['zone_id']}]")
        expect(row.locator("td[data-relative]")).to_have_attribute("data-relative", f"{z['relative_yield']:g}")
        expect(row.locator("td[data-expected]")).to_contain_text("enter Ym" if locale == "en-GB" else "请填写 Ym")
    words_check(page, farm, locale)
    assert page.errors == []
    page.context.close()


def test_a_breakdown_is_planned_around_from_the_dispatch_page(farm, dashboard_browser):
    """sprayer-1 marked broken down and the plan made again from the page: the new plan is kept, sprayer-1 has
    no task and the spraying is among the tasks no machine can do."""
    page = new_page(dashboard_browser)
    login_with_token(page, farm, "admin")
    page.goto(f"{farm.url}/app/#/dispatch")
    expect(page.locator("[data-view=dispatch]")).to_have_attribute("data-rendered", "1")
    with farm.client() as c:
        before = c.get("/dispatch/current").json()["id"]
    page.locator("input[data-broken=sprayer-1]").check()
    page.get_by_test_id("replan").click()
    expect(page.get_by_test_id("left-out").locator("li[data-task=spray-1]")).to_be_visible()
    expect(page.get_by_test_id("route-sprayer-1")).to_have_count(0)
    with farm.client() as c:
        current = c.get("/dispatch/current").json()
    assert current["id"] > before and "spray-1" in current["plan"]["left_out"]
    assert [m["available"] for m in current["request"]["machines"]] == [True, False]
    assert page.errors == []
    page.context.close()


def test_a_farm_sets_its_own_standard_moisture_from_the_progress_page(farm, dashboard_browser):
    """A Chinese farm's agronomist sets maize's standard moisture to 14.0 % with its source on the progress page
    (PUT /standard-moistures/maize): the table shows the farm's figure and source, the harvest per crop is now at
    14.0 % with the grain GET /yield-totals gives; back to built-in restores 15.5 %. Nothing untranslated."""
    source = "GB 1353-2018 玉米 表1"
    page = new_page(dashboard_browser, locale="zh-CN")
    login_with_token(page, farm, "agronomist")
    page.goto(f"{farm.url}/app/#/progress")
    expect(page.locator("[data-view=progress]")).to_have_attribute("data-rendered", "1")
    row = page.get_by_test_id("standard-moistures").locator("tr[data-crop=maize]")
    expect(row).to_have_attribute("data-own", "false")
    expect(row.locator("td[data-pct]")).to_have_attribute("data-pct", "15.5")
    form = page.get_by_test_id("moisture-form")
    form.locator("[data-field=crop]").fill("maize")
    form.locator("[data-field=pct]").fill("14")
    form.locator("[data-field=source]").fill(source)
    form.get_by_role("button").click()
    expect(row).to_have_attribute("data-own", "true")
    expect(row.locator("td[data-pct]")).to_have_attribute("data-pct", "14")
    expect(row).to_contain_text(source)
    crops = page.get_by_test_id("yield-crops").locator("tr[data-crop=maize]")
    expect(crops.locator("td[data-standard]")).to_have_attribute("data-standard", "14")
    with farm.client() as c:
        maize = next(x for x in c.get("/yield-totals").json()["crops"] if x["crop"] == "maize")
    assert maize["standard_moisture_pct"] == 14.0 and source in maize["moisture_source"]
    expect(crops.locator("td[data-mass]")).to_have_attribute("data-mass", str(maize["mass_kg"]))
    texts = page.evaluate(COLLECT)
    who = maize["moisture_source"].split(" by person:", 1)[1].split(" ", 1)[0]  # the agronomist's name, as data
    assert missing_keys(page) == [] and untranslated(texts, [*data_of(farm), NODE, source, who]) == []
    page.get_by_test_id("moisture-drop-maize").click()
    expect(row).to_have_attribute("data-own", "false")
    expect(crops.locator("td[data-standard]")).to_have_attribute("data-standard", "15.5")
    assert page.errors == []
    page.context.close()
