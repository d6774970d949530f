"""A running cloud service with a seeded farm, for the dashboard's browser tests.

`Farm` starts uvicorn (SQLite, MQTT off) on a free port, fills the registry through its API,
issues a token per role, and ingests 90 days of 15-minute readings through the real ingest
API as the gateway: five soil nodes at 10 and 30 cm in zone north-1 (ten vwc sensors, about
86,000 points), an hourly weather node, an irrigation node with its valve, one silent
node registered in zone south-1, and a camera node in north-1 whose photos (a canopy photo a day
for five days, a trap card's) came in through the image ingest API.
"""

from __future__ import annotations

import hashlib
import math
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from furrow.edge.batch import MAX_ITEMS, make_batch, make_item
from furrow.edge.image_forward import encode_image, make_image_header
from furrow.edge.payload import CONTRACT_VERSION, make_reading, make_uplink
from tests.image_support import field_jpeg
from tests.servers import free_port

SECRET_KEY = "dashboard-test-secret-0123456789abcdef"
ADMIN_TOKEN = "fw_dashadmin_0123456789abcdefghijklmnopqrstuvwxyz"
DAY_MS = 86_400_000
STEP_MS = 15 * 60_000
DAYS = 90
SOIL_NODES = [f"soil-0{i}" for i in range(1, 6)]
DEPTHS = (10, 30)
ZONE = "north-1"
CAMERA = "cam-01"
ROOT = Path(__file__).resolve().parent.parent
# The screenshots are taken on every run (drawing a page whole is part of the test), but they refresh
# docs/img only when asked: FURROW_SCREENSHOTS=1. A plain run leaves the clone as it found it.
SHOTS = (ROOT / "docs" / "img" if os.environ.get("FURROW_SCREENSHOTS") == "1"
         else Path(tempfile.gettempdir()) / "furrow-screenshots")
SHOTS.mkdir(parents=True, exist_ok=True)
TIMEOUT_MS = 20_000  # a bound on every wait; the machine may be busy with other tests
expect.set_options(timeout=TIMEOUT_MS)


def chromium_path() -> str:
    path = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        pytest.fail("Chromium is missing: install the Debian package chromium (scripts/test does)")
    return path


@contextmanager
def running_farm(data_dir: Path) -> Iterator[Farm]:
    """The seeded farm of the dashboard's browser tests, its season rolled up."""
    f = Farm(data_dir)
    f.start()
    try:
        f.seeded = f.seed(int(time.time() * 1000))
        f.seeded["rollup_wait_s"] = f.wait_rolled_up()
        yield f
    finally:
        f.stop()


@contextmanager
def headless_chromium() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path(), headless=True, args=["--no-sandbox"])
        try:
            yield b
        finally:
            b.close()


def new_page(browser: Browser, width: int = 1280, height: int = 900, locale: str = "en-GB") -> Page:
    """A page in a context of its own (its own storage) whose browser prefers `locale`; page
    errors and what the content security policy blocked are collected in `page.errors`."""
    page = browser.new_context(viewport={"width": width, "height": height}, locale=locale).new_page()
    page.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" and "Content Security" in m.text else None)
    page.errors = errors  # type: ignore[attr-defined]
    return page


def login_with_token(page: Page, farm: Farm, role: str) -> None:
    """Log in on the login page with the role's token, in whatever language the page speaks."""
    page.goto(f"{farm.url}/")
    page.fill("input[name=token]", farm.tokens[role])
    page.get_by_test_id("token-login").click()
    expect(page.get_by_test_id("who")).to_contain_text(f"{farm.user_of[role]} ·")
    expect(page.locator("#live")).to_have_attribute("data-state", "live")


