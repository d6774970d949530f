"""The machinery page (views/machinery.js) in a real browser (Playwright, Debian's Chromium) against a running
cloud service: a field's boundary and its sowing progress, a tracker's position and recent track drawn on the
map and listed, moved by the live position event, in English and in Simplified Chinese."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from furrow.cloud.machinery.coverage import Fix
from tests.dashboard_support import login_with_token, new_page, screenshot
from tests.test_dashboard_i18n import COLLECT, chinese_in, data_of, missing_keys, untranslated
from tests.test_machinery_coverage import back_and_forth
from tests.test_machinery_operations import BOUNDARY, operation
from tests.tracker_support import position_messages, positions_batch

NODE = "trk-1"
FIXES = back_and_forth([5, 13])  # two 10 m passes 8 m apart up and down the 100 x 200 m field f1


@pytest.fixture(scope="module")
def farm(dashboard_farm):
    """The dashboard tests' farm (one service for every dashboard browser test, tests/conftest.py) with field
    mach-1 (2 ha) given its boundary and a sowing recorded from a file (two 10 m passes: 0.36 ha, 18 %), field
    mach-2 without a boundary, and tracker trk-1's fixes of the same passes through the ingest API."""
    with dashboard_farm.client() as c:
        for body in [{"id": "mach-1", "site_id": "demo", "name": "Upper plot"},
                     {"id": "mach-2", "site_id": "demo", "name": "Lower plot"}]:
            assert c.post("/registry/fields", json=body).status_code == 201
        assert c.put("/registry/fields/mach-1/boundary", json=BOUNDARY).status_code == 200
        r = c.post("/operations", json=operation([5, 13], field="mach-1"))
        assert r.status_code == 201 and r.json()["covered_ha"] == pytest.approx(0.36, abs=1e-3), r.text
        r = c.post("/ingest/batch", json=positions_batch("demo", "gw-1", "gw-1-trk-1", position_messages(NODE, FIXES),
                                                         FIXES[-1].t_ms))
        assert r.status_code == 200 and r.json()["fixes"] == len(FIXES), r.text
    return dashboard_farm


@pytest.mark.parametrize(("locale", "words"), [("en-GB", ("Sowing", "0.36 ha (18.0 %), operations: 1", "no boundary")),
                                               ("zh-CN", ("播种", "0.36 公顷（18.0 %），1 次作业", "无边界"))])
def test_the_machinery_page_draws_fields_machines_and_progress(farm, dashboard_browser, locale, words):
    """The map draws field mach-1 shaded by its sowing's 18 % and trk-1 at its newest fix with its recent track; the
    tables give its sowing progress, mach-2 without a boundary and the machine's implement; a fix arriving
    meanwhile moves the machine (the live position event); nothing is left untranslated."""
    kind, covered, no_boundary = words
    with farm.client() as c:  # as stored now: the other language's run has sent a fix of its own
        [newest] = [m for m in c.get("/machines").json() if m["node"] == NODE]
        pct = c.get("/fields/mach-1/progress").json()["kinds"][0]["covered_pct"]
    page = new_page(dashboard_browser, locale=locale)
    login_with_token(page, farm, "admin")
    page.goto(f"{farm.url}/app/#/machinery")
    view = page.locator("[data-view=machinery]")
    expect(view).to_have_attribute("data-rendered", "1")
    field = page.locator("[data-testid=machinery-map] g.field[data-field=mach-1]")
    expect(field).to_have_attribute("data-kind", "sowing")
    expect(field).to_have_attribute("data-pct", f"{pct:g}")  # as JavaScript writes it: 18, not 18.0
    expect(field).to_contain_text(kind)
    machine = page.locator(f"[data-testid=machinery-map] g[data-machine={NODE}]")
    expect(machine).to_have_attribute("data-t", str(newest["t_ms"]))
    expect(page.locator(f"polyline[data-track={NODE}]")).to_have_attribute("data-points", str(newest["fixes"]))
    rows = page.get_by_test_id("field-progress").locator("tbody tr")
    expect(rows.filter(has_text="Upper plot").locator("td[data-kind=sowing]")).to_have_text(covered)
    expect(rows.filter(has_text="Lower plot")).to_contain_text(no_boundary)
    implement = page.get_by_test_id("machine-table").locator(f"tr[data-machine={NODE}] td[data-implement]")
    expect(implement).to_have_attribute("data-implement", "down" if newest["implement_down"] else "up")
    texts = page.evaluate(COLLECT)
    assert missing_keys(page) == []
    if locale == "zh-CN":
        assert untranslated(texts, [*data_of(farm), NODE]) == []
        screenshot(page, "zh-machinery")
    else:
        assert chinese_in(texts) == []
        screenshot(page, "machinery")

    expect(page.locator("#live")).to_have_attribute("data-state", "live")  # the page hears the next batch
    last = FIXES[-1]
    seq = len(position_messages(NODE, FIXES)) + (0 if locale == "en-GB" else 1)
    moved = Fix(last.t_ms + 60_000 * (1 if locale == "en-GB" else 2), last.lon, last.lat + 2e-5, True)
    with farm.client() as c:
        r = c.post("/ingest/batch", json=positions_batch("demo", "gw-1", f"gw-1-trk-1-{locale}",
                                                         position_messages(NODE, [moved], seq0=seq), moved.t_ms))
        assert r.status_code == 200 and r.json()["fixes"] == 1, r.text
    expect(machine).to_have_attribute("data-t", str(moved.t_ms))
    expect(implement).to_have_attribute("data-implement", "down")
    expect(page.locator(f"polyline[data-track={NODE}]")).to_have_attribute("data-points", str(newest["fixes"] + 1))
    assert page.errors == []
    page.context.close()
