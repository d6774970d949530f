"""Cloud instances share what they hear through PostgreSQL LISTEN/NOTIFY.

Behind a load balancer, a dashboard's live stream (``GET /events``) is served by one instance,
while the batches, acks and gateway status reports it should show are taken by whichever
instance the broker's shared subscription or the balancer chose. Each instance therefore
sends what it publishes locally (live events, gateway status reports) to the others and hands
on what the others sent: every instance's bus carries every instance's events.

Each instance listens on two channels: the shared one (``furrow_cluster``), where hellos go (an
instance that starts listening says hello and the others answer, cloud/cluster/__init__.py), and
its own (``furrow_cluster_<origin>``). Every message heard from an instance makes it a peer for
`PEER_TTL_S`; each instance says hello again every `BEAT_S`. What an instance publishes goes to
each peer's own channel: an instance alone sends nothing (it used to NOTIFY every live event,
29 kB for the bench's batch of 50 reports, and hear it back itself: a tenth of a busy worker,
docs/performance.md, "Seventh pass"), and no instance hears its own events. For its first
`JOIN_S` of listening (and before), when it cannot know its peers yet, an instance sends on the
shared channel instead, which every instance hears, as all messages went before. Another
instance's events reach one that has just started listening once that one's hello has reached
it (one NOTIFY's way); those before count as before it started.

A NOTIFY payload must stay under 8,000 bytes; a longer message goes out as numbered frames
that the listeners put back together (`frames`, `Reassembler`: no I/O, tested alone). One
instance's frames arrive in the order it sent them, on whichever of a listener's channels. A
listener that loses its connection misses what was sent meanwhile (counted as a reconnect and
logged); live events are numbered per origin, so the gap shows (cloud/events.py) and a
dashboard reloads its view, and gateways report their status again within a minute.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import orjson
import psycopg
from psycopg import sql

from furrow.retry import Backoff

log = logging.getLogger(__name__)

CHANNEL = "furrow_cluster"  # the shared channel: hellos, and what an instance sends while it joins
BEAT_S = 30.0  # how often an instance says hello again
PEER_TTL_S = 3 * BEAT_S  # an instance not heard from for this long is no longer sent to
JOIN_S = 2.0  # after (re)starting to listen, messages go on the shared channel this long (a peer that
# answers its hello later misses what was sent meanwhile, and sees it as a gap: cloud/events.py)
FRAME_MAX = 7000  # characters of JSON per NOTIFY (ASCII: characters are bytes); the limit is 8,000 bytes
SEND_BATCH = 100  # messages sent in one round trip
QUEUE_MAX = 10_000  # messages waiting to be sent; past it the oldest go (counted)


def channel_of(origin: str) -> str:
    """The channel only the instance `origin` listens on."""
    return f"{CHANNEL}_{origin}"


def frames(origin: str, msg_id: int, message: dict[str, Any]) -> list[str]:
    """`message` as NOTIFY payloads of at most FRAME_MAX characters of JSON each, every one
    headed ``origin msg_id index count``."""
    body = _ascii_json(message)
    pieces = [body[i:i + FRAME_MAX] for i in range(0, len(body), FRAME_MAX)] or [""]
    return [f"{origin} {msg_id} {i} {len(pieces)} {piece}" for i, piece in enumerate(pieces)]


def _ascii_json(message: dict[str, Any]) -> str:
    """`message` as JSON in ASCII, so a frame's characters are its bytes. orjson (C) writes a
    live "reading" event in a sixth of ``json.dumps``'s time, which was 2 µs of each reading a
    worker ingests (docs/performance.md, "Fourth pass"); text with other characters (a zh-CN
    alert) and anything orjson cannot write go through ``json.dumps``, escaped, as before. A
    NaN or an infinity (which no reading holds: the contract refuses them) travels as null,
    as JSON has neither."""
    try:
        body = orjson.dumps(message, option=orjson.OPT_NON_STR_KEYS)
    except TypeError:
        body = b"\x80"
    if body.isascii():
        return body.decode()
    return json.dumps(message, separators=(",", ":"))  # ensure_ascii: one byte per character


class Reassembler:
    """Puts frames back into messages: one message in progress per origin; a message whose
    first frames were missed (the listener joined late) is dropped, never half-delivered."""

    def __init__(self) -> None:
        self._partial: dict[str, tuple[int, list[str]]] = {}

    def add(self, payload: str) -> tuple[str, dict[str, Any]] | None:
        """(origin, message) once `payload` completes one, else None. ValueError for a payload
        that is not a frame."""
        origin, msg_id, index, count, piece = payload.split(" ", 4)
        m, i, n = int(msg_id), int(index), int(count)
        if n == 1:
            self._partial.pop(origin, None)
            return origin, json.loads(piece)
        have = self._partial.get(origin)
        if i == 0:
            have = (m, [])
        elif have is None or have[0] != m or len(have[1]) != i:
            self._partial.pop(origin, None)  # a gap: this message cannot be put together
            return None
        have[1].append(piece)
        if i + 1 < n:
            self._partial[origin] = have
            return None
        self._partial.pop(origin, None)
        return origin, json.loads("".join(have[1]))


class PgRelay:
    """Sends this instance's messages to its peers and hands every other instance's to
    `on_message(origin, message)` (called in the event loop), and calls `on_listening` each time
    the listener is subscribed (it says hello there) and `beat` every `BEAT_S` (its message goes on
    the shared channel). `run` keeps both connections up, reconnecting with capped backoff; `send`
    never waits and never fails."""

    def __init__(self, dsn: str, origin: str, on_message: Callable[[str, dict[str, Any]], object],
                 on_listening: Callable[[], None] | None = None,
                 beat: Callable[[], dict[str, Any]] | None = None, *,
                 clock: Callable[[], float] = time.monotonic, join_s: float = JOIN_S) -> None:
        self._dsn = dsn
        self.origin = origin
        self._on_message = on_message
        self._on_listening = on_listening
        self._beat = beat
        self._clock = clock
        self._join_s = join_s
        # each message's frames, and whether it goes on the shared channel
        self._outbox: asyncio.Queue[tuple[list[str], bool]] = asyncio.Queue(QUEUE_MAX)
        self._next_id = 0
        self._unsent: list[tuple[list[str], bool]] = []  # taken from the outbox, kept across a reconnect until sent
        self._listening_since: float | None = None
        self.peers: dict[str, float] = {}  # origin -> when last heard (clock)
        self.listening = asyncio.Event()  # set while the listener is subscribed
        self.stats: Counter[str] = Counter()

    def live_peers(self) -> list[str]:
        """The instances heard from within PEER_TTL_S (the others are forgotten)."""
        cut = self._clock() - PEER_TTL_S
        for origin in [o for o, heard in self.peers.items() if heard < cut]:
            del self.peers[origin]
        return sorted(self.peers)

    def joining(self) -> bool:
        """True before listening and for JOIN_S after: this instance may not know its peers yet."""
        since = self._listening_since
        return since is None or self._clock() - since < self._join_s

    def send(self, message: dict[str, Any], *, shared: bool = False) -> None:
        """Queue `message` (JSON-able) for the other instances (with `shared`, on the shared channel
        whatever the peers); call from the event loop's thread."""
        if not shared and not self.joining() and not self.live_peers():
            self.stats["unheard"] += 1  # alone: nobody to tell, not even encoded
            return
        try:
            framed = frames(self.origin, self._next_id, message)
        except (TypeError, ValueError):
            self.stats["unsendable"] += 1
            log.exception("a cluster message could not be encoded as JSON; the other instances miss it")
            return
        self._next_id += 1
        if self._outbox.full():
            self._outbox.get_nowait()
            self.stats["dropped"] += 1
        self._outbox.put_nowait((framed, shared))

    async def run(self) -> None:
        """Listen and send until cancelled."""
        async with asyncio.TaskGroup() as group:
            group.create_task(self._supervise("listener", self._listen), name="furrow-cluster-listen")
            group.create_task(self._supervise("sender", self._send), name="furrow-cluster-send")
            if self._beat is not None:
                group.create_task(self._beats(), name="furrow-cluster-beat")

    async def _beats(self) -> None:
        assert self._beat is not None
        while True:
            await asyncio.sleep(BEAT_S)
            if self.listening.is_set():
                self.send(self._beat(), shared=True)

    async def _supervise(self, what: str, loop: Callable[[], Any]) -> None:
        backoff, failures = Backoff(first_s=0.2, max_s=10.0), 0
        while True:
            try:
                await loop()
            except (psycopg.Error, OSError) as e:
                if what == "listener":
                    self.listening.clear()
                    self._listening_since = None
                self.stats[f"{what}_reconnects"] += 1
                if failures == 0:
                    log.warning("cluster %s lost PostgreSQL (%s); reconnecting", what, e)
                await asyncio.sleep(backoff.delay(failures))
                failures += 1
            else:
                failures = 0

    async def _listen(self) -> None:
        async with await psycopg.AsyncConnection.connect(self._dsn, autocommit=True) as conn:
            for channel in (CHANNEL, channel_of(self.origin)):
                await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
            self._listening_since = self._clock()
            self.listening.set()
            if self._on_listening is not None:
                self._on_listening()
            assembler = Reassembler()
            own = f"{self.origin} "
            async for note in conn.notifies():
                if note.payload.startswith(own):  # its own hello, heard back on the shared channel
                    self.stats["own_heard"] += 1
                    continue
                try:
                    got = assembler.add(note.payload)
                except (ValueError, json.JSONDecodeError):
                    self.stats["bad_frames"] += 1
                    continue
                self.peers[note.payload.split(" ", 1)[0]] = self._clock()
                if got is None:
                    continue
                self.stats["received"] += 1
                try:
                    self._on_message(*got)
                except Exception:  # a bad message from another instance never stops the listener
                    self.stats["failed"] += 1
                    log.exception("cluster message from %s could not be applied", got[0])

    async def _send(self) -> None:
        async with await psycopg.AsyncConnection.connect(self._dsn, autocommit=True) as conn:
            while True:
                if not self._unsent:
                    self._unsent.append(await self._outbox.get())
                    while len(self._unsent) < SEND_BATCH and not self._outbox.empty():
                        self._unsent.append(self._outbox.get_nowait())
                # addressed as they leave: the peers known now, or everyone while joining
                everyone = self.joining()
                peers = [channel_of(p) for p in self.live_peers()]
                params = []
                for framed, shared in self._unsent:
                    channels = [CHANNEL] if shared or everyone else peers
                    if not channels:
                        self.stats["unheard"] += 1
                    params += [(channel, f) for channel in channels for f in framed]
                if params:
                    async with conn.cursor() as cur:
                        await cur.executemany("SELECT pg_notify(%s, %s)", params)
                self.stats["sent"] += len(self._unsent)
                self._unsent = []
