"""End-to-end receipts (issue 14 §2): the gateway keeps a batch until the cloud has stored it, so a
cloud broker killed with batches queued and the cloud down loses nothing, and the gateway's
pending count says so throughout. Real Mosquitto brokers, the real gateway and the real cloud."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from furrow.clock import system_clock
from furrow.edge.batch import RECEIPT_STORED, encode_receipt, make_receipt
from furrow.edge.payload import encode_json
from furrow.edge.topics import GW_BATCH, GW_RECEIPT
from furrow.gateway import forwarder
from furrow.gateway.buffer import DurableBuffer
from tests.cloud_support import eventually, local_settings, running_app
from tests.gateway_support import (
    Peer,
    decode_batch,
    gateway_config,
    gw_topic,
    running_gateway,
    soil_uplink,
    up_topic,
    wait_until,
)
from tests.servers import MosquittoServer, free_port

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


@contextlib.asynccontextmanager
async def _a_cloud_known_to_send_receipts(tmp_path: Path, mosquitto, root: str):
    """The real cloud on the test broker, a gateway config for it whose buffer has seen one receipt (so
    its next runs wait for receipts), and a node: (cloud client, config, node)."""
    settings = local_settings(tmp_path / "cloud", mqtt_enabled=True, mqtt_host=mosquitto.host,
                              mqtt_port=mosquitto.port, topic_root=root, mqtt_reconnect_max_s=0.5)
    quick = gateway_config(tmp_path, mosquitto.host, mosquitto.port, root)
    node = Peer(mosquitto.host, mosquitto.port)
    try:
        async with running_app(settings) as client:
            await wait_until(lambda: client.app.state.services.worker.connected, "the cloud worker to subscribe")
            async with running_gateway(quick) as gw:
                node.publish(up_topic(quick, "soil-01"), encode_json(soil_uplink("soil-01", 1)))
                await wait_until(lambda: gw.forwarder.receipts and gw.stats()["pending"] == 0, "the first receipt")
            yield client, quick, node
    finally:
        node.close()


async def test_a_stopping_gateway_sends_what_it_holds_and_takes_its_receipts_before_it_goes(
        tmp_path: Path, mosquitto, mqtt_topic_prefix):
    """At a graceful stop the gateway sends the readings it still holds and the cloud's receipts for
    them come in before it disconnects: nothing is left waiting to go again after the restart."""
    async with _a_cloud_known_to_send_receipts(tmp_path, mosquitto, mqtt_topic_prefix) as (client, quick, node):
        cloud_broker = quick.cloud_broker.model_copy(update={"timeout": timedelta(seconds=8)})  # bounds the stop
        held = quick.model_copy(update={"forward_interval": timedelta(hours=1), "cloud_broker": cloud_broker})
        async with running_gateway(held) as gw:
            for seq in range(2, 22):
                node.publish(up_topic(held, "soil-01"), encode_json(soil_uplink("soil-01", seq)))
            await wait_until(lambda: gw.stats()["received"] == 21, "the readings in the buffer")
        with DurableBuffer(held.buffer_path) as buffer:
            assert (buffer.stats()["pending"], buffer.stats()["in_flight"]) == (0, 0)
        assert await _stored(client, 21)


async def test_a_stopping_gateway_sends_again_a_batch_whose_receipt_was_lost(
        tmp_path: Path, mosquitto, mqtt_topic_prefix):
    """A batch the cloud stored but whose receipt never came back (the gateway was killed, or the
    broker restarted, after the cloud answered) waits in flight. A gateway stopped gracefully soon
    after its start asks for a receipt, sends that batch again once a later one is answered, and
    takes its receipt before it goes, instead of waiting out the stop's timeout: nothing is left
    waiting after the stop, and the cloud stores each reading once."""
    async with _a_cloud_known_to_send_receipts(tmp_path, mosquitto, mqtt_topic_prefix) as (client, quick, node):
        cut_off = quick.cloud_broker.model_copy(update={"port": free_port()})  # nobody listens: nothing goes
        offline = quick.model_copy(update={"cloud_broker": cut_off})
        cloud_broker = quick.cloud_broker.model_copy(update={"timeout": timedelta(seconds=8)})  # bounds the stop
        held = quick.model_copy(update={"forward_interval": timedelta(hours=1), "cloud_broker": cloud_broker,
                                        "receipt_wait": timedelta(seconds=1)})
        async with running_gateway(offline, ready=False) as gw:
            for seq in range(2, 22):
                node.publish(up_topic(offline, "soil-01"), encode_json(soil_uplink("soil-01", seq)))
            await wait_until(lambda: gw.stats()["received"] == 21, "the readings in the buffer")
        with DurableBuffer(held.buffer_path) as buffer:  # sent just now; its receipt is lost
            rows = buffer.next_batch_json(100)
            buffer.sent("gw-lost-batch", [rowid for rowid, _ in rows], [], system_clock())
            assert (len(rows), buffer.stats()["pending"], buffer.stats()["in_flight"]) == (20, 20, 20)
        async with running_gateway(held):
            pass  # stopped as soon as it is up
        with DurableBuffer(held.buffer_path) as buffer:
            assert (buffer.stats()["pending"], buffer.stats()["in_flight"]) == (0, 0)
        assert await _stored(client, 21)


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


async def test_receipts_that_come_together_are_stored_in_one_commit_without_waiting_the_linger_out(
        tmp_path: Path, mosquitto, mqtt_topic_prefix, monkeypatch):
    """Receipts over MQTT are stored in groups: the receipts of the batches that carried 40 readings
    (four, unless a slow machine made the gateway send part batches) come together and leave the
    buffer in one transaction, as soon as the group is full (the linger is 30 s here, the wait far
    shorter)."""
    monkeypatch.setattr(forwarder, "RECEIPT_LINGER_S", 30.0)
    config = gateway_config(tmp_path, mosquitto.host, mosquitto.port, mqtt_topic_prefix, forward_batch_size=10,
                            forward_interval=2, receipts="required")
    node, cloud = Peer(mosquitto.host, mosquitto.port), Peer(mosquitto.host, mosquitto.port)
    try:
        cloud.subscribe(gw_topic(config, GW_BATCH))
        async with running_gateway(config) as gw:
            for seq in range(40):
                node.publish(up_topic(config, "soil-01"), encode_json(soil_uplink("soil-01", seq)))
            batches = []
            while sum(len(b["items"]) for b in batches) < 40:
                batches += [b for b in [decode_batch((await cloud.get()).payload)] if b["items"]]
            monkeypatch.setattr(forwarder, "RECEIPT_GROUP", len(batches))  # a group is these receipts
            for b in batches:  # the stand-in cloud answers all four at once
                cloud.publish(gw_topic(config, GW_RECEIPT),
                              encode_receipt(make_receipt(b["batch_id"], RECEIPT_STORED, len(b["items"]))))
            await wait_until(lambda: gw.stats()["pending"] == 0, "the receipts stored", timeout=20)
            assert (gw.forwarder.counts["receipts"], gw.forwarder.counts["receipt_commits"]) == (len(batches), 1)
            assert gw.stats()["forwarded"] == 40
    finally:
        node.close()
        cloud.close()


async def test_a_gateway_dead_between_its_receipts_and_their_commit_sends_again_and_loses_nothing(
        tmp_path: Path, mosquitto, mqtt_topic_prefix, monkeypatch):
    """The cloud stored four batches and sent their receipts; the gateway had them queued for their
    group's commit when it died (the linger held at 30 s, the file copied as a crash leaves it: every
    commit, nothing after). The copy still holds the 40 readings as in flight; a gateway started on it
    sends them again, the cloud stores each once, and they leave."""
    monkeypatch.setattr(forwarder, "RECEIPT_LINGER_S", 30.0)
    root = mqtt_topic_prefix
    settings = local_settings(tmp_path / "cloud", mqtt_enabled=True, mqtt_host=mosquitto.host,
                              mqtt_port=mosquitto.port, topic_root=root, mqtt_reconnect_max_s=0.5)
    config = gateway_config(tmp_path, mosquitto.host, mosquitto.port, root, forward_batch_size=10, receipt_wait=1,
                            receipts="required")
    crashed = config.model_copy(update={"buffer_path": tmp_path / "crashed.sqlite"})
    node = Peer(mosquitto.host, mosquitto.port)
    try:
        async with running_app(settings) as client:
            await wait_until(lambda: client.app.state.services.worker.connected, "the cloud worker to subscribe")
            async with running_gateway(config) as gw:
                for seq in range(40):
                    node.publish(up_topic(config, "soil-01"), encode_json(soil_uplink("soil-01", seq)))
                await eventually(lambda: _stored(client, 40), "the 40 readings stored by the cloud")
                await wait_until(lambda: gw.forwarder.counts["receipts"] >= 4, "their receipts at the gateway")
                assert gw.stats()["pending"] == 40  # queued for the group's commit, not yet committed
                with contextlib.closing(sqlite3.connect(config.buffer_path)) as src, \
                        contextlib.closing(sqlite3.connect(crashed.buffer_path)) as dst:
                    src.backup(dst)
            with DurableBuffer(crashed.buffer_path) as buffer:
                assert (buffer.stats()["pending"], buffer.stats()["in_flight"]) == (40, 40)
            monkeypatch.setattr(forwarder, "RECEIPT_LINGER_S", 0.2)
            async with running_gateway(crashed) as gw:
                await wait_until(lambda: gw.stats()["pending"] == 0, "the readings sent again and stored",
                                 timeout=60)
                # sent again (maybe twice), left once
                assert gw.forwarder.counts["items"] >= 40 and gw.stats()["forwarded"] == 40
            assert await _stored(client, 40)
    finally:
        node.close()
