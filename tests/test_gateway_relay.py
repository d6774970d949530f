"""The command relay against a real Mosquitto: commands down, acks up, bad input refused."""

from __future__ import annotations

import json
import time

import pytest

from furrow.edge.commands import encode, make_ack, make_command
from furrow.edge.topics import node_topic
from tests.gateway_support import Peer, gw_topic, running_gateway, wait_until

pytestmark = pytest.mark.mosquitto

# Commands are built from the real clock: the gateway refuses expired ones.
NOW_MS = int(time.time() * 1000)


@pytest.fixture
def peer(mosquitto):
    p = Peer(mosquitto.host, mosquitto.port)
    yield p
    p.close()


def command(cmd_id: str = "c-1", node: str = "irr-01") -> dict:
    return make_command(cmd_id, node, 1, "open", 600, 900, NOW_MS, NOW_MS + 3_600_000)


async def test_command_reaches_the_node_cmd_topic_unchanged(config, peer):
    """A command on the gateway's cmd topic is published, bytes unchanged, to the node's cmd topic."""
    peer.subscribe(node_topic(config.site, "irr-01", "cmd", config.topic_root))
    raw = encode(command())
    async with running_gateway(config) as gw:
        peer.publish(gw_topic(config, "cmd"), raw)
        msg = await peer.get()
        await wait_until(lambda: gw.stats()["commands_relayed"] == 1, "the relay count")
    assert msg.payload == raw and msg.qos == 1


async def test_invalid_command_is_counted_and_not_relayed(config, peer):
    """A command breaking the contract is counted with its reason; the next good one still goes."""
    peer.subscribe(node_topic(config.site, "irr-01", "cmd", config.topic_root))
    bad = dict(command("c-bad"), valve=99)
    async with running_gateway(config) as gw:
        peer.publish(gw_topic(config, "cmd"), json.dumps(bad).encode())
        peer.publish(gw_topic(config, "cmd"), b"not json at all")
        peer.publish(gw_topic(config, "cmd"), encode(command("c-good")))
        first = await peer.get()
        await wait_until(lambda: gw.stats()["commands_relayed"] == 1, "the good command")
        stats = gw.stats()
    assert json.loads(first.payload)["id"] == "c-good"  # on one connection, order holds
    assert stats["commands_invalid"] == 2
    assert "command=" in stats["relay"]["last_invalid"]


async def test_node_ack_reaches_the_gateway_ack_topic_unchanged(config, peer):
    """An ack a node publishes goes out, bytes unchanged, on the gateway's ack topic."""
    peer.subscribe(gw_topic(config, "ack"))
    raw = encode(make_ack("c-1", "irr-01", "completed", NOW_MS, runtime_s=600, volume_l=412.5))
    async with running_gateway(config) as gw:
        peer.publish(node_topic(config.site, "irr-01", "ack", config.topic_root), raw)
        msg = await peer.get()
        await wait_until(lambda: gw.stats()["acks_relayed"] == 1, "the relay count")
    assert msg.payload == raw


async def test_malformed_node_ack_is_quarantined_not_relayed(config, peer):
    """An ack breaking the contract is quarantined with its reason; a good one still goes up."""
    peer.subscribe(gw_topic(config, "ack"))
    ack_topic = node_topic(config.site, "irr-01", "ack", config.topic_root)
    good = encode(make_ack("c-2", "irr-01", "started", NOW_MS))
    async with running_gateway(config) as gw:
        peer.publish(ack_topic, json.dumps({"v": "1.0", "id": "c-2", "state": "done"}).encode())
        peer.publish(ack_topic, good)
        msg = await peer.get()
        await wait_until(lambda: gw.stats()["quarantined"] == 1, "the quarantine")
        row = gw.buffer.quarantined()[0]
    assert msg.payload == good
    assert row["source"] == ack_topic and "node=None" in row["reason"]


async def test_command_sent_while_the_gateway_is_offline_is_relayed_when_it_returns(config, peer):
    """The cloud session is persistent: a command queued at the broker during a gateway
    restart is relayed once the gateway is back."""
    peer.subscribe(node_topic(config.site, "irr-01", "cmd", config.topic_root))
    async with running_gateway(config):
        pass  # first run creates the persistent session and its subscription
    raw = encode(command("c-while-away"))
    peer.publish(gw_topic(config, "cmd"), raw)
    async with running_gateway(config) as gw:
        msg = await peer.get()
        await wait_until(lambda: gw.stats()["commands_relayed"] == 1, "the relay count")
    assert msg.payload == raw


async def test_refusal_counts_survive_a_gateway_restart(config, peer):
    """Invalid and expired commands stay counted (stats and refusals by kind) after the gateway restarts."""
    peer.subscribe(gw_topic(config, "ack"))
    expired = make_command("c-late", "irr-01", 1, "open", 600, 900, NOW_MS - 7_200_000, NOW_MS - 3_600_000)
    async with running_gateway(config) as gw:
        peer.publish(gw_topic(config, "cmd"), b"not json at all")
        peer.publish(gw_topic(config, "cmd"), encode(expired))
        await peer.get()  # the expired command's rejected ack
        await wait_until(lambda: gw.stats()["commands_invalid"] == 1, "the invalid count")
    async with running_gateway(config) as gw:
        stats = gw.stats()
    assert (stats["commands_invalid"], stats["commands_expired"]) == (1, 1)
    assert stats["relay"]["commands_refused"] == {"expired": 1}
