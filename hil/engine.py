"""One scenario run: the farm, the nodes, the farm's production services and a policy on the simulated clock.

The loop steps the clock by the hour, or by 5 minutes (to the millisecond
when a controller is about to act) while irrigation is running or about to,
so a valve closes when the firmware closes it, not at the next hour. Each step:

    farm.advance(t)            soil, crop, pests and weather to t; open valves wet the soil
    rain tips and trap catches wait as pulses for the weather and pest cores' next tick; a trap
                               camera's catches stick to its liner until the next photo
    fleet.step(t)              what the gateway relayed is delivered; cores ticked when their report is
                               due, controllers also while they hold a command (a board sleeps between
                               deadlines)
    photos -> runtime          a camera ticked sends its photos' chunks to the gateway's image store
    uplinks, acks -> runtime   wire bytes into the gateway; acks up through the relay to the cloud
    on the hour                the gateway's own jobs (acks up, its kept plan); every `forward_every_h` it
                               forwards its buffer and the cloud's jobs run (expiry, what waited,
                               roll-ups); at the policy's hour both, the policy plans through the
                               cloud's services (hil/policies.py) and the alert job runs

At the end the gateway drains, and the result is measured from outside the
parts under test (verdict.py): readings from what the cores made against the
cloud's store, valves from the farm's record of openings against the commands
the cloud holds, stress and water from the farm's truth.
"""

from __future__ import annotations

import inspect
import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from furrow.cloud.alerts.models import AlertState
from furrow.edge import commands as contract
from furrow.firmware.injector import Injector
from furrow.firmware.weather_node import RAIN_MM_PER_TIP
from furrow.hil.camera_link import deliver_photos
from furrow.hil.clock import DAY_S, HOUR_S, SimClock
from furrow.hil.farm import Farm
from furrow.hil.fleet import Fleet
from furrow.hil.policies import Policy
from furrow.hil.runtime import FarmRuntime
from furrow.hil.scenarios import RunOptions, ScenarioResult
from furrow.hil.verdict import Ledger, Opening, account, audit_valves, stored_readings

FINE_STEP_S = 300  # a running controller is ticked every 5 min (heartbeat timeout 10 min); run ends are exact
# The alert job also runs this long into each valve run, so the flow rules judge an open valve (the
# service's own job runs every minute; the scenario's daily one falls before the night's runs).
# Two fine steps: the controller has reported its open valve and a metered flow by then.
FLOW_CHECK_AFTER_MS = 2 * FINE_STEP_S * 1000
# An injector judges its line EC once its pump has run this long (the firmware's default, which the fleets keep):
# the loop wakes the controller then, as a board's 1 s tick would find a pump that moves nothing.
EC_SETTLE_MS: int = inspect.signature(Injector).parameters["ec_settle_ms"].default


@dataclass
class Agenda:
    """When each controller next acts on its own, as a board's loop knows its next deadline: the
    not-before of a command it was handed, the end of a run it started. It only tells the loop
    when to wake the boards; nothing is judged or recorded from it."""

    _held: dict[str, tuple[str, int, int]] = field(default_factory=dict)  # id -> node, not-before, duration ms
    _running: dict[str, tuple[str, int]] = field(default_factory=dict)  # id -> node, end ms
    _unchecked: dict[str, int] = field(default_factory=dict)  # id -> started ms, of runs the alert job has not seen
    injector_l_h: dict[str, float] = field(default_factory=dict)
    """Each fertigating controller's pump rate: its injector stops at the dose, an instant the loop wakes for."""
    _inject: dict[str, tuple[int, int, int]] = field(default_factory=dict)  # id -> ml, from s, until s (fertigate)
    _marks: dict[str, list[int]] = field(default_factory=dict)  # id -> the injector's own instants (ms) in a run

    def handed(self, node: str, data: bytes) -> None:
        try:
            cmd = contract.decode_command(data)
        except Exception:  # noqa: BLE001 - not a command (the controller judges it itself)
            return
        if cmd["action"] in contract.RUNS:
            self._held[cmd["id"]] = (node, cmd["not_before_ms"], cmd["duration_s"] * 1000)
            if cmd["action"] == contract.ACTION_FERTIGATE:
                self._inject[cmd["id"]] = (cmd["inject_ml"], cmd["inject_from_s"], cmd["inject_until_s"])

    def heard(self, ack: dict[str, Any]) -> None:
        if ack["state"] == contract.ACK_STARTED and ack["id"] in self._held:
            node, _nb, duration = self._held.pop(ack["id"])
            self._running[ack["id"]] = (node, ack["ts_ms"] + duration)
            self._unchecked[ack["id"]] = ack["ts_ms"]
            if ack["id"] in self._inject:  # the window's edges, its EC check, and when the pump reaches the dose
                ml, start, until = self._inject.pop(ack["id"])
                marks = [ack["ts_ms"] + start * 1000, ack["ts_ms"] + start * 1000 + EC_SETTLE_MS,
                         ack["ts_ms"] + until * 1000]
                rate = self.injector_l_h.get(node)
                if rate:
                    marks.append(ack["ts_ms"] + start * 1000 + math.ceil(ml * 3600 / rate))  # l/h is ml per 3.6 s
                self._marks[ack["id"]] = marks
        elif ack["state"] in contract.FINAL_ACK_STATES:
            for book in (self._held, self._running, self._unchecked, self._inject, self._marks):
                book.pop(ack["id"], None)

    def take_runs_to_check(self, now_ms: int) -> list[str]:
        """Runs started at least FLOW_CHECK_AFTER_MS ago that are still running and not yet checked;
        each is given once."""
        due = [i for i, started in self._unchecked.items() if now_ms - started >= FLOW_CHECK_AFTER_MS]
        for i in due:
            del self._unchecked[i]
        return due

    def busy(self) -> set[str]:
        """Controllers holding or running a command."""
        return {n for n, *_ in self._held.values()} | {n for n, _ in self._running.values()}

    def running(self) -> bool:
        return bool(self._running)

    def next_ms(self, now_ms: int) -> int | None:
        times = [nb for _, nb, _ in self._held.values()] + [end for _, end in self._running.values()]
        times += [t for marks in self._marks.values() for t in marks]
        later = [t for t in times if t > now_ms]
        return min(later) if later else None


