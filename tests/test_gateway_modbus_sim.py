"""The Modbus bus scheduler on a simulated clock and line (tests/modbus_sim.py): real firmware RTU slaves,
wire time at the baud rate, no real waiting, the same result every run. The real-clock runs over
pymodbus are in test_gateway_modbus.py and test_gateway_modbus_bus.py."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from furrow.edge.commands import make_command
from furrow.edge.modbus_map import ACK_BASE, CMD_BASE, encode_command_regs
from furrow.edge.modbus_queue import HOLD_QUEUE_MODE
from furrow.gateway import DurableBuffer, ModbusDeviceConfig
from furrow.gateway.buffer import Item
from furrow.gateway.modbus import BusMaster, BusSchedule, Device, DeviceError
from furrow.gateway.modbus.queue import DRAIN_READS
from furrow.gateway.quality import quality_flags
from furrow.hil import nodes
from furrow.hil.sim_line import run_inline
from furrow.hil.virtual_farm import VirtualFarm, VirtualZone
from tests.modbus_sim import FC_INPUT, FC_WRITE, SimLine, sim_clock

MIN_MS = 60_000


def cfg(node_id: str, unit: int, **kw: Any) -> ModbusDeviceConfig:
    kw.setdefault("poll_interval", 1.0)
    kw.setdefault("timeout", 0.5)
    kw.setdefault("retries", 0)
    kw.setdefault("backoff_max", 30.0)
    return ModbusDeviceConfig(node_id=node_id, host="sim", port=1, unit=unit, **kw)


class Rig:
    """A simulated line with firmware nodes, a durable buffer and the bus master under test."""

    def __init__(self, tmp_path: Path, configs: list[ModbusDeviceConfig], rng: Callable[[], float] = lambda: 0.5,
                 baud: int = 19_200, wall_offset_ms: Callable[[], int] = lambda: 0) -> None:
        self.line = SimLine(sim_clock(), baud)
        self.tmp = tmp_path
        self.farm = VirtualFarm([VirtualZone("z1")])
        self.buf = DurableBuffer(tmp_path / "buffer.sqlite", clock=self.line.clock.ms)
        self.acks: list[dict[str, Any]] = []
        self.configs, self.rng, self.wall_offset_ms = configs, rng, wall_offset_ms
        self.sink: Callable[[list[Item]], int] = lambda items: self.buf.put_many(items)
        self.offload: Callable[[Callable[[], object]], Awaitable[object]] = run_inline
        self.master = self.new_master()

    def new_master(self) -> BusMaster:
        """A master as a (re)started gateway has it: fresh schedule and health, the same line and buffer."""
        clock = self.line.clock
        return BusMaster(
            BusSchedule([Device.of(c) for c in self.configs], rng=self.rng), self.line,
            sink=lambda items: self.sink(list(items)), quarantine=self.buf.quarantine,
            on_ack=lambda ack, _raw: self.acks.append(ack), quality=quality_flags,
            clock=lambda: clock.ms() + self.wall_offset_ms(), monotonic=clock.s, sleep=self.line.sleep,
            offload=lambda work: self.offload(work))

    def pest(self, node_id: str, unit: int, interval_ms: int = MIN_MS) -> None:
        self.line.add(nodes.pest_node(node_id, self.tmp / "flash", interval_ms), unit)

    def soil(self, node_id: str, unit: int) -> None:
        self.line.add(nodes.soil_node(self.farm, node_id, "z1", [10, 30], self.tmp / "flash", MIN_MS,
                                      self.line.clock.s), unit)

    async def run_for(self, seconds: float) -> None:
        end = self.line.clock.s() + seconds
        while self.line.clock.s() < end:
            await self.master.step()
        await self.master.settle()  # nothing owed: what is stored and acknowledged is the run's, not a thread's

    def health(self, node: str) -> dict[str, Any]:
        return next(vars(d.health) for d in self.master.devices if d.config.node_id == node)

    def stored(self, node: str) -> list[int]:
        return [i["seq"] for _, i in self.buf.next_batch(100_000) if i["node"] == node]


@pytest.fixture
def rig_factory(tmp_path: Path):  # type: ignore[no-untyped-def]
    made: list[Rig] = []

    def make(configs: list[ModbusDeviceConfig], sub: str = "a", **kw: Any) -> Rig:
        (tmp_path / sub).mkdir()
        rig = Rig(tmp_path / sub, configs, **kw)
        made.append(rig)
        return rig

    yield make
    for rig in made:
        rig.buf.close()


# -- the schedule alone ------------------------------------------------------------------------------


def test_a_failing_device_is_set_aside_exponentially_up_to_its_cap_with_jitter_down_to_four_fifths() -> None:
    """Below fail_threshold a failing device keeps its cadence; from then on its next poll moves back
    2, 4, 8, 16 intervals, capped at backoff_max; jitter takes off at most a fifth."""
    c = cfg("n", 1, poll_interval=1.0, fail_threshold=3, backoff_max=30.0)
    for rng, scale in ((lambda: 0.0, 1.0), (lambda: 1.0, 0.8)):
        dev = Device.of(c)
        schedule = BusSchedule([dev], rng=rng)
        waits = []
        for n in range(8):
            started = float(n * 100)
            schedule.failed(dev, started, DeviceError("no answer"))
            waits.append(dev.next_due - started)
            if n == 1:
                assert not dev.health.backed_off
        assert waits == pytest.approx([1, 1, *(s * scale for s in (2, 4, 8, 16, 30, 30))])
        assert dev.health.backed_off and dev.health.consecutive_failures == 8


def test_one_good_poll_brings_a_set_aside_device_back_to_its_cadence() -> None:
    """After a success the device is no longer backed off and is due one interval on."""
    dev = Device.of(cfg("n", 1, poll_interval=2.0, fail_threshold=1))
    schedule = BusSchedule([dev])
    schedule.failed(dev, 0.0, DeviceError("x"))
    assert dev.health.backed_off
    dev.next_due = 100.0
    schedule.succeeded(dev, 100.0, 1_000)
    assert not dev.health.backed_off and dev.health.consecutive_failures == 0 and dev.next_due == 102.0
    assert dev.health.last_good_ms == 1_000


def test_the_inter_frame_gap_follows_the_baud_rate_and_a_slow_turnaround_is_kept() -> None:
    """3.5 characters of 11 bits at the bus's baud up to 19,200 baud, a fixed 1.75 ms above it (Modbus over
    Serial Line V1.02, 2.5.1.1), or the previous device's turnaround when longer; by default none is added."""
    slow, fast = Device.of(cfg("a", 1, baud=9_600, turnaround=0.05)), Device.of(cfg("b", 2, baud=9_600, turnaround=0))
    schedule = BusSchedule([slow, fast])
    assert schedule.gap_s == pytest.approx(3.5 * 11 / 9_600)
    assert BusSchedule([Device.of(cfg("c", 1, baud=19_200))]).gap_s == pytest.approx(3.5 * 11 / 19_200)
    assert BusSchedule([Device.of(cfg("c", 1, baud=38_400))]).gap_s == pytest.approx(0.00175)
    assert BusSchedule([Device.of(cfg("c", 1, baud=115_200))]).gap_s == pytest.approx(0.00175)
    assert cfg("c", 1).turnaround == timedelta(0)
    schedule.request_ended(slow, 10.0)
    assert schedule.until_free(10.0) == pytest.approx(0.05)
    schedule.request_ended(fast, 20.0)
    assert schedule.until_free(20.0) == pytest.approx(schedule.gap_s)


