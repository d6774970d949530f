"""The forwarder: buffered readings to the cloud in batches, at least once.

A batch's rows leave the buffer only after the cloud broker's PUBACK for the
batch (aiomqtt's QoS 1 ``publish`` returns when the PUBACK arrives). A batch
whose PUBACK never came is sent again, under a new batch id, after the link
is back; the cloud stores each (node, seq) once, so a repeat costs bandwidth,
never a double reading.

Payloads are zlib-compressed when ``compress`` is on: the receiver tells a
compressed batch by its first byte, the zlib header 0x78 (JSON starts with
"{"). Readings the quota dropped are reported in the batch envelope
(``"dropped": {node: {"count", "min_seq", "max_seq"}}``, an additive key)
and forgotten only once a batch carrying them was acknowledged.

The same batches can go by HTTPS POST instead (`HttpsForwarder`): a 2xx
response is the acknowledgement; 503, 429 and network errors back off.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import zlib
from collections.abc import Awaitable, Callable
from typing import Any

import aiomqtt
import httpx

from furrow.clock import Clock, system_clock
from furrow.edge.batch import encode_batch, make_batch
from furrow.edge.topics import GW_BATCH, gateway_topic

from .buffer import DurableBuffer
from .cloud_link import backoff_delay
from .config import GatewayConfig, HttpsSinkConfig

log = logging.getLogger(__name__)


class Forwarder:
    """Cloud stage: drains the durable buffer into batches on the cloud topic."""

    name = "forwarder"

    def __init__(self, buffer: DurableBuffer, config: GatewayConfig, clock: Clock = system_clock) -> None:
        self._buffer = buffer
        self._clock = clock
        self._config = config
        self._gw = config.gateway_id
        self.topic = gateway_topic(config.site, config.gateway_id, GW_BATCH, config.topic_root)
        # Batch ids sort in sending order: process start time, then a counter,
        # both zero-padded. Unique across restarts unless the clock steps back.
        self._epoch_ms = clock()
        self._counter = 0
        self.counts = {"batches": 0, "items": 0, "bytes": 0, "buffer_errors": 0}
        self.last_batch_id: str | None = None

    def next_batch_id(self) -> str:
        self._counter += 1
        return f"{self._gw}-{self._epoch_ms:013d}-{self._counter:08d}"

    async def session(self, client: aiomqtt.Client) -> None:
        """Forward until cancelled; an MqttError means the link broke."""
        await self.run_sender(self._mqtt_sender(client))

    def _mqtt_sender(self, client: aiomqtt.Client) -> Callable[[bytes], Awaitable[None]]:
        async def send(payload: bytes) -> None:
            await client.publish(self.topic, payload, qos=1)

        return send

    async def run_sender(self, send: Callable[[bytes], Awaitable[None]]) -> None:
        interval = self._config.forward_interval.total_seconds()
        limit = self._config.forward_batch_size
        while True:
            sent = await self.forward_once(send)
            # A full batch means more is waiting: go again at once. Otherwise
            # wait a little so readings arriving one by one travel together.
            if sent < limit:
                await asyncio.sleep(interval)

    async def close(self, client: aiomqtt.Client) -> None:
        """Final flush at shutdown: send what is buffered while the link is up
        (the cloud link bounds how long this may take)."""
        send = self._mqtt_sender(client)
        while await self.forward_once(send):
            pass

    def encode(self, batch: dict[str, Any]) -> bytes:
        data = encode_batch(batch)
        return zlib.compress(data, 6) if self._config.compress else data

    async def forward_once(self, send: Callable[[bytes], Awaitable[None]] | aiomqtt.Client) -> int:
        """Send one batch (fresh readings first, then the oldest); returns how
        many readings went. `send` raises when the batch was not acknowledged."""
        if isinstance(send, aiomqtt.Client):
            send = self._mqtt_sender(send)
        now = self._clock()
        fresh_since = now - int(self._config.fresh_window.total_seconds() * 1000)
        try:
            rows = await asyncio.to_thread(self._buffer.next_batch, self._config.forward_batch_size, fresh_since)
            drops = await asyncio.to_thread(self._buffer.unreported_drops)
        except Exception as e:  # a disk error is logged and retried, never fatal
            self._buffer_error("read", e)
            return 0
        if not rows and not drops:
            return 0
        batch_id = self.next_batch_id()
        batch = make_batch(self._config.site, self._gw, batch_id, now, [item for _, item in rows])
        if drops:
            batch["dropped"] = drops
        payload = self.encode(batch)
        await send(payload)
        # Acknowledged: from here on these readings are the cloud's.
        try:
            await asyncio.to_thread(self._buffer.mark_forwarded, [rowid for rowid, _ in rows])
            if drops:
                await asyncio.to_thread(self._buffer.drops_reported, drops)
        except Exception as e:
            # They stay buffered and go again later: a duplicate, not a loss.
            self._buffer_error("mark", e)
            return 0
        self.counts["batches"] += 1
        self.counts["items"] += len(rows)
        self.counts["bytes"] += len(payload)
        self.last_batch_id = batch_id
        return len(rows)

    def _buffer_error(self, what: str, e: Exception) -> None:
        self.counts["buffer_errors"] += 1
        log.error("buffer %s failed: %s", what, e)

    def stats(self) -> dict[str, Any]:
        return {**self.counts, "last_batch_id": self.last_batch_id}


class SinkUnavailable(Exception):
    """The HTTPS sink refused or could not be reached; try again later."""


def sink_client(cfg: HttpsSinkConfig) -> httpx.AsyncClient:
    """An HTTP client for the cloud API: its TLS trust, client certificate and token."""
    verify: ssl.SSLContext = cfg.ssl_context()
    headers = {"content-type": "application/json"}
    if cfg.token:
        headers["authorization"] = f"Bearer {cfg.token}"
    return httpx.AsyncClient(timeout=cfg.timeout.total_seconds(), verify=verify, headers=headers)


class HttpsForwarder:
    """Batches by HTTPS POST (the cloud's /api/v1/ingest/batch), with capped,
    jittered backoff on 503, 429 and network errors. Shares batching, ids and
    the buffer bookkeeping with `Forwarder`."""

    def __init__(self, forwarder: Forwarder, config: GatewayConfig) -> None:
        assert config.https is not None
        self._fwd = forwarder
        self._cfg = config.https
        self.connected = False
        self.counts = {"posts": 0, "failures": 0}
        self.last_error: str | None = None

    def _client(self) -> httpx.AsyncClient:
        return sink_client(self._cfg)

    async def run(self, stop: asyncio.Event) -> None:
        """POST batches until `stop`; failures back off and retry, never end the loop."""
        self._attempt = 0
        async with self._client() as http:

            async def send(payload: bytes) -> None:
                headers = {"content-encoding": "deflate"} if payload[:1] == b"\x78" else {}
                try:
                    r = await http.post(self._cfg.url, content=payload, headers=headers)
                except httpx.HTTPError as e:
                    raise SinkUnavailable(f"{type(e).__name__}: {e}") from None
                self.counts["posts"] += 1
                if r.status_code in (429, 503) or r.status_code >= 500:
                    raise SinkUnavailable(f"HTTP {r.status_code}")
                if r.status_code >= 400:
                    # The envelope was refused: a bug on one side. Keep the
                    # readings (never drop silently) and retry slowly.
                    raise SinkUnavailable(f"HTTP {r.status_code}: {r.text[:200]}")
                self.connected = True
                self._attempt = 0

            while not stop.is_set():
                try:
                    await self._fwd.run_sender(send)
                except SinkUnavailable as e:
                    self.connected = False
                    self.counts["failures"] += 1
                    if self._attempt == 0:
                        log.warning("cloud HTTPS sink unavailable: %s", e)
                    self.last_error = str(e)
                    try:
                        await asyncio.wait_for(stop.wait(), backoff_delay(self._attempt))
                    except TimeoutError:
                        pass
                    self._attempt += 1

    def stats(self) -> dict[str, Any]:
        return {"connected": self.connected, **self.counts, "last_error": self.last_error}
