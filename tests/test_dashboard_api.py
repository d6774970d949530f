"""The service side of the dashboard: the commissioning core (checklist, calibration fit, bus
health), its routes, the live event stream and what publishes to it, the zone columns, and the
static dashboard itself."""

from __future__ import annotations

import asyncio
import json

import pytest

from furrow.cloud.commissioning import (
    Live,
    Method,
    Point,
    apply_calibration,
    bus_health,
    checklist,
    fit_calibration,
    heard_ago,
    plausible_vwc_range,
)
from furrow.commands._node_check import judge
from furrow.edge.commands import make_ack
from furrow.edge.errors import ContractError
from furrow.edge.payload import make_reading, make_uplink
from tests.cloud_support import (
    ADMIN,
    SECRET_KEY,
    T0,
    batch_of,
    item,
    local_settings,
    problem,
    running_app,
    soil_uplink,
)

ZONE = {"id": "north-1", "field_id": "north", "name": "North", "area_ha": 10, "soil_texture": "loam",
        "field_capacity_pct": 31.0, "wilting_point_pct": 14.0, "root_depth_cm": 60, "crop": "maize",
        "precip_rate_mm_h": 5.0}


# --- calibration --------------------------------------------------------------------------

def test_two_point_calibration_passes_through_the_dry_and_wet_points_and_gives_the_firmware_parameters():
    """A two-point fit is the straight line through both points, with the firmware driver's
    dry_raw/wet_raw/vwc_dry_pct/vwc_wet_pct alongside the coefficients."""
    points = [Point(18500, 42.0), Point(41000, 4.0)]
    fit = fit_calibration(points, "two-point")
    assert fit.vwc(18500) == pytest.approx(42.0) and fit.vwc(41000) == pytest.approx(4.0)
    assert fit.c2 == 0 and fit.rmse_pct == 0 and fit.warnings == []
    cal = fit.as_calibration(points)
    assert (cal["dry_raw"], cal["wet_raw"], cal["vwc_dry_pct"], cal["vwc_wet_pct"]) == (41000, 18500, 4.0, 42.0)
    assert apply_calibration(cal, 29750) == pytest.approx(23.0)


def test_quadratic_calibration_recovers_a_curved_response_and_linear_reports_its_residuals():
    """Points on a known quadratic give back its coefficients; a straight line through them
    leaves residuals whose RMSE it reports."""
    true = (95.0, -3.1e-3, 2.5e-8)
    points = [Point(r, true[0] + true[1] * r + true[2] * r * r) for r in (15000, 20000, 26000, 32000, 40000)]
    quad = fit_calibration(points, Method.QUADRATIC)
    assert (quad.c0, quad.c1, quad.c2) == pytest.approx(true, rel=1e-6)
    assert quad.rmse_pct < 1e-6
    line = fit_calibration(points, Method.LINEAR)
    assert line.c2 == 0 and line.rmse_pct > 0.1 and len(line.residuals_pct) == 5


@pytest.mark.parametrize(("points", "method", "field"), [
    ([Point(-1, 4.0), Point(20000, 40.0)], "two-point", "points.0.raw"),
    ([Point(41000, 4.0), Point(20000, 140.0)], "linear", "points.1.vwc_pct"),
    ([Point(41000, 4.0), Point(41000, 30.0), Point(20000, 40.0)], "two-point", "points"),
    ([Point(41000, 4.0), Point(20000, 40.0), Point(20000, 41.0)], "quadratic", "points"),
    ([Point(41000, 4.0), Point(20000, 40.0)], "cubic", "method"),
])
def test_calibration_that_cannot_be_fitted_is_refused_naming_the_field(points, method, field):
    """Out-of-range counts or contents, too few distinct counts, or an unknown method raise a
    ContractError naming the offending field."""
    with pytest.raises(ContractError) as e:
        fit_calibration(points, method)
    assert e.value.field == field


