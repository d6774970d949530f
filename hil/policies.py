"""Irrigation policies a scenario can run: `furrow` (the cloud's planner) and `timer` (the baseline).

Neither computes anything of the cloud's: both go through the farm's
production services (hil/runtime.py).

`furrow` is the cloud's scheduled planner: `PlanningService.plan_all` on the
registry, the readings the nodes reported and the commands' history, exactly
as `furrow cloud run` plans (weather aggregates, FAO-56 balance with probe
correction, the decision, its commands created, signed and sent, one plan per
gateway). The scenario plans once a day at `plan_hour`, a farm's daily
schedule.

`timer` is what a farm without Furrow runs: every `every_days` days at 22:00
each zone gets the same depth, sized so that the crop does not stress in an
average week at full canopy: depth = every_days x Kc_mid x mean ET0 of the
site's climate (no rain, no probes, no crop stage). Its runs are commands of
the same `CommandService`, signed and relayed like the planner's.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Protocol

from furrow.cloud.agronomy.planner import PlannedRun
from furrow.hil.runtime import FarmRuntime


class Policy(Protocol):
    name: str
    plan_hour: int

    async def plan(self, now: datetime) -> None: ...

    def summary(self) -> dict[str, object]: ...


@dataclass
class FurrowPolicy:
    """The cloud's planner, run as its scheduler runs it (see the module docstring)."""

    runtime: FarmRuntime
    plan_hour: int = 21
    name: str = "furrow"
    rules: Counter[str] = field(default_factory=Counter)

    async def plan(self, now: datetime) -> None:
        for rule in (await self.runtime.plan()).values():
            self.rules[rule.split(":", 1)[0]] += 1  # "error: ..." counted as "error"

    def summary(self) -> dict[str, object]:
        return {"planner_rules": dict(self.rules)}


@dataclass(frozen=True)
class TimerZone:
    """A zone as the timer knows it: its valve and the emitters' rate."""

    zone: str
    node: str
    valve: int
    rate_mm_h: float
    max_runtime_s: int


@dataclass
class TimerPolicy:
    """A fixed schedule (see the module docstring for its sizing)."""

    runtime: FarmRuntime
    zones: list[TimerZone]
    mean_et0_mm: float
    kc_mid: float
    every_days: int = 3
    start: time = time(22, 0)
    window: timedelta = timedelta(hours=2)
    plan_hour: int = 21
    name: str = "timer"
    _day: int = 0

    @property
    def depth_mm(self) -> float:
        return self.every_days * self.kc_mid * self.mean_et0_mm

    async def plan(self, now: datetime) -> None:
        self._day += 1
        if (self._day - 1) % self.every_days:
            return
        start = datetime.combine(now.date(), self.start, now.tzinfo)
        commands = self.runtime.services.commands
        for z in self.zones:
            runtime_s = min(z.max_runtime_s, math.ceil(self.depth_mm / z.rate_mm_h * 3600))
            run = PlannedRun(node=z.node, valve=z.valve, duration=timedelta(seconds=runtime_s), not_before=start,
                             expires=start + self.window,
                             max_runtime=timedelta(seconds=min(z.max_runtime_s, runtime_s + 600)))
            await commands.create_run(run, zone=z.zone, origin="timer",
                                      request_reason=f"timer: {self.depth_mm:.1f} mm every {self.every_days} days",
                                      idempotency_key=f"timer:{z.zone}:{now:%Y-%m-%d}", replan=False)
        if commands.plans is not None:
            await commands.plans.publish_all()  # each gateway's plan once per pass, as the planner does

    def summary(self) -> dict[str, object]:
        return {"timer_depth_mm": round(self.depth_mm, 1), "timer_every_days": self.every_days}
