"""The forwarder: buffered readings to the cloud in batches, at least once.

A batch's rows leave the buffer only after the cloud broker's PUBACK for the
batch (aiomqtt's QoS 1 ``publish`` returns when the PUBACK arrives). A batch
whose PUBACK never came is sent again, under a new batch id, after the link
is back; the cloud stores each (node, seq) once, so a repeat costs bandwidth,
never a double reading.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiomqtt

from furrow.edge.batch import encode_batch, make_batch
from furrow.edge.topics import GW_BATCH, gateway_topic

from .buffer import DurableBuffer, now_ms
from .config import GatewayConfig

log = logging.getLogger(__name__)


class Forwarder:
    """Cloud stage: drains the durable buffer into batches on the cloud topic."""

    name = "forwarder"

    def __init__(self, buffer: DurableBuffer, config: GatewayConfig) -> None:
        self._buffer = buffer
        self._config = config
        self._gw = config.gateway_id
        self.topic = gateway_topic(config.site, config.gateway_id, GW_BATCH, config.topic_root)
        # Batch ids sort in sending order: process start time, then a counter,
        # both zero-padded. Unique across restarts unless the clock steps back.
        self._epoch_ms = now_ms()
        self._counter = 0
        self.counts = {"batches": 0, "items": 0, "buffer_errors": 0}
        self.last_batch_id: str | None = None

    def next_batch_id(self) -> str:
        self._counter += 1
        return f"{self._gw}-{self._epoch_ms:013d}-{self._counter:08d}"

    async def session(self, client: aiomqtt.Client) -> None:
        """Forward until cancelled; an MqttError means the link broke."""
        interval = self._config.forward_interval.total_seconds()
        limit = self._config.forward_batch_size
        while True:
            sent = await self.forward_once(client)
            # A full batch means more is waiting: go again at once. Otherwise
            # wait a little so readings arriving one by one travel together.
            if sent < limit:
                await asyncio.sleep(interval)

    async def close(self, client: aiomqtt.Client) -> None:
        """Final flush at shutdown: send what is buffered while the link is up
        (the cloud link bounds how long this may take)."""
        while await self.forward_once(client):
            pass

    async def forward_once(self, client: aiomqtt.Client) -> int:
        """Send one batch of the oldest buffered readings; returns how many."""
        try:
            rows = await asyncio.to_thread(self._buffer.next_batch, self._config.forward_batch_size)
        except Exception as e:  # a disk error is logged and retried, never fatal
            self._buffer_error("read", e)
            return 0
        if not rows:
            return 0
        batch_id = self.next_batch_id()
        batch = make_batch(self._config.site, self._gw, batch_id, now_ms(), [item for _, item in rows])
        await client.publish(self.topic, encode_batch(batch), qos=1)
        # The PUBACK is in: from here on these readings are the cloud's.
        try:
            await asyncio.to_thread(self._buffer.mark_forwarded, [rowid for rowid, _ in rows])
        except Exception as e:
            # They stay buffered and go again later: a duplicate, not a loss.
            self._buffer_error("mark", e)
            return 0
        self.counts["batches"] += 1
        self.counts["items"] += len(rows)
        self.last_batch_id = batch_id
        return len(rows)

    def _buffer_error(self, what: str, e: Exception) -> None:
        self.counts["buffer_errors"] += 1
        log.error("buffer %s failed: %s", what, e)

    def stats(self) -> dict[str, Any]:
        return {**self.counts, "last_batch_id": self.last_batch_id}