def test_a_calibration_whose_water_rises_with_the_count_is_refused():
    """Swapped points (water rising with the raw count) are refused naming `points`: the
    capacitive probes the firmware reads fall as soil wets (it was only a warning)."""
    with pytest.raises(ContractError) as e:
        fit_calibration([Point(18000, 3.0), Point(40000, 41.0)], "two-point")
    assert e.value.field == "points" and "swapped" in e.value.reason


@pytest.mark.parametrize(("points", "why"), [
    ([Point(41000, 0.0), Point(40500, 45.0)], "nearly equal"),
    ([Point(41000, 0.0), Point(30000, 2.0), Point(19000, 4.0)], "too far apart"),
])
def test_a_calibration_of_implausible_slope_is_refused(points, why):
    """Counts nearly equal for the water between them, or far apart for little water, give a slope
    outside what the firmware's capacitive probes show (67 to 2,000 counts per %): refused, saying why."""
    with pytest.raises(ContractError) as e:
        fit_calibration(points, Method.LINEAR)
    assert e.value.field == "points" and why in e.value.reason


# --- checklist and bus health -------------------------------------------------------------

def _live(value: float, depth: int = 10, fault: str | None = None) -> Live:
    return Live("vwc_pct", depth, None, value, fault, T0)


def test_checklist_passes_a_registered_heard_node_with_plausible_values():
    """Registered, heard a minute ago, values at the registered depths within the soil's
    range, no faults, calibrated: every item is ok."""
    node = {"id": "soil-01", "role": "soil", "zone_id": "north-1", "depths_cm": [10, 30], "calibration": {"c0": 1.0,
                                                                                                     "c1": 0.1}}
    out = checklist(registered=node, zone=ZONE, last_seen_ms=T0, faults=(), live=[_live(25.0), _live(27.0, 30)],
                    now_ms=T0 + 60_000)
    assert out["ready"] and out["registered"] and out["first_good_reading"] and out["plausible"]
    assert {i["name"] for i in out["items"]} == {"registered", "heard", "first_good_reading", "depths", "plausible",
                                                 "no_faults", "calibrated"}


def test_checklist_names_what_is_wrong_with_a_new_node():
    """A value above saturation at 30 cm, a depth not registered, a sensor fault and no
    calibration each fail their item with a detail that says so."""
    node = {"id": "soil-01", "role": "soil", "zone_id": "north-1", "depths_cm": [10, 30], "calibration": None}
    live = [_live(62.0, 30), _live(None, 60, "disconnected")]
    out = checklist(registered=node, zone=ZONE, last_seen_ms=T0, faults=(), live=live, now_ms=T0)
    items = {i["name"]: i for i in out["items"]}
    assert not out["ready"] and not out["plausible"]
    assert "62.0 % at 30 cm outside" in items["plausible"]["detail"]
    assert items["depths"]["detail"] == "registered [10, 30] cm, reporting [30, 60] cm"
    assert not items["no_faults"]["ok"] and "disconnected" in items["no_faults"]["detail"]
    assert not items["calibrated"]["ok"]
    never = checklist(registered=None, zone=None, last_seen_ms=None, faults=(), live=[], now_ms=T0)
    assert not never["registered"] and not never["first_good_reading"]
    assert {i["name"]: i["detail"] for i in never["items"]}["heard"] == "never heard through a gateway"


