"""One scenario run: the farm, the nodes, the pipeline and a policy on the simulated clock.

The loop steps the clock by the hour, or by 5 minutes (to the second when a
controller is about to act) while irrigation is running or about to, so a
valve closes when the firmware closes it, not at the next hour. Each step:

    farm.advance(t)            soil, crop, pests and weather to t; open valves wet the soil
    rain tips and trap catches wait as pulses for the weather and pest cores' next tick
    fleet.step(t)              commands delivered; cores ticked when their report is due, controllers
                               also while they hold a command (a board sleeps between deadlines)
    uplinks -> pipeline        wire bytes into the gateway buffer; acks -> the command log
    every `forward_every_h`    the gateway forwards its buffer to the cloud ingest and store
    at the policy's hour       the policy plans and its commands go to the controllers

At the end the pipeline drains, and the result is measured from the cloud
store (readings), the command log (acks) and the farm's truth (stress, water).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from furrow.firmware.weather_node import RAIN_MM_PER_TIP
from furrow.hil.clock import DAY_S, HOUR_S, SimClock
from furrow.hil.command_log import CommandLog
from furrow.hil.farm import Farm
from furrow.hil.fleet import Fleet
from furrow.hil.pipeline import InProcessPipeline
from furrow.hil.policies import Policy
from furrow.hil.scenarios import RunOptions, ScenarioResult

FINE_STEP_S = 300  # a running controller is ticked every 5 min (heartbeat timeout 10 min); run ends are exact


@dataclass
class Run:
    farm: Farm
    clock: SimClock
    fleet: Fleet
    pipeline: InProcessPipeline
    policy: Policy
    days: int
    forward_every_h: int = 1
    log: CommandLog = field(default_factory=CommandLog)
    _rain_carry: float = 0.0
    _next_due: dict[str, float] = field(default_factory=dict)

    def _pulses(self, step_h: float) -> dict[str, list[tuple[int, int]]]:
        """Rain-gauge tips (channel 0) and trap catches since the last step."""
        pulses: dict[str, list[tuple[int, int]]] = {}
        self._rain_carry += self.farm.take_rain_mm()
        tips = int(self._rain_carry / RAIN_MM_PER_TIP + 1e-9)
        self._rain_carry -= tips * RAIN_MM_PER_TIP
        temp = self.farm.weather(self.clock.s()).air_temp_c
        for node_id, spec in self.fleet.specs.items():
            if spec.role == "weather" and tips:
                pulses[node_id] = [(0, tips)]
            elif spec.role == "pest":
                caught = [(ch, self.farm.pests.catches(temp, step_h)) for ch in range(1, spec.traps + 1)]
                if any(n for _, n in caught):
                    pulses[node_id] = [c for c in caught if c[1]]
        return pulses

    def _next_t(self, t: float) -> float:
        """The next hour; sooner when a controller acts before it (a not-before, a run's end),
        and every FINE_STEP_S while a valve runs (the controller's own checks, heartbeats)."""
        nxt = (math.floor((t - self.farm.start_s) / HOUR_S) + 1) * HOUR_S + self.farm.start_s
        if any(r.started_ms is not None for r in self.log.active()):
            nxt = min(nxt, t + FINE_STEP_S)
        event = self.log.next_event_ms(round(t * 1000))
        if event is not None and event / 1000 > t:
            nxt = min(nxt, event / 1000)
        return nxt

    def _due(self, t: float, on_hour: bool, delivered: set[str]) -> list[str]:
        """Nodes to tick now: a node whose report falls due (its grid starts at its first tick),
        a controller with a command in hand or given one now. The others sleep, as a board's
        loop sleeps until its next deadline; pulses wait for the node's next tick."""
        busy = {r.request.node for r in self.log.active()} | delivered
        due = []
        for node_id, spec in self.fleet.specs.items():
            if on_hour and t + 1e-6 >= self._next_due.get(node_id, t):
                self._next_due[node_id] = self._next_due.get(node_id, t) + spec.interval_s
                due.append(node_id)
            elif node_id in busy:
                due.append(node_id)
        return due

    async def run(self, options: RunOptions) -> ScenarioResult:
        started = time.perf_counter()
        end = self.farm.start_s + self.days * DAY_S
        irrigation = [n for n, s in self.fleet.specs.items() if s.role == "irrigation"]
        t = self.farm.start_s
        self.farm.advance(t)
        hours = 0
        waiting: dict[str, list[tuple[int, int]]] = {}
        last_hour = t  # catches are drawn per whole hour, whatever the steps inside it
        while t < end:
            t_next = min(self._next_t(t), end)
            self.farm.advance(t_next)
            self.clock.advance_to(t_next)
            on_hour = (t_next - self.farm.start_s) % HOUR_S == 0
            if on_hour:
                for node_id, events in self._pulses((t_next - last_hour) / HOUR_S).items():
                    waiting.setdefault(node_id, []).extend(events)
                last_hour = t_next
            now_ms = self.clock.ms()
            commands = self.log.take_outbox()
            due = self._due(t_next, on_hour, {n for n, _ in commands})
            pulses = {n: waiting.pop(n) for n in due if n in waiting}
            if due or commands:
                out = self.fleet.step(now_ms, due, commands, pulses)
                for up, data in out.uplinks:
                    self.pipeline.note_sent(up)
                    self.pipeline.send(data, now_ms)
                for ack in out.acks:
                    self.log.on_ack(ack)
                self.pipeline.commit()
            t = t_next
            if on_hour:
                hours += 1
                if hours % self.forward_every_h == 0:
                    await self.pipeline.forward()
                now = datetime.fromtimestamp(t, UTC)
                if now.hour == self.policy.plan_hour:
                    await self.pipeline.forward()  # the cloud plans on everything the nodes have reported
                    for i, req in enumerate(await self.policy.plan(now, self.log)):
                        self.log.issue(req, f"{self.policy.name[:1]}-{req.zone}-{now:%m%d}-{i}")
                if hours % (24 * 10) == 0:
                    options.progress(f"day {hours // 24}/{self.days}: {len(self.log.records)} commands, "
                                     f"{len(self.pipeline.sent)} reports sent")
        for node in irrigation:  # anything still open at the end is closed by the farm's record
            for ch in range(1, len(self.fleet.specs[node].valve_zones) + 1):
                self.farm.set_valve(node, ch, False)
        await self.pipeline.forward()
        return self._result(time.perf_counter() - started)

    def _result(self, wall_s: float) -> ScenarioResult:
        audit = self.pipeline.audit()
        cmd = self.log.metrics(self.farm.runs)
        zones = list(self.farm.zones.values())
        stress = sum(d.stressed for z in zones for d in z.days)
        irrigation_mm = sum(z.irrigated_mm for z in zones) / len(zones)
        series: dict[str, tuple[list[float], list[float]]] = {}
        for z in zones:
            xs = [float(d.day_index) for d in z.days]
            series[f"depletion_mm:{z.name}"] = (xs, [d.depletion_max_mm for d in z.days])
            series[f"raw_mm:{z.name}"] = (xs, [d.raw_mm for d in z.days])
            series[f"irrigation_mm:{z.name}"] = (xs, [d.irrigation_mm for d in z.days])
        first = zones[0]
        series["rain_mm"] = ([float(d.day_index) for d in first.days], [d.rain_mm for d in first.days])
        extra: dict[str, object] = {
            "policy": self.policy.name,
            "zones": len(zones),
            "reports_sent": audit["reports_sent"],
            "rain_mm": round(self.farm.rain_total_mm, 1),
            "irrigation_m3": round(sum(z.irrigated_mm * z.area_m2 for z in zones) / 1000, 1),
            **{k: v for k, v in cmd.items() if k not in ("commands_issued", "commands_executed_late",
                                                         "valve_overruns")},
            **self.policy.summary(),
            "gateway_duplicates": self.pipeline.stats()["duplicates"],
            "wall_s": round(wall_s, 2),
        }
        return ScenarioResult(
            simulated_days=round((self.clock.s() - self.farm.start_s) / DAY_S, 2),
            nodes=len(self.fleet.specs),
            readings_sent=audit["readings_sent"], readings_stored=audit["readings_stored"],
            readings_lost=audit["readings_lost"], duplicates_stored=audit["duplicates_stored"],
            irrigation_mm=round(irrigation_mm, 1), stress_days=stress,
            commands_issued=cmd["commands_issued"], commands_executed_late=cmd["commands_executed_late"],
            valve_overruns=cmd["valve_overruns"], extra=extra, series=series)
