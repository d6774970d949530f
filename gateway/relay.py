"""The command relay: irrigation commands down to the nodes, their acks back up.

This is the I/O around `RelayCore` (relay_core.py, where every decision
is made: validation, signatures, replays, expiry, plans).

Down: the cloud publishes commands on ``gw/{gateway}/cmd`` and plans on
``gw/{gateway}/plan``. A command the core lets through is published, bytes
unchanged, QoS 1 to ``node/{node}/cmd`` on the farm broker, or, for an
irrigation node on RS-485, written into its Modbus command mailbox. Every
`PLAN_TICK_S` the kept plan's due commands go the same way. Up: acks the
nodes publish on ``node/{node}/ack`` (received by the MQTT source) or serve
in their Modbus ack block go out unchanged on ``gw/{gateway}/ack``, as do
the gateway's own refusals.

The relay runs on the cloud link's connection (one cloud session, one last
will) rather than a second client. Commands are relayed at most once here:
aiomqtt acknowledges the cloud's message on arrival. That is safe because a
command carries an id, a not-before and an expiry: the cloud re-sends until
it sees an ack, and the controller refuses a repeat or a late one. Acks wait
for the cloud in the durable buffer's outbox (an MQTT ack is committed with
the message that carried it, before its PUBACK to the node) and leave it
only after the cloud broker's PUBACK; without an outbox (tests) they wait in
a bounded in-memory queue.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol

import aiomqtt

from furrow.clock import Clock, system_clock
from furrow.edge.topics import GW_ACK, GW_CMD, GW_PLAN, NODE_CMD, gateway_topic, node_topic

from .autonomy import PLAN_TICK_S, PlanKeeper
from .command_auth import CommandAuth
from .config import GatewayConfig
from .relay_core import NodeCommand, Out, RelayCore, Tally

log = logging.getLogger(__name__)

ACK_QUEUE_MAX = 10_000


class AckOutbox(Protocol):
    """Where acks wait for the cloud, durably (DurableBuffer)."""

    def put_acks(self, raws: Iterable[bytes]) -> None: ...
    def next_acks(self, limit: int = 100) -> list[tuple[int, bytes]]: ...
    def acks_sent(self, ids: Iterable[int]) -> None: ...
    def ack_count(self) -> int: ...


FarmPublish = Callable[[str, bytes, float], Awaitable[bool]]
"""Publish QoS 1 on the farm broker; True once the broker acknowledged it."""
ModbusWrite = Callable[[dict[str, Any]], Awaitable[None]]
"""Write a validated command into its node's Modbus mailbox (ModbusPoller.write_command)."""


