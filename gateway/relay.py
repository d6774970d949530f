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
for the cloud in the durable buffer's outbox (an MQTT ack is committed with
the message that carried it, before its PUBACK to the node) and leave it
only after the cloud broker's PUBACK; without an outbox (tests) they wait in
a bounded in-memory queue.

The relay refuses a command that has already expired when it arrives (the
node would refuse it too, later): it answers the cloud with a ``rejected``
ack itself. It keeps the last state of recent commands (``commands()``),
moved on by its own actions and by the node acks it relays.

A message on ``gw/{gateway}/cmd`` carrying ``plan_id`` is a plan, not a
command: it goes to the `PlanKeeper` (see autonomy.py).

With trusted cloud keys (`CommandAuth`, command_auth.py) a command must also
be signed for this gateway and never seen before; a plan is kept only when
its envelope and every command in it are signed (a refused plan is counted
in ``plans_refused`` and the plan kept before stays). Command refusals are
answered like an expired command (a ``rejected`` ack naming the reason) and
counted by kind; an authentication refusal (unsigned, unknown key, bad
signature, wrong gateway) records nothing about the id it names.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol

import aiomqtt

from furrow.edge.commands import ACK_REJECTED, decode_command, encode, make_ack, validate_command
from furrow.edge.errors import ContractError
from furrow.edge.signing import REFUSED_EXPIRED
from furrow.edge.topics import GW_ACK, GW_CMD, NODE_CMD, gateway_topic, node_topic

from .buffer import now_ms
from .command_auth import CommandAuth, Refusal
from .config import GatewayConfig

log = logging.getLogger(__name__)

ACK_QUEUE_MAX = 10_000
COMMANDS_KEPT = 1_000

class AckOutbox(Protocol):
    """Where acks wait for the cloud, durably (DurableBuffer)."""

    def put_acks(self, raws: Iterable[bytes]) -> None: ...
    def next_acks(self, limit: int = 100) -> list[tuple[int, bytes]]: ...
    def acks_sent(self, ids: Iterable[int]) -> None: ...
    def ack_count(self) -> int: ...


FarmPublish = Callable[[str, bytes, float], Awaitable[bool]]
"""Publish QoS 1 on the farm broker; True once the broker acknowledged it."""


