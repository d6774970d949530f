"""Forwarding options, command safety and operation endpoints, against a real Mosquitto."""

from __future__ import annotations

import asyncio
import json
import time
import zlib

import httpx
import pytest

from furrow.cloud.ingest import inflate
from furrow.edge.batch import decode_batch as edge_decode_batch
from furrow.edge.commands import encode, make_command
from furrow.edge.payload import encode_json
from furrow.edge.topics import node_topic
from furrow.gateway import DurableBuffer, Item
from furrow.gateway.observe import MetricsServer
from tests.gateway_support import (
    Peer,
    TcpProxy,
    decode_batch,
    gateway_config,
    gw_topic,
    running_gateway,
    soil_uplink,
    up_topic,
    wait_until,
)

pytestmark = pytest.mark.mosquitto


def now_ms() -> int:
    return int(time.time() * 1000)


@pytest.fixture
def peer(mosquitto):
    p = Peer(mosquitto.host, mosquitto.port)
    yield p
    p.close()


async def test_batches_are_zlib_compressed_and_the_contract_decoder_reads_them(tmp_path, mosquitto,
                                                                              mqtt_topic_prefix, peer):
    """With compress on (the default) a batch starts with the zlib header 0x78 and the cloud's own
    ingest inflates it."""
    config = gateway_config(tmp_path, mosquitto.host, mosquitto.port, mqtt_topic_prefix)
    peer.subscribe(gw_topic(config, "batch"))
    async with running_gateway(config):
        peer.publish(up_topic(config, "soil-01"), encode_json(soil_uplink("soil-01", 7)))
        msg = await peer.get()
    assert msg.payload[0] == 0x78
    assert json.loads(zlib.decompress(msg.payload))["items"][0]["seq"] == 7
    assert edge_decode_batch(inflate(msg.payload))["items"][0]["seq"] == 7


def test_fresh_readings_go_before_the_backlog(tmp_path):
    """With more pending than one batch holds, half the batch is the newest readings, the rest the oldest."""
    with DurableBuffer(tmp_path / "b.sqlite") as buf:
        buf.put_many([Item(soil_uplink("a", s), 1_000) for s in range(100)])  # an old backlog
        buf.put_many([Item(soil_uplink("a", s), now_ms()) for s in range(100, 110)])  # just in
        seqs = [i["seq"] for _, i in buf.next_batch(20, fresh_since_ms=now_ms() - 60_000)]
    assert seqs == list(range(109, 99, -1)) + list(range(10))


async def test_expired_command_is_refused_at_the_gateway_with_a_rejected_ack(tmp_path, mosquitto,
                                                                            mqtt_topic_prefix, peer):
    """A command already expired on arrival never reaches the node; the cloud gets a rejected ack."""
    config = gateway_config(tmp_path, mosquitto.host, mosquitto.port, mqtt_topic_prefix)
    peer.subscribe(gw_topic(config, "ack"))
    t = now_ms()
    cmd = make_command("c-late", "irr-01", 1, "open", 60, 120, t - 7_200_000, t - 3_600_000)
    async with running_gateway(config) as gw:
        peer.publish(gw_topic(config, "cmd"), encode(cmd))
        ack = json.loads((await peer.get()).payload)
        stats = gw.stats()
        state = gw.relay.commands()["c-late"]
    assert ack["id"] == "c-late" and ack["state"] == "rejected" and "expired" in ack["reason"]
    assert stats["commands_expired"] == 1 and stats["commands_relayed"] == 0
    assert state["state"] == "rejected"


async def test_irrigation_nodes_get_heartbeats_on_their_cmd_topic(tmp_path, mosquitto, mqtt_topic_prefix, peer):
    """Configured irrigation nodes hear a heartbeat (no command id) on their cmd topic every interval."""
    config = gateway_config(tmp_path, mosquitto.host, mosquitto.port, mqtt_topic_prefix,
                            heartbeat_interval=0.2, irrigation_nodes=["irr-07"])
    peer.subscribe(node_topic(config.site, "irr-07", "cmd", config.topic_root))
    async with running_gateway(config):
        beats = [json.loads((await peer.get()).payload) for _ in range(3)]
    assert all(b["type"] == "heartbeat" and b["gateway"] == config.gateway_id and "id" not in b for b in beats)