def test_checklist_judges_a_camera_on_its_photos_and_a_day_apart():
    """A camera sends a few photos a day and no readings: heard 20 h ago with photos of the last week it is
    ready (heard, first photo, no faults; nothing to calibrate); with no photo that week its first photo fails;
    silent for two days it is not heard; a soil node silent 20 h is not heard either."""
    cam = {"id": "cam-01", "role": "camera", "zone_id": "north-1", "depths_cm": [], "calibration": None}
    hours = 3_600_000
    out = checklist(registered=cam, zone=ZONE, last_seen_ms=T0, faults=(), live=[], now_ms=T0 + 20 * hours, photos=5)
    items = {i["name"]: i for i in out["items"]}
    assert out["ready"] and out["first_good_reading"], out
    assert set(items) == {"registered", "heard", "first_photo", "no_faults"}
    assert items["first_photo"]["detail"] == "5 photo(s) in the last 7 days"
    none = checklist(registered=cam, zone=ZONE, last_seen_ms=T0, faults=(), live=[], now_ms=T0 + 20 * hours, photos=0)
    assert not none["ready"] and {i["name"]: i["ok"] for i in none["items"]}["first_photo"] is False
    silent = checklist(registered=cam, zone=ZONE, last_seen_ms=T0, faults=(), live=[], now_ms=T0 + 48 * hours,
                       photos=5)
    assert {i["name"]: i["ok"] for i in silent["items"]}["heard"] is False
    soil = {"id": "soil-01", "role": "soil", "zone_id": "north-1", "depths_cm": [10], "calibration": None}
    quiet = checklist(registered=soil, zone=ZONE, last_seen_ms=T0, faults=(), live=[_live(25.0)],
                      now_ms=T0 + 20 * hours)
    assert {i["name"]: i["ok"] for i in quiet["items"]}["heard"] is False


def test_how_long_ago_a_node_was_heard_reads_as_a_person_reads_it_on_the_command_line():
    """A camera last heard 23,441 s ago: the checklist's `heard` detail, and the line `furrow node check`
    prints from it, say "last heard 6 h 30 min ago" (not seconds); the raw seconds stay in the values, and the
    steps follow the dashboard's: seconds under 90 s, minutes under 90 min, days and hours past two days."""
    cam = {"id": "cam-01", "role": "camera", "zone_id": "north-1", "depths_cm": [], "calibration": None}
    out = checklist(registered=cam, zone=ZONE, last_seen_ms=T0, faults=(), live=[], now_ms=T0 + 23_441_000, photos=5)
    heard = {i["name"]: i for i in out["items"]}["heard"]
    assert heard["detail"] == "last heard 6 h 30 min ago", heard
    assert heard["detail_key"] == "check.last-heard" and heard["detail_params"]["age_s"] == 23_441
    assert heard["detail_params"]["ago"] == {"key": "check.age-h-min", "params": {"h": 6, "min": 30}}
    _, lines = judge({**out, "node": "cam-01", "live": []}, require_calibration=False)
    assert any(line.split()[1:] == ["heard", "last", "heard", "6", "h", "30", "min", "ago"] for line in lines), lines
    assert [heard_ago(ms).text for ms in (-2_000, 0, 89_999, 90_000, 5_399_000, 5_400_000, 172_799_000, 172_800_000,
                                          3 * 86_400_000 + 5 * 3_600_000 + 59_000)] == [
        "0 s", "0 s", "89 s", "1 min", "89 min", "1 h 30 min", "47 h 59 min", "2 d 0 h", "3 d 5 h"]


def test_plausible_range_lets_the_surface_dry_further_than_the_deep_soil():
    """The surface layer may air-dry to half the wilting point; deeper soil only a little
    below it; both top out at field capacity plus the available water range."""
    assert plausible_vwc_range(31.0, 14.0, 10) == (7.0, 48.0)
    assert plausible_vwc_range(31.0, 14.0, 30) == (11.0, 48.0)


