"""The cloud MQTT worker against a real Mosquitto: batches in, commands out, acks back."""

from __future__ import annotations

import asyncio
import json
import uuid
from contextlib import asynccontextmanager

import aiomqtt
import pytest

from furrow.edge.batch import decode_receipt, encode_batch
from furrow.edge.commands import decode_command, encode, make_ack
from furrow.edge.payload import make_reading, make_uplink
from furrow.edge.topics import gateway_filter, gateway_topic
from tests.cloud_support import (
    T0,
    WAIT,
    Door,
    batch_of,
    eventually,
    item,
    local_settings,
    running_app,
    soil_uplink,
)

pytestmark = pytest.mark.mosquitto


@asynccontextmanager
async def mqtt_app(tmp_path, host: str, port: int, root: str, **overrides):
    settings = local_settings(tmp_path, mqtt_enabled=True, mqtt_host=host, mqtt_port=port,
                              topic_root=root, mqtt_reconnect_max_s=0.5, **overrides)
    async with running_app(settings) as client:
        yield client


def worker_of(client):
    return client.app.state.services.worker


async def ready(client) -> None:
    await asyncio.wait_for(worker_of(client).ready.wait(), WAIT)


async def stored(client, n: int) -> bool:
    return (await client.get("/api/v1/stats")).json()["readings_stored"] == n


async def test_a_batch_published_on_the_gateway_batch_topic_is_stored(
    tmp_path, mosquitto, mqtt_topic_prefix
):
    """A batch a gateway publishes on <root>/v1/<site>/gw/<gw>/batch ends up in storage."""
    async with mqtt_app(tmp_path, mosquitto.host, mosquitto.port, mqtt_topic_prefix) as client:
        await ready(client)
        batch = batch_of([item(soil_uplink(seq=1)), item(soil_uplink(seq=2, ts_ms=T0 + 1))])
        async with aiomqtt.Client(mosquitto.host, mosquitto.port) as gw:
            topic = gateway_topic("demo", "gw-1", "batch", mqtt_topic_prefix)
            await gw.publish(topic, encode_batch(batch), qos=1)
            await gw.publish(topic, encode_batch(batch), qos=1)  # a retry: stored once
        await eventually(lambda: stored(client, 4), "4 readings stored")
        await eventually(lambda: _stat(client, "batches", 2), "both deliveries handled")
        assert await stored(client, 4)
        nodes = (await client.get("/api/v1/nodes")).json()
        assert [(n["node"], n["gateway"]) for n in nodes] == [("soil-01", "gw-1")]


async def _stat(client, key: str, n: int) -> bool:
    return worker_of(client).stats[key] >= n


async def test_a_batch_claiming_another_gateway_than_its_topic_is_not_stored(
    tmp_path, mosquitto, mqtt_topic_prefix
):
    """A batch on gw-2's topic whose envelope says gw-1 is rejected and counted, not stored."""
    async with mqtt_app(tmp_path, mosquitto.host, mosquitto.port, mqtt_topic_prefix) as client:
        await ready(client)
        async with aiomqtt.Client(mosquitto.host, mosquitto.port) as gw:
            bad_topic = gateway_topic("demo", "gw-2", "batch", mqtt_topic_prefix)
            await gw.publish(bad_topic, encode_batch(batch_of([item(soil_uplink())])), qos=1)
            await gw.publish(bad_topic, b"not json", qos=1)
        await eventually(lambda: _stat(client, "batch_rejected", 2), "two batches rejected")
        assert await stored(client, 0)


