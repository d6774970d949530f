"""Delivering alert changes: the in-process event bus, MQTT and a webhook (chat robots and SMS:
chat.py, sms.py).

Evaluation never waits for delivery. Each channel (an `Outlet`) has a bounded queue and one
task that sends notices in order, retrying a failure with capped, jittered backoff a bounded
number of times; a notice it gives up on is logged and counted in `stats["failed"]`, and a full
queue drops its oldest notice (counted in `stats["dropped"]`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx

from furrow.retry import Backoff, retrying

from ..events import EventBus
from ..mqtt_worker import MqttWorker
from .models import AlertOut

log = logging.getLogger(__name__)

NO_SITE = "unassigned"  # the topic level for an alert whose subject has no known site
SIGNATURE_HEADER = "X-Furrow-Signature"
EVENT_HEADER = "X-Furrow-Event"


@dataclass(frozen=True)
class Notice:
    """What happened to an alert: raised, escalated, resolved (all channels) or acknowledged
    (the event bus only)."""

    event: str
    alert: AlertOut

    def payload(self) -> dict[str, object]:
        return {"v": "1.0", "event": self.event, "alert": self.alert.model_dump(mode="json")}

    def body(self) -> bytes:
        return json.dumps(self.payload(), separators=(",", ":"), sort_keys=True).encode()


def alert_topic(root: str, site: str | None, kind: str) -> str:
    """{root}/v1/{site}/alerts/{kind}: where the cloud publishes alert changes."""
    return f"{root}/v1/{site or NO_SITE}/alerts/{kind}"


def sign(secret: bytes, body: bytes) -> str:
    """The webhook signature header's value: sha256=<hex HMAC-SHA256(secret, body)>."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


class Outlet:
    """One delivery channel with its own queue, task and retries."""

    def __init__(self, name: str, send: Callable[[Notice], Awaitable[None]], *, attempts: int = 5,
                 backoff_s: float = 1.0, backoff_max_s: float = 30.0, queue_size: int = 1000,
                 wants: Callable[[Notice], bool] | None = None) -> None:
        if attempts < 1:
            raise ValueError(f"{name}: attempts={attempts} must be at least 1")
        self.name = name
        self._send = send
        self._wants = wants
        self._attempts = attempts
        self._backoff_s = backoff_s
        self._backoff_max_s = backoff_max_s
        self._queue: asyncio.Queue[Notice] = asyncio.Queue(queue_size)
        self._task: asyncio.Task[None] | None = None
        self.stats: Counter[str] = Counter()

    def offer(self, notice: Notice) -> None:
        """Queue a notice (unless the channel does not want it: counted as `skipped`); never waits."""
        if self._wants is not None and not self._wants(notice):
            self.stats["skipped"] += 1
            return
        if self._queue.full():
            self._queue.get_nowait()
            self.stats["dropped"] += 1
        self._queue.put_nowait(notice)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"furrow-alerts-{self.name}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            notice = await self._queue.get()
            await self._deliver(notice)

    async def _deliver(self, notice: Notice) -> None:
        def retried(_n: int, _e: BaseException, _delay: float) -> None:
            self.stats["retries"] += 1

        try:
            await retrying(lambda: self._send(notice), retry_on=Exception, attempts=self._attempts,
                           backoff=Backoff(first_s=self._backoff_s, max_s=self._backoff_max_s), on_retry=retried)
        except Exception as e:  # noqa: BLE001 - any failure is retried, then counted
            self.stats["failed"] += 1
            log.warning("alert %s (%s) not delivered by %s after %d attempts: %s", notice.alert.id,
                        notice.event, self.name, self._attempts, e)
            return
        self.stats["delivered"] += 1


def mqtt_sender(worker: MqttWorker, root: str) -> Callable[[Notice], Awaitable[None]]:
    async def send(notice: Notice) -> None:
        await worker.publish(alert_topic(root, notice.alert.site, notice.alert.kind), notice.body())

    return send


class WebhookSender:
    """POSTs each notice's JSON to a URL, signed with HMAC-SHA256 when a secret is set; any
    answer but 2xx is a failure (and is retried by the outlet)."""

    def __init__(self, url: str, secret: bytes | None, timeout_s: float = 10.0) -> None:
        self.url = url
        self._secret = secret
        self._client = httpx.AsyncClient(timeout=timeout_s)

    async def __call__(self, notice: Notice) -> None:
        body = notice.body()
        headers = {"Content-Type": "application/json", EVENT_HEADER: notice.event}
        if self._secret:
            headers[SIGNATURE_HEADER] = sign(self._secret, body)
        r = await self._client.post(self.url, content=body, headers=headers)
        if not 200 <= r.status_code < 300:
            raise RuntimeError(f"{self.url} answered {r.status_code}")

    async def close(self) -> None:
        await self._client.aclose()


class Deliveries:
    """Fans each notice out: the event bus at once, the outlets through their queues."""

    def __init__(self, events: EventBus, outlets: list[Outlet] | None = None,
                 closers: list[Callable[[], Awaitable[None]]] | None = None) -> None:
        self.events = events
        self.outlets = {o.name: o for o in outlets or []}
        self._closers = closers or []

    def notify(self, notice: Notice) -> None:
        self.events.publish("alert", notice.payload())
        if notice.event == "acknowledged":
            return
        for outlet in self.outlets.values():
            outlet.offer(notice)

    def start(self) -> None:
        for outlet in self.outlets.values():
            outlet.start()

    async def stop(self) -> None:
        for outlet in self.outlets.values():
            await outlet.stop()
        for close in self._closers:
            await close()

    @property
    def stats(self) -> dict[str, dict[str, int]]:
        return {name: dict(o.stats) for name, o in self.outlets.items()}
