"""The gateway's ingest (paho's network thread, the committer thread) on a real Mosquitto: what it
holds, what it acknowledges and when, across stops, lost PUBACKs, floods and backlogs."""

from __future__ import annotations

import asyncio
import threading

import pytest

from furrow.edge.payload import encode_json
from tests.gateway_support import (
    WAIT,
    Peer,
    gateway_config,
    running_gateway,
    soil_uplink,
    up_topic,
    wait_until,
)
from tests.servers import MosquittoServer

pytestmark = pytest.mark.mosquitto

WINDOW = 20  # Mosquitto's default max_inflight_messages: the test broker's


def _pubacks(gw, events: list[str], monkeypatch) -> None:
    """Record the PUBACKs paho is handed (a group's go as one run of 4-byte packets)."""
    real = gw.source.client._packet_queue

    def queue(command, packet, *args):
        if command == 0x40:
            events.append(f"ack x{len(packet) // 4}")
        return real(command, packet, *args)

    monkeypatch.setattr(gw.source.client, "_packet_queue", queue)


async def test_messages_that_arrive_during_a_commit_are_stored_together_then_acked_in_order(config, node,
                                                                                           monkeypatch):
    """Two messages that arrive while the first commit waits for its disk are stored in one
    transaction after it (one fsync, not two), and acknowledged after it, in order."""
    events: list[str] = []
    held = threading.Event()
    async with running_gateway(config) as gw:
        real_put = gw.buffer.put_many

        def put_many(items, *args):
            seqs = [item.uplink["seq"] for item in items]
            events.append(f"put {seqs}")
            if seqs == [1]:
                assert held.wait(WAIT), "the test never released the first commit"
            return real_put(items, *args)

        monkeypatch.setattr(gw.buffer, "put_many", put_many)
        _pubacks(gw, events, monkeypatch)
        node.publish(up_topic(config, "soil-01"), encode_json(soil_uplink("soil-01", 1)))
        await wait_until(lambda: "put [1]" in events, "the first commit")
        for seq in (2, 3):
            node.publish(up_topic(config, "soil-01"), encode_json(soil_uplink("soil-01", seq)))
        await wait_until(lambda: gw.source.counts["messages"] == 3, "all three received")
        held.set()
        await wait_until(lambda: gw.stats()["received"] == 3, "all three stored")
        await wait_until(lambda: events.count("ack x2") == 1, "the second commit's PUBACKs")
    assert events == ["put [1]", "ack x1", "put [2, 3]", "ack x2"]


async def test_a_stop_during_a_commit_drains_what_was_received_and_acks_only_what_it_stored(config, node, cloud,
                                                                                           monkeypatch):
    """Stopped while its first commit waits and nine more messages are queued behind it,
    the gateway stores and acknowledges all ten before it goes: the restarted gateway gets none of
    them again (nothing stored and left unacknowledged), and every one reaches the cloud (nothing
    acknowledged and left unstored)."""
    held = threading.Event()
    async with running_gateway(config) as gw:
        real_put = gw.buffer.put_many
        entered = threading.Event()

        def put_many(items, *args):
            if items and items[0].uplink["seq"] == 0:
                entered.set()
                assert held.wait(WAIT), "the test never released the first commit"
            return real_put(items, *args)

        monkeypatch.setattr(gw.buffer, "put_many", put_many)
        node.publish(up_topic(config, "soil-01"), encode_json(soil_uplink("soil-01", 0)))
        await wait_until(entered.is_set, "the first commit")
        for seq in range(1, 10):
            node.publish(up_topic(config, "soil-01"), encode_json(soil_uplink("soil-01", seq)))
        await wait_until(lambda: gw.source.counts["messages"] == 10, "ten messages received")
        threading.Timer(0.3, held.set).start()  # released once the stop is under way
    async with running_gateway(config) as gw:
        node.publish(up_topic(config, "soil-01"), encode_json(soil_uplink("soil-01", 10)))
        await cloud.until({("soil-01", seq) for seq in range(11)})
        stats = gw.stats()
    # (The cloud may see one twice: a batch sent as the gateway stopped goes again, and the cloud
    # stores by (node, seq). The buffer's counts are the ingest's.)
    assert stats["farm"]["uplinks"] == 1 and stats["duplicates"] == 0, stats


async def test_a_group_left_unstored_by_a_stop_leaves_the_groups_behind_it_unacknowledged(config, node, cloud,
                                                                                         monkeypatch):
    """The disk refuses the first group until the gateway stops; the group queued behind it would
    commit, but storing it then would acknowledge it ahead of the first (PUBACKs go in the order
    received): neither is acknowledged, and the restarted gateway gets and stores both."""
    events: list[str] = []
    async with running_gateway(config) as gw:
        real_put = gw.buffer.put_many

        def put_many(items, *args):
            if any(item.uplink["seq"] == 1 for item in items):
                raise OSError("disk I/O error (injected)")
            return real_put(items, *args)

        monkeypatch.setattr(gw.buffer, "put_many", put_many)
        _pubacks(gw, events, monkeypatch)
        node.publish(up_topic(config, "soil-01"), encode_json(soil_uplink("soil-01", 1)))
        await wait_until(lambda: gw.stats()["farm"]["persist_failures"] >= 1, "the first commit refused")
        node.publish(up_topic(config, "soil-01"), encode_json(soil_uplink("soil-01", 2)))
        await wait_until(lambda: gw.source.counts["messages"] == 2, "the second message waiting")
    assert events == []
    async with running_gateway(config) as gw:
        await cloud.until({("soil-01", 1), ("soil-01", 2)})
        stats = gw.stats()
    assert stats["farm"]["uplinks"] == 2 and stats["duplicates"] == 0, stats


