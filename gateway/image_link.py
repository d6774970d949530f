"""Images through the gateway: chunks in from the camera nodes, whole images out to the cloud.

Both sides have a connection of their own, so image traffic never sits in front of readings on the
readings' connections:

* `ImageListener` (paho, farm broker, persistent session, manual acknowledgement): each chunk on
  ``node/+/image`` is checked (edge/image_rx.py), committed to the `ImageStore`, answered on
  ``node/{node}/image_ack`` when there is something to say, and only then acknowledged to the broker.
  A damaged chunk (its CRC-32 fails) is counted and acknowledged: the node sends it again when the
  gateway's next ``missing`` answer names it. One bad chunk never stops the others.
* `ImageForwarder` (aiomqtt, cloud broker, persistent session): while the readings buffer holds less
  than one batch (readings go first), the oldest complete image goes on ``gw/{gateway}/image``, and it
  leaves the store only when the cloud's receipt for it arrives on ``gw/{gateway}/image_receipt``
  (``stored``; ``refused``: quarantined with the cloud's reason). No receipt within `receipt_wait`:
  it goes again (the cloud keeps each image once).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

import aiomqtt
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from furrow.clock import Clock, system_clock
from furrow.edge.errors import ContractError
from furrow.edge.image_forward import (
    RECEIPT_STORED,
    decode_image_receipt,
    encode_image,
    make_image_header,
)
from furrow.edge.image_rx import decode_chunk, encode_image_ack
from furrow.edge.topics import (
    GW_IMAGE,
    GW_IMAGE_RECEIPT,
    NODE_IMAGE,
    NODE_IMAGE_ACK,
    gateway_topic,
    node_filter,
    node_topic,
    parse_topic,
)
from furrow.retry import AckAfterHandling

from .cloud_link import backoff_delay
from .config import GatewayConfig
from .images import ImageStore

log = logging.getLogger(__name__)
_STOP = object()


class ImageListener:
    """Camera nodes' chunks from the farm broker into the image store (see the module docstring)."""

    def __init__(self, config: GatewayConfig, store: ImageStore, clock: Clock = system_clock) -> None:
        self._config, self._store, self._clock = config, store, clock
        self.client_id = f"furrow-gw-{config.site}-{config.gateway_id}-images"
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._acks = AckAfterHandling()
        self._stopping = threading.Event()
        self.subscribed = False
        self.counts = {"chunks": 0, "bad_chunks": 0, "acks_sent": 0, "store_failures": 0}
        broker = config.farm_broker
        self.client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=self.client_id,
                                  clean_session=False, manual_ack=True)
        if broker.username is not None:
            self.client.username_pw_set(broker.username, broker.password)
        ctx = broker.ssl_context()
        if ctx is not None:
            self.client.tls_set_context(ctx)
        self.client.reconnect_delay_set(min_delay=1, max_delay=30)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *a: setattr(self, "subscribed", True)
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message

    async def run(self, stop: asyncio.Event) -> None:
        worker = threading.Thread(target=self._work, name="furrow-gw-images", daemon=True)
        worker.start()
        broker = self._config.farm_broker
        self.client.connect_async(broker.host, broker.port, keepalive=max(1, int(broker.keepalive.total_seconds())))
        self.client.loop_start()
        try:
            await stop.wait()
        finally:
            await asyncio.shield(asyncio.to_thread(self._shutdown, worker))

    def _shutdown(self, worker: threading.Thread) -> None:
        self._stopping.set()
        self._queue.put(_STOP)
        worker.join()
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        if rc.is_failure:
            log.error("farm broker refused the image listener: %s", rc)
            return
        self._acks.connection_changed()
        client.subscribe([(node_filter(self._config.site, NODE_IMAGE, self._config.topic_root), 1)])

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        self.subscribed = False
        self._acks.connection_changed()

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        if not self._stopping.is_set():
            self._queue.put((self._acks.generation(), msg))

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            generation, msg = item
            if self._handle(msg):
                self._acks.ack(self.client, generation, msg)

    def _handle(self, msg: mqtt.MQTTMessage) -> bool:
        """True when the message may be acknowledged: stored, or refused for good."""
        try:
            _, _, node, _ = parse_topic(msg.topic, self._config.topic_root)
            chunk = decode_chunk(msg.payload)
            if chunk["node"] != node:
                raise ContractError("node", chunk["node"], f"does not match the topic {msg.topic}")
        except (ContractError, UnicodeDecodeError) as e:
            self.counts["bad_chunks"] += 1
            log.info("image chunk on %s dropped: %s", msg._topic, e)
            return True
        while not self._stopping.is_set():
            try:
                ack = self._store.put_chunk(chunk, self._clock())
                break
            except Exception as e:  # a full or failing disk: keep the chunk unacknowledged and retry
                self.counts["store_failures"] += 1
                if self.counts["store_failures"] == 1:
                    log.error("cannot store an image chunk, retrying: %s", e)
                self._stopping.wait(1.0)
        else:
            return False
        self.counts["chunks"] += 1
        if ack is not None:
            topic = node_topic(self._config.site, node, NODE_IMAGE_ACK, self._config.topic_root)
            self.client.publish(topic, encode_image_ack(ack), qos=1)
            self.counts["acks_sent"] += 1
        return True


