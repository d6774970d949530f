"""The machinery page (views/machinery.js, map.js: Leaflet) in a real browser (Playwright, Debian's Chromium) against
a running cloud service: a field's boundary shaded by its sowing progress, the ground the sowing covered, a tracker's
position and track of the day, moved by the live position event, and a combine's yield map with its legend, in
English and in Simplified Chinese with no basemap configured; and with a basemap, tiles fetched from a tile server on
loopback whose origin is the only one the content security policy adds."""

from __future__ import annotations

import math
import re
import struct
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import httpx
import pytest
from playwright.sync_api import expect

from furrow.cloud.machinery.coverage import Fix
from tests.dashboard_support import login_with_token, new_page, screenshot
from tests.test_dashboard_i18n import COLLECT, chinese_in, data_of, missing_keys, untranslated
from tests.test_machinery_coverage import back_and_forth
from tests.test_machinery_operations import BOUNDARY, operation
from tests.test_machinery_yield import combine_log
from tests.tracker_support import position_messages, positions_batch

NODE = "trk-1"
FIXES = back_and_forth([5, 13])  # two 10 m passes 8 m apart up and down the 100 x 200 m field f1


@pytest.fixture(scope="module")
def farm(dashboard_farm):
    """The dashboard tests' farm (one service for every dashboard browser test, tests/conftest.py) with field
    mach-1 (2 ha) given its boundary and a sowing recorded from a file (two 10 m passes 12 m apart: 0.40 ha, 20 %,
    and a 2 m strip missed between them), field
    mach-2 without a boundary, tracker trk-1's fixes of the same passes through the ingest API, and field mach-3
    (a 54 x 200 m field 270 m east) with a simulated combine's yield log (7.5 and 11.25 t/ha halves)."""
    field, monitor = combine_log()
    with dashboard_farm.client() as c:
        for body in [{"id": "mach-1", "site_id": "demo", "name": "Upper plot"},
                     {"id": "mach-2", "site_id": "demo", "name": "Lower plot"},
                     {"id": "mach-3", "site_id": "demo", "name": "East plot"}]:
            assert c.post("/registry/fields", json=body).status_code == 201
        assert c.put("/registry/fields/mach-1/boundary", json=BOUNDARY).status_code == 200
        assert c.put("/registry/fields/mach-3/boundary", json=field.boundary).status_code == 200
        r = c.post("/operations", json=operation([5, 17], field="mach-1"))
        assert r.status_code == 201 and r.json()["covered_ha"] == pytest.approx(0.40, abs=1e-3), r.text
        r = c.post("/yield-logs", json={"field": "mach-3", "crop": "maize", "machine": "combine-1", "width_m": 9.0,
                                        "log": monitor.csv()})
        assert r.status_code == 201, r.text
        dashboard_farm.yield_log = r.json()
        r = c.post("/ingest/batch", json=positions_batch("demo", "gw-1", "gw-1-trk-1", position_messages(NODE, FIXES),
                                                         FIXES[-1].t_ms))
        assert r.status_code == 200 and r.json()["fixes"] == len(FIXES), r.text
    return dashboard_farm


@pytest.mark.parametrize(("locale", "words"), [
    ("en-GB", ("Sowing", "0.40 ha (20.0 %), operations: 1", "no boundary", "Yield map", "Yield (t/ha)", " m")),
    ("zh-CN", ("播种", "0.40 公顷（20.0 %），1 次作业", "无边界", "产量图", "产量（吨/公顷）", " 米"))])
