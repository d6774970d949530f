"""A cloud outage against a real Mosquitto: a bounded buffer, its policy when full, delivery after."""

from __future__ import annotations

import pytest

from furrow.edge.commands import encode, make_ack
from furrow.edge.payload import encode_json
from furrow.edge.topics import node_topic
from tests.gateway_support import (
    BatchCollector,
    Peer,
    TcpProxy,
    gateway_config,
    gw_topic,
    running_gateway,
    soil_uplink,
    up_topic,
    valve_uplink,
    wait_until,
)

pytestmark = pytest.mark.mosquitto

MAX_ROWS = 100


async def test_outage_keeps_the_buffer_bounded_drops_oldest_low_priority_and_delivers_the_rest(
    tmp_path, mosquitto, mqtt_topic_prefix
):
    """With the cloud link down, 150 soil and 20 valve reports meet a 100-row quota: the 70
    oldest soil reports are dropped (counted), every valve report is kept, and once the link
    is back every kept report arrives and the drop is reported to the cloud in a batch."""
    cloud = BatchCollector(Peer(mosquitto.host, mosquitto.port))
    node = Peer(mosquitto.host, mosquitto.port)
    async with TcpProxy(mosquitto.host, mosquitto.port) as proxy:
        config = gateway_config(
            tmp_path, mosquitto.host, mosquitto.port, mqtt_topic_prefix,
            cloud_broker={"host": proxy.host, "port": proxy.port, "keepalive": 2, "timeout": 2},
            quota={"max_rows": MAX_ROWS, "keep_roles": ["irrigation"]},
            forward_batch_size=50,
        )
        cloud.peer.subscribe(gw_topic(config, "batch"))
        try:
            async with running_gateway(config) as gw:
                proxy.down()
                await wait_until(lambda: not gw.cloud.connected, "the cloud link to drop")
                for seq in range(150):
                    if seq % 10 == 0:  # a valve report now and then, older than most soil ones
                        valve = valve_uplink("irr-01", seq // 10)
                        node.publish(up_topic(config, "irr-01"), encode_json(valve))
                    node.publish(up_topic(config, "soil-01"), encode_json(soil_uplink("soil-01", seq)))
                await wait_until(lambda: gw.stats()["received"] == 165, "every report in the buffer")
                stats = gw.stats()
                kept = {(i["node"], i["seq"]) for _, i in gw.buffer.next_batch(1000)}
                assert stats["pending"] == MAX_ROWS and stats["dropped"] == 65, stats
                assert kept == {("irr-01", s) for s in range(15)} | {("soil-01", s) for s in range(65, 150)}
                assert stats["forwarded"] == 0
                proxy.up()
                await cloud.until(kept, timeout=30)
                await wait_until(lambda: gw.stats()["pending"] == 0, "the buffer to drain")
                await wait_until(lambda: not gw.stats()["gaps_unconfirmed"], "the drop report to be acknowledged")
        finally:
            cloud.peer.close()
            node.close()
    assert set(cloud.keys()) == kept
    reports = [g for b in cloud.batches for g in b.get("gaps", [])]
    assert [(g["node"], g["reason"], g["count"], g["seqs"]) for g in reports] == [("soil-01", "quota", 65, [[0, 64]])]


async def test_node_ack_taken_during_an_outage_survives_a_restart_and_reaches_the_cloud(
    tmp_path, mosquitto, mqtt_topic_prefix
):
    """An ack a node sends while the cloud link is down is committed with its message; the
    gateway is restarted, and once the link is back the ack goes up."""
    cloud = Peer(mosquitto.host, mosquitto.port)
    node = Peer(mosquitto.host, mosquitto.port)
    raw = encode(make_ack("c-9", "irr-01", "completed", 1_767_225_600_000, runtime_s=60, volume_l=12.5))
    async with TcpProxy(mosquitto.host, mosquitto.port) as proxy:
        config = gateway_config(
            tmp_path, mosquitto.host, mosquitto.port, mqtt_topic_prefix,
            cloud_broker={"host": proxy.host, "port": proxy.port, "keepalive": 2, "timeout": 2},
        )
        cloud.subscribe(gw_topic(config, "ack"))
        try:
            async with running_gateway(config) as gw:
                proxy.down()
                await wait_until(lambda: not gw.cloud.connected, "the cloud link to drop")
                node.publish(node_topic(config.site, "irr-01", "ack", config.topic_root), raw)
                await wait_until(lambda: gw.stats()["relay"]["acks_queued"] == 1, "the ack in the outbox")
            proxy.up()
            async with running_gateway(config) as gw:
                msg = await cloud.get()
                await wait_until(lambda: gw.stats()["relay"]["acks_queued"] == 0, "the outbox to empty")
        finally:
            cloud.close()
            node.close()
    assert msg.payload == raw
