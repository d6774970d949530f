"""The gateway's side of cancel (contract 1.2) against a real Mosquitto: a signed cancel is relayed to its
node over MQTT and through the Modbus mailbox of a firmware controller on the emulated RS-485 bus, though
the id it carries went through before; the command after it is refused. The decisions themselves, on a
simulated clock, are in test_gateway_relay_core.py."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest

from furrow.cloud.commands.signing import CommandSigner, generate_key, load_private_keys
from furrow.edge import commands
from furrow.edge.cancel import make_cancel
from furrow.edge.topics import node_topic
from furrow.hil import nodes
from furrow.hil.modbus_bus import ModbusBus
from furrow.hil.virtual_farm import VirtualFarm, VirtualZone
from tests.gateway_support import Peer, gateway_config, gw_topic, running_gateway, wait_until

pytestmark = pytest.mark.mosquitto


@pytest.fixture
def signing(tmp_path: Path) -> tuple[CommandSigner, dict[str, str]]:
    """The cloud's signer and the gateway's [command_auth] keys for it."""
    kid, _, public = generate_key(tmp_path / "keys", "k20260101000000-aaaa")
    return CommandSigner.create(load_private_keys(tmp_path / "keys")), {kid: str(public)}


class RecordingFarm(VirtualFarm):
    """The virtual farm, with every valve opening recorded."""

    def __init__(self) -> None:
        super().__init__([VirtualZone("z1")])
        self.opened: list[tuple[str, int]] = []

    def set_valve(self, node: str, channel: int, is_open: bool) -> None:
        if is_open:
            self.opened.append((node, channel))
        super().set_valve(node, channel, is_open)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


async def acks_until(peer: Peer, state: str) -> list[dict[str, Any]]:
    """Acks off the gateway's ack topic until one in `state`."""
    got: list[dict[str, Any]] = []
    while not got or got[-1]["state"] != state:
        got.append(commands.decode_ack((await peer.get()).payload))
    return got


async def test_a_signed_cancel_reaches_the_node_over_mqtt_and_the_command_after_it_is_refused(
        tmp_path: Path, mosquitto: Any, mqtt_topic_prefix: str, signing: tuple[CommandSigner, dict[str, str]]) -> None:
    """Command relayed, then its signed cancel relayed unchanged to the node though the id went through; a
    forged cancel before it is refused ('unsigned:') and never reaches the node; the command sent again after
    the cancel is refused as 'replayed:'."""
    signer, keys = signing
    config = gateway_config(tmp_path, mosquitto.host, mosquitto.port, mqtt_topic_prefix, command_auth={"keys": keys})
    now = now_ms()
    cmd = signer.sign(commands.make_command("c-1", "irr-01", 1, "open", 600, 900, now + 3_600_000,
                                            now + 7_200_000), config.site, config.gateway_id, now)
    cancel = signer.sign(make_cancel(cmd, now), config.site, config.gateway_id, now)
    node, cloud = Peer(mosquitto.host, mosquitto.port), Peer(mosquitto.host, mosquitto.port)
    try:
        node.subscribe(node_topic(config.site, "irr-01", "cmd", config.topic_root))
        cloud.subscribe(gw_topic(config, "ack"))
        async with running_gateway(config) as gw:
            cloud.publish(gw_topic(config, "cmd"), commands.encode(cmd))
            first = await node.get()
            cloud.publish(gw_topic(config, "cmd"), commands.encode(make_cancel(cmd, now)))  # unsigned
            forged = commands.decode_ack((await cloud.get()).payload)
            cloud.publish(gw_topic(config, "cmd"), commands.encode(cancel))
            second = await node.get()
            cloud.publish(gw_topic(config, "cmd"), commands.encode(cmd))
            replay = commands.decode_ack((await cloud.get()).payload)
            stats = gw.stats()["relay"]
    finally:
        node.close()
        cloud.close()
    assert json.loads(first.payload)["action"] == "open" and second.payload == commands.encode(cancel)
    assert forged["reason"].startswith("unsigned:") and replay["reason"].startswith("replayed:")
    assert stats["commands_relayed"] == 1 and stats["cancels_relayed"] == 1


async def test_a_cancel_through_the_modbus_mailbox_keeps_a_held_command_from_ever_opening(
        tmp_path: Path, mosquitto: Any, mqtt_topic_prefix: str, signing: tuple[CommandSigner, dict[str, str]]) -> None:
    """A firmware controller on the emulated RS-485 bus holds a command for its not-before; the signed cancel
    goes into its mailbox (action 3), its 'cancelled' ack comes back up to the cloud, and past the not-before
    its valve has never opened."""
    signer, keys = signing
    farm = RecordingFarm()
    core, _meter = nodes.irrigation_node(farm, "irr-mb", ["z1"], tmp_path / "flash", 60_000)
    bus = ModbusBus(port=0, baud=19_200, tick_s=0.05, state_dir=tmp_path / "bus")
    bus.add(core, 3)
    await bus.start()
    dev = {"node_id": "irr-mb", "host": "127.0.0.1", "port": bus.port, "unit": 3, "role": "irrigation",
           "commands": True, "poll_interval": 0.1, "timeout": 0.5}
    config = gateway_config(tmp_path, mosquitto.host, mosquitto.port, mqtt_topic_prefix, modbus=[dev],
                            command_auth={"keys": keys})
    now = now_ms()
    not_before = now + 4_000
    cmd = signer.sign(commands.make_command("c-mb", "irr-mb", 1, "open", 60, 120, not_before, now + 600_000),
                      config.site, config.gateway_id, now)
    cloud = Peer(mosquitto.host, mosquitto.port)
    cloud.subscribe(gw_topic(config, "ack"))
    stop = asyncio.Event()
    ticking = asyncio.create_task(bus.run(stop))
    try:
        async with running_gateway(config) as gw:
            cloud.publish(gw_topic(config, "cmd"), commands.encode(cmd))
            held = await acks_until(cloud, "received")
            cancel = signer.sign(make_cancel(cmd, now_ms()), config.site, config.gateway_id, now_ms())
            cloud.publish(gw_topic(config, "cmd"), commands.encode(cancel))
            ended = await acks_until(cloud, "cancelled")
            await wait_until(lambda: now_ms() > not_before + 1_500, "the command's not-before to pass")
            relay = gw.stats()["relay"]
    finally:
        cloud.close()
        stop.set()
        await ticking
        await bus.close()
    assert [a["id"] for a in held + ended] == ["c-mb"] * len(held + ended)
    assert relay["cancels_relayed"] == 1 and farm.opened == []
