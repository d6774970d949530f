"""The gateway process: every stage wired together and supervised in one TaskGroup.

MQTT source ─┐                               ┌─> forwarder ──> cloud broker
             ├─> decode/validate ─> buffer ──┤
Modbus poller┘     (quarantine)              └── cloud link (status, backoff)
cloud cmd ──> relay ──> farm broker (node cmd);  node ack ──> relay ──> cloud ack
camera chunks (MQTT source) ──> image store ──> image forwarder ──> cloud (receipt)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from pathlib import Path
from typing import Any

from furrow.clock import Clock, system_clock
from furrow.retry import cancel_and_wait

from .autonomy import Heartbeats, PlanKeeper
from .broker_check import farm_broker_warnings, shared_login_warnings
from .buffer import DurableBuffer
from .cloud_link import CloudLink, CloudStage
from .command_auth import CommandAuth, KeyFileError, SeenIds, load_trusted_keys
from .config import ConfigError, GatewayConfig, load_config
from .forwarder import Forwarder, HttpsForwarder
from .image_link import ImageForwarder
from .images import ImageStore
from .modbus import ModbusPoller
from .modbus.pymodbus_bus import quiet_pymodbus
from .mqtt_source import MqttSource
from .observe import MetricsServer
from .quality import QualityChecker
from .relay import CommandRelay
from .status_report import StatusReporter

log = logging.getLogger(__name__)


class Gateway:
    """One farm gateway. Construct it (opens the buffer, touches no network),
    `await run(stop)` once, until `stop` is set, then `close()`.

    `clock` (Unix ms) is the only time every stage reads: the real one on a
    farm, a simulated one in the hardware-in-the-loop harness.
    """

    def __init__(self, config: GatewayConfig, clock: Clock = system_clock) -> None:
        self.config = config
        self.clock = clock
        # Setups that would lose data, said at start in the log and kept for /health.
        self.warnings = shared_login_warnings(config) + farm_broker_warnings(config)
        for warning in self.warnings:
            log.warning("BROKER SETUP: %s", warning)
        q = config.quota
        self.buffer = DurableBuffer(
            config.buffer_path,
            max_rows=q.max_rows,
            max_bytes=q.max_bytes,
            keep_roles=q.keep_roles,
            dedup_window_s=q.dedup_window.total_seconds(),
            clock=clock,
        )
        self.quality = QualityChecker()
        # Camera nodes' images: their own store and quota; chunks come in on the farm connection, whole
        # images go out on the cloud link (image_link.py); those the quota drops go in the gap log.
        self.images = ImageStore(Path(config.buffer_path).with_suffix(".images.db"), config.image_quota_bytes,
                                 gaps=self.buffer.record_drops)
        self.source = MqttSource(config, self.buffer, on_ack=self._on_node_ack, images=self.images,
                                 quality=self.quality, clock=clock)
        self.auth = _command_auth(config)
        self.plans = PlanKeeper(Path(config.buffer_path).with_suffix(".plan.json"))
        self.relay = CommandRelay(config, self.source.publish, plans=self.plans, outbox=self.buffer,
                                  auth=self.auth, tally=self.buffer, clock=clock)
        self.heartbeats = Heartbeats(config.site, config.gateway_id, config.topic_root, config.irrigation_nodes,
                                     self.source.irrigation_nodes)
        self.forwarder = Forwarder(self.buffer, config, clock)
        self.image_forwarder = ImageForwarder(config, self.images, self.buffer.pending, clock,
                                              receipt_wait_s=config.image_receipt_wait.total_seconds())
        self.https: HttpsForwarder | None = None
        stages: list[CloudStage] = [self.relay]
        # The Modbus counters for the cloud's bus page (status_report.py); the
        # poller is built below, hence the late lookup.
        self.status = StatusReporter(config, lambda: self.poller.health(), clock)
        if config.forward_via == "https":
            self.https = HttpsForwarder(self.forwarder, config)
        else:
            stages.insert(0, self.forwarder)
            stages += [self.image_forwarder, self.status]
        self.cloud = CloudLink(config, stages, clock)
        self.poller = ModbusPoller(
            config.modbus, self.buffer.put_many, self.buffer.quarantine, self.relay.node_ack, self.quality, clock
        )
        self.relay.use_modbus(self.poller.command_nodes(), self.poller.write_command)
        self.metrics = (MetricsServer(self.stats, config.http_host, config.http_port, clock)
                        if config.http_port else None)

    def _on_node_ack(self, ack: dict[str, Any], raw: bytes) -> None:
        # Committed to the outbox with the message that carried it.
        self.relay.node_ack(ack, raw, stored=True)

    async def run(self, stop: asyncio.Event) -> None:
        """Run every stage until `stop` is set, then stop gracefully: sources
        first (what they received is committed and acknowledged), then the
        cloud link flushes the buffer and says "offline"."""
        cloud_stop = asyncio.Event()
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self.cloud.run(cloud_stop), name="cloud link")
            try:
                async with asyncio.TaskGroup() as sources:
                    sources.create_task(self.source.run(stop), name="mqtt source")
                    # Stages that run until cancelled: stopped with the sources.
                    forever = [
                        (self._beat(), "heartbeats"),
                        (self.relay.run_plans(), "plan keeper"),
                    ]
                    if self.config.modbus:
                        forever.append((self.poller.run(), "modbus poller"))
                    if self.metrics is not None:
                        forever.append((self.metrics.run(), "metrics"))
                    if self.https is not None:
                        forever.append((self.https.run(stop), "https forwarder"))
                        forever.append((self.image_forwarder.run_https(stop), "https image forwarder"))
                        forever.append((self.status.run_https(stop), "status reporter"))
                    for coro, name in forever:
                        task = sources.create_task(coro, name=name)
                        sources.create_task(_cancel_when(stop, task), name=f"{name} stop")
            finally:
                cloud_stop.set()
        s = self.stats()
        log.info(
            "gateway stopped: %d received, %d forwarded, %d pending, %d quarantined",
            s["received"],
            s["forwarded"],
            s["pending"],
            s["quarantined"],
        )

    async def _beat(self) -> None:
        """A heartbeat to every irrigation node every heartbeat_interval, until cancelled."""
        while True:
            for topic, payload in self.heartbeats.messages(self.clock()):
                self.source.client.publish(topic, payload, qos=0)
            await asyncio.sleep(self.config.heartbeat_interval.total_seconds())

    @property
    def ready(self) -> bool:
        """Connected to both brokers with every subscription acknowledged."""
        mqtt_up = self.https is not None or self.forwarder.subscribed  # receipts come on the cloud link
        return bool(self.source.subscribed and self.cloud.connected and self.relay.subscribed and mqtt_up)

    def close(self) -> None:
        """Close the buffer (after `run` returned)."""
        self.buffer.close()
        self.images.close()
        self.auth.close()

    def __enter__(self) -> Gateway:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def stats(self) -> dict[str, Any]:
        """Counters for dashboards and tests.

        Keys: received, duplicates, quarantined, forwarded (stored by the cloud:
        its receipt came), pending (not yet), in_flight (sent, waiting for the
        receipt), dropped (the quota), flooded (node budgets), gaps_unconfirmed
        (readings not forwarded whose report the cloud has not confirmed yet,
        {reason: {node: n}}; all from the buffer, kept across restarts), oldest_rx_ms,
        commands_relayed, cancels_relayed, commands_invalid and commands_expired (kept across
        restarts, like the relay's plans_refused and commands_refused), acks_relayed,
        heartbeats_sent, warnings (broker setups that would lose data: broker_check.py),
        and the per-stage detail: modbus (health per node), farm, cloud,
        forwarder, relay, plan, status (the status reports sent).
        """
        b = self.buffer.stats()
        relay = self.relay.stats()
        cloud = self.cloud.stats()
        if self.https is not None:
            cloud = {**cloud, "https": self.https.stats(), "connected": self.https.connected}
        return {
            "received": b["received"],
            "dropped": b["dropped"],
            "flooded": b["flooded"],
            "in_flight": b["in_flight"],
            "gaps_unconfirmed": b["gaps_unconfirmed"],
            "oldest_rx_ms": self.buffer.oldest_rx_ms(),
            "commands_expired": relay["commands_expired"],
            "duplicates": b["duplicates"],
            "quarantined": b["quarantined"],
            "forwarded": b["forwarded_total"],
            "pending": b["pending"],
            "commands_relayed": relay["commands_relayed"],
            "cancels_relayed": relay["cancels_relayed"],
            "commands_invalid": relay["commands_invalid"],
            "acks_relayed": relay["acks_relayed"],
            "modbus": self.poller.health(),
            "farm": self.source.stats(),
            "cloud": cloud,
            "forwarder": self.forwarder.stats(),
            "relay": relay,
            "plan": self.plans.stats(),
            "heartbeats_sent": self.heartbeats.sent,
            "status": self.status.stats(),
            "commands_signed": self.auth.enabled,
            "warnings": list(self.warnings),
            "images": {**self.images.stats(), "forwarder": self.image_forwarder.stats()},
        }


def _command_auth(config: GatewayConfig) -> CommandAuth:
    """The signed-command check of this gateway (command_auth.py); raises KeyFileError."""
    keys = load_trusted_keys(config.command_auth.keys)
    if not keys:
        log.warning("NO TRUSTED CLOUD KEYS ([command_auth] keys): commands are relayed UNSIGNED and "
                    "unchecked; anyone who can publish on the cloud command topic can open a valve. "
                    "Configure the cloud's public keys on a real farm (docs/gateway.md)")
        return CommandAuth({}, config.site, config.gateway_id, None)
    seen_path = config.command_auth.seen_path or Path(config.buffer_path).with_suffix(".cmdids.sqlite")
    log.info("commands must be signed by one of: %s", ", ".join(sorted(keys)))
    return CommandAuth(keys, config.site, config.gateway_id, SeenIds(seen_path))


async def _cancel_when(stop: asyncio.Event, task: asyncio.Task[Any]) -> None:
    await stop.wait()
    await cancel_and_wait(task)


def main(config_path: str | Path) -> int:
    """Entry point for ``furrow gateway run --config FILE``: run until SIGINT
    or SIGTERM, then stop gracefully. Returns the process exit code."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # The poller reports a dead device once, then quietly until it recovers.
    quiet_pymodbus()
    try:
        config = load_config(config_path)
    except ConfigError as e:
        log.error("%s", e)
        return 2
    try:
        load_trusted_keys(config.command_auth.keys)
    except KeyFileError as e:
        log.error("%s: %s", config_path, e)
        return 2

    async def _run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        with Gateway(config) as gateway:
            await gateway.run(stop)

    asyncio.run(_run())
    return 0
