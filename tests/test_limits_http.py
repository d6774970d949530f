"""The cloud's HTTP bounds (cloud/limits.py): oversized bodies, trickled bodies, slow and oversized heads."""

from __future__ import annotations

import json
import socket

import httpx

from furrow.cloud import create_app
from furrow.cloud.limits import MAX_BODY_BYTES, MAX_INGEST_BODY_BYTES, BodyLimits
from tests.cloud_support import ADMIN, ADMIN_TOKEN, batch_of, item, local_settings, problem, running_app, soil_uplink
from tests.http_support import UvicornThread

WAIT_S = 10.0  # every socket wait here is bounded by this


def _raw_exchange(port: int, data: bytes, read_until_close: bool = True) -> bytes:
    """Send raw bytes to the server and read what comes back until it closes (bounded by WAIT_S)."""
    with socket.create_connection(("127.0.0.1", port), timeout=WAIT_S) as s:
        s.sendall(data)
        chunks = []
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
            if not read_until_close and b"\r\n\r\n" in b"".join(chunks):
                return b"".join(chunks)


async def test_a_body_past_the_limit_is_refused_with_413_naming_the_body(tmp_path):
    """A registry POST of more than 1 MiB is answered 413 naming `body`, declared or chunked."""
    async with running_app(local_settings(tmp_path)) as client:
        big = json.dumps({"id": "s", "name": "x" * (MAX_BODY_BYTES + 1)}).encode()
        declared = await client.post("/api/v1/registry/sites", content=big,
                                     headers={"Content-Type": "application/json"})

        async def chunks():
            for i in range(0, len(big), 65536):
                yield big[i:i + 65536]

        chunked = await client.post("/api/v1/registry/sites", content=chunks(),
                                    headers={"Content-Type": "application/json"})
        small = await client.post("/api/v1/registry/sites", json={"id": "north", "name": "North farm"})
    assert declared.status_code == 413 and problem(declared)["field"] == "body"
    assert chunked.status_code == 413 and problem(chunked)["field"] == "body"
    assert small.status_code == 201


async def test_ingest_takes_batches_past_the_general_limit(tmp_path):
    """POST /ingest/batch accepts a 2 MiB batch (its limit is the ingest core's 16 MiB, not 1 MiB)."""
    body = b" " * (2 * 1024 * 1024) + json.dumps(batch_of([item(soil_uplink())])).encode()
    async with running_app(local_settings(tmp_path)) as client:
        r = await client.post("/api/v1/ingest/batch", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 1


def test_a_declared_length_past_the_ingest_limit_is_refused_before_the_body_is_sent(tmp_path):
    """A real uvicorn answers 413 to a Content-Length over 16 MiB without waiting for any of the body."""
    with UvicornThread(create_app(local_settings(tmp_path))) as server:
        head = (f"POST /api/v1/ingest/batch HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {MAX_INGEST_BODY_BYTES + 1}\r\n\r\n").encode()
        reply = _raw_exchange(server.port, head, read_until_close=False)
    assert reply.startswith(b"HTTP/1.1 413"), reply[:200]


def test_a_client_that_stops_sending_its_body_gets_408(tmp_path):
    """A body that stalls past the idle timeout is answered 408 by a real uvicorn (shortened to 0.5 s here)."""
    app = BodyLimits(create_app(local_settings(tmp_path)), idle_timeout_s=0.5)
    with UvicornThread(app) as server:
        head = (f"POST /api/v1/registry/sites HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\n"
                "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"id\": ").encode()
        reply = _raw_exchange(server.port, head, read_until_close=False)
    assert reply.startswith(b"HTTP/1.1 408"), reply[:200]


def test_a_client_that_never_finishes_its_request_head_is_disconnected(tmp_path):
    """A slowloris head (no blank line) is closed by the server after the head timeout (0.5 s here)."""
    with UvicornThread(create_app(local_settings(tmp_path)), head_timeout_s=0.5) as server:
        reply = _raw_exchange(server.port, b"GET /api/v1/readings HTTP/1.1\r\nHost: x\r\nX-Slow: a")
        ok = httpx.get(f"{server.url}/api/v1/readings", headers=ADMIN, timeout=WAIT_S)
    assert reply == b""  # closed without an answer: the connection is not held
    assert ok.status_code == 200  # a client that sends its head in time is served


def test_a_request_head_past_16_kib_is_refused_with_400(tmp_path):
    """20 KiB of head with no end in sight is cut off by h11's 16 KiB bound: 400 and a closed connection."""
    with UvicornThread(create_app(local_settings(tmp_path))) as server:
        reply = _raw_exchange(server.port, b"GET /api/v1/readings HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20480)
    assert reply.startswith(b"HTTP/1.1 400"), reply[:200]


async def test_the_limits_sit_in_the_app_so_every_server_gets_them(tmp_path):
    """create_app installs BodyLimits: an in-process client gets the same 413."""
    async with running_app(local_settings(tmp_path)) as client:
        r = await client.post("/api/v1/commands/acks", content=b"x" * (MAX_BODY_BYTES + 10))
    assert r.status_code == 413
