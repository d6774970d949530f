"""The gateway's MQTT path against a real Mosquitto: nodes -> buffer -> cloud batches."""

from __future__ import annotations

import json
import time

import paho.mqtt.client as mqtt
import pytest

from furrow.edge.payload import encode_binary, encode_json
from furrow.gateway.mqtt_source import GROUP_BYTES, GROUP_MAX, MqttSource
from tests.gateway_support import (
    running_gateway,
    soil_uplink,
    up_topic,
    wait_until,
)
from tests.servers import free_port

pytestmark = pytest.mark.mosquitto


async def test_json_and_binary_uplinks_reach_the_cloud_exactly_once(config, node, cloud):
    """JSON and binary uplinks from nodes arrive in cloud batches, each (node, seq) once."""
    async with running_gateway(config) as gw:
        expected = set()
        for seq in range(1, 6):
            node.publish(up_topic(config, "soil-01"), encode_json(soil_uplink("soil-01", seq)))
            node.publish(up_topic(config, "soil-02"), encode_binary(soil_uplink("soil-02", seq)))
            expected |= {("soil-01", seq), ("soil-02", seq)}
        await cloud.until(expected)
        await wait_until(lambda: gw.stats()["pending"] == 0, "the buffer to drain")
        stats = gw.stats()
    keys = cloud.keys()
    assert sorted(keys) == sorted(expected)
    assert stats["received"] == 10 and stats["forwarded"] == 10 and stats["quarantined"] == 0
    batch = cloud.batches[0]
    assert batch["site"] == config.site and batch["gateway"] == config.gateway_id
    item = batch["items"][0]
    assert item["readings"][0]["name"] == "vwc_pct" and isinstance(item["rx_ms"], int)


async def test_redelivered_uplink_is_stored_and_forwarded_once(tmp_path, config, node, cloud):
    """The same (node, seq) arriving three times is buffered once, then forwarded once."""
    # First run: the cloud broker is unreachable, so the buffer alone (not the
    # cloud) has to refuse the repeats.
    offline = config.model_copy(update={"cloud_broker": config.cloud_broker.model_copy(update={"port": free_port()})})
    payload = encode_json(soil_uplink("soil-01", 7))
    async with running_gateway(offline, ready=False) as gw:
        await wait_until(lambda: gw.source.subscribed, "the farm subscription")
        for _ in range(3):
            node.publish(up_topic(config, "soil-01"), payload)
        node.publish(up_topic(config, "soil-01"), encode_json(soil_uplink("soil-01", 8)))
        await wait_until(lambda: gw.stats()["received"] == 4, "all four messages")
        stats = gw.stats()
    assert stats["pending"] == 2 and stats["duplicates"] == 2 and stats["forwarded"] == 0
    # Second run on the same buffer, cloud reachable: each report goes up once.
    async with running_gateway(config) as gw:
        await cloud.until({("soil-01", 7), ("soil-01", 8)})
        await wait_until(lambda: gw.stats()["pending"] == 0, "the buffer to drain")
    assert sorted(cloud.keys()) == [("soil-01", 7), ("soil-01", 8)]


async def test_status_messages_record_node_state(config, node):
    """A node's retained online status shows up in the gateway's per-node state."""
    status = {"v": "1.0", "id": "soil-01", "state": "online", "ts_ms": 1, "fw": "0.1.0"}
    topic = up_topic(config, "soil-01").replace("/up", "/status")
    node.publish(topic, json.dumps(status).encode(), retain=True)
    try:
        async with running_gateway(config) as gw:
            await wait_until(lambda: "soil-01" in gw.stats()["farm"]["nodes"], "node status")
            assert gw.stats()["farm"]["nodes"]["soil-01"]["state"] == "online"
    finally:
        node.publish(topic, b"", retain=True)  # clear the retained message


def _with(uplink: dict, **changes) -> bytes:
    return json.dumps({**uplink, **changes}).encode()


async def test_malformed_payloads_are_quarantined_and_good_ones_still_flow(config, node, cloud):
    """Bad JSON, major "2.0", a node mismatch, a bad CRC, an out-of-range value are
    quarantined with a reason naming the field; the gateway keeps forwarding."""
    good = soil_uplink("soil-01", 1)
    corrupt = bytearray(encode_binary(soil_uplink("soil-01", 2)))
    corrupt[10] ^= 0xFF
    bad = {
        b"{not json": "payload=",
        _with(good, v="2.0"): "v='2.0'",
        encode_json(soil_uplink("soil-02", 3)): "node id in payload soil-02 does not match topic",
        bytes(corrupt): "crc=",
        _with(good, readings=[{"name": "vwc_pct", "value": 150, "depth_cm": 10}]): ("readings.0.value=150"),
    }
    async with running_gateway(config) as gw:
        for payload in bad:
            node.publish(up_topic(config, "soil-01"), payload)
        node.publish(up_topic(config, "soil-01"), encode_json(good))
        await cloud.until({("soil-01", 1)})
        await wait_until(lambda: gw.stats()["quarantined"] == len(bad), "the quarantine")
        await wait_until(lambda: gw.stats()["pending"] == 0, "the buffer to drain")
        rows = gw.buffer.quarantined()
        stats = gw.stats()
    assert stats["received"] == 1 and stats["forwarded"] == 1
    by_raw = {row["raw"]: row for row in rows}
    for payload, expected in bad.items():
        row = by_raw[payload]
        assert expected in row["reason"], (expected, row["reason"])
        assert row["source"] == up_topic(config, "soil-01")
    assert cloud.keys() == [("soil-01", 1)]


