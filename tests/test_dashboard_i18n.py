"""The dashboard in Simplified Chinese and English, in a real browser (Playwright and Debian's
Chromium against the seeded farm of tests/dashboard_support.py).

Every page is walked in zh-CN and in English, and every text a person can see on it is checked:
each visible text node, each placeholder, title and aria-label, and each option of a visible
select. In zh-CN, once the farm's own data (its names and ids, what people typed) and the
symbols Chinese agronomy writes in Latin letters (mm, RAW, ET₀, Modbus...) are taken out, no
Latin letter may be left: an English label, a catalogue key missing from zh-CN (the page falls
back to English) or a message without a key all leave some. In English no Chinese character may
show. Either way, no key may be missing from the page's catalogue. A test proves the check
fails on each of those. With FURROW_SCREENSHOTS=1 the zh-CN pages' screenshots go to docs/img (dashboard-zh-*.png).
"""

from __future__ import annotations

import json
import re
import time

import pytest
from playwright.sync_api import Page, expect

from furrow.cloud.dashboard import CATALOGUES, STATIC
from tests.dashboard_support import CAMERA, ZONE, Farm, login_with_token, new_page, screenshot

# Every page of the dashboard (app.js VIEWS) and where the walk opens it.
PAGES = {
    "overview": "#/overview", "zone": f"#/zone/{ZONE}?days=30", "irrigation": f"#/irrigation/{ZONE}",
    "alerts": "#/alerts?state=all", "nodes": "#/nodes", "node": "#/node/soil-01", "bus": "#/bus",
    "trap": f"#/trap/{CAMERA}/6",  # the camera's trap card photo (Farm.photos), counted once its trap is set up
    "machinery": "#/machinery",  # empty until tests/test_dashboard_machinery.py adds a field and a tracker
    "progress": "#/progress",
    "dispatch": "#/dispatch",  # no plan until tests/test_dashboard_dispatch.py keeps one
    "job": "#/job/drill-1",  # that plan's drill
    "lots": "#/lots",  # empty until tests/test_dashboard_lots.py records a harvest lot
    "regional": "#/regional",  # for regional users: the agronomist is told so (tests/test_dashboard_regional.py)
}
SCREENSHOTS = {"overview": "overview", "zone": "zone", "irrigation": "irrigation", "alerts": "alerts",
               "nodes": "nodes", "node": "commissioning", "bus": "bus", "login": "login", "trap": "trap",
               "machinery": "machinery-walk", "progress": "progress-walk", "dispatch": "dispatch-walk",
               "job": "job-walk", "lots": "lots", "regional": "regional-walk"}

# What a page shows in Latin letters in Chinese too: SI and instrument units, the FAO-56
# symbols Chinese agronomy writes as they are, the soil test's pH and its units as Chinese lab
# reports print them, protocol and product names, the token prefix.
LATIN_TERMS = [
    "L/min", "m/s", "dS/m", "W/m²", "°C·d", "kPa", "dBm", "mm", "cm", "RAW", "TAW", "MAD", "ET₀", "ETc", "Kc",
    "pH", "mg/kg", "g/kg",
    "Modbus", "API", "HTTP", "CRC", "Furrow", "fw_", "NDVI", "FAO-56", "CSV", "Parquet", "DCAT",
    "FAO-33", "Ya/Ym", "Ky", "ETa", "ETm", "Ym",  # FAO-33 eq. 1 and its symbols, as Chinese texts write them
    "Leaflet",  # the map library credited in the map's corner
]
SINGLE_LETTER_UNITS = re.compile(r"(?<![A-Za-z])[VhLp](?![A-Za-z])")  # volts, hours, litres, FAO-56's p
SENSOR_ID = re.compile(r"\b[a-z]+(?:_[a-z0-9]+)+(?:@\d+)?\b")  # vwc_pct@30, as the contract names sensors
CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")

COLLECT = """() => {
  const out = [];
  const visible = (el) => el.checkVisibility({ checkOpacity: true, checkVisibilityCSS: true });
  const where = (el) => {
    const view = el.closest("[data-view]");
    return `${view ? view.dataset.view + " " : ""}${el.tagName.toLowerCase()}` +
      (typeof el.className === "string" && el.className ? "." + el.className.split(" ")[0] : "");
  };
  const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walk.nextNode(); n; n = walk.nextNode()) {
    const el = n.parentElement;
    const text = n.textContent.trim();
    // <code> holds commands and identifiers, no language; a <cite> quotes a source as published;
    // a select's options are taken below
    if (!text || !el || el.closest("script, style, code, cite, select") || !visible(el)) continue;
    out.push([text, where(el)]);
  }
  for (const el of document.querySelectorAll("[placeholder], [title], [aria-label]")) {
    if (!visible(el)) continue;
    for (const a of ["placeholder", "title", "aria-label"]) {
      const v = (el.getAttribute(a) || "").trim();
      if (v) out.push([v, `${where(el)}@${a}`]);
    }
  }
  for (const sel of document.querySelectorAll("select")) {
    if (visible(sel)) for (const o of sel.options) out.push([o.text.trim(), `${where(sel)} option`]);
  }
  return out;
}"""