def test_bus_health_gives_each_ports_error_rate_and_poll_rate_since_the_last_report():
    """Two reports a minute apart give per-port errors per request and polls per minute from
    the change; a counter that went backwards (gateway restart) counts from zero."""
    before = {"a": {"port": "p1", "polls": 10, "requests": 20, "errors": 1},
              "b": {"port": "p1", "polls": 10, "requests": 20, "errors": 0},
              "c": {"port": "p2", "polls": 50, "requests": 100, "errors": 0}}
    now = {"a": {"port": "p1", "polls": 16, "requests": 32, "errors": 4, "backed_off": True},
           "b": {"port": "p1", "polls": 16, "requests": 32, "errors": 0},
           "c": {"port": "p2", "polls": 3, "requests": 6, "errors": 3}}
    ports = {p["port"]: p for p in bus_health(now, before, 60_000)}
    assert (ports["p1"]["requests"], ports["p1"]["errors"], ports["p1"]["error_rate"]) == (24, 3, 0.125)
    assert ports["p1"]["polls_per_min"] == 12.0
    assert [d["backed_off"] for d in ports["p1"]["devices"]] == [True, False]
    assert (ports["p2"]["requests"], ports["p2"]["errors"]) == (6, 3)
    first = {p["port"]: p for p in bus_health(now, None, None)}
    assert first["p1"]["polls_per_min"] is None and first["p1"]["requests"] == 64


# --- routes -------------------------------------------------------------------------------

async def _farm(client) -> None:
    for path, body in (("sites", {"id": "demo", "name": "Demo"}),
                       ("fields", {"id": "north", "site_id": "demo", "name": "North"}),
                       ("zones", ZONE),
                       ("nodes", {"id": "soil-01", "role": "soil", "zone_id": "north-1", "depths_cm": [10]}),
                       ("nodes", {"id": "irr-01", "role": "irrigation", "zone_id": "north-1"}),
                       ("valves", {"node_id": "irr-01", "channel": 1, "zone_id": "north-1"})):
        r = await client.post(f"/api/v1/registry/{path}", json=body)
        assert r.status_code == 201, r.text


async def test_commissioning_route_judges_the_newest_readings_against_the_zones_soil(tmp_path):
    """After a first report the route ticks registered, heard, first good reading and
    plausible, shows the raw count through a stored calibration, and 404s an unknown node."""
    async with running_app(local_settings(tmp_path)) as c:
        await _farm(c)
        now = T0 + 10**9
        up = make_uplink("soil-01", "soil", 1, now, [make_reading("vwc_pct", 23.4, depth_cm=10),
                                                     make_reading("soil_raw", 29000, depth_cm=10)], "0.1.0")
        assert (await c.post("/api/v1/ingest/batch", json=batch_of([item(up)]))).status_code == 200
        r = await c.post("/api/v1/nodes/soil-01/calibration", json={
            "method": "two-point", "points": [{"raw": 41000, "vwc_pct": 4.0}, {"raw": 18500, "vwc_pct": 42.0}]})
        assert r.status_code == 200 and r.json()["stored"], r.text
        body = (await c.get("/api/v1/nodes/soil-01/commissioning")).json()
        items = {i["name"]: i["ok"] for i in body["items"]}
        assert items["registered"] and items["first_good_reading"] and items["plausible"] and items["calibrated"]
        assert body["plausible_range_pct"] == {"10": [7.0, 48.0]} and body["gateway"] == "demo/gw-1"
        vwc = next(x for x in body["live"] if x["measurement"] == "vwc_pct")
        assert vwc["value"] == 23.4 and vwc["calibrated_vwc_pct"] == pytest.approx(24.27, abs=0.01)
        assert (await c.get("/api/v1/nodes/nobody/commissioning")).status_code == 404


