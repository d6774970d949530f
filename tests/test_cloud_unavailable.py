"""Storage outages: nothing is marked stored, the HTTP path says 503, the MQTT path waits."""

from __future__ import annotations

import asyncio
import uuid
from urllib.parse import urlsplit

import aiomqtt
import pytest

from furrow.edge.batch import encode_batch
from furrow.edge.topics import gateway_topic
from tests.cloud_support import (
    WAIT,
    Door,
    batch_of,
    eventually,
    item,
    local_settings,
    problem,
    running_app,
    soil_uplink,
)

pytestmark = pytest.mark.influxdb


def influx_behind(door: Door, database: str) -> dict:
    return {
        "storage": "influxdb1",
        "influx_url": f"http://{door.host}:{door.port}",
        "influx_database": database,
        "influx_write_retries": 1,
        "influx_retry_backoff_s": 0.01,
    }


def _door_to(influxdb) -> Door:
    parts = urlsplit(influxdb.url)
    return Door(parts.hostname, parts.port)


async def test_http_ingest_answers_503_with_retry_after_while_influxdb_is_down(
    tmp_path, influxdb, influx_db
):
    """While InfluxDB is down ingest answers 503 + Retry-After and records nothing; a retry after is stored."""
    batch = batch_of([item(soil_uplink(seq=1))])
    async with _door_to(influxdb) as door:
        settings = local_settings(tmp_path, **influx_behind(door, influx_db))
        async with running_app(settings) as client:
            r = await client.post("/api/v1/ingest/batch", json=batch)
            assert r.status_code == 503
            assert int(r.headers["Retry-After"]) > 0
            assert "nothing was stored" in problem(r)["reason"]
            assert (await client.get("/api/v1/nodes")).json() == []

            await door.open()
            r = await client.post("/api/v1/ingest/batch", json=batch)
            assert r.status_code == 200 and r.json()["accepted"] == 1
            assert (await client.get("/api/v1/stats")).json()["readings_stored"] == 2


@pytest.mark.mosquitto
async def test_mqtt_worker_holds_a_batch_through_an_outage_and_stores_it_after(
    tmp_path, influxdb, influx_db, mosquitto, mqtt_topic_prefix
):
    """A batch arriving while InfluxDB is down is held and retried, then stored once it is back."""
    async with _door_to(influxdb) as door:
        settings = local_settings(
            tmp_path, mqtt_enabled=True, mqtt_host=mosquitto.host, mqtt_port=mosquitto.port,
            topic_root=mqtt_topic_prefix, **influx_behind(door, influx_db),
        )
        async with running_app(settings) as client:
            worker = client.app.state.services.worker
            await asyncio.wait_for(worker.ready.wait(), WAIT)
            async with aiomqtt.Client(mosquitto.host, mosquitto.port) as gw:
                topic = gateway_topic("demo", "gw-1", "batch", mqtt_topic_prefix)
                await gw.publish(topic, encode_batch(batch_of([item(soil_uplink())])), qos=1)

            async def waiting() -> bool:
                return worker.stats["storage_waits"] >= 1

            await eventually(waiting, "the worker met the outage")
            assert worker.stats["batches"] == 0
            await door.open()

            async def stored() -> bool:
                return worker.stats["batches"] == 1

            await eventually(stored, "the held batch stored")
            assert (await client.get("/api/v1/stats")).json()["readings_stored"] == 2


@pytest.mark.mosquitto
async def test_a_batch_held_through_an_outage_survives_the_worker_dying_and_is_stored_once(
    tmp_path, influxdb, influx_db, mosquitto, mqtt_topic_prefix
):
    """A batch held while InfluxDB is down is never acked, so after the worker dies the broker
    redelivers it to the next worker with the same client id, which stores and acks it once."""
    client_id = f"furrow-cloud-{uuid.uuid4().hex[:12]}"
    batch = encode_batch(batch_of([item(soil_uplink())]))

    def settings(door: Door, name: str):
        return local_settings(
            tmp_path / name, mqtt_enabled=True, mqtt_host=mosquitto.host, mqtt_port=mosquitto.port,
            topic_root=mqtt_topic_prefix, mqtt_client_id=client_id, **influx_behind(door, influx_db),
        )

    async with _door_to(influxdb) as door:
        async with running_app(settings(door, "first")) as client:
            worker = client.app.state.services.worker
            await asyncio.wait_for(worker.ready.wait(), WAIT)
            async with aiomqtt.Client(mosquitto.host, mosquitto.port) as gw:
                topic = gateway_topic("demo", "gw-1", "batch", mqtt_topic_prefix)
                await gw.publish(topic, batch, qos=1)

            async def waiting() -> bool:
                return worker.stats["storage_waits"] >= 1

            await eventually(waiting, "the first worker met the outage")
            assert (worker.stats["batches"], worker.stats["mqtt_acks"]) == (0, 0)
            # Leaving the app stops the worker while it holds the batch: no PUBACK goes out.

        await door.open()
        async with running_app(settings(door, "second")) as client:
            worker = client.app.state.services.worker

            async def stored() -> bool:
                return worker.stats["batches"] == 1

            await eventually(stored, "the redelivered batch stored by the second worker")
            await asyncio.sleep(0.3)  # room for a second delivery, which must not come
            assert (worker.stats["batches"], worker.stats["mqtt_acks"]) == (1, 1)
            assert (await client.get("/api/v1/stats")).json()["readings_stored"] == 2

        # The second worker's PUBACK reached the broker: a third session gets nothing.
        async with running_app(settings(door, "third")) as client:
            worker = client.app.state.services.worker
            await asyncio.wait_for(worker.ready.wait(), WAIT)
            await asyncio.sleep(0.5)
            assert worker.stats["batches"] == 0
