"""Helpers shared by the tests of cloud/: batches built with the contract, and bounded waits."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

from furrow.cloud import Settings, create_app
from furrow.edge.batch import make_batch, make_item
from furrow.edge.payload import make_reading, make_uplink
from tests.servers import free_port

WAIT = 10.0  # seconds; every wait in the cloud tests is bounded by this
# A condition that crosses a broker and another process (`eventually`) gets longer: it returns as
# soon as it holds, and a shared CI machine can stall a process for seconds.
EVENTUALLY = 30.0
T0 = 1767225600000  # 2026-01-01T00:00:00Z
SECRET_KEY = "test-secret-key-0123456789abcdef"  # only ever in tests
ADMIN_TOKEN = "fw_testadmin_0123456789abcdefghijklmnopqrstuvwxyz"  # bootstrap admin of every test app
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def soil_uplink(node: str = "soil-01", seq: int = 1, ts_ms: int = T0, vwc: float = 23.4,
                temp_fault: bool = False) -> dict:
    """A soil report: vwc at 10 cm and soil temperature at 10 cm (or its fault)."""
    temp = (
        make_reading("soil_temp_c", None, depth_cm=10, fault="disconnected")
        if temp_fault
        else make_reading("soil_temp_c", 18.25, depth_cm=10)
    )
    readings = [make_reading("vwc_pct", vwc, depth_cm=10), temp]
    return make_uplink(node, "soil", seq, ts_ms, readings, "0.1.0", bat_v=3.7, rssi_dbm=-60)


def batch_of(items: list[dict], site: str = "demo", gateway: str = "gw-1",
             batch_id: str = "gw-1-000001") -> dict:
    return make_batch(site, gateway, batch_id, T0 + 60_000, items)


def item(uplink: dict, rx_ms: int | None = None, flags: list[str] | None = None) -> dict:
    return make_item(uplink, rx_ms if rx_ms is not None else uplink["ts_ms"] + 500, flags)


def local_settings(tmp_path: Path, **overrides) -> Settings:
    """Settings for one test: SQLite in tmp_path, MQTT off unless overridden, a test secret
    key and the bootstrap admin token ADMIN_TOKEN."""
    values = {"data_dir": tmp_path, "mqtt_enabled": False, "secret_key": SECRET_KEY,
              "bootstrap_admin_token": ADMIN_TOKEN}
    values.update(overrides)
    return Settings(**values)


@asynccontextmanager
async def running_app(settings: Settings, headers: dict | None = ADMIN, clock: Callable[[], int] | None = None):
    """The app with its lifespan running, and an httpx client talking to it in-process
    (as the bootstrap admin unless other `headers` are given; on `clock` when given)."""
    app = create_app(settings) if clock is None else create_app(settings, clock)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://furrow.test",
                                     headers=headers or {}) as client:
            client.app = app  # type: ignore[attr-defined]
            yield client


def problems(r: httpx.Response) -> list[dict]:
    """The problems of an error answer, checked to be in the API's one shape
    ({"detail": [{"field", "value", "reason"}, ...]}, cloud/api/errors.py)."""
    detail = r.json()["detail"]
    assert isinstance(detail, list) and detail, r.text
    assert all(set(p) == {"field", "value", "reason"} and p["reason"] for p in detail), r.text
    return detail


def problem(r: httpx.Response) -> dict:
    """The one problem of an error answer (see `problems`)."""
    (only,) = problems(r)
    return only


async def eventually(check: Callable[[], Awaitable[bool]], what: str, timeout: float = EVENTUALLY,
                     seen: Callable[[], object] | None = None):
    """Poll `check` until it is true; fail naming `what` after `timeout` seconds, with what `seen`
    returns then (the state the check last looked at), so a failure in CI says what was there."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() >= deadline:
            state = f"; last seen: {seen()!r}" if seen is not None else ""
            raise AssertionError(f"{what}: not true within {timeout:g} s{state}")
        await asyncio.sleep(0.02)


class Door:
    """A TCP relay to a real server, closed until opened.

    While closed nothing listens on its port, so a client pointed at it sees a
    server that is down (connection refused); `open()` starts listening and
    relays every new connection to the real server.
    """

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self._upstream = (upstream_host, upstream_port)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.host = "127.0.0.1"
        self.port = free_port()

    async def __aenter__(self) -> Door:
        return self

    async def __aexit__(self, *exc: object) -> None:
        for w in list(self._writers):
            w.transport.abort()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def open(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, self.port)

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            up_r, up_w = await asyncio.open_connection(*self._upstream)
        except OSError:
            client_w.transport.abort()
            return
        self._writers |= {client_w, up_w}

        async def pump(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            try:
                while data := await r.read(65536):
                    w.write(data)
                    await w.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                for x in (client_w, up_w):
                    x.transport.abort()
                    self._writers.discard(x)

        await asyncio.gather(pump(client_r, up_w), pump(up_r, client_w))