def catalogue(locale: str) -> dict[str, str]:
    return json.loads((CATALOGUES / f"{locale}.json").read_text(encoding="utf-8"))


# The language picker names each language in itself ("中文", "English") in every language.
ENDONYMS = {v for k, v in catalogue("en").items() if k.startswith("language.") and k != "language.label"}


def data_of(farm: Farm) -> list[str]:
    """The farm's own words: names and ids from the registry, users, gateways, ports, alert
    subjects, command ids and reasons, what the tests typed; longest first."""
    users = [*farm.user_of.values(), "li"]
    words: set[str] = {"UTC", *users, *(f"person:{u}" for u in users)}  # UTC: the browser's zone before login
    with farm.client("admin") as c:
        for kind in ("sites", "fields", "zones", "nodes"):
            for row in c.get(f"/registry/{kind}").json():
                words |= {str(row.get(k)) for k in ("id", "name", "timezone", "firmware") if row.get(k)}
        for g in c.get("/gateways").json():
            words |= {g["site"], g["gateway"]}
            ports = c.get(f"/gateways/{g['site']}/{g['gateway']}/bus").json().get("ports", [])
            words |= {p["port"] for p in ports}
            words |= {str(d.get(k)) for p in ports for d in p["devices"] for k in ("node", "last_error") if d.get(k)}
        words |= {m["node"] for m in c.get("/machines").json()}  # trackers (tests/test_dashboard_machinery.py)
        plan = c.get("/dispatch/current")  # the kept dispatch plan's machines (tests/test_dashboard_dispatch.py)
        if plan.status_code == 200:
            words |= {m["id"] for m in plan.json()["request"]["machines"]}
        for sp in c.get("/pests/species").json():  # the species table: keys and scientific names
            words |= {sp["key"], sp["name"]}
        for a in c.get("/alerts", params={"state": "all", "limit": 500}).json():
            words |= {a["subject"], a["zone"] or ""}
        for cmd in c.get("/commands", params={"limit": 500}).json():
            words |= {cmd["id"], cmd["node"], cmd.get("reason") or ""}
            words |= {e.get("reason") or "" for e in cmd.get("events", [])}
    words |= {"fertigation before the heat", "checked the node's battery"}  # typed in tests/test_dashboard.py
    # the machine the walk's job page opens: its id is in the page's heading with or without a kept plan
    # (a worker that has not run tests/test_dashboard_dispatch.py has none)
    words.add(PAGES["job"].rsplit("/", 1)[1])
    return sorted((w for w in words if w), key=len, reverse=True)


def untranslated(texts: list[list[str]], data: list[str]) -> list[tuple[str, str]]:
    """The texts that still hold Latin letters once the farm's data and the Latin terms of
    Chinese agronomy are taken out, with where each is, and the English catalogue texts they show."""
    english = {k: v for k, v in catalogue("en").items() if v != catalogue("zh-CN").get(k)}
    bad = []
    for text, where in texts:
        if text in ENDONYMS:
            continue
        rest = text
        for word in [*data, *LATIN_TERMS]:  # whole words only: "li" (a user) is no licence for "English"
            rest = re.sub(rf"(?<![A-Za-z0-9_]){re.escape(word)}(?![A-Za-z0-9_])", " ", rest)
        rest = SENSOR_ID.sub(" ", SINGLE_LETTER_UNITS.sub(" ", rest))
        if re.search(r"[A-Za-z]", rest):
            shown = [k for k, v in english.items() if re.sub(r"\{\w+\}", "", v).strip() and
                     all(part.strip() in text for part in re.split(r"\{\w+\}", v) if part.strip())]
            bad.append((text, f"{where} (English of {shown[:3]})" if shown else where))
    return bad


def chinese_in(texts: list[list[str]]) -> list[tuple[str, str]]:
    return [(text, where) for text, where in texts if CJK.search(text) and text not in ENDONYMS]


def missing_keys(page: Page) -> list[str]:
    return page.evaluate("[...window.__furrowI18n.missing]")


def open_page(page: Page, farm: Farm, name: str) -> None:
    page.goto(f"{farm.url}/app/{PAGES[name]}")
    page.wait_for_selector(f"[data-view={name}][data-rendered='1']")
    expect(page.locator("#live")).to_have_attribute("data-state", "live")