class CommandRelay:
    """Cloud stage relaying commands and plans down and node acks up."""

    name = "relay"

    def __init__(
        self,
        config: GatewayConfig,
        farm_publish: FarmPublish,
        *,
        plans: PlanKeeper | None = None,
        outbox: AckOutbox | None = None,
        auth: CommandAuth | None = None,
        tally: Tally | None = None,
        clock: Clock = system_clock,
    ) -> None:
        self.core = RelayCore(site=config.site, gateway_id=config.gateway_id, auth=auth, plans=plans, tally=tally)
        self._clock = clock
        self._outbox = outbox
        self._config = config
        self._farm_publish = farm_publish
        self._modbus_nodes: set[str] = set()
        self._modbus_write: ModbusWrite | None = None
        self.cmd_topic = gateway_topic(config.site, config.gateway_id, GW_CMD, config.topic_root)
        self.plan_topic = gateway_topic(config.site, config.gateway_id, GW_PLAN, config.topic_root)
        self.ack_topic = gateway_topic(config.site, config.gateway_id, GW_ACK, config.topic_root)
        self._acks: deque[bytes] = deque()
        self._acks_ready = asyncio.Event()
        self.ack_counts = {"acks_relayed": 0, "acks_dropped": 0}
        self.subscribed = False  # SUBACK received on the current cloud connection

    @property
    def auth(self) -> CommandAuth | None:
        return self.core.auth

    @property
    def counts(self) -> dict[str, int]:
        return {**self.core.counts, **self.ack_counts}

    @property
    def refused(self) -> dict[str, int]:
        return self.core.refused

    def commands(self) -> dict[str, dict[str, Any]]:
        """The last state (and short history) of recent commands, by id."""
        return self.core.commands()

    def use_modbus(self, nodes: set[str], write: ModbusWrite) -> None:
        """Commands for `nodes` go into their Modbus mailbox through `write`."""
        self._modbus_nodes, self._modbus_write = set(nodes), write

    # -- up -------------------------------------------------------------------------

    def node_ack(self, ack: dict[str, Any], raw: bytes, stored: bool = False) -> None:
        """Queue a validated node ack for the cloud (`stored`: it is already
        in the outbox, committed with the message that carried it). Call in
        the event loop."""
        self.core.node_ack(ack, self._clock())
        if stored:
            self._acks_ready.set()
        else:
            self._queue_acks([raw])

    def _queue_acks(self, raws: list[bytes]) -> None:
        if not raws:
            return
        if self._outbox is not None:
            self._outbox.put_acks(raws)  # rare (gateway rejections, Modbus acks): one small commit
            self._acks_ready.set()
            return
        for raw in raws:
            if len(self._acks) >= ACK_QUEUE_MAX:
                # Oldest first out: a newer ack of the same command supersedes it.
                self._acks.popleft()
                self.ack_counts["acks_dropped"] += 1
            self._acks.append(raw)
        self._acks_ready.set()

    # -- the cloud session ----------------------------------------------------------

    @property
    def topics(self) -> tuple[str, ...]:
        """What the cloud link hands the relay (`on_message`): its commands and plans."""
        return (self.cmd_topic, self.plan_topic)

    async def session(self, client: aiomqtt.Client) -> None:
        await client.subscribe([(self.cmd_topic, 1), (self.plan_topic, 1)])
        self.subscribed = True
        try:
            await self._uplink(client)
        finally:
            self.subscribed = False

    async def close(self, client: aiomqtt.Client) -> None:
        """Send the acks still queued before the link closes."""
        await self._send_acks(client)

    async def on_message(self, message: aiomqtt.Message) -> None:
        """A command or a plan from the cloud (the cloud link routes them here)."""
        payload = message.payload
        raw = payload if isinstance(payload, bytes) else str(payload).encode()
        if message.topic.matches(self.plan_topic):
            self.core.plan(raw, self._clock())
        else:
            await self.relay_command(raw)

    async def relay_command(self, raw: bytes) -> bool:
        """Handle one message from the command topic; True if a command went to its node."""
        return await self._carry(self.core.command(raw, self._clock()))

    async def run_plans(self) -> None:
        """Deliver the kept plan's due commands every PLAN_TICK_S, until cancelled."""
        while True:
            await self._carry(self.core.due(self._clock()))
            await asyncio.sleep(PLAN_TICK_S)

    async def _carry(self, out: Out) -> bool:
        """Send what the core decided: commands to their nodes, the gateway's own acks up."""
        self._queue_acks(out.to_cloud)
        went = False
        for nc in out.to_nodes:
            went = await self._deliver(nc) or went
        return went

    async def _deliver(self, nc: NodeCommand) -> bool:
        if nc.node in self._modbus_nodes:
            assert self._modbus_write is not None
            try:
                await self._modbus_write(nc.command)
            except Exception as e:  # the mailbox did not take it: the core says what follows
                self._queue_acks(self.core.not_taken(nc, e, self._clock()).to_cloud)
                return False
            self.core.sent(nc)
            return True
        topic = node_topic(self._config.site, nc.node, NODE_CMD, self._config.topic_root)
        if await self._farm_publish(topic, nc.raw, self._config.farm_broker.timeout.total_seconds()):
            self.core.sent(nc)
            return True
        self.core.unconfirmed(nc)
        return False

    async def _uplink(self, client: aiomqtt.Client) -> None:
        while True:
            # Cleared before draining: an ack queued meanwhile wakes us again.
            self._acks_ready.clear()
            await self._send_acks(client)
            await self._acks_ready.wait()

    async def _send_acks(self, client: aiomqtt.Client) -> None:
        if self._outbox is not None:
            while rows := await asyncio.to_thread(self._outbox.next_acks, 100):
                for ack_id, raw in rows:
                    await client.publish(self.ack_topic, raw, qos=1)
                    # PUBACK in: the cloud broker has it. A crash before the
                    # delete sends it again, which the cloud ignores.
                    await asyncio.to_thread(self._outbox.acks_sent, [ack_id])
                    self.ack_counts["acks_relayed"] += 1
            return
        while self._acks:
            raw = self._acks.popleft()
            try:
                await client.publish(self.ack_topic, raw, qos=1)
            except BaseException:
                # No PUBACK: back to the front, to go again on the next link.
                self._acks.appendleft(raw)
                raise
            self.ack_counts["acks_relayed"] += 1

    def stats(self) -> dict[str, Any]:
        return {
            **self.core.stats(),
            **self.ack_counts,
            "subscribed": self.subscribed,
            "acks_queued": self._outbox.ack_count() if self._outbox is not None else len(self._acks),
        }