async def test_calibration_route_stores_on_the_registry_node_and_refuses_bad_points_by_name(tmp_path):
    """A fit with store=false changes nothing; a stored one is the node's registry
    calibration; a bad point is a 422 naming points.N.field; an unregistered node is 404."""
    async with running_app(local_settings(tmp_path)) as c:
        await _farm(c)
        points = [{"raw": 15000, "vwc_pct": 45.0}, {"raw": 25000, "vwc_pct": 28.0}, {"raw": 40000, "vwc_pct": 5.0}]
        r = await c.post("/api/v1/nodes/soil-01/calibration", json={"method": "quadratic", "points": points,
                                                                     "store": False})
        assert r.status_code == 200 and r.json()["stored"] is False
        assert (await c.get("/api/v1/registry/nodes/soil-01")).json()["calibration"] is None
        r = await c.post("/api/v1/nodes/soil-01/calibration", json={"method": "linear", "points": points})
        stored = (await c.get("/api/v1/registry/nodes/soil-01")).json()["calibration"]
        assert stored == r.json()["calibration"] and stored["points"] == 3 and stored["c2"] == 0
        r = await c.post("/api/v1/nodes/soil-01/calibration", json={"method": "linear", "points": [
            {"raw": 70000, "vwc_pct": 4.0}, {"raw": 20000, "vwc_pct": 40.0}]})
        assert r.status_code == 422 and problem(r)["field"] == "points.0.raw"
        r = await c.post("/api/v1/nodes/soil-01/calibration", json={"method": "two-point", "points": points})
        assert r.status_code == 422 and problem(r)["field"] == "points"
        r = await c.post("/api/v1/nodes/ghost-01/calibration", json={"method": "linear", "points": points})
        assert r.status_code == 404


async def test_gateway_status_feeds_bus_health_and_a_gateway_reports_only_for_itself(tmp_path):
    """Two status reports make the bus route's rates; a gateway token posting for another
    gateway is 403; a gateway that never reported has no ports."""
    async with running_app(local_settings(tmp_path), headers=None) as c:
        tokens = c.app.state.services.tokens
        gw = {"Authorization": f"Bearer {(await tokens.issue('demo.gw-1', 'gateway', 1)).token}"}
        tech = {"Authorization": f"Bearer {(await tokens.issue('tom', 'technician', 1)).token}"}
        for k, (polls, req, err) in enumerate(((10, 20, 0), (22, 44, 6))):
            report = {"ts_ms": T0 + 30_000 * k, "modbus": {"soil-07": {"port": "rtu0", "unit": 7, "polls": polls,
                                                                     "requests": req, "errors": err}}}
            assert (await c.post("/api/v1/gateways/demo/gw-1/status", json=report, headers=gw)).status_code == 204
        r = await c.post("/api/v1/gateways/demo/gw-2/status", json=report, headers=gw)
        assert r.status_code == 403 and problem(r)["value"] == "demo/gw-2"
        bus = (await c.get("/api/v1/gateways/demo/gw-1/bus", headers=tech)).json()
        assert bus["interval_ms"] == 30_000
        assert (bus["ports"][0]["error_rate"], bus["ports"][0]["polls_per_min"]) == (0.25, 24.0)
        assert (await c.get("/api/v1/gateways", headers=tech)).json() == [
            {"site": "demo", "gateway": "gw-1", "reported_ms": T0 + 30_000, "devices": 1}]
        assert (await c.get("/api/v1/gateways/demo/gw-9/bus", headers=tech)).json()["ports"] == []


def _messages(text: str) -> list[tuple[str, dict]]:
    out = []
    for block in text.split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line and not line.startswith(":"))
        if "event" in lines:
            out.append((lines["event"], json.loads(lines["data"])))
    return out


async def test_event_stream_coalesces_a_flood_of_readings_and_takes_a_query_token(tmp_path):
    """Fifty reading events for three nodes reach a subscriber as two messages (the first at
    once, then one with each node's newest report); other kinds pass one by one; ?token= works
    on the stream alone."""
    async with running_app(local_settings(tmp_path)) as c:
        bus = c.app.state.services.events

        async def publish() -> None:
            while bus.subscribers == 0:
                await asyncio.sleep(0.01)
            bus.publish("command", {"id": "c-1", "state": "sent"})
            for i in range(50):
                bus.publish("reading", {"site": "demo", "gateway": "gw-1",
                                        "nodes": [{"node": f"soil-0{i % 3}", "ts_ms": T0 + i, "readings": []}]})

        r, _ = await asyncio.gather(c.get("/api/v1/events?max_events=4"), publish())
        assert r.headers["content-type"].startswith("text/event-stream")
        msgs = _messages(r.text)
        assert [k for k, _ in msgs] == ["hello", "command", "reading", "reading"]
        assert [n["node"] for n in msgs[2][1]["nodes"]] == ["soil-00"]
        assert {n["node"]: n["ts_ms"] for n in msgs[3][1]["nodes"]} == {
            "soil-00": T0 + 48, "soil-01": T0 + 49, "soil-02": T0 + 47}
        token = c.headers["Authorization"].split()[1]
        anon = {"Authorization": ""}
        r = await c.get(f"/api/v1/events?max_events=1&token={token}", headers=anon)
        assert r.status_code == 200 and _messages(r.text)[0][0] == "hello"
        assert (await c.get(f"/api/v1/nodes?token={token}", headers=anon)).status_code == 401


