"""An operator on a phone (issue 20) in a real browser (Playwright, Debian's Chromium) against a running cloud: an
organisation of its own on the dashboard tests' service (so its plans touch no other test's), its machines,
implements and tasks in the registry, a plan made from them; the operator logs in, lands on the job of the machine
they drive, reports work and a breakdown, and the page follows the plan made again; the progress page's regions."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest
from playwright.sync_api import expect

from tests.dashboard_support import new_page, screenshot
from tests.test_dashboard_dispatch import PHONE
from tests.test_dashboard_i18n import COLLECT, chinese_in, data_of, missing_keys, untranslated
from tests.test_machinery_operations import BOUNDARY, operation

ORG = "org-ops"
OPERATOR = "op-li"


def _cli(farm, *argv: str) -> str:  # noqa: ANN001
    done = subprocess.run([sys.executable, "-m", "furrow.cli", *argv], env=farm.env(), capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def ops(dashboard_farm):
    """Organisation org-ops: field ops-1 (2 ha) sown 18 %, implement drill-ops, machine tractor-ops driven by op-li
    and a spare drill, tasks sow-ops and till-ops, a region; a plan made from the registry and kept."""
    _cli(dashboard_farm, "cloud", "org", "create", ORG, "--name", "Ops farm")
    admin = _cli(dashboard_farm, "cloud", "token", "create", "--role", "admin", "--name", "ops-admin", "--org",
                 ORG).splitlines()[0]
    c = httpx.Client(base_url=f"{dashboard_farm.url}/api/v1", headers={"Authorization": f"Bearer {admin}"},
                     timeout=60)
    r = c.post("/auth/tokens", json={"user": OPERATOR, "role": "operator"})
    assert r.status_code == 201, r.text
    operator = r.json()["token"]
    lon, lat = BOUNDARY["coordinates"][0][0]
    for path, body in (
            ("sites", {"id": "ops-site", "name": "Ops farm"}),
            ("fields", {"id": "ops-1", "site_id": "ops-site", "name": "Ops plot"}),
            ("implements", {"id": "drill-ops", "name": "Drill 6 m", "kind": "drill", "width_m": 6,
                            "operations": ["sowing", "tillage"]}),
            ("machines", {"id": "tractor-ops", "name": "Tractor", "type": "tractor", "width_m": 6, "speed_kmh": 8,
                          "implement_ids": ["drill-ops"], "operator": OPERATOR, "lat": lat, "lon": lon}),
            ("machines", {"id": "spare-ops", "name": "Spare", "type": "tractor", "width_m": 6, "speed_kmh": 6,
                          "implement_ids": ["drill-ops"], "lat": lat + 0.05, "lon": lon}),
            ("tasks", {"id": "sow-ops", "field_id": "ops-1", "kind": "sowing", "implement_id": "drill-ops",
                       "priority": 1}),
            ("tasks", {"id": "till-ops", "field_id": "ops-1", "kind": "tillage", "implement_id": "drill-ops",
                       "priority": 5}),
            ("regions", {"id": "ops-east", "name": "East block", "field_ids": ["ops-1"]})):
        r = c.post(f"/registry/{path}", json=body)
        assert r.status_code == 201, (path, r.text)
    assert c.put("/registry/fields/ops-1/boundary", json=BOUNDARY).status_code == 200
    assert c.post("/operations", json=operation([5, 13], field="ops-1")).status_code == 201
    r = c.post("/dispatch/plan", json={"solver": "greedy", "keep": True})
    assert r.status_code == 200, r.text
    assert [s["task"] for s in r.json()["routes"]["tractor-ops"]] == ["sow-ops", "till-ops"], r.text
    yield {"farm": dashboard_farm, "admin": c, "operator": operator}
    c.close()


def words_check(page, farm, locale: str, *more: str) -> None:  # noqa: ANN001
    """No catalogue key missing; in zh-CN no English left but the farms' own names (and `more`), in en-GB no
    Chinese."""
    texts = page.evaluate(COLLECT)
    assert missing_keys(page) == []
    if locale == "zh-CN":
        ours = sorted({*data_of(farm), "tractor-ops", "Ops plot", "Ops farm", OPERATOR, *more}, key=len, reverse=True)
        assert untranslated(texts, ours) == []  # longest first: "op-li" before the user "li"
    else:
        assert chinese_in(texts) == []


def _login(page, farm, token: str, user: str = OPERATOR) -> None:  # noqa: ANN001
    page.goto(f"{farm.url}/")
    page.fill("input[name=token]", token)
    page.get_by_test_id("token-login").click()
    expect(page.get_by_test_id("who")).to_contain_text(f"{user} ·")  # logged in and sent home: now go elsewhere
    expect(page.locator("#live")).to_have_attribute("data-state", "live")


@pytest.mark.parametrize(("locale", "task", "report"), [("zh-CN", "Ops plot：播种", "故障"),
                                                         ("en-GB", "Sowing on Ops plot", "Breakdown")])
def test_an_operator_lands_on_their_machines_job_on_a_phone(ops, dashboard_browser, locale, task, report):
    """op-li logs in on a 390 px screen and lands on #/job: tractor-ops's sowing of ops-1 with the report card
    (working, done, breakdown), nothing wider than the screen, every label in the page's language."""
    farm = ops["farm"]
    page = new_page(dashboard_browser, locale=locale, **PHONE)
    _login(page, farm, ops["operator"])
    expect(page.locator("[data-view=job]")).to_have_attribute("data-rendered", "1")
    assert page.url.endswith("#/job")
    job = page.get_by_test_id("job")
    expect(job).to_have_attribute("data-task", "sow-ops")
    expect(job.locator(".job-task")).to_have_text(task)
    expect(page.locator(".job-report button[data-report=breakdown]")).to_have_text(report)
    assert page.evaluate("document.scrollingElement.scrollWidth") <= PHONE["width"]
    words_check(page, farm, locale)
    screenshot(page, "zh-job-operator" if locale == "zh-CN" else "job-operator")
    assert page.errors == []
    page.context.close()


