"""One bus's master: the poll sequence over any `Bus`, on any clock.

`BusMaster` asks its `BusSchedule` (schedule.py) what is due and carries
it out over a `Bus`: the real one is pymodbus (bus.py), a test's is firmware
RTU slaves on a simulated line and clock. It never reads the time itself:
`monotonic` times the schedule, `clock` (Unix ms) stamps what it stores,
`sleep` waits (asyncio.sleep, or a simulated clock's advance), and `silence`
(`sleep` unless given) keeps the line's silence before each request: the
poller gives `furrow.clock.exact_sleep`, because a t3.5 of 2 ms that wakes
late is line time lost on every request.

A poll reads the device's requests (reads.py) (retrying a request that got no
answer up to the device's `retries`), relays a command ack whose counter
moved, learns the device's role, and hands a new report to the report-queue
drain (queue.py), which stores each report before acknowledging it.
Commands for a device's mailbox go before the next poll.

The poll's last report commits while the bus serves the other devices: the
commit (an fsync: 3-16 ms median, up to 280 ms, on the loaded development
VM; docs/performance.md) runs in a worker thread, and after each later poll every report whose
commit has returned is acknowledged (one FC16 each). So a report is never
acknowledged before it is on disk, the acknowledgement always goes before
that device's next read (a device whose report is still owed waits for its
commit first), and the line does not sit idle for the fsync. At most one
report per device is owed; with nothing due, all are settled at once. On a
simulated line the commit runs inline at the loop's next turn
(`hil.sim_line.run_inline`), so it has always returned by the end of the
next poll and a run is the same every time.
"""

from __future__ import annotations

import asyncio
import json
import logging
import struct
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from furrow.clock import Clock, Monotonic
from furrow.edge.errors import ContractError
from furrow.edge.modbus_map import ACK_BASE, CMD_BASE, HOLD_INTERVAL_S, decode_inputs, has_report
from furrow.edge.modbus_queue import HOLD_QUEUE_MODE, queue_ack_regs, queue_state
from furrow.retry import Sleep

from ..buffer import Item
from ..quality import TS_UNSET, correct_clock, estimated_flags
from .queue import Outcome, behind_newest, drain, seq_of
from .reads import assemble
from .schedule import BusSchedule, Device, DeviceError, NoAnswer

log = logging.getLogger(__name__)

Sink = Callable[[Sequence[Item]], int]
"""Stores items durably and returns how many were new (DurableBuffer.put_many)."""
QuarantineSink = Callable[[bytes, str, str, str, int], None]
"""Keeps a bad input with its source and reason, and reports it as node's seq not forwarded
(DurableBuffer.quarantine)."""
AckSink = Callable[[dict[str, Any], bytes], None]
"""Takes a validated command ack read from a node (CommandRelay.node_ack)."""
Quality = Callable[[dict[str, Any], int], list[str]]
"""Quality flags for an uplink received at a time (QualityChecker)."""
Offload = Callable[[Callable[[], object]], Awaitable[object]]
"""Runs a blocking commit off the poll loop: a worker thread (asyncio.to_thread), or, on a simulated
line, inline at the loop's next turn (hil.sim_line.run_inline) so a run never depends on a thread's timing."""


class Bus(Protocol):
    """One request at a time on a Modbus line. Raises NoAnswer (nothing in time, a garbled
    frame, the line cannot be opened) or DeviceError (an exception response, a short read).

    `received_at`: when the last bytes of the latest request's reply arrived (on the master's
    monotonic clock), None when nothing came or the bus cannot say; the line's silence counts
    from then rather than from when the reply was decoded and handed back."""

    received_at: float | None

    async def read(self, unit: int, start: int, count: int, *, holding: bool, timeout_s: float) -> list[int]: ...
    async def write(self, unit: int, address: int, values: list[int], *, timeout_s: float) -> None: ...
    def close(self) -> None: ...