async def test_ingest_and_the_command_lifecycle_publish_live_events(tmp_path):
    """A stored batch publishes one reading event with each node's newest report; a command's
    creation and every acknowledged step publish a command event with its zone."""
    async with running_app(local_settings(tmp_path)) as c:
        await _farm(c)
        bus = c.app.state.services.events
        async with bus.subscribe() as sub:
            valve = make_uplink("irr-01", "irrigation", 1, T0, [make_reading("valve_open", 0, channel=1)], "0.1.0")
            batch = batch_of([item(soil_uplink(seq=1, ts_ms=T0)), item(soil_uplink(seq=2, ts_ms=T0 + 1000, vwc=25.0)),
                              item(valve)])
            assert (await c.post("/api/v1/ingest/batch", json=batch)).status_code == 200
            ev = sub.queue.get_nowait()
            assert ev.kind == "reading"
            soil = next(n for n in ev.data["nodes"] if n["node"] == "soil-01")
            assert soil["seq"] == 2 and soil["readings"][0] == {"measurement": "vwc_pct", "depth_cm": 10,
                                                                 "channel": None, "value": 25.0, "fault": None}
            cmd = (await c.post("/api/v1/commands", json={"zone": "north-1", "duration_s": 600})).json()
            for i, state in enumerate(("received", "started")):
                ack = make_ack(cmd["id"], "irr-01", state, T0 + i)
                assert (await c.post("/api/v1/commands/acks", json=ack)).status_code == 200
            events = [sub.queue.get_nowait() for _ in range(sub.queue.qsize())]
        assert [(e.kind, e.data["state"], e.data["zone"]) for e in events] == [
            ("command", "created", "north-1"), ("command", "received", "north-1"), ("command", "started", "north-1")]


async def test_zone_columns_give_the_series_numbers_on_one_time_axis(tmp_path):
    """/zones/{id}/columns holds the same window means as /series, as one shared time column
    and one value column per sensor with gaps as null."""
    async with running_app(local_settings(tmp_path)) as c:
        await _farm(c)
        from furrow.cloud._time import now_ms
        t = now_ms() - 3_600_000
        t -= t % 900_000
        ups = [soil_uplink(seq=i + 1, ts_ms=t + i * 900_000, vwc=20.0 + i) for i in (0, 1, 3)]
        assert (await c.post("/api/v1/ingest/batch", json=batch_of([item(u) for u in ups]))).status_code == 200
        cols = (await c.get("/api/v1/zones/north-1/columns?days=1&window=15m")).json()
        start = cols["times_ms"][0]
        assert cols["times_ms"] == [start, start + 900_000, start + 2_700_000]
        assert cols["sensors"] == [{"node": "soil-01", "depth_cm": 10, "values": [20.0, 21.0, 23.0]}]
        series = (await c.get(f"/api/v1/series?zone=north-1&measurement=vwc_pct&window=15m&start={t}")).json()
        assert [b["value"] for b in series] == [20.0, 21.0, 23.0]
        r = await c.get("/api/v1/zones/north-1/columns?days=366&window=1m")
        assert r.status_code == 422 and problem(r)["field"] == "window"
        assert (await c.get("/api/v1/zones/nowhere/columns")).status_code == 404


