"""Whole images from the gateway's image store to the cloud, each leaving the store only at the cloud's receipt.

Chunks come in on the farm connection (mqtt_source.py hands them to the `ImageStore`); this is the way
out. `ImageForwarder` sends the oldest complete images while the readings buffer holds less than one
batch (readings go first) and waits for their receipts (edge/image_forward.py): on MQTT up to
`image_window` at once (the receipts' round trips overlap; the cloud keeps each image once whatever
the order), over HTTPS one at a time (the answer is the receipt):

* ``stored``: the cloud has the image and its metadata: it leaves the store;
* ``refused`` (with a reason): sending it again would not help: quarantined with the cloud's reason;
* no receipt within `receipt_wait`: it goes again (the cloud keeps each image once).

Two ways to the cloud, as for readings:

* MQTT: a stage of the cloud link (cloud_link.py), on the gateway's one cloud connection: the image
  on ``gw/{gateway}/image`` (QoS 1), the receipt on ``gw/{gateway}/image_receipt``;
* HTTPS (``forward_via = "https"``): `run_https` POSTs the same message to the cloud's
  ``/api/v1/ingest/image`` (``[https] image_url``), whose answer is the receipt; 503, 429, other
  errors and a lost network back off and try again, as batches do.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection
from typing import Any
from urllib.parse import urljoin

import aiomqtt
import httpx

from furrow.clock import Clock, system_clock
from furrow.edge.errors import ContractError
from furrow.edge.image_forward import RECEIPT_STORED, decode_image_receipt, encode_image, make_image_header
from furrow.edge.topics import GW_IMAGE, GW_IMAGE_RECEIPT, gateway_topic

from .cloud_link import backoff_delay
from .config import GatewayConfig
from .forwarder import SinkUnavailable, sink_client
from .images import ImageStore, ReadyImage

log = logging.getLogger(__name__)

# Sends one forwarded image; returns its receipt, or None when none came in time.
Send = Callable[[ReadyImage, bytes], Awaitable[dict[str, Any] | None]]


def image_url(config: GatewayConfig) -> str:
    """The cloud's image route: [https] image_url, or the one beside the batch url."""
    assert config.https is not None
    return config.https.image_url or urljoin(config.https.url, "image")


