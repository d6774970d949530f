"""The dashboard in a real browser: Playwright drives Debian's Chromium (headless) against a
running cloud service (uvicorn, SQLite) whose demo farm came in through the real ingest API.

Each role logs in; the overview, a zone page with a season of 15-minute data, a node's
commissioning view, the irrigation page (an override whose command lifecycle updates live as
the gateway acknowledges it), alerts, nodes and bus health are used as a person would. The
tests save the screenshots docs/dashboard.md shows, and print how fast the zone page was.
"""

from __future__ import annotations

import os
import re
import time

import pytest
from playwright.sync_api import Page, expect

from furrow.edge.batch import GAP_FLOOD, make_batch, make_gap, make_item
from furrow.edge.commands import make_ack
from furrow.edge.payload import make_reading, make_uplink
from tests.dashboard_support import CAMERA, SHOTS, SOIL_NODES, ZONE, Farm, login_with_token, new_page, screenshot

# The pages in English (the browser prefers en-GB); tests/test_dashboard_i18n.py walks them in both languages.
_page = new_page
_shot = screenshot


@pytest.fixture(scope="module")
def farm(dashboard_farm):
    return dashboard_farm


@pytest.fixture(scope="module")
def browser(dashboard_browser):
    return dashboard_browser


def _login(page: Page, farm: Farm, role: str) -> None:
    login_with_token(page, farm, role)
    expect(page.get_by_test_id("who")).to_contain_text(role)
    expect(page.locator("#live")).to_have_text("live")


def _post_readings(farm: Farm, node: str, seq: int, vwc: float, raw: float) -> None:
    now = int(time.time() * 1000)
    up = make_uplink(node, "soil", seq, now, [make_reading("vwc_pct", vwc, depth_cm=10),
                                              make_reading("soil_raw", raw, depth_cm=10)], "0.1.0", bat_v=3.9,
                     rssi_dbm=-60)
    with farm.client("gateway") as gw:
        r = gw.post("/ingest/batch", json=make_batch("demo", "gw-1", f"gw-1-live-{seq}", now, [make_item(up, now)]))
        assert r.status_code == 200 and r.json()["stored"] == 2, r.text


def test_each_role_logs_in_and_sees_what_its_role_allows(farm, browser):
    """An agronomist logs in with her password (a wrong one is refused on the page); technician,
    agronomist and admin log in with a token and see the farm; a gateway token is turned away;
    only agronomist and admin get override controls, a technician is told why not."""
    farm.add_user("maria", "agronomist", "furrow-dashboard-pw-1")
    page = _page(browser)
    page.goto(f"{farm.url}/")
    page.fill("input[name=name]", "maria")
    page.fill("input[name=password]", "not-her-password")
    page.click("button:has-text('Log in')")
    expect(page.locator(".notice.error")).to_contain_text("Login refused: password: wrong name or password")
    page.fill("input[name=password]", "furrow-dashboard-pw-1")
    page.click("button:has-text('Log in')")
    expect(page.get_by_test_id("who")).to_have_text("maria · agronomist")
    expect(page.locator(f".zone-tile[data-zone={ZONE}]")).to_be_visible()
    page.click("text=Log out")
    for role in ("technician", "agronomist", "admin"):
        _login(page, farm, role)
        expect(page.locator(f".zone-tile[data-zone={ZONE}]")).to_contain_text("North pivot")
        page.goto(f"{farm.url}/app/#/irrigation/{ZONE}")
        if role == "technician":
            expect(page.locator(".view-irrigation")).to_contain_text("Overrides are for agronomists")
            plan = page.get_by_test_id("plan")  # without its plan-now button, nothing in its place (it said "null")
            expect(plan.locator("p").first).to_be_visible()
            expect(plan).not_to_contain_text("null")
            expect(page.locator("select[name=action]")).to_have_count(0)
        else:
            expect(page.locator("select[name=action]")).to_be_visible()
        if role == "agronomist":
            with farm.client("agronomist") as c:
                assert c.post("/alerts/evaluate").status_code == 200  # the rules' scheduled run, now
            page.goto(f"{farm.url}/app/#/overview")
            expect(page.locator("[data-card=alerts] tr[data-alert]").first).to_be_visible()
            expect(page.locator(f".zone-tile[data-zone={ZONE}]")).to_be_visible()
            _shot(page, "overview")
        page.click("text=Log out")
    page.fill("input[name=token]", farm.tokens["gateway"])
    page.click("text=Use token")
    expect(page.locator("main")).to_contain_text("belongs to a gateway")
    assert page.errors == []