def check_cancelled() -> None:
    """Raise CancelledError if this task was cancelled and the cancellation
    got lost: on Python 3.11 ``asyncio.wait_for`` (which pymodbus awaits on
    every request) swallows a cancel that lands as its future completes, and
    the poll loop would then run on after its TaskGroup was told to stop."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


@dataclass
class Owed:
    """A poll's last report, committing in a worker thread (`commit`; None when it was stored
    before and only its acknowledgement was lost), to acknowledge once committed when `ack`."""

    dev: Device
    seq: int
    commit: asyncio.Task[bool] | None
    ack: bool
    started: float  # when the poll that read it started (monotonic)
    due: float  # the device's next_due before that poll, put back if the acknowledgement fails


class BusMaster:
    """Polls the devices of one bus, one at a time, and writes their commands."""

    def __init__(
        self,
        schedule: BusSchedule,
        bus: Bus,
        *,
        sink: Sink,
        quality: Quality,
        clock: Clock,
        monotonic: Monotonic,
        sleep: Sleep = asyncio.sleep,
        quarantine: QuarantineSink | None = None,
        on_ack: AckSink | None = None,
        offload: Offload = asyncio.to_thread,
        silence: Sleep | None = None,
    ) -> None:
        self.schedule = schedule
        self._silence = silence or sleep
        self._offload = offload
        self.bus = bus
        self._sink, self._quarantine, self._on_ack, self._quality = sink, quarantine, on_ack, quality
        self._clock, self._monotonic, self._sleep = clock, monotonic, sleep
        self._writes: list[tuple[Device, list[int], asyncio.Future[None]]] = []
        self._wake = asyncio.Event()
        self._owed: dict[str, Owed] = {}  # by node id: one per device at most, in the order read
        self._commits: set[asyncio.Task[bool]] = set()  # running, awaited shielded: a cancel never cuts one short

    @property
    def devices(self) -> list[Device]:
        return self.schedule.devices

    @property
    def owed(self) -> list[Owed]:
        """The reports whose acknowledgement is still to be written (their commits may be running)."""
        return list(self._owed.values())

    async def run(self) -> None:
        """Poll until cancelled; one failing poll never ends the loop."""
        try:
            while True:
                check_cancelled()
                await self.step()
        finally:
            self.bus.close()
            self._owed.clear()  # not acknowledged: the node serves them again and the buffer keeps one copy
            if self._commits:  # but let a commit finish before whoever stopped us closes the buffer
                await asyncio.wait(self._commits)

    async def step(self) -> None:
        """One unit of work: a queued command write; with nothing due, every owed report settled,
        or else a wait until the next poll is due (cut short by a command); or the due poll, then
        the reports whose commits returned meanwhile acknowledged."""
        if self._writes:
            dev, regs, fut = self._writes.pop(0)
            try:
                await self._write_command(dev, regs, fut)
            except Exception as e:  # never leave the relay waiting
                if not fut.done():
                    fut.set_exception(e)
            return
        dev, wait = self.schedule.next(self._monotonic())
        if wait > 0:
            if self._owed:  # nothing else to do meanwhile: acknowledge them now
                await self.settle()
                return
            await self._idle(wait)
            return
        if dev.config.node_id in self._owed:
            await self._settle(self._owed.pop(dev.config.node_id))  # its report is acknowledged before it is read again
        owed = None
        try:
            owed = await self._poll(dev, self._monotonic())
        except Exception:  # a bug in one poll never ends the loop
            log.exception("poll of %s failed unexpectedly", dev.config.node_id)
            self.schedule.crashed(dev, self._monotonic())
        for earlier in [o for o in self._owed.values() if o.commit is None or o.commit.done()]:
            await self._settle(self._owed.pop(earlier.dev.config.node_id))  # committed while this poll was on the bus
        if owed is not None:
            self._owed[dev.config.node_id] = owed

    async def _idle(self, wait: float) -> None:
        self._wake.clear()
        sleeper = asyncio.ensure_future(self._sleep(wait))
        waker = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait([sleeper, waker], return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            waker.cancel()

    # -- commands -------------------------------------------------------------------

    def queue_write(self, dev: Device, regs: list[int]) -> asyncio.Future[None]:
        """Write `regs` into `dev`'s command mailbox before the next poll; the future ends
        when it is written (or with DeviceError)."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._writes.append((dev, regs, fut))
        self._wake.set()
        return fut

    async def _write_command(self, dev: Device, regs: list[int], fut: asyncio.Future[None]) -> None:
        try:
            await self._write_registers(dev, CMD_BASE, regs)
        except DeviceError as e:
            if not fut.done():
                fut.set_exception(DeviceError(f"command not written to {dev.config.node_id}: {e}"))
            return
        dev.health.commands_written += 1
        if not fut.done():
            fut.set_result(None)

    # -- requests -------------------------------------------------------------------

    async def _quiet(self) -> None:
        wait = self.schedule.until_free(self._monotonic())
        if wait > 0:
            await self._silence(wait)

    async def _request(self, dev: Device, start: int, count: int, holding: bool = False) -> list[int]:
        """One FC04 (FC03 with `holding`) after the bus's silence, with the device's timeout."""
        await self._quiet()
        try:
            return await self.bus.read(dev.config.unit, start, count, holding=holding, timeout_s=dev.timeout_s)
        finally:
            self.schedule.request_done(dev)
            self.schedule.request_ended(dev, self._reply_end())

    async def _write_registers(self, dev: Device, address: int, values: list[int]) -> None:
        """One FC16 after the bus's silence, with the device's timeout and retries."""
        last: DeviceError | None = None
        for _ in range(dev.config.retries + 1):
            await self._quiet()
            try:
                await self.bus.write(dev.config.unit, address, values, timeout_s=dev.timeout_s)
                return
            except NoAnswer as e:
                last = e
            finally:
                self.schedule.request_ended(dev, self._reply_end())
        raise DeviceError(str(last))

    def _reply_end(self) -> float:
        """When the line fell silent after a request: its reply's last bytes (the time spent
        decoding it is already silence), or now when none came."""
        now = self._monotonic()
        received = getattr(self.bus, "received_at", None)
        return now if received is None else min(received, now)

    async def _read(self, dev: Device) -> list[int]:
        """The device's requests read as one input image (its ack block relayed)."""
        last: NoAnswer | None = None
        for _ in range(dev.config.retries + 1):
            try:
                parts = [(start, await self._request(dev, start, count)) for start, count in dev.health.reads]
            except NoAnswer as e:
                last = e
                continue
            for start, values in parts:
                if start == ACK_BASE:
                    ack = self.schedule.ack(dev, values, self._clock())
                    if ack is not None and self._on_ack is not None:
                        self._on_ack(ack, json.dumps(ack).encode())
            regs = assemble([(start, values) for start, values in parts if start < ACK_BASE])
            if self.schedule.learn_role(dev, regs):
                return await self._read(dev)  # read for the wrong role: again, for the right one
            return regs
        raise DeviceError(f"no response after {dev.config.retries + 1} attempts: {last}")

    # -- a poll ----------------------------------------------------------------------

    async def _poll(self, dev: Device, started: float) -> Owed | None:
        """Read `dev`, drain its queue, and start committing its last report: what is owed for it."""
        h = dev.health
        due = dev.next_due
        self.schedule.poll_started(dev)
        try:
            regs = await self._read(dev)
        except DeviceError as e:
            self.schedule.failed(dev, started, e)
            return None
        if not has_report(regs):
            # Powered up but no report made yet: the device is alive, and its
            # first report (seq may well be 0) is still to come.
            self.schedule.succeeded(dev, started, self._clock())
            return None

        async def store(image: list[int]) -> bool:
            seq = seq_of(image)
            if seq == h.last_seq:
                return True
            if not await asyncio.shield(await self._commit(dev, image, seq)):
                return False  # keep last_seq so the next poll tries again
            h.last_seq = seq
            return True

        try:
            drained = await drain(regs, read=lambda: self._read(dev), store=store,
                                  write=lambda address, values: self._write_registers(dev, address, values),
                                  health=h)
            owed = None
            if drained.last is not None:
                seq = seq_of(drained.last)
                commit = await self._commit(dev, drained.last, seq) if seq != h.last_seq else None
                if commit is not None or drained.ack:
                    owed = Owed(dev, seq, commit, drained.ack, started, due)
        except DeviceError as e:
            self.schedule.failed(dev, started, e)
            return None
        if drained.outcome is Outcome.REFUSED:
            self.schedule.refused(dev, started)
            return None
        self.schedule.succeeded(dev, started, self._clock())
        if drained.outcome is Outcome.MORE:
            self.schedule.backlog(dev, self._monotonic())
        return owed

    async def settle(self) -> None:
        """Settle every report still owed, in the order read (a caller stopping the master
        cleanly, or nothing else to do)."""
        while self._owed:
            await self._settle(self._owed.pop(next(iter(self._owed))))

    async def _settle(self, owed: Owed) -> None:
        """Wait for the report's commit, then acknowledge it (never before: the durability rule).
        A refused commit is not acknowledged, and the device is polled again one interval on; a
        failed acknowledgement counts as a failed poll (the node serves the report again and the
        buffer keeps one copy)."""
        dev, h = owed.dev, owed.dev.health
        if owed.commit is not None:
            if not await asyncio.shield(owed.commit):
                self.schedule.refused(dev, owed.started)
                return
            h.last_seq = owed.seq
        if not owed.ack:
            return
        try:
            await self._write_registers(dev, HOLD_QUEUE_MODE, queue_ack_regs(owed.seq))
        except DeviceError as e:
            dev.next_due = owed.due  # the poll's success is retracted: one failure, the same cadence
            self.schedule.failed(dev, owed.started, e)
            return
        h.queue_acks += 1
        h.queued = 0

    async def _commit(self, dev: Device, regs: list[int], seq: int) -> asyncio.Task[bool]:
        """Decode one report and start committing it (or, breaking the contract, its quarantine)
        off the loop (`offload`); the task says whether the buffer took it. Of this, only the read
        of the report interval (a queued report of a node without a clock) uses the bus."""
        node = dev.config.node_id
        try:
            uplink = decode_inputs(node, regs)
        except ContractError as e:
            log.warning("%s served a bad register image (seq %d): %s", node, seq, e)
            quarantine = self._quarantine
            if quarantine is None:
                return self._in_thread(dev, seq, None, counted=False)
            raw, reason = struct.pack(f">{len(regs)}H", *regs), str(e)
            return self._in_thread(dev, seq, lambda: quarantine(raw, dev.source, reason, node, seq), counted=False)
        try:
            rx_ms = self._clock()
            flags = self._quality(uplink, rx_ms)
            behind = await self._behind(dev, regs, flags)
            flags = estimated_flags(flags, behind)
            items = [Item(correct_clock(uplink, flags, rx_ms, behind), rx_ms, flags)]
        except Exception as e:
            log.error("cannot store report %s/%d, will poll again: %s", node, seq, e)
            return self._in_thread(dev, seq, None, counted=False, ok=False)
        sink = self._sink
        return self._in_thread(dev, seq, lambda: sink(items), counted=True)

    def _in_thread(self, dev: Device, seq: int, work: Callable[[], object] | None, *, counted: bool,
                   ok: bool = True) -> asyncio.Task[bool]:
        async def run() -> bool:
            if work is None:
                return ok
            try:
                await self._offload(work)
            except Exception as e:
                log.error("cannot store report %s/%d, will poll again: %s", dev.config.node_id, seq, e)
                return False
            if counted:
                dev.health.reports += 1
            return True

        task = asyncio.ensure_future(run())
        self._commits.add(task)
        task.add_done_callback(self._commits.discard)
        return task

    async def _behind(self, dev: Device, regs: list[int], flags: list[str]) -> timedelta:
        """How long before now a queued report of a node whose clock is unset
        was made (queue.behind_newest); zero when it is dated on receipt."""
        h = dev.health
        if TS_UNSET not in flags or not queue_state(regs)[1]:
            return timedelta(0)
        if h.interval_s is None:  # read once: only a tool changes it, and one master per bus means ours is stopped
            try:
                [h.interval_s] = await self._request(dev, HOLD_INTERVAL_S, 1, holding=True)
            except DeviceError as e:
                log.warning("%s: report interval unreadable (%s); its queued report is dated on receipt", h.node_id, e)
                return timedelta(0)
        return behind_newest(regs, timedelta(seconds=h.interval_s))
