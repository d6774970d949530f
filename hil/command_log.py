"""Commands a scenario issued and what the controllers said about them.

The log plays the cloud's command lifecycle for the scenario: each command
is built with the contract's own `make_command` (id, not-before, expiry,
maximum runtime), and every acknowledgement a controller sends is applied to
it. From the acks and the farm's record of valve openings it measures:

- commands_executed_late: a command whose "started" ack came after its expiry
  (or before its not-before: too early is as wrong as too late);
- valve_overruns: a valve the farm saw open longer than the maximum runtime
  of the command that opened it (plus the firmware's 2 s grace).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from furrow.edge import commands
from furrow.firmware.irrigation_node import RUNTIME_GRACE_MS
from furrow.hil.farm import ValveRun


@dataclass(frozen=True)
class CommandRequest:
    """What a policy asks for: open `valve` of `node` for `duration_s` within a window."""

    zone: str
    node: str
    valve: int
    duration_s: int
    max_runtime_s: int
    not_before_ms: int
    expires_ms: int
    net_mm: float = 0.0
    why: str = ""


@dataclass
class CommandRecord:
    request: CommandRequest
    command: dict[str, Any]
    states: list[tuple[str, int]] = field(default_factory=list)
    runtime_s: int | None = None
    volume_l: float | None = None
    reason: str | None = None

    @property
    def final(self) -> str | None:
        for state, _ in reversed(self.states):
            if state in commands.FINAL_ACK_STATES:
                return state
        return None

    @property
    def started_ms(self) -> int | None:
        return next((ts for s, ts in self.states if s == commands.ACK_STARTED), None)


class CommandLog:
    def __init__(self) -> None:
        self.records: dict[str, CommandRecord] = {}
        self.unknown_acks = 0
        self._outbox: list[tuple[str, bytes]] = []

    def issue(self, req: CommandRequest, cmd_id: str) -> dict[str, Any]:
        cmd = commands.make_command(cmd_id, req.node, req.valve, commands.ACTION_OPEN, req.duration_s,
                                    req.max_runtime_s, req.not_before_ms, req.expires_ms)
        self.records[cmd_id] = CommandRecord(req, cmd)
        self._outbox.append((req.node, commands.encode(cmd)))
        return cmd

    def take_outbox(self) -> list[tuple[str, bytes]]:
        """Commands to hand to their controllers (the gateway relays them at once)."""
        out, self._outbox = self._outbox, []
        return out

    def on_ack(self, ack: dict[str, Any]) -> None:
        rec = self.records.get(ack["id"])
        if rec is None:
            self.unknown_acks += 1
            return
        rec.states.append((ack["state"], ack["ts_ms"]))
        if ack["state"] in commands.FINAL_ACK_STATES:
            rec.runtime_s, rec.volume_l, rec.reason = ack.get("runtime_s"), ack.get("volume_l"), ack.get("reason")

    def active(self) -> list[CommandRecord]:
        """Commands not yet finished (waiting for their not-before, or running)."""
        return [r for r in self.records.values() if r.final is None]

    def next_event_ms(self, now_ms: int) -> int | None:
        """The next instant a controller will act on its own: a not-before or the end of a run."""
        times = []
        for r in self.active():
            started = r.started_ms
            if started is None:
                times.append(r.request.not_before_ms)
            else:
                times.append(started + r.request.duration_s * 1000)
        later = [t for t in times if t > now_ms]
        return min(later) if later else None

    def completed_net_mm(self, zone: str, since_ms: int, until_ms: int, rate_mm_h: float) -> float:
        """Water the cloud knows went on `zone` in [since, until): runtime of finished runs x rate."""
        mm = 0.0
        for r in self.records.values():
            if r.request.zone != zone or r.runtime_s is None:
                continue
            ended = r.states[-1][1]
            if since_ms <= ended < until_ms:
                mm += r.runtime_s / 3600.0 * rate_mm_h
        return mm

    def metrics(self, runs: list[ValveRun]) -> dict[str, int]:
        late = 0
        for r in self.records.values():
            started = r.started_ms
            if started is not None and not r.command["not_before_ms"] <= started <= r.command["expires_ms"]:
                late += 1
        overruns = 0
        limits = {}
        for r in self.records.values():
            if r.started_ms is not None:
                limits[(r.request.node, r.request.valve, r.started_ms // 1000)] = r.request.max_runtime_s
        for run in runs:
            limit = limits.get((run.node, run.channel, int(run.start_s)))
            if limit is None:
                limit = min(limits.values(), default=0)  # a valve opened by no command: any run is too long
            if (run.end_s - run.start_s) * 1000 > limit * 1000 + RUNTIME_GRACE_MS:
                overruns += 1
        states = [r.final for r in self.records.values()]
        return {"commands_issued": len(self.records), "commands_executed_late": late, "valve_overruns": overruns,
                "commands_completed": states.count(commands.ACK_COMPLETED),
                "commands_aborted": states.count(commands.ACK_ABORTED),
                "commands_rejected": states.count(commands.ACK_REJECTED)}
