"""The query API on both readings stores (SQLite, real InfluxDB 1.x): windowed series per node
and per zone, export as CSV and line protocol, zone summary and node health."""

from __future__ import annotations

import csv
import io

import pytest

from furrow.cloud.storage import Influx1ReadingStore, Rollups
from furrow.edge.payload import make_reading, make_uplink
from tests.cloud_support import T0, batch_of, item, local_settings, problem, running_app

HOUR = 3_600_000
ZONE = {"id": "z1", "field_id": "f1", "name": "Zone 1", "area_ha": 2.0, "soil_texture": "loam",
        "field_capacity_pct": 30.0, "wilting_point_pct": 14.0, "root_depth_cm": 50, "crop": "maize",
        "precip_rate_mm_h": 6.0}


@pytest.fixture(params=["sqlite", "influxdb1"])
async def client(request, tmp_path):
    overrides = {}
    if request.param == "influxdb1":
        influxdb = request.getfixturevalue("influxdb")
        overrides = {"storage": "influxdb1", "influx_url": influxdb.url,
                     "influx_database": request.getfixturevalue("influx_db")}
    async with running_app(local_settings(tmp_path, **overrides)) as c:
        yield c


def _soil(node: str, seq: int, ts_ms: int, vwc10: float, vwc80: float) -> dict:
    readings = [make_reading("vwc_pct", vwc10, depth_cm=10), make_reading("vwc_pct", vwc80, depth_cm=80),
                make_reading("soil_temp_c", None, depth_cm=10, fault="disconnected")]
    return make_uplink(node, "soil", seq, ts_ms, readings, "0.2.1", bat_v=3.61, rssi_dbm=-71)


async def _ingest(client) -> None:
    # two hours, four reports an hour: hour 0 vwc10 = 20, 21, 22, 23; hour 1 = 24 .. 27
    items = [item(_soil("soil-01", s, T0 + s * 15 * 60_000, 20 + s, 35)) for s in range(8)]
    items.append(item(_soil("soil-02", 0, T0, 10, 12)))
    r = await client.post("/api/v1/ingest/batch", json=batch_of(items))
    assert r.status_code == 200 and not r.json()["rejected"]


async def _zone_with(client, node: str) -> None:
    """Site s1, field f1, zone z1 with `node` registered in it."""
    for path, body in [("sites", {"id": "s1", "name": "Farm"}), ("fields", {"id": "f1", "site_id": "s1", "name": "F"}),
                       ("zones", ZONE), ("nodes", {"id": node, "role": "soil", "zone_id": "z1"})]:
        assert (await client.post(f"/api/v1/registry/{path}", json=body)).status_code == 201


async def test_series_aggregates_per_window_and_per_zone(client):
    """Hourly means per sensor come back per node and for a zone's registered nodes."""
    await _ingest(client)
    params = {"measurement": "vwc_pct", "node": "soil-01", "start": str(T0), "end": str(T0 + 2 * HOUR),
              "window": "1h"}
    r = await client.get("/api/v1/series", params=params)
    assert r.status_code == 200, r.text
    got = [(b["time_ms"], b["depth_cm"], b["value"], b["count"]) for b in r.json()]
    assert got == [(T0, 10, 21.5, 4), (T0, 80, 35.0, 4), (T0 + HOUR, 10, 25.5, 4), (T0 + HOUR, 80, 35.0, 4)]
    r = await client.get("/api/v1/series", params={**params, "fn": "max", "window": "1d"})
    assert [(b["depth_cm"], b["value"]) for b in r.json()] == [(10, 27.0), (80, 35.0)]

    await _zone_with(client, "soil-02")
    r = await client.get("/api/v1/series", params={"measurement": "vwc_pct", "zone": "z1", "start": str(T0),
                                                    "end": str(T0 + HOUR), "window": "1h"})
    assert [(b["node"], b["depth_cm"], b["value"]) for b in r.json()] == [("soil-02", 10, 10.0), ("soil-02", 80, 12.0)]

    r = await client.get("/api/v1/series", params={**params, "window": "1 week"})
    assert r.status_code == 422 and problem(r)["field"] == "window"

    summary = (await client.get("/api/v1/zones/z1/summary")).json()
    assert [(p["node"], p["depth_cm"], p["vwc_pct"]) for p in summary["probes"]] == [("soil-02", 10, 10.0)]
    assert summary["total_available_water_mm"] == 80.0  # (30 - 14) % of 500 mm
    assert summary["depletion_mm"] == 100.0  # (30 - 10) % of 500 mm


async def test_export_as_csv_and_line_protocol(client):
    """Export gives every reading of the range as CSV rows, and as line protocol with ns times."""
    await _ingest(client)
    params = {"node": "soil-01", "start": str(T0), "end": str(T0 + 2 * HOUR)}
    r = await client.get("/api/v1/export", params={**params, "measurement": "vwc_pct"})
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert r.headers["content-type"].startswith("text/csv")
    assert len(rows) == 16 and rows[0]["node"] == "soil-01" and rows[0]["ts_ms"] == str(T0)
    r = await client.get("/api/v1/export", params={**params, "format": "lp"})
    lines = r.text.splitlines()
    assert len(lines) == 24
    assert any(line.startswith("soil_temp_c,") and 'fault="disconnected"' in line for line in lines)
    assert lines[0].rsplit(" ", 1)[1] == str(T0 * 1_000_000)


