"""The command relay: irrigation commands down to the nodes, their acks back up.

Down: the cloud publishes on ``gw/{gateway}/cmd``; each command is validated
with furrow.edge (an invalid one is counted and logged with its reason, never
relayed) and published, bytes unchanged, QoS 1 to ``node/{node}/cmd`` on the
farm broker. Up: acks the nodes publish on ``node/{node}/ack`` (received by
the MQTT source) go out unchanged on ``gw/{gateway}/ack``.

The relay runs on the cloud link's connection (one cloud session, one last
will) rather than a second client. Commands are relayed at most once here:
aiomqtt acknowledges the cloud's message on arrival. That is safe because a
command carries an id, a not-before and an expiry: the cloud re-sends until
it sees an ack, and the controller refuses a repeat or a late one. Acks wait
in memory (bounded) while the cloud is unreachable; they are not written to
the durable buffer in this version.

Not here yet: the gateway-to-node heartbeat that lets valves close when the
gateway disappears, and offline autonomy with the last plan.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import aiomqtt

from furrow.edge.commands import decode_command
from furrow.edge.errors import ContractError
from furrow.edge.topics import GW_ACK, GW_CMD, NODE_CMD, gateway_topic, node_topic

from .config import GatewayConfig

log = logging.getLogger(__name__)

ACK_QUEUE_MAX = 10_000

FarmPublish = Callable[[str, bytes, float], Awaitable[bool]]
"""Publish QoS 1 on the farm broker; True once the broker acknowledged it."""


class CommandRelay:
    """Cloud stage relaying commands down and node acks up."""

    name = "relay"

    def __init__(self, config: GatewayConfig, farm_publish: FarmPublish) -> None:
        self._config = config
        self._farm_publish = farm_publish
        self.cmd_topic = gateway_topic(config.site, config.gateway_id, GW_CMD, config.topic_root)
        self.ack_topic = gateway_topic(config.site, config.gateway_id, GW_ACK, config.topic_root)
        self._acks: deque[bytes] = deque()
        self._acks_ready = asyncio.Event()
        self.counts = {
            "commands_relayed": 0,
            "commands_unconfirmed": 0,
            "commands_invalid": 0,
            "acks_relayed": 0,
            "acks_dropped": 0,
        }
        self.last_invalid: str | None = None
        self.subscribed = False  # SUBACK received on the current cloud connection

    def node_ack(self, ack: dict[str, Any], raw: bytes) -> None:
        """Queue a validated node ack for the cloud. Call in the event loop."""
        if len(self._acks) >= ACK_QUEUE_MAX:
            # Oldest first out: a newer ack of the same command supersedes it.
            self._acks.popleft()
            self.counts["acks_dropped"] += 1
        self._acks.append(raw)
        self._acks_ready.set()

    async def session(self, client: aiomqtt.Client) -> None:
        await client.subscribe(self.cmd_topic, qos=1)
        self.subscribed = True
        try:
            await self._run(client)
        finally:
            self.subscribed = False

    async def _run(self, client: aiomqtt.Client) -> None:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._downlink(client), name="relay commands")
            tg.create_task(self._uplink(client), name="relay acks")

    async def close(self, client: aiomqtt.Client) -> None:
        """Send the acks still queued before the link closes."""
        await self._send_acks(client)

    async def _downlink(self, client: aiomqtt.Client) -> None:
        # The relay is the only subscriber on this connection, so every
        # message is a command for this gateway.
        async for message in client.messages:
            payload = message.payload
            raw = payload if isinstance(payload, bytes) else str(payload).encode()
            await self.relay_command(raw)

    async def relay_command(self, raw: bytes) -> bool:
        """Validate one command and publish it to its node; True if the farm
        broker acknowledged it."""
        try:
            cmd = decode_command(raw)
        except ContractError as e:
            self.counts["commands_invalid"] += 1
            self.last_invalid = str(e)
            log.warning("invalid command on %s not relayed: %s", self.cmd_topic, e)
            return False
        topic = node_topic(self._config.site, cmd["node"], NODE_CMD, self._config.topic_root)
        timeout = self._config.farm_broker.timeout.total_seconds()
        if await self._farm_publish(topic, raw, timeout):
            self.counts["commands_relayed"] += 1
            return True
        # paho keeps it queued and sends it when the farm broker is back; the
        # command's expiry makes a late delivery harmless.
        self.counts["commands_unconfirmed"] += 1
        log.warning("command %s to %s not confirmed by the farm broker", cmd["id"], cmd["node"])
        return False

    async def _uplink(self, client: aiomqtt.Client) -> None:
        while True:
            await self._send_acks(client)
            self._acks_ready.clear()
            if not self._acks:
                await self._acks_ready.wait()

    async def _send_acks(self, client: aiomqtt.Client) -> None:
        while self._acks:
            raw = self._acks.popleft()
            try:
                await client.publish(self.ack_topic, raw, qos=1)
            except BaseException:
                # No PUBACK: back to the front, to go again on the next link.
                self._acks.appendleft(raw)
                raise
            self.counts["acks_relayed"] += 1

    def stats(self) -> dict[str, Any]:
        return {
            **self.counts,
            "subscribed": self.subscribed,
            "acks_queued": len(self._acks),
            "last_invalid": self.last_invalid,
        }
