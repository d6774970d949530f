"""How a run is judged, from outside the parts under test (docs/hil.md, "How a run is judged").

Readings: every reading a firmware core made is written down as it makes it
(`Ledger`), keyed by (node, seq, measurement, depth, channel); the cloud's
store is read back at the end (`account`). Lost: made and not stored.
Duplicate: stored twice under its identity, or stored without having been
made (the same report again under a new seq).

Valves: the emulated valves' own record of when they were open (`Opening`s)
is set against the commands the cloud holds (`Issued`): each opening is
explained by the latest open command for that valve whose not-before came
at or before it. Opened after that command's expiry is late; held open past
its max runtime (plus the firmware's grace of one tick) is an overrun; an
opening no command explains counts as an overrun too. No acknowledgement is
trusted for any of it.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from furrow.cloud.commands.models import CommandOut
from furrow.cloud.storage import Reading, ReadingStore
from furrow.edge import commands as contract
from furrow.firmware.irrigation_node import RUNTIME_GRACE_MS

Key = tuple[str, int, str, int | None, int | None]  # node, seq, measurement, depth_cm, channel


@dataclass
class Ledger:
    """Every reading and ack the node cores made, as they made them."""

    readings: set[Key] = field(default_factory=set)
    acks: list[dict[str, Any]] = field(default_factory=list)

    def uplink(self, up: dict[str, Any]) -> None:
        for r in up["readings"]:
            self.readings.add((up["node"], up["seq"], r["name"], r.get("depth_cm"), r.get("channel")))

    def ack(self, ack: dict[str, Any]) -> None:
        self.acks.append(ack)

    @property
    def nodes(self) -> list[str]:
        return sorted({k[0] for k in self.readings})


@dataclass(frozen=True)
class Accounting:
    sent: int
    stored: int
    lost: int
    duplicates: int
    lost_reports: tuple[tuple[str, int], ...] = ()  # (node, seq) of the first few lost, to look into


def account(sent: set[Key], stored: Iterable[Reading]) -> Accounting:
    """Lost: sent and not stored. Duplicates: stored more than once under its identity, or
    stored without having been sent (a reading under a seq it never had)."""
    counts = Counter((r.node, r.seq, r.measurement, r.depth_cm, r.channel) for r in stored)
    extra = sum(n - 1 for n in counts.values()) + len(set(counts) - sent)
    missing = sent - set(counts)
    reports = tuple(sorted({(k[0], k[1]) for k in missing}))[:10]
    return Accounting(len(sent), sum(counts.values()), len(missing), extra, reports)


async def stored_readings(store: ReadingStore, nodes: Sequence[str]) -> list[Reading]:
    """Every reading the store holds for `nodes`."""
    out: list[Reading] = []
    for node in nodes:
        out += await store.query(node, None, 0, 1 << 62, 10_000_000)
    return out


@dataclass(frozen=True)
class Issued:
    """An open command as the cloud holds it (or a plan carried it): what it allowed."""

    id: str
    node: str
    valve: int
    not_before_ms: int
    expires_ms: int
    max_runtime_s: int

    @classmethod
    def of(cls, c: CommandOut | dict[str, Any]) -> Issued:
        get = c.get if isinstance(c, dict) else lambda k: getattr(c, k)
        return cls(get("id"), get("node"), get("valve"), get("not_before_ms"), get("expires_ms"),
                   get("max_runtime_s"))


@dataclass(frozen=True)
class Opening:
    """One time a valve's drive was open, from the valve's own record (close None: still open)."""

    node: str
    channel: int
    open_ms: int
    close_ms: int | None


@dataclass
class ValveAudit:
    opens: int = 0
    late: int = 0
    overruns: int = 0
    unexplained: int = 0  # opened with no command for that valve before it
    detail: list[str] = field(default_factory=list)


def audit_valves(openings: Iterable[Opening], commands: Iterable[CommandOut | Issued], end_ms: int) -> ValveAudit:
    """Judge each opening against the command that explains it (module docstring)."""
    by_valve: dict[tuple[str, int], list[Issued]] = {}
    for c in commands:
        if isinstance(c, CommandOut):
            if c.action not in contract.RUNS:  # an open, or a fertigate (an open with its injector)
                continue
            c = Issued.of(c)
        by_valve.setdefault((c.node, c.valve), []).append(c)
    for issued in by_valve.values():
        issued.sort(key=lambda c: c.not_before_ms)
    out = ValveAudit()
    for o in openings:
        out.opens += 1
        issued = by_valve.get((o.node, o.channel), [])
        i = bisect.bisect_right([c.not_before_ms for c in issued], o.open_ms) - 1
        if i < 0:
            out.unexplained += 1
            out.overruns += 1
            out.detail.append(f"{o.node} valve {o.channel} opened at {o.open_ms} by no command")
            continue
        cmd = issued[i]
        if o.open_ms > cmd.expires_ms:
            out.late += 1
            out.detail.append(f"{cmd.id} opened at {o.open_ms}, window {cmd.not_before_ms}..{cmd.expires_ms}")
        held = (end_ms if o.close_ms is None else o.close_ms) - o.open_ms
        if held > cmd.max_runtime_s * 1000 + RUNTIME_GRACE_MS:
            out.overruns += 1
            out.detail.append(f"{cmd.id} held open {held} ms, max runtime {cmd.max_runtime_s} s")
    return out