@pytest.fixture(scope="module")
def farm(dashboard_farm):
    """The dashboard tests' farm with a trap set up on its camera, alerts evaluated, a planner decision
    and a bus report, so every page shows its texts."""
    with dashboard_farm.client("admin") as c:
        r = c.put(f"/pests/traps/{CAMERA}/1", json={"card": "white-pheromone", "lure": "helicoverpa-zea",
                                                    "view_width_mm": 200})
        assert r.status_code == 200, r.text  # its trap photo is counted now: the trap page has a count
        assert c.post("/alerts/evaluate").status_code == 200
        r = c.post(f"/zones/{ZONE}/plan")
        assert r.status_code == 200 and r.json()["messages"], r.text
    with dashboard_farm.client("gateway") as gw:
        status = {"ts_ms": r.json()["ts_ms"], "modbus": {"soil-07": {
            "port": "/dev/ttyUSB0", "unit": 7, "role": "soil", "polls": 10, "requests": 20, "errors": 1,
            "consecutive_failures": 4, "backed_off": True, "last_good_ms": r.json()["ts_ms"] - 600_000}}}
        assert gw.post("/gateways/demo/gw-1/status", json=status).status_code == 204
    return dashboard_farm


@pytest.fixture(scope="module")
def data(farm):
    return data_of(farm)


def walk(page: Page, farm: Farm, shots: str | None = None) -> dict[str, list[list[str]]]:
    """Log in (from the login page, in the browser's language) and open every page; what each
    shows, by page; with `shots`, a screenshot of each as docs/img/dashboard-SHOTS-<page>.png."""
    page.goto(f"{farm.url}/")
    page.wait_for_selector("[data-view=login][data-rendered='1']")
    expect(page.locator("#nav")).to_be_hidden()  # nothing to navigate to before login
    expect(page.locator("#live")).to_have_css("background-color", "rgba(255, 255, 255, 0.133)")  # offline: not green
    seen = {"login": page.evaluate(COLLECT)}
    if shots:
        screenshot(page, f"{shots}-{SCREENSHOTS['login']}")
    login_with_token(page, farm, "agronomist")
    for name in PAGES:
        open_page(page, farm, name)
        seen[name] = page.evaluate(COLLECT)
        assert missing_keys(page) == [], name
        if shots:
            screenshot(page, f"{shots}-{SCREENSHOTS[name]}")
    return seen


def test_the_walk_opens_every_page_of_the_dashboard():
    """The pages the walk opens are every view app.js routes to, so a page added later is walked
    (and must then be added here) or this fails."""
    views = set(re.findall(r"^\s+(\w+): \(\) => import\(", (STATIC / "app.js").read_text(), re.M))
    assert views and views == set(PAGES) | {"login"}


def test_every_page_in_chinese_shows_no_untranslated_label(farm, data, dashboard_browser):
    """A browser that prefers zh-CN gets every page in Chinese: nothing but the farm's data and
    the Latin symbols of Chinese agronomy in Latin letters, no key missing from zh-CN, no error;
    the pages' screenshots are saved for docs/dashboard.md."""
    page = new_page(dashboard_browser, locale="zh-CN")
    seen = walk(page, farm, shots="zh")
    assert page.evaluate("document.documentElement.lang") == "zh-CN"
    assert {name: untranslated(texts, data) for name, texts in seen.items() if untranslated(texts, data)} == {}
    assert any("根区水分亏缺" in text for text, _ in seen["zone"] + seen["irrigation"])  # a decision, translated
    assert any(text == "soil-09 从未收到数据" for text, _ in seen["alerts"])  # its alert, from its message key
    assert page.errors == []


def test_every_page_in_english_shows_no_chinese(farm, dashboard_browser):
    """A browser that prefers English gets every page in English: no Chinese character, no key
    missing from the English catalogue."""
    page = new_page(dashboard_browser, locale="en-GB")
    seen = walk(page, farm)
    assert page.evaluate("document.documentElement.lang") == "en"
    assert {name: chinese_in(texts) for name, texts in seen.items() if chinese_in(texts)} == {}
    # which browser languages read which catalogue: Traditional Chinese is not offered Simplified
    assert page.evaluate("import('/app/i18n.js').then((m) => [['zh-TW', 'en-US'], ['zh-Hans-CN'], ['zh'], ['fr']]"
                         ".map((tags) => m.matchLocale(tags)))") == ["en", "zh-CN", "zh-CN", None]
    assert page.errors == []


