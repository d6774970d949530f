"""Prometheus metrics at /metrics and a health check at /health.

A tiny HTTP/1.0 server on the gateway's event loop (no framework): one
request per connection, GET only. Metrics are collected from
``Gateway.stats()`` at scrape time, so nothing is counted twice.

/health answers 200 while the gateway can do its job at the farm (the farm
broker connected, the buffer readable); the cloud being away is normal for a
farm gateway and shows as ``"cloud": false`` in the body, not as a failure.
Otherwise it answers 503.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from furrow.clock import Clock, system_clock

log = logging.getLogger(__name__)

P = "furrow_gateway_"
BIND_RETRY_S = 30.0
_COUNTERS = {
    "received": "Readings received (new and duplicate)",
    "duplicates": "Readings received again and stored once",
    "forwarded": "Readings the cloud stored (its receipt came)",
    "dropped": "Readings dropped by the buffer quota (each reported to the cloud)",
    "quarantined": "Inputs that broke the contract, kept in the quarantine",
    "commands_relayed": "Commands delivered to the farm broker",
    "cancels_relayed": "Cancels (contract 1.2) delivered to the farm broker or a Modbus mailbox",
    "commands_invalid": "Commands refused as invalid",
    "commands_expired": "Commands refused as expired on arrival",
    "acks_relayed": "Node acknowledgements passed to the cloud",
}


class _Collector:
    def __init__(self, stats: Callable[[], dict[str, Any]], clock: Clock) -> None:
        self._stats = stats
        self._clock = clock

    def collect(self) -> Iterator[Metric]:
        s = self._stats()
        now = self._clock()
        yield GaugeMetricFamily(P + "buffer_pending", "Readings waiting for the cloud", value=s["pending"])
        oldest = s.get("oldest_rx_ms")
        age = (now - oldest) / 1000 if oldest else 0.0
        yield GaugeMetricFamily(P + "buffer_oldest_age_seconds", "Age of the oldest unsent reading", value=age)
        for key, doc in _COUNTERS.items():
            yield CounterMetricFamily(P + key, doc, value=s.get(key, 0))
        refused = CounterMetricFamily(P + "commands_refused", "Commands refused (signature, key, gateway, "
                                      "expiry, replay), by reason", labels=["reason"])
        for kind, n in sorted(s.get("relay", {}).get("commands_refused", {}).items()):
            refused.add_metric([kind], n)
        yield refused
        yield CounterMetricFamily(P + "plans_refused", "Plans refused (signature, envelope)",
                                  value=s.get("relay", {}).get("plans_refused", 0))
        yield CounterMetricFamily(P + "rate_limited", "Node reports refused by the per-node budget (flood), "
                                  "kept across restarts", value=s.get("flooded", 0))
        yield GaugeMetricFamily(P + "buffer_in_flight", "Readings sent and waiting for the cloud's receipt",
                                value=s.get("in_flight", 0))
        unconfirmed = GaugeMetricFamily(P + "gaps_unconfirmed", "Readings not forwarded (quota, flood, "
                                        "quarantine) whose report the cloud has not confirmed", labels=["reason"])
        for reason, nodes in sorted(s.get("gaps_unconfirmed", {}).items()):
            unconfirmed.add_metric([reason], sum(nodes.values()))
        yield unconfirmed
        yield GaugeMetricFamily(P + "commands_signed", "1 when commands must be signed by a trusted cloud key",
                                value=int(bool(s.get("commands_signed"))))
        yield GaugeMetricFamily(P + "farm_connected", "Connected to the farm broker", value=int(s["farm"]["connected"]))
        yield GaugeMetricFamily(P + "cloud_connected", "Connected to the cloud", value=int(s["cloud"]["connected"]))
        online = GaugeMetricFamily(P + "node_online", "Node's last status was online", labels=["node"])
        seen = GaugeMetricFamily(P + "node_last_seen_age_seconds", "Since the node's last status", labels=["node"])
        for node, st in s["farm"]["nodes"].items():
            online.add_metric([node], int(st["state"] == "online"))
            seen.add_metric([node], (now - st["rx_ms"]) / 1000)
        yield online
        yield seen
        polls = CounterMetricFamily(P + "modbus_polls", "Polls of a Modbus device", labels=["node"])
        errors = CounterMetricFamily(P + "modbus_errors", "Failed polls of a Modbus device", labels=["node"])
        last = GaugeMetricFamily(P + "modbus_last_good_age_seconds", "Since the last good poll", labels=["node"])
        off = GaugeMetricFamily(P + "modbus_backed_off", "Device set aside after failing", labels=["node"])
        for node, h in s["modbus"].items():
            polls.add_metric([node], h["polls"])
            errors.add_metric([node], h["errors"])
            if h["last_good_ms"] is not None:
                last.add_metric([node], (now - h["last_good_ms"]) / 1000)
            off.add_metric([node], int(h["backed_off"]))
        yield from (polls, errors, last, off)


def health(stats: dict[str, Any], now: int) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body) for /health at `now` (Unix ms)."""
    ok = bool(stats["farm"]["connected"])
    oldest = stats.get("oldest_rx_ms")
    body = {
        "status": "ok" if ok else "farm broker unreachable",
        "farm": stats["farm"]["connected"],
        "cloud": stats["cloud"]["connected"],
        "pending": stats["pending"],
        "in_flight": stats.get("in_flight", 0),
        "oldest_unsent_age_s": (now - oldest) / 1000 if oldest else 0.0,
        "dropped": stats["dropped"],
        # "unsigned": no trusted cloud keys, anyone on the cloud command topic can open a valve
        "commands": "signed" if stats.get("commands_signed") else "unsigned",
        # broker setups that would lose data (broker_check.py); empty when none was found
        "warnings": stats.get("warnings", []),
    }
    return (200 if ok else 503), body


