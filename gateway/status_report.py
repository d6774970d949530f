"""The gateway's periodic status report: its Modbus per-device counters, for the cloud's bus page.

Every ``status_interval`` the gateway repeats its status, still ``online``,
with a ``modbus`` object added (contract 1.1, edge/commands.py): node id ->
the counters the cloud turns into each port's devices, error rate and poll
rate. Over the cloud MQTT link the report is the retained message on the
gateway status topic, so the topic keeps meaning online/offline: the last
will and a graceful stop still leave ``offline`` there. With
``forward_via = "https"`` the report is POSTed to the cloud's status route
instead, and the MQTT status stays the plain online/offline one.

The first report goes one interval after connecting: "online" alone already
says the link is up, and the cloud needs two reports for its rates anyway.
A report that fails is logged once, then quietly until one goes through;
it never stops the other stages.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urljoin

import aiomqtt
import httpx

from furrow.clock import Clock, system_clock
from furrow.edge.commands import STATUS_ONLINE, encode, make_status
from furrow.edge.errors import ContractError
from furrow.edge.topics import GW_STATUS, gateway_topic

from .config import GatewayConfig
from .forwarder import sink_client

log = logging.getLogger(__name__)

TEXT_MAX = 200  # the contract's bound on a device's port and last_error


def modbus_counters(health: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """The poller's per-device health (gateway/modbus/poller.py ``DeviceHealth``) as the
    status report's counters: what the cloud's bus page reads, nothing of the poll plan."""
    out = {}
    for node, h in health.items():
        error = h.get("last_error")
        out[node] = {
            "port": str(h["port"])[:TEXT_MAX],
            "unit": h.get("unit"),
            "role": h.get("role"),
            "polls": h.get("polls", 0),
            "requests": h.get("requests", 0),
            "errors": h.get("errors", 0),
            "consecutive_failures": h.get("consecutive_failures", 0),
            "backed_off": bool(h.get("backed_off")),
            "last_good_ms": h.get("last_good_ms"),
            # pymodbus errors can be long; the newest 200 characters name the failure
            "last_error": None if error is None else str(error)[-TEXT_MAX:],
        }
    return out


def status_url(config: GatewayConfig) -> str:
    """The cloud's status route for this gateway: [https] status_url, or the one beside the batch url."""
    assert config.https is not None
    if config.https.status_url:
        return config.https.status_url
    return urljoin(config.https.url, f"../gateways/{config.site}/{config.gateway_id}/status")


class StatusReporter:
    """Cloud stage (MQTT) or task (HTTPS): the gateway's status with its Modbus counters, every interval."""

    name = "status reporter"

    def __init__(self, config: GatewayConfig, health: Callable[[], Mapping[str, Mapping[str, Any]]],
                 clock: Clock = system_clock) -> None:
        self._config = config
        self._clock = clock
        self._health = health
        self._interval_s = config.status_interval.total_seconds()
        self.topic = gateway_topic(config.site, config.gateway_id, GW_STATUS, config.topic_root)
        self.counts = {"reports": 0, "failures": 0}
        self.last_error: str | None = None

    def report(self) -> bytes:
        """The status message now: online, with every configured device's counters."""
        status = make_status(self._config.gateway_id, STATUS_ONLINE, self._clock(),
                             modbus=modbus_counters(self._health()))
        return encode(status)

    async def session(self, client: aiomqtt.Client) -> None:
        """Publish the report, retained, every interval until cancelled; an MqttError means the link broke."""
        while True:
            await asyncio.sleep(self._interval_s)
            payload = self._payload()
            if payload is not None:
                await client.publish(self.topic, payload, qos=1, retain=True)
                self._sent()

    async def close(self, client: aiomqtt.Client) -> None:
        """Nothing to finish: the cloud link says "offline" after the stages."""

    async def run_https(self, stop: asyncio.Event) -> None:
        """POST the report to the cloud's status route every interval until `stop`."""
        url = status_url(self._config)
        async with sink_client(self._config.https) as http:  # type: ignore[arg-type]
            while not stop.is_set():
                try:
                    await asyncio.wait_for(stop.wait(), self._interval_s)
                    return
                except TimeoutError:
                    pass
                payload = self._payload()
                if payload is None:
                    continue
                try:
                    r = await http.post(url, content=payload)
                except httpx.HTTPError as e:
                    self._failed(f"{type(e).__name__}: {e}")
                    continue
                if r.status_code >= 300:
                    self._failed(f"HTTP {r.status_code}: {r.text[:200]}")
                else:
                    self._sent()

    def _payload(self) -> bytes | None:
        try:
            return self.report()
        except ContractError as e:  # e.g. more devices than a report may carry: a config to fix
            self._failed(f"status report breaks the contract: {e}")
            return None

    def _sent(self) -> None:
        if self.last_error is not None:
            log.info("status reports reach the cloud again")
        self.last_error = None
        self.counts["reports"] += 1

    def _failed(self, why: str) -> None:
        self.counts["failures"] += 1
        if self.last_error is None:
            log.warning("status report not delivered: %s", why)
        self.last_error = why

    def stats(self) -> dict[str, Any]:
        return {**self.counts, "last_error": self.last_error}
