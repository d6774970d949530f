"""In-process events for live views: ingest, commands, alerts and plans publish; the dashboard's
server-sent event stream subscribes.

Publishing never waits and never fails: a subscriber that falls behind loses its
oldest events (counted in `dropped`) rather than slowing ingest down. With several cloud
instances on one PostgreSQL, `relay` hands every published event to the others too
(cloud/cluster/), which `deliver` it to their own subscribers.

Nothing is lost between two streams. Every event carries its origin (the instance that
published it) and that origin's sequence number, and the bus keeps the newest `history_size`
events of all origins. A live stream tells the client, with each message, the `Position` it
has reached (the newest seq it was handed of each origin, as the SSE ``id:``); a client that
comes back with that position, to this instance or another one behind the same balancer, is
handed what it missed (`resume`). Where that is no longer possible (the events went out of the
history, an origin's events were lost on the way here, an origin this instance never heard
of), `resume` says so and the client shows its page afresh.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

Position = dict[str, int]  # origin -> the newest seq of it a client was handed

ORIGINS_MAX = 64  # origins a position remembers (instances come and go: the longest silent go first)
_ENTRY = re.compile(r"([0-9a-f]{1,32}):([0-9]{1,18})")


def format_position(position: Position) -> str:
    """`position` as an SSE ``id:`` (``origin:seq,origin:seq``)."""
    return ",".join(f"{origin}:{seq}" for origin, seq in position.items())


def parse_position(text: str) -> Position | None:
    """The position a client sent back as ``Last-Event-ID``, or None if it is not one."""
    position: Position = {}
    entries = text.split(",") if text.strip() else []
    if len(entries) > ORIGINS_MAX:
        return None
    for entry in entries:
        m = _ENTRY.fullmatch(entry.strip())
        if m is None:
            return None
        position[m.group(1)] = int(m.group(2))
    return position


@dataclass(frozen=True)
class Event:
    kind: str  # "reading", "command", "alert", "decision", ...
    data: dict[str, object]
    origin: str = ""  # the instance that published it
    seq: int = 0  # its number among that origin's events, from 1


def _weight(event: Event) -> int:
    """What an event costs the history: one, and one per node report it holds ("reading")."""
    nodes = event.data.get("nodes")
    return 1 + (len(nodes) if isinstance(nodes, list) else 0)


@dataclass
class Subscription:
    """One subscriber's events, waiting for it: at most the queue's size and `nodes_max` node
    reports (a reader stuck on a slow link must not hold hundreds of megabytes); past either
    the oldest go, counted in `dropped`."""

    queue: asyncio.Queue[Event]
    nodes_max: int = 20_000
    dropped: int = 0
    weight: int = 0  # of the events waiting

    def put(self, event: Event) -> None:
        weight = _weight(event)
        while not self.queue.empty() and (self.queue.full() or self.weight + weight > self.nodes_max):
            self.weight -= _weight(self.queue.get_nowait())
            self.dropped += 1
        self.queue.put_nowait(event)
        self.weight += weight

    async def get(self) -> Event:
        """The oldest waiting event (waits for one)."""
        event = await self.queue.get()
        self.weight -= _weight(event)
        return event


@dataclass(frozen=True)
class Resume:
    """Where a returning client's stream starts: `start` is its position, `missed` the events it
    has not seen, oldest first; `complete` is False when some are no longer here to hand over."""

    start: Position
    missed: list[Event]
    complete: bool


@dataclass
class EventBus:
    queue_size: int = 1000
    history_size: int = 2000  # events kept for clients that come back
    history_nodes: int = 20_000  # and node reports in them: 1.4 kB each in memory, so at most about 28 MB
    relay: Callable[[Event], None] | None = None  # to the other instances (cloud/cluster/)
    origin: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    _subs: dict[int, Subscription] = field(default_factory=dict)
    _history: deque[Event] = field(default_factory=deque)
    _newest: OrderedDict[str, int] = field(default_factory=OrderedDict)  # origin -> newest seq heard
    _held_from: dict[str, int] = field(default_factory=dict)  # origin -> seq from which all are in the history
    _history_weight: int = 0

    def __post_init__(self) -> None:
        self._newest[self.origin] = 0
        self._held_from[self.origin] = 1

    @property
    def seq(self) -> int:
        """The number of the newest event this instance published."""
        return self._newest[self.origin]

    def publish(self, kind: str, data: dict[str, object]) -> None:
        """Hand `data` to every subscriber now, and to the other instances; call from the event
        loop's thread."""
        event = Event(kind, data, self.origin, self.seq + 1)
        self._record(event)
        self._deliver(event)
        if self.relay is not None:
            self.relay(event)

    def deliver(self, kind: str, data: dict[str, object], origin: str, seq: int) -> None:
        """Hand an event another instance published to this instance's subscribers only."""
        newest = self._newest.get(origin)
        if newest is not None and seq <= newest:
            return  # heard already
        self._heard(origin, seq - 1)
        event = Event(kind, data, origin, seq)
        self._record(event)
        self._deliver(event)

    def hear(self, origin: str, seq: int) -> None:
        """Another instance says `seq` is its newest event (when it or this one starts listening):
        events of it that never arrived are missed by every subscriber, who is told so."""
        self._heard(origin, seq)

    def position(self) -> Position:
        """The newest event heard of every origin."""
        return dict(self._newest)

    def resume(self, client: Position | None) -> Resume:
        """What a client that reached `client` (None: a position it sent that was not one) has
        missed, as far as this instance still holds it."""
        if client is None or any(origin not in self._newest for origin in client):
            return Resume(self.position(), [], False)  # an origin never heard of here, or gone
        start: Position = {}
        for origin, newest in self._newest.items():
            seen = client.get(origin)
            held = self._held_from[origin]
            if seen is None:
                if held > 1:  # the client may or may not have seen its events
                    return Resume(self.position(), [], False)
                seen = 0  # an origin that began after the client's stream did: it has seen none of it
            elif seen < newest and seen + 1 < held:
                return Resume(self.position(), [], False)
            start[origin] = seen
        missed = [e for e in self._history if e.seq > start[e.origin]]
        return Resume(start, missed, True)

    def _heard(self, origin: str, seq: int) -> None:
        newest = self._newest.get(origin)
        if newest is None:
            self._held_from[origin] = seq + 1
        elif seq > newest:  # lost on the way here (a relay that reconnected, a full outbox)
            self._held_from[origin] = seq + 1
            for sub in self._subs.values():
                sub.dropped += seq - newest
        if newest is None or seq > newest:
            self._newest[origin] = seq
        self._newest.move_to_end(origin)
        self._newest.move_to_end(self.origin)  # this instance's own is never forgotten
        while len(self._newest) > ORIGINS_MAX:
            gone, _ = self._newest.popitem(last=False)
            self._held_from.pop(gone, None)

    def _record(self, event: Event) -> None:
        self._history.append(event)
        self._history_weight += _weight(event)
        while len(self._history) > self.history_size or self._history_weight > self.history_nodes:
            old = self._history.popleft()
            self._history_weight -= _weight(old)
            if old.origin in self._held_from:
                self._held_from[old.origin] = max(self._held_from[old.origin], old.seq + 1)
        self._newest[event.origin] = event.seq
        self._newest.move_to_end(event.origin)
        self._held_from.setdefault(event.origin, event.seq)

    def _deliver(self, event: Event) -> None:
        for sub in self._subs.values():
            sub.put(event)

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[Subscription]:
        sub = Subscription(asyncio.Queue(self.queue_size), self.history_nodes)
        key = id(sub)
        self._subs[key] = sub
        try:
            yield sub
        finally:
            self._subs.pop(key, None)

    @property
    def subscribers(self) -> int:
        return len(self._subs)
