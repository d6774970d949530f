"""In-process events for live views: ingest, commands, alerts and plans publish; the dashboard's
server-sent event stream subscribes.

Publishing never waits and never fails: a subscriber that falls behind loses its
oldest events (counted in `dropped`) rather than slowing ingest down. With several cloud
instances on one PostgreSQL, `relay` hands every published event to the others too
(cloud/cluster/), which `deliver` it to their own subscribers.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Event:
    kind: str  # "reading", "command", "alert", "decision", ...
    data: dict[str, object]


@dataclass
class Subscription:
    queue: asyncio.Queue[Event]
    dropped: int = 0


@dataclass
class EventBus:
    queue_size: int = 1000
    relay: Callable[[Event], None] | None = None  # to the other instances (cloud/cluster/)
    _subs: dict[int, Subscription] = field(default_factory=dict)

    def publish(self, kind: str, data: dict[str, object]) -> None:
        """Hand `data` to every subscriber now, and to the other instances; call from the event
        loop's thread."""
        event = Event(kind, data)
        self._deliver(event)
        if self.relay is not None:
            self.relay(event)

    def deliver(self, kind: str, data: dict[str, object]) -> None:
        """Hand an event another instance published to this instance's subscribers only."""
        self._deliver(Event(kind, data))

    def _deliver(self, event: Event) -> None:
        for sub in self._subs.values():
            if sub.queue.full():
                sub.queue.get_nowait()
                sub.dropped += 1
            sub.queue.put_nowait(event)

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[Subscription]:
        sub = Subscription(asyncio.Queue(self.queue_size))
        key = id(sub)
        self._subs[key] = sub
        try:
            yield sub
        finally:
            self._subs.pop(key, None)

    @property
    def subscribers(self) -> int:
        return len(self._subs)
