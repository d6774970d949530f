"""Several cloud instances that act as one (PostgreSQL), or one on its own (SQLite).

`open_cluster` gives an instance its `Cluster`: the job leases that let exactly one instance
run each background job (leases.py), and, on PostgreSQL, the relay that shares live events
and gateway status reports between instances (relay.py). On SQLite, the embedded single
process default, there is nothing to share: every lease is held and no relay runs.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import make_url

from ..events import EventBus
from ..gateway_status import StatusBook
from .leases import JobLeases, LocalLeases, PgLeases
from .relay import PgRelay

__all__ = ["Cluster", "JobLeases", "LocalLeases", "PgLeases", "PgRelay", "open_cluster"]


@dataclass
class Cluster:
    """This instance's place among the others: its id, its job leases, its relay (if any)."""

    instance: str
    leases: JobLeases
    relay: PgRelay | None = None
    _task: asyncio.Task[None] | None = field(default=None, repr=False)

    @property
    def state(self) -> str:
        """"single" (no other instance to hear), "listening" or "connecting" (to PostgreSQL)."""
        if self.relay is None:
            return "single"
        return "listening" if self.relay.listening.is_set() else "connecting"

    def start(self) -> None:
        if self.relay is not None and self._task is None:
            self._task = asyncio.create_task(self.relay.run(), name="furrow-cluster-relay")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.leases.close()


def open_cluster(database_url: str, events: EventBus, book: StatusBook) -> Cluster:
    """The cluster of the instance whose relational database is `database_url`: on PostgreSQL,
    `events` and `book` are shared with every instance on the same database."""
    instance = events.origin  # the relay's origin is the bus's: events keep their number across instances
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        return Cluster(instance, LocalLeases())
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)

    def apply(origin: str, message: dict[str, Any]) -> None:
        if message.get("k") == "event":
            events.deliver(message["kind"], message["data"], origin, int(message["n"]))
        elif message.get("k") == "status":
            book.adopt(message["site"], message["gateway"], message["report"])
        elif message.get("k") == "hello":  # an instance (re)joined: learn its newest event, say ours once
            events.hear(origin, int(message["n"]))
            if not message.get("reply"):
                relay.send(beat(), shared=True)

    def joined() -> None:  # listening (again): what the others published meanwhile shows up as a gap
        relay.send({"k": "hello", "n": events.seq}, shared=True)

    def beat() -> dict[str, Any]:  # a hello that asks for no answer: its newest event, and that it is there
        return {"k": "hello", "n": events.seq, "reply": True}

    relay = PgRelay(dsn, instance, apply, on_listening=joined, beat=beat)
    events.relay = lambda event: relay.send({"k": "event", "kind": event.kind, "data": event.data, "n": event.seq})
    book.on_recorded = lambda site, gateway, report: relay.send(
        {"k": "status", "site": site, "gateway": gateway, "report": report})
    return Cluster(instance, PgLeases(dsn), relay)