@pytest.mark.parametrize(("days", "points", "window"), [
    (90, 1100, "2h"), (90, 2200, "1h"), (90, 300, "12h"), (30, 1100, "1h"), (7, 1100, "15m"), (7, 300, "1h"),
    (0.125, 12, "15m"), (0.125, 11, "30m"), (366, 10, "7d")])
def test_auto_window_is_the_finest_that_gives_at_most_the_points_asked_for(days, points, window):
    """window=auto over `days` with `points`: the finest of 15m, 30m, 1h, 2h, ... 7d that fits
    (the coarsest when none does)."""
    from furrow.cloud.api.routes.dashboard import auto_window
    from furrow.cloud.api.routes.query import parse_window
    assert auto_window(int(days * 86_400_000), points) == parse_window(window)


async def test_zone_columns_pick_the_window_for_the_range_and_zoom_to_the_reports(tmp_path):
    """window=auto gives hour windows (exact means of the reports) over days and every
    15-minute report over a zoomed span given by start and end; a start after the end or a
    range over 366 days is refused naming `start`."""
    async with running_app(local_settings(tmp_path)) as c:
        await _farm(c)
        from furrow.cloud._time import now_ms
        t = now_ms() - 3 * 3_600_000
        t -= t % 3_600_000
        ups = [soil_uplink(seq=i + 1, ts_ms=t + i * 900_000, vwc=20.0 + i) for i in range(8)]
        assert (await c.post("/api/v1/ingest/batch", json=batch_of([item(u) for u in ups]))).status_code == 200
        cols = (await c.get("/api/v1/zones/north-1/columns?days=2&window=auto&points=48")).json()
        assert cols["window_ms"] == 3_600_000 and cols["times_ms"] == [t, t + 3_600_000]
        assert cols["sensors"][0]["values"] == [21.5, 25.5]  # the means of 20..23 and 24..27
        zoom = (await c.get(f"/api/v1/zones/north-1/columns?window=auto&points=48&start={t + 1_800_000}"
                            f"&end={t + 5_400_000}")).json()
        assert zoom["window_ms"] == 900_000 and zoom["start_ms"] == t + 1_800_000
        assert zoom["sensors"][0]["values"] == [22.0, 23.0, 24.0, 25.0]
        r = await c.get(f"/api/v1/zones/north-1/columns?window=auto&start={t}&end={t - 1}")
        assert r.status_code == 422 and problem(r)["field"] == "start"
        r = await c.get(f"/api/v1/zones/north-1/columns?window=auto&start={t - 400 * 86_400_000}&end={t}")
        assert r.status_code == 422 and problem(r)["field"] == "start"


async def test_the_dashboard_is_served_by_the_service_with_its_chart_library(tmp_path):
    """/ redirects to /app/, which serves the page and its modules without a token, under a
    content security policy of its own origin only; uPlot comes from the npm package installed
    beside it."""
    async with running_app(local_settings(tmp_path), headers=None) as c:
        r = await c.get("/")
        assert r.status_code in (307, 308) and r.headers["location"] == "/app/"
        page = await c.get("/app/")
        assert page.status_code == 200 and '<script type="module" src="/app/app.js">' in page.text
        assert page.headers["content-security-policy"].startswith("default-src 'self'")
        assert (await c.get("/app/views/zone.js")).headers["content-type"].startswith("text/javascript")
        lib = await c.get("/app/vendor/uplot/uPlot.iife.min.js")
        assert lib.status_code == 200 and "uPlot" in lib.text[:2000]
        leaflet = await c.get("/app/vendor/leaflet/leaflet.js")  # the map's library, npm package leaflet
        assert leaflet.status_code == 200 and "Leaflet 1.9.4" in leaflet.text[:300]
        assert leaflet.headers["content-security-policy"] == page.headers["content-security-policy"]
        assert (await c.get("/app/vendor/leaflet/images/layers.png")).headers["content-type"] == "image/png"
        assert (await c.get("/app/vendor/leaflet/leaflet.css")).status_code == 200
        assert (await c.get("/app/nothing-here.js")).status_code == 404
        # no basemap configured: images from this origin only, and the page is told there are no tiles
        assert "img-src 'self' data: blob:;" in page.headers["content-security-policy"]
        basemap = await c.get("/api/v1/map/basemap", headers=ADMIN)
        assert basemap.json() == {"tile_url": None, "attribution": "", "max_zoom": 18}


