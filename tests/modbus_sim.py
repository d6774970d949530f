"""An RS-485 line in simulated time, for driving the gateway's bus master (gateway/modbus/master.py).

The line carries real RTU frames (CRC and all) to the real firmware RTU slaves
of emulated nodes (hil.modbus_bus.ModbusNode: cores, report queues, command
mailboxes), and moves a `SimClock` by each frame's time on the wire at the
baud rate (11 bits a character); a unit that does not answer costs the
request's own timeout. Nothing waits in real time, so a day of polling runs
in a second and the same run gives the same result.
"""

from __future__ import annotations

import asyncio
import struct
from dataclasses import dataclass
from datetime import UTC, datetime

from furrow.edge.crc import crc16_modbus
from furrow.gateway.modbus import DeviceError, NoAnswer
from furrow.hil.clock import SimClock
from furrow.hil.modbus_bus import ModbusBus

T0 = datetime(2026, 6, 1, tzinfo=UTC)
FC_HOLDING, FC_INPUT, FC_WRITE = 3, 4, 16


@dataclass(frozen=True)
class Frame:
    """One request on the line: to `unit`, function `fc` at `address` for `count` registers,
    from `start_s` until its answer ended (or its timeout), answered or not."""

    unit: int
    fc: int
    address: int
    count: int
    start_s: float
    end_s: float
    answered: bool


class SimLine:
    """A `gateway.modbus.Bus` over firmware slaves, on a simulated clock."""

    def __init__(self, clock: SimClock, baud: int = 19_200) -> None:
        self.clock = clock
        self.char_s = 11 / baud
        # Only for its nodes and their ticking: no TCP server is started.
        self.emulated = ModbusBus(port=0, baud=baud, clock_ms=clock.ms)
        self.dead: set[int] = set()  # units that hear nothing (unplugged, dead)
        self.frames: list[Frame] = []

    def add(self, core: object, unit: int, queue: bool = True) -> None:
        self.emulated.add(core, unit, queue)

    def advance(self, seconds: float) -> None:
        self.clock.advance_to(self.clock.s() + seconds)

    async def sleep(self, seconds: float) -> None:
        """The master's wait: the clock moves on, nothing waits."""
        self.advance(seconds)
        await asyncio.sleep(0)

    def _exchange(self, unit: int, fc: int, address: int, count: int, pdu: bytes, timeout_s: float) -> bytes:
        self.emulated.tick(self.clock.ms())  # the nodes live up to now: reports made, commands run
        body = bytes([unit]) + pdu
        crc = crc16_modbus(body)
        request = body + bytes([crc & 0xFF, crc >> 8])
        start = self.clock.s()
        node = next((n for n in self.emulated.nodes if n.slave.unit == unit), None)
        reply = None
        if node is not None and unit not in self.dead:
            now_us = round(start * 1e6)
            gap = node.slave.gap_us * 2
            node.slave.feed(b"", now_us)  # a silence before: no old partial frame joins this one
            reply = node.slave.feed(request, now_us + 1) or node.slave.feed(b"", now_us + 1 + gap)
        if reply is None:
            self.advance(len(request) * self.char_s + timeout_s)
            self.frames.append(Frame(unit, fc, address, count, start, self.clock.s(), False))
            raise NoAnswer(f"no answer from unit {unit} within {timeout_s} s")
        node.answered(self.clock.ms())
        self.advance((len(request) + len(reply)) * self.char_s)
        self.frames.append(Frame(unit, fc, address, count, start, self.clock.s(), True))
        if crc16_modbus(reply[:-2]) != reply[-2] | reply[-1] << 8:
            raise NoAnswer("garbled answer")
        if reply[1] & 0x80:
            raise DeviceError(f"exception response {reply[2]}")
        return reply[2:-2]

    async def read(self, unit: int, start: int, count: int, *, holding: bool, timeout_s: float) -> list[int]:
        fc = FC_HOLDING if holding else FC_INPUT
        data = self._exchange(unit, fc, start, count, struct.pack(">BHH", fc, start, count), timeout_s)
        await asyncio.sleep(0)
        n = data[0] // 2
        if n < count:
            raise DeviceError(f"short read at {start}: {n} of {count} registers")
        return list(struct.unpack(f">{n}H", data[1:1 + 2 * n]))

    async def write(self, unit: int, address: int, values: list[int], *, timeout_s: float) -> None:
        pdu = struct.pack(f">BHHB{len(values)}H", FC_WRITE, address, len(values), 2 * len(values), *values)
        self._exchange(unit, FC_WRITE, address, len(values), pdu, timeout_s)
        await asyncio.sleep(0)

    def close(self) -> None:
        pass

    def polls_of(self, unit: int) -> list[Frame]:
        """The requests to `unit` in order."""
        return [f for f in self.frames if f.unit == unit]


def sim_clock() -> SimClock:
    return SimClock(T0)
