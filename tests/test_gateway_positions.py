"""A tracker's position messages through the real gateway (contract 1.6): kept in the durable buffer under
(node, seq), stored once when redelivered, forwarded in the batches as positions items; a damaged one is
quarantined with its seq in the gap log. The whole path with the cloud and an outage is
tests/test_machinery_live_e2e.py (full tier)."""

from __future__ import annotations

import pytest

from furrow.edge.position import decode_positions, positions_item
from tests.gateway_support import BatchCollector, Peer, gateway_config, gw_topic, running_gateway, up_topic, wait_until
from tests.test_machinery_coverage import back_and_forth
from tests.tracker_support import position_messages

pytestmark = pytest.mark.mosquitto

NODE = "trk-01"


async def test_positions_are_buffered_once_and_forwarded_as_positions_items(tmp_path, mosquitto, mqtt_topic_prefix):
    """Three messages, the second twice and a fourth with a flipped byte: the batches carry the three as positions
    items equal to the messages' fixes; the buffer counts one duplicate and one quarantined, its seq in the gaps."""
    config = gateway_config(tmp_path, mosquitto.host, mosquitto.port, mqtt_topic_prefix)
    messages = position_messages(NODE, back_and_forth([5])[:100], per_message=40)
    assert len(messages) == 3
    damaged = bytearray(position_messages(NODE, back_and_forth([5])[:5], seq0=3)[0])
    damaged[30] ^= 0xFF
    cloud = Peer(mosquitto.host, mosquitto.port)
    cloud.subscribe(gw_topic(config, "batch"))
    tracker = Peer(mosquitto.host, mosquitto.port)
    try:
        async with running_gateway(config) as gw:
            for m in [messages[0], messages[1], messages[1], messages[2], bytes(damaged)]:
                tracker.publish(up_topic(config, NODE), m)
            batches = BatchCollector(cloud)
            await batches.until({(NODE, 0), (NODE, 1), (NODE, 2)})
            await wait_until(lambda: gw.stats()["quarantined"] == 1, "the damaged message to be quarantined")
            await batches._collect(lambda: any(b.get("gaps") for b in batches.batches), "the gap report", 30)
            stats = gw.stats()
            assert (stats["received"], stats["duplicates"], stats["farm"]["positions"]) == (4, 1, 4)
    finally:
        tracker.close()
        cloud.close()
    items = {i["seq"]: i for b in batches.batches for i in b["items"]}
    for seq, m in enumerate(messages):
        item = {k: v for k, v in items[seq].items() if k not in ("rx_ms", "flags")}
        assert item == positions_item(decode_positions(m))
    gaps = [g for b in batches.batches for g in b.get("gaps", [])]
    assert [(g["node"], g["reason"]) for g in gaps] == [(NODE, "quarantine")]