async def test_a_basemap_tile_server_is_the_one_origin_the_dashboard_adds_for_images(tmp_path):
    """FURROW_MAP_TILE_URL puts its origin (scheme, host, port: not the path or the key in its query) into
    img-src of every dashboard file, and the page reads the URL, attribution and zoom from /map/basemap."""
    url = "https://t0.tianditu.gov.cn/vec_w/wmts?LAYER=vec&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk=KEY"
    settings = local_settings(tmp_path, map_tile_url=url, map_tile_attribution="天地图", map_max_zoom=17)
    async with running_app(settings) as c:
        for path in ("/app/", "/app/views/machinery.js", "/app/vendor/leaflet/leaflet.js"):
            csp = (await c.get(path)).headers["content-security-policy"]
            assert "img-src 'self' data: blob: https://t0.tianditu.gov.cn;" in csp, (path, csp)
            assert csp.count("tianditu") == 1 and "KEY" not in csp
        assert (await c.get("/api/v1/map/basemap")).json() == {
            "tile_url": url, "attribution": "天地图", "max_zoom": 17}


@pytest.mark.parametrize(("url", "why"), [
    ("ftp://tiles.example.org/{z}/{x}/{y}.png", "http:// or https://"),
    ("tiles.example.org/{z}/{x}/{y}.png", "http:// or https://"),
    ("https://{s}.tile.example.org/{z}/{x}/{y}.png", "one tile server host"),
    ("https://user:pw@tiles.example.org/{z}/{x}/{y}.png", "one tile server host"),
    ("https://tiles.example.org/{z}/{x}.png", "has no {y}"),
    ("https://tiles.example.org/{z}/{x}/{y}.png?v={v}", "the placeholder {v}"),
    ("https://tiles.example.org:99999/{z}/{x}/{y}.png", "port"),
    ("https://tiles.example.org/{z}/{x}/{y}.png; script-src *", "percent-encode"),
])
def test_a_tile_url_the_map_cannot_use_is_refused_at_start_naming_the_setting_and_value(url, why):
    from furrow.cloud.settings import SettingsError, load_settings

    with pytest.raises(SettingsError) as e:
        load_settings(secret_key=SECRET_KEY, map_tile_url=url)
    assert f"FURROW_MAP_TILE_URL={url!r}" in str(e.value) and why in str(e.value)
    with pytest.raises(SettingsError, match="FURROW_MAP_MAX_ZOOM=23: Input should be less than or equal to 22"):
        load_settings(secret_key=SECRET_KEY, map_tile_url="https://tiles.example.org/{z}/{x}/{y}.png", map_max_zoom=23)


async def test_a_stream_ends_by_itself_and_hands_over_the_readings_it_held():
    """A stream closes after its time is up (so a shutdown never waits on an open dashboard),
    and readings it was still coalescing go out before it closes."""
    from furrow.cloud.api.routes.events import stream
    from furrow.cloud.events import EventBus

    bus = EventBus()
    messages = stream(bus, None, None, max_s=0.5)
    first = await anext(messages)  # subscribed from here on
    assert "event: hello" in first
    for i in range(3):
        bus.publish("reading", {"site": "demo", "gateway": "gw-1", "nodes": [{"node": "soil-01", "ts_ms": T0 + i}]})

    async def rest() -> list[str]:
        return [m async for m in messages]

    tail = _messages("".join(await asyncio.wait_for(rest(), 10)))
    assert [k for k, _ in tail] == ["reading", "reading"]
    assert tail[1][1]["nodes"][0]["ts_ms"] == T0 + 2 and bus.subscribers == 0