def test_the_machinery_map_draws_fields_machines_and_yield_without_tiles(farm, dashboard_browser, locale, words):
    """With no basemap: field mach-1 shaded by its sowing's 20 % with the ground it covered and the strip it
    missed, trk-1 at its newest fix
    with its track of the day, a metric scale, no tile; the tables give the sowing's progress, mach-2 without a
    boundary and the machine's implement; a fix arriving meanwhile moves the machine (the live position event);
    the yield layer, switched on, draws every kept point of mach-3's log with a legend in t/ha; nothing is left
    untranslated."""
    kind, covered, no_boundary, yield_layer, yield_title, metre = words
    with farm.client() as c:  # as stored now: the other language's run has sent a fix of its own
        [newest] = [m for m in c.get("/machines").json() if m["node"] == NODE]
        pct = c.get("/fields/mach-1/progress").json()["kinds"][0]["covered_pct"]
        [sowing] = [op["id"] for op in c.get("/operations", params={"field": "mach-1"}).json()]
        # the map draws each field's newest log: mach-3's, and any another test on this shared farm stored
        newest_log: dict[str, int] = {}
        for log in c.get("/yield-logs").json():  # newest first
            newest_log.setdefault(log["field_id"], log["id"])
        assert newest_log["mach-3"] == farm.yield_log["id"]
        drawn = sum(len(c.get(f"/yield-logs/{i}").json()["yields"]) for i in newest_log.values())
    page = new_page(dashboard_browser, locale=locale)
    login_with_token(page, farm, "admin")
    page.goto(f"{farm.url}/app/#/machinery")
    view = page.locator("[data-view=machinery]")
    expect(view).to_have_attribute("data-rendered", "1")
    themap = page.get_by_test_id("machinery-map")
    expect(themap).to_have_attribute("data-tiles", "none")
    field = themap.locator("path.field-boundary[data-field=mach-1]")
    expect(field).to_have_attribute("data-kind", "sowing")
    expect(field).to_have_attribute("data-pct", f"{pct:g}")  # as JavaScript writes it: 20, not 20.0
    expect(themap.locator(".field-label[data-field=mach-1]")).to_contain_text(kind)
    expect(themap.locator(f"path.covered[data-operation='{sowing}']")).to_have_count(1)
    expect(themap.locator(f"path.skipped[data-operation='{sowing}']")).to_have_count(1)
    machine = themap.locator(f"path.machine[data-machine={NODE}]")
    expect(machine).to_have_attribute("data-t", str(newest["t_ms"]))
    track = themap.locator(f"path.track[data-track={NODE}]")
    expect(track).to_have_attribute("data-points", str(newest["fixes"]))
    expect(themap.locator(".leaflet-control-scale-line")).to_contain_text(re.compile(rf"\d{metre}$"))
    assert themap.locator("img.leaflet-tile").count() == 0
    rows = page.get_by_test_id("field-progress").locator("tbody tr")
    expect(rows.filter(has_text="Upper plot").locator("td[data-kind=sowing]")).to_have_text(covered)
    expect(rows.filter(has_text="Lower plot")).to_contain_text(no_boundary)
    implement = page.get_by_test_id("machine-table").locator(f"tr[data-machine={NODE}] td[data-implement]")
    expect(implement).to_have_attribute("data-implement", "down" if newest["implement_down"] else "up")

    # the layer switcher: the yield map is off until asked for, then drawn with its legend
    legend = page.get_by_test_id("yield-legend")
    expect(legend).to_have_count(0)
    themap.locator(".leaflet-control-layers label", has_text=yield_layer).locator("input").check()
    expect(legend).to_contain_text(yield_title)
    expect(legend).to_have_attribute("data-points", str(drawn))
    assert drawn >= farm.yield_log["kept"] > 0
    bands = legend.locator("[data-class]")
    expect(bands).to_have_count(5)
    lowest = bands.nth(4).get_attribute("data-class")  # the legend reads from high to low
    highest = bands.nth(0).get_attribute("data-class")
    assert float(lowest.split("-")[0]) <= 7.5 and float(highest.split("-")[1]) >= 11.25, (lowest, highest)

    texts = page.evaluate(COLLECT)
    assert missing_keys(page) == []
    if locale == "zh-CN":
        assert untranslated(texts, [*data_of(farm), NODE]) == []
        screenshot(page, "zh-machinery")
    else:
        assert chinese_in(texts) == []
        screenshot(page, "machinery")

    expect(page.locator("#live")).to_have_attribute("data-state", "live")  # the page hears the next batch
    before = machine.get_attribute("d")
    last = FIXES[-1]
    seq = len(position_messages(NODE, FIXES)) + (0 if locale == "en-GB" else 1)
    step = 1 if locale == "en-GB" else 2  # the other language's run has moved it one step already
    moved = Fix(last.t_ms + 60_000 * step, last.lon, last.lat + 2e-5 * step, True)
    with farm.client() as c:
        r = c.post("/ingest/batch", json=positions_batch("demo", "gw-1", f"gw-1-trk-1-{locale}",
                                                         position_messages(NODE, [moved], seq0=seq), moved.t_ms))
        assert r.status_code == 200 and r.json()["fixes"] == 1, r.text
    expect(machine).to_have_attribute("data-t", str(moved.t_ms))
    assert float(machine.get_attribute("data-lat")) == pytest.approx(moved.lat, abs=1e-7)
    assert machine.get_attribute("d") != before  # drawn where the fix is, not only relabelled
    expect(implement).to_have_attribute("data-implement", "down")
    expect(track).to_have_attribute("data-points", str(newest["fixes"] + 1))
    assert page.errors == []  # no script error, nothing the content security policy blocked
    page.context.close()


