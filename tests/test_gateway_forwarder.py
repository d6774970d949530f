"""The cloud link and forwarder: nothing leaves the buffer without a PUBACK."""

from __future__ import annotations

import json

import pytest

from furrow.edge.payload import encode_json
from furrow.gateway import Item
from tests.gateway_support import (
    BatchCollector,
    Peer,
    TcpProxy,
    gateway_config,
    gw_topic,
    running_gateway,
    soil_uplink,
    up_topic,
    wait_until,
)
from tests.servers import MosquittoServer

pytestmark = pytest.mark.mosquitto


def _with_cloud(config, host, port):
    return config.model_copy(
        update={"cloud_broker": config.cloud_broker.model_copy(update={"host": host, "port": port})}
    )


async def test_batch_without_puback_stays_buffered_and_is_sent_again(mosquitto, config, cloud):
    """A batch the broker took but whose PUBACK never came back is not marked forwarded;
    after the link is re-established it goes again under a new batch id."""
    async with TcpProxy(mosquitto.host, mosquitto.port) as proxy:
        cfg = _with_cloud(config, proxy.host, proxy.port)
        async with running_gateway(cfg) as gw:
            proxy.hold()  # the broker's replies (PUBACKs, PINGRESPs) stop here
            expected = {("soil-01", s) for s in range(1, 4)}
            gw.buffer.put_many([Item(soil_uplink(n, s), 0) for n, s in expected])
            await cloud.until(expected)  # the broker has the batch ...
            assert gw.stats()["pending"] == 3  # ... but without its PUBACK nothing is marked
            await wait_until(lambda: gw.stats()["cloud"]["disconnects"] >= 1, "a timeout")
            assert gw.stats()["pending"] == 3 and gw.stats()["forwarded"] == 0
            proxy.cut()
            proxy.release()
            await wait_until(lambda: gw.stats()["pending"] == 0, "the re-send to be acknowledged")
            await cloud.until_batches(2)
            assert gw.stats()["forwarded"] == 3
    ids = [b["batch_id"] for b in cloud.batches]
    assert len(cloud.batches) >= 2 and len(set(ids)) == len(ids)
    assert {(i["node"], i["seq"]) for i in cloud.batches[-1]["items"]} == expected


async def test_batch_ids_are_unique_and_increasing_and_batches_respect_the_size(config, cloud):
    """With forward_batch_size=2, seven readings go in four batches whose ids sort in order."""
    cfg = config.model_copy(update={"forward_batch_size": 2})
    async with running_gateway(cfg) as gw:
        expected = {("soil-01", s) for s in range(7)}
        gw.buffer.put_many([Item(soil_uplink(n, s), 0) for n, s in sorted(expected)])
        await cloud.until(expected)
        await wait_until(lambda: gw.stats()["pending"] == 0, "the buffer to drain")
    sizes = [len(b["items"]) for b in cloud.batches]
    ids = [b["batch_id"] for b in cloud.batches]
    assert sizes == [2, 2, 2, 1]
    assert ids == sorted(ids) and len(set(ids)) == 4
    assert [s for _, s in cloud.keys()] == list(range(7))  # oldest first


async def test_readings_buffered_while_the_broker_is_down_arrive_after_it_returns(tmp_path, mqtt_topic_prefix):
    """With the broker stopped and restarted, the gateway reconnects both links,
    resubscribes, and delivers what it buffered meanwhile and what comes after."""
    with MosquittoServer() as broker:
        cfg = gateway_config(tmp_path, broker.host, broker.port, mqtt_topic_prefix)
        async with running_gateway(cfg) as gw:
            broker.stop()
            await wait_until(lambda: not gw.stats()["cloud"]["connected"], "the link to drop")
            gw.buffer.put_many([Item(soil_uplink("soil-01", 1), 0)])  # e.g. a Modbus report
            broker.start()
            cloud = BatchCollector(Peer(broker.host, broker.port))
            cloud.peer.subscribe(gw_topic(cfg, "batch"))
            try:
                await wait_until(lambda: gw.ready, "the gateway to reconnect and resubscribe")
                node = Peer(broker.host, broker.port)
                node.publish(up_topic(cfg, "soil-01"), encode_json(soil_uplink("soil-01", 2)))
                node.close()
                await cloud.until({("soil-01", 1), ("soil-01", 2)})
                await wait_until(lambda: gw.stats()["pending"] == 0, "the buffer to drain")
            finally:
                cloud.peer.close()
            assert gw.stats()["cloud"]["connects"] >= 2


async def test_gateway_status_is_online_while_running_and_offline_after(mosquitto, config):
    """The retained gateway status says online while connected and offline after a stop."""
    topic = gw_topic(config, "status")
    async with running_gateway(config):
        probe = Peer(mosquitto.host, mosquitto.port)
        probe.subscribe(topic)
        online = json.loads((await probe.get()).payload)
        probe.close()
    probe = Peer(mosquitto.host, mosquitto.port)
    try:
        probe.subscribe(topic)
        offline = json.loads((await probe.get()).payload)
    finally:
        probe.publish(topic, b"", retain=True)  # clear the retained status
        probe.close()
    assert online["id"] == config.gateway_id and online["state"] == "online"
    assert offline["state"] == "offline"
