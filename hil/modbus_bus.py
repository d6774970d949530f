"""An emulated RS-485 bus: real firmware Modbus RTU slaves behind a TCP port.

With ``framing="rtu"`` (the gateway's emulated field bus) the gateway's real
Modbus master (pymodbus, RTU framing over TCP) connects to the port as it
would to a serial-to-Ethernet converter on a field bus. With
``framing="tcp"`` the port speaks Modbus/TCP (MBAP), as a Modbus/TCP gateway
in front of the bus does, for bench tools such as ``mbpoll -m tcp``
(`hil.mbap` converts; the firmware slave still decides every answer).

Every frame on the bus reaches every slave, as on a multi-drop RS-485 line,
and only the addressed unit answers. A reply comes when the request, the t3.5
silence after it and the reply itself would have passed on the wire at the
bus's baud rate (11 bits per character), counted from when the firmware has
answered, and on time (`furrow.clock.exact_sleep`; asyncio.sleep alone
added 1.4 ms median per request), so a poll costs what it would cost in the
field and no more. The firmware frames a request by its length and answers at
once, as on a board (within its 1 ms loop); the line holds the reply for the
silence a spec-compliant slave keeps (Modbus over Serial Line V1.02, 2.5.1.1:
frames are separated by at least 3.5 character times), which is also what the
bench's wire limit charges. A request that follows the last reply sooner than
t3.5 is counted in `short_silences`: the master broke the line's rule.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from furrow.clock import exact_sleep
from furrow.firmware.modbus_commands import CommandMailbox
from furrow.firmware.modbus_slave import RtuSlave, char_us_for_baud
from furrow.firmware.report_queue import ReportQueue
from furrow.hil import mbap
from furrow.hil.mqtt_node import wall_clock_ms

log = logging.getLogger("furrow.hil.bus")


class ModbusNode:
    """One node core on the bus: its RTU slave serves the core's live registers,
    through the report queue (firmware/report_queue.py) when `queue_path` is given."""

    def __init__(self, core: Any, unit: int, baud: int, queue_path: str | None = None,
                 queue_slots: int = 64) -> None:
        self.core = core
        self.node_id: str = core.node_id
        coils = core.coils() if hasattr(core, "coils") else None
        # an irrigation controller takes commands over the bus, as on a board
        self.mailbox = CommandMailbox(core) if hasattr(core, "on_command") else None
        inputs = self.mailbox.inputs if self.mailbox else core.registers()
        write = self.mailbox.on_write if self.mailbox else core.on_holding_write
        self.queue = None if queue_path is None else ReportQueue(queue_path, inputs, core.holding, write, queue_slots)
        self.slave = RtuSlave(
            unit,
            self.queue if self.queue is not None else inputs,
            self.mailbox.holding if self.mailbox else core.holding,
            coils=coils,
            char_us=char_us_for_baud(baud),
            on_write=self.queue.on_write if self.queue is not None else write,
            on_coil_write=getattr(core, "on_coil_write", None),
        )
        self.reports_made = 0
        self.readings_made = 0

    def answered(self, now_ms: int) -> None:
        """A request for this unit was answered: the gateway is there (heartbeat)."""
        if self.mailbox:
            self.core.on_heartbeat(now_ms)


class ModbusBus:
    """A TCP-reachable RS-485 bus of firmware slaves, with their cores ticked."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, baud: int = 19_200, tick_s: float = 0.1,
                 clock_ms: Callable[[], int] = wall_clock_ms,
                 on_tick: Callable[[int], None] | None = None, framing: str = "rtu",
                 state_dir: Path | None = None) -> None:
        if framing not in ("rtu", "tcp"):
            raise ValueError(f"framing must be 'rtu' or 'tcp', not {framing!r}")
        # Each node's report queue ring is a 'flash' file here (a temporary
        # directory when None); give a directory to keep it across restarts.
        self._tmp = tempfile.TemporaryDirectory(prefix="furrow-bus-") if state_dir is None else None
        self.state_dir = Path(self._tmp.name) if self._tmp is not None else state_dir
        self.framing = framing
        self.host, self.port, self.baud, self.tick_s = host, port, baud, tick_s
        self.clock_ms, self.on_tick = clock_ms, on_tick
        self.char_s = 11 / baud  # start, 8 data, parity/stop, stop bits per character
        self.gap_us = (char_us_for_baud(baud) * 7 + 1) // 2  # t3.5, as the firmware's RtuSlave counts it
        self.nodes: list[ModbusNode] = []
        self.frames_in = 0
        # Characters the line carried: each request and reply with the 3.5-character silence before
        # it (what bench/gateway_modbus.py divides by the baud rate's characters per second).
        self.chars_on_wire = 0.0
        # Requests that came less than t3.5 after the last reply (the master kept no silence): on a
        # real line the slaves would take them as the tail of that frame.
        self.short_silences = 0
        self._frame_end_us = 0
        # The silence before each request since the last reply left (µs; the latest 10,000): t3.5
        # plus whatever the master took beyond it (bench/gateway_modbus.py prints it).
        self.silences_us: collections.deque[int] = collections.deque(maxlen=10_000)
        # Line faults (hil/faults.py BusFaults): which units hear a frame, and
        # what becomes of a reply on the wire (garbled, lost). None: a clean line.
        self.faults: Any = None
        self._line_us = 0  # Modbus/TCP framing: the emulated line's latest time
        self._server: asyncio.Server | None = None

    def add(self, core: Any, unit: int, queue: bool = True) -> ModbusNode:
        """Put `core` on the bus as `unit`; `queue` False serves it without a
        report queue (a 1.0 node: only the latest report)."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        path = str(self.state_dir / f"{core.node_id}.queue") if queue else None
        node = ModbusNode(core, unit, self.baud, path)
        self.nodes.append(node)
        return node

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._connection, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("RS-485 bus (%s over TCP) on %s:%d, %d baud, units %s",
                 "RTU" if self.framing == "rtu" else "MBAP", self.host, self.port, self.baud,
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
            self.tick(self.clock_ms())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.tick_s)

    def tick(self, now: int) -> None:
        """Advance the farm and every core to `now`, as a board loop does:
        acks to the mailbox, a new report into the node's report queue."""
        if self.on_tick:
            self.on_tick(now)
        for node in self.nodes:
            out = node.core.tick(now)
            ups = out[1] if isinstance(out, tuple) else out
            if node.mailbox and isinstance(out, tuple):
                node.mailbox.post(out[0])
            if ups and node.queue is not None:
                node.queue.on_report()
            for up in ups:
                node.reports_made += 1
                node.readings_made += len(up["readings"])
                log.info("%s (unit %d) -> registers seq %d", node.node_id, node.slave.unit, up["seq"])

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.framing == "tcp":
            await self._mbap_connection(reader, writer)
            return
        try:
            while data := await reader.read(512):
                now_us = time.monotonic_ns() // 1000
                if self._frame_end_us:
                    self.silences_us.append(now_us - self._frame_end_us)
                    if now_us - self._frame_end_us < self.gap_us:
                        self.short_silences += 1  # a real slave would take it as the tail of the last frame
                self.frames_in += 1
                self.chars_on_wire += len(data) + 3.5
                for node in self.nodes:
                    if self.faults is not None and not self.faults.hears(node.slave.unit):
                        continue  # a dead device: nothing reaches it
                    reply = node.slave.feed(data, now_us)
                    if reply is not None:
                        node.answered(self.clock_ms())
                    if reply is not None and self.faults is not None:
                        reply = self.faults.on_reply(node.slave.unit, reply)
                    while reply is not None:
                        # The request, the silence that ends it and the reply each take their time on
                        # the wire, after the firmware's own time to answer (the feed above).
                        self.chars_on_wire += len(reply) + 3.5
                        await exact_sleep((len(data) + len(reply)) * self.char_s + self.gap_us / 1e6)
                        writer.write(reply)
                        self._frame_end_us = time.monotonic_ns() // 1000
                        await writer.drain()
                        reply = node.slave.feed(b"", now_us)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _mbap_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Modbus/TCP: one MBAP request at a time, answered by the RTU slaves."""
        try:
            while True:
                tid, unit, pdu_len = mbap.parse_header(await reader.readexactly(mbap.MBAP_LEN))
                pdu = await reader.readexactly(pdu_len)
                self.frames_in += 1
                rtu = mbap.to_rtu(unit, pdu)
                reply = None
                for node in self.nodes:
                    if self.faults is not None and not self.faults.hears(node.slave.unit):
                        continue
                    reply = self._ask(node.slave, rtu) or reply
                if reply is not None:
                    await exact_sleep((len(rtu) + len(reply)) * self.char_s + self.gap_us / 1e6)
                    writer.write(mbap.from_rtu(tid, reply))
                elif unit != 0:
                    writer.write(mbap.no_answer(tid, unit, pdu[0]))
                await writer.drain()
        except mbap.MbapError as e:
            log.warning("closing a Modbus/TCP connection: %s", e)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    def _ask(self, slave: RtuSlave, rtu: bytes) -> bytes | None:
        """Feed one whole RTU frame to `slave` on the line's time base: a
        silence before it (so no old partial frame is joined to it) and one
        after it (so a function code it does not know is judged)."""
        gap = slave.gap_us * 2
        now = max(time.monotonic_ns() // 1000, self._line_us + gap)
        slave.feed(b"", now)
        reply = slave.feed(rtu, now + 1)
        if reply is None:
            reply = slave.feed(b"", now + 1 + gap)
        self._line_us = now + 1 + gap
        return reply
