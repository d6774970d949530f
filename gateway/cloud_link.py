"""The cloud link: one MQTT connection to the cloud broker, kept up for its stages.

The link owns connecting, the gateway's retained online/offline status (with
the offline one as last will) and reconnecting with capped, jittered
exponential backoff. Its stages (the forwarder, the command relay, the
status reporter with its Modbus counters: status_report.py) only do
their work on a connected client: when the connection breaks, a stage's
``session`` raises ``aiomqtt.MqttError``, every stage is cancelled, and the
link reconnects and starts them again (backoff: furrow.retry, shared with the cloud).

The session is persistent (``clean_session=False``) so commands the cloud
sends while the gateway is offline wait at the broker for it.

It is the gateway's only connection to the cloud broker (a broker that binds
client ids to logins gives all of a login's connections one id, and two
connections with one id knock each other off), so the link reads the
connection's messages once and hands each to the stage that subscribed to
its topic (`topics`, `on_message`): commands and plans to the relay, image
receipts to the image forwarder.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any, Protocol

import aiomqtt

from furrow.clock import Clock, system_clock
from furrow.edge.commands import STATUS_OFFLINE, STATUS_ONLINE, encode, make_status
from furrow.edge.topics import GW_STATUS, gateway_topic
from furrow.retry import Backoff, cancel_and_wait

from .config import GatewayConfig

log = logging.getLogger(__name__)

BACKOFF_FIRST_S = 0.2
BACKOFF_MAX_S = 30.0


class CloudStage(Protocol):
    """Work done over the cloud connection."""

    name: str

    async def session(self, client: aiomqtt.Client) -> None:
        """Run on a connected client until cancelled; raise MqttError when the link breaks."""

    async def close(self, client: aiomqtt.Client) -> None:
        """Last work on a still-connected client at a graceful stop (bounded)."""


class ListeningStage(CloudStage, Protocol):
    """A stage that also takes messages: it subscribes to `topics` in its session, and the link
    hands it each message on them."""

    topics: tuple[str, ...]

    async def on_message(self, message: aiomqtt.Message) -> None:
        """One message on one of `topics`; an MqttError means the link broke."""


def backoff_delay(attempt: int) -> float:
    """The wait after failed attempt `attempt` to reach the cloud (furrow.retry.Backoff: capped,
    jittered so gateways that lost the cloud together do not come back in lockstep). The bounds
    are read at each call, so a compressed HIL run can shorten them."""
    return Backoff(first_s=BACKOFF_FIRST_S, max_s=BACKOFF_MAX_S).delay(attempt)


class CloudLink:
    """Keeps one connection to the cloud broker and runs `stages` on it."""

    def __init__(self, config: GatewayConfig, stages: Sequence[CloudStage], clock: Clock = system_clock) -> None:
        self._config = config
        self._clock = clock
        self._stages = list(stages)
        self.client_id = f"furrow-gw-{config.site}-{config.gateway_id}"
        self.status_topic = gateway_topic(config.site, config.gateway_id, GW_STATUS, config.topic_root)
        self.connected = False
        self.counts = {"connects": 0, "connect_failures": 0, "disconnects": 0, "stage_errors": 0}

    def _status(self, state: str) -> bytes:
        return encode(make_status(self._config.gateway_id, state, self._clock()))

    def _client(self) -> aiomqtt.Client:
        broker = self._config.cloud_broker
        return aiomqtt.Client(
            broker.host,
            broker.port,
            username=broker.username,
            password=broker.password,
            identifier=self.client_id,
            clean_session=False,
            keepalive=max(1, int(broker.keepalive.total_seconds())),
            timeout=broker.timeout.total_seconds(),
            tls_context=broker.ssl_context(),
            will=aiomqtt.Will(self.status_topic, self._status(STATUS_OFFLINE), qos=1, retain=True),
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Stay connected until `stop` is set; then let each stage finish its
        work (bounded by the broker timeout), publish "offline" and disconnect."""
        attempt = 0
        while not stop.is_set():
            try:
                async with self._client() as client:
                    self.connected = True
                    self.counts["connects"] += 1
                    attempt = 0
                    log.info("connected to cloud broker %s", self._config.cloud_broker.host)
                    await client.publish(self.status_topic, self._status(STATUS_ONLINE), qos=1, retain=True)
                    await self._session(client, stop)
                    return
            except* aiomqtt.MqttError as eg:
                if self.connected:
                    self.counts["disconnects"] += 1
                    log.warning("cloud link lost: %s", _first(eg))
                else:
                    self.counts["connect_failures"] += 1
                    level = logging.WARNING if attempt == 0 else logging.DEBUG
                    log.log(level, "cannot reach cloud broker: %s", _first(eg))
            except* Exception as eg:
                # A bug in a stage: logged with its traceback, and the link is
                # tried again like after a network error. An unattended farm
                # gateway keeps trying rather than exiting.
                self.counts["stage_errors"] += 1
                log.error("cloud stage failed", exc_info=_first(eg))
            finally:
                self.connected = False
            delay = backoff_delay(attempt)
            attempt += 1
            try:
                await asyncio.wait_for(stop.wait(), delay)
            except TimeoutError:
                pass

    async def _session(self, client: aiomqtt.Client, stop: asyncio.Event) -> None:
        async with asyncio.TaskGroup() as tg:
            router = tg.create_task(self._route(client), name="cloud messages")
            tasks = [tg.create_task(s.session(client), name=f"cloud {s.name}") for s in self._stages]
            watcher = tg.create_task(stop.wait(), name="cloud stop")
            # A stage that raises makes the TaskGroup cancel us here and
            # re-raise its error; otherwise we wake when stop is set.
            await asyncio.wait([watcher, router, *tasks], return_when=asyncio.FIRST_COMPLETED)
            watcher.cancel()
            for t in tasks:
                await cancel_and_wait(t)  # a stage that missed one cancellation would hold the link open
            if stop.is_set():
                # The stages finish their work while messages still come in (the last batches' receipts).
                await self._close(client)
            await cancel_and_wait(router)
        if not stop.is_set():
            # Stages run until cancelled; one that returned leaves the link
            # half-served, so start the session over.
            raise aiomqtt.MqttError("a cloud stage ended unexpectedly")

    async def _route(self, client: aiomqtt.Client) -> None:
        """Each message to the stage whose topics it matches, one at a time, in arrival order."""
        listeners = [s for s in self._stages if getattr(s, "topics", ())]
        async for message in client.messages:
            stage = next((s for s in listeners if any(message.topic.matches(t) for t in s.topics)), None)
            if stage is None:
                log.debug("message on %s is for no stage: ignored", message.topic)
                continue
            await stage.on_message(message)

    async def _close(self, client: aiomqtt.Client) -> None:
        timeout = self._config.cloud_broker.timeout.total_seconds()
        for stage in self._stages:
            try:
                await asyncio.wait_for(stage.close(client), timeout)
            except (TimeoutError, aiomqtt.MqttError) as e:
                log.warning("%s did not finish before shutdown: %r", stage.name, e)
        # A graceful disconnect sends no will, so say "offline" ourselves.
        try:
            await client.publish(self.status_topic, self._status(STATUS_OFFLINE), qos=1, retain=True)
        except aiomqtt.MqttError as e:
            log.warning("could not publish offline status: %s", e)

    def stats(self) -> dict[str, Any]:
        return {"connected": self.connected, **self.counts}


def _first(eg: BaseExceptionGroup) -> BaseException:
    """The first leaf error of an exception group, for a one-line log."""
    e: BaseException = eg
    while isinstance(e, BaseExceptionGroup):
        e = e.exceptions[0]
    return e