@dataclass
class Run:
    farm: Farm
    clock: SimClock
    fleet: Fleet
    runtime: FarmRuntime
    policy: Policy
    days: float
    forward_every_h: int = 1
    faults: Callable[[float], None] | None = None
    """A scenario's timed faults: called with each step's farm time (s), after the farm has advanced to it and
    before the nodes are stepped."""
    agenda: Agenda = field(default_factory=Agenda)
    ledger: Ledger = field(default_factory=Ledger)
    """Every reading the cores made, as they made it."""
    reports: int = 0
    flow_checks: int = 0
    """Alert passes run while a valve ran (FLOW_CHECK_AFTER_MS into each run)."""
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
        for trap in getattr(self.fleet, "lured_traps", {}).values():  # a trap camera's liner
            trap.catch(self.farm.pests.catches(temp, step_h), step_h)
        return pulses

    def _next_t(self, t: float) -> float:
        """The next hour; sooner when a controller acts before it (a not-before, a run's end),
        and every FINE_STEP_S while a valve runs (the controller's own checks, heartbeats)."""
        nxt = (math.floor((t - self.farm.start_s) / HOUR_S) + 1) * HOUR_S + self.farm.start_s
        if self.agenda.running():
            nxt = min(nxt, t + FINE_STEP_S)
        event = self.agenda.next_ms(round(t * 1000))
        if event is not None and event / 1000 > t:
            nxt = min(nxt, event / 1000)
        return nxt

    def _due(self, t: float, on_hour: bool, handed: set[str]) -> list[str]:
        """Nodes to tick now: a node whose report falls due (its grid starts at the first hour, `offset_s` later),
        a controller with a command in hand or given one now. The others sleep, as a board's
        loop sleeps until its next deadline; pulses wait for the node's next tick."""
        busy = self.agenda.busy() | handed
        due = []
        for node_id, spec in self.fleet.specs.items():
            grid = self._next_due.setdefault(node_id, t + spec.offset_s) if on_hour else None
            if grid is not None and t + 1e-6 >= grid:
                self._next_due[node_id] = grid + spec.interval_s
                due.append(node_id)
            elif node_id in busy:
                due.append(node_id)
        return due

    async def _step(self, t: float, on_hour: bool, waiting: dict[str, list[tuple[int, int]]]) -> None:
        now_ms = self.clock.ms()
        messages = self.runtime.take_node_messages()
        for node, data in messages:
            self.agenda.handed(node, data)
        due = self._due(t, on_hour, {n for n, _ in messages})
        pulses = {n: waiting.pop(n) for n in due if n in waiting}
        if not due and not messages:
            return
        out = self.fleet.step(now_ms, due, messages, pulses)
        for up, data in out.uplinks:
            self.ledger.uplink(up)
            self.reports += 1
            self.runtime.receive(data)
        for node_id in out.cameras:
            deliver_photos(self.fleet.cores[node_id], self.runtime.receive_chunk, now_ms)  # type: ignore[attr-defined]
        for ack in out.acks:
            self.agenda.heard(ack)
        await self.runtime.node_acks(out.acks)
        self.runtime.gateway.commit()

    async def close(self) -> None:
        self.fleet.close()
        await self.runtime.close()

    async def run(self, options: RunOptions) -> ScenarioResult:
        started = time.perf_counter()
        end = self.farm.start_s + self.days * DAY_S
        t = self.farm.start_s
        self.farm.advance(t)
        self.agenda.injector_l_h = {n: s.injector_l_h for n, s in self.fleet.specs.items() if s.injector_l_h}
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
            if self.faults is not None:
                self.faults(t_next)
            await self._step(t_next, on_hour, waiting)
            if self.agenda.take_runs_to_check(self.clock.ms()):
                await self.runtime.forward()  # the open valve's reports reach the cloud, then its alert job
                await self.runtime.evaluate_alerts()
                self.flow_checks += 1
            t = t_next
            if not on_hour:
                continue
            hours += 1
            now = datetime.fromtimestamp(t, UTC)
            planning = now.hour == self.policy.plan_hour
            if planning or hours % self.forward_every_h == 0:
                await self.runtime.forward()  # the cloud plans on everything the nodes have reported
            if planning:
                await self.policy.plan(now)
                await self.runtime.evaluate_alerts()  # the alert job, once a day with the plan
            if planning or hours % self.forward_every_h == 0:
                await self.runtime.jobs()  # the cloud's expiry, what waited, roll-ups (and the gateway's)
            else:
                await self.runtime.gateway_tick()  # acks up, the kept plan's due commands
            if hours % (24 * 10) == 0:
                options.progress(f"day {hours // 24}/{self.days:.4g}: {self.runtime.counts.commands_to_nodes} commands "
                                 f"relayed, {self.reports} reports sent")
        for node, spec in self.fleet.specs.items():  # anything still open at the end is closed by the farm's record
            for ch in range(1, len(spec.valve_zones) + 1):
                self.farm.set_valve(node, ch, False)
        await self.runtime.forward()
        return await self._result(time.perf_counter() - started)

    async def _result(self, wall_s: float) -> ScenarioResult:
        services = self.runtime.services
        readings = account(self.ledger.readings, await stored_readings(services.store, self.ledger.nodes))
        commands = await services.commands.recent(None, limit=1_000_000)
        openings = [Opening(r.node, r.channel, round(r.start_s * 1000), round(r.end_s * 1000)) for r in self.farm.runs]
        valves = audit_valves(openings, commands, self.clock.ms())
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
        opens = [c for c in commands if c.action == contract.ACTION_OPEN]
        assert services.alerts is not None
        alerts = Counter(str(a.kind) for a in await services.alerts.list(AlertState.ALL, limit=100_000))
        states = [str(c.state) for c in opens]
        extra: dict[str, object] = {
            "policy": self.policy.name,
            "zones": len(zones),
            "reports_sent": self.reports,
            "rain_mm": round(self.farm.rain_total_mm, 1),
            "irrigation_m3": round(sum(z.irrigated_mm * z.area_m2 for z in zones) / 1000, 1),
            "commands_completed": states.count(contract.ACK_COMPLETED),
            "commands_aborted": states.count(contract.ACK_ABORTED),
            "commands_rejected": states.count(contract.ACK_REJECTED),
            "commands_expired": states.count("expired"),
            "alerts_raised": dict(sorted(alerts.items())),
            "alert_passes_during_runs": self.flow_checks,
            "valve_opens": valves.opens,
            "unexplained_opens": valves.unexplained,
            **self.policy.summary(),
            "gateway_duplicates": self.runtime.gateway.buffer.stats()["duplicates"],
            "wall_s": round(wall_s, 2),
        }
        if valves.detail:
            extra["valve_findings"] = valves.detail[:10]
        if readings.lost_reports:
            extra["lost_reports"] = [f"{node}#{seq}" for node, seq in readings.lost_reports]
        return ScenarioResult(
            simulated_days=round((self.clock.s() - self.farm.start_s) / DAY_S, 2),
            nodes=len(self.fleet.specs),
            readings_sent=readings.sent, readings_stored=readings.stored,
            readings_lost=readings.lost, duplicates_stored=readings.duplicates,
            irrigation_mm=round(irrigation_mm, 1), stress_days=stress,
            commands_issued=len(opens), commands_executed_late=valves.late,
            valve_overruns=valves.overruns, extra=extra, series=series)
