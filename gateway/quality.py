"""Quality checks: flags the gateway sets on a reading, and the one correction it makes.

A flag travels with the item in the batch (``flags``) so the cloud can tell
a node with a bad clock from a good reading. Values are never changed. The
one correction is time: a report whose node clock is unset or ahead of the
gateway's is given the gateway's receive time (`correct_clock`), keeps the
node's own time as ``ts_node_ms``, and carries the flag that says why. A
report that waited in a Modbus node's queue is dated back from its receive
time by its place in the queue instead, and flagged ``ts_estimated``.
`QualityChecker` adds the checks that need a node's history (spike, stuck).
"""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

from furrow.edge.batch import MAX_FLAGS
from furrow.edge.measurements import bounds_of

from .stuck import SteadyRun

# Further ahead than this and the node's clock is wrong: nothing is measured
# in the future. Behind is normal: a node replays its flash after an outage.
CLOCK_AHEAD_MAX = timedelta(minutes=5)
_CLOCK_AHEAD_MAX_MS = CLOCK_AHEAD_MAX // timedelta(milliseconds=1)  # once, not per report
# Before 2020-01-01 the node never set its clock (it counts from its epoch).
EPOCH_MIN_MS = 1_577_836_800_000

TS_AHEAD = "ts_ahead_of_gateway"
TS_UNSET = "ts_clock_unset"
TS_ESTIMATED = "ts_estimated"  # dated back from the receive time by its place in a node's queue


def quality_flags(uplink: dict[str, Any], rx_ms: int) -> list[str]:
    """Flags for one validated uplink received at `rx_ms` (gateway clock)."""
    ts_ms = uplink["ts_ms"]
    if ts_ms < EPOCH_MIN_MS:
        return [TS_UNSET]
    if ts_ms - rx_ms > _CLOCK_AHEAD_MAX_MS:
        return [TS_AHEAD]
    return []


SPIKE_SHARE = 0.5  # a jump of half the measurement's valid range between two reports


def estimated_flags(flags: list[str], behind: timedelta) -> list[str]:
    """`flags` of a report received `behind` after it was made (a queued
    report, see gateway/modbus/queue.py `behind_newest`), plus TS_ESTIMATED
    when its node's clock is unset, so `correct_clock` dates it back by that
    much. A report with a valid clock keeps its own time and its flags."""
    if TS_UNSET not in flags or behind <= timedelta(0):
        return flags
    # time flags first: a long list of spike/stuck flags must not cut them
    return sorted({*flags, TS_ESTIMATED}, key=lambda f: (not f.startswith("ts_"), f))[:MAX_FLAGS]


def correct_clock(
    uplink: dict[str, Any], flags: list[str], rx_ms: int, behind: timedelta = timedelta(0)
) -> dict[str, Any]:
    """The report with its time corrected against the gateway clock when its
    flags say the node's clock is wrong; otherwise the report unchanged.
    With TS_ESTIMATED (`estimated_flags`) the time is `behind` before rx_ms.

    Done once, before the report is buffered: the buffer keeps each
    (node, seq) once, so a redelivered report never gets a second time.
    """
    if TS_AHEAD not in flags and TS_UNSET not in flags:
        return uplink
    corrected = dict(uplink)
    corrected["ts_node_ms"] = uplink["ts_ms"]
    corrected["ts_ms"] = rx_ms - behind // timedelta(milliseconds=1) if TS_ESTIMATED in flags else rx_ms
    return corrected


class QualityChecker:
    """Stateful checks across a node's reports, on top of `quality_flags`:

    * ``spike:<name>`` when a value jumps by more than half its valid range
      from the node's previous report (e.g. soil moisture 20 % -> 85 %);
    * ``stuck:<name>[@<depth or channel>]`` when a sensor holds one value for
      longer than its physics allows (gateway/stuck.py: a window per
      measurement, in the node's time, never for quantities that are
      legitimately steady).

    Flags only: the reading is forwarded as sent. Out-of-range values never
    get here: the contract refuses them, and the report is quarantined.
    Thread-safe (the MQTT committer and the Modbus poller share one).
    """

    def __init__(self) -> None:
        self._runs: dict[tuple[str, str, int | None, int | None], SteadyRun] = {}
        self._lock = threading.Lock()

    def __call__(self, uplink: dict[str, Any], rx_ms: int) -> list[str]:
        flags = quality_flags(uplink, rx_ms)
        node = uplink["node"]
        # the node's time spaces its reports (a backlog arrives at once); a wrong clock gives way to ours
        ts_ms = rx_ms if flags else uplink["ts_ms"]
        with self._lock:
            for r in uplink["readings"]:
                value = r.get("value")
                if value is None:
                    continue
                name = r["name"]
                key = (node, name, r.get("depth_cm"), r.get("channel"))
                run = self._runs.get(key)
                if run is None:
                    self._runs[key] = SteadyRun(value, ts_ms)
                    continue
                lo, hi = bounds_of(name)
                if abs(value - run.value) > SPIKE_SHARE * (hi - lo):
                    flags.append(f"spike:{name}")
                run = self._runs[key] = run.extend(value, ts_ms)
                if run.stuck(name, r.get("depth_cm")):
                    where = r.get("depth_cm", r.get("channel"))
                    flags.append(f"stuck:{name}" if where is None else f"stuck:{name}@{where}")
        return sorted(set(flags))[:MAX_FLAGS]
