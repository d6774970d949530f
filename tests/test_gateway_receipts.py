"""End-to-end receipts (issue 14 §2): the gateway keeps a batch until the cloud has stored it, so a
cloud broker killed with batches queued and the cloud down loses nothing, and the gateway's
pending count says so throughout. Real Mosquitto brokers, the real gateway and the real cloud."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from furrow.edge.payload import encode_json
from furrow.gateway.buffer import DurableBuffer
from tests.cloud_support import eventually, local_settings, running_app
from tests.gateway_support import Peer, gateway_config, running_gateway, soil_uplink, up_topic, wait_until
from tests.servers import MosquittoServer

pytestmark = pytest.mark.mosquitto

BACKLOG = 500  # readings queued at the cloud broker while the cloud is down


class CrashingMosquitto(MosquittoServer):
    """The cloud broker, with persistence on but saving only every hour: a crash loses its queue."""

    def __init__(self) -> None:
        super().__init__(extra_config=["persistence true", "autosave_interval 3600", "max_queued_messages 0"])
        self._base = list(self.extra_config)

    def _prepare(self) -> None:
        assert self.tmp_dir is not None
        self.extra_config = [*self._base, f"persistence_location {self.tmp_dir}/"]
        super()._prepare()

    def crash_and_restart(self) -> None:
        assert self._proc is not None
        os.kill(self._proc.pid, signal.SIGKILL)
        self._proc.wait(timeout=10)  # gone, and its port with it
        self.start()  # same port, same folder: it finds no saved queue


@pytest.fixture
def cloud_broker() -> Iterator[CrashingMosquitto]:
    broker = CrashingMosquitto()
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


async def _stored(client, n: int) -> bool:
    return (await client.get("/api/v1/stats")).json()["readings_stored"] == n


async def test_a_cloud_broker_killed_with_batches_queued_and_the_cloud_down_loses_nothing(
        tmp_path: Path, mosquitto, cloud_broker, mqtt_topic_prefix):
    """With the cloud down, 500 readings are forwarded to the cloud broker (which acknowledges them)
    and the broker is SIGKILLed before it saved them. The gateway still counts them pending; once
    the broker and the cloud are back they are sent again and every reading is stored once."""
    root = mqtt_topic_prefix
    settings = local_settings(tmp_path / "cloud", mqtt_enabled=True, mqtt_host=cloud_broker.host,
                              mqtt_port=cloud_broker.port, topic_root=root, mqtt_client_id="furrow-cloud-receipts",
                              mqtt_reconnect_max_s=0.5)
    config = gateway_config(tmp_path, mosquitto.host, mosquitto.port, root, receipt_wait=1, forward_batch_size=100,
                            cloud_broker={"host": cloud_broker.host, "port": cloud_broker.port, "keepalive": 2,
                                          "timeout": 2})
    node = Peer(mosquitto.host, mosquitto.port)

    def publish(seqs: range) -> None:
        for seq in seqs:
            node.publish(up_topic(config, "soil-01"), encode_json(soil_uplink("soil-01", seq)))

    try:
        async with running_gateway(config) as gw:
            async with running_app(settings) as client:  # the cloud answers: the gateway waits for receipts
                await wait_until(lambda: client.app.state.services.worker.connected, "the cloud worker to subscribe")
                publish(range(10))
                await eventually(lambda: _stored(client, 10), "the first 10 readings stored")
                await wait_until(lambda: gw.forwarder.receipts and gw.stats()["pending"] == 0, "their receipt")
            publish(range(10, 10 + BACKLOG))  # the cloud is down: queued at the cloud broker
            await wait_until(lambda: gw.forwarder.counts["items"] == 10 + BACKLOG, "the backlog sent to the broker")
            stats = gw.stats()  # the cloud broker acknowledged every batch, and the cloud stored none of them
            assert (stats["pending"], stats["in_flight"], stats["forwarded"]) == (BACKLOG, BACKLOG, 10)
            cloud_broker.crash_and_restart()
            assert gw.stats()["pending"] == BACKLOG
            await wait_until(lambda: gw.cloud.connected, "the gateway back on the restarted broker")
            assert gw.stats()["pending"] == BACKLOG
            async with running_app(settings) as client:
                await wait_until(lambda: gw.stats()["pending"] == 0, "the backlog stored", timeout=60)
                assert await _stored(client, 10 + BACKLOG)
                assert gw.stats()["forwarded"] == 10 + BACKLOG
    finally:
        node.close()


async def test_a_stopping_gateway_sends_what_it_holds_and_takes_its_receipts_before_it_goes(
        tmp_path: Path, mosquitto, mqtt_topic_prefix):
    """At a graceful stop the gateway sends the readings it still holds and the cloud's receipts for
    them come in before it disconnects: nothing is left waiting to go again after the restart."""
    root = mqtt_topic_prefix
    settings = local_settings(tmp_path / "cloud", mqtt_enabled=True, mqtt_host=mosquitto.host,
                              mqtt_port=mosquitto.port, topic_root=root, mqtt_reconnect_max_s=0.5)
    quick = gateway_config(tmp_path, mosquitto.host, mosquitto.port, root)
    cloud_broker = quick.cloud_broker.model_copy(update={"timeout": timedelta(seconds=8)})  # bounds the stop
    held = quick.model_copy(update={"forward_interval": timedelta(hours=1), "cloud_broker": cloud_broker})
    node = Peer(mosquitto.host, mosquitto.port)
    try:
        async with running_app(settings) as client:
            await wait_until(lambda: client.app.state.services.worker.connected, "the cloud worker to subscribe")
            async with running_gateway(quick) as gw:  # the gateway learns that this cloud sends receipts
                node.publish(up_topic(quick, "soil-01"), encode_json(soil_uplink("soil-01", 1)))
                await wait_until(lambda: gw.forwarder.receipts and gw.stats()["pending"] == 0, "the first receipt")
            async with running_gateway(held) as gw:
                for seq in range(2, 22):
                    node.publish(up_topic(held, "soil-01"), encode_json(soil_uplink("soil-01", seq)))
                await wait_until(lambda: gw.stats()["received"] == 21, "the readings in the buffer")
            with DurableBuffer(held.buffer_path) as buffer:
                assert (buffer.stats()["pending"], buffer.stats()["in_flight"]) == (0, 0)
            assert await _stored(client, 21)
    finally:
        node.close()


@pytest.mark.parametrize("receipts", ["auto", "required"])
async def test_a_fresh_gateway_that_requires_receipts_does_not_trust_its_first_pubacks(
        tmp_path: Path, mosquitto, cloud_broker, mqtt_topic_prefix, receipts):
    """A gateway that has never seen a receipt, the cloud down from the start: its first batches go to
    the cloud broker, which acknowledges them and is SIGKILLed before it saved them. With receipts
    `required` (what `furrow gateway add` writes) every reading is still pending and reaches the
    cloud once it is up; with `auto` the PUBACKs stood for storage and those readings are gone."""
    root = mqtt_topic_prefix
    settings = local_settings(tmp_path / "cloud", mqtt_enabled=True, mqtt_host=cloud_broker.host,
                              mqtt_port=cloud_broker.port, topic_root=root, mqtt_client_id="furrow-cloud-fresh",
                              mqtt_reconnect_max_s=0.5)
    config = gateway_config(tmp_path, mosquitto.host, mosquitto.port, root, receipt_wait=1, forward_batch_size=20,
                            receipts=receipts,
                            cloud_broker={"host": cloud_broker.host, "port": cloud_broker.port, "keepalive": 2,
                                          "timeout": 2})
    node = Peer(mosquitto.host, mosquitto.port)
    sent = 60
    try:
        async with running_gateway(config) as gw:
            for seq in range(sent):
                node.publish(up_topic(config, "soil-01"), encode_json(soil_uplink("soil-01", seq)))
            await wait_until(lambda: gw.forwarder.counts["items"] == sent, "the readings sent to the cloud broker")
            cloud_broker.crash_and_restart()  # it acknowledged them all and saved none
            await wait_until(lambda: gw.cloud.connected, "the gateway back on the restarted broker")
            if receipts == "auto":  # the hazard `required` closes: the PUBACKs let the readings go
                assert gw.stats()["pending"] == 0
                return
            assert gw.stats()["pending"] == sent
            async with running_app(settings) as client:
                await wait_until(lambda: gw.stats()["pending"] == 0, "the readings stored", timeout=60)
                assert await _stored(client, sent)
                assert gw.stats()["forwarded"] == sent
    finally:
        node.close()