def screenshot(page: Page, name: str) -> None:
    """A full-page screenshot SHOTS/dashboard-NAME.png, from the top."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")  # the sticky header belongs at the top of a full-page shot
    page.screenshot(path=str(SHOTS / f"dashboard-{name}.png"), full_page=True)


def vwc_at(node_index: int, depth: int, t_ms: int, start_ms: int) -> float:
    """A plausible soil moisture trace: drying between irrigations every 6 days, a daily ripple."""
    day = (t_ms - start_ms) / DAY_MS
    since = day % 6
    base = 29.0 - 1.3 * since - (0.6 if depth == 10 else 0.0) + 0.4 * node_index
    ripple = 0.25 * math.sin(2 * math.pi * (t_ms % DAY_MS) / DAY_MS)
    return round(base + ripple + (0.3 if depth == 30 else 0.0) * since, 2)


class Farm:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.tokens: dict[str, str] = {"admin": ADMIN_TOKEN}
        self.user_of: dict[str, str] = {"admin": "bootstrap-admin"}
        self.log_path = data_dir / "uvicorn.log"
        self.extra_env: dict[str, str] = {}  # e.g. the InfluxDB store's settings

    # --- the service -------------------------------------------------------------------
    def start(self) -> None:
        env = self.env()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "furrow.cloud.app:create_app", "--host", "127.0.0.1",
             "--port", str(self.port), "--log-level", "warning", "--timeout-graceful-shutdown", "3"],
            env=env, stdout=self.log_path.open("wb"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 90  # a bound: a busy machine (2 cores, several test runs) starts it slowly
        while True:
            try:
                if httpx.get(f"{self.url}/api/v1/health", headers=self.auth("admin"), timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()  # a service that came up too late must not outlive the test
                raise RuntimeError(f"the cloud service did not start: {self.log_path.read_text()[-3000:]}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def env(self) -> dict[str, str]:
        # the roll-up job every 2 s instead of 5 min: the test need not wait for the season to be rolled up
        return {**os.environ, "FURROW_DATA_DIR": str(self.data_dir), "FURROW_SECRET_KEY": SECRET_KEY,
                "FURROW_BOOTSTRAP_ADMIN_TOKEN": ADMIN_TOKEN, "FURROW_MQTT_ENABLED": "false",
                "FURROW_ROLLUP_INTERVAL_S": "2", **self.extra_env}

    def wait_rolled_up(self, timeout_s: float = 60.0) -> float:
        """Wait until the service's roll-up job has taken in every stored reading, as it has in
        steady state (it runs every few minutes); returns how long that took (s)."""
        t0 = time.monotonic()
        while True:
            with sqlite3.connect(self.data_dir / "readings.db", timeout=10) as db:
                (last,) = db.execute("SELECT last_rowid FROM rollup_state").fetchone()
                (top,) = db.execute("SELECT coalesce(max(rowid), 0) FROM readings").fetchone()
            if last >= top:
                return time.monotonic() - t0
            if time.monotonic() - t0 > timeout_s:
                raise RuntimeError(f"the roll-up job did not catch up in {timeout_s} s ({last} of {top} rows)")
            time.sleep(0.2)

    def add_user(self, name: str, role: str, password: str) -> None:
        """A person who logs in with a password, made as an admin would: `furrow cloud user create`."""
        done = subprocess.run([sys.executable, "-m", "furrow.cli", "cloud", "user", "create", name, "--role", role],
                              input=password + "\n", env=self.env(), capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    def client(self, role: str = "admin") -> httpx.Client:
        return httpx.Client(base_url=f"{self.url}/api/v1", headers=self.auth(role), timeout=60)

    # --- the farm ----------------------------------------------------------------------
    def seed(self, now_ms: int) -> dict[str, float]:
        """Registry, tokens and readings; returns how long ingest took (s) and how many readings."""
        with self.client() as c:
            def ok(r: httpx.Response) -> httpx.Response:
                assert r.status_code in (200, 201), (r.request.url, r.status_code, r.text)
                return r

            ok(c.post("/registry/sites", json={"id": "demo", "name": "Demo farm", "timezone": "Europe/Madrid"}))
            ok(c.post("/registry/fields", json={"id": "north", "site_id": "demo", "name": "North field",
                                                 "area_ha": 40}))
            for zid, name in ((ZONE, "North pivot, east half"), ("south-1", "South drip block")):
                ok(c.post("/registry/zones", json={
                    "id": zid, "field_id": "north", "name": name, "area_ha": 12.5, "soil_texture": "loam",
                    "field_capacity_pct": 31.0, "wilting_point_pct": 14.0, "root_depth_cm": 60, "crop": "maize",
                    "planting_date": time.strftime("%Y-%m-%d", time.gmtime((now_ms - 60 * DAY_MS) / 1000)),
                    "precip_rate_mm_h": 5.0}))
            for i, node in enumerate(SOIL_NODES):
                ok(c.post("/registry/nodes", json={"id": node, "role": "soil", "zone_id": ZONE,
                                                    "lat": 41.650 + 0.001 * i, "lon": -0.880,
                                                    "depths_cm": list(DEPTHS), "firmware": "0.1.0"}))
            ok(c.post("/registry/nodes", json={"id": "soil-09", "role": "soil", "zone_id": "south-1", "lat": 41.640,
                                                "lon": -0.884, "depths_cm": [10], "firmware": "0.1.0"}))
            ok(c.post("/registry/nodes", json={"id": "wx-01", "role": "weather", "zone_id": ZONE, "lat": 41.652,
                                                "lon": -0.879, "firmware": "0.1.0"}))
            ok(c.post("/registry/nodes", json={"id": "irr-01", "role": "irrigation", "zone_id": ZONE,
                                                "firmware": "0.1.0"}))
            ok(c.post("/registry/valves", json={"node_id": "irr-01", "channel": 1, "zone_id": ZONE}))
            ok(c.post("/registry/nodes", json={"id": CAMERA, "role": "camera", "zone_id": ZONE, "firmware": "0.1.0"}))
            for role, user in (("technician", "tom"), ("agronomist", "maria"), ("gateway", "demo.gw-1")):
                self.tokens[role] = ok(c.post("/auth/tokens", json={"user": user, "role": role})).json()["token"]
                self.user_of[role] = user

        uplinks = self._uplinks(now_ms)
        t0 = time.perf_counter()
        readings = 0
        with self.client("gateway") as gw:
            for n, start in enumerate(range(0, len(uplinks), MAX_ITEMS)):
                chunk = uplinks[start:start + MAX_ITEMS]
                items = [make_item(u, u["ts_ms"] + 400) for u in chunk]
                batch = make_batch("demo", "gw-1", f"gw-1-{n:06d}", now_ms, items)
                r = gw.post("/ingest/batch", json=batch)
                assert r.status_code == 200 and not r.json()["rejected"], r.text[:500]
                readings += r.json()["readings"]
            for seq, (kind, ts_ms) in enumerate(self.photos(now_ms), start=1):
                jpeg = field_jpeg(640, 480, seed=seq)
                header = make_image_header("demo", "gw-1", CAMERA, seq, kind, "jpeg", ts_ms, ts_ms + 5000, len(jpeg),
                                           hashlib.sha256(jpeg).hexdigest())
                r = gw.post("/ingest/image", content=encode_image(header, jpeg))
                assert r.status_code == 200 and r.json()["status"] == "stored", r.text
        return {"ingest_s": time.perf_counter() - t0, "readings": readings}

    @staticmethod
    def photos(now_ms: int) -> list[tuple[str, int]]:
        """(kind, capture time) of the camera's photos, oldest first: a canopy photo at noon UTC on each of the
        last five days, and a trap card's an hour after the newest."""
        noon = now_ms - now_ms % DAY_MS - DAY_MS + DAY_MS // 2
        canopy = [("canopy", noon - k * DAY_MS) for k in range(4, -1, -1)]
        return [*canopy, ("trap", noon + 3_600_000)]

    def _uplinks(self, now_ms: int) -> list[dict]:
        # Plain dicts in the contract's canonical form (the service validates every one on
        # ingest; the first is checked against make_uplink here): building 45,000 through
        # make_uplink would take seconds of the test's time.
        end = now_ms - now_ms % STEP_MS
        start = end - DAYS * DAY_MS
        out = []

        def uplink(node: str, role: str, seq: int, t: int, readings: list[dict], bat_v: float, rssi: int) -> dict:
            return {"v": CONTRACT_VERSION, "node": node, "role": role, "seq": seq, "ts_ms": t, "fw": "0.1.0",
                    "bat_v": bat_v, "rssi_dbm": rssi, "readings": readings}

        for i, node in enumerate(SOIL_NODES):
            for seq, t in enumerate(range(start, end + 1, STEP_MS), start=1):
                rs = [{"name": "vwc_pct", "unit": "%", "value": vwc_at(i, d, t, start), "depth_cm": d} for d in DEPTHS]
                if t > end - 2 * 3_600_000:  # the newest reports carry the probe's raw count too
                    rs += [{"name": "soil_raw", "unit": "count", "value": float(round(30000 - 400 * r["value"])),
                            "depth_cm": r["depth_cm"]} for r in rs[:2]]
                out.append(uplink(node, "soil", seq, t, rs, round(3.9 - 0.1 * i, 2), -60 - 3 * i))
        for seq, t in enumerate(range(start, end + 1, 3_600_000), start=1):
            hour = (t % DAY_MS) / 3_600_000
            rain = 4.0 if (t - start) // DAY_MS % 9 == 3 and hour in (5.0, 6.0) else 0.0
            rs = [make_reading("air_temp_c", round(18 + 8 * math.sin(math.pi * (hour - 8) / 12), 2)),
                  make_reading("rh_pct", 55.0), make_reading("wind_ms", 2.0), make_reading("rain_mm", rain)]
            out.append(uplink("wx-01", "weather", seq, t, rs, 3.8, -70))
        out.append(make_uplink("irr-01", "irrigation", 1, end, [make_reading("valve_open", 0, channel=1)], "0.1.0",
                               bat_v=12.1, rssi_dbm=-65))
        first = out[0]
        assert first == make_uplink(first["node"], "soil", first["seq"], first["ts_ms"], first["readings"], "0.1.0",
                                    bat_v=first["bat_v"], rssi_dbm=first["rssi_dbm"])
        return out