_POINTER = """([x, y]) => new Promise((done) => {
    const over = document.querySelector('[data-testid=soil-chart] .u-over');
    const value = document.querySelector('[data-testid=soil-chart] .u-legend .u-series:nth-child(2) .u-value');
    const t = performance.now();
    over.dispatchEvent(new MouseEvent('mousemove', {clientX: x, clientY: y, bubbles: true}));
    const check = () => value.textContent.trim() !== '--' ? done(performance.now() - t)
                                                        : requestAnimationFrame(check);
    requestAnimationFrame(check); })"""

_FETCH = """async ([token, query]) => {
    const t = performance.now();
    const r = await fetch('/api/v1/zones/north-1/columns?measurement=vwc_pct&' + query,
                          {headers: {Authorization: 'Bearer ' + token}});
    await r.json();
    return [performance.now() - t, r.headers.get('server-timing')]; }"""


def measure_zone_page(page: Page, farm: Farm) -> dict:
    """Open the 90-day zone page in a fresh document and measure it in the page: navigation to
    the soil chart drawn, a pointer move to the legend's update, and the raw limit (the same
    JSON fetched and parsed alone once the page is idle); the 15-minute JSON for all 90 days
    (what the page used to draw) is fetched alone too."""
    page.goto("about:blank")  # a fresh document, so the page's clock starts at this navigation
    page.goto(f"{farm.url}/app/#/zone/{ZONE}?days=90")
    page.wait_for_selector("[data-view=zone][data-soil-ready='1']", timeout=60_000)
    perf = page.evaluate("window.__furrowPerf")
    box = page.locator("[data-testid=soil-chart] .u-over").bounding_box()
    perf["inputMs"] = page.evaluate(_POINTER, [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2])
    page.wait_for_selector("[data-view=zone][data-ready='1']", timeout=60_000)
    perf.update(page.evaluate("window.__furrowPerf"))
    token = farm.tokens["agronomist"]
    query = page.evaluate("performance.getEntriesByType('resource').filter((e) => e.name.includes('/columns?'))"
                          "[0].name.split('?')[1].replace('measurement=vwc_pct&', '')")
    perf["rawLimitMs"], perf["rawLimitTiming"] = page.evaluate(_FETCH, [token, query])
    perf["allReportsMs"], perf["allReportsTiming"] = page.evaluate(_FETCH, [token, "days=90&window=15m"])
    return perf


def print_zone_perf(label: str, perf: dict, farm: Farm) -> None:
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\n{label}: zone page, 90 days, {perf['points']} points drawn "
          f"({perf['windowMs'] // 60_000}-minute windows)\n"
          f"  navigation -> chart drawn {perf['sinceNavigationMs']:.0f} ms; view started -> drawn "
          f"{perf['soilReadyMs']:.0f} ms\n"
          f"  its data {perf['fetchMs']:.0f} ms (store {perf['storeMs']:.0f} ms, shaping {perf['shapeMs']:.0f} ms, "
          f"{perf['bytes']} bytes)\n"
          f"  raw limit, the same JSON fetched and parsed alone: {perf['rawLimitMs']:.0f} ms "
          f"({perf['rawLimitTiming']})\n"
          f"  pointer move -> legend update {perf['inputMs']:.1f} ms; whole page {perf['completeMs']:.0f} ms\n"
          f"  all 86,400 15-minute windows fetched alone: {perf['allReportsMs']:.0f} ms ({perf['allReportsTiming']})\n"
          f"  season ingested: {farm.seeded['readings']} readings in {farm.seeded['ingest_s']:.1f} s; load {load}")