def test_an_operators_reports_reach_the_task_and_a_breakdown_moves_the_work(ops, dashboard_browser):
    """op-li reports 40 % done (kept on the task, no new plan), and the manager's dispatch page, open in Chinese
    meanwhile, shows the 40 % op-li reported on the sowing without a reload (the live task event) while the tracked
    share stays 18 %; then a breakdown with a note: the tractor is marked broken, the plan is made again and kept,
    the job page follows it (broken, no task) without a reload, and the spare tractor has the sowing and the
    tillage."""
    farm, c = ops["farm"], ops["admin"]
    before = c.get("/dispatch/current").json()["id"]
    manager = new_page(dashboard_browser, locale="zh-CN")
    _login(manager, farm, c.headers["Authorization"].removeprefix("Bearer "), "ops-admin")
    manager.goto(f"{farm.url}/app/#/dispatch")
    expect(manager.locator("[data-view=dispatch]")).to_have_attribute("data-rendered", "1")
    sowing = manager.get_by_test_id("route-tractor-ops").locator("tr[data-task=sow-ops]")
    expect(sowing.locator("td[data-reported]")).to_have_attribute("data-reported", "")
    expect(sowing.locator("td[data-reported]")).to_have_text("尚未上报")

    page = new_page(dashboard_browser, **PHONE)
    _login(page, farm, ops["operator"])
    expect(page.get_by_test_id("job")).to_have_attribute("data-task", "sow-ops")
    page.get_by_test_id("report-pct").fill("40")
    page.locator(".job-report button[data-report=working]").click()
    expect(page.get_by_test_id("report-status")).to_have_attribute("data-report", "working")
    [sow] = [t for t in c.get("/registry/tasks").json() if t["id"] == "sow-ops"]
    assert (sow["status"], sow["reported_pct"], sow["reported_by"]) == ("working", 40, OPERATOR)
    assert c.get("/dispatch/current").json()["id"] == before
    expect(sowing.locator("td[data-reported]")).to_have_attribute("data-reported", "40")
    expect(sowing.locator("td[data-reported]")).to_contain_text(f"{OPERATOR} 于")
    expect(sowing.locator("td[data-done]")).to_have_attribute("data-done", "18")
    words_check(manager, farm, "zh-CN", "spare-ops", "ops-admin")
    assert manager.errors == []
    manager.context.close()

    page.get_by_test_id("report-note").fill("hydraulic hose burst")
    page.locator(".job-report button[data-report=breakdown]").click()
    expect(page.locator(".notice.error")).to_have_text(
        "This machine is marked broken down: the plan has moved its work to others.")
    current = c.get("/dispatch/current").json()
    assert current["id"] > before
    assert [s["task"] for s in current["plan"]["routes"]["spare-ops"]] == ["sow-ops", "till-ops"]
    assert not current["plan"]["routes"].get("tractor-ops")
    assert c.get("/registry/machines/tractor-ops").json()["status"] == "broken"
    assert page.errors == []
    page.context.close()


