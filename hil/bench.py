"""One emulated node on the bench: a real firmware core on emulated hardware
serving Modbus, for bench testing and technician training
(`furrow hil node --role ROLE --modbus-tcp HOST:PORT`).

The node's firmware RTU slave answers every request. With Modbus/TCP framing
(the default) any Modbus/TCP master reaches it, e.g.
``mbpoll -m tcp -a 1 -p PORT -t 3 -r 1 -c 24 -1 HOST``; with RTU framing the
port carries raw RTU frames, as the gateway's emulated field bus does.

With `serial` the node sits behind a pseudo-terminal, a serial device such
as /dev/pts/3 that a master opens like a USB RS-485 adapter and speaks real
Modbus RTU to, e.g.
``mbpoll -m rtu -b 19200 -P even -a 1 -t 3 -r 1 -c 24 -1 /dev/pts/3``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from furrow.firmware.config import validate
from furrow.firmware.fault_node import FaultNode
from furrow.hil import nodes
from furrow.hil.modbus_bus import ModbusBus

log = logging.getLogger("furrow.hil.bench")


@dataclass
class BenchOptions:
    role: str
    host: str
    port: int
    unit: int = 1
    baud: int = 19_200
    framing: str = "tcp"
    node_id: str | None = None
    interval_s: float = 5.0
    state_dir: Path = Path(".furrow/hil")
    serial: bool = False
    config: Path | None = None  # a node config to validate first: invalid -> fault mode


class BenchNode:
    """One node core and the port that serves it."""

    def __init__(self, o: BenchOptions) -> None:
        self.options = o
        self.node_id = o.node_id or f"{o.role}-bench"
        self.errors = self._check_config(o.config)
        if self.errors:
            # What a board does with this file: no core, the reason in registers 14-15.
            self.core: Any = FaultNode(self.node_id, self.errors)
            self.on_tick: Callable[[int], None] = lambda now_ms: None
        else:
            self.core, self.on_tick = nodes.bench_node(o.role, self.node_id, o.state_dir,
                                                       int(o.interval_s * 1000), time.time)
        self.bus = ModbusBus(o.host, o.port, baud=o.baud, framing=o.framing, on_tick=self.on_tick)
        self.bus.add(self.core, o.unit)
        self.core.holding[0] = o.unit  # type: ignore[attr-defined]
        self.device: str | None = None  # the pty's serial device, with `serial`
        self._pty: tuple[int, int] | None = None

    async def start(self) -> None:
        """Listen, after a first report: a master never sees the all-zero
        image of a node that has just booted."""
        for _ in range(0 if self.errors else 100):  # a soil node's first report waits for its DS18B20 (750 ms)
            self.bus.tick(self.bus.clock_ms())
            if self.core.last is not None:  # type: ignore[attr-defined]
                break
            await asyncio.sleep(0.05)
        o = self.options
        if o.serial:
            self._open_pty()
            where = f"Modbus RTU on serial {self.device}"
        else:
            await self.bus.start()
            where = f"{'Modbus/TCP' if o.framing == 'tcp' else 'Modbus RTU over TCP'} on {o.host}:{self.bus.port}"
        state = " in FAULT MODE (invalid config)" if self.errors else ""
        print(f"furrow hil node: {o.role} node {self.node_id}{state}, unit {o.unit}, {where}", flush=True)

    @staticmethod
    def _check_config(path: Path | None) -> list[tuple]:
        if path is None:
            return []
        try:
            raw = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            errors: list[tuple] = [(str(path), None, f"cannot be read as JSON: {e}")]
        else:
            _, errors = validate(raw)
        for field, value, message in errors:
            print(f"furrow hil node: config error: {field}={value!r}: {message}", file=sys.stderr, flush=True)
        return errors

    def _open_pty(self) -> None:
        import tty

        master, slave = os.openpty()
        tty.setraw(slave)  # bytes as they are: no echo, no newline translation
        os.set_blocking(master, False)
        self._pty = (master, slave)  # the slave end stays open so the device lives on between masters
        self.device = os.ttyname(slave)
        asyncio.get_running_loop().add_reader(master, self._on_serial)

    def _on_serial(self) -> None:
        assert self._pty is not None
        try:
            data = os.read(self._pty[0], 512)
        except BlockingIOError:
            return
        slave = self.bus.nodes[0].slave
        reply = slave.feed(data, time.monotonic_ns() // 1000)
        if reply is not None:
            os.write(self._pty[0], reply)

    async def run(self, stop: asyncio.Event) -> None:
        """Tick the node and answer until `stop`."""
        if self._pty is None:
            try:
                await self.bus.run(stop)
            finally:
                await self.bus.close()
            return
        slave = self.bus.nodes[0].slave
        try:
            while not stop.is_set():
                self.bus.tick(self.bus.clock_ms())  # the farm, the core and its report queue
                slave.feed(b"", time.monotonic_ns() // 1000)  # so a silence ends a partial frame
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.bus.tick_s)
        finally:
            asyncio.get_running_loop().remove_reader(self._pty[0])
            for fd in self._pty:
                os.close(fd)


def run(o: BenchOptions) -> int:
    """Run until SIGINT/SIGTERM."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        bench = BenchNode(o)
        await bench.start()
        await bench.run(stop)

    asyncio.run(main())
    return 0