def zoom_in_and_out(page: Page, days: float, shot: str | None = None) -> tuple[dict, dict]:
    """Drag across `days` in the middle of the soil chart, wait for the finer data (and take the
    chart's screenshot `shot`), then double-click back out; the chart's state after each."""
    chart = page.get_by_test_id("soil-chart")
    over = chart.locator(".u-over")
    over.scroll_into_view_if_needed()
    box = over.bounding_box()
    width = box["width"] * days / 90
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + width / 2, y, steps=4)
    page.mouse.move(x + width, y, steps=4)
    page.mouse.up()
    expect(chart).to_have_attribute("data-zoom", "in")
    zoomed = chart.evaluate("(el) => ({...el.dataset})")
    expect(page.get_by_test_id("soil-window")).to_contain_text("Zoomed in: 15-minute means")
    if shot:
        SHOTS.mkdir(parents=True, exist_ok=True)
        chart.screenshot(path=str(SHOTS / f"dashboard-{shot}.png"))
    page.mouse.dblclick(x, y)
    expect(chart).to_have_attribute("data-zoom", "out")
    return zoomed, chart.evaluate("(el) => ({...el.dataset})")


def test_zone_page_draws_a_season_of_15_minute_data_and_reports_its_time(farm, browser):
    """A zone page with 90 days of 15-minute data from ten sensors draws about one window per
    pixel (whole hours, from the roll-up); zooming into three days fetches and draws every
    15-minute report there, a double click goes back to the overview, and a new report extends
    the chart live. The time to the drawn chart, the raw limit and a pointer's response are
    measured in the page and printed (not asserted)."""
    page = _page(browser)
    _login(page, farm, "agronomist")
    expect(page.locator(".zone-tile").first).to_be_visible()  # the overview's requests are done: none competes
    perf = measure_zone_page(page, farm)
    window_ms = perf["windowMs"]
    assert window_ms % 3_600_000 == 0 and window_ms <= 6 * 3_600_000, perf  # hours, ~one window per pixel
    windows = 90 * 86_400_000 // window_ms
    assert len(SOIL_NODES) * 2 * windows <= perf["points"] <= len(SOIL_NODES) * 2 * (windows + 2), perf
    assert page.locator("[data-testid=soil-chart] canvas").count() == 1
    zoomed, out = zoom_in_and_out(page, days=3, shot="zone-zoomed")
    assert zoomed["windowMs"] == "900000", zoomed  # every report in the zoomed span
    assert out["zoomFetches"] == "1", out  # one request per zoom: drawing it is no new zoom
    assert int(zoomed["points"]) >= len(SOIL_NODES) * 2 * 96 * 2, zoomed  # at least two days of them
    assert out["windowMs"] == str(window_ms) and out["points"] == str(perf["points"]), out
    print_zone_perf("SQLite", perf, farm)
    print(f"zoom into 3 days: {zoomed['points']} 15-minute points fetched and drawn in {zoomed['zoomMs']} ms")
    expect(page.get_by_test_id("water-status")).not_to_have_text("…")
    _post_readings(farm, "soil-02", 900_002, vwc=22.2, raw=21120)  # a new report extends the chart live
    expect(page.get_by_test_id("soil-chart")).to_have_attribute("data-live-updates", "1")
    _shot(page, "zone")
    phone = _page(browser, 390, 844)
    _login(phone, farm, "agronomist")
    phone.goto(f"{farm.url}/app/#/zone/{ZONE}?days=7")
    phone.wait_for_selector("[data-view=zone][data-ready='1']", timeout=60_000)
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390, "the phone page scrolls sideways"
    _shot(phone, "zone-phone")
    assert page.errors == [] and phone.errors == []


@pytest.mark.full
@pytest.mark.influxdb
def test_zone_page_on_influxdb_draws_the_season_from_its_roll_ups(browser, influxdb, influx_db, tmp_path):
    """The same 90-day zone page against a service storing readings in a real InfluxDB 1.x (roll-ups on,
    the season ingested through the API): hour windows from the hourly roll-up, every 15-minute report
    when zoomed into three days; its times are measured and printed like SQLite's."""
    f = Farm(tmp_path)
    f.extra_env = {"FURROW_STORAGE": "influxdb1", "FURROW_INFLUX_URL": influxdb.url,
                   "FURROW_INFLUX_DATABASE": influx_db}
    f.start()
    try:
        f.seeded = f.seed(int(time.time() * 1000))
        page = _page(browser)
        _login(page, f, "agronomist")
        expect(page.locator(".zone-tile").first).to_be_visible()
        perf = measure_zone_page(page, f)
        windows = 90 * 86_400_000 // perf["windowMs"]
        assert perf["windowMs"] % 3_600_000 == 0, perf
        assert len(SOIL_NODES) * 2 * windows <= perf["points"] <= len(SOIL_NODES) * 2 * (windows + 2), perf
        zoomed, out = zoom_in_and_out(page, days=3)
        assert zoomed["windowMs"] == "900000" and int(zoomed["points"]) >= len(SOIL_NODES) * 2 * 96 * 2, zoomed
        assert out["points"] == str(perf["points"]), out
        print_zone_perf("InfluxDB 1.x", perf, f)
        print(f"zoom into 3 days: {zoomed['points']} 15-minute points fetched and drawn in {zoomed['zoomMs']} ms")
        assert page.errors == []
    finally:
        f.stop()