async def test_last_plan_is_kept_to_while_the_cloud_is_away_and_only_within_its_validity(
    tmp_path, mosquitto, mqtt_topic_prefix, peer
):
    """A plan received before the cloud link drops is delivered on time with the link down;
    a plan past its validity window sends nothing, and the plan survives a restart on disk."""
    node_cmd = node_topic("farm", "irr-01", "cmd", mqtt_topic_prefix)
    async with TcpProxy(mosquitto.host, mosquitto.port) as proxy:
        config = gateway_config(tmp_path, mosquitto.host, mosquitto.port, mqtt_topic_prefix,
                                cloud_broker={"host": proxy.host, "port": proxy.port, "keepalive": 2, "timeout": 2})
        peer.subscribe(node_cmd)
        t = now_ms()
        soon = make_command("p-1", "irr-01", 1, "open", 60, 120, t + 1_500, t + 600_000)
        plan = {"v": "1.0", "plan_id": "plan-1", "issued_ms": t, "valid_until_ms": t + 3_600_000,
                "commands": [soon]}
        async with running_gateway(config) as gw:
            peer.publish(gw_topic(config, "cmd"), json.dumps(plan).encode())
            await wait_until(lambda: gw.stats()["plan"]["plan_id"] == "plan-1", "the plan to be kept")
            proxy.down()
            await wait_until(lambda: not gw.cloud.connected, "the cloud link to drop")
            msg = await peer.get()
            assert json.loads(msg.payload)["id"] == "p-1"
            await wait_until(lambda: gw.stats()["plan"]["delivered"] == 1, "the delivery to be counted")
        stale = dict(plan, plan_id="plan-0", issued_ms=t + 1, valid_until_ms=t - 1,
                     commands=[make_command("p-2", "irr-01", 1, "open", 60, 120, t - 1000, t + 600_000)])
        proxy.up()
        async with running_gateway(config) as gw:
            assert gw.stats()["plan"]["plan_id"] == "plan-1"  # kept on disk across the restart
            peer.publish(gw_topic(config, "cmd"), json.dumps(stale).encode())
            await wait_until(lambda: gw.stats()["plan"]["expired_plans"] == 1, "the stale plan to be judged")
            stats = gw.stats()
    assert stats["plan"]["plan_id"] == "plan-0" and stats["plan"]["delivered"] == 0
    with pytest.raises(AssertionError):
        await peer.get(timeout=0.5)  # nothing of the expired plan went to the node


async def test_metrics_and_health_endpoints(tmp_path, mosquitto, mqtt_topic_prefix, peer):
    """/metrics has the queue depth, oldest unsent age and counters; /health is 200 with the farm broker up."""
    config = gateway_config(tmp_path, mosquitto.host, mosquitto.port, mqtt_topic_prefix, http_port=0)
    async with running_gateway(config) as gw:
        # http_port = 0 turns the gateway's own server off; serve its stats on a free port here.
        server = MetricsServer(gw.stats, "127.0.0.1", 0)
        task = asyncio.create_task(server.run())
        try:
            await wait_until(lambda: server.port != 0, "the metrics server")
            peer.publish(up_topic(config, "soil-01"), encode_json(soil_uplink("soil-01", 1)))
            await wait_until(lambda: gw.stats()["received"] == 1, "the reading")
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as http:
                metrics = (await http.get("/metrics")).text
                health = await http.get("/health")
                missing = await http.get("/nope")
        finally:
            task.cancel()
    assert "furrow_gateway_buffer_pending" in metrics and "furrow_gateway_received_total 1.0" in metrics
    assert "furrow_gateway_plans_refused_total 0.0" in metrics and "furrow_gateway_rate_limited_total 0.0" in metrics
    assert "furrow_gateway_buffer_oldest_age_seconds" in metrics
    assert health.status_code == 200 and health.json()["farm"] is True
    assert missing.status_code == 404


@pytest.mark.parametrize("bad", [(503, b'{"detail": "storage unavailable"}'),
                                 (200, b"<html>Welcome to the hotspot: accept the terms</html>")],
                         ids=["503", "200-not-a-receipt"])
async def test_https_sink_backs_off_until_the_answer_is_the_batchs_receipt(tmp_path, mosquitto, mqtt_topic_prefix,
                                                                          peer, bad):
    """With forward_via = "https", batches are POSTed; a 503, or a 200 that is not the batch's receipt
    (a captive portal), is retried with backoff and the readings stay buffered until the receipt."""
    posts: list[tuple[int, bytes]] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(next(h.split(b":")[1] for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")))
        body = await reader.readexactly(length)
        status, text = bad if len(posts) < 2 else (200, b"")
        posts.append((status, body))
        if not text:
            text = json.dumps({"batch_id": decode_batch(body)["batch_id"], "status": "stored", "accepted": 1,
                               "readings": 2, "stored": 2, "rejected": [], "gaps": 0}).encode()
        writer.write(b"HTTP/1.1 %d X\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s" % (status, len(text), text))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/api/v1/ingest/batch"
    config = gateway_config(tmp_path, mosquitto.host, mosquitto.port, mqtt_topic_prefix,
                            forward_via="https", https={"url": url})
    try:
        async with running_gateway(config) as gw:
            peer.publish(up_topic(config, "soil-01"), encode_json(soil_uplink("soil-01", 3)))
            await wait_until(lambda: len(posts) == 3, "a third POST", timeout=20)
            await wait_until(lambda: gw.stats()["pending"] == 0, "the buffer to drain")
            stats = gw.stats()
    finally:
        server.close()
    assert [s for s, _ in posts] == [bad[0], bad[0], 200]
    assert all(decode_batch(b)["items"][0]["seq"] == 3 for _, b in posts)
    assert stats["cloud"]["https"]["failures"] == 2 and stats["forwarded"] == 1
