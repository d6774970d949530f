"""In-process events for live views: ingest, commands, alerts and plans publish; the dashboard's
server-sent event stream subscribes.

Publishing never waits and never fails: a subscriber that falls behind loses its
oldest events (counted in `dropped`) rather than slowing ingest down.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
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
    _subs: dict[int, Subscription] = field(default_factory=dict)

    def publish(self, kind: str, data: dict[str, object]) -> None:
        """Hand `data` to every subscriber now; call from the event loop's thread."""
        event = Event(kind, data)
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