def test_zone_page_shows_its_cameras_photos_newest_first_and_opens_one_whole(farm, browser):
    """The zone page's image timeline holds its camera's six photos newest first, each a thumbnail the server
    made (320 px wide) with its time and kind; a click opens the whole 640 x 480 photo, and Close closes it."""
    page = _page(browser)
    _login(page, farm, "agronomist")
    page.goto(f"{farm.url}/app/#/zone/{ZONE}?days=7")
    page.wait_for_selector("[data-view=zone][data-rendered='1']", timeout=60_000)
    thumbs = page.locator("[data-testid=image-timeline] .image-thumb")
    expect(thumbs).to_have_count(len(Farm.photos(0)))
    assert thumbs.evaluate_all("els => els.map((e) => e.dataset.image)") == [f"{CAMERA}/{seq}" for seq in
                                                                             range(6, 0, -1)]
    for i in range(6):
        expect(thumbs.nth(i).locator("img")).to_have_js_property("naturalWidth", 320)  # decoded: a real thumbnail
    expect(thumbs.first).to_contain_text(f"trap card · {CAMERA}")
    expect(thumbs.nth(1)).to_contain_text(f"canopy · {CAMERA}")
    page.locator("[data-card=images]").scroll_into_view_if_needed()
    page.locator("[data-card=images]").screenshot(path=str(SHOTS / "dashboard-zone-images.png"))
    thumbs.nth(1).click()
    full = page.get_by_test_id("image-full")
    expect(full).to_contain_text(f"canopy · {CAMERA} · taken")
    expect(full).to_contain_text("640 × 480 px")
    expect(full.locator("img")).to_have_js_property("naturalWidth", 640)
    page.screenshot(path=str(SHOTS / "dashboard-zone-photo.png"))
    full.get_by_role("button").click()
    expect(page.get_by_test_id("image-full")).to_have_count(0)
    assert page.errors == []


