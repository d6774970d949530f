"""The InfluxDB 2.x store, checked down to the HTTP request it sends."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from furrow.cloud.storage import (
    Bucket,
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
    csv: bytes | None = None  # when set, the answer: 200 with this annotated CSV
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
            if rec.csv is not None:
                body, status, kind = rec.csv, 200, "text/csv; charset=utf-8"
            else:
                body = b"" if rec.status == 204 else b'{"code":"x","message":"refused"}'
                status, kind = rec.status, "application/json"
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            if body:
                self.send_header("Content-Type", kind)
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


# Two results in one annotated-CSV answer, as InfluxDB 2.x sends them: "agg" (mean per window)
# and "n" (values per window); soil-01 has two depths, the 20 cm probe only in the second hour.
_SERIES_CSV = (
    b"#datatype,string,long,dateTime:RFC3339,double,string,string,string\r\n"
    b"#group,false,false,false,false,true,true,true\r\n"
    b"#default,agg,,,,,,\r\n"
    b",result,table,_time,_value,node,depth_cm,channel\r\n"
    b",,0,2026-01-01T00:00:00Z,23.5,soil-01,10,\r\n"
    b",,0,2026-01-01T01:00:00Z,22.25,soil-01,10,\r\n"
    b",,1,2026-01-01T01:00:00Z,30,soil-01,20,\r\n"
    b"\r\n"
    b"#datatype,string,long,dateTime:RFC3339,long,string,string,string\r\n"
    b"#group,false,false,false,false,true,true,true\r\n"
    b"#default,n,,,,,,\r\n"
    b",result,table,_time,_value,node,depth_cm,channel\r\n"
    b",,2,2026-01-01T00:00:00Z,4,soil-01,10,\r\n"
    b",,2,2026-01-01T01:00:00Z,2,soil-01,10,\r\n"
    b",,3,2026-01-01T01:00:00Z,1,soil-01,20,\r\n"
    b"\r\n"
)


async def test_v2_series_sends_flux_aggregate_window_and_parses_the_csv_answer(recorder):
    """A windowed series is one POST /api/v2/query (org, Token) whose Flux filters measurement,
    field and nodes like 1.x, and yields aggregateWindow(fn) and its count; the answer becomes
    Buckets per sensor and window."""
    recorder.csv = _SERIES_CSV
    store = Influx2ReadingStore(recorder.url, "s3cr3t-token", "farm-org", "readings")
    try:
        buckets = await store.aggregate(["soil-01", 'odd"node'], "vwc_pct", T0, T0 + 7_200_000,
                                        3_600_000, "mean")
    finally:
        await store.close()
    assert len(recorder.requests) == 1
    req = recorder.requests[0]
    assert (req.method, req.path) == ("POST", "/api/v2/query")
    assert req.query == {"org": ["farm-org"]}
    assert req.headers["authorization"] == "Token s3cr3t-token"
    assert json.loads(req.body)["query"] == (
        'data = from(bucket: "readings")\n'
        "  |> range(start: time(v: 1767225600000000000), stop: time(v: 1767232800000000000))\n"
        '  |> filter(fn: (r) => r._measurement == "vwc_pct" and r._field == "value"'
        ' and (r.node == "soil-01" or r.node == "odd\\"node"))\n'
        '  |> group(columns: ["node", "depth_cm", "channel"])\n'
        "data\n"
        '  |> aggregateWindow(every: 3600000ms, fn: mean, timeSrc: "_start", createEmpty: false)\n'
        '  |> yield(name: "agg")\n'
        "data\n"
        '  |> aggregateWindow(every: 3600000ms, fn: count, timeSrc: "_start", createEmpty: false)\n'
        '  |> yield(name: "n")\n'
    )
    assert buckets == [
        Bucket("soil-01", "vwc_pct", 10, None, T0, 23.5, 4),
        Bucket("soil-01", "vwc_pct", 10, None, T0 + 3_600_000, 22.25, 2),
        Bucket("soil-01", "vwc_pct", 20, None, T0 + 3_600_000, 30.0, 1),
    ]


@pytest.mark.parametrize("fn", ["min", "max", "sum", "count"])
async def test_v2_series_passes_each_aggregate_to_flux(recorder, fn):
    """Each of min, max, sum and count goes into aggregateWindow as the Flux function of that name."""
    recorder.csv = _SERIES_CSV
    store = Influx2ReadingStore(recorder.url, "t", "o", "readings")
    try:
        await store.aggregate(["soil-01"], "vwc_pct", T0, T0 + 60_000, 30_000, fn)
    finally:
        await store.close()
    flux = json.loads(recorder.requests[0].body)["query"]
    assert f"aggregateWindow(every: 30000ms, fn: {fn}, " in flux


async def test_v2_series_of_an_unknown_measurement_or_fn_asks_nothing(recorder):
    """An unknown measurement, an unknown fn or no nodes answers [] without a request."""
    store = Influx2ReadingStore(recorder.url, "t", "o", "readings")
    try:
        assert await store.aggregate(["soil-01"], "no_such", T0, T0 + 1, 1000, "mean") == []
        assert await store.aggregate(["soil-01"], "vwc_pct", T0, T0 + 1, 1000, "median") == []
        assert await store.aggregate([], "vwc_pct", T0, T0 + 1, 1000, "mean") == []
    finally:
        await store.close()
    assert recorder.requests == []