async def test_each_batch_gets_a_receipt_once_stored_and_a_refused_one_says_why(
    tmp_path, mosquitto, mqtt_topic_prefix
):
    """The cloud answers a stored batch with a "stored" receipt on the gateway's receipt topic, after its
    readings are queryable, and a batch claiming another gateway with a "refused" one naming the field."""
    async with mqtt_app(tmp_path, mosquitto.host, mosquitto.port, mqtt_topic_prefix) as client:
        await ready(client)
        async with aiomqtt.Client(mosquitto.host, mosquitto.port) as gw:
            await gw.subscribe(gateway_filter("demo", "receipt", mqtt_topic_prefix), qos=1)
            good = batch_of([item(soil_uplink(seq=1))], batch_id="gw-1-a")
            await gw.publish(gateway_topic("demo", "gw-1", "batch", mqtt_topic_prefix), encode_batch(good), qos=1)
            bad = batch_of([item(soil_uplink(seq=2))], batch_id="gw-1-b")
            await gw.publish(gateway_topic("demo", "gw-2", "batch", mqtt_topic_prefix), encode_batch(bad), qos=1)
            receipts = []
            async with asyncio.timeout(WAIT):
                async for message in gw.messages:
                    receipts.append((str(message.topic).rsplit("/", 2)[1], decode_receipt(bytes(message.payload))))
                    if len(receipts) == 2:
                        break
        # several batches are handled at once (ingest_in_flight): receipts come as each is done
        (gw1, stored_receipt), (gw2, refused_receipt) = sorted(receipts, key=lambda r: r[0])
        assert (gw1, stored_receipt["batch_id"], stored_receipt["status"], stored_receipt["items"]) == (
            "gw-1", "gw-1-a", "stored", 1)
        assert await stored(client, 2)  # what the receipt says is already there
        assert (gw2, refused_receipt["batch_id"], refused_receipt["status"]) == ("gw-2", "gw-1-b", "refused")
        assert "gateway" in refused_receipt["reason"]


async def test_shared_subscription_group_still_receives_batches(
    tmp_path, mosquitto, mqtt_topic_prefix
):
    """With ingest_shared_group set the worker subscribes as $share/<group>/... and still ingests."""
    async with mqtt_app(tmp_path, mosquitto.host, mosquitto.port, mqtt_topic_prefix,
                        ingest_shared_group="ingest") as client:
        await ready(client)
        assert all(f.startswith("$share/ingest/") for f in worker_of(client).filters())
        async with aiomqtt.Client(mosquitto.host, mosquitto.port) as gw:
            topic = gateway_topic("demo", "gw-1", "batch", mqtt_topic_prefix)
            await gw.publish(topic, encode_batch(batch_of([item(soil_uplink())])), qos=1)
        await eventually(lambda: stored(client, 2), "2 readings stored")


def irrigation_batch() -> dict:
    up = make_uplink("irr-01", "irrigation", 1, T0, [make_reading("valve_open", 0, channel=1)],
                     "0.1.0")
    return batch_of([item(up)])


async def _next_message(sub: aiomqtt.Client) -> aiomqtt.Message:
    return await asyncio.wait_for(anext(aiter(sub.messages)), WAIT)


async def test_command_goes_out_on_the_gateway_cmd_topic_and_acks_come_back(
    tmp_path, mosquitto, mqtt_topic_prefix
):
    """An API command is published on the gateway's cmd topic; acks on its ack topic complete it."""
    root = mqtt_topic_prefix
    async with mqtt_app(tmp_path, mosquitto.host, mosquitto.port, root) as client:
        await ready(client)
        await client.post("/api/v1/ingest/batch", json=irrigation_batch())
        async with aiomqtt.Client(mosquitto.host, mosquitto.port) as gw:
            await gw.subscribe(gateway_topic("demo", "gw-1", "cmd", root), qos=1)
            r = await client.post("/api/v1/commands",
                                  json={"node": "irr-01", "valve": 1, "duration_s": 600})
            assert r.status_code == 201
            cmd = r.json()
            assert cmd["state"] == "sent"
            assert [e["state"] for e in cmd["events"]] == ["created", "sent"]

            message = await _next_message(gw)
            assert message.qos == 1
            wire = decode_command(message.payload)
            assert wire["id"] == cmd["id"]
            assert (wire["valve"], wire["duration_s"], wire["expires_ms"]) == (
                1, 600, cmd["expires_ms"])

            ack_topic = gateway_topic("demo", "gw-1", "ack", root)
            for state, extra in [("received", {}), ("started", {}),
                                 ("completed", {"runtime_s": 600, "volume_l": 410.0})]:
                ack = make_ack(cmd["id"], "irr-01", state, T0, **extra)
                await gw.publish(ack_topic, encode(ack), qos=1)

        async def completed() -> bool:
            got = (await client.get(f"/api/v1/commands/{cmd['id']}")).json()
            return got["state"] == "completed"

        await eventually(completed, "command completed")
        got = (await client.get(f"/api/v1/commands/{cmd['id']}")).json()
        assert got["volume_l"] == 410.0
        assert [e["state"] for e in got["events"]] == [
            "created", "sent", "received", "started", "completed"]