# -- the master on a simulated line ---------------------------------------------------------------------


async def test_a_live_device_is_polled_on_its_cadence_and_each_report_is_stored_once(rig_factory) -> None:
    """Polled every second for ten simulated minutes: 600 polls, one stored report per report the node made."""
    rig = rig_factory([cfg("trap-01", 1)])
    rig.pest("trap-01", 1)
    await rig.run_for(600)
    h = rig.health("trap-01")
    assert h["polls"] in (600, 601) and h["errors"] == 0
    assert rig.stored("trap-01") == list(range(h["last_seq"] - 9, h["last_seq"] + 1))


async def test_a_dead_device_costs_the_live_ones_no_more_than_two_percent_of_their_polls(rig_factory) -> None:
    """Two live nodes and an unplugged one on the same bus: the live nodes get within 2% of the polls they get
    on a clean bus; the dead one is set aside (about one timeout per back-off period)."""
    clean = rig_factory([cfg("a", 1), cfg("b", 2)], "clean")
    dirty = rig_factory([cfg("a", 1), cfg("b", 2), cfg("dead", 3)], "dirty")
    for rig in (clean, dirty):
        rig.pest("a", 1)
        rig.pest("b", 2)
        await rig.run_for(900)
    for node in ("a", "b"):
        assert dirty.health(node)["polls"] >= 0.98 * clean.health(node)["polls"]
    dead = dirty.health("dead")
    assert dead["backed_off"] and dead["backoff_s"] <= 30.0
    assert dead["polls"] <= 3 + 900 / (0.8 * 30) + 5  # the threshold, then one per back-off period
    assert "no response" in dead["last_error"]