async def test_export_of_a_zone_has_iso_times_and_quality_flags(client):
    """export?zone= gives every reading of the zone's registered nodes only, each CSV row with its
    ISO 8601 UTC time and the gateway's quality flags (export ignored zone and had neither)."""
    flagged = item(_soil("soil-02", 1, T0 + HOUR, 11, 13), flags=["clock_corrected", "spike"])
    assert (await client.post("/api/v1/ingest/batch", json=batch_of([flagged]))).status_code == 200
    await _ingest(client)
    await _zone_with(client, "soil-02")
    r = await client.get("/api/v1/export", params={"zone": "z1", "start": str(T0), "end": str(T0 + 2 * HOUR)})
    assert r.status_code == 200, r.text
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert {x["node"] for x in rows} == {"soil-02"} and len(rows) == 6
    assert rows[0]["time"] == "2026-01-01T00:00:00.000Z" and rows[-1]["time"] == "2026-01-01T01:00:00.000Z"
    assert {x["flags"] for x in rows} == {"", "clock_corrected spike"}


async def test_an_unknown_node_or_zone_is_404_naming_it(client):
    """export of a node neither registered nor heard, or of an unknown zone, is 404 naming it (it
    answered an empty 200), and so is a series of an unknown zone (it said to give a node)."""
    await _ingest(client)
    r = await client.get("/api/v1/export", params={"node": "soil-99"})
    assert r.status_code == 404 and (problem(r)["field"], problem(r)["value"]) == ("node", "soil-99")
    r = await client.get("/api/v1/export", params={"zone": "nosuch"})
    assert r.status_code == 404 and (problem(r)["field"], problem(r)["value"]) == ("zone", "nosuch")
    r = await client.get("/api/v1/series", params={"zone": "nosuch", "measurement": "vwc_pct"})
    assert r.status_code == 404 and (problem(r)["field"], problem(r)["value"]) == ("zone", "nosuch")
    assert (await client.get("/api/v1/export", params={"node": "soil-01"})).status_code == 200


async def test_node_health_reports_battery_signal_firmware_and_faults(client):
    """Node health shows the newest report's battery, signal, firmware and sensor faults."""
    await _ingest(client)
    h = (await client.get("/api/v1/nodes/soil-01/health")).json()
    assert (h["seq"], h["bat_v"], h["rssi_dbm"], h["fw"]) == (7, 3.61, -71, "0.2.1")
    assert h["faults"] == ["soil_temp_c@10: disconnected"]
    assert h["registered"] is False and h["silent_for_ms"] > 0
    assert (await client.get("/api/v1/nodes/nobody/health")).status_code == 404