def test_the_progress_page_shows_each_region_of_the_farm(ops, dashboard_browser):
    """The ops admin's #/progress has region East block with ops-1's area and its sowing as planted, as
    GET /progress/regions gives them."""
    farm, c = ops["farm"], ops["admin"]
    [east] = c.get("/progress/regions").json()
    assert east["planted_ha"] == pytest.approx(0.36, rel=1e-4)
    page = new_page(dashboard_browser)
    _login(page, farm, c.headers["Authorization"].removeprefix("Bearer "), "ops-admin")
    page.goto(f"{farm.url}/app/#/progress")
    expect(page.locator("[data-view=progress]")).to_have_attribute("data-rendered", "1")
    row = page.get_by_test_id("region-progress").locator("tr[data-region=ops-east]")
    expect(row).to_contain_text("East block")
    expect(row.locator("td[data-planted]")).to_have_attribute("data-planted", f"{east['planted_pct']:g}")
    expect(row.locator("td[data-kind=sowing]")).to_have_attribute("data-ha", f"{east['kinds'][0]['covered_ha']:g}")
    assert page.errors == []
    page.context.close()


def test_a_technician_sets_the_tractor_back_from_the_dispatch_page(ops, dashboard_browser):
    """On a plan made from the registry, the dispatch page's broken-down box is the machine's registry status: the
    ops admin unticks tractor-ops (broken after its operator's report) and plans again: the registry says available,
    the new kept plan was made from the registry and gives the tractor work again."""
    farm, c = ops["farm"], ops["admin"]
    assert c.get("/registry/machines/tractor-ops").json()["status"] == "broken"
    before = c.get("/dispatch/current").json()["id"]
    page = new_page(dashboard_browser)
    _login(page, farm, c.headers["Authorization"].removeprefix("Bearer "), "ops-admin")
    page.goto(f"{farm.url}/app/#/dispatch")
    expect(page.locator("[data-view=dispatch]")).to_have_attribute("data-rendered", "1")
    page.locator("input[data-broken=tractor-ops]").uncheck()
    page.get_by_test_id("replan").click()
    expect(page.get_by_test_id("route-tractor-ops")).to_be_visible()
    assert c.get("/registry/machines/tractor-ops").json()["status"] == "available"
    current = c.get("/dispatch/current").json()
    assert current["id"] > before and current["request"]["registry"] and current["plan"]["routes"]["tractor-ops"]
    assert page.errors == []
    page.context.close()


def test_an_operators_menu_and_map_hold_their_job_only(ops, dashboard_browser):
    """With a second field ops-2 sprayed by another machine in the plan, op-li's phone menu holds the job and the
    map only, a farm page (#/nodes) sends them back to the job, and the map's field table lists ops-1 alone; the
    API answers the operator the same (the registry's fields, the plan's machines), while the admin sees both."""
    farm, c = ops["farm"], ops["admin"]
    for path, body in (
            ("fields", {"id": "ops-2", "site_id": "ops-site", "name": "Ops south"}),
            ("implements", {"id": "boom-ops", "name": "Boom", "kind": "sprayer", "width_m": 24,
                            "operations": ["spraying"]}),
            ("machines", {"id": "sprayer-ops", "name": "Sprayer", "type": "sprayer", "width_m": 24, "speed_kmh": 10,
                          "implement_ids": ["boom-ops"], "lat": 0.0, "lon": 0.0}),
            ("tasks", {"id": "spray-ops", "field_id": "ops-2", "kind": "spraying", "implement_id": "boom-ops"})):
        r = c.post(f"/registry/{path}", json=body)
        assert r.status_code == 201, (path, r.text)
    assert c.put("/registry/fields/ops-2/boundary", json=BOUNDARY).status_code == 200
    r = c.post("/dispatch/plan", json={"solver": "greedy", "keep": True})
    assert r.status_code == 200 and r.json()["routes"]["sprayer-ops"][0]["task"] == "spray-ops", r.text
    operator = {"Authorization": f"Bearer {ops['operator']}"}
    assert [f["id"] for f in c.get("/registry/fields", headers=operator).json()] == ["ops-1"]
    assert sorted(f["id"] for f in c.get("/registry/fields").json()) == ["ops-1", "ops-2"]
    assert list(c.get("/dispatch/current", headers=operator).json()["plan"]["routes"]) == ["tractor-ops"]

    page = new_page(dashboard_browser, locale="zh-CN", **PHONE)
    _login(page, farm, ops["operator"])
    expect(page.locator("[data-view=job]")).to_have_attribute("data-rendered", "1")
    expect(page.locator("#nav a:visible")).to_have_text(["我的作业", "农机作业"])
    page.goto(f"{farm.url}/app/#/nodes")
    expect(page.locator("[data-view=job]")).to_have_attribute("data-rendered", "1")
    assert page.url.endswith("#/job")
    page.locator("#nav a[data-nav=machinery]").click()
    expect(page.locator("[data-view=machinery]")).to_have_attribute("data-rendered", "1")
    expect(page.get_by_test_id("field-progress").locator("tr[data-field]")).to_have_count(1)
    expect(page.get_by_test_id("field-progress").locator("tr[data-field=ops-1]")).to_be_visible()
    words_check(page, farm, "zh-CN", "Ops south")
    assert page.errors == []
    page.context.close()
