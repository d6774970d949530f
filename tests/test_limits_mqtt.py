"""Oversized MQTT messages against a real Mosquitto: refused by size at the gateway and at the cloud ingest."""

from __future__ import annotations

import json
import zlib

import pytest

from furrow.cloud.ingest import MAX_BATCH_BYTES, PayloadTooLarge, inflate
from furrow.edge.payload import encode_json
from furrow.gateway.app import Gateway
from furrow.gateway.flood import NodeBudget
from furrow.gateway.mqtt_source import MAX_MESSAGE_BYTES, QUARANTINE_HEAD_BYTES
from tests.gateway_support import Peer, gateway_config, running_gateway, soil_uplink, up_topic, wait_until

pytestmark = pytest.mark.mosquitto


async def test_an_oversized_node_message_is_quarantined_by_size_and_the_gateway_goes_on(tmp_path, mosquitto,
                                                                                      mqtt_topic_prefix):
    """A 1 MiB uplink is refused unparsed (its head kept, the reason naming size and limit); the next one is stored."""
    config = gateway_config(tmp_path, mosquitto.host, mosquitto.port, mqtt_topic_prefix)
    node = Peer(mosquitto.host, mosquitto.port)
    try:
        async with running_gateway(config) as gw:
            huge = b'{"v": "1.0", "readings": [' + b"0," * (512 * 1024) + b"0]}"
            node.publish(up_topic(config, "soil-01"), huge)
            node.publish(up_topic(config, "soil-01"), encode_json(soil_uplink("soil-01", 1)))
            await wait_until(lambda: gw.stats()["received"] == 1 and gw.stats()["quarantined"] == 1,
                             "the good uplink stored and the huge one quarantined")
            bad = gw.buffer.quarantined()[0]
    finally:
        node.close()
    assert len(huge) > MAX_MESSAGE_BYTES
    assert bad["reason"].startswith(f"payload={len(huge)} bytes") and str(MAX_MESSAGE_BYTES) in bad["reason"]
    assert bad["raw"] == huge[:QUARANTINE_HEAD_BYTES]


def test_the_cloud_ingest_refuses_a_batch_past_16_mib_and_a_zip_bomb_by_size():
    """Raw bytes over 16 MiB, and a small zlib stream inflating past it, raise PayloadTooLarge naming the payload."""
    with pytest.raises(PayloadTooLarge) as raw:
        inflate(b"{" + b" " * MAX_BATCH_BYTES)
    bomb = zlib.compress(json.dumps({"items": []}).encode() + b" " * (MAX_BATCH_BYTES + 1), 9)
    assert len(bomb) < 64 * 1024
    with pytest.raises(PayloadTooLarge) as inflated:
        inflate(bomb)
    assert raw.value.field == inflated.value.field == "payload"
    assert "inflates past" in inflated.value.reason


async def test_a_flooding_node_is_held_to_its_budget_and_the_others_still_get_through(tmp_path, mosquitto,
                                                                                    mqtt_topic_prefix):
    """Budget 5 (no refill): a node sending 30 gets 5 stored and 25 refused and counted; another node is unaffected."""
    config = gateway_config(tmp_path, mosquitto.host, mosquitto.port, mqtt_topic_prefix)
    gw = Gateway(config)
    gw.source.budget = NodeBudget(burst=5, rate_per_s=0.0)
    node = Peer(mosquitto.host, mosquitto.port)
    try:
        async with running_gateway(config, gateway=gw):
            for seq in range(1, 31):
                node.publish(up_topic(config, "soil-01"), encode_json(soil_uplink("soil-01", seq)))
            for seq in range(1, 4):
                node.publish(up_topic(config, "soil-02"), encode_json(soil_uplink("soil-02", seq)))
            counts = gw.source.counts
            await wait_until(lambda: counts["uplinks"] + counts["rate_limited"] == 33, "all 33 messages handled")
            farm = gw.source.stats()
            received = gw.stats()["received"]
    finally:
        node.close()
    assert farm["rate_limited"] == 25 and farm["flooding"] == {"soil-01": 25}
    assert farm["uplinks"] == received == 8  # 5 of soil-01, all 3 of soil-02