class CommandRelay:
    """Cloud stage relaying commands down and node acks up."""

    name = "relay"

    def __init__(
        self,
        config: GatewayConfig,
        farm_publish: FarmPublish,
        on_plan: Callable[[dict[str, Any]], None] | None = None,
        outbox: AckOutbox | None = None,
        auth: CommandAuth | None = None,
    ) -> None:
        self._outbox = outbox
        self.auth = auth if auth is not None and auth.enabled else None
        self._config = config
        self._farm_publish = farm_publish
        self._on_plan = on_plan
        self._commands: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._modbus_nodes: set[str] = set()
        self._modbus_write: Callable[[dict[str, Any]], Awaitable[None]] | None = None
        self.cmd_topic = gateway_topic(config.site, config.gateway_id, GW_CMD, config.topic_root)
        self.ack_topic = gateway_topic(config.site, config.gateway_id, GW_ACK, config.topic_root)
        self._acks: deque[bytes] = deque()
        self._acks_ready = asyncio.Event()
        self.counts = {
            "commands_relayed": 0,
            "commands_unconfirmed": 0,
            "commands_invalid": 0,
            "commands_expired": 0,
            "plans": 0,
            "plans_refused": 0,
            "acks_relayed": 0,
            "acks_dropped": 0,
        }
        self.refused: dict[str, int] = {}  # signed-command refusals by kind (signing.REFUSED_*)
        self.last_invalid: str | None = None
        self.subscribed = False  # SUBACK received on the current cloud connection

    def node_ack(self, ack: dict[str, Any], raw: bytes, stored: bool = False) -> None:
        """Queue a validated node ack for the cloud (`stored`: it is already
        in the outbox, committed with the message that carried it). Call in
        the event loop."""
        self._track(ack["id"], ack["node"], ack["state"])
        if stored:
            self._acks_ready.set()
        else:
            self._queue_ack(raw)

    def _track(self, cmd_id: str, node: str, state: str) -> None:
        entry = self._commands.pop(cmd_id, None) or {"id": cmd_id, "node": node, "history": []}
        entry["state"] = state
        entry["history"] = [*entry["history"], state][-10:]
        entry["updated_ms"] = now_ms()
        self._commands[cmd_id] = entry
        while len(self._commands) > COMMANDS_KEPT:
            self._commands.popitem(last=False)

    def commands(self) -> dict[str, dict[str, Any]]:
        """The last state (and short history) of recent commands, by id."""
        return {k: dict(v) for k, v in self._commands.items()}

    def _queue_ack(self, raw: bytes) -> None:
        if self._outbox is not None:
            self._outbox.put_acks([raw])  # rare (gateway rejections, Modbus acks): one small commit
            self._acks_ready.set()
            return
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
        if self._on_plan is not None and b'"plan_id"' in raw:
            return self._plan(raw)
        try:
            cmd = decode_command(raw)
        except ContractError as e:
            self.counts["commands_invalid"] += 1
            self.last_invalid = str(e)
            log.warning("invalid command on %s not relayed: %s", self.cmd_topic, e)
            return False
        now = now_ms()
        if self.auth is not None:
            try:
                self.auth.verify(cmd)
            except Refusal as e:
                # This copy is not the cloud's: its id is not recorded (here or in the
                # replay store), so a forgery reusing a real id cannot block the real
                # command; the cloud counts the refusal and leaves the command alone.
                self._refuse(cmd, e, now, track=False)
                return False
        try:
            if cmd["expires_ms"] <= now:
                self.counts["commands_expired"] += 1
                raise Refusal(REFUSED_EXPIRED, "before the gateway could deliver it "
                              f"(expires_ms {cmd['expires_ms']}, now {now})")
            if self.auth is not None:
                self.auth.claim(cmd, now)  # durable before the command goes on
        except Refusal as e:
            self._refuse(cmd, e, now, track=True)
            return False
        return await self._send(cmd, raw)

    def _refuse(self, cmd: dict[str, Any], e: Refusal, now: int, track: bool) -> None:
        # Refused here, and said so: the cloud must not wait for a node that
        # will never act on it.
        self.refused[e.kind] = self.refused.get(e.kind, 0) + 1
        if track:
            self._track(cmd["id"], cmd["node"], ACK_REJECTED)
        self._queue_ack(encode(make_ack(cmd["id"], cmd["node"], ACK_REJECTED, now, reason=e.reason)))
        log.warning("command %s to %s refused: %s", cmd["id"], cmd["node"], e.reason)

    def use_modbus(self, nodes: set[str], write: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
        """Commands for `nodes` go into their Modbus mailbox through `write`."""
        self._modbus_nodes, self._modbus_write = set(nodes), write

    async def deliver(self, cmd: dict[str, Any], raw: bytes) -> bool:
        """Deliver a plan's command (verified when the plan came) unless its id
        already went through the relay, even before a restart; True once it went."""
        if self.auth is not None and self.auth.seen is not None:
            # Claimed before it goes on: the cloud's own copy of it is then a replay.
            if not self.auth.seen.claim(cmd["id"], cmd["expires_ms"], now_ms()):
                log.info("plan command %s to %s was already relayed: not sent again", cmd["id"], cmd["node"])
                return True
        return await self._send(cmd, raw)

    async def _send(self, cmd: dict[str, Any], raw: bytes) -> bool:
        """Send a valid command to its node: over Modbus for a node with a
        command mailbox, else published on the farm broker."""
        if cmd["id"] not in self._commands:
            self._track(cmd["id"], cmd["node"], "relayed")
        if cmd["node"] in self._modbus_nodes:
            return await self._deliver_modbus(cmd)
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

    async def _deliver_modbus(self, cmd: dict[str, Any]) -> bool:
        assert self._modbus_write is not None
        try:
            await self._modbus_write(cmd)
        except ContractError as e:  # e.g. an id too long for the mailbox
            now = now_ms()
            self._track(cmd["id"], cmd["node"], ACK_REJECTED)
            reason = f"cannot go over Modbus: {e}"[:200]
            self._queue_ack(encode(make_ack(cmd["id"], cmd["node"], ACK_REJECTED, now, reason=reason)))
            return False
        except Exception as e:  # the device did not take it; the cloud re-sends
            if self.auth is not None and self.auth.seen is not None:
                self.auth.seen.release(cmd["id"])  # so the re-send is not taken for a replay
            self.counts["commands_unconfirmed"] += 1
            log.warning("command %s not written to %s: %s", cmd["id"], cmd["node"], e)
            return False
        self.counts["commands_relayed"] += 1
        return True

    def _plan(self, raw: bytes) -> bool:
        try:
            plan = json.loads(raw)
        except (ValueError, RecursionError) as e:  # RecursionError: JSON nested deeper than Python goes
            self.counts["commands_invalid"] += 1
            self.last_invalid = f"plan: not valid JSON: {str(e)[:200]}"
            log.warning("plan on %s not kept: not valid JSON", self.cmd_topic)
            return False
        assert self._on_plan is not None
        try:
            if self.auth is not None:
                self.auth.verify_plan(plan)  # the envelope: id, times, gateway, command ids
                self._verify_plan(plan)
            self._on_plan(plan)
        except ContractError as e:
            self.counts["commands_invalid"] += 1
            self.last_invalid = str(e)
            log.warning("invalid plan not kept: %s", e)
            return False
        except Refusal as e:
            # Not the cloud's plan (or not all of it): the plan kept before stays.
            self.counts["plans_refused"] += 1
            self.last_invalid = f"plan refused: {e.reason}"
            log.warning("plan %r refused, the plan kept before stays: %s",
                        plan.get("plan_id") if isinstance(plan, dict) else None, e.reason)
            return False
        self.counts["plans"] += 1
        return True

    def _verify_plan(self, plan: Any) -> None:
        """Every command of a plan must be signed for this gateway (ContractError naming it,
        Refusal for the first that is not)."""
        assert self.auth is not None
        cmds = plan.get("commands") if isinstance(plan, dict) else None
        for i, c in enumerate(cmds if isinstance(cmds, list) else []):
            try:
                self.auth.verify(validate_command(c))
            except ContractError as e:
                raise ContractError(f"commands.{i}.{e.field}", e.value, e.reason) from None
            except Refusal as e:
                raise Refusal(e.kind, f"commands.{i} ({c.get('id')}): {e.reason[len(e.kind) + 2:]}") from None

    def seen(self, cmd_id: str) -> bool:
        """True if this command id already went through the relay."""
        return cmd_id in self._commands

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
                    self.counts["acks_relayed"] += 1
            return
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
            "acks_queued": self._outbox.ack_count() if self._outbox is not None else len(self._acks),
            "last_invalid": self.last_invalid,
            "commands_refused": dict(self.refused),
            "commands_signed": self.auth is not None,
        }
