"""The reading path of a scenario, in process: node bytes -> gateway -> cloud store.

What runs is the real code of each stage, called directly instead of over
sockets (see docs/hil.md, "Why in process"):

    node core uplink -> wire bytes (JSON or the binary codec) -> contract decode
      -> gateway quality flags and clock correction -> gateway DurableBuffer (SQLite, UNIQUE(node, seq))
      -> gateway Forwarder (batches, zlib) -> cloud ingest_batch -> cloud SqliteReadingStore

Every (node, seq) a node sends is remembered with its number of readings,
so `audit()` can say, from the cloud store itself, what arrived, what was
lost and what was stored twice.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from furrow.cloud.ingest import ingest_batch
from furrow.cloud.storage.sqlite_store import SqliteReadingStore
from furrow.edge import payload
from furrow.gateway.buffer import DurableBuffer, Item
from furrow.gateway.config import BrokerConfig, GatewayConfig
from furrow.gateway.forwarder import Forwarder
from furrow.gateway.quality import QualityChecker, correct_clock


class _NoRoutes:
    """The cloud records which gateway heard each node, for routing commands over MQTT;
    a scenario hands commands to the controllers itself, so it keeps no routes."""

    async def record(self, site: str, gateway: str, seen_ms: Mapping[str, int], health: Any = None) -> None:
        return None


class InProcessPipeline:
    """Gateway buffer and forwarder feeding the cloud ingest and store, all in `workdir`."""

    def __init__(self, workdir: Path, site: str = "hil", gateway: str = "gw-hil", batch_size: int = 2000) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        # the brokers are never dialled: the scenario calls the forwarder with the cloud ingest as its sender
        broker = BrokerConfig(host="127.0.0.1")
        self.config = GatewayConfig(site=site, gateway_id=gateway, farm_broker=broker, cloud_broker=broker,
                                    buffer_path=workdir / "gateway-buffer.db", forward_batch_size=batch_size,
                                    http_port=0)
        self.buffer = DurableBuffer(self.config.buffer_path)
        self.forwarder = Forwarder(self.buffer, self.config)
        self.store_path = workdir / "cloud-readings.db"
        self.store = SqliteReadingStore(self.store_path)
        self._quality = QualityChecker()
        self._routes = _NoRoutes()
        self._pending: list[Item] = []
        self.sent: dict[tuple[str, int], int] = {}  # (node, seq) -> readings in that report
        self.batches = 0
        self.cloud_up = True

    def send(self, data: bytes, rx_ms: int) -> None:
        """A node's report arrives at the gateway as bytes: decoded by the contract, flagged,
        and queued for the buffer's next commit."""
        uplink = payload.decode(data)
        flags = self._quality(uplink, rx_ms)
        self._pending.append(Item(correct_clock(uplink, flags, rx_ms), rx_ms, flags))

    def note_sent(self, uplink: dict[str, Any]) -> None:
        self.sent[(uplink["node"], uplink["seq"])] = len(uplink["readings"])

    def commit(self) -> int:
        """One buffer transaction for what arrived since the last one (the gateway's
        committer groups messages the same way); returns the new readings."""
        if not self._pending:
            return 0
        items, self._pending = self._pending, []
        return self.buffer.put_many(items)

    async def forward(self) -> int:
        """Drain the buffer to the cloud, as the forwarder does while the link is up."""
        self.commit()
        if not self.cloud_up:
            return 0
        total = 0

        async def send(body: bytes) -> None:
            await ingest_batch(body, self.store, self._routes, origin=(self.config.site, self.config.gateway_id))
            self.batches += 1

        while True:
            n = await self.forwarder.forward_once(send)
            total += n
            if n == 0:
                return total

    def audit(self) -> dict[str, int]:
        """readings sent/stored/lost/duplicated, counted from the cloud's own store."""
        with contextlib.closing(sqlite3.connect(f"file:{self.store_path}?mode=ro", uri=True)) as db:
            rows = db.execute("SELECT node, seq, count(*) FROM readings GROUP BY node, seq").fetchall()
        stored = {(node, seq): n for node, seq, n in rows}
        sent = sum(self.sent.values())
        lost = sum(max(0, n - stored.get(key, 0)) for key, n in self.sent.items())
        dup = sum(max(0, n - self.sent.get(key, 0)) for key, n in stored.items())
        return {"readings_sent": sent, "readings_stored": sum(stored.values()), "readings_lost": lost,
                "duplicates_stored": dup, "reports_sent": len(self.sent)}

    def stats(self) -> dict[str, int]:
        return {**self.buffer.stats(), "batches": self.batches}

    async def close(self) -> None:
        self.buffer.close()
        await self.store.close()
