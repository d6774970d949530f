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

import time
from collections.abc import Callable

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