def test_commissioning_view_shows_new_readings_live_and_saves_a_calibration(farm, browser):
    """A technician's commissioning view of soil-01 shows its checklist; a report ingested
    meanwhile appears without a reload; two-point calibrations fitted on the page for each of
    its probes are stored, and the checklist's calibrated item ticks once both have one."""
    page = _page(browser)
    _login(page, farm, "technician")
    page.goto(f"{farm.url}/app/#/node/soil-01")
    expect(page.locator("[data-check=registered]")).to_have_attribute("data-ok", "1")
    expect(page.locator("[data-check=first_good_reading]")).to_have_attribute("data-ok", "1")
    expect(page.locator("[data-check=calibrated]")).to_have_attribute("data-ok", "0")
    _post_readings(farm, "soil-01", 900_001, vwc=24.68, raw=20123)
    expect(page.locator("tr[data-measurement=vwc_pct][data-depth='10']")).to_contain_text("24.68")
    expect(page.locator("tr[data-measurement=soil_raw][data-depth='10']")).to_contain_text("20,123")
    rows = page.locator(".card:has-text('Soil sensor calibration') tbody tr")
    expect(page.locator("select[name=depth]")).to_have_value("10")
    rows.nth(0).locator("button:has-text('use live raw')").click()
    expect(rows.nth(0).locator("input").nth(0)).to_have_value("20123")
    rows.nth(0).locator("input").nth(1).fill("24.7")
    rows.nth(1).locator("input").nth(0).fill("41000")
    rows.nth(1).locator("input").nth(1).fill("3.5")
    page.get_by_test_id("save-calibration").click()
    expect(page.get_by_test_id("calibration-result")).to_contain_text("Stored on the node's registry entry for the "
                                                                       "probe at 10 cm")
    expect(page.locator("tr[data-measurement=vwc_pct][data-depth='10']")).to_contain_text("24.70 %")
    expect(page.locator("[data-check=calibrated]")).to_contain_text("none for 30 cm")
    expect(page.locator("[data-check=calibrated]")).to_have_attribute("data-ok", "0")
    page.select_option("select[name=depth]", "30")  # the deeper probe, in its own layer
    rows.nth(0).locator("button:has-text('use live raw')").click()
    expect(rows.nth(0).locator("input").nth(0)).not_to_have_value("20123")
    rows.nth(0).locator("input").nth(1).fill("26.0")
    page.get_by_test_id("save-calibration").click()
    expect(page.get_by_test_id("calibration-result")).to_contain_text("probe at 30 cm")
    expect(page.locator("[data-check=calibrated]")).to_have_attribute("data-ok", "1")
    _shot(page, "commissioning")
    page.goto(f"{farm.url}/app/#/nodes")
    expect(page.locator("tr[data-node=soil-09]")).to_have_attribute("data-stale", "1")
    expect(page.locator("tr[data-node=soil-01]")).to_have_attribute("data-stale", "0")
    # the camera's newest photo is 11 to 35 h old (Farm.photos): a camera shoots a day apart, it is not silent
    expect(page.locator(f"tr[data-node={CAMERA}]")).to_have_attribute("data-stale", "0")
    _shot(page, "nodes")
    # its commissioning page judges it on its photos: heard, a first photo, nothing to calibrate
    page.goto(f"{farm.url}/app/#/node/{CAMERA}")
    expect(page.locator("[data-check=heard]")).to_have_attribute("data-ok", "1")
    expect(page.locator("[data-check=heard]")).to_contain_text(re.compile(r"last heard \d+ hr ago"))  # not in seconds
    expect(page.locator("[data-check=first_photo]")).to_have_attribute("data-ok", "1")
    expect(page.locator("[data-check=first_photo]")).to_contain_text("photo(s) in the last 7 days")
    expect(page.get_by_test_id("camera-photos")).to_be_visible()
    expect(page.get_by_test_id("ready")).to_have_text("Ready: every check passes.")
    expect(page.get_by_test_id("save-calibration")).to_have_count(0)
    assert page.errors == []


def test_a_nodes_page_shows_the_readings_its_gateway_did_not_forward_and_the_unexplained_losses(farm, browser):
    """Readings a gateway reported not forwarding show on the node's page per reason with their seqs,
    and a seq missing that nothing explains shows as a loss."""
    now = int(time.time() * 1000)
    vwc = [make_reading("vwc_pct", 25.0, depth_cm=10)]
    items = [make_item(make_uplink("soil-77", "soil", seq, now - (10 - seq) * 60_000, vwc, "0.1.0"), now)
             for seq in (1, 2, 5)]
    flood = make_gap("gw-1-dash-1", "soil-77", GAP_FLOOD, 1, [[3, 3]], now - 60_000, now - 60_000)
    with farm.client("gateway") as gw:
        r = gw.post("/ingest/batch", json={**make_batch("demo", "gw-1", "gw-1-gaps-1", now, items), "gaps": [flood]})
        assert r.status_code == 200 and r.json()["gaps"] == 1, r.text
    page = _page(browser)
    _login(page, farm, "technician")
    page.goto(f"{farm.url}/app/#/node/soil-77")
    gaps = page.get_by_test_id("gaps")
    expect(gaps.locator("li[data-reason=flood]")).to_have_attribute("data-count", "1")
    expect(gaps.locator("tr[data-reason=flood]")).to_contain_text("node over its message budget")
    expect(gaps.get_by_test_id("losses").locator("li[data-first='4'][data-last='4']")).to_be_visible()
    _shot(page, "node-gaps")
    assert page.errors == []