async def test_a_puback_lost_after_the_commit_brings_the_message_again_and_it_is_stored_once(config, node, cloud,
                                                                                            monkeypatch):
    """Committed, then gone before the PUBACK left (a crash's window): the broker sends the five
    messages again to the restarted gateway, which finds them stored and forwards none twice."""
    async with running_gateway(config) as gw:
        monkeypatch.setattr(gw.source._acks, "ack_all", lambda *args, **kwargs: 0)  # the PUBACKs never go
        for seq in range(5):
            node.publish(up_topic(config, "soil-01"), encode_json(soil_uplink("soil-01", seq)))
        await cloud.until({("soil-01", seq) for seq in range(5)})
    async with running_gateway(config) as gw:
        await wait_until(lambda: gw.source.counts["uplinks"] == 5, "the five sent again")
        node.publish(up_topic(config, "soil-01"), encode_json(soil_uplink("soil-01", 5)))
        await cloud.until({("soil-01", seq) for seq in range(6)})
        await wait_until(lambda: gw.stats()["pending"] == 0, "the buffer to drain")
        stats = gw.stats()
    assert stats["duplicates"] == 5 and stats["farm"]["uplinks"] == 6, stats
    assert sorted(cloud.keys()) == [("soil-01", seq) for seq in range(6)]


async def test_a_flood_while_the_disk_stalls_holds_no_more_than_the_broker_window(config, node, monkeypatch):
    """200 reports from 10 nodes while the first commit waits: the gateway holds only the broker's
    in-flight window of them (it acknowledges nothing it has not stored, so the broker sends no
    more); the rest wait at the broker, and once the disk answers all 200 are stored."""
    held = threading.Event()
    async with running_gateway(config) as gw:
        real_put = gw.buffer.put_many
        entered = threading.Event()

        def put_many(items, *args):
            entered.set()
            assert held.wait(WAIT), "the test never released the commit"
            return real_put(items, *args)

        monkeypatch.setattr(gw.buffer, "put_many", put_many)
        for seq in range(20):
            for n in range(10):
                node.publish(up_topic(config, f"soil-{n:02d}"), encode_json(soil_uplink(f"soil-{n:02d}", seq)))
        await wait_until(lambda: gw.source.counts["messages"] >= WINDOW, "the broker's window")
        held_messages = gw.source.counts["messages"]
        held.set()
        await wait_until(lambda: gw.stats()["received"] == 200, "all 200 stored")
    assert entered.is_set()
    assert held_messages == WINDOW


@pytest.fixture
def farm_broker():
    """A Mosquitto set up as docs/gateway.md says a farm's is (no limit on queued QoS 1 messages)."""
    server = MosquittoServer(extra_config=["max_queued_messages 0", "max_queued_bytes 256000000",
                                           f"max_inflight_messages {WINDOW}"])
    server.start()
    yield server
    server.stop()


async def test_an_offline_backlog_waits_in_the_broker_not_in_the_gateway_while_the_disk_stalls(
        tmp_path, farm_broker, mqtt_topic_prefix, monkeypatch):
    """600 reports queued while the gateway was away, on a broker set up as docs/gateway.md says,
    and the gateway's fifth commit stalls: once PUBACKs have flowed, Mosquitto sends a resumed
    session's backlog past its in-flight window, so the gateway stops reading once RECEIVED_MAX
    (50 here) wait undecoded. What it holds unacknowledged stays within the stalled commit and those
    50, and once the disk answers all 600 are stored."""
    from furrow.gateway import mqtt_source
    from furrow.gateway.app import Gateway

    config = gateway_config(tmp_path, farm_broker.host, farm_broker.port, mqtt_topic_prefix)
    async with running_gateway(config):
        pass  # the persistent session
    node = Peer(farm_broker.host, farm_broker.port)
    for seq in range(60):
        for n in range(10):
            node.publish(up_topic(config, f"soil-{n:02d}"), encode_json(soil_uplink(f"soil-{n:02d}", seq)))
    node.close()
    monkeypatch.setattr(mqtt_source, "GROUP_MAX", 20)
    monkeypatch.setattr(mqtt_source, "RECEIVED_MAX", 50)
    gw = Gateway(config)
    held, entered = threading.Event(), threading.Event()
    real_put = gw.buffer.put_many

    commits = []

    def put_many(items, *args):
        commits.append(len(items))
        if len(commits) == 5:
            entered.set()
            assert held.wait(WAIT), "the test never released the commit"
        return real_put(items, *args)

    monkeypatch.setattr(gw.buffer, "put_many", put_many)
    async with running_gateway(config, gateway=gw):
        await wait_until(entered.is_set, "the first commit")
        await asyncio.sleep(1.0)  # what more would come, were the network thread not held
        held_now = gw.source.counts["messages"] - sum(commits[:-1])  # received, not yet acknowledged
        waiting = gw.source._queue.qsize()
        held.set()
        await wait_until(lambda: gw.stats()["received"] == 600, "all 600 stored")
    assert held_now <= 20 + 50 + 1 and waiting <= 50 + 1, (held_now, waiting)
