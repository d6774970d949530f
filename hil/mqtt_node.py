"""Run a real firmware node core as an MQTT node against a real broker.

The runner plays the board loop's part: it owns the clock and the MQTT
connection (aiomqtt here, umqtt on a board), calls the core's tick(), and
publishes what the core returns: reports on .../up (JSON or binary),
acknowledgements on .../ack, and online/offline status with a last will.
Commands arriving on .../cmd go to the core's on_command().
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

import aiomqtt

from furrow.edge import commands, payload, topics

log = logging.getLogger("furrow.hil.node")


def wall_clock_ms() -> int:
    return int(time.time() * 1000)


class MqttNodeRunner:
    """Drive one node core over MQTT until `stop` is set.

    `on_tick(now_ms)` runs before each core tick (the demo advances the
    virtual farm and the flow meters there).
    """

    def __init__(self, core: Any, site: str, host: str, port: int, *, root: str = topics.ROOT,
                 encoding: str = "json", tick_s: float = 0.1, clock_ms: Callable[[], int] = wall_clock_ms,
                 on_tick: Callable[[int], None] | None = None) -> None:
        if encoding not in ("json", "binary"):
            raise ValueError(f"encoding must be 'json' or 'binary', not {encoding!r}")
        self.core, self.site, self.host, self.port = core, site, host, port
        self.root, self.encoding, self.tick_s = root, encoding, tick_s
        self.clock_ms, self.on_tick = clock_ms, on_tick
        self.node_id: str = core.node_id
        self.reports_sent = 0
        self.readings_sent = 0
        self.acks_sent = 0
        self.commands_received = 0
        self._is_irrigation = hasattr(core, "on_command")

    def _topic(self, leaf: str) -> str:
        return topics.node_topic(self.site, self.node_id, leaf, root=self.root)

    def _encode(self, up: dict) -> bytes:
        return payload.encode_binary(up) if self.encoding == "binary" else payload.encode_json(up)

    async def run(self, stop: asyncio.Event) -> None:
        """Connect, report and obey until `stop`; reconnects after broker loss."""
        delay = 0.5
        while not stop.is_set():
            try:
                await self._session(stop)
                delay = 0.5
            except aiomqtt.MqttError as e:
                log.warning("%s: broker %s:%d unavailable (%s); retrying in %.1f s",
                            self.node_id, self.host, self.port, e, delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
                delay = min(delay * 2, 10.0)

    async def _session(self, stop: asyncio.Event) -> None:
        offline = commands.encode(commands.make_status(self.node_id, commands.STATUS_OFFLINE, self.clock_ms()))
        will = aiomqtt.Will(self._topic("status"), offline, qos=1, retain=True)
        async with aiomqtt.Client(self.host, self.port, identifier=f"furrow-node-{self.node_id}",
                                  will=will, clean_session=False) as client:
            online = commands.make_status(self.node_id, commands.STATUS_ONLINE, self.clock_ms(), fw=self.core_fw())
            await client.publish(self._topic("status"), commands.encode(online), qos=1, retain=True)
            if self._is_irrigation:
                await client.subscribe(self._topic("cmd"), qos=1)
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._tick_loop(client, stop), name=f"{self.node_id}-tick")
                if self._is_irrigation:
                    listener = tg.create_task(self._command_loop(client), name=f"{self.node_id}-cmd")
                    await stop.wait()
                    listener.cancel()
            await client.publish(self._topic("status"), offline, qos=1, retain=True)

    def core_fw(self) -> str:
        last = self.core.last
        return last["fw"] if last else "0.1.0"

    async def _tick_loop(self, client: aiomqtt.Client, stop: asyncio.Event) -> None:
        while not stop.is_set():
            now = self.clock_ms()
            if self.on_tick:
                self.on_tick(now)
            if self._is_irrigation:
                self.core.on_heartbeat(now)  # a connected broker answers our pings
                acks, ups = self.core.tick(now)
                await self._send_acks(client, acks)
            else:
                ups = self.core.tick(now)
            for up in ups:
                await client.publish(self._topic("up"), self._encode(up), qos=1)
                self.reports_sent += 1
                self.readings_sent += len(up["readings"])
                log.info("%s -> seq %d, %d readings", self.node_id, up["seq"], len(up["readings"]))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.tick_s)

    async def _command_loop(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            self.commands_received += 1
            raw = bytes(message.payload) if isinstance(message.payload, bytes | bytearray) else b""
            acks = self.core.on_command(raw, self.clock_ms())
            await self._send_acks(client, acks)

    async def _send_acks(self, client: aiomqtt.Client, acks: list[dict]) -> None:
        for ack in acks:
            await client.publish(self._topic("ack"), commands.encode(ack), qos=1)
            self.acks_sent += 1
            log.info("%s ack %s %s%s", self.node_id, ack["id"], ack["state"],
                     f" ({ack['reason']})" if ack.get("reason") else "")