class ImageForwarder:
    """Complete images from the store to the cloud, one at a time, after readings (module docstring)."""

    name = "images"

    def __init__(self, config: GatewayConfig, store: ImageStore, readings_pending: Callable[[], int],
                 clock: Clock = system_clock, receipt_wait_s: float = 60.0, idle_s: float = 0.5) -> None:
        self._config, self._store, self._pending, self._clock = config, store, readings_pending, clock
        self._receipt_wait_s, self._idle_s = receipt_wait_s, idle_s
        site, gw, root = config.site, config.gateway_id, config.topic_root
        self.topic = gateway_topic(site, gw, GW_IMAGE, root)
        self.receipt_topic = gateway_topic(site, gw, GW_IMAGE_RECEIPT, root)
        self.topics = (self.receipt_topic,)
        self._receipts: dict[tuple[str, int], asyncio.Future[dict[str, Any]]] = {}
        self.counts = {"sent": 0, "stored": 0, "refused": 0, "resent": 0, "bytes": 0, "held_for_readings": 0,
                       "sink_failures": 0}
        self.last_error: str | None = None

    # -- the sending loop, whatever the way ----------------------------------------------

    async def run_sender(self, send: Send) -> None:
        """Forward until cancelled; `send` raises when the way to the cloud broke."""
        while True:
            if not await self.forward_one(send):
                await asyncio.sleep(self._idle_s)

    async def _next(self, skip: Collection[tuple[str, int]] = ()) -> ReadyImage | None:
        """The oldest complete image not in `skip`, or None when there is none to send now (none complete, or a
        readings backlog goes first)."""
        if await asyncio.to_thread(self._pending) >= self._config.forward_batch_size:
            self.counts["held_for_readings"] += 1
            return None
        return await asyncio.to_thread(self._store.next_image, skip)

    def _payload(self, image: ReadyImage) -> bytes:
        header = make_image_header(self._config.site, self._config.gateway_id, image.node, image.seq, image.kind,
                                   image.format, image.ts_ms, image.rx_ms, image.size, image.sha256)
        payload = encode_image(header, image.data)
        self.counts["sent"] += 1
        self.counts["bytes"] += len(payload)
        return payload

    async def forward_one(self, send: Send) -> bool:
        """Send the oldest complete image and settle its receipt; False when there was none to send now."""
        image = await self._next()
        if image is None:
            return False
        receipt = await send(image, self._payload(image))
        if receipt is None:
            self.counts["resent"] += 1  # no receipt: it goes again (stored once by the cloud)
        else:
            await self._settle(image, receipt)
        return True

    async def _settle(self, image: ReadyImage, receipt: dict[str, Any]) -> None:
        if receipt["status"] == RECEIPT_STORED:
            await asyncio.to_thread(self._store.forwarded, image.node, image.seq)
            self.counts["stored"] += 1
            return
        log.error("the cloud refused image %s/%d: %s", image.node, image.seq, receipt["reason"])
        await asyncio.to_thread(self._store.refused, image.node, image.seq, receipt["reason"] or "", self._clock())
        self.counts["refused"] += 1

    # -- MQTT: a stage of the cloud link ---------------------------------------------------

    async def session(self, client: aiomqtt.Client) -> None:
        """Forward on the cloud link's connection until cancelled, up to `image_window` images waiting for their
        receipts at once; an MqttError means the link broke (those in flight go again on the next one)."""
        await client.subscribe(self.receipt_topic, qos=1)
        loop = asyncio.get_running_loop()
        flying: dict[tuple[str, int], tuple[ReadyImage, float]] = {}  # -> the image, when its receipt is late
        try:
            while True:
                while len(flying) < self._config.image_window and (image := await self._next(flying)) is not None:
                    key = (image.node, image.seq)
                    self._receipts[key] = loop.create_future()
                    flying[key] = (image, loop.time() + self._receipt_wait_s)
                    await client.publish(self.topic, self._payload(image), qos=1)
                if not flying:
                    await asyncio.sleep(self._idle_s)
                    continue
                # the first receipt, the first late one, or (room in the window) a look for new images
                wait = min(late for _, late in flying.values()) - loop.time()
                if len(flying) < self._config.image_window:
                    wait = min(wait, self._idle_s)
                await asyncio.wait([self._receipts[k] for k in flying], timeout=max(0.0, wait),
                                   return_when=asyncio.FIRST_COMPLETED)
                for key, (image, late) in list(flying.items()):
                    fut = self._receipts[key]
                    if fut.done():
                        await self._settle(image, fut.result())
                    elif loop.time() >= late:
                        self.counts["resent"] += 1  # no receipt: it goes again (stored once by the cloud)
                    else:
                        continue
                    del flying[key]
                    del self._receipts[key]
        finally:
            for key in flying:
                self._receipts.pop(key, None)

    async def close(self, client: aiomqtt.Client) -> None:
        """Nothing to flush: images wait in the store, durably, for the next connection."""

    async def on_message(self, message: aiomqtt.Message) -> None:
        """A receipt on ``gw/{gateway}/image_receipt`` (the cloud link routes it here)."""
        payload = message.payload if isinstance(message.payload, bytes) else str(message.payload).encode()
        try:
            receipt = decode_image_receipt(payload)
        except ContractError as e:
            log.warning("ignored an image receipt that breaks the contract: %s", e)
            return
        fut = self._receipts.get((receipt["node"], receipt["image"]))
        if fut is not None and not fut.done():
            fut.set_result(receipt)

    # -- HTTPS ------------------------------------------------------------------------------

    async def run_https(self, stop: asyncio.Event) -> None:
        """POST images to the cloud until `stop`; failures back off and retry, never end the loop."""
        assert self._config.https is not None
        url = image_url(self._config)
        attempt = 0
        async with sink_client(self._config.https) as http:

            async def send(image: ReadyImage, payload: bytes) -> dict[str, Any]:
                nonlocal attempt
                try:
                    r = await http.post(url, content=payload, headers={"content-type": "application/octet-stream"})
                except httpx.HTTPError as e:
                    raise SinkUnavailable(f"{type(e).__name__}: {e}") from None
                if r.status_code != 200:
                    # 503: the cloud's object store is away; 4xx: a bug on one side. Either way
                    # the image stays in the store and goes again later, never dropped.
                    raise SinkUnavailable(f"HTTP {r.status_code}: {r.text[:200]}")
                try:
                    receipt = decode_image_receipt(r.content)
                except ContractError as e:
                    raise SinkUnavailable(f"the answer is no image receipt: {e}") from None
                attempt = 0
                return receipt

            while not stop.is_set():
                try:
                    await self.run_sender(send)
                except SinkUnavailable as e:
                    self.counts["sink_failures"] += 1
                    if attempt == 0:
                        log.warning("cloud HTTPS image sink unavailable: %s", e)
                    self.last_error = str(e)
                    try:
                        await asyncio.wait_for(stop.wait(), backoff_delay(attempt))
                    except TimeoutError:
                        pass
                    attempt += 1

    def stats(self) -> dict[str, Any]:
        return {**self.counts, "last_error": self.last_error}
