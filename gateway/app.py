"""The gateway process: every stage wired together and supervised in one TaskGroup.

MQTT source ─┐                               ┌─> forwarder ──> cloud broker
             ├─> decode/validate ─> buffer ──┤
Modbus poller┘     (quarantine)              └── cloud link (status, backoff)
cloud cmd ──> relay ──> farm broker (node cmd);  node ack ──> relay ──> cloud ack
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from pathlib import Path
from typing import Any

from .buffer import DurableBuffer
from .cloud_link import CloudLink
from .config import ConfigError, GatewayConfig, load_config
from .forwarder import Forwarder
from .modbus import ModbusPoller
from .mqtt_source import MqttSource
from .relay import CommandRelay

log = logging.getLogger(__name__)


class Gateway:
    """One farm gateway. Construct it (opens the buffer, touches no network),
    `await run(stop)` once, until `stop` is set, then `close()`.
    """

    def __init__(self, config: GatewayConfig) -> None:
        self.config = config
        self.buffer = DurableBuffer(config.buffer_path)
        self.source = MqttSource(config, self.buffer, on_ack=self._on_node_ack)
        self.relay = CommandRelay(config, self.source.publish)
        self.forwarder = Forwarder(self.buffer, config)
        self.cloud = CloudLink(config, [self.forwarder, self.relay])
        self.poller = ModbusPoller(config.modbus, self.buffer.put_many, self.buffer.quarantine)

    def _on_node_ack(self, ack: dict[str, Any], raw: bytes) -> None:
        self.relay.node_ack(ack, raw)

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
                    if self.config.modbus:
                        poller = sources.create_task(self.poller.run(), name="modbus poller")
                        sources.create_task(_cancel_when(stop, poller), name="modbus stop")
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

    @property
    def ready(self) -> bool:
        """Connected to both brokers with every subscription acknowledged."""
        return self.source.subscribed and self.cloud.connected and self.relay.subscribed

    def close(self) -> None:
        """Close the buffer (after `run` returned)."""
        self.buffer.close()

    def __enter__(self) -> Gateway:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def stats(self) -> dict[str, Any]:
        """Counters for dashboards and tests.

        Keys: received, duplicates, quarantined, forwarded, pending (from the
        buffer, kept across restarts), commands_relayed, commands_invalid,
        acks_relayed, and the per-stage detail: modbus (health per node),
        farm, cloud, forwarder, relay.
        """
        b = self.buffer.stats()
        relay = self.relay.stats()
        return {
            "received": b["received"],
            "duplicates": b["duplicates"],
            "quarantined": b["quarantined"],
            "forwarded": b["forwarded_total"],
            "pending": b["pending"],
            "commands_relayed": relay["commands_relayed"],
            "commands_invalid": relay["commands_invalid"],
            "acks_relayed": relay["acks_relayed"],
            "modbus": self.poller.health(),
            "farm": self.source.stats(),
            "cloud": self.cloud.stats(),
            "forwarder": self.forwarder.stats(),
            "relay": relay,
        }


async def _cancel_when(stop: asyncio.Event, task: asyncio.Task[Any]) -> None:
    await stop.wait()
    task.cancel()


def main(config_path: str | Path) -> int:
    """Entry point for ``furrow gateway run --config FILE``: run until SIGINT
    or SIGTERM, then stop gracefully. Returns the process exit code."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # pymodbus logs every failed request at ERROR; the poller already reports
    # a dead device once, then quietly until it recovers.
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    try:
        config = load_config(config_path)
    except ConfigError as e:
        log.error("%s", e)
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
