"""GET /events: the live view's server-sent event stream of the in-process event bus.

Each bus event becomes one SSE message whose ``event:`` is its kind ("reading", "command",
"alert", "decision", ...) and whose ``data:`` is its JSON. Readings are coalesced here: a
flood of batches becomes at most one "reading" message a second per connection, holding
the newest report of each node, so a busy farm never swamps a phone's browser. A
comment line every 15 s keeps proxies from closing an idle stream.

A stream ends by itself after STREAM_MAX_S and the client connects again (EventSource does so
on its own; the dashboard at once). uvicorn waits for open responses before it stops, and an
endless stream would hold a shutdown up for as long as a dashboard stays open.

Nothing published between two streams is lost: each message's ``id:`` is the client's
position (cloud/events.py), and a client that sends it back as ``Last-Event-ID`` (EventSource
does so itself) first gets what was published since, from whichever instance answers. If that
is no longer held, a ``lagged`` message tells it to load its page afresh.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Query
from fastapi.responses import StreamingResponse

from ...auth import Permission, allows
from ...events import Event, EventBus, Position, Resume, format_position, parse_position
from ...tenancy import EventScope
from ..deps import JobReader, ServicesDep
from ..json_body import JsonRoute

router = APIRouter(tags=["live"], route_class=JsonRoute)

KEEPALIVE_S = 15.0
READING_FLUSH_S = 1.0  # at most one coalesced "reading" message per this interval
RETRY_MS = 3000  # EventSource reconnects after this when the stream drops
STREAM_MAX_S = 30.0  # the longest one response lasts: what a shutdown may wait for an open dashboard


def sse(kind: str, data: object, position: Position | None = None) -> str:
    """One server-sent event (JSON on one data line), with the position it brings the client to."""
    head = f"id: {format_position(position)}\n" if position is not None else ""
    return f"{head}event: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def merge_readings(pending: dict[str, dict], data: dict) -> None:
    """Keep the newest report of each node from a "reading" event (ingest.py's shape)."""
    for n in data.get("nodes", []):
        old = pending.get(n["node"])
        if old is None or n.get("ts_ms", 0) >= old.get("ts_ms", 0):
            pending[n["node"]] = {**n, "site": data.get("site"), "gateway": data.get("gateway")}


async def stream(bus: EventBus, kinds: set[str] | None, max_events: int | None,
                 max_s: float = STREAM_MAX_S, last_event_id: str | None = None,
                 scope: EventScope | None = None) -> AsyncIterator[str]:
    """The messages of one response: `hello`, then what the client missed since `last_event_id`
    (or `lagged` if that is no longer here), then the events as they come; with `scope`, only what
    the caller's organisation may see of each."""
    sent = 0
    end = time.monotonic() + max_s
    async with bus.subscribe() as sub:  # first, so nothing falls between the replay and the live events
        if last_event_id is None:
            resume = Resume(bus.position(), [], True)
        else:
            resume = bus.resume(parse_position(last_event_id))
        seen = dict(resume.start)
        yield f"retry: {RETRY_MS}\n" + sse("hello", {"kinds": sorted(kinds) if kinds else "all"}, seen)
        sent += 1
        if not resume.complete:  # the client shows its page afresh
            yield sse("lagged", {"dropped": None, "reason": "the events since Last-Event-ID are no longer held"})
            sent += 1
        missed = deque(resume.missed)
        pending: dict[str, dict] = {}
        flush_at = 0.0
        dropped = 0
        while (max_events is None or sent < max_events) and time.monotonic() < end:
            if missed:
                event: Event | None = missed.popleft()
            else:
                wait = KEEPALIVE_S if not pending else max(0.0, flush_at - time.monotonic())
                wait = min(wait, max(0.0, end - time.monotonic()))
                try:
                    event = await asyncio.wait_for(sub.get(), wait)
                except TimeoutError:
                    event = None
            if event is not None:
                if event.seq <= seen.get(event.origin, 0):
                    continue  # handed over already (replayed, or the client is ahead of this instance)
                seen[event.origin] = event.seq
            data = event.data if event is not None else None
            if event is not None and scope is not None and (kinds is None or event.kind in kinds):
                data = await scope.keep(data, event.kind)  # another organisation's (or job's) is not this stream's
                if data is not None and event.kind == "reading" and not data.get("nodes"):
                    data = None
            if event is not None and data is not None and (kinds is None or event.kind in kinds):
                if event.kind == "reading":
                    if not pending:
                        flush_at = max(flush_at, time.monotonic())
                    merge_readings(pending, data)
                else:
                    if pending:  # readings taken before it go first: a message's id covers all before it
                        yield sse("reading", {"nodes": list(pending.values())}, seen)
                        sent += 1
                        pending = {}
                        flush_at = time.monotonic() + READING_FLUSH_S
                    if max_events is not None and sent >= max_events:
                        break
                    yield sse(event.kind, data, seen)
                    sent += 1
            if pending and time.monotonic() >= flush_at:
                yield sse("reading", {"nodes": list(pending.values())}, seen)
                sent += 1
                pending = {}
                flush_at = time.monotonic() + READING_FLUSH_S
            elif event is None and not pending and time.monotonic() < end:
                yield ": keepalive\n\n"
            if sub.dropped != dropped:  # this browser fell behind: say so, so it can reload
                yield sse("lagged", {"dropped": sub.dropped - dropped})
                sent += 1
                dropped = sub.dropped
        if pending and (max_events is None or sent < max_events):  # the stream's time is up: hand them over
            yield sse("reading", {"nodes": list(pending.values())}, seen)


@router.get("/events", response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}},
                             "description": "server-sent events: hello, reading, command, alert, decision, lagged"}})
async def events(
    services: ServicesDep,
    who: JobReader,
    kinds: Annotated[str | None, Query(description="comma-separated kinds to receive; default all",
                                       examples=["command,alert"])] = None,
    max_events: Annotated[int | None, Query(ge=1, description="close after this many messages (tests, curl)")] = None,
    last_event_id: Annotated[str | None, Header(
        description="the `id:` of the last message read from an earlier stream: what was published since "
                    "is handed over first")] = None,
) -> StreamingResponse:
    """Live events as server-sent events. The token goes in the Authorization header, or, for
    a browser's EventSource (which cannot set headers), as `?token=`; the dashboard itself
    reads the stream with fetch() and the header, so its token never appears in a URL."""
    wanted = {k.strip() for k in kinds.split(",") if k.strip()} if kinds else None
    messages = stream(services.events, wanted, max_events, last_event_id=last_event_id,
                      scope=EventScope(services.db, who.organisation,
                                       None if allows(who.role, Permission.READ) else who.name))
    return StreamingResponse(messages, media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
