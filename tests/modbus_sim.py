"""An RS-485 line in simulated time, for driving the gateway's bus master (gateway/modbus/master.py).

The line (hil/sim_line.py) carries real RTU frames (CRC and all) to the real
firmware RTU slaves of emulated nodes (hil.modbus_bus.ModbusNode: cores,
report queues, command mailboxes), and moves a `SimClock` by each frame's
time on the wire at the baud rate; a unit that does not answer costs the
request's own timeout. Nothing waits in real time, so a day of polling runs
in a second and the same run gives the same result.
"""

from __future__ import annotations

from datetime import UTC, datetime

from furrow.hil.clock import SimClock
from furrow.hil.modbus_bus import ModbusBus
from furrow.hil.sim_line import FC_HOLDING, FC_INPUT, FC_WRITE, Frame, SimulatedLine

__all__ = ["FC_HOLDING", "FC_INPUT", "FC_WRITE", "Frame", "SimLine", "sim_clock"]

T0 = datetime(2026, 6, 1, tzinfo=UTC)


class SimLine(SimulatedLine):
    """A `gateway.modbus.Bus` over firmware slaves in this process, on a simulated clock."""

    def __init__(self, clock: SimClock, baud: int = 19_200) -> None:
        super().__init__(clock, self._answer, baud)
        # Only for its nodes and their ticking: no TCP server is started.
        self.emulated = ModbusBus(port=0, baud=baud, clock_ms=clock.ms)
        self.dead: set[int] = set()  # units that hear nothing (unplugged, dead)

    def add(self, core: object, unit: int, queue: bool = True) -> None:
        self.emulated.add(core, unit, queue)

    def _answer(self, unit: int, request: bytes) -> bytes | None:
        self.emulated.tick(self.clock.ms())  # the nodes live up to now: reports made, commands run
        node = next((n for n in self.emulated.nodes if n.slave.unit == unit), None)
        if node is None or unit in self.dead:
            return None
        now_us = round(self.clock.s() * 1e6)
        gap = node.slave.gap_us * 2
        node.slave.feed(b"", now_us)  # a silence before: no old partial frame joins this one
        reply = node.slave.feed(request, now_us + 1) or node.slave.feed(b"", now_us + 1 + gap)
        if reply is not None:
            node.answered(self.clock.ms())
        return reply


def sim_clock() -> SimClock:
    return SimClock(T0)
