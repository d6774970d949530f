"""Alerts in the service: rules evaluated on what ingest stored and the registry holds, stored
de-duplicated, escalated, resolved, acknowledged by a person, and delivered on the event bus,
over MQTT and to a webhook; on SQLite, InfluxDB 1.x and PostgreSQL."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import aiomqtt
import pytest
from pydantic import ValidationError
from sqlalchemy import create_engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from furrow.cloud._time import now_ms
from furrow.cloud.agronomy.alerts import FarmState, RiskSnapshot
from furrow.cloud.alerts import AlertService, Deliveries, Places, Snapshot
from furrow.cloud.auth import Role
from furrow.cloud.db import AlertRow, Database
from furrow.cloud.events import EventBus
from furrow.cloud.migrations import current, head
from furrow.cloud.registry.models import PathogenIn
from furrow.edge.batch import make_batch
from furrow.edge.payload import make_reading, make_uplink
from tests.cloud_support import WAIT, Door, eventually, item, local_settings, problem, running_app
from tests.servers import free_port

MINUTE = 60_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR
# TAW = (31 - 14) % of 300 mm = 51 mm, RAW = 25.5 mm, critical dryness from 45.9 mm (90 % TAW);
# the emitters draw 12 mm/h over 2 ha = 4000 L/min.
ZONE = {"id": "z1", "field_id": "f1", "name": "Zone 1", "area_ha": 2.0, "soil_texture": "loam",
        "field_capacity_pct": 31.0, "wilting_point_pct": 14.0, "root_depth_cm": 30, "crop": "maize",
        "precip_rate_mm_h": 12.0}
NODES = {"soil-01": "soil", "irr-01": "irrigation", "wx-01": "weather", "pest-01": "pest"}
QUIET = {"alerts_interval_s": 3600.0}  # no periodic run during a test: it evaluates on demand
SEQ = itertools.count(1)
BATCH = itertools.count(1)


def soil(at: int, vwc: float, bat_v: float = 3.7, temp_fault: bool = False) -> dict:
    temp = make_reading("soil_temp_c", None, depth_cm=10, fault="disconnected") if temp_fault \
        else make_reading("soil_temp_c", 18.0, depth_cm=10)
    return make_uplink("soil-01", "soil", next(SEQ), at, [make_reading("vwc_pct", vwc, depth_cm=10), temp], "0.1.0",
                       bat_v=bat_v, rssi_dbm=-60)


def irrigation(at: int, valve_open: bool, flow: float, leak: float = 0.0) -> dict:
    readings = [make_reading("valve_open", 1 if valve_open else 0, channel=1), make_reading("flow_l_min", flow),
                make_reading("leak_l_min", leak)]
    return make_uplink("irr-01", "irrigation", next(SEQ), at, readings, "0.1.0", bat_v=3.9)


def weather(at: int, air_c: float, rain_mm: float | None = None, leaf_pct: float | None = None) -> dict:
    readings = [make_reading("air_temp_c", air_c)]
    if rain_mm is not None:
        readings.append(make_reading("rain_mm", rain_mm))
    if leaf_pct is not None:
        readings.append(make_reading("leaf_wet_pct", leaf_pct))
    return make_uplink("wx-01", "weather", next(SEQ), at, readings, "0.1.0", bat_v=3.9)


def trap(at: int, count: int) -> dict:
    return make_uplink("pest-01", "pest", next(SEQ), at, [make_reading("trap_count", count, channel=1)], "0.1.0",
                       bat_v=3.9)


async def ingest(c, *uplinks: dict) -> None:
    """Through the real ingest path (HTTPS batch), as a gateway would."""
    body = make_batch("demo", "gw-1", f"b{next(BATCH)}", now_ms(), [item(u) for u in uplinks])
    r = await c.post("/api/v1/ingest/batch", json=body)
    assert r.status_code == 200 and not r.json()["rejected"], r.text


async def farm(c, nodes: tuple[str, ...] = ("soil-01", "irr-01", "wx-01")) -> None:
    """Site s1, field f1, zone z1 with `nodes` in it, and valve 1 of irr-01 when it is one of them."""
    bodies = [("sites", {"id": "s1", "name": "Farm", "timezone": "UTC"}),
              ("fields", {"id": "f1", "site_id": "s1", "name": "North"}), ("zones", ZONE)]
    bodies += [("nodes", {"id": n, "role": NODES[n], "zone_id": "z1",
                          **({"lat": 41.65, "lon": -0.88} if NODES[n] == "weather" else {})}) for n in nodes]
    if "irr-01" in nodes:
        bodies.append(("valves", {"node_id": "irr-01", "channel": 1, "zone_id": "z1"}))
    for path, body in bodies:
        r = await c.post(f"/api/v1/registry/{path}", json=body)
        assert r.status_code == 201, r.text


async def healthy_farm(c, vwc: float) -> int:
    """The farm, every node reporting a minute ago and well, the probe at `vwc`; returns now."""
    await farm(c)
    now = now_ms()
    await ingest(c, soil(now - MINUTE, vwc), irrigation(now - MINUTE, False, 0.0), weather(now - MINUTE, 15.0))
    return now


async def evaluate(c) -> dict:
    r = await c.post("/api/v1/alerts/evaluate")
    assert r.status_code == 200, r.text
    return r.json()


async def alerts(c, **params) -> list[dict]:
    r = await c.get("/api/v1/alerts", params=params)
    assert r.status_code == 200, r.text
    return r.json()


async def _dry_zone_lifecycle(c) -> None:
    """Raise, de-duplicate, acknowledge (409 on repeat), escalate (re-opened), resolve."""
    await healthy_farm(c, vwc=20.0)  # depletion 33 mm: past RAW, not yet 90 % of TAW
    assert await evaluate(c) == {"raised": 1, "escalated": 0, "resolved": 0, "open": 1}
    (a,) = await alerts(c)
    assert (a["kind"], a["subject"], a["site"], a["zone"], a["severity"]) == ("soil-dry", "z1", "s1", "z1", "warning")
    assert a["evidence"] == {"depletion_mm": 33.0, "raw_mm": 25.5, "taw_mm": 51.0}
    assert a["resolved_ms"] is None and a["acknowledged_by"] is None and a["first_ms"] == a["last_ms"]

    assert await evaluate(c) == {"raised": 0, "escalated": 0, "resolved": 0, "open": 1}
    (same,) = await alerts(c, state="all")
    assert same["id"] == a["id"] and same["first_ms"] == a["first_ms"] and same["last_ms"] >= a["last_ms"]

    r = await c.post(f"/api/v1/alerts/{a['id']}/ack", json={"note": "seen, irrigation planned"})
    assert r.status_code == 200, r.text
    assert r.json()["acknowledged_by"] == "bootstrap-admin" and r.json()["ack_note"] == "seen, irrigation planned"
    assert await alerts(c) == [] and [x["id"] for x in await alerts(c, state="acknowledged")] == [a["id"]]
    again = await c.post(f"/api/v1/alerts/{a['id']}/ack")
    assert again.status_code == 409 and "already acknowledged by bootstrap-admin" in problem(again)["reason"]
    assert (await c.post("/api/v1/alerts/999999/ack")).status_code == 404

    # 48 mm: critical; and R = 15/31 = 48 % of field capacity, 中旱 by GB/T 32136-2015 table 2
    await ingest(c, soil(now_ms(), vwc=15.0))
    assert await evaluate(c) == {"raised": 1, "escalated": 1, "resolved": 0, "open": 2}
    got = {x["kind"]: x for x in await alerts(c)}
    up = got["soil-dry"]  # open again: the acknowledgement was of a lesser alert
    assert up["id"] == a["id"] and up["severity"] == "critical" and up["acknowledged_by"] is None
    drought = got["drought"]
    assert (drought["subject"], drought["severity"], drought["evidence"]["grade"], drought["evidence"]["r_pct"]) == (
        "z1", "warning", "moderate", 48.4)
    assert [x["id"] for x in await alerts(c, severity="critical")] == [a["id"]]
    summary = (await c.get("/api/v1/zones/z1/summary")).json()
    assert sorted((x["id"], x["severity"]) for x in summary["alerts"]) == sorted(
        [(a["id"], "critical"), (drought["id"], "warning")])

    await ingest(c, soil(now_ms(), vwc=30.0))  # 3 mm, R 97 %: neither rule fires
    assert await evaluate(c) == {"raised": 0, "escalated": 0, "resolved": 2, "open": 0}
    assert await alerts(c) == [] and (await c.get("/api/v1/zones/z1/summary")).json()["alerts"] == []
    (done,) = [x for x in await alerts(c, state="resolved") if x["kind"] == "soil-dry"]
    assert done["id"] == a["id"] and done["resolved_ms"] is not None and done["resolved_ms"] == done["last_ms"]


async def test_a_dry_zone_is_raised_once_acknowledged_escalated_and_resolved(tmp_path):
    """Probe readings ingested over HTTPS drive the soil-dry alert of the zone through its whole
    life on SQLite: raised once however often evaluated, acknowledged by the token's user (409 the
    second time, 404 for an unknown id), escalated to critical and open again (the drought grade of
    GB/T 32136-2015 raised beside it from the same dry probe), then resolved."""
    async with running_app(local_settings(tmp_path, **QUIET)) as c:
        await _dry_zone_lifecycle(c)


@pytest.mark.influxdb
async def test_the_dry_zone_lifecycle_on_influxdb(tmp_path, influxdb, influx_db):
    """The same lifecycle with readings in a real InfluxDB 1.x (the latest values read from it)."""
    settings = local_settings(tmp_path, storage="influxdb1", influx_url=influxdb.url, influx_database=influx_db,
                              **QUIET)
    async with running_app(settings) as c:
        await _dry_zone_lifecycle(c)


@pytest.mark.postgres
async def test_alerts_on_postgresql_and_one_open_row_per_kind_and_subject(tmp_path, pg_database):
    """On PostgreSQL the migrations create the alerts table and the lifecycle holds; the partial
    unique index refuses a second unresolved row for the same (kind, subject), which is what keeps
    two instances evaluating at once from raising an alert twice."""
    async with running_app(local_settings(tmp_path, database_url=pg_database, **QUIET)) as c:
        engine = create_engine(pg_database)
        try:
            assert current(engine) == head()
            await _dry_zone_lifecycle(c)
            await ingest(c, soil(now_ms(), vwc=20.0))
            assert (await evaluate(c))["raised"] == 1
            with Session(engine) as s, pytest.raises(IntegrityError):
                s.add(AlertRow(kind="soil-dry", subject="z1", severity=2, message="twin", evidence={},
                               first_ms=1, last_ms=1))
                s.commit()
        finally:
            engine.dispose()


async def test_node_valve_weather_and_sensor_rules_from_ingested_readings(tmp_path):
    """Battery, sensor fault, waterlogging, an open valve without flow, frost and a registered
    node never heard each raise their alert with the right subject, site and zone, and each is
    published on the event bus; closing the valve on a leak resolves no-flow and raises
    flow-when-closed."""
    async with running_app(local_settings(tmp_path, **QUIET)) as c:
        await farm(c, ("soil-01", "irr-01", "wx-01", "pest-01"))
        now = now_ms()
        await ingest(c, soil(now - MINUTE, vwc=40.0, bat_v=3.2, temp_fault=True),
                     irrigation(now - MINUTE, True, 10.0), weather(now - MINUTE, 0.5))
        async with c.app.state.services.events.subscribe() as sub:
            assert (await evaluate(c))["raised"] == 6
            events = [sub.queue.get_nowait() for _ in range(sub.queue.qsize())]
        got = {(a["kind"], a["subject"]): a for a in await alerts(c)}
        assert set(got) == {("battery-low", "soil-01"), ("sensor-fault", "soil-01/soil_temp_c@10"),
                            ("waterlogged", "z1"), ("irrigation-no-flow", "irr-01/valve 1"), ("frost", "s1"),
                            ("node-offline", "pest-01")}
        assert {k: a["severity"] for k, a in got.items()} == {
            ("battery-low", "soil-01"): "critical", ("sensor-fault", "soil-01/soil_temp_c@10"): "warning",
            ("waterlogged", "z1"): "critical", ("irrigation-no-flow", "irr-01/valve 1"): "critical",
            ("frost", "s1"): "warning", ("node-offline", "pest-01"): "critical"}
        assert got[("irrigation-no-flow", "irr-01/valve 1")]["evidence"]["expected_flow_l_min"] == 4000.0
        assert got[("sensor-fault", "soil-01/soil_temp_c@10")]["evidence"] == {"fault": "disconnected"}
        assert got[("node-offline", "pest-01")]["message"] == "pest-01 never heard"
        assert {(a["site"], a["zone"]) for k, a in got.items() if k[0] != "frost"} == {("s1", "z1")}
        assert (got[("frost", "s1")]["site"], got[("frost", "s1")]["zone"]) == ("s1", None)
        assert sorted((e.kind, e.data["event"], e.data["alert"]["kind"]) for e in events) == sorted(
            ("alert", "raised", kind) for kind, _ in got)

        await ingest(c, irrigation(now_ms(), False, 0.0, leak=5.0))
        assert await evaluate(c) == {"raised": 1, "escalated": 0, "resolved": 1, "open": 6}
        assert ("irrigation-flow-when-closed", "irr-01/valve 1") in {(a["kind"], a["subject"]) for a in await alerts(c)}
        assert [a["kind"] for a in await alerts(c, state="resolved")] == ["irrigation-no-flow"]
        assert {a["kind"] for a in await alerts(c, zone="z1", severity="critical")} == {
            "battery-low", "waterlogged", "irrigation-flow-when-closed", "node-offline"}


async def test_drought_disease_and_pest_rules_from_weeks_of_readings(tmp_path):
    """Twenty rainless days after 15 mm of rain raise no drought on a zone whose probe irrigation
    holds at 30 % (R 97 % of field capacity, 无旱 by GB/T 32136-2015: the old rain-count rule called
    it drought); ten wet hours at 20 °C (risk 10/6 by the generic infection model, Topt 20 °C and Wmin 6 h
    of a pathogen configured on the zone) raise disease risk for zone/pathogen; 70 catches per trap
    per week against a threshold of 10 raise a critical pest alert."""
    settings = local_settings(tmp_path, alerts_trap_threshold_per_week=10.0, **QUIET)
    async with running_app(settings) as c:
        await farm(c, ("soil-01", "wx-01", "pest-01"))
        fungus = {"name": "test-fungus", "tmin_c": 2, "topt_c": 20, "tmax_c": 32, "wmin_h": 6, "wmax_h": 48,
                  "dry_interrupt_h": 4, "source": "test values, not a published pathogen's"}
        assert (await c.put("/api/v1/registry/zones/z1", json={**ZONE, "pathogens": [fungus]})).status_code == 200
        now = now_ms()
        midnight = now - now % DAY
        days = []
        for back in range(1, 22):
            day = midnight - back * DAY
            # The day's maximum at 13:00 so that no daily reading shares an hour with the wet
            # hours below (at 15:00, a run between 01:00 and 02:00 UTC mixed 30 °C into one).
            days += [weather(day + 3 * HOUR, 10.0, rain_mm=15.0 if back == 21 else 0.0),
                     weather(day + 13 * HOUR, 30.0)]
        wet = [weather(now - h * HOUR, 20.0, leaf_pct=100.0) for h in range(10, 0, -1)]
        traps = [trap(now - d * DAY, 10) for d in range(7)]
        await ingest(c, *days, *wet, *traps, soil(now - MINUTE, vwc=30.0), weather(now - MINUTE, 20.0))
        raised = await evaluate(c)
        got = {a["kind"]: a for a in await alerts(c)}
        assert raised["raised"] == 2, got
        assert set(got) == {"disease-risk", "pest-threshold"}
        disease = got["disease-risk"]
        assert (disease["subject"], disease["severity"], disease["evidence"]) == (
            "z1/test-fungus", "warning", {"value": 1.67, "threshold": 1.0})
        assert (disease["site"], disease["zone"]) == ("s1", "z1")
        pest = got["pest-threshold"]
        assert (pest["subject"], pest["severity"], pest["evidence"]) == (
            "pest-01", "critical", {"value": 70.0, "threshold": 10.0})


async def test_a_lured_counter_is_watched_by_its_species_alone_and_the_one_threshold_by_the_others(tmp_path):
    """One rule speaks for each trap: pest-01's counter 1 is lured for corn earworm and catches 10 a night (its
    species' threshold, 1 a night, raises pest-species); counter 2 has no lure and catches 3 a night, 21 a week
    against the one threshold of 10: pest-threshold on pest-01 says 21 (counter 2's catch alone; with both
    counters it would be their mean, 45.5, the earworm counted twice)."""
    settings = local_settings(tmp_path, alerts_trap_threshold_per_week=10.0, **QUIET)
    async with running_app(settings) as c:
        await farm(c, ("pest-01",))
        r = await c.put("/api/v1/pests/traps/pest-01/1", json={"card": "white-pheromone", "lure": "helicoverpa-zea"})
        assert r.status_code == 200, r.text
        now = now_ms()
        counts = [make_uplink("pest-01", "pest", next(SEQ), now - d * DAY - HOUR,
                              [make_reading("trap_count", 10, channel=1), make_reading("trap_count", 3, channel=2)],
                              "0.1.0", bat_v=3.9) for d in range(7)]
        await ingest(c, *counts)
        await evaluate(c)
        got = {a["kind"]: a for a in await alerts(c)}
        assert got["pest-species"]["subject"] == "z1/helicoverpa-zea", got
        assert got["pest-species"]["evidence"]["traps"] == ["pest-01/1"]
        pest = got["pest-threshold"]
        assert (pest["subject"], pest["evidence"]) == ("pest-01", {"value": 21.0, "threshold": 10.0})


async def test_the_service_evaluates_periodically(tmp_path):
    """With a short FURROW_ALERTS_INTERVAL_S the service raises the dry-zone alert by itself."""
    async with running_app(local_settings(tmp_path, alerts_interval_s=0.05)) as c:
        await healthy_farm(c, vwc=20.0)

        async def raised() -> bool:
            return [a["kind"] for a in await alerts(c)] == ["soil-dry"]

        await eventually(raised, "the periodic job raised soil-dry")


async def test_acknowledging_needs_a_role_that_may_and_records_the_person(tmp_path):
    """A technician acknowledges as herself; a gateway token may not (403); a technician cannot
    evaluate (403), an agronomist can."""
    async with running_app(local_settings(tmp_path, **QUIET)) as c:
        tokens = c.app.state.services.tokens
        tech = {"Authorization": f"Bearer {(await tokens.issue('ann', Role.TECHNICIAN, 1)).token}"}
        agro = {"Authorization": f"Bearer {(await tokens.issue('ben', Role.AGRONOMIST, 1)).token}"}
        gw = {"Authorization": f"Bearer {(await tokens.issue('demo.gw-1', Role.GATEWAY, 1)).token}"}
        await healthy_farm(c, vwc=20.0)
        assert (await c.post("/api/v1/alerts/evaluate", headers=tech)).status_code == 403
        assert (await c.post("/api/v1/alerts/evaluate", headers=agro)).json()["raised"] == 1
        (a,) = await alerts(c)
        assert (await c.post(f"/api/v1/alerts/{a['id']}/ack", headers=gw)).status_code == 403
        r = await c.post(f"/api/v1/alerts/{a['id']}/ack", headers=tech)
        assert r.status_code == 200 and r.json()["acknowledged_by"] == "ann" and r.json()["acknowledged_ms"]


@pytest.mark.mosquitto
async def test_changes_are_published_over_mqtt(tmp_path, mosquitto, mqtt_topic_prefix):
    """A raised and then a resolved alert reach a subscriber on the real broker, as JSON on
    {root}/v1/{site}/alerts/{kind}, QoS 1, not retained."""
    root = mqtt_topic_prefix
    settings = local_settings(tmp_path, mqtt_enabled=True, mqtt_host=mosquitto.host, mqtt_port=mosquitto.port,
                              topic_root=root, mqtt_reconnect_max_s=0.5, **QUIET)
    async with running_app(settings) as c:
        await asyncio.wait_for(c.app.state.services.worker.ready.wait(), WAIT)
        async with aiomqtt.Client(mosquitto.host, mosquitto.port) as sub:
            await sub.subscribe(f"{root}/v1/+/alerts/#", qos=1)
            await healthy_farm(c, vwc=20.0)
            assert (await evaluate(c))["raised"] == 1
            messages = sub.messages
            raised = await asyncio.wait_for(anext(messages), WAIT)
            await ingest(c, soil(now_ms(), vwc=30.0))
            assert (await evaluate(c))["resolved"] == 1
            resolved = await asyncio.wait_for(anext(messages), WAIT)

        async def confirmed() -> bool:  # the broker's PUBACK may come after the subscriber's copy
            return c.app.state.services.alerts.deliveries.stats["mqtt"] == {"delivered": 2}

        await eventually(confirmed, "both alert messages confirmed by the broker")
    for msg, event in ((raised, "raised"), (resolved, "resolved")):
        assert str(msg.topic) == f"{root}/v1/s1/alerts/soil-dry" and msg.qos == 1 and not msg.retain
        body = json.loads(msg.payload)
        assert (body["v"], body["event"], body["alert"]["kind"], body["alert"]["zone"]) == (
            "1.0", event, "soil-dry", "z1")
    assert json.loads(resolved.payload)["alert"]["resolved_ms"] is not None


class _Hook:
    """A real HTTP server on 127.0.0.1 recording each POST; it answers `statuses` in turn (then
    200), and holds its first answer until `release` is set."""

    def __init__(self, statuses: list[int]) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.release = threading.Event()
        statuses = list(statuses)
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.requests.append((dict(self.headers), body))
                hook.release.wait(WAIT)
                self.send_response(statuses.pop(0) if statuses else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> _Hook:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(WAIT)


async def test_the_webhook_is_signed_retried_after_a_500_and_never_holds_evaluation(tmp_path):
    """Evaluation answers while the webhook's server still holds the request; the server's first
    answer, 500, is retried; both POSTs carry the same body and a valid HMAC-SHA256 signature."""
    secret = "hook-secret-0123456789"
    with _Hook([500]) as hook:
        settings = local_settings(tmp_path, alert_webhook_url=hook.url, alert_webhook_secret=secret,
                                  alert_delivery_backoff_s=0.01, **QUIET)
        async with running_app(settings) as c:
            stats = c.app.state.services.alerts.deliveries.outlets["webhook"].stats
            await healthy_farm(c, vwc=20.0)
            assert (await evaluate(c))["raised"] == 1
            assert stats["delivered"] == 0  # the server has not answered yet: evaluation did not wait
            hook.release.set()

            async def delivered() -> bool:
                return stats["delivered"] == 1

            await eventually(delivered, "the webhook delivered after one retry")
            assert (stats["retries"], stats["failed"], len(hook.requests)) == (1, 0, 2)
        (h1, b1), (h2, b2) = hook.requests
        assert b1 == b2
        for headers, body in hook.requests:
            expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
            assert headers["X-Furrow-Signature"] == expected and headers["X-Furrow-Event"] == "raised"
        payload = json.loads(b1)
        assert (payload["event"], payload["alert"]["kind"], payload["alert"]["subject"]) == ("raised", "soil-dry", "z1")


async def test_a_webhook_that_never_answers_well_is_counted_as_failed(tmp_path):
    """A webhook answering 503 every time is tried FURROW_ALERT_DELIVERY_ATTEMPTS times, then the
    notice is counted as failed; the alert itself is stored all the same."""
    with _Hook([503, 503, 503]) as hook:
        hook.release.set()
        settings = local_settings(tmp_path, alert_webhook_url=hook.url, alert_delivery_attempts=3,
                                  alert_delivery_backoff_s=0.01, **QUIET)
        async with running_app(settings) as c:
            stats = c.app.state.services.alerts.deliveries.outlets["webhook"].stats
            await healthy_farm(c, vwc=20.0)
            assert (await evaluate(c))["raised"] == 1

            async def failed() -> bool:
                return stats["failed"] == 1

            await eventually(failed, "the webhook gave up")
            assert (stats["delivered"], stats["retries"], len(hook.requests)) == (0, 2, 3)
            assert "X-Furrow-Signature" not in hook.requests[0][0]  # no secret, no signature
            assert len(await alerts(c)) == 1


async def test_a_node_heard_but_not_registered_is_watched_but_never_offline(tmp_path):
    """A node the registry does not know, silent for an hour on a low battery: battery-low is
    raised (its site is the one it reports under, no zone), node-offline is not."""
    async with running_app(local_settings(tmp_path, **QUIET)) as c:
        stray = make_uplink("soil-09", "soil", next(SEQ), now_ms() - HOUR, [make_reading("vwc_pct", 25.0, depth_cm=10)],
                            "0.1.0", bat_v=3.4)
        await ingest(c, stray)
        assert (await evaluate(c))["raised"] == 1
        (a,) = await alerts(c)
        assert (a["kind"], a["subject"], a["site"], a["zone"], a["severity"]) == (
            "battery-low", "soil-09", "demo", None, "warning")


@pytest.mark.influxdb
async def test_an_unreachable_store_fails_the_evaluation_and_resolves_nothing(tmp_path, influxdb, influx_db):
    """With InfluxDB unreachable the evaluation answers 503 and the open alert stays open: an
    outage is not taken for the end of every condition."""
    door = Door("127.0.0.1", influxdb.port)
    settings = local_settings(tmp_path, storage="influxdb1", influx_url=f"http://{door.host}:{door.port}",
                              influx_database=influx_db, influx_write_retries=0, **QUIET)
    async with running_app(settings) as c:
        async with door:
            await door.open()
            await c.app.state.services.store.ensure_database()
            await healthy_farm(c, vwc=20.0)
            assert (await evaluate(c))["raised"] == 1
        r = await c.post("/api/v1/alerts/evaluate")
        assert r.status_code == 503, r.text
        assert [(a["kind"], a["resolved_ms"]) for a in await alerts(c)] == [("soil-dry", None)]


async def test_a_zone_nearly_out_of_its_weekly_budget(tmp_path):
    """Commands for 9.5 mm against a 10 mm weekly budget (counted as the planner counts: planned
    while in flight) raise budget-nearly-spent; one more millimetre escalates it to critical."""
    async with running_app(local_settings(tmp_path, **QUIET)) as c:
        await healthy_farm(c, vwc=30.0)
        r = await c.put("/api/v1/registry/zones/z1", json={**ZONE, "week_budget_mm": 10.0})
        assert r.status_code == 200, r.text
        assert (await c.post("/api/v1/commands", json={"zone": "z1", "amount_mm": 9.5})).status_code == 201
        assert (await evaluate(c))["raised"] == 1
        (a,) = await alerts(c)
        assert (a["kind"], a["subject"], a["severity"], a["evidence"]) == (
            "budget-nearly-spent", "z1", "warning", {"used_fraction": 0.95})
        assert (await c.post("/api/v1/commands", json={"zone": "z1", "amount_mm": 1.0})).status_code == 201
        assert (await evaluate(c))["escalated"] == 1
        assert [(x["id"], x["severity"]) for x in await alerts(c)] == [(a["id"], "critical")]


async def test_a_subject_longer_than_the_column_is_raised_once_not_flapping(tmp_path):
    """A disease subject past the 80 stored characters, evaluated three times, is raised once and stays open
    (rows are matched on the subject as stored); the registry refuses a pathogen name that makes one."""
    db = Database(f"sqlite:///{tmp_path}/alerts.db")
    db.migrate()
    subject = "z" * 32 + "/" + "p" * 64

    async def snapshot(at_ms: int) -> Snapshot:
        state = FarmState(now=datetime.fromtimestamp(at_ms / 1000, UTC),
                          diseases=[RiskSnapshot(subject, 3.0, 1.0)])
        return Snapshot(state, Places({}, {}))

    service = AlertService(db, snapshot, Deliveries(EventBus()))
    runs = [await service.evaluate() for _ in range(3)]
    assert [(r.raised, r.resolved, r.open) for r in runs] == [(1, 0, 1), (0, 0, 1), (0, 0, 1)]
    params = {"tmin_c": 2.0, "topt_c": 20.0, "tmax_c": 30.0, "wmin_h": 6.0, "wmax_h": 48.0,
              "dry_interrupt_h": 4.0, "source": "Author (year)"}
    assert PathogenIn(name="p" * 47, **params).name == "p" * 47
    with pytest.raises(ValidationError, match="name"):
        PathogenIn(name="p" * 48, **params)
