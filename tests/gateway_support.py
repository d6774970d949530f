"""Helpers shared by the gateway tests: configs, MQTT peers, a running gateway.

Every wait is bounded (WAIT seconds); nothing asserts on elapsed time.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import time
import uuid
import zlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from furrow.edge.batch import decode_batch as _decode_batch
from furrow.edge.payload import make_reading, make_uplink
from furrow.edge.topics import gateway_topic, node_topic
from furrow.gateway import Gateway, GatewayConfig
from furrow.hil import nodes
from furrow.hil.modbus_bus import ModbusBus
from furrow.hil.virtual_farm import VirtualFarm, VirtualZone

WAIT = 15.0
EVENTUALLY = 30.0  # a condition polled by `wait_until` returns as soon as it holds; CI can stall seconds
SITE = "farm"


def gateway_config(tmp_path: Path, host: str, port: int, root: str, **overrides: Any) -> GatewayConfig:
    """A config for a test: unique gateway id (the MQTT client ids derive from
    it), topics under `root`, quick forwarding and short broker timeouts."""
    broker = {"host": host, "port": port, "keepalive": 5, "timeout": 3}
    raw: dict[str, Any] = {
        "site": SITE,
        "gateway_id": f"gw-{uuid.uuid4().hex[:8]}",
        "topic_root": root,
        "farm_broker": broker,
        "cloud_broker": broker,
        "buffer_path": str(tmp_path / "buffer.sqlite"),
        "forward_interval": 0.05,
        "http_port": 0,
    }
    raw.update(overrides)
    return GatewayConfig.model_validate(raw)


def soil_uplink(node: str, seq: int, vwc: float = 23.4) -> dict[str, Any]:
    return make_uplink(
        node=node,
        role="soil",
        seq=seq,
        ts_ms=1_767_225_600_000 + seq * 60_000,
        readings=[make_reading("vwc_pct", vwc, depth_cm=10)],
        fw="0.1.0",
        bat_v=3.7,
        rssi_dbm=-67,
    )


def valve_uplink(node: str, seq: int) -> dict[str, Any]:
    return make_uplink(
        node=node,
        role="irrigation",
        seq=seq,
        ts_ms=1_767_225_600_000 + seq * 60_000,
        readings=[make_reading("valve_open", 1, channel=1)],
        fw="0.1.0",
    )


def decode_batch(payload: bytes) -> dict[str, Any]:
    """A batch as the cloud reads it: inflated when zlib-compressed (first byte 0x78), then checked."""
    return _decode_batch(zlib.decompress(payload) if payload[:1] == b"\x78" else payload)


def up_topic(cfg: GatewayConfig, node: str) -> str:
    return node_topic(cfg.site, node, "up", cfg.topic_root)


def gw_topic(cfg: GatewayConfig, leaf: str) -> str:
    return gateway_topic(cfg.site, cfg.gateway_id, leaf, cfg.topic_root)


async def wait_until(condition: Callable[[], bool], what: str, timeout: float = EVENTUALLY) -> None:
    """Poll `condition` without blocking the loop; fail naming `what` after `timeout`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() >= deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(0.02)


