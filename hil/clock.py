"""The simulated clock: time moves only when the scenario moves it.

Everything in a scenario (the virtual farm, the emulated hardware, the
firmware cores, the in-process gateway and cloud) reads this clock instead of
the wall clock, so a 120-day season runs as fast as the code can step it and
a run is repeatable for a seed.
"""

from __future__ import annotations

from datetime import UTC, datetime

DAY_S = 86_400
HOUR_S = 3_600


class SimClock:
    """Unix seconds that advance only by `advance_to` (never backwards)."""

    def __init__(self, start: datetime) -> None:
        if start.utcoffset() is None:
            raise ValueError(f"start must be an aware datetime, got {start!r}")
        self.start_s = start.timestamp()
        self._t_s = self.start_s

    def s(self) -> float:
        return self._t_s

    def ms(self) -> int:
        return int(round(self._t_s * 1000))

    def now(self) -> datetime:
        return datetime.fromtimestamp(self._t_s, UTC)

    def day_index(self) -> int:
        """Whole simulated days since the start (day 0 is the first)."""
        return int((self._t_s - self.start_s) // DAY_S)

    def advance_to(self, t_s: float) -> None:
        if t_s < self._t_s:
            raise ValueError(f"the simulated clock never goes back ({t_s} < {self._t_s})")
        self._t_s = t_s
