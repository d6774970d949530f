"""`furrow demo` as a new user meets it: started again at once on the last run's ports, it
simulates weeks of the season, and the dashboard's zone page shows the main job done (weeks of
soil water, ET0, the crop's stage, an explained decision) with no false alert; the summary of
`--duration 60` counts the decisions and the simulated days; the map shows the tractor spraying live, its
covered ground growing, the first task of its day in the kept dispatch plan. Playwright drives Debian's Chromium
(as tests/test_dashboard.py does) against the running demo; with FURROW_SCREENSHOTS=1 the screenshots go to docs/img for
docs/dashboard.md.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect, sync_playwright

from furrow.hil import demo_farm
from tests.dashboard_support import SHOTS
from tests.servers import free_port

ROOT = Path(__file__).resolve().parent.parent
FURROW = [sys.executable, "-m", "furrow.cli"]
TIMEOUT_MS = 20_000  # a bound on every wait; the machine may be busy with other tests
DAY_MS = 86_400_000
TRAP = demo_farm.TRAP_CAMERA
HARDWARE_ALERTS = {"sensor-fault", "node-offline", "battery-low", "irrigation-no-flow", "irrigation-flow-when-closed"}
expect.set_options(timeout=TIMEOUT_MS)


class DemoProcess:
    """`furrow demo` in a subprocess, its log read as it comes: the token and when it is live."""

    def __init__(self, args: list[str]) -> None:
        self.proc = subprocess.Popen([*FURROW, "demo", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        self.log: list[str] = []
        self.live = threading.Event()
        self.token = ""
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.log.append(line)
            if m := re.search(r"demo admin token: (\S+)", line):
                self.token = m.group(1)
            if "demo farm live:" in line:
                self.live.set()

    def wait_live(self, timeout_s: float) -> None:
        if not self.live.wait(timeout_s):
            self.proc.kill()
            pytest.fail("the demo did not go live in time:\n" + "".join(self.log[-60:]))

    def summary(self, timeout_s: float) -> dict:
        out, _ = self.proc.communicate(timeout=timeout_s)
        self._reader.join(5)
        assert self.proc.returncode == 0, "".join(self.log[-60:])
        return json.loads(out.strip().splitlines()[-1])


def _chromium() -> str:
    path = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        pytest.fail("Chromium is missing: install the Debian package chromium (scripts/test does)")
    return path


def _shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(SHOTS / f"demo-{name}.png"), full_page=True)


def _shot_of(page: Page, test_id: str, name: str) -> None:
    """One section of the page, scrolled into view (the zone page's crop growth, which a whole-page shot shrinks)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    section = page.get_by_test_id(test_id)
    section.scroll_into_view_if_needed()
    section.screenshot(path=str(SHOTS / f"demo-{name}.png"))


@pytest.mark.full
def test_the_demo_restarts_at_once_and_its_zone_page_shows_the_season(tmp_path):
    """A demo that just stopped leaves its ports in TIME_WAIT; the next one starts on them at once,
    simulates 45 days through the production pipeline, and on its zone page a browser finds soil
    water with at least 30 days of points, daily ET0, the crop's stage, a decision with its
    explanation, the camera's photos with the cover measured on them against the expected cover (the maize's
    degree-day stages) and the NDVI over the season, the lured species' biofix, stages and threshold source
    and the trap camera's newest liner photo with its moths outlined, each
    zone's valve with its completed runs, and no alert about its sound sensors, nodes or valves
    (judged while they run), nor drought on its irrigated zones; `--duration 60` ends with
    decisions and simulated days."""
    ports = [str(free_port()) for _ in range(3)]
    where = ["--port", ports[0], "--mqtt-port", ports[1], "--modbus-port", ports[2],
             "--data-dir", str(tmp_path / "demo")]
    first = subprocess.run([*FURROW, "demo", "--days", "0", "--duration", "3", *where], capture_output=True,
                           text=True, timeout=120, check=False)
    assert first.returncode == 0, first.stderr[-3000:]

    demo = DemoProcess(["--duration", "60", *where])
    demo.wait_live(240)
    url = f"http://127.0.0.1:{ports[0]}"
    api = httpx.Client(base_url=f"{url}/api/v1", headers={"Authorization": f"Bearer {demo.token}"}, timeout=20)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=_chromium(), headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(TIMEOUT_MS)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{url}/")
        page.fill("input[name=token]", demo.token)
        page.click("text=Use token")
        expect(page.locator(".zone-tile[data-zone=north]")).to_be_visible()
        _shot(page, "overview")

        # a machine at work, live: the tractor sprays the home field, its tracker an MQTT node through the gateway
        # like the others (hil/demo_machines.py live_work); the map moves it on each position message and redraws
        # the spraying's covered ground as the demo records the live window again
        page.goto(f"{url}/app/#/machinery")
        page.wait_for_selector("[data-view=machinery][data-rendered='1']")
        themap = page.get_by_test_id("machinery-map")
        tractor = themap.locator("path.machine[data-machine=trk-tractor]")
        expect(tractor).to_have_attribute("data-implement", "down", timeout=60_000)
        expect(tractor).not_to_have_attribute("data-t", tractor.get_attribute("data-t") or "", timeout=30_000)
        sprayed = themap.locator(f"path.covered[data-kind=spraying][data-field={demo_farm.FIELD}]")
        expect(sprayed).to_have_count(1, timeout=30_000)
        first_ha = float(sprayed.get_attribute("data-ha") or 0)
        expect(sprayed).not_to_have_attribute("data-ha", str(first_ha), timeout=30_000)
        assert float(sprayed.get_attribute("data-ha") or 0) > first_ha > 0
        [spraying] = [op for op in api.get("/operations", params={"field": demo_farm.FIELD}).json()
                      if op["kind"] == "spraying"]
        assert spraying["node"] == "trk-tractor" and spraying["covered_ha"] >= first_ha, spraying
        # the tractor's day is the farm's kept dispatch plan: the spraying, then its next task, the early block's
        # stubble, which it drives to when done (tests/test_hil_field_operations.py follows it through the day)
        current = api.get("/dispatch/current").json()
        assert [s["task"] for s in current["plan"]["routes"]["tractor-1"]] == ["spray-home", "till-early"], current
        assert api.get("/registry/tasks/spray-home").json()["status"] == "working"
        _shot(page, "machinery-live")

        page.goto(f"{url}/app/#/zone/north?days=30")
        page.wait_for_selector("[data-view=zone][data-ready='1']", timeout=60_000)
        soil = page.get_by_test_id("soil-chart")
        assert int(soil.get_attribute("data-points") or 0) > 0
        columns = page.evaluate("performance.getEntriesByType('resource').map((e) => e.name)"
                                ".filter((n) => n.includes('/columns?'))[0]")
        cols = api.get(columns.split("/api/v1", 1)[1]).json()
        times = [t for t, *values in zip(cols["times_ms"], *(c["values"] for c in cols["sensors"]), strict=True)
                 if any(v is not None for v in values)]
        assert times[-1] - times[0] >= 29 * DAY_MS, f"soil chart spans {(times[-1] - times[0]) / DAY_MS:.1f} days"
        daily = page.locator("section.chart").filter(has=page.locator(".u-legend", has_text="irrigation"))
        expect(daily.locator("canvas").first).to_be_visible()  # the daily chart is drawn, with its ET0 series
        expect(daily.locator(".u-legend")).to_contain_text("ET")
        balance = api.get("/zones/north/balance", params={"days": 30}).json()
        assert sum(1 for r in balance if r["et0_mm"] is not None) >= 25, balance[-3:]
        stage = page.locator(".card", has_text="GDD").locator(".big")
        expect(stage).not_to_have_text(re.compile(r"^(unknown|—)?$"))
        explanation = page.get_by_test_id("explanation")
        expect(explanation).to_contain_text("(")
        # when it was decided (the evening plan's "irrigate" under "none planned" read as a contradiction without it)
        expect(explanation).to_have_text(re.compile(r"^Decided \d{1,2} \w{3} \d{4}, \d{2}:\d{2}: "))
        assert len(explanation.inner_text()) > 20
        # the crop growing: the camera's photos newest first, their cover over the season, the NDVI
        thumbs = page.locator("[data-testid=image-timeline] .image-thumb")
        expect(thumbs.first).to_be_visible()
        shown = [thumbs.nth(i).get_attribute("data-image") or "" for i in range(thumbs.count())]
        assert len(shown) >= 20, shown  # the zone's canopy photos and its trap camera's, newest first
        assert any(s.startswith("cam-north/") for s in shown) and any(s.startswith(f"{TRAP}/") for s in shown), shown
        vigour = page.get_by_test_id("vigour")
        expect(vigour).to_have_attribute("data-ready", "1")
        assert int(vigour.get_attribute("data-cover") or 0) >= 25
        assert int(vigour.get_attribute("data-sensor") or 0) >= 25
        assert int(vigour.get_attribute("data-expected") or 0) >= 25  # the degree-day maize's expected cover
        expect(page.get_by_test_id("cover-chart").locator("canvas")).to_have_count(1)
        expect(page.get_by_test_id("ndvi-chart").locator("canvas")).to_have_count(1)
        _shot(page, "zone")
        _shot_of(page, "vigour", "zone-vigour")
        _shot_of(page, "image-timeline", "zone-images")
        # the pests: the lured species' biofix from the traps, its coming stages, its threshold's source, and the
        # trap camera's counted liner photos, the newest reviewed over its outlines
        pests = page.get_by_test_id("pest-forecast")
        expect(pests).to_have_attribute("data-ready", "1")
        block = page.get_by_test_id(f"pest-{demo_farm.LURE}")
        expect(block).to_have_attribute("data-biofix", re.compile(r"^\d{4}-\d{2}-\d{2}$"))
        expect(block).to_contain_text("Threshold from: Sousa")
        assert page.get_by_test_id(f"pest-stages-{demo_farm.LURE}").locator("tbody tr").count() >= 3
        expect(pests.get_by_test_id("review-link").first).to_be_visible()
        _shot_of(page, "pest-forecast", "zone-pests")
        pests.get_by_test_id("review-link").first.click()
        view = page.locator("[data-view=trap]")
        expect(view).to_have_attribute("data-rendered", "1")
        expect(page.get_by_test_id("outlines").locator("polygon.target").first).to_be_visible()
        assert int(view.get_attribute("data-objects") or 0) >= 1
        _shot(page, "trap")

        # every zone its own valve, and the planner's runs of the season completed on it
        zones = {z["id"] for z in api.get("/registry/zones").json()}
        valves = {v["zone_id"]: v["channel"] for v in api.get("/registry/valves").json()}
        assert set(valves) == zones and len(set(valves.values())) == len(zones), valves
        for zone, channel in sorted(valves.items()):
            page.goto(f"{url}/app/#/irrigation/{zone}")
            page.wait_for_selector("[data-view=irrigation][data-rendered='1']")
            done = page.locator("tr[data-state=completed]", has_text=f"open valve {channel}")
            expect(done.first).to_be_visible()
        _shot(page, "irrigation")

        page.goto(f"{url}/app/#/alerts")
        page.wait_for_selector("[data-view=alerts][data-rendered='1']")
        _shot(page, "alerts")
        # the emulated hardware is sound: any alert about a sensor, a node or a valve, over the season
        # and live, is false (the new user met ten "stuck" ones and a wrong "no flow")
        alerts = api.get("/alerts", params={"state": "all", "limit": 1000}).json()
        # nor is either zone in drought: irrigation holds their soil wet (GB/T 32136-2015's grades)
        false = [a for a in alerts if a["kind"] in HARDWARE_ALERTS | {"drought"}]
        assert false == [], false
        assert errors == []
        browser.close()
    api.close()

    summary = demo.summary(180)
    assert summary["decisions"] >= 1 and summary["simulated_days"] >= 30, summary
    assert summary["readings_lost"] == 0 and summary["readings_stored"] == summary["readings_sent"], summary
    assert summary["gateway_quarantined"] == 0
    assert summary["commands_sent"] >= 1 and summary["commands_completed"] >= 1, summary
    assert summary["irrigation_mm"] > 0
    assert any("soil-03 (unit 1) -> registers" in line for line in demo.log)  # the Modbus node reported too
