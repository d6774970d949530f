"""The cloud MQTT worker handles several batches at once but acknowledges them in arrival order.

A real Mosquitto; the worker's handlers are the test's own, so a batch's storing can be held."""

from __future__ import annotations

import asyncio

import aiomqtt
import pytest

from furrow.cloud.mqtt_worker import MqttWorker
from furrow.edge.topics import gateway_topic
from tests.cloud_support import eventually

pytestmark = pytest.mark.mosquitto


async def test_a_later_batch_is_handled_meanwhile_but_acknowledged_only_after_the_earlier_one(
        mosquitto, mqtt_topic_prefix):
    """Batch 2 is stored while batch 1 is held, yet no PUBACK goes out before batch 1's; a command ack waits."""
    release = asyncio.Event()
    handled: list[str] = []

    async def on_batch(site: str, gateway: str, payload: bytes) -> None:
        if payload == b"first":
            await release.wait()
        handled.append(payload.decode())

    async def on_ack(site: str, gateway: str, payload: bytes) -> None:
        handled.append("ack")

    worker = MqttWorker(host=mosquitto.host, port=mosquitto.port, root=mqtt_topic_prefix, on_batch=on_batch,
                        on_ack=on_ack, in_flight=4)
    worker.start()
    try:
        await asyncio.wait_for(worker.ready.wait(), 10)
        async with aiomqtt.Client(mosquitto.host, mosquitto.port) as pub:
            for body in (b"first", b"second"):
                await pub.publish(gateway_topic("farm", "gw-1", "batch", mqtt_topic_prefix), body, qos=1)
            await pub.publish(gateway_topic("farm", "gw-1", "ack", mqtt_topic_prefix), b"{}", qos=1)
        await eventually(lambda: _true(handled == ["second"]), "the second batch handled while the first is held")
        await asyncio.sleep(0.3)
        assert handled == ["second"]  # the command ack waits for the batches before it
        assert worker.stats["mqtt_acks"] == 0  # and nothing is acknowledged ahead of the first batch
        release.set()
        await eventually(lambda: _true(worker.stats["mqtt_acks"] == 3), "all three acknowledged")
        assert handled == ["second", "first", "ack"]
    finally:
        await worker.stop()


async def _true(value: bool) -> bool:
    return value