def png(width: int = 256, height: int = 256, rgb: tuple[int, int, int] = (200, 220, 180)) -> bytes:
    """A plain PNG tile (RFC 2083: signature, IHDR, one IDAT of filter-0 rows, IEND)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


@pytest.fixture
def tile_server():
    """A tile server on loopback: any GET /tiles/{z}/{x}/{y}.png answers a plain PNG; the paths asked are kept."""
    tile = png()
    asked: list[str] = []

    class Tiles(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the handler's name
            asked.append(self.path)
            ok = re.fullmatch(r"/tiles/\d+/\d+/\d+\.png", self.path)
            self.send_response(200 if ok else 404)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(tile) if ok else 0))
            self.end_headers()
            if ok:
                self.wfile.write(tile)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Tiles)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.asked = asked
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def tiled_farm(tmp_path, tile_server):
    """A service of its own in this process (uvicorn in a thread; not seeded: one site, no field, no machine) whose
    basemap is the tile server."""
    from furrow.cloud import create_app
    from tests.cloud_support import ADMIN, ADMIN_TOKEN, local_settings
    from tests.http_support import UvicornThread

    origin = f"http://127.0.0.1:{tile_server.server_address[1]}"
    settings = local_settings(tmp_path, map_tile_url=f"{origin}/tiles/{{z}}/{{x}}/{{y}}.png",
                              map_tile_attribution="Test tiles", map_max_zoom=19)
    with UvicornThread(create_app(settings)) as server:
        with httpx.Client(base_url=f"{server.url}/api/v1", headers=ADMIN, timeout=60) as c:
            assert c.post("/registry/sites", json={"id": "s1", "name": "Farm", "timezone": "UTC"}).status_code == 201
        yield SimpleNamespace(url=server.url, tile_origin=origin, tokens={"admin": ADMIN_TOKEN},
                              user_of={"admin": "bootstrap-admin"})


def test_a_configured_basemap_is_fetched_from_its_tile_server_when_the_first_fix_draws_the_map(
        tiled_farm, tile_server, dashboard_browser):
    """FURROW_MAP_TILE_URL names a tile server on loopback: the page's policy allows images from that origin (and
    no other). With nothing to draw the page says so; the first batch of a tracker's fixes heard live draws the map
    around the machine, and the map asks the tile server for the z/x/y tiles there and shows them, with the
    attribution as text."""
    from tests.cloud_support import ADMIN

    csp = httpx.get(f"{tiled_farm.url}/app/").headers["content-security-policy"]
    assert f"img-src 'self' data: blob: {tiled_farm.tile_origin};" in csp
    assert len(re.findall(r"https?://", csp)) == 1
    page = new_page(dashboard_browser)
    login_with_token(page, tiled_farm, "admin")
    page.goto(f"{tiled_farm.url}/app/#/machinery")
    expect(page.get_by_test_id("machinery-map-empty")).to_be_visible()
    assert tile_server.asked == []
    with httpx.Client(base_url=f"{tiled_farm.url}/api/v1", headers=ADMIN, timeout=60) as c:
        r = c.post("/ingest/batch", json=positions_batch("s1", "gw-1", "gw-1-tiles", position_messages(NODE, FIXES),
                                                         FIXES[-1].t_ms))
        assert r.status_code == 200 and r.json()["fixes"] == len(FIXES), r.text
    themap = page.get_by_test_id("machinery-map")
    expect(themap).to_have_attribute("data-tiles", "on")
    expect(themap.locator(f"path.machine[data-machine={NODE}]")).to_have_attribute("data-t", str(FIXES[-1].t_ms))
    expect(themap.locator("img.leaflet-tile-loaded").first).to_be_visible()
    tiles = [p for p in tile_server.asked if re.fullmatch(r"/tiles/\d+/\d+/\d+\.png", p)]
    assert tiles, tile_server.asked
    # the machine (114.4 E, 36.0 N) is in the middle of the tiles asked (slippy-map tile numbers at that zoom)
    z, x, y = (int(v) for v in re.findall(r"\d+", tiles[0]))
    n = 2 ** z
    lat = math.radians(36.0)
    assert z >= 14 and abs(x - int((114.4 + 180) / 360 * n)) <= 3, tiles[:3]
    assert abs(y - int((1 - math.asinh(math.tan(lat)) / math.pi) / 2 * n)) <= 3, tiles[:3]
    expect(themap.locator(".leaflet-control-attribution")).to_contain_text("Test tiles")
    expect(themap.locator(".leaflet-control-layers-base label", has_text="Basemap")).to_have_count(1)
    assert page.errors == []
    page.context.close()