class Peer:
    """A plain paho client playing a node, the cloud, or a technician's probe."""

    def __init__(self, host: str, port: int, client_id: str | None = None) -> None:
        self.messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self._subscribed = threading.Event()
        connected = threading.Event()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=client_id or f"peer-{uuid.uuid4().hex[:12]}",
        )
        self.client.on_connect = lambda c, u, f, rc, p: None if rc.is_failure else connected.set()
        self.client.on_message = lambda c, u, m: self.messages.put(m)
        self.client.on_subscribe = lambda c, u, mid, rcs, p: self._subscribed.set()
        self.client.connect(host, port, keepalive=10)
        self.client.loop_start()
        if not connected.wait(WAIT):
            self.close()
            raise AssertionError(f"peer got no CONNACK from {host}:{port}")

    def subscribe(self, topic: str) -> None:
        self._subscribed.clear()
        self.client.subscribe(topic, qos=1)
        assert self._subscribed.wait(WAIT), f"no SUBACK for {topic}"

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        """Publish QoS 1 and wait for the broker's PUBACK."""
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        info.wait_for_publish(WAIT)
        assert info.is_published(), f"no PUBACK for {topic}"

    async def get(self, timeout: float = WAIT) -> mqtt.MQTTMessage:
        """The next message, waited for in a thread so the loop keeps running."""
        try:
            return await asyncio.to_thread(self.messages.get, True, timeout)
        except queue.Empty:
            raise AssertionError(f"no message within {timeout:g} s") from None

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class BatchCollector:
    """Reads batches off a Peer subscribed to the gateway's batch topic."""

    def __init__(self, peer: Peer) -> None:
        self.peer = peer
        self.batches: list[dict[str, Any]] = []

    def keys(self) -> list[tuple[str, int]]:
        return [(i["node"], i["seq"]) for b in self.batches for i in b["items"]]

    async def until(self, expected: set[tuple[str, int]], timeout: float = WAIT) -> None:
        """Collect batches until every expected (node, seq) was seen."""
        await self._collect(lambda: expected <= set(self.keys()), f"{sorted(expected)}", timeout)

    async def until_batches(self, count: int, timeout: float = WAIT) -> None:
        """Collect until `count` batches have arrived in all."""
        await self._collect(lambda: len(self.batches) >= count, f"{count} batches", timeout)

    async def _collect(self, done: Callable[[], bool], what: str, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not done():
            left = deadline - loop.time()
            if left <= 0:
                raise AssertionError(f"batches never carried {what}; got {self.keys()}")
            msg = await self.peer.get(left)
            self.batches.append(decode_batch(msg.payload))


@contextlib.asynccontextmanager
async def running_gateway(
    config: GatewayConfig, *, ready: bool = True, gateway: Gateway | None = None
) -> AsyncIterator[Gateway]:
    """Run a Gateway in a task; wait until it is connected and subscribed
    (unless ready=False); stop it gracefully on the way out."""
    gw = gateway or Gateway(config)
    stop = asyncio.Event()
    task = asyncio.create_task(gw.run(stop), name="gateway under test")
    try:
        if ready:
            await wait_until(lambda: gw.ready or task.done(), "the gateway to be ready")
            if task.done():
                task.result()  # surface why it ended
        yield gw
    finally:
        stop.set()
        try:
            await asyncio.wait_for(task, WAIT)
        finally:
            gw.close()


class TcpProxy:
    """A TCP relay between a client and a real broker, for injecting faults on a
    real connection: `hold()` stops bytes flowing back to the client (so PUBACKs
    never arrive), `cut()` drops every connection, `release()` lets new ones flow."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self._upstream = (upstream_host, upstream_port)
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._refusing = False
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None
        self.host = "127.0.0.1"
        self.port = 0
        self.connections = 0

    async def __aenter__(self) -> TcpProxy:
        self._server = await asyncio.start_server(self._handle, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.cut()
        self._flowing.set()
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    def hold(self) -> None:
        self._flowing.clear()

    def release(self) -> None:
        self._flowing.set()

    def down(self) -> None:
        """A link outage: every connection dropped, new ones refused until `up()`."""
        self._refusing = True
        self.cut()

    def up(self) -> None:
        self._refusing = False

    def cut(self) -> None:
        for w in list(self._writers):
            w.transport.abort()
        self._writers.clear()

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        if self._refusing:
            client_w.transport.abort()
            return
        self.connections += 1
        try:
            up_r, up_w = await asyncio.open_connection(*self._upstream)
        except OSError:
            client_w.transport.abort()
            return
        self._writers |= {client_w, up_w}

        async def pump(r: asyncio.StreamReader, w: asyncio.StreamWriter, gated: bool) -> None:
            try:
                while data := await r.read(65536):
                    if gated:
                        await self._flowing.wait()
                    if w.is_closing():
                        break
                    w.write(data)
                    await w.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                for x in (client_w, up_w):
                    x.transport.abort()
                    self._writers.discard(x)

        await asyncio.gather(pump(client_r, up_w, False), pump(up_r, client_w, True))


class PtyBridge:
    """A real serial line for the Modbus master: a pty whose far end is piped to
    the emulated bus's TCP port, so pymodbus's serial client (pyserial, termios)
    talks RTU to the firmware slaves as over an RS-485 adapter."""

    def __init__(self, host: str, port: int) -> None:
        self._upstream = (host, port)
        self.path = ""
        self._fds: tuple[int, int] | None = None
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> PtyBridge:
        import os
        import tty

        master, slave = os.openpty()
        tty.setraw(master)
        self._fds = (master, slave)  # the slave stays open: closing the client never hangs up the line
        self.path = os.ttyname(slave)
        reader, writer = await asyncio.open_connection(*self._upstream)
        loop = asyncio.get_running_loop()

        def to_bus() -> None:
            try:
                data = os.read(master, 4096)
            except OSError:
                return
            writer.write(data)

        loop.add_reader(master, to_bus)

        async def to_line() -> None:
            while data := await reader.read(4096):
                os.write(master, data)

        self._task = asyncio.create_task(to_line())
        self._writer = writer
        return self

    async def __aexit__(self, *exc: object) -> None:
        import os

        assert self._fds is not None and self._task is not None
        asyncio.get_running_loop().remove_reader(self._fds[0])
        self._task.cancel()
        self._writer.close()
        for fd in self._fds:
            os.close(fd)


@contextlib.asynccontextmanager
async def soil_bus(tmp_path: Path, units: dict[int, str], baud: int = 19_200) -> AsyncIterator[ModbusBus]:
    """An emulated RS-485 bus (19 200 baud by default) with one firmware soil node per unit, reporting each second."""
    farm = VirtualFarm([VirtualZone("z1")])
    bus = ModbusBus(port=0, baud=baud, tick_s=0.05)
    for unit, node in units.items():
        bus.add(nodes.soil_node(farm, node, "z1", [10, 30], tmp_path / "flash", 1000, time.time), unit)
    await bus.start()
    stop = asyncio.Event()
    task = asyncio.create_task(bus.run(stop))
    try:
        yield bus
    finally:
        stop.set()
        await task
        await bus.close()
