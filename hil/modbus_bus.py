"""An emulated RS-485 bus: real firmware Modbus RTU slaves behind a TCP port.

The gateway's real Modbus master (pymodbus, RTU framing over TCP) connects
to the port as it would to a serial-to-Ethernet converter on a field bus.
Every frame on the bus reaches every slave, as on a multi-drop RS-485 line,
and only the addressed unit answers. Replies are delayed by their time on
the wire at the bus's baud rate (11 bits per character), so a poll costs what
it would cost in the field.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from furrow.firmware.modbus_slave import RtuSlave, char_us_for_baud
from furrow.hil.mqtt_node import wall_clock_ms

log = logging.getLogger("furrow.hil.bus")


class ModbusNode:
    """One node core on the bus: its RTU slave serves the core's live registers."""

    def __init__(self, core: Any, unit: int, baud: int) -> None:
        self.core = core
        self.node_id: str = core.node_id
        coils = core.coils() if hasattr(core, "coils") else None
        self.slave = RtuSlave(
            unit,
            core.registers(),
            core.holding,
            coils=coils,
            char_us=char_us_for_baud(baud),
            on_write=core.on_holding_write,
            on_coil_write=getattr(core, "on_coil_write", None),
        )
        self.reports_made = 0
        self.readings_made = 0


class ModbusBus:
    """A TCP-reachable RS-485 bus of firmware slaves, with their cores ticked."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, baud: int = 19_200, tick_s: float = 0.1,
                 clock_ms: Callable[[], int] = wall_clock_ms,
                 on_tick: Callable[[int], None] | None = None) -> None:
        self.host, self.port, self.baud, self.tick_s = host, port, baud, tick_s
        self.clock_ms, self.on_tick = clock_ms, on_tick
        self.char_s = 11 / baud  # start, 8 data, parity/stop, stop bits per character
        self.nodes: list[ModbusNode] = []
        self.frames_in = 0
        self._server: asyncio.Server | None = None

    def add(self, core: Any, unit: int) -> ModbusNode:
        node = ModbusNode(core, unit, self.baud)
        self.nodes.append(node)
        return node

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._connection, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("RS-485 bus (RTU over TCP) on %s:%d, %d baud, units %s", self.host, self.port, self.baud,
                 [n.slave.unit for n in self.nodes])

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def run(self, stop: asyncio.Event) -> None:
        """Tick every core until `stop`. The bus keeps answering until
        close(), so a master can still read the last reports."""
        if self._server is None:
            await self.start()
        while not stop.is_set():
            now = self.clock_ms()
            if self.on_tick:
                self.on_tick(now)
            for node in self.nodes:
                out = node.core.tick(now)
                ups = out[1] if isinstance(out, tuple) else out
                for up in ups:
                    node.reports_made += 1
                    node.readings_made += len(up["readings"])
                    log.info("%s (unit %d) -> registers seq %d", node.node_id, node.slave.unit, up["seq"])
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.tick_s)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(512):
                now_us = time.monotonic_ns() // 1000
                self.frames_in += 1
                for node in self.nodes:
                    reply = node.slave.feed(data, now_us)
                    while reply is not None:
                        # the request and the reply each take their time on the wire
                        await asyncio.sleep((len(data) + len(reply)) * self.char_s)
                        writer.write(reply)
                        await writer.drain()
                        reply = node.slave.feed(b"", now_us)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
