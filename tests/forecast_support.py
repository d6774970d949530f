"""A local HTTP server that answers as Open-Meteo's forecast API documents, with faults on demand."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse
from zoneinfo import ZoneInfo


def open_meteo_body(start: datetime, days: list[dict], hourly_rain: dict[int, tuple[float, int]] | None = None,
                    lat: float = 41.65, lon: float = -0.88) -> dict:
    """A /v1/forecast answer with timeformat=unixtime: `days` of {tmin, tmax, rain, prob, et0} from the local
    midnight `start` (aware), and every hour of those days with rain 0 except hourly_rain {hour index: (mm, %)}."""
    tz = start.tzinfo
    assert isinstance(tz, ZoneInfo)
    day_times = [int((start + timedelta(days=i)).timestamp()) for i in range(len(days))]
    hours = [int((start + timedelta(hours=h)).timestamp()) for h in range(24 * len(days))]
    rain = hourly_rain or {}
    return {
        "latitude": lat, "longitude": lon, "generationtime_ms": 0.8, "utc_offset_seconds": int(
            start.utcoffset().total_seconds()), "timezone": tz.key, "timezone_abbreviation": tz.key,
        "elevation": 200.0,
        "daily_units": {"time": "unixtime", "temperature_2m_min": "°C", "temperature_2m_max": "°C",
                        "precipitation_sum": "mm", "precipitation_probability_max": "%",
                        "et0_fao_evapotranspiration": "mm"},
        "daily": {"time": day_times, "temperature_2m_min": [d["tmin"] for d in days],
                  "temperature_2m_max": [d["tmax"] for d in days], "precipitation_sum": [d["rain"] for d in days],
                  "precipitation_probability_max": [d["prob"] for d in days],
                  "et0_fao_evapotranspiration": [d["et0"] for d in days]},
        "hourly_units": {"time": "unixtime", "precipitation": "mm", "precipitation_probability": "%"},
        "hourly": {"time": hours, "precipitation": [rain.get(h, (0.0, 0))[0] for h in range(len(hours))],
                   "precipitation_probability": [rain.get(h, (0.0, 0))[1] for h in range(len(hours))]},
    }


class FakeOpenMeteo:
    """What the server answers next: `body` (JSON) with `status`, `raw` bytes instead, or `delay_s` first.
    `requests` keeps each request's query."""

    def __init__(self) -> None:
        self.status = 200
        self.body: object = {}
        self.raw: bytes | None = None
        self.delay_s = 0.0
        self.requests: list[dict[str, list[str]]] = []
        self.url = ""


@contextmanager
def fake_open_meteo() -> Iterator[FakeOpenMeteo]:
    """The server on a free loopback port, stopped afterwards."""
    fake = FakeOpenMeteo()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            url = urlparse(self.path)
            fake.requests.append(parse_qs(url.query))
            if fake.delay_s:
                time.sleep(fake.delay_s)
            if url.path != "/v1/forecast":
                fake_status, data = 404, b'{"error": true, "reason": "no such path"}'
            else:
                fake_status = fake.status
                data = fake.raw if fake.raw is not None else json.dumps(fake.body).encode()
            self.send_response(fake_status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            try:
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="fake-open-meteo", daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
