"""Draining a Modbus node's report queue (contract 1.1), so no report is lost.

A 1.1 node keeps the reports no master acknowledged in flash and says so in
input register 15 (edge.modbus_queue.queue_state). After a poll's read the
poller hands the image here, and for as long as the node reports more
waiting, within a budget of reads per poll:

* the image is the oldest waiting report and more wait behind it: store it
  durably (the buffer commits), THEN acknowledge its seq (holding 2-4, one
  FC16), then read the next one at once;
* reports wait but the image is the newest (the node serves newest first, as
  to a 1.0 master, after a boot or a long silence): ask for oldest first
  (holding 2 = 1) without storing, and read again, so the backlog is stored
  in seq order;
* the image is the last report waiting, or nothing waits (a 1.0 node, or an
  empty queue): hand it back to the poller (`Drained.last`), which starts its
  commit, polls the next device while it runs, and writes the
  acknowledgement (`Drained.ack`) once the commit returned and before this
  device's next read (master.py). That is the common case, one new report a
  poll, and the bus would otherwise sit idle for the commit (an fsync).

Exactly once: a report is acknowledged only after the buffer committed it.
If the gateway dies between the two, the node serves the same report again
and the buffer's dedup (its seq ranges) keeps one copy. A lost acknowledgement
costs one more read, never a duplicate or a gap.

The budget keeps one node's backlog from holding the bus: when it runs out
the poller makes the device due again at once, behind every device already
due, so the others get their turn between the node's bursts.

A node whose clock is unset (a Modbus node has no one to set it) dates its
reports before 2020, and the gateway dates them instead. Stamping a drained
backlog with its receive time would make hour-old readings look current, so
`behind_newest` estimates how long before the newest report a queued one was
made, from its place in the queue and the node's report interval.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from furrow.edge.modbus_map import has_report
from furrow.edge.modbus_queue import HOLD_QUEUE_MODE, QUEUE_OLDEST_FIRST, queue_ack_regs, queue_state

DRAIN_READS = 16
"""Images read from one device per poll while its queue drains (one read and
one FC16 each: about 25 ms at 19200 baud for a soil node)."""


class Outcome(enum.Enum):
    DONE = "done"  # nothing more waits behind `last` (or the node has no queue)
    MORE = "more"  # the budget ran out with reports still waiting: poll again soon
    REFUSED = "refused"  # the buffer refused a report: nothing acknowledged, poll again later


@dataclass(frozen=True)
class Drained:
    """How a poll's drain ended, and the report it leaves to the caller: `last`, the image
    still to store (if its seq is new), then to acknowledge when `ack` (a queued report)."""

    outcome: Outcome
    last: list[int] | None = None
    ack: bool = False


class QueueHealth(Protocol):
    queued: int
    queue_acks: int
    queue_requests: int


def seq_of(regs: list[int]) -> int:
    return (regs[2] << 16) | regs[3]


def behind_newest(regs: list[int], interval: timedelta) -> timedelta:
    """How long before the node's newest report the image's report was made:
    (waiting - 1) intervals for the oldest of `waiting` queued reports (each
    later one is one report, one interval, newer), zero for any other image.

    Counted by place in the queue, not by seq: seq jumps after a node's reset
    (its seq store reserves a block), places do not, and reports the ring
    dropped are before the oldest, so they do not shift it. The node may
    have made its newest report up to one interval before the read."""
    waiting, oldest = queue_state(regs)
    if not oldest or waiting <= 1:
        return timedelta(0)
    return (waiting - 1) * interval


async def drain(
    regs: list[int],
    *,
    read: Callable[[], Awaitable[list[int]]],
    store: Callable[[list[int]], Awaitable[bool]],
    write: Callable[[int, list[int]], Awaitable[None]],
    health: QueueHealth,
    budget: int = DRAIN_READS,
) -> Drained:
    """Handle the image `regs` (a report exists) and drain what waits behind it, leaving the
    last report to the caller.

    `read()` reads the device's image again; `store(regs)` stores a report
    durably and returns False if the buffer refused it; `write(address,
    values)` is one FC16 to holding registers. Device errors propagate (the
    poller counts the poll failed; nothing stored is lost, nothing unstored
    was acknowledged)."""
    reads = 1
    while True:
        waiting, oldest = queue_state(regs)
        health.queued = waiting
        if not waiting or (oldest and waiting == 1):
            return Drained(Outcome.DONE, regs, ack=oldest)
        if oldest:
            if not await store(regs):
                return Drained(Outcome.REFUSED)
            await write(HOLD_QUEUE_MODE, queue_ack_regs(seq_of(regs)))
            health.queue_acks += 1
        else:
            await write(HOLD_QUEUE_MODE, [QUEUE_OLDEST_FIRST])  # oldest first: store the backlog in order
            health.queue_requests += 1
        if reads >= budget:
            return Drained(Outcome.MORE)
        regs = await read()
        reads += 1
        if not has_report(regs):  # the node rebooted under us: its first report will come
            return Drained(Outcome.DONE)