async def test_an_ack_on_another_gateways_topic_changes_nothing(tmp_path, mosquitto, mqtt_topic_prefix):
    """An ack published on gw-2's ack topic for a command routed through gw-1 is ignored;
    the command follows only its own gateway's acks."""
    root = mqtt_topic_prefix
    async with mqtt_app(tmp_path, mosquitto.host, mosquitto.port, root) as client:
        await ready(client)
        await client.post("/api/v1/ingest/batch", json=irrigation_batch())
        r = await client.post("/api/v1/commands", json={"node": "irr-01", "valve": 1, "duration_s": 600})
        cmd = r.json()
        async with aiomqtt.Client(mosquitto.host, mosquitto.port) as peer:
            forged = make_ack(cmd["id"], "irr-01", "completed", T0, runtime_s=600)
            await peer.publish(gateway_topic("demo", "gw-2", "ack", root), encode(forged), qos=1)
            real = make_ack(cmd["id"], "irr-01", "received", T0)
            await peer.publish(gateway_topic("demo", "gw-1", "ack", root), encode(real), qos=1)

        async def received() -> bool:
            return (await client.get(f"/api/v1/commands/{cmd['id']}")).json()["state"] == "received"

        await eventually(received, "the real gateway's ack")
        got = (await client.get(f"/api/v1/commands/{cmd['id']}")).json()
    assert [e["state"] for e in got["events"]] == ["created", "sent", "received"]


async def test_a_command_created_while_the_broker_is_down_is_sent_on_connect(
    tmp_path, mosquitto, mqtt_topic_prefix
):
    """With no broker the command stays "created"; once the broker is reachable it is sent."""
    root = mqtt_topic_prefix
    async with Door(mosquitto.host, mosquitto.port) as door:
        async with mqtt_app(tmp_path, door.host, door.port, root) as client:
            await eventually(lambda: _stat(client, "connection_errors", 1),
                             "the worker tried the closed broker")
            await client.post("/api/v1/ingest/batch", json=irrigation_batch())
            r = await client.post("/api/v1/commands",
                                  json={"node": "irr-01", "valve": 2, "duration_s": 60})
            cmd = r.json()
            assert (r.status_code, cmd["state"]) == (201, "created")
            assert (await client.get("/api/v1/health")).json()["mqtt"] == "disconnected"

            async with aiomqtt.Client(mosquitto.host, mosquitto.port) as gw:
                await gw.subscribe(gateway_topic("demo", "gw-1", "cmd", root), qos=1)
                await door.open()
                message = await _next_message(gw)
            assert json.loads(message.payload)["id"] == cmd["id"]

            async def sent() -> bool:
                got = (await client.get(f"/api/v1/commands/{cmd['id']}")).json()
                return got["state"] == "sent"

            await eventually(sent, "command marked sent")


async def test_a_batch_refused_for_good_is_acknowledged_and_never_redelivered(
    tmp_path, mosquitto, mqtt_topic_prefix
):
    """A batch that breaks the contract is acked once refused: the next session with the same
    client id (persistent) gets nothing back."""
    client_id = f"furrow-cloud-{uuid.uuid4().hex[:12]}"
    async with mqtt_app(tmp_path / "first", mosquitto.host, mosquitto.port, mqtt_topic_prefix,
                        mqtt_client_id=client_id) as client:
        await ready(client)
        async with aiomqtt.Client(mosquitto.host, mosquitto.port) as gw:
            topic = gateway_topic("demo", "gw-1", "batch", mqtt_topic_prefix)
            await gw.publish(topic, b"not json", qos=1)
        await eventually(lambda: _stat(client, "batch_rejected", 1), "the bad batch refused")
        await eventually(lambda: _stat(client, "mqtt_acks", 1), "the refused batch acked")
    async with mqtt_app(tmp_path / "second", mosquitto.host, mosquitto.port, mqtt_topic_prefix,
                        mqtt_client_id=client_id) as client:
        await ready(client)
        await asyncio.sleep(0.5)
        assert worker_of(client).stats["batch_rejected"] == 0
