"""Run a real firmware node core as an MQTT node against a real broker.

The runner plays the board loop's part (firmware/main.py's run_mqtt): it
owns the clock and the MQTT connection (aiomqtt here, umqtt on a board) and
ticks the core whether or not the broker is reachable. Everything the core
produces (reports for .../up, JSON or binary, and acknowledgements for
.../ack) goes first into the node's flash ring, the firmware's own `Outbox`
(here a file in `state_dir`); a publisher takes the oldest message, publishes
it at QoS 1 and removes it only when the PUBACK is back. During a broker
outage the ring fills and then drains in order when the link returns.
Online/offline status is published retained, with a last will. Commands
arriving on .../cmd go to the core's on_command().
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiomqtt

from furrow.edge import commands, payload, topics
from furrow.edge.position import POSITION_MAGIC
from furrow.firmware.outbox import Outbox

log = logging.getLogger("furrow.hil.node")

PUBLISH_TIMEOUT_S = 10.0
CONNECT_TIMEOUT_S = 5.0


def wall_clock_ms() -> int:
    return int(time.time() * 1000)


class MqttNodeRunner:
    """Drive one node core over MQTT until `stop` is set.

    `on_tick(now_ms)` runs before each core tick (the demo advances the
    virtual farm and the flow meters there). The outbox keeps `outbox_slots`
    messages in `state_dir` (a temporary directory when None). A core whose
    tick gives bytes (a tracker's position messages) has them published as
    they are.
    """

    def __init__(self, core: Any, site: str, host: str, port: int, *, root: str = topics.ROOT,
                 encoding: str = "json", tick_s: float = 0.1, clock_ms: Callable[[], int] = wall_clock_ms,
                 on_tick: Callable[[int], None] | None = None, state_dir: Path | None = None,
                 outbox_slots: int = 256) -> None:
        if encoding not in ("json", "binary"):
            raise ValueError(f"encoding must be 'json' or 'binary', not {encoding!r}")
        self.core, self.site, self.host, self.port = core, site, host, port
        self.root, self.encoding, self.tick_s = root, encoding, tick_s
        self.clock_ms, self.on_tick = clock_ms, on_tick
        self.node_id: str = core.node_id
        if state_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix=f"furrow-{self.node_id}-")
            state_dir = Path(self._tmp.name)
        state_dir.mkdir(parents=True, exist_ok=True)
        self.outbox = Outbox(str(state_dir / f"{self.node_id}.outbox"), slots=outbox_slots, slot_size=2048)
        self.reports_made = 0
        self.reports_sent = 0
        self.readings_sent = 0
        self.acks_sent = 0
        self.commands_received = 0
        self.connected = False
        self._is_irrigation = hasattr(core, "on_command")
        self._wake = asyncio.Event()

    def _topic(self, leaf: str) -> str:
        return topics.node_topic(self.site, self.node_id, leaf, root=self.root)

    def _encode(self, up: dict) -> bytes:
        return payload.encode_binary(up) if self.encoding == "binary" else payload.encode_json(up)

    def core_fw(self) -> str:
        last = self.core.last
        return last["fw"] if last else "0.1.0"

    def _post(self, topic: str, data: bytes) -> None:
        self.outbox.append(topic, data)
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Tick the core and keep the link up until `stop`."""
        link = asyncio.create_task(self._link_loop(stop), name=f"{self.node_id}-link")
        try:
            await self._tick_loop(stop)
        finally:
            self._wake.set()
            await link

    async def _tick_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            now = self.clock_ms()
            if self.on_tick:
                self.on_tick(now)
            if self._is_irrigation:
                if self.connected:
                    self.core.on_heartbeat(now)  # a connected broker answers our pings
                acks, ups = self.core.tick(now)
                for ack in acks:
                    self._post(self._topic("ack"), commands.encode(ack))
                    log.info("%s ack %s %s%s", self.node_id, ack["id"], ack["state"],
                             f" ({ack['reason']})" if ack.get("reason") else "")
            else:
                ups = self.core.tick(now)
            for up in ups:
                self.reports_made += 1
                if isinstance(up, bytes):  # a message the core encoded itself (a tracker's positions)
                    self._post(self._topic("up"), up)
                    continue
                self._post(self._topic("up"), self._encode(up))
                log.info("%s -> seq %d, %d readings (%d waiting)", self.node_id, up["seq"], len(up["readings"]),
                         len(self.outbox))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.tick_s)

    async def _link_loop(self, stop: asyncio.Event) -> None:
        """Connect, drain the outbox and obey; reconnect with capped backoff."""
        delay = 0.5
        while not stop.is_set():
            try:
                await self._session(stop)
                delay = 0.5
            except aiomqtt.MqttError as e:
                log.warning("%s: broker %s:%d unavailable (%s); retrying in %.1f s (%d waiting)",
                            self.node_id, self.host, self.port, e, delay, len(self.outbox))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
                delay = min(delay * 2, 5.0)
            finally:
                self.connected = False

    async def _session(self, stop: asyncio.Event) -> None:
        offline = commands.encode(commands.make_status(self.node_id, commands.STATUS_OFFLINE, self.clock_ms()))
        will = aiomqtt.Will(self._topic("status"), offline, qos=1, retain=True)
        async with aiomqtt.Client(self.host, self.port, identifier=f"furrow-node-{self.node_id}",
                                  will=will, clean_session=False, timeout=CONNECT_TIMEOUT_S) as client:
            online = commands.make_status(self.node_id, commands.STATUS_ONLINE, self.clock_ms(), fw=self.core_fw(),
                                          fault=getattr(self.core, "fault", None))
            await client.publish(self._topic("status"), commands.encode(online), qos=1, retain=True,
                                 timeout=PUBLISH_TIMEOUT_S)
            listener = None
            if self._is_irrigation:
                await client.subscribe(self._topic("cmd"), qos=1)
                listener = asyncio.create_task(self._command_loop(client), name=f"{self.node_id}-cmd")
            self.connected = True
            try:
                await self._drain(client, stop, listener)
            finally:
                if listener is not None:
                    listener.cancel()
                    with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                        await listener
            await client.publish(self._topic("status"), offline, qos=1, retain=True, timeout=PUBLISH_TIMEOUT_S)

    async def _drain(self, client: aiomqtt.Client, stop: asyncio.Event, listener: asyncio.Task | None) -> None:
        """Publish the oldest message, remove it after its PUBACK; at `stop`
        flush what is left, then return."""
        while True:
            if listener is not None and listener.done() and listener.exception() is not None:
                raise listener.exception()  # type: ignore[misc]
            message = self.outbox.peek()
            if message is None:
                if stop.is_set():
                    return
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.tick_s)
                continue
            topic, data = message
            await client.publish(topic, data, qos=1, timeout=PUBLISH_TIMEOUT_S)  # returns after the PUBACK
            self.outbox.pop()
            if topic.endswith("/" + topics.NODE_UP):
                self.reports_sent += 1
                if data[:1] != bytes((POSITION_MAGIC,)):
                    self.readings_sent += len(payload.decode(data)["readings"])
            else:
                self.acks_sent += 1
            if self._is_irrigation:
                self.core.on_heartbeat(self.clock_ms())  # the broker runs on the gateway

    async def _command_loop(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            self.commands_received += 1
            raw = bytes(message.payload) if isinstance(message.payload, bytes | bytearray) else b""
            for ack in self.core.on_command(raw, self.clock_ms()):
                self._post(self._topic("ack"), commands.encode(ack))