class ImageForwarder:
    """Complete images from the store to the cloud, one at a time, after readings (module docstring)."""

    def __init__(self, config: GatewayConfig, store: ImageStore, readings_pending: Callable[[], int],
                 clock: Clock = system_clock, receipt_wait_s: float = 60.0, idle_s: float = 0.5) -> None:
        self._config, self._store, self._pending, self._clock = config, store, readings_pending, clock
        self._receipt_wait_s, self._idle_s = receipt_wait_s, idle_s
        site, gw, root = config.site, config.gateway_id, config.topic_root
        self.topic = gateway_topic(site, gw, GW_IMAGE, root)
        self.receipt_topic = gateway_topic(site, gw, GW_IMAGE_RECEIPT, root)
        self.client_id = f"furrow-gw-{site}-{gw}-images"
        self.connected = False
        self._receipts: dict[tuple[str, int], asyncio.Future[dict[str, Any]]] = {}
        self.counts = {"sent": 0, "stored": 0, "refused": 0, "resent": 0, "bytes": 0, "held_for_readings": 0}

    def _client(self) -> aiomqtt.Client:
        broker = self._config.cloud_broker
        return aiomqtt.Client(broker.host, broker.port, username=broker.username, password=broker.password,
                              identifier=self.client_id, clean_session=False,
                              keepalive=max(1, int(broker.keepalive.total_seconds())),
                              timeout=broker.timeout.total_seconds(), tls_context=broker.ssl_context())

    async def run(self, stop: asyncio.Event) -> None:
        """Stay connected and forward until `stop`; a lost link backs off and comes back."""
        attempt = 0
        while not stop.is_set():
            stopped = False
            try:
                async with self._client() as client:
                    await client.subscribe(self.receipt_topic, qos=1)
                    self.connected, attempt = True, 0
                    async with asyncio.TaskGroup() as tg:
                        tg.create_task(self._receive(client), name="image receipts")
                        sender = tg.create_task(self._send_loop(client), name="image sender")
                        waiter = tg.create_task(stop.wait(), name="image stop")
                        await asyncio.wait([sender, waiter], return_when=asyncio.FIRST_COMPLETED)
                        raise _Stopped
            except* _Stopped:
                stopped = True
            except* aiomqtt.MqttError as eg:
                log.log(logging.WARNING if attempt == 0 else logging.DEBUG, "image link to the cloud: %s",
                        eg.exceptions[0])
            finally:
                self.connected = False
                for fut in self._receipts.values():
                    fut.cancel()
                self._receipts.clear()
            if stopped:
                return
            attempt += 1
            try:
                await asyncio.wait_for(stop.wait(), backoff_delay(attempt))
            except TimeoutError:
                pass

    async def _receive(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            try:
                receipt = decode_image_receipt(message.payload)
            except ContractError as e:
                log.warning("ignored an image receipt that breaks the contract: %s", e)
                continue
            fut = self._receipts.get((receipt["node"], receipt["image"]))
            if fut is not None and not fut.done():
                fut.set_result(receipt)

    async def _send_loop(self, client: aiomqtt.Client) -> None:
        while True:
            if await asyncio.to_thread(self._pending) >= self._config.forward_batch_size:
                self.counts["held_for_readings"] += 1  # a readings backlog drains first
                await asyncio.sleep(self._idle_s)
                continue
            image = await asyncio.to_thread(self._store.next_image)
            if image is None:
                await asyncio.sleep(self._idle_s)
                continue
            header = make_image_header(self._config.site, self._config.gateway_id, image.node, image.seq, image.kind,
                                       image.format, image.ts_ms, image.rx_ms, image.size, image.sha256)
            key = (image.node, image.seq)
            fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
            self._receipts[key] = fut
            payload = encode_image(header, image.data)
            await client.publish(self.topic, payload, qos=1)
            self.counts["sent"] += 1
            self.counts["bytes"] += len(payload)
            try:
                receipt = await asyncio.wait_for(fut, self._receipt_wait_s)
            except TimeoutError:
                self.counts["resent"] += 1  # no receipt: it goes again (stored once by the cloud)
                continue
            finally:
                self._receipts.pop(key, None)
            if receipt["status"] == RECEIPT_STORED:
                await asyncio.to_thread(self._store.forwarded, image.node, image.seq)
                self.counts["stored"] += 1
            else:
                log.error("the cloud refused image %s/%d: %s", image.node, image.seq, receipt["reason"])
                await asyncio.to_thread(self._store.refused, image.node, image.seq, receipt["reason"] or "",
                                        self._clock())
                self.counts["refused"] += 1


class _Stopped(Exception):
    """The gateway is stopping."""
