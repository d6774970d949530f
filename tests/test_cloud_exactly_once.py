"""Two ingest workers on one MQTT 5 shared subscription, real Mosquitto, InfluxDB and PostgreSQL:
every reading is stored once, however often and through whichever worker a batch arrives;
compressed batches are inflated, and a zip bomb is refused."""

from __future__ import annotations

import asyncio
import json
import zlib
from collections import Counter
from contextlib import AsyncExitStack

import aiomqtt
import pytest

from furrow.cloud.ingest import MAX_BATCH_BYTES
from furrow.edge.batch import encode_batch
from furrow.edge.topics import gateway_topic
from tests.cloud_support import T0, WAIT, batch_of, eventually, item, local_settings, problem, running_app, soil_uplink

pytestmark = [pytest.mark.mosquitto, pytest.mark.influxdb, pytest.mark.postgres]

DELIVERIES = 6  # the same batch, published this many times (some of them compressed)


def _points(influxdb, db: str) -> Counter:
    """How many points InfluxDB holds per (node, seq, measurement, depth_cm)."""
    found: Counter = Counter()
    for measurement in ("vwc_pct", "soil_temp_c"):
        body = influxdb.query(db, f'SELECT "seq", "depth_cm", "node" FROM "{measurement}"')
        for series in body["results"][0].get("series", []):
            cols = series["columns"]
            for values in series["values"]:
                row = dict(zip(cols, values, strict=True))
                found[(row["node"], row["seq"], measurement, row["depth_cm"])] += 1
    return found


async def test_the_same_batch_through_two_workers_is_stored_once_in_influxdb(
    tmp_path, mosquitto, influxdb, influx_db, pg_database, mqtt_topic_prefix
):
    """Two cloud instances share one $share group and one PostgreSQL; the same batch published
    six times (plain and zlib) reaches both workers, and InfluxDB holds each reading exactly once;
    a zip bomb on the same topic is refused and counted."""
    async with AsyncExitStack() as stack:
        clients = []
        for i in range(2):
            settings = local_settings(
                tmp_path / f"cloud-{i}", storage="influxdb1", influx_url=influxdb.url, influx_database=influx_db,
                database_url=pg_database, mqtt_enabled=True, mqtt_host=mosquitto.host, mqtt_port=mosquitto.port,
                topic_root=mqtt_topic_prefix, ingest_shared_group="ingest", mqtt_reconnect_max_s=0.5)
            clients.append(await stack.enter_async_context(running_app(settings)))
        workers = [c.app.state.services.worker for c in clients]
        for w in workers:
            await asyncio.wait_for(w.ready.wait(), WAIT)

        uplinks = [soil_uplink("soil-01", seq=s, ts_ms=T0 + s * 1000) for s in range(1, 21)]
        uplinks += [soil_uplink("soil-02", seq=s, ts_ms=T0 + s * 1000, temp_fault=True) for s in range(1, 11)]
        raw = encode_batch(batch_of([item(u) for u in uplinks]))
        async with aiomqtt.Client(mosquitto.host, mosquitto.port) as gw:
            topic = gateway_topic("demo", "gw-1", "batch", mqtt_topic_prefix)
            for n in range(DELIVERIES):
                await gw.publish(topic, zlib.compress(raw) if n % 2 else raw, qos=1)
            await gw.publish(topic, zlib.compress(b"{" + b" " * (MAX_BATCH_BYTES + 1) + b"}", 9), qos=1)

        async def all_handled() -> bool:
            return sum(w.stats["batches"] for w in workers) >= DELIVERIES

        await eventually(all_handled, f"{DELIVERIES} deliveries handled by the two workers")
        assert all(w.stats["batches"] >= 1 for w in workers), [dict(w.stats) for w in workers]

        async def bomb_refused() -> bool:
            return sum(w.stats["batch_rejected"] for w in workers) == 1

        await eventually(bomb_refused, "the zip bomb to be refused")
        assert sum(w.stats["batch_failed"] for w in workers) == 0

        points = _points(influxdb, influx_db)
        expected = {("soil-01", s, m, "10") for s in range(1, 21) for m in ("vwc_pct", "soil_temp_c")}
        expected |= {("soil-02", s, m, "10") for s in range(1, 11) for m in ("vwc_pct", "soil_temp_c")}
        assert set(points) == expected
        assert set(points.values()) == {1}
        for c in clients:
            assert (await c.get("/api/v1/stats")).json()["readings_stored"] == len(expected)
        nodes = (await clients[0].get("/api/v1/nodes")).json()
        assert [(n["node"], n["seq"]) for n in nodes] == [("soil-01", 20), ("soil-02", 10)]


async def test_http_ingest_inflates_a_zlib_batch_and_refuses_a_zip_bomb(tmp_path):
    """POST /ingest/batch takes a zlib body like JSON; one inflating past the limit is a 413 naming it."""
    async with running_app(local_settings(tmp_path)) as client:
        raw = encode_batch(batch_of([item(soil_uplink(seq=1)), item(soil_uplink(seq=2, ts_ms=T0 + 1))]))
        r = await client.post("/api/v1/ingest/batch", content=zlib.compress(raw))
        assert r.status_code == 200, r.text
        assert (r.json()["accepted"], r.json()["stored"]) == (2, 4)

        bomb = zlib.compress(b"{" + b" " * (MAX_BATCH_BYTES + 10) + b"}", 9)
        assert len(bomb) < 100_000
        r = await client.post("/api/v1/ingest/batch", content=bomb)
        assert r.status_code == 413
        assert problem(r)["field"] == "payload"
        assert "inflates past" in problem(r)["reason"]

        r = await client.post("/api/v1/ingest/batch", content=b"\x78\x9c not zlib at all")
        assert r.status_code == 422
        assert "zlib" in json.dumps(r.json()["detail"])
        assert (await client.get("/api/v1/stats")).json()["readings_stored"] == 4