async def test_a_dead_units_request_is_counted_with_its_failure_never_before(rig_factory) -> None:
    """A status report can be taken while a dead unit's request waits for its timeout: a request is counted
    when it ends, with its failure, so the bus page never shows a unit that never answers below 100 % errors."""
    rig = rig_factory([cfg("dead", 3)])
    seen: list[dict[str, Any]] = []
    read = rig.line.read

    async def watched(*args: Any, **kwargs: Any) -> list[int]:
        seen.append(dict(rig.health("dead")))  # what a status report would read while the request waits
        return await read(*args, **kwargs)

    rig.line.read = watched  # type: ignore[method-assign]
    await rig.run_for(60)
    assert len(seen) >= 2
    assert all(s["requests"] == s["errors"] for s in seen), seen
    h = rig.health("dead")
    assert h["requests"] == h["errors"] == len(seen)


async def test_a_device_that_comes_back_is_polled_again_within_its_backoff_and_resumes(rig_factory) -> None:
    """Dead for five minutes, then back: polled again within one back-off period, its cadence restored and
    every report it made while away drained from its queue."""
    rig = rig_factory([cfg("trap-01", 1)])
    rig.pest("trap-01", 1)
    await rig.run_for(30)
    rig.line.dead.add(1)
    await rig.run_for(300)
    assert rig.health("trap-01")["backed_off"]
    rig.line.dead.discard(1)
    back = rig.line.clock.s()
    await rig.run_for(35)
    h = rig.health("trap-01")
    first_answer = next(f for f in rig.line.polls_of(1) if f.start_s >= back and f.answered)
    assert first_answer.start_s - back <= 30.0
    assert not h["backed_off"] and h["consecutive_failures"] == 0
    assert rig.stored("trap-01") == list(range(h["last_seq"] + 1))  # nothing lost, nothing twice


