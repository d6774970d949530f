"""The InfluxDB 2.x store, checked down to the HTTP request it sends."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from furrow.cloud.storage import (
    Influx2ReadingStore,
    Reading,
    RetryPolicy,
    StorageRejected,
    StorageUnavailable,
)
from tests.cloud_support import T0


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


@dataclass
class Recorder:
    """A tiny HTTP server on 127.0.0.1 that records every request and answers `status`."""

    url: str = ""
    status: int = 204
    requests: list[Recorded] = field(default_factory=list)


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    rec = Recorder()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            length = int(self.headers.get("Content-Length") or 0)
            parts = urlsplit(self.path)
            rec.requests.append(Recorded(
                "POST", parts.path, parse_qs(parts.query),
                {k.lower(): v for k, v in self.headers.items()}, self.rfile.read(length),
            ))
            body = b"" if rec.status == 204 else b'{"code":"x","message":"refused"}'
            self.send_response(rec.status)
            self.send_header("Content-Length", str(len(body)))
            if body:
                self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    rec.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield rec
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _readings() -> list[Reading]:
    common = dict(site="demo", gateway="gw-1", node="soil-01", role="soil", seq=7,
                  ts_ms=T0, rx_ms=T0 + 250, channel=None)
    return [
        Reading(measurement="vwc_pct", unit="%", depth_cm=10, value=23.4, fault=None, **common),
        Reading(measurement="soil_temp_c", unit="degC", depth_cm=10, value=None,
                fault="disconnected", **common),
    ]


async def test_v2_write_sends_line_protocol_to_api_v2_write_with_token(recorder):
    """One POST /api/v2/write with org, bucket, precision=ns, the token and the exact lines."""
    store = Influx2ReadingStore(recorder.url, "s3cr3t-token", "farm-org", "readings")
    try:
        assert await store.write(_readings()) == 2
    finally:
        await store.close()
    assert len(recorder.requests) == 1
    req = recorder.requests[0]
    assert req.method == "POST"
    assert req.path == "/api/v2/write"
    assert req.query == {"org": ["farm-org"], "bucket": ["readings"], "precision": ["ns"]}
    assert req.headers["authorization"] == "Token s3cr3t-token"
    assert "content-encoding" not in req.headers  # gzip is off
    assert req.body.decode() == (
        "vwc_pct,depth_cm=10,gateway=gw-1,node=soil-01,role=soil,site=demo "
        "rx_ms=1767225600250i,seq=7i,value=23.4 1767225600000000007\n"
        "soil_temp_c,depth_cm=10,gateway=gw-1,node=soil-01,role=soil,site=demo "
        'fault="disconnected",rx_ms=1767225600250i,seq=7i 1767225600000000007'
    )


async def test_v2_write_splits_large_writes_into_requests(recorder):
    """More lines than lines_per_request go out in several requests, none lost."""
    store = Influx2ReadingStore(recorder.url, "t", "o", "b", lines_per_request=1)
    try:
        await store.write(_readings())
    finally:
        await store.close()
    assert [len(r.body.splitlines()) for r in recorder.requests] == [1, 1]


async def test_v2_server_errors_become_storage_unavailable_after_retries(recorder):
    """A 503 from the server is retried, then raised as StorageUnavailable."""
    recorder.status = 503
    store = Influx2ReadingStore(recorder.url, "t", "o", "b",
                                retry=RetryPolicy(retries=2, backoff_s=0.01))
    try:
        with pytest.raises(StorageUnavailable):
            await store.write(_readings())
    finally:
        await store.close()
    assert len(recorder.requests) == 3


async def test_v2_bad_request_is_rejected_without_retry(recorder):
    """A 400 (the server refuses the data itself) raises StorageRejected at once."""
    recorder.status = 400
    store = Influx2ReadingStore(recorder.url, "t", "o", "b",
                                retry=RetryPolicy(retries=2, backoff_s=0.01))
    try:
        with pytest.raises(StorageRejected):
            await store.write(_readings())
    finally:
        await store.close()
    assert len(recorder.requests) == 1
