"""An RS-485 line in simulated time, for the gateway's real bus master (gateway/modbus/master.py).

`SimulatedLine` is a `gateway.modbus.master.Bus`: each request becomes a real
RTU frame (CRC and all) handed to whatever answers for the unit (`answer`:
firmware RTU slaves in this process, or in the MicroPython fleet), and the
`SimClock` moves by each frame's time on the wire at the baud rate (11 bits a
character); a unit that does not answer costs the request's own timeout.
Nothing waits in real time, so a night of polling runs in a second and the
same run gives the same result.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Callable
from dataclasses import dataclass

from furrow.edge.crc import crc16_modbus
from furrow.gateway.modbus import DeviceError, NoAnswer
from furrow.hil.clock import SimClock

FC_HOLDING, FC_INPUT, FC_WRITE = 3, 4, 16

Answer = Callable[[int, bytes], "bytes | None"]
"""The reply frame of unit `unit` to a whole request frame, or None (no answer)."""


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


async def run_inline(work: Callable[[], object]) -> object:
    """The bus master's `offload` on a simulated line: a commit runs on the loop at its next turn instead
    of in a worker thread, so what is stored when never depends on a thread's timing."""
    return work()


class SimulatedLine:
    """A `gateway.modbus.Bus` whose units `answer` frames, on a simulated clock."""

    received_at = None  # a reply ends when `read` returns: the clock stands still in between

    def __init__(self, clock: SimClock, answer: Answer, baud: int = 19_200) -> None:
        self.clock = clock
        self.answer = answer
        self.char_s = 11 / baud
        self.frames: list[Frame] = []

    def advance(self, seconds: float) -> None:
        self.clock.advance_to(self.clock.s() + seconds)

    async def sleep(self, seconds: float) -> None:
        """The master's wait: the clock moves on, nothing waits."""
        self.advance(seconds)
        await asyncio.sleep(0)

    def _exchange(self, unit: int, fc: int, address: int, count: int, pdu: bytes, timeout_s: float) -> bytes:
        body = bytes([unit]) + pdu
        crc = crc16_modbus(body)
        request = body + bytes([crc & 0xFF, crc >> 8])
        start = self.clock.s()
        reply = self.answer(unit, request)
        if reply is None:
            self.advance(len(request) * self.char_s + timeout_s)
            self.frames.append(Frame(unit, fc, address, count, start, self.clock.s(), False))
            raise NoAnswer(f"no answer from unit {unit} within {timeout_s} s")
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