async def test_reads_are_the_roles_merged_requests_after_the_first_whole_read(rig_factory) -> None:
    """A soil node of unknown role is read whole until its first report tells its role; from then on only 0-31
    and 64-79, two requests a poll."""
    rig = rig_factory([cfg("soil-1", 1)])
    rig.soil("soil-1", 1)
    await rig.run_for(10)
    reads = [(f.address, f.count) for f in rig.line.polls_of(1) if f.fc == FC_INPUT]
    whole = reads.index((0, 32))
    assert whole >= 1 and set(reads[:whole]) == {(0, 112)}
    assert reads[whole:] == [(0, 32), (64, 16)] * ((len(reads) - whole) // 2) and len(reads) - whole >= 16


async def test_every_request_waits_the_gap_and_the_previous_devices_turnaround(rig_factory) -> None:
    """On a busy bus at 9600 baud each request starts exactly max(gap, previous device's turnaround) after the
    previous answer ended: 50 ms after the slow transceiver, 4.0 ms (3.5 characters) after a device left at the
    default turnaround."""
    rig = rig_factory([cfg("slow", 1, baud=9_600, turnaround=0.05, poll_interval=0.01),
                       cfg("fast", 2, baud=9_600, poll_interval=0.01)], baud=9_600)
    rig.pest("slow", 1)
    rig.pest("fast", 2)
    await rig.run_for(10)
    frames = rig.line.frames
    after = {1: [], 2: []}  # type: dict[int, list[float]]
    for prev, nxt in zip(frames, frames[1:], strict=False):
        after[prev.unit].append(nxt.start_s - prev.end_s)
    gap = 3.5 * 11 / 9_600
    assert min(after[1]) == pytest.approx(0.05, abs=1e-6)
    assert min(after[2]) == pytest.approx(gap, abs=1e-6)


async def test_the_silence_counts_from_the_replys_last_bytes_not_from_its_decoding(rig_factory) -> None:
    """A bus that says when a reply's last bytes arrived (`received_at`, as pymodbus's trace hook lets
    the real one) has 1 ms of decoding after each: the next request still starts exactly t3.5 after the
    reply ended on the line, not t3.5 after the master had it decoded, and never sooner."""
    rig = rig_factory([cfg("a", 1, poll_interval=0.01), cfg("b", 2, poll_interval=0.01)])
    rig.pest("a", 1)
    rig.pest("b", 2)
    line = rig.line
    read, write = line.read, line.write

    async def decoded(exchange: Awaitable[Any]) -> Any:
        line.received_at = None  # type: ignore[assignment]
        try:
            return await exchange
        finally:
            line.received_at = line.clock.s()  # type: ignore[assignment]
            line.advance(0.001)  # the master has the registers 1 ms after the last bytes

    line.read = lambda *a, **k: decoded(read(*a, **k))  # type: ignore[method-assign]
    line.write = lambda *a, **k: decoded(write(*a, **k))  # type: ignore[method-assign]
    await rig.run_for(3)
    frames = rig.line.frames
    silences = [nxt.start_s - prev.end_s for prev, nxt in zip(frames, frames[1:], strict=False)]
    assert len(silences) > 50
    assert min(silences) == pytest.approx(rig.master.schedule.gap_s, abs=1e-6)
    assert max(silences) < rig.master.schedule.gap_s + 1e-6 + 0.01  # at most a poll interval's idle


async def test_a_backlog_drains_in_order_within_the_budget_and_the_others_keep_their_turn(rig_factory) -> None:
    """A node unplugged for an hour kept 60 reports in its queue: back on the bus they are stored once and in
    seq order, at most DRAIN_READS reads a poll, and its neighbour is polled between the bursts."""
    rig = rig_factory([cfg("a", 1, fail_threshold=1), cfg("b", 2)])
    rig.pest("a", 1)
    rig.pest("b", 2)
    await rig.run_for(5)
    rig.line.dead.add(1)
    await rig.run_for(3600)
    rig.line.dead.discard(1)
    await rig.run_for(60)
    h = rig.health("a")
    assert rig.stored("a") == list(range(h["last_seq"] + 1)) and h["queued"] == 0
    back = [f for f in rig.line.frames if f.start_s >= rig.line.clock.s() - 60]
    runs, n = [], 0  # reports acknowledged (one FC16 each) in a row between polls of unit 2
    for f in back:
        if f.unit == 1 and f.fc == FC_WRITE:
            n += 1
        elif f.unit == 2 and n:
            runs.append(n)
            n = 0
    assert max(runs) <= DRAIN_READS and len(runs) >= 60 // DRAIN_READS


async def test_a_command_is_written_before_the_next_poll_and_its_acks_come_back(rig_factory) -> None:
    """A command queued for an irrigation node's mailbox goes out (FC16 at the mailbox) before the next poll;
    the node's received, started and completed acks come back through the ack block."""
    rig = rig_factory([cfg("irr-01", 1, role="irrigation", commands=True)])
    core, _meter = nodes.irrigation_node(rig.farm, "irr-01", ["z1"], rig.tmp / "flash", MIN_MS)
    rig.line.add(core, 1)
    await rig.run_for(3)
    (dev,) = rig.master.devices
    assert (ACK_BASE, 22) in dev.health.reads
    now = rig.line.clock.ms()
    cmd = make_command("c-1", "irr-01", 1, "open", 60, 120, now + 10_000, now + 3_600_000)
    done = rig.master.queue_write(dev, encode_command_regs(cmd))
    await rig.master.step()
    assert done.done() and done.exception() is None
    assert (rig.line.frames[-1].fc, rig.line.frames[-1].address) == (FC_WRITE, CMD_BASE)
    await rig.run_for(90)
    assert [a["state"] for a in rig.acks if a["id"] == "c-1"] == ["received", "started", "completed"]


async def test_a_command_for_a_dead_device_fails_after_its_retries_and_the_bus_goes_on(rig_factory) -> None:
    """The mailbox write to an unplugged node is tried 1 + retries times, then the relay hears DeviceError; the
    node is set aside and its neighbour keeps most of its polls."""
    rig = rig_factory([cfg("irr-01", 1, role="irrigation", commands=True, retries=2), cfg("b", 2)])
    rig.pest("b", 2)
    rig.line.dead.add(1)
    (dev, _) = rig.master.devices
    done = rig.master.queue_write(dev, [0] * 27)
    await rig.master.step()
    with pytest.raises(DeviceError, match="command not written to irr-01"):
        done.result()
    assert [f.fc for f in rig.line.polls_of(1)] == [FC_WRITE] * 3
    await rig.run_for(120)
    assert rig.health("irr-01")["backed_off"] and rig.health("b")["polls"] >= 100


async def test_a_wall_clock_stepped_back_an_hour_does_not_stall_the_bus(rig_factory) -> None:
    """The schedule runs on the monotonic clock: the wall clock stepping back an hour (NTP) mid-run changes the
    stamps, not the cadence."""
    offset = [0]
    rig = rig_factory([cfg("trap-01", 1)], wall_offset_ms=lambda: offset[0])
    rig.pest("trap-01", 1)
    await rig.run_for(60)
    before = rig.health("trap-01")["polls"]
    offset[0] = -3_600_000
    await rig.run_for(60)
    h = rig.health("trap-01")
    assert h["polls"] - before in (59, 60, 61)
    assert rig.line.clock.ms() - 3_600_000 - 1_000 <= h["last_good_ms"] <= rig.line.clock.ms() - 3_600_000


def acks_of(rig: Rig, unit: int) -> list[int]:
    """Indexes in the line's frames of the report-queue acknowledgements (FC16 at holding 2) to `unit`."""
    return [i for i, f in enumerate(rig.line.frames)
            if f.unit == unit and f.fc == FC_WRITE and f.address == HOLD_QUEUE_MODE]


async def test_the_next_device_is_read_while_a_report_commits_and_its_ack_waits_for_the_commit(rig_factory) -> None:
    """Two nodes reporting every second on a saturated bus: every report is acknowledged only after its commit
    returned, the other node's poll goes on the line between a report's read and its acknowledgement (the
    commit overlaps it), the acknowledgement goes before that node's next read, and every report is stored once,
    in order."""
    rig = rig_factory([cfg("a", 1, poll_interval=0.01), cfg("b", 2, poll_interval=0.01)])
    rig.pest("a", 1, interval_ms=1_000)
    rig.pest("b", 2, interval_ms=1_000)
    committed: list[tuple[str, int]] = []  # (node, frames on the line when its commit returned)

    def sink(items: list[Item]) -> int:
        new = rig.buf.put_many(items)
        committed.append((items[0].uplink["node"], len(rig.line.frames)))
        return new

    rig.sink = sink
    await rig.run_for(10)
    frames = rig.line.frames
    for node, unit, other in (("a", 1, 2), ("b", 2, 1)):
        done_at = [n for who, n in committed if who == node]
        acks = acks_of(rig, unit)
        assert len(acks) == len(done_at) >= 8
        for n, i in zip(done_at, acks, strict=True):
            assert i >= n, (node, i, n)  # never on the line before its commit returned
            read = max(j for j in range(i) if frames[j].unit == unit and frames[j].fc == FC_INPUT)
            assert any(f.unit == other for f in frames[read + 1:i]), (node, i)  # the bus served the other node
            assert all(f.unit != unit for f in frames[read + 1:i])  # nothing else to this node in between
        h = rig.health(node)
        assert rig.stored(node) == list(range(h["last_seq"] + 1)) and h["queue_acks"] == len(acks)


async def test_a_gateway_stopped_between_commit_and_ack_stores_the_report_once(rig_factory) -> None:
    """The gateway stops after a report's commit returned and before its acknowledgement went out (the bus
    was serving the next node): the node serves that report again, the restarted gateway's buffer finds it
    stored (its key in the seq ranges: one duplicate counted, nothing new) and acknowledges it; every report is
    stored once, in order."""
    rig = rig_factory([cfg("a", 1, poll_interval=0.01), cfg("b", 2, poll_interval=0.01)])
    rig.pest("a", 1, interval_ms=1_000)
    rig.pest("b", 2, interval_ms=1_000)
    await rig.run_for(3)
    puts: list[tuple[int, int]] = []  # a's reports as the buffer took them: (seq, how many were new)

    def sink(items: list[Item]) -> int:
        new = rig.buf.put_many(items)
        if items[0].uplink["node"] == "a":
            puts.append((items[0].uplink["seq"], new))
        return new

    rig.sink = sink
    acks_before = len(acks_of(rig, 1))
    while not (owed := [o for o in rig.master.owed if o.dev.config.node_id == "a"]):  # read, committing
        await rig.master.step()
    seq = owed[0].seq
    for _ in range(500):  # the commit runs in a worker thread: let it return
        if puts:
            break
        await asyncio.sleep(0.01)
    assert puts == [(seq, 1)]
    assert rig.stored("a")[-1] == seq and len(acks_of(rig, 1)) == acks_before  # stored, not yet acknowledged

    rig.master = rig.new_master()  # the crash: what the old process owed is gone with it
    await rig.run_for(5)
    h = rig.health("a")
    assert puts[1] == (seq, 0)  # served again, kept once
    assert rig.stored("a") == list(range(h["last_seq"] + 1)) and seq < h["last_seq"]
    assert h["queued"] == 0 and len(acks_of(rig, 1)) > acks_before


async def test_a_slow_commit_stays_owed_while_the_bus_serves_the_others_and_is_acked_before_its_next_read(
        rig_factory) -> None:
    """A report whose commit has not returned (an fsync held up by the disk) is not acknowledged after the next
    poll: the bus goes on with the other node, and the master waits for that commit only when the report's own
    node is due again, acknowledging it before reading that node."""
    rig = rig_factory([cfg("a", 1, poll_interval=0.2), cfg("b", 2, poll_interval=0.01)])
    rig.pest("a", 1, interval_ms=1_000)
    rig.pest("b", 2, interval_ms=1_000)
    await rig.run_for(2)
    gate = asyncio.Event()

    async def held(work: Callable[[], object]) -> object:
        await gate.wait()
        return work()

    rig.offload = held
    before = len(rig.stored("a"))
    while not [o for o in rig.master.owed if o.dev.config.node_id == "a"]:  # a's new report, committing
        gate.set()  # earlier commits (b's) go through at once
        await asyncio.sleep(0)
        gate.clear()
        await rig.master.step()
    read_at = len(rig.line.frames)
    step = asyncio.ensure_future(rig.master.step())
    for _ in range(50):  # b's polls go on; then a is due and the master waits for a's commit
        if step.done():
            await step
            step = asyncio.ensure_future(rig.master.step())
        await asyncio.sleep(0.001)
    waiting = rig.line.frames[read_at:]
    assert sum(f.unit == 2 and f.fc == FC_INPUT and f.address == 0 for f in waiting) >= 2  # b polled, twice
    assert all(f.unit != 1 for f in waiting)  # nothing to a: no acknowledgement, no read
    assert not step.done() and len(rig.stored("a")) == before  # waiting for the commit
    gate.set()
    await step
    after = [f for f in rig.line.frames[read_at:] if f.unit == 1]
    assert (after[0].fc, after[0].address) == (FC_WRITE, HOLD_QUEUE_MODE) and after[1].fc == FC_INPUT
    assert len(rig.stored("a")) == before + 1
