"""The cloud's MQTT worker: batches, images and acks in, commands out.

Subscribes with QoS 1 to every gateway's ``batch`` and ``ack`` topics,
``image`` when given an ``on_image`` handler (whole images, contract 1.3, held
like batches while the object store is unavailable), and
``status`` when given an ``on_status`` handler (as
``$share/<group>/...`` when a shared group is set, so several workers split
the stream) and hands each message to a handler; publishes commands with
QoS 1 to ``.../gw/<gateway>/cmd``. It reconnects with capped backoff; a
message that fails is logged and counted, never fatal.

No acknowledged batch is ever lost. The client is paho-mqtt with
``manual_ack``: aiomqtt acknowledges a QoS 1 message on arrival, before any
handler runs. Here the PUBACK goes out only once the handler is done with the
message: the batch is stored, or refused for good (it breaks the contract, or
the store rejects the data itself). While storage is unavailable the worker
holds the batch, retries it and takes no further message; the batch stays
unacknowledged, so a worker that dies meanwhile loses nothing: with
``client_id`` set the session is persistent and the broker redelivers the
batch to the next worker with that id. An unexpected error (a bug, or the
relational database failing) is logged, counted and acknowledged, so one
poison message cannot stall the stream.

paho runs its network loop in its own thread; messages cross into asyncio
with ``loop.call_soon_threadsafe``. Up to ``in_flight`` batches in a row are
handled at once, so the next batch decodes while the previous one is being
written (the worker otherwise waited a third of its time on InfluxDB and the
database: docs/performance.md); any other message waits until the batches
before it are done. PUBACKs go out in the order the messages came, as MQTT
requires, each only once its message is handled. A PUBACK is only ever sent on the
connection the message arrived on: after a reconnect the broker redelivers
what was never acknowledged, and an old packet id on a new connection could
acknowledge a different message.
"""

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from furrow.edge import commands as contract
from furrow.edge.batch import encode_receipt
from furrow.edge.errors import ContractError
from furrow.edge.image_forward import encode_image_receipt
from furrow.edge.topics import (
    GW_ACK,
    GW_BATCH,
    GW_CMD,
    GW_IMAGE,
    GW_IMAGE_RECEIPT,
    GW_RECEIPT,
    GW_STATUS,
    gateway_filter,
    gateway_topic,
    parse_topic,
)
from furrow.retry import AckAfterHandling, Backoff, retrying

from .storage import StorageRejected, StorageUnavailable

log = logging.getLogger(__name__)

Handler = Callable[[str, str, bytes], Awaitable[object]]
KEEPALIVE_S = 30
_BATCH_LEAF = ("/" + GW_BATCH).encode()


class NotConnected(Exception):
    """The worker has no broker connection right now; try again later."""