@pytest.mark.influxdb
async def test_influx_rollups_are_kept_complete_and_answer_closed_windows(tmp_path, influxdb, influx_db):
    """Late points are rolled up as they are written, hourly and daily means stay exact, and closed
    hourly/daily windows are read from the roll-ups while finer windows read raw points."""
    overrides = {"storage": "influxdb1", "influx_url": influxdb.url, "influx_database": influx_db}
    async with running_app(local_settings(tmp_path, **overrides)) as client:
        await _ingest(client)  # two hours of 2026-01-01: late, so rolled up by the write
        policies = influxdb.query(influx_db, "SHOW RETENTION POLICIES")["results"][0]["series"][0]["values"]
        assert {"autogen", "furrow_hourly", "furrow_daily"} <= {p[0] for p in policies}
        cqs = influxdb.query(None, "SHOW CONTINUOUS QUERIES")["results"][0]["series"]
        assert {"furrow_hourly_cq", "furrow_daily_cq"} <= {v[0] for s in cqs if s["name"] == influx_db
                                                            for v in s.get("values", [])}
        rows = influxdb.query(influx_db, 'SELECT "sum", "n", "min", "max" FROM "furrow_hourly"."vwc_pct" '
                                         "WHERE \"node\" = 'soil-01' AND \"depth_cm\" = '10'")
        assert [v[1:] for v in rows["results"][0]["series"][0]["values"]] == [[86, 4, 20, 23], [102, 4, 24, 27]]

        # a point written around the store is not rolled up: closed windows do not see it, raw ones do
        influxdb.write(influx_db, f"vwc_pct,depth_cm=10,gateway=gw-1,node=soil-01,role=soil,site=demo "
                                  f"seq=99i,value=99.0 {(T0 + 60_000) * 1_000_000 + 99}")
        store = client.app.state.services.store
        hourly = await store.aggregate(["soil-01"], "vwc_pct", T0, T0 + 2 * HOUR, HOUR, "mean")
        assert [(b.time_ms, b.depth_cm, b.value, b.count) for b in hourly] == [
            (T0, 10, 21.5, 4), (T0, 80, 35.0, 4), (T0 + HOUR, 10, 25.5, 4), (T0 + HOUR, 80, 35.0, 4)]
        daily = await store.aggregate(["soil-01"], "vwc_pct", T0, T0 + 2 * HOUR, 24 * HOUR, "mean")
        assert [(b.depth_cm, b.value, b.count) for b in daily] == [(10, 23.5, 8), (80, 35.0, 8)]
        finer = await store.aggregate(["soil-01"], "vwc_pct", T0, T0 + 2 * HOUR, HOUR // 4, "mean")
        assert (finer[0].value, finer[0].count) == (59.5, 2)
        partial = await store.aggregate(["soil-01"], "vwc_pct", T0 + 30 * 60_000, T0 + 2 * HOUR, HOUR, "max")
        assert [(b.time_ms, b.depth_cm, b.value, b.count) for b in partial if b.depth_cm == 10] == [
            (T0, 10, 23.0, 2), (T0 + HOUR, 10, 27.0, 4)]  # the partial first hour is read raw

    aged = Influx1ReadingStore(influxdb.url, influx_db, rollups=Rollups(influx_db))
    try:
        assert [b.value for b in await aged.aggregate(["soil-01"], "vwc_pct", T0, T0 + HOUR, HOUR, "min")] == [
            20.0, 35.0]
    finally:
        await aged.close()


def test_the_series_json_is_the_response_models():
    """`/series` writes its buckets with orjson instead of through the response model: the same
    JSON values, keys in the same order, as pydantic's `list[BucketOut]` gives (None, faults-only
    windows, negative and tiny values, channel instead of depth)."""
    import json

    from pydantic import TypeAdapter

    from furrow.cloud.api.routes.query import BucketOut, series_json
    from furrow.cloud.storage import Bucket

    buckets = [Bucket("soil-01", "vwc_pct", 10, None, T0, 23.456, 4),
               Bucket("soil-01", "vwc_pct", 80, None, T0, None, 0),
               Bucket("irr-1", "flow_l_min", None, 2, T0 + HOUR, 1e-07, 1),
               Bucket("w", "air_temp_c", None, None, 0, -12.0, 9_000)]
    ours = json.loads(series_json(buckets))
    model = TypeAdapter(list[BucketOut])  # what FastAPI did with the route's answer: validate, then dump
    theirs = json.loads(model.dump_json(model.validate_python(buckets, from_attributes=True)))
    assert ours == theirs
    assert [list(b) for b in ours] == [list(b) for b in theirs]
    assert series_json([]) == b"[]"


@pytest.mark.influxdb
async def test_rollup_points_read_as_they_are_give_what_group_by_time_gives(influxdb, influx_db):
    """Hourly windows from the hourly roll-up and daily ones from the daily roll-up are read as its
    points (no GROUP BY time): every fn gives what InfluxQL's GROUP BY time over the roll-up gives,
    for a node heard through two gateways in the same hours (two series, combined), an hour with
    only a fault (no window), a channel sensor, and a node outside the asked ones."""
    from furrow.cloud.storage import Reading

    store = Influx1ReadingStore(influxdb.url, influx_db, rollups=Rollups(influx_db))
    try:
        await store.ensure_database()
        points = []
        for s in range(12):  # three hours, four reports an hour, gateway alternating
            ts = T0 + s * 15 * 60_000
            gw = "gw-1" if s % 2 else "gw-2"
            points += [Reading("demo", gw, "soil-01", "soil", "vwc_pct", "%", 10, None, 20.0 + s * 1.25, None, s, ts),
                       Reading("demo", "gw-1", "soil-02", "soil", "vwc_pct", "%", None, 3, 30.0 - s, None, s, ts),
                       Reading("demo", "gw-1", "soil-03", "soil", "vwc_pct", "%", 10, None, 99.0, None, s, ts)]
        points.append(Reading("demo", "gw-1", "soil-02", "soil", "vwc_pct", "%", 80, None, None, "open", 99,
                              T0 + 3 * HOUR))
        await store.write(points)  # 2026: late, rolled up by the write
        nodes = "\"node\" = 'soil-01' OR \"node\" = 'soil-02'"
        for policy, window in (("furrow_hourly", HOUR), ("furrow_daily", 24 * HOUR)):
            for fn in ("mean", "sum", "count", "min", "max"):
                plain = await store._rolled_points(policy, nodes, "vwc_pct", T0, T0 + 4 * HOUR, fn)
                grouped = await store._rolled_grouped(policy, nodes, "vwc_pct", T0, T0 + 4 * HOUR, window, fn)
                key = lambda b: (b.time_ms, b.node, b.depth_cm or -1, b.channel or -1)  # noqa: E731
                assert sorted(plain, key=key) == sorted(grouped, key=key), (policy, fn)
                assert {b.node for b in plain} == {"soil-01", "soil-02"} and len(plain) == (6 if window == HOUR else 2)
        hourly = await store._rolled_points("furrow_hourly", nodes, "vwc_pct", T0, T0 + 4 * HOUR, "mean")
        assert [(b.time_ms, b.value, b.count) for b in hourly if b.node == "soil-01"] == [
            (T0, 21.875, 4), (T0 + HOUR, 26.875, 4), (T0 + 2 * HOUR, 31.875, 4)]
    finally:
        await store.close()