async def test_message_is_acknowledged_only_after_its_commit(config, node, monkeypatch):
    """A failed commit leaves the message unacked; the PUBACK follows the commit that worked."""
    events: list[str] = []
    async with running_gateway(config) as gw:
        real_put, real_queue = gw.buffer.put_many, gw.source.client._packet_queue

        def put_many(*args):
            if not any(e.startswith("put") for e in events):
                events.append("put failed")
                raise OSError("disk I/O error (injected)")
            n = real_put(*args)
            events.append("put ok")
            return n

        def queue(command, packet, *args):  # paho's outgoing packets: the group's PUBACKs go as one run
            if command == 0x40:
                events.append("ack qos1")
            return real_queue(command, packet, *args)

        monkeypatch.setattr(gw.buffer, "put_many", put_many)
        monkeypatch.setattr(gw.source.client, "_packet_queue", queue)
        node.publish(up_topic(config, "soil-01"), encode_json(soil_uplink("soil-01", 1)))
        await wait_until(lambda: "ack qos1" in events, "the PUBACK")
        assert gw.stats()["farm"]["persist_failures"] == 1
    assert events == ["put failed", "put ok", "ack qos1"]


def test_a_group_takes_everything_queued_up_to_its_bounds(config):
    """The group grows with the queue: 1,000 queued uplinks are one group (one transaction, one
    fsync), not four of 256; image chunks (up to 64 KiB each) stop a group at GROUP_BYTES."""
    source = MqttSource(config, None)  # type: ignore[arg-type]  # _gather never touches the buffer

    def queued(n: int, size: int) -> None:
        for mid in range(1, n + 1):
            msg = mqtt.MQTTMessage(mid=mid, topic=up_topic(config, "soil-01").encode())
            msg.payload = b"x" * size
            source._queue.put((0, msg))

    queued(1000, 500)
    group, stop = source._gather()
    assert (len(group), stop, source._queue.qsize()) == (1000, False, 0)
    assert [m.mid for _, m in group] == list(range(1, 1001))
    queued(100, 64 * 1024)
    sizes = []
    while source._queue.qsize():
        sizes.append(len(source._gather()[0]))
    assert sizes == [GROUP_BYTES // (64 * 1024)] + [100 - GROUP_BYTES // (64 * 1024)]
    queued(GROUP_MAX + 5, 10)
    assert [len(source._gather()[0]), len(source._gather()[0])] == [GROUP_MAX, 5]


async def test_a_group_acknowledged_in_one_run_of_pubacks_is_never_redelivered(config, node, cloud):
    """Forty uplinks stored and acknowledged (their PUBACKs queued as one run per group): the
    restarted gateway, on the same persistent session, gets none of them again. The broker sends a
    session's redeliveries before anything new, so once a later uplink is stored a missing PUBACK
    would show as a duplicate."""
    async with running_gateway(config) as gw:
        for seq in range(40):
            node.publish(up_topic(config, "soil-01"), encode_json(soil_uplink("soil-01", seq)))
        await wait_until(lambda: gw.stats()["received"] >= 40, "40 uplinks stored")
    async with running_gateway(config) as gw:
        node.publish(up_topic(config, "soil-01"), encode_json(soil_uplink("soil-01", 40)))
        await cloud.until({("soil-01", seq) for seq in range(41)})
        stats = gw.stats()
    assert stats["farm"]["uplinks"] == 1 and stats["duplicates"] == 0, stats


async def test_message_never_committed_is_redelivered_to_the_restarted_gateway(config, node, cloud, monkeypatch):
    """A gateway that stops before it could commit never acks; the broker redelivers the
    message to the restarted gateway, which stores and forwards it."""
    async with running_gateway(config) as gw:

        def broken(*args):
            raise OSError("disk full (injected)")

        monkeypatch.setattr(gw.buffer, "put_many", broken)
        node.publish(up_topic(config, "soil-01"), encode_json(soil_uplink("soil-01", 42)))
        await wait_until(lambda: gw.stats()["farm"]["persist_failures"] >= 2, "failed commits")
        assert gw.stats()["pending"] == 0
    # Same gateway id (same persistent session), same buffer file, healthy disk.
    async with running_gateway(config) as gw:
        await cloud.until({("soil-01", 42)})
        stats = gw.stats()
    assert stats["received"] == 1 and stats["farm"]["uplinks"] == 1


async def test_readings_with_a_bad_node_clock_are_corrected_and_flagged(config, node, cloud):
    """A ts_ms ahead of the gateway clock or before 2020 is corrected to the
    gateway's receive time and flagged; the node's own time travels along."""
    # The moisture moves between reports: three equal values whose times span months (the gateway's
    # clock for the first two, the node's 2026-01-01 for the third) would rightly be flagged stuck.
    ahead = dict(soil_uplink("soil-01", 1, vwc=23.4), ts_ms=time.time_ns() // 1_000_000 + 86_400_000)
    unset = dict(soil_uplink("soil-01", 2, vwc=23.2), ts_ms=12_000)
    async with running_gateway(config):
        node.publish(up_topic(config, "soil-01"), encode_json(ahead))
        node.publish(up_topic(config, "soil-01"), encode_binary(unset))
        node.publish(up_topic(config, "soil-01"), encode_json(soil_uplink("soil-01", 3, vwc=23.0)))
        await cloud.until({("soil-01", s) for s in (1, 2, 3)})
    items = {i["seq"]: i for b in cloud.batches for i in b["items"]}
    assert {seq: i["flags"] for seq, i in items.items()} == {1: ["ts_ahead_of_gateway"], 2: ["ts_clock_unset"], 3: []}
    # the wrong clocks are corrected to the gateway's receive time; the node's own time goes along
    for seq, sent in ((1, ahead), (2, unset)):
        assert items[seq]["ts_ms"] == items[seq]["rx_ms"] and items[seq]["ts_node_ms"] == sent["ts_ms"]
    assert "ts_node_ms" not in items[3]