class MqttWorker:
    """One connection to the cloud broker, supervised by ``run``."""

    def __init__(
        self,
        *,
        host: str,
        port: int = 1883,
        root: str = "furrow",
        on_batch: Handler,
        on_ack: Handler,
        on_connect: Callable[[], Awaitable[object]] | None = None,
        on_status: Handler | None = None,
        on_image: Handler | None = None,
        shared_group: str | None = None,
        in_flight: int = 1,
        client_id: str | None = None,
        reconnect_max_s: float = 30.0,
        storage_retry_max_s: float = 30.0,
        publish_timeout_s: float = 10.0,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        if shared_group is not None and (not shared_group or "/" in shared_group):
            raise ValueError(f"shared_group {shared_group!r} must be a non-empty name without '/'")
        self.host = host
        self.port = port
        self._login = (username, password)  # the broker login (`furrow broker config` makes furrow@cloud)
        self.root = root
        self._on_batch = on_batch
        self._on_ack = on_ack
        self._on_connect = on_connect
        self._on_status = on_status  # gateways' status messages (their Modbus counters); None: not subscribed
        self._on_image = on_image  # whole images from gateways (1.3); None: not subscribed
        self._shared_group = shared_group
        if in_flight < 1:
            raise ValueError(f"in_flight={in_flight} must be at least 1")
        self._in_flight = in_flight
        self._client_id = client_id
        self._reconnect_max_s = reconnect_max_s
        self._storage_retry_max_s = storage_retry_max_s
        self._publish_timeout_s = publish_timeout_s
        self._client: mqtt.Client | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._messages: asyncio.Queue[tuple[int, mqtt.MQTTMessage]] = asyncio.Queue()
        # A message is acknowledged only after it was handled, on the connection it came in on.
        self._acks = AckAfterHandling()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._connect_tasks: set[asyncio.Task[None]] = set()
        self._failures = 0
        self.ready = asyncio.Event()  # set while connected and subscribed
        self.stats: Counter[str] = Counter()

    @property
    def connected(self) -> bool:
        return self.ready.is_set()

    def filters(self) -> list[str]:
        """The subscription filters, with the shared-subscription prefix when set."""
        out = [gateway_filter("+", GW_BATCH, self.root), gateway_filter("+", GW_ACK, self.root)]
        if self._on_status is not None:
            out.append(gateway_filter("+", GW_STATUS, self.root))
        if self._on_image is not None:
            out.append(gateway_filter("+", GW_IMAGE, self.root))
        if self._shared_group:
            out = [f"$share/{self._shared_group}/{f}" for f in out]
        return out

    # --- lifecycle --------------------------------------------------------

    def start(self) -> asyncio.Task[None]:
        self._task = asyncio.create_task(self.run(), name="furrow-mqtt-worker")
        return self._task

    async def stop(self) -> None:
        """Stop at once. A message in hand is left unacknowledged: the broker
        redelivers it (to the next session with this client id)."""
        self._stopping.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    def _make_client(self) -> mqtt.Client:
        persistent = self._client_id is not None
        client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=self._client_id or "",
            clean_session=not persistent,
            manual_ack=True,
        )
        # paho's reconnect backoff: doubling from 1 s, capped (whole seconds).
        cap = max(1, round(self._reconnect_max_s))
        client.reconnect_delay_set(min_delay=1, max_delay=cap)
        if self._login[0] is not None:
            client.username_pw_set(*self._login)
        client.on_connect = self._paho_connect
        client.on_connect_fail = self._paho_connect_fail
        client.on_disconnect = self._paho_disconnect
        client.on_subscribe = self._paho_subscribe
        client.on_message = self._paho_message
        return client

    async def run(self) -> None:
        """Connect, subscribe and consume until stopped; paho reconnects on errors."""
        self._loop = asyncio.get_running_loop()
        client = self._make_client()
        self._client = client
        client.connect_async(self.host, self.port, keepalive=KEEPALIVE_S)
        client.loop_start()  # retries the first connection too
        # Messages being handled wait here, in arrival order, to be acknowledged; `slots` bounds
        # how many are taken from the broker's stream before the oldest is acknowledged.
        window: asyncio.Queue[tuple[int, mqtt.MQTTMessage, asyncio.Task[bool]]] = asyncio.Queue()
        slots = asyncio.Semaphore(self._in_flight)
        acker = asyncio.create_task(self._ack_in_order(client, window, slots), name="furrow-mqtt-acks")
        handling: set[asyncio.Task[bool]] = set()
        try:
            while not self._stopping.is_set():
                generation, message = await self._messages.get()
                await slots.acquire()
                if not message._topic.endswith(_BATCH_LEAF):  # the raw bytes: a bad topic is _handle's to report
                    await window.join()  # acks, statuses: after the batches before them
                task = asyncio.create_task(self._handle(message))
                handling.add(task)
                task.add_done_callback(handling.discard)
                window.put_nowait((generation, message, task))
        finally:
            self._stopping.set()
            self.ready.clear()
            for task in [*self._connect_tasks, *handling, acker]:
                task.cancel()  # left unacknowledged: the broker redelivers them
            await asyncio.shield(asyncio.to_thread(self._shutdown, client))

    async def _ack_in_order(self, client: mqtt.Client, window: asyncio.Queue, slots: asyncio.Semaphore) -> None:
        while True:
            generation, message, task = await window.get()
            try:
                if await task:
                    self._ack(client, generation, message)
            finally:
                window.task_done()
                slots.release()

    @staticmethod
    def _shutdown(client: mqtt.Client) -> None:
        client.disconnect()
        client.loop_stop()

    def _ack(self, client: mqtt.Client, generation: int, message: mqtt.MQTTMessage) -> None:
        if self._acks.ack(client, generation, message):
            self.stats["mqtt_acks"] += 1
        else:
            self.stats["acks_skipped_reconnected"] += 1  # the broker redelivers it on the new connection

    # --- paho callbacks (network thread): never raise, never block -----------

    def _in_loop(self, fn: Callable[..., object], *args: Any) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(fn, *args)

    def _paho_connect(self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        self._acks.connection_changed()
        if rc.is_failure:
            self._in_loop(self._connection_failed, f"broker refused the connection: {rc}")
            return
        # Subscribe on every connect: a broker that lost the session sends nothing otherwise.
        client.subscribe([(f, 1) for f in self.filters()])

    def _paho_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        self._in_loop(self._connection_failed, "connection failed")

    def _paho_subscribe(self, client: mqtt.Client, userdata: Any, mid: int, codes: Any, props: Any) -> None:
        failed = [c for c in codes if c.is_failure]
        if failed:
            self._in_loop(self._connection_failed, f"broker refused the subscriptions: {failed}")
        else:
            self._in_loop(self._subscribed)

    def _paho_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        self._acks.connection_changed()
        self._in_loop(self._lost, str(rc))

    def _paho_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        if self._stopping.is_set():
            return  # left unacknowledged: the broker redelivers it
        self._in_loop(self._messages.put_nowait, (self._acks.generation(), msg))

    # --- connection state (event loop) -----------------------------------

    def _connection_failed(self, why: str) -> None:
        self._failures += 1
        self.stats["connection_errors"] += 1
        log.log(logging.WARNING if self._failures == 1 else logging.DEBUG,
                "MQTT broker %s:%d: %s", self.host, self.port, why)

    def _subscribed(self) -> None:
        self.ready.set()
        self.stats["connects"] += 1
        if self._failures:
            log.info("MQTT broker %s:%d reachable again", self.host, self.port)
        self._failures = 0
        if self._on_connect is not None and not self._stopping.is_set():
            task = asyncio.create_task(self._run_on_connect(), name="furrow-mqtt-on-connect")
            self._connect_tasks.add(task)
            task.add_done_callback(self._connect_tasks.discard)

    async def _run_on_connect(self) -> None:
        assert self._on_connect is not None
        try:
            await self._on_connect()
        except Exception:
            log.exception("on_connect handler failed")

    def _lost(self, why: str) -> None:
        was = self.ready.is_set()
        self.ready.clear()
        if self._stopping.is_set():
            return
        if was:
            log.warning("MQTT broker %s:%d connection lost: %s", self.host, self.port, why)
            self._failures = 1  # logged just now; further failures are quiet
            self.stats["connection_errors"] += 1
        else:
            self._connection_failed(f"disconnected: {why}")

    # --- messages ---------------------------------------------------------

    async def _handle(self, message: mqtt.MQTTMessage) -> bool:
        """Handle one message; True when it may be acknowledged (done with, for good)."""
        payload = bytes(message.payload)
        try:
            topic = message.topic
            kind, site, gateway, leaf = parse_topic(topic, self.root)
        except (ContractError, UnicodeDecodeError) as e:
            self.stats["bad_topic"] += 1
            log.warning("ignored message on %r: %s", message._topic, e)
            return True
        handled = [GW_BATCH, GW_ACK]
        if self._on_status is not None:
            handled.append(GW_STATUS)
        if self._on_image is not None:
            handled.append(GW_IMAGE)
        if kind != "gw" or leaf not in handled:
            self.stats["bad_topic"] += 1
            return True
        try:
            if leaf == GW_BATCH:
                await self._ingest(self._on_batch, site, gateway, payload)
                self.stats["batches"] += 1
            elif leaf == GW_IMAGE:
                assert self._on_image is not None
                await self._ingest(self._on_image, site, gateway, payload)
                self.stats["images"] += 1
            elif leaf == GW_STATUS:
                assert self._on_status is not None
                await self._on_status(site, gateway, payload)
                self.stats["statuses"] += 1
            else:
                await self._on_ack(site, gateway, payload)
                self.stats["acks"] += 1
        except (ContractError, StorageRejected) as e:
            self.stats[f"{leaf}_rejected"] += 1
            log.warning("%s from %s/%s rejected: %s", leaf, site, gateway, e)
        except StorageUnavailable:
            return False  # only when stopping: left for the broker to redeliver
        except Exception:
            # A bug, or the relational database failing: counted and logged
            # loudly, then acknowledged, so one poison message never stalls
            # the stream.
            self.stats[f"{leaf}_failed"] += 1
            log.exception("%s from %s/%s failed", leaf, site, gateway)
        return True

    async def _ingest(self, handler: Handler, site: str, gateway: str, payload: bytes) -> None:
        """Hand a batch (or an image) to its handler, waiting out storage outages: the message
        is kept unacknowledged and retried, and no other message is read meanwhile."""

        def waiting(n: int, e: BaseException, _delay: float) -> None:
            self.stats["storage_waits"] += 1
            if n == 0:
                log.warning("storage unavailable, holding the batch from %s/%s unacknowledged: %s", site, gateway, e)

        waits = self.stats["storage_waits"]
        await retrying(lambda: handler(site, gateway, payload), retry_on=StorageUnavailable,
                       backoff=Backoff(first_s=0.5, max_s=self._storage_retry_max_s), sleep=self._pause,
                       on_retry=waiting, give_up=self._stopping.is_set)
        if self.stats["storage_waits"] > waits:
            log.info("storage back; batch from %s/%s stored", site, gateway)

    # --- commands ---------------------------------------------------------

    async def publish_command(self, site: str, gateway: str, command: dict) -> None:
        """Publish a validated command with QoS 1 to the gateway's cmd topic.

        Raises NotConnected when there is no broker connection, or the broker
        did not confirm it within the publish timeout.
        """
        payload = contract.encode(contract.validate_command(command))
        await self._publish_confirmed(gateway_topic(site, gateway, GW_CMD, self.root), payload)
        self.stats["commands_published"] += 1

    def send_receipt(self, site: str, gateway: str, receipt: dict | None) -> bool:
        """Queue a batch's receipt (QoS 1) for the gateway, without waiting for the broker: call it
        before the batch is acknowledged, and the receipt goes out on the connection ahead of that
        PUBACK. False when it could not be queued; the gateway sends the batch again after its
        bounded wait, and the idempotent ingest makes that harmless."""
        client = self._client
        if receipt is None or client is None or not self.connected:
            return False
        topic = gateway_topic(site, gateway, GW_RECEIPT, self.root)
        ok = client.publish(topic, encode_receipt(receipt), qos=1).rc == mqtt.MQTT_ERR_SUCCESS
        self.stats["receipts" if ok else "receipts_unsent"] += 1
        return ok

    def send_image_receipt(self, site: str, gateway: str, receipt: dict) -> bool:
        """Queue an image's receipt (QoS 1) for the gateway, as `send_receipt` does for a batch."""
        client = self._client
        if client is None or not self.connected:
            return False
        topic = gateway_topic(site, gateway, GW_IMAGE_RECEIPT, self.root)
        ok = client.publish(topic, encode_image_receipt(receipt), qos=1).rc == mqtt.MQTT_ERR_SUCCESS
        self.stats["image_receipts" if ok else "image_receipts_unsent"] += 1
        return ok

    async def publish(self, topic: str, payload: bytes) -> None:
        """Publish `payload` with QoS 1, not retained (alerts, plans), and wait for the
        broker's PUBACK. Raises NotConnected as publish_command does."""
        await self._publish_confirmed(topic, payload)
        self.stats["published"] += 1

    async def _publish_confirmed(self, topic: str, payload: bytes) -> None:
        client = self._client
        if client is None or not self.connected:
            raise NotConnected(f"not connected to the MQTT broker {self.host}:{self.port}")
        info = client.publish(topic, payload, qos=1, retain=False)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise NotConnected(f"publish to {self.host}:{self.port} failed: {mqtt.error_string(info.rc)}")
        try:
            await asyncio.to_thread(info.wait_for_publish, self._publish_timeout_s)
        except (RuntimeError, ValueError) as e:
            raise NotConnected(str(e)) from e
        if not info.is_published():
            raise NotConnected(f"broker {self.host}:{self.port} did not confirm within "
                               f"{self._publish_timeout_s:g} s")

