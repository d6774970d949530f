"""A real uvicorn serving the cloud app in a thread, with the service's own limits (cloud/limits.py)."""

from __future__ import annotations

import threading
import time
from typing import Any

import uvicorn

from furrow.cloud.limits import server_config
from tests.servers import free_port


class UvicornThread:
    """uvicorn in a thread on a free port of 127.0.0.1, configured as `furrow cloud run` configures it."""

    def __init__(self, app: Any, **overrides: Any) -> None:
        self.host = "127.0.0.1"
        self.port = free_port()
        self.url = f"http://{self.host}:{self.port}"
        self.server = uvicorn.Server(server_config(app, self.host, self.port, log_level="error", **overrides))
        self.thread = threading.Thread(target=self.server.run, name="furrow-test-uvicorn", daemon=True)

    def __enter__(self) -> UvicornThread:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start within 20 s")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)
