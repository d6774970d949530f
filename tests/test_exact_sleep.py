"""furrow.clock.exact_sleep on a scripted clock: it sleeps to just before the deadline, spins the rest
and never returns early (the Modbus master's t3.5 silence and the emulated line's wire time use it)."""

from __future__ import annotations

from furrow.clock import SPIN_S, exact_sleep


class Clock:
    """A monotonic clock that moves `step` per reading; a sleep moves it by what was asked plus `late`."""

    def __init__(self, step: float, late: float) -> None:
        self.t, self.step, self.late = 100.0, step, late
        self.asked: list[float] = []
        self.readings = 0

    def __call__(self) -> float:
        self.readings += 1
        self.t += self.step
        return self.t

    async def sleep(self, s: float) -> None:
        self.asked.append(s)
        self.t += s + self.late


async def test_a_wait_sleeps_until_the_spin_margin_then_spins_to_the_deadline_never_before() -> None:
    clock = Clock(step=1e-5, late=0.0004)  # the sleep wakes 0.4 ms late, still inside the margin
    await exact_sleep(0.002, monotonic=clock, sleep=clock.sleep)
    assert clock.asked == [0.002 - SPIN_S]
    assert clock.t >= 100.0 + 1e-5 + 0.002  # the deadline, counted from the first reading
    assert clock.t < 100.0 + 0.002 + 3e-5  # and the spin stopped at it (two readings past at most)
    assert clock.readings > 10  # it spun: a plain sleep(0.002) reads the clock once or not at all


async def test_a_wait_shorter_than_the_margin_only_spins_and_a_late_sleep_is_not_spun_further() -> None:
    short = Clock(step=1e-4, late=0.0)
    await exact_sleep(0.001, monotonic=short, sleep=short.sleep)
    assert short.asked == [] and short.t >= 100.0 + 1e-4 + 0.001
    late = Clock(step=1e-5, late=0.005)  # a loaded host: the sleep overshoots the deadline itself
    await exact_sleep(0.002, monotonic=late, sleep=late.sleep)
    assert late.readings == 2  # the deadline was read once before, once after: no spin past it