def test_an_override_shows_its_command_lifecycle_live(farm, browser):
    """An agronomist's water-now override, confirmed on the page, makes a command recorded with
    her name; as the gateway acknowledges it (received, started, completed) the row moves
    through its lifecycle without a reload."""
    page = _page(browser)
    _login(page, farm, "agronomist")
    page.goto(f"{farm.url}/app/#/irrigation/{ZONE}")
    page.select_option("select[name=action]", "water_now")
    page.fill("input[name=amount_mm]", "8")
    page.fill("input[name=reason]", "fertigation before the heat")
    page.click("button:has-text('Review')")
    expect(page.locator(".confirm")).to_contain_text("person:maria")
    page.get_by_test_id("confirm-override").click()
    expect(page.locator(".notice.ok")).to_contain_text("recorded by person:maria")
    row = page.locator("[data-testid=commands] tr[data-command]").first
    expect(row).to_have_attribute("data-state", "created")
    command_id = row.get_attribute("data-command")
    t = int(time.time() * 1000)
    with farm.client("gateway") as gw:
        for i, state in enumerate(("received", "started", "completed")):
            ack = make_ack(command_id, "irr-01", state, t + i, runtime_s=600 if state == "completed" else None,
                           volume_l=1000.0 if state == "completed" else None)
            assert gw.post("/commands/acks", json=ack).status_code == 200
            expect(page.locator(f"tr[data-command='{command_id}']")).to_have_attribute("data-state", state)
    expect(page.locator(f"tr[data-command='{command_id}'] .lifecycle li")).to_have_count(4)
    _shot(page, "irrigation")
    assert page.errors == []


def test_the_live_stream_comes_back_with_the_id_of_the_last_message_it_read(farm, browser):
    """Each stream the server ends is followed by one that sends the last message's id as
    Last-Event-ID (so the server hands over what was published in between); the first sends none."""
    page = _page(browser)
    asked: list[str | None] = []

    def short_stream(route) -> None:  # the server's stream, ended at once as it ends every 30 s
        asked.append(route.request.headers.get("last-event-id"))
        route.fulfill(status=200, headers={"Content-Type": "text/event-stream"},
                      body=f"retry: 3000\nid: 0a1b2c3d4e5f:{len(asked)}\nevent: hello\ndata: {{}}\n\n")

    page.route("**/api/v1/events", short_stream)
    _login(page, farm, "technician")
    deadline = time.monotonic() + 60
    while len(asked) < 3 and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    assert asked[:3] == [None, "0a1b2c3d4e5f:1", "0a1b2c3d4e5f:2"]
    assert page.errors == []


def test_alerts_filter_and_acknowledge_and_bus_health_shows_each_port(farm, browser):
    """Alerts filter by severity and are acknowledged with the person recorded; the bus page
    shows each Modbus port's devices, error rate and poll rate from the gateway's reports."""
    with farm.client("agronomist") as c:
        c.post("/alerts/evaluate")
        alerts = c.get("/alerts", params={"state": "open"}).json()
    assert alerts, "the seeded farm raises alerts (a node never heard)"
    page = _page(browser)
    _login(page, farm, "agronomist")
    page.goto(f"{farm.url}/app/#/alerts?state=open&severity=critical")
    expect(page.locator("tr[data-alert]").first).to_be_visible()
    for sev in page.locator("tr[data-alert] .badge").all_inner_texts():
        assert sev == "critical"
    first = page.locator("tr[data-alert]").first
    alert_id = first.get_attribute("data-alert")
    first.locator("input").fill("checked the node's battery")
    first.locator("button:has-text('Acknowledge')").click()
    expect(page.locator(f"tr[data-alert='{alert_id}']")).to_have_count(0)
    page.goto(f"{farm.url}/app/#/alerts?state=acknowledged")
    expect(page.locator(f"tr[data-alert='{alert_id}']")).to_contain_text("acknowledged by maria")
    _shot(page, "alerts")

    base = int(time.time() * 1000)
    with farm.client("gateway") as gw:
        for k, (polls, requests, errors) in enumerate(((100, 200, 2), (112, 224, 8))):
            status = {"ts_ms": base - 60_000 * (1 - k), "modbus": {
                "soil-07": {"port": "/dev/ttyUSB0", "unit": 7, "role": "soil", "polls": polls, "requests": requests,
                            "errors": errors, "last_good_ms": base},
                "soil-08": {"port": "/dev/ttyUSB0", "unit": 8, "role": "soil", "polls": polls, "requests": requests,
                            "errors": 0, "last_good_ms": base}}}
            assert gw.post("/gateways/demo/gw-1/status", json=status).status_code == 204
    page.goto(f"{farm.url}/app/#/bus")
    port = page.locator("[data-port='/dev/ttyUSB0']")
    expect(port).to_contain_text("error rate 12.5 %")  # 6 errors in 48 requests over the last minute
    expect(port).to_contain_text("24.0 polls/min")
    _shot(page, "bus")
    assert page.errors == []
