"""The one clock shape every Furrow service is given, instead of reading the time itself.

A `Clock` is a callable returning Unix time in milliseconds. A farm passes
`system_clock`; the hardware-in-the-loop harness and the demo's backfill
pass a simulated one (``hil.clock.SimClock.ms``), so the same services run a
season in seconds and repeat a run exactly. The cloud (``cloud/_time.py``)
and the gateway use this shape alike; neither imports the other for it.

A `Monotonic` clock (seconds that never go back) is for the one kind of
service that schedules by elapsed time and must not stall when the wall
clock is stepped: the Modbus bus scheduler (gateway/modbus/schedule.py),
whose next poll times would otherwise jump hours ahead after an NTP step
back. Everything that stamps or compares instants uses the `Clock`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

Clock = Callable[[], int]
"""Unix time in milliseconds."""

Monotonic = Callable[[], float]
"""Seconds from an arbitrary origin, never going back."""


def system_clock() -> int:
    """The real wall clock: Unix time in milliseconds."""
    return time.time_ns() // 1_000_000


def system_monotonic() -> float:
    """The real monotonic clock, in seconds."""
    return time.monotonic()


SPIN_S = 0.0015
"""How much of an exact wait is spent awake. asyncio.sleep wakes late: the selector rounds its
timeout up to a whole millisecond and a loaded host runs the loop later still (a 1.96 ms sleep took
2.2 ms median, 4.6 ms at the 90th percentile on the 2-core development VM at load 4.5,
docs/performance.md), which on a Modbus line is time no frame is on the wire."""


async def exact_sleep(seconds: float, *, monotonic: Monotonic = time.perf_counter,
                      sleep: Callable[[float], Awaitable[object]] = asyncio.sleep, spin_s: float = SPIN_S) -> None:
    """Wait `seconds` and return as close after as the host allows, never before: sleep until `spin_s`
    before the deadline, then spin until it passes (the loop's other tasks wait; threads get the GIL at
    its switch interval). The spin makes no system call: sched_yield on a loaded host hands the core
    to another process for milliseconds. For short waits whose lateness costs throughput (an RTU
    line's t3.5 silence, an emulated frame's time on the wire); up to `spin_s` of CPU per wait."""
    deadline = monotonic() + seconds
    if seconds > spin_s:
        await sleep(seconds - spin_s)
    while monotonic() < deadline:
        pass