class MetricsServer:
    """Serves /metrics and /health from `stats` on host:port."""

    def __init__(self, stats: Callable[[], dict[str, Any]], host: str, port: int,
                 clock: Clock = system_clock) -> None:
        self._stats = stats
        self._clock = clock
        self._registry = CollectorRegistry(auto_describe=False)
        self._registry.register(_Collector(stats, clock))  # type: ignore[arg-type]
        self.host, self.port = host, port
        self._server: asyncio.Server | None = None

    async def run(self) -> None:
        """Serve until cancelled. A port that cannot be bound is logged and
        tried again: monitoring never takes the gateway down."""
        while True:
            try:
                self._server = await asyncio.start_server(self._handle, self.host, self.port)
                break
            except OSError as e:
                log.error("metrics server cannot listen on %s:%d (%s); retrying in %g s", self.host, self.port, e,
                          BIND_RETRY_S)
                await asyncio.sleep(BIND_RETRY_S)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("metrics on http://%s:%d/metrics", self.host, self.port)
        try:
            await asyncio.Future()  # until cancelled
        finally:
            self._server.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), 5)
            while (await asyncio.wait_for(reader.readline(), 5)) not in (b"\r\n", b"\n", b""):
                pass
            parts = line.decode("latin-1").split()
            path = parts[1].split("?")[0] if len(parts) >= 2 else ""
            if len(parts) < 2 or parts[0] != "GET":
                status, ctype, body = 405, "text/plain", b"GET only\n"
            elif path == "/metrics":
                data = await asyncio.to_thread(generate_latest, self._registry)
                status, ctype, body = 200, "text/plain; version=0.0.4; charset=utf-8", data
            elif path == "/health":
                code, doc = health(await asyncio.to_thread(self._stats), self._clock())
                status, ctype, body = code, "application/json", json.dumps(doc).encode() + b"\n"
            else:
                status, ctype, body = 404, "text/plain", b"try /metrics or /health\n"
            reason = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}[status]
            head = f"HTTP/1.0 {status} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n\r\n"
            writer.write(head.encode() + body)
            await writer.drain()
        except (TimeoutError, ConnectionError, UnicodeError):
            pass
        except Exception:  # a scrape must never take the gateway down
            log.exception("metrics request failed")
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
