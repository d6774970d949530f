"""Cloud instances as separate processes (`furrow cloud run`), and a live-view reader, for the
tests of several instances behind a load balancer (tests/test_cloud_cluster_nginx.py)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from typing import Any

import httpx

from tests.cloud_support import ADMIN
from tests.servers import LOOPBACK, _ServerProcess, free_port

CLI = "import sys; from furrow.cli import main; sys.exit(main(sys.argv[1:]))"


class CloudProcess(_ServerProcess):
    """One cloud instance, `furrow cloud run`, configured by FURROW_* variables (`env`). Ready
    when its /health says the broker is connected and it hears the other instances."""

    name = "cloud"

    def __init__(self, env: dict[str, str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.env = env
        self.host = LOOPBACK
        self._auto_port = True
        self.port = free_port()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _pick_ports(self) -> None:
        self.port = free_port()

    def _describe(self) -> str:
        return f"cloud instance on {self.host}:{self.port}"

    def _environment(self) -> dict[str, str]:
        return {**os.environ, **self.env}

    def _command(self) -> list[str]:
        return [sys.executable, "-c", CLI, "cloud", "run", "--host", self.host, "--port", str(self.port)]

    def _is_ready(self) -> bool:
        health = self.health()
        return health is not None and health["mqtt"] == "connected" and health["cluster"] == "listening"

    def health(self) -> dict | None:
        try:
            r = httpx.get(f"{self.url}/api/v1/health", headers=ADMIN, timeout=2)
        except httpx.HTTPError:
            return None
        return r.json() if r.status_code == 200 else None


class LiveView:
    """Reads a dashboard's live stream (GET /api/v1/events) from `base_url` as the dashboard does:
    reconnecting whenever it ends or breaks, with the last message's id as Last-Event-ID, and
    loading the nodes' newest readings afresh when told `lagged`. Keeps each node's newest seq
    it showed."""

    def __init__(self, base_url: str, nodes: list[str] | None = None) -> None:
        self.base_url = base_url
        self.nodes = nodes or []  # what a reload shows
        self.newest: dict[str, int] = {}
        self.subscribed = 0  # streams opened (their "hello" read: subscribed to the bus)
        self.reloads = 0  # times it was told it had missed events and loaded afresh
        self.last_id: str | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._read())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def _show(self, node: str, seq: int) -> None:
        self.newest[node] = max(self.newest.get(node, -1), seq)

    async def _reload(self, c: httpx.AsyncClient) -> None:
        self.reloads += 1
        for node in self.nodes:
            r = await c.get(f"/api/v1/nodes/{node}/latest")
            for reading in r.json() if r.status_code == 200 else []:
                self._show(node, reading["seq"])

    async def _read(self) -> None:
        async with httpx.AsyncClient(base_url=self.base_url, headers=ADMIN, timeout=httpx.Timeout(5, read=60)) as c:
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    headers = {"Last-Event-ID": self.last_id} if self.last_id is not None else {}
                    async with c.stream("GET", "/api/v1/events", params={"kinds": "reading"}, headers=headers) as r:
                        kind, message_id = None, None
                        async for line in r.aiter_lines():
                            if line.startswith("id: "):
                                message_id = line[4:]
                            elif line == "" and message_id is not None:  # the message read whole
                                self.last_id, message_id = message_id, None
                            elif line.startswith("event: "):
                                kind = line[7:]
                                self.subscribed += kind == "hello"
                                if kind == "lagged":
                                    await self._reload(c)
                            elif line.startswith("data: ") and kind == "reading":
                                for n in json.loads(line[6:])["nodes"]:
                                    self._show(n["node"], n["seq"])
                await asyncio.sleep(0.1)
