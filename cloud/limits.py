"""What one HTTP client may cost the cloud service: body size, slow bodies, slow request heads.

* ``BodyLimits`` (ASGI middleware): a request body may hold at most
  ``MAX_BODY_BYTES`` (``MAX_INGEST_BODY_BYTES`` on ``POST /api/v1/ingest/batch``,
  the ingest core's own limit). A Content-Length above the limit is answered
  413 before a byte of the body is read; a body that grows past it (chunked)
  is cut off at the limit with 413. A body whose next chunk does not come
  within ``BODY_IDLE_TIMEOUT_S`` is answered 408, so a client that trickles
  its body cannot hold a request open.
* ``HeadTimeoutH11Protocol`` (uvicorn protocol): a connection that has not
  sent a whole request line and headers within ``HEAD_TIMEOUT_S`` of opening
  (or of its previous response) is closed. uvicorn itself has no such
  deadline, only a keep-alive timeout, so a slowloris client could hold a
  connection for ever. The head's size is bounded by h11 (16 KiB), and the
  number of connections by ``LIMIT_CONCURRENCY`` (503 beyond it).
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import HTTPException
from fastapi.responses import JSONResponse
from uvicorn.protocols.http.h11_impl import H11Protocol

from furrow.edge.image import MAX_IMAGE_BYTES
from furrow.edge.image_forward import MAX_HEADER_BYTES

from .ingest import MAX_BATCH_BYTES

MAX_BODY_BYTES = 1024 * 1024  # registry, commands, acks, plans: a few KiB each
MAX_INGEST_BODY_BYTES = MAX_BATCH_BYTES
INGEST_PATH = "/api/v1/ingest/batch"
IMAGE_INGEST_PATH = "/api/v1/ingest/image"
MAX_IMAGE_BODY_BYTES = MAX_HEADER_BYTES + 1 + MAX_IMAGE_BYTES  # a header line and the largest image
# An agronomist's raster for NDVI (api/routes/vigour.py): a zone's clip is small, a whole 10 m band ~120 MB.
RASTER_PATHS = ("/api/v1/ndvi/geotiff", "/api/v1/ndvi/sentinel2")
MAX_RASTER_BODY_BYTES = 128 * 1024 * 1024
# A machine's track as a GPX or CSV file (api/routes/operations.py): 200,000 positions at ~60 bytes each.
OPERATIONS_PATH = "/api/v1/operations"
MAX_TRACK_BODY_BYTES = 16 * 1024 * 1024
BODY_IDLE_TIMEOUT_S = 30.0
HEAD_TIMEOUT_S = 30.0
KEEP_ALIVE_S = 5
LIMIT_CONCURRENCY = 1000
MAX_HEAD_BYTES = 16 * 1024


def _problem(value: str, reason: str) -> dict[str, Any]:
    return {"field": "body", "value": value, "reason": reason}


class BodyTooLarge(HTTPException):
    """413: the body is larger than this path accepts."""

    def __init__(self, size: str, limit: int) -> None:
        super().__init__(413, _problem(size, f"a request body here may hold at most {limit} bytes"))


class BodyTooSlow(HTTPException):
    """408: the client stopped sending its body."""

    def __init__(self, received: int, timeout_s: float) -> None:
        super().__init__(408, _problem(f"{received} bytes so far",
                                       f"no more of the body within {timeout_s:g} s"))


class BodyLimits:
    """ASGI middleware bounding request bodies in size and in time (see the module docstring).

    The checks happen as the application reads the body, so a route that
    never reads it costs nothing; the errors are HTTPExceptions, which
    FastAPI answers with their status whichever way the route reads its body.
    """

    def __init__(self, app: Any, max_body_bytes: int = MAX_BODY_BYTES,
                 per_path: dict[str, int] | None = None, idle_timeout_s: float = BODY_IDLE_TIMEOUT_S) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.per_path = ({INGEST_PATH: MAX_INGEST_BODY_BYTES, IMAGE_INGEST_PATH: MAX_IMAGE_BODY_BYTES,
                          **dict.fromkeys(RASTER_PATHS, MAX_RASTER_BODY_BYTES), OPERATIONS_PATH: MAX_TRACK_BODY_BYTES}
                         if per_path is None else per_path)
        self.idle_timeout_s = idle_timeout_s

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.per_path.get(scope.get("path", ""), self.max_body_bytes)
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            e = BodyTooLarge(f"Content-Length {declared.decode('latin-1')[:40]}", limit)
            await JSONResponse({"detail": [e.detail]}, status_code=413, headers={"Connection": "close"})(
                scope, receive, send)
            return
        received = 0
        more = True

        async def limited_receive() -> dict:
            nonlocal received, more
            if not more:  # the body is complete: later receives wait for a disconnect, unbounded
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), self.idle_timeout_s)
            except TimeoutError:
                raise BodyTooSlow(received, self.idle_timeout_s) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                more = bool(message.get("more_body"))
                if received > limit:
                    raise BodyTooLarge(f"more than {limit} bytes", limit)
            else:
                more = False
            return message

        await self.app(scope, limited_receive, send)


class HeadTimeoutH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for each request head (see the module docstring)."""

    head_timeout_s: float = HEAD_TIMEOUT_S
    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: Any) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        super().connection_lost(exc)

    def _arm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
        self._head_timer = self.loop.call_later(self.head_timeout_s, self._head_timed_out)

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if self.cycle is None or self.cycle.response_complete:  # no request in progress: its head never came
            self.transport.close()


def server_config(app: Any, host: str, port: int, head_timeout_s: float = HEAD_TIMEOUT_S, **overrides: Any) -> Any:
    """The uvicorn Config the service runs with: the limits above on top of uvicorn's defaults."""
    import uvicorn

    protocol = HeadTimeoutH11Protocol
    if head_timeout_s != protocol.head_timeout_s:
        protocol = type("HeadTimeoutH11Protocol", (protocol,), {"head_timeout_s": head_timeout_s})
    options: dict[str, Any] = dict(http=protocol, timeout_keep_alive=KEEP_ALIVE_S,
                                   limit_concurrency=LIMIT_CONCURRENCY, h11_max_incomplete_event_size=MAX_HEAD_BYTES)
    options.update(overrides)
    return uvicorn.Config(app, host=host, port=port, **options)