def test_the_checks_fail_on_a_missing_key_an_english_label_and_a_chinese_one(farm, data, dashboard_browser):
    """The checks can fail: with "zone.crop" taken out of the zh-CN catalogue the zone page shows
    its English ("Crop"), which the zh-CN check reports and the page counts as missing; a label
    put on the page without the catalogue is reported in zh-CN, a Chinese one in English."""
    page = new_page(dashboard_browser, locale="zh-CN")
    cut = {k: v for k, v in catalogue("zh-CN").items() if k != "zone.crop"}
    page.route("**/app/i18n/zh-CN.json", lambda route: route.fulfill(json=cut))
    login_with_token(page, farm, "agronomist")
    open_page(page, farm, "zone")
    assert missing_keys(page) == ["zone.crop"]
    found = untranslated(page.evaluate(COLLECT), data)
    assert [text for text, _ in found] == ["Crop"], found
    assert "zone.crop" in found[0][1]
    page.evaluate("document.querySelector('[data-view=zone]').append(Object.assign("
                  "document.createElement('h3'), {textContent: 'Soil moisture by depth'}))")
    assert [text for text, _ in untranslated(page.evaluate(COLLECT), data)] == ["Crop", "Soil moisture by depth"]

    english = new_page(dashboard_browser, locale="en-GB")
    login_with_token(english, farm, "agronomist")
    open_page(english, farm, "nodes")
    assert chinese_in(english.evaluate(COLLECT)) == []
    english.evaluate("document.querySelector('[data-view=nodes]').append(Object.assign("
                     "document.createElement('p'), {textContent: '土壤含水量'}))")
    assert [text for text, _ in chinese_in(english.evaluate(COLLECT))] == ["土壤含水量"]


def test_switching_language_is_live_and_follows_the_person_to_another_browser(farm, data, dashboard_browser):
    """A person switches the zone page to Chinese: it changes at once, without a reload; after a
    reload it is still Chinese; on another browser that prefers English she logs in and gets
    Chinese, since her choice is kept with her user; switching back there changes it again."""
    farm.add_user("li", "agronomist", "furrow-dashboard-pw-2")
    page = new_page(dashboard_browser, locale="en-GB")
    password_login(page, farm, "li", "furrow-dashboard-pw-2")
    open_page(page, farm, "zone")
    expect(page.locator("[data-nav=alerts]")).to_have_text("Alerts")
    page.evaluate("window.__notReloaded = true")
    page.select_option("#lang", "zh-CN")
    expect(page.locator("[data-nav=alerts]")).to_have_text("告警")
    page.wait_for_selector("[data-view=zone][data-rendered='1']")
    expect(page.locator("[data-view=zone] h3").first).to_have_text("根区土壤水分")
    assert page.evaluate("window.__notReloaded") is True
    assert untranslated(page.evaluate(COLLECT), data) == [] and missing_keys(page) == []
    with farm.client("admin") as c:  # the choice reached the server (PUT /auth/me/locale) before the reload
        expect_locale(c, "li", "zh-CN")

    page.reload()
    page.wait_for_selector("[data-view=zone][data-rendered='1']")
    expect(page.locator("[data-nav=alerts]")).to_have_text("告警")

    other = new_page(dashboard_browser, locale="en-GB")  # another browser: no storage of the first
    other.goto(f"{farm.url}/")
    expect(other.get_by_test_id("password-login")).to_have_text("Log in")  # before login: its browser's language
    password_login(other, farm, "li", "furrow-dashboard-pw-2")
    expect(other.locator("[data-nav=alerts]")).to_have_text("告警")
    assert other.evaluate("localStorage.getItem('furrow.locale')") == "zh-CN"
    other.select_option("#lang", "en")
    expect(other.locator("[data-nav=alerts]")).to_have_text("Alerts")
    with farm.client("admin") as c:
        expect_locale(c, "li", "en")
    assert page.errors == [] and other.errors == []


def password_login(page: Page, farm: Farm, name: str, password: str) -> None:
    page.goto(f"{farm.url}/")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", password)
    page.get_by_test_id("password-login").click()
    expect(page.get_by_test_id("who")).to_contain_text(f"{name} ·")
    page.wait_for_selector("[data-view=overview][data-rendered='1']")


def expect_locale(admin, user: str, locale: str, timeout_s: float = 10.0) -> None:
    """The user's dashboard language as the server keeps it, read as she would (a token of hers),
    waiting for the page's PUT (at most `timeout_s`)."""
    token = admin.post("/auth/tokens", json={"user": user, "role": "agronomist"}).json()["token"]
    deadline = time.monotonic() + timeout_s
    while (me := admin.get("/auth/me", headers={"Authorization": f"Bearer {token}"}).json())["locale"] != locale:
        assert time.monotonic() < deadline, me
        time.sleep(0.1)
