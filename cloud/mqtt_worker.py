"""The cloud's MQTT worker: batches and acks in, commands out.

Subscribes with QoS 1 to every gateway's ``batch`` and ``ack`` topics (as
``$share/<group>/...`` when a shared group is set, so several workers split
the stream) and hands each message to a handler; publishes commands with
QoS 1 to ``.../gw/<gateway>/cmd``. It reconnects with capped, jittered
backoff; a message that fails is logged and counted, never fatal.

Back-pressure, honestly: aiomqtt (paho underneath) acknowledges a QoS 1
message when it arrives, before any handler runs. When storage is down the
worker keeps the batch in hand and retries it until it is stored, and stops
taking further messages from its queue meanwhile; messages the broker
delivers in the meantime wait in the client's in-memory queue. Nothing is
lost while the process lives, but a crash loses what was acknowledged and not
yet stored. With ``client_id`` set the session is persistent, so the broker
queues messages while the worker is disconnected. End-to-end proof (the cloud
acknowledging a batch id to the gateway, which frees its buffer only then)
is the next step.
"""

import asyncio
import contextlib
import logging
import random
from collections import Counter
from collections.abc import Awaitable, Callable

import aiomqtt

from furrow.edge import commands as contract
from furrow.edge.errors import ContractError
from furrow.edge.topics import GW_ACK, GW_BATCH, GW_CMD, gateway_filter, gateway_topic, parse_topic

from .storage import StorageUnavailable

log = logging.getLogger(__name__)

Handler = Callable[[str, str, bytes], Awaitable[object]]


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
        shared_group: str | None = None,
        client_id: str | None = None,
        reconnect_max_s: float = 30.0,
        storage_retry_max_s: float = 30.0,
        publish_timeout_s: float = 10.0,
    ) -> None:
        if shared_group is not None and (not shared_group or "/" in shared_group):
            raise ValueError(f"shared_group {shared_group!r} must be a non-empty name without '/'")
        self.host = host
        self.port = port
        self.root = root
        self._on_batch = on_batch
        self._on_ack = on_ack
        self._on_connect = on_connect
        self._shared_group = shared_group
        self._client_id = client_id
        self._reconnect_max_s = reconnect_max_s
        self._storage_retry_max_s = storage_retry_max_s
        self._publish_timeout_s = publish_timeout_s
        self._client: aiomqtt.Client | None = None
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.ready = asyncio.Event()  # set while connected and subscribed
        self.stats: Counter[str] = Counter()

    @property
    def connected(self) -> bool:
        return self.ready.is_set()

    def filters(self) -> list[str]:
        """The subscription filters, with the shared-subscription prefix when set."""
        out = [gateway_filter("+", GW_BATCH, self.root), gateway_filter("+", GW_ACK, self.root)]
        if self._shared_group:
            out = [f"$share/{self._shared_group}/{f}" for f in out]
        return out

    # --- lifecycle --------------------------------------------------------

    def start(self) -> asyncio.Task[None]:
        self._task = asyncio.create_task(self.run(), name="furrow-mqtt-worker")
        return self._task

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def run(self) -> None:
        """Connect, subscribe and consume until stopped, reconnecting on errors."""
        failures = 0
        while not self._stopping.is_set():
            try:
                async with aiomqtt.Client(
                    self.host,
                    self.port,
                    identifier=self._client_id,
                    clean_session=False if self._client_id else None,
                ) as client:
                    for f in self.filters():
                        await client.subscribe(f, qos=1)
                    self._client = client
                    self.ready.set()
                    self.stats["connects"] += 1
                    if failures:
                        log.info("MQTT broker %s:%d reachable again", self.host, self.port)
                    failures = 0
                    if self._on_connect is not None:
                        try:
                            await self._on_connect()
                        except Exception:
                            log.exception("on_connect handler failed")
                    async for message in client.messages:
                        await self._handle(message)
            except aiomqtt.MqttError as e:
                failures += 1
                self.stats["connection_errors"] += 1
                log_at = logging.WARNING if failures == 1 else logging.DEBUG
                log.log(log_at, "MQTT broker %s:%d: %s", self.host, self.port, e)
            finally:
                self._client = None
                self.ready.clear()
            delay = min(self._reconnect_max_s, 0.5 * 2 ** min(failures, 16))
            await self._pause(delay * random.uniform(0.5, 1.0))

    # --- messages ---------------------------------------------------------

    async def _handle(self, message: aiomqtt.Message) -> None:
        topic = message.topic.value
        payload = message.payload
        if not isinstance(payload, bytes | bytearray):
            payload = str(payload or "").encode()
        try:
            kind, site, gateway, leaf = parse_topic(topic, self.root)
        except ContractError as e:
            self.stats["bad_topic"] += 1
            log.warning("ignored message on %s: %s", topic, e)
            return
        if kind != "gw" or leaf not in (GW_BATCH, GW_ACK):
            self.stats["bad_topic"] += 1
            return
        try:
            if leaf == GW_BATCH:
                await self._ingest(site, gateway, bytes(payload))
                self.stats["batches"] += 1
            else:
                await self._on_ack(site, gateway, bytes(payload))
                self.stats["acks"] += 1
        except ContractError as e:
            self.stats[f"{leaf}_rejected"] += 1
            log.warning("%s from %s/%s rejected: %s", leaf, site, gateway, e)
        except asyncio.CancelledError:
            raise
        except Exception:
            self.stats[f"{leaf}_failed"] += 1
            log.exception("%s from %s/%s failed", leaf, site, gateway)

    async def _ingest(self, site: str, gateway: str, payload: bytes) -> None:
        """Hand a batch to the handler, waiting out storage outages: the batch
        is kept and retried, never dropped, and the queue is not read meanwhile."""
        delay = 0.5
        down = False
        while True:
            try:
                await self._on_batch(site, gateway, payload)
            except StorageUnavailable as e:
                self.stats["storage_waits"] += 1
                if not down:
                    log.warning("storage unavailable, holding the batch from %s/%s: %s",
                                site, gateway, e)
                    down = True
                if self._stopping.is_set():
                    raise
                await self._pause(delay * random.uniform(0.5, 1.0))
                delay = min(self._storage_retry_max_s, delay * 2)
                continue
            if down:
                log.info("storage back; batch from %s/%s stored", site, gateway)
            return

    # --- commands ---------------------------------------------------------

    async def publish_command(self, site: str, gateway: str, command: dict) -> None:
        """Publish a validated command with QoS 1 to the gateway's cmd topic.

        Raises NotConnected when there is no broker connection.
        """
        client = self._client
        if client is None:
            raise NotConnected(f"not connected to the MQTT broker {self.host}:{self.port}")
        topic = gateway_topic(site, gateway, GW_CMD, self.root)
        payload = contract.encode(contract.validate_command(command))
        try:
            await client.publish(topic, payload, qos=1, timeout=self._publish_timeout_s)
        except aiomqtt.MqttError as e:
            raise NotConnected(str(e)) from e
        self.stats["commands_published"] += 1
