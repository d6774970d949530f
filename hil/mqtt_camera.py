"""Run a real camera node core (firmware/camera_node.py) as an MQTT node against a real broker.

The runner plays the board loop's part for a camera: it owns the clock and
the connection (aiomqtt here, umqtt on a board), ticks the core (which takes
the photos, into its flash image store), publishes the chunks the core
offers at QoS 1 on ``node/{node}/image``, one at a time, telling the core
``sent()`` once each PUBACK is in, and hands every message on
``node/{node}/image_ack`` to ``on_image_ack``. A broken connection is
``link_lost()`` and a reconnect with capped backoff; the session is
persistent, so answers the gateway sent meanwhile wait at the broker.

At `stop` it takes no more photos and goes on sending until the flash is
empty (every photo answered ``stored`` or ``refused``) or `drain_s` has
passed, as a technician waits for the last photo before unplugging it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

import aiomqtt

from furrow.edge import topics

from .mqtt_node import CONNECT_TIMEOUT_S, PUBLISH_TIMEOUT_S, wall_clock_ms

log = logging.getLogger("furrow.hil.camera")


class MqttCameraRunner:
    """Drive one `CameraNode` over MQTT until `stop` (see the module docstring)."""

    def __init__(self, core: Any, site: str, host: str, port: int, *, root: str = topics.ROOT,
                 tick_s: float = 0.05, clock_ms: Callable[[], int] = wall_clock_ms, drain_s: float = 60.0) -> None:
        self.core, self.site, self.host, self.port = core, site, host, port
        self.root, self.tick_s, self.clock_ms, self.drain_s = root, tick_s, clock_ms, drain_s
        self.node_id: str = core.node_id
        self.connected = False
        self.connects = 0
        self.chunks_published = 0
        self._wake = asyncio.Event()

    def _topic(self, leaf: str) -> str:
        return topics.node_topic(self.site, self.node_id, leaf, root=self.root)

    @property
    def holding(self) -> int:
        """Photos still in the node's flash, waiting for the gateway's "stored"."""
        return len(self.core.store)

    async def run(self, stop: asyncio.Event) -> None:
        """Take photos until `stop`; deliver them until the flash is empty (bounded by `drain_s`)."""
        done = asyncio.Event()
        link = asyncio.create_task(self._link_loop(done), name=f"{self.node_id}-link")
        try:
            while not stop.is_set():
                self.core.tick(self.clock_ms())
                self._wake.set()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.tick_s)
            deadline = time.monotonic() + self.drain_s
            while self.holding and time.monotonic() < deadline and not link.done():
                await asyncio.sleep(self.tick_s)
        finally:
            done.set()
            self._wake.set()
            await link

    async def _link_loop(self, done: asyncio.Event) -> None:
        delay = 0.5
        while not done.is_set():
            try:
                await self._session(done)
                delay = 0.5
            except aiomqtt.MqttError as e:
                self.core.link_lost()
                log.warning("%s: broker %s:%d unavailable (%s); retrying in %.1f s (%d photos waiting)",
                            self.node_id, self.host, self.port, e, delay, self.holding)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(done.wait(), delay)
                delay = min(delay * 2, 5.0)
            finally:
                self.connected = False

    async def _session(self, done: asyncio.Event) -> None:
        async with aiomqtt.Client(self.host, self.port, identifier=f"furrow-node-{self.node_id}",
                                  clean_session=False, timeout=CONNECT_TIMEOUT_S) as client:
            await client.subscribe(self._topic(topics.NODE_IMAGE_ACK), qos=1)
            self.connected = True
            self.connects += 1
            answers = asyncio.create_task(self._answers(client), name=f"{self.node_id}-image-acks")
            try:
                await self._send(client, done, answers)
            finally:
                answers.cancel()
                with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                    await answers

    async def _send(self, client: aiomqtt.Client, done: asyncio.Event, answers: asyncio.Task[None]) -> None:
        """Publish the chunk the core offers, tell it once the PUBACK is back; idle until woken."""
        topic = self._topic(topics.NODE_IMAGE)
        while not done.is_set():
            if answers.done():
                answers.result()  # the connection broke under the listener: raise its MqttError
                raise aiomqtt.MqttError("the image-ack listener ended")
            chunk = self.core.next_chunk(self.clock_ms())
            if chunk is None:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.tick_s)
                continue
            await client.publish(topic, bytes(chunk), qos=1, timeout=PUBLISH_TIMEOUT_S)  # returns after the PUBACK
            self.core.sent(self.clock_ms())
            self.chunks_published += 1

    async def _answers(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            payload = message.payload if isinstance(message.payload, bytes | bytearray) else b""
            self.core.on_image_ack(bytes(payload), self.clock_ms())
            self._wake.set()
