"""The Modbus report queue (contract 1.1): reports a node makes while no master reads are kept in its
flash ring and drained by the gateway, each stored once and in seq order; a master that knows
nothing of the queue still reads the newest report."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import re
import shutil
import subprocess
import sys
import time
import types
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

import furrow.firmware
from furrow.commands.firmware import build
from furrow.edge import modbus_map
from furrow.edge import modbus_queue as mq
from furrow.edge.crc import crc16_modbus
from furrow.firmware.modbus_slave import RtuSlave
from furrow.firmware.pest_node import PestNode
from furrow.firmware.report_queue import ReportQueue
from furrow.firmware.seqstore import SeqStore
from furrow.gateway import DurableBuffer, ModbusDeviceConfig
from furrow.gateway.app import cancel_and_wait
from furrow.gateway.buffer import Item
from furrow.gateway.modbus import ModbusPoller
from furrow.gateway.modbus.queue import Outcome, drain, seq_of
from furrow.gateway.quality import EPOCH_MIN_MS, TS_ESTIMATED, TS_UNSET
from furrow.hil.faults import BusFaults, NodeSlot
from furrow.hil.modbus_bus import ModbusBus
from tests.gateway_support import wait_until

SPEED = 10  # the node's clock runs 10x: a report every 0.1 s of wall time at its 1 s minimum interval
ROOT = Path(__file__).resolve().parent.parent
T0 = 1767225600000
MBPOLL = shutil.which("mbpoll")
LINE = re.compile(r"^\[(\d+)\]:\s+(-?\d+)")


class FastClock:
    """Wall time, sped up from now on, in ms (the bus ticks its cores with it)."""

    def __init__(self) -> None:
        self.t0, self.m0 = time.time(), time.monotonic()

    def ms(self) -> int:
        return int((self.t0 + (time.monotonic() - self.m0) * SPEED) * 1000)


class UnsetClock(FastClock):
    """A node clock nobody set: it counts from the MicroPython epoch (2000-01-01), sped up."""

    def ms(self) -> int:
        return 946_684_800_000 + int((time.monotonic() - self.m0) * SPEED * 1000)


class Node:
    """A pest node core on an emulated bus, every report it makes in `made`."""

    def __init__(self, flash: Path, framing: str = "rtu", faults: BusFaults | None = None,
                 clock_ms: Callable[[], int] | None = None) -> None:
        self.made: list[int] = []
        self.flash = flash
        self.slot = NodeSlot(lambda _why: PestNode("trap-01", SeqStore(str(flash / "trap-01.seq")), traps=2,
                                                   interval_ms=1000),
                             lambda up: self.made.append(up["seq"]))
        self.bus = ModbusBus(port=0, baud=19_200, tick_s=0.02, clock_ms=clock_ms or FastClock().ms, framing=framing,
                             state_dir=flash)
        self.bus.faults = faults
        self.mb = self.bus.add(self.slot, 1)
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Tick the core (it reports every 0.1 s) and answer on the bus."""
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(self.bus.run(self._stop))
        await wait_until(lambda: self.bus.port != 0 and len(self.made) >= 1, "the node's first report")

    async def stop_reporting(self) -> None:
        """No more reports; the bus still answers (until close)."""
        self._stop.set()
        if self._task is not None:
            await self._task

    async def reports(self, n: int) -> None:
        first = len(self.made)
        await wait_until(lambda: len(self.made) >= first + n, f"{n} more reports")


@contextlib.asynccontextmanager
async def node_on_bus(flash: Path, **kw: Any) -> AsyncIterator[Node]:
    node = Node(flash, **kw)
    await node.start()
    try:
        yield node
    finally:
        await node.stop_reporting()
        await node.bus.close()


def device(port: int, **kw: Any) -> ModbusDeviceConfig:
    return ModbusDeviceConfig(node_id="trap-01", host="127.0.0.1", port=port, unit=1, role="pest", baud=19_200,
                              poll_interval=kw.pop("poll_interval", 0.1), timeout=0.3, retries=1, **kw)


@contextlib.asynccontextmanager
async def polling(poller: ModbusPoller) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(poller.run())
    try:
        yield task
    finally:
        await cancel_and_wait(task)


def stored_seqs(buf: DurableBuffer) -> list[int]:
    return [item["seq"] for _, item in buf.next_batch(10_000)]


async def test_reports_made_while_the_bus_is_dead_are_stored_once_and_in_order(tmp_path: Path) -> None:
    """15+ reports made while the node is dead on the bus reach the buffer after it revives: every
    seq the node made, each once, in seq order, drained through the queue (acks counted)."""
    faults = BusFaults()
    async with node_on_bus(tmp_path, faults=faults) as node:
        with DurableBuffer(tmp_path / "b.sqlite") as buf:
            poller = ModbusPoller([device(node.bus.port, fail_threshold=1, backoff_max=0.3)], buf.put_many)
            async with polling(poller):
                await wait_until(lambda: len(stored_seqs(buf)) >= 3, "three reports stored")
                faults.dead.add(1)
                await node.reports(15)
                assert poller.health()["trap-01"]["consecutive_failures"] > 0
                faults.dead.discard(1)
                await node.reports(3)
                await node.stop_reporting()
                await wait_until(lambda: stored_seqs(buf) == node.made and poller.health()["trap-01"]["queued"] == 0,
                                 "every report stored and acknowledged")
                health = poller.health()["trap-01"]
            stored = stored_seqs(buf)
    assert stored == node.made == list(range(node.made[0], node.made[0] + len(node.made)))
    assert health["queue_acks"] >= len(node.made) - 1 and health["queued"] == 0, health
    assert health["queue_requests"] >= 1, health  # after the outage it asked for the oldest first
    assert node.mb.queue is not None and node.mb.queue.stats["dropped"] == 0


async def test_queued_reports_of_a_node_without_a_clock_are_dated_by_their_place(tmp_path: Path) -> None:
    """Reports a node with an unset clock made while dead on the bus are dated back from their
    receipt by their place in its queue: times increasing one report interval (holding 1) apart, the
    newest at its receive time, each older one flagged ts_estimated, the node's own time kept."""
    faults = BusFaults()
    async with node_on_bus(tmp_path, faults=faults, clock_ms=UnsetClock().ms) as node:
        with DurableBuffer(tmp_path / "b.sqlite") as buf:
            poller = ModbusPoller([device(node.bus.port, fail_threshold=1, backoff_max=0.3)], buf.put_many)
            async with polling(poller):
                await wait_until(lambda: len(stored_seqs(buf)) >= 2, "two reports stored")
                faults.dead.add(1)
                first = len(node.made)
                await node.reports(12)
                await node.stop_reporting()  # nothing new during the drain: the queue's places are fixed
                faults.dead.discard(1)
                await wait_until(lambda: stored_seqs(buf) == node.made and poller.health()["trap-01"]["queued"] == 0,
                                 "every report stored and acknowledged")
                health = poller.health()["trap-01"]
            items = {item["seq"]: item for _, item in buf.next_batch(10_000)}
    # The node's clock runs 10x and the gateway's does not, so only the backlog's own dating is
    # compared, not how it lines up with the reports stored before the outage.
    backlog = [items[seq] for seq in node.made[first:]]
    interval_ms = 1000  # the pest node's 1 s interval, read from its holding register 1
    assert health["interval_s"] == 1, health
    assert len(backlog) >= 12
    for place, item in enumerate(reversed(backlog)):  # 0: the newest
        assert item["rx_ms"] - item["ts_ms"] == place * interval_ms, (place, item)
        assert TS_UNSET in item["flags"] and (TS_ESTIMATED in item["flags"]) == (place > 0), item["flags"]
        assert item["ts_node_ms"] < EPOCH_MIN_MS
    times = [item["ts_ms"] for item in backlog]
    node_times = [item["ts_node_ms"] for item in backlog]
    assert times == sorted(set(times)) and node_times == sorted(node_times)
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert all(interval_ms <= g < interval_ms + 10_000 for g in gaps), gaps  # an interval plus the read's own delay


async def test_gateway_killed_between_store_and_ack_stores_no_duplicate(tmp_path: Path) -> None:
    """A gateway killed after the buffer committed a queued report but before its ack: the node
    serves that report again, the restarted gateway's buffer finds it already stored (0 new), and
    every seq, including the reports made while the gateway was down, is stored exactly once in order."""
    loop = asyncio.get_running_loop()
    puts: list[tuple[int, int]] = []
    kill: dict[str, Any] = {"armed": False, "seq": None, "task": None}

    async with node_on_bus(tmp_path) as node:
        path = tmp_path / "b.sqlite"
        with DurableBuffer(path) as buf:

            def sink(items: list[Item]) -> int:
                new = buf.put_many(items)
                seq = items[0].uplink["seq"]
                puts.append((seq, new))
                if kill["armed"] and kill["seq"] is None:
                    kill["seq"] = seq  # committed: now the process dies, before the ack goes out
                    loop.call_soon_threadsafe(kill["task"].cancel)
                return new

            async with polling(ModbusPoller([device(node.bus.port)], sink)) as task:
                await wait_until(lambda: len(puts) >= 2, "two reports stored")
            await node.reports(8)  # the gateway is down
            async with polling(ModbusPoller([device(node.bus.port)], sink)) as task:
                kill["task"] = task
                kill["armed"] = True
                await wait_until(lambda: task.done(), "the gateway to die between store and ack")
            assert kill["seq"] is not None
        await node.reports(5)  # down again, then a new process on the same file
        with DurableBuffer(path) as buf:
            puts_before = len(puts)

            def sink2(items: list[Item]) -> int:
                new = buf.put_many(items)
                puts.append((items[0].uplink["seq"], new))
                return new

            async with polling(ModbusPoller([device(node.bus.port)], sink2)):
                await node.reports(2)
                await node.stop_reporting()
                await wait_until(lambda: stored_seqs(buf) == node.made, "every report stored")
            stored = stored_seqs(buf)
    assert puts[puts_before] == (kill["seq"], 0), puts[puts_before:]  # served again, stored once
    assert stored == node.made and len(set(stored)) == len(stored)


def mbpoll_inputs(port: int, count: int = 16) -> list[int]:
    """Input registers 0..count-1 as mbpoll (Modbus/TCP, no acks, no queue) reads them."""
    assert MBPOLL is not None, "mbpoll is not installed: apt-get install mbpoll (scripts/_setup.sh does)"
    out = subprocess.run([MBPOLL, "-m", "tcp", "-p", str(port), "-1", "-o", "3", "-a", "1", "-t", "3", "-r", "1",
                          "-c", str(count), "127.0.0.1"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stdout + out.stderr
    regs = [int(m.group(2)) & 0xFFFF for line in out.stdout.splitlines() if (m := LINE.match(line))]
    assert len(regs) == count, out.stdout
    return regs


async def _mbpoll(port: int) -> list[int]:
    return await asyncio.to_thread(mbpoll_inputs, port)


async def test_a_master_that_never_acks_reads_the_newest_report(tmp_path: Path) -> None:
    """mbpoll reads the newest report (seq) from a node with a backlog, and again after a queue
    master drained it and went away for more than QUEUE_HOLD_REPORTS reports."""
    async with node_on_bus(tmp_path, framing="tcp") as node:
        await node.reports(5)
        await node.stop_reporting()
        regs = await _mbpoll(node.bus.port)
        assert (regs[2] << 16 | regs[3]) == node.made[-1]
        assert mq.queue_state(regs) == (len(node.made), False)

        with DurableBuffer(tmp_path / "b.sqlite") as buf:  # a 1.1 gateway drains it (Modbus/TCP framing)
            poller = ModbusPoller([device(node.bus.port, framing="tcp")], buf.put_many)
            async with polling(poller):
                # stored, then acknowledged: wait for the last ack too, or mbpoll may see it still waiting
                await wait_until(lambda: stored_seqs(buf) == node.made and poller.health()["trap-01"]["queued"] == 0,
                                 "the backlog drained")
            regs = await _mbpoll(node.bus.port)
            assert mq.queue_state(regs) == (0, False)
            assert (regs[2] << 16 | regs[3]) == node.made[-1]

        await node.start()  # the gateway is gone; the node reports on
        await node.reports(mq.QUEUE_HOLD_REPORTS + 2)
        await node.stop_reporting()
        regs = await _mbpoll(node.bus.port)
    assert (regs[2] << 16 | regs[3]) == node.made[-1]
    waiting, oldest = mq.queue_state(regs)
    assert waiting >= mq.QUEUE_HOLD_REPORTS + 2 and not oldest


async def test_a_node_without_a_queue_is_polled_as_before(tmp_path: Path) -> None:
    """A 1.0 node (no queue: register 15 reads 0) gets no write to holding 2-4 from the gateway and
    its newest reports are stored as they were before the queue existed."""
    bus = ModbusBus(port=0, baud=19_200, tick_s=0.02, clock_ms=FastClock().ms, state_dir=tmp_path)
    core = PestNode("trap-01", SeqStore(str(tmp_path / "seq")), traps=2, interval_ms=1000)
    node = bus.add(core, 1, queue=False)
    stop = asyncio.Event()
    task = asyncio.create_task(bus.run(stop))
    try:
        await wait_until(lambda: bus.port != 0 and node.reports_made >= 1, "a first report")
        with DurableBuffer(tmp_path / "b.sqlite") as buf:
            poller = ModbusPoller([device(bus.port)], buf.put_many)
            async with polling(poller):
                await wait_until(lambda: poller.health()["trap-01"]["reports"] >= 4, "four reports stored")
                health = poller.health()["trap-01"]
            stored = stored_seqs(buf)
    finally:
        stop.set()
        await task
        await bus.close()
    assert node.queue is None and core.holding[2:5] == [0, 0, 0]
    assert health["queue_acks"] == 0 and health["queue_requests"] == 0
    assert len(stored) >= 4 and stored == sorted(set(stored))


# -- the firmware layer, without a bus ------------------------------------------


class _Pin:
    OUT, IN, PULL_UP, IRQ_FALLING = 1, 0, 2, 4

    def __init__(self, pin: int, mode: int | None = None, pull: int | None = None) -> None:
        self.level = 0

    def value(self, level: int | None = None) -> int:
        return self.level

    def irq(self, trigger: int, handler: Any) -> None:
        pass


class _Done(Exception):
    pass


def _frame(*pdu: int) -> bytes:
    body = bytes([1, *pdu])
    crc = crc16_modbus(body)
    return body + bytes([crc & 0xFF, crc >> 8])


@pytest.mark.full
def test_the_board_loop_serves_the_queue(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The board's RS-485 loop (firmware/modbus_link.py; machine and the UART faked) puts each report in the queue,
    serves the newest until the master asks, then the oldest, and drops it on the master's ack."""
    machine = types.ModuleType("machine")
    machine.Pin = _Pin  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "machine", machine)
    monkeypatch.setattr("time.ticks_ms", lambda: 0, raising=False)
    monkeypatch.setattr("time.sleep_ms", lambda ms: None, raising=False)
    for name in ("board", "main", "modbus_link"):
        # imported afresh against the fake machine; the modules as they were are put back afterwards
        monkeypatch.setitem(sys.modules, f"furrow.firmware.{name}", None)
        del sys.modules[f"furrow.firmware.{name}"]
        monkeypatch.setattr(furrow.firmware, name, None, raising=False)
        delattr(furrow.firmware, name)
    main = importlib.import_module("furrow.firmware.main")
    modbus_link = importlib.import_module("furrow.firmware.modbus_link")
    now = [T0]

    class Clock:
        def now_ms(self) -> int:
            return now[0]

        def now_us(self) -> int:
            return now[0] * 1000

    read_inputs = _frame(4, 0, 0, 0, 16)
    script = [b""] * 20 + [read_inputs, _frame(6, 0, 2, 0, 1), read_inputs]
    replies: list[tuple[bytes, int]] = []

    class Port:
        baud = 19_200

        def __init__(self, cfg: dict[str, Any]) -> None:
            pass

        def read(self) -> bytes:
            now[0] += 250  # four loop turns per report at a 1 s interval
            if not script:
                raise _Done
            return script.pop(0)

        def write(self, reply: bytes) -> None:
            replies.append((bytes(reply), node.last["seq"]))  # sent: the board reuses its reply buffer
            if len(replies) == 3:  # the oldest shown: acknowledge it
                regs = [reply[3 + 2 * i] << 8 | reply[4 + 2 * i] for i in range(16)]
                ack = mq.queue_ack_regs(regs[2] << 16 | regs[3])
                script[:0] = [_frame(16, 0, 2, 0, 3, 6, *[b for v in ack for b in (v >> 8, v & 0xFF)]), read_inputs]

    monkeypatch.setattr(main.board, "Rs485", Port)
    from furrow.firmware.config import validate

    cfg, errors = validate({"node": "trap-07", "role": "pest", "interval_s": 1, "seq_path": str(tmp_path / "seq"),
                                 "modbus": {"tx": 17, "rx": 16, "de": 4, "queue_path": str(tmp_path / "queue")},
                                 "traps": [{"pin": 5}]})
    assert errors == [] and cfg["modbus"]["queue_slots"] == 64
    node = main.build_node(cfg, Clock())

    class Wdt:
        def feed(self) -> None:
            pass

    with pytest.raises(_Done):
        modbus_link.run(cfg, node, Clock(), Wdt())

    def words(reply: bytes) -> list[int]:
        assert reply[1] == 4, reply.hex()
        return [reply[3 + 2 * i] << 8 | reply[4 + 2 * i] for i in range(16)]

    (first, newest), (written, _), (second, _), (ack_reply, _), (third, _) = replies
    assert mq.queue_state(words(first)) == (newest + 1, False) and words(first)[3] == newest
    assert written[1] == 6 and ack_reply[1] == 16
    assert mq.queue_state(words(second))[1] and words(second)[3] == 0  # the oldest: the first report
    assert words(third)[3] == 1 and mq.queue_state(words(third))[1]




def _pest(flash: Path, slots: int = 64) -> tuple[PestNode, ReportQueue]:
    node = PestNode("trap-01", SeqStore(str(flash / "seq"), reserve=10), traps=2, interval_ms=1000)
    return node, ReportQueue(str(flash / "queue"), node.registers(), node.holding, node.on_holding_write, slots)


def _image(q: ReportQueue) -> list[int]:
    return [q[i] for i in range(modbus_map.INPUT_COUNT)]


def _report(node: PestNode, q: ReportQueue, k: int) -> int:
    [up] = node.tick(T0 + 1000 * k)
    q.on_report()
    return int(up["seq"])


def _drain_all(q: ReportQueue) -> list[int]:
    """What a 1.1 master gets: ask for the oldest first, then store and ack until nothing waits."""
    q.on_write(mq.HOLD_QUEUE_MODE, [mq.QUEUE_OLDEST_FIRST])
    got = []
    for _ in range(1000):
        regs = _image(q)
        waiting, oldest = mq.queue_state(regs)
        if not waiting:
            return got
        assert oldest
        seq = regs[2] << 16 | regs[3]
        got.append(seq)
        q.on_write(mq.HOLD_QUEUE_MODE, mq.queue_ack_regs(seq))
    raise AssertionError("the queue never drained")


def test_a_full_queue_drops_the_oldest_and_counts_it(tmp_path: Path) -> None:
    """A 4-slot ring given 7 reports keeps the newest 4 (served oldest first) and counts 3 dropped."""
    node, q = _pest(tmp_path, slots=4)
    made = [_report(node, q, k) for k in range(7)]
    assert mq.queue_state(_image(q)) == (4, False)
    assert _drain_all(q) == made[3:]
    assert q.stats["dropped"] == 3 and q.stats["sent"] == 4


def test_the_queue_survives_a_reboot(tmp_path: Path) -> None:
    """After a reset the ring is read back from flash: the unacknowledged reports made before it are
    served first, then the new ones, each seq once (the seq store never repeats one)."""
    node, q = _pest(tmp_path)
    made = [_report(node, q, k) for k in range(5)]
    q.on_write(mq.HOLD_QUEUE_MODE, [mq.QUEUE_OLDEST_FIRST])
    q.on_write(mq.HOLD_QUEUE_MODE, mq.queue_ack_regs(made[0]))  # one stored and acked
    q.sync()  # the read pointer on flash (otherwise synced every few acks: a reset may serve a few again)
    node, q = _pest(tmp_path)  # reset: RAM gone, the files stay
    assert mq.queue_state(_image(q)) == (0, False) and not modbus_map.has_report(_image(q))
    made += [_report(node, q, k) for k in range(10, 12)]
    assert mq.queue_state(_image(q)) == (6, False)  # newest first until a master asks
    assert _drain_all(q) == made[1:]
    assert len(set(made)) == len(made)


def test_acked_one_by_one_the_read_position_is_written_every_eighth_ack_and_a_reset_loses_none(
        tmp_path: Path) -> None:
    """The steady state, one report and its ack per poll, drains the ring at every ack: its read
    position goes to flash at the 8th and 16th of 20 acks, not at each (the node answers an ack only
    after that write). A reset then serves the 4 acked since the last write again and every report
    not acked, none lost; the gateway stores the repeats once (UNIQUE(node, seq))."""
    node, q = _pest(tmp_path)
    made = []
    for k in range(20):
        made.append(_report(node, q, k))
        q.on_write(mq.HOLD_QUEUE_MODE, mq.queue_ack_regs(made[-1]))
        assert mq.queue_state(_image(q)) == (0, False)
    assert q.stats["sent"] == 20 and q.stats["ptr_writes"] == 2
    unacked = _report(node, q, 20)
    node, q = _pest(tmp_path)  # reset: RAM gone, the files stay
    assert _drain_all(q) == made[16:] + [unacked]


def test_queue_writes_are_checked_before_anything_is_applied(tmp_path: Path) -> None:
    """Half an ack (one register of 3-4) or a mode other than 0/1 is refused with exception 03 and
    nothing is dropped; a stale ack drops nothing; a settings write spanning 0-4 still sets the interval."""
    node, q = _pest(tmp_path)
    made = [_report(node, q, k) for k in range(3)]
    slave = RtuSlave(1, q, node.holding, on_write=q.on_write)

    def fc06(address: int, value: int) -> bytes:
        req = bytes([1, 6, 0, address, value >> 8, value & 0xFF])
        crc = crc16_modbus(req)
        reply = slave.feed(req + bytes([crc & 0xFF, crc >> 8]), 1_000_000)
        assert reply is not None
        return reply

    assert fc06(mq.HOLD_QUEUE_ACK, 0)[1:3] == bytes([0x86, 3])
    assert fc06(mq.HOLD_QUEUE_MODE, 2)[1:3] == bytes([0x86, 3])
    q.on_write(mq.HOLD_QUEUE_MODE, mq.queue_ack_regs(made[2]))  # not the oldest: stale
    assert mq.queue_state(_image(q)) == (3, True)
    q.on_write(0, [1, 30] + mq.queue_ack_regs(made[0]))
    assert node.holding[1] == 30 and mq.queue_state(_image(q)) == (2, True)
    assert _image(q)[3] == made[1]


async def test_drain_is_bounded_per_poll(tmp_path: Path) -> None:
    """With 10 reports waiting and a budget of 4 reads, one poll stores and acks 3 in order (after asking
    for the oldest first) and says more wait; the next polls go on, and the last report of all is left to
    the caller (to store while the bus serves others, then ack) and never stored or acked by the drain."""
    node, q = _pest(tmp_path)
    made = [_report(node, q, k) for k in range(10)]
    stored: list[int] = []

    class Health:
        queued = queue_acks = queue_requests = 0

    async def read() -> list[int]:
        return _image(q)

    async def store(regs: list[int]) -> bool:
        stored.append(regs[2] << 16 | regs[3])
        return True

    async def write(address: int, values: list[int]) -> None:
        q.on_write(address, values)

    h = Health()
    drained = await drain(_image(q), read=read, store=store, write=write, health=h, budget=4)
    assert drained.outcome is Outcome.MORE and drained.last is None
    assert stored == made[:3] and h.queue_requests == 1 and h.queue_acks == 3
    while (drained := await drain(_image(q), read=read, store=store, write=write, health=h, budget=4)).outcome \
            is Outcome.MORE:
        pass
    assert drained.outcome is Outcome.DONE and drained.ack and drained.last is not None
    assert stored == made[:-1] and h.queued == 1 and mq.queue_state(_image(q)) == (1, True)
    assert seq_of(drained.last) == made[-1]


QUEUE_MP = r"""
import gc
from furrow.edge import modbus_map
from furrow.firmware.pest_node import PestNode
from furrow.firmware.seqstore import SeqStore

T0 = 1767225600000

def new_node():
    return PestNode("trap-01", SeqStore("/seq", reserve=10), traps=2, interval_ms=1000)

def image(q):
    return [q[i] for i in range(modbus_map.INPUT_COUNT)]

from gateway_edge import modbus_queue as mq  # the gateway's side: the node image has only its own
node = new_node()
first = [u["seq"] for u in node.tick(T0)]
node.registers()  # the node's register image (and the RS-485 link's code), there with or without a queue
gc.collect()
base = gc.mem_alloc()  # from here: the queue's modules, its state, one report and ack through it
from furrow.firmware.report_queue import ReportQueue

def boot():
    node = new_node()
    return node, ReportQueue("/queue", node.registers(), node.holding, node.on_holding_write, 4)

q = ReportQueue("/queue", node.registers(), node.holding, node.on_holding_write, 4)
gc.collect()
before = gc.mem_alloc()
gc.disable()
q.on_report()  # a report into the ring, a read of the image, its ack
regs = image(q)
q.on_write(mq.HOLD_QUEUE_MODE, mq.queue_ack_regs(first[0]))
peak = gc.mem_alloc() - before
gc.enable()
gc.collect()
print("HEAP", gc.mem_alloc() - base, peak)
assert mq.queue_state(image(q)) == (0, False)
made = []
for k in range(1, 7):
    made += [u["seq"] for u in node.tick(T0 + 1000 * k)]
    q.on_report()
assert mq.queue_state(image(q)) == (4, False), image(q)[:16]  # 6 reports unheard: newest first again
assert image(q)[3] == made[-1] and q.stats["dropped"] == 2
q.on_write(mq.HOLD_QUEUE_MODE, [1])
assert mq.queue_state(image(q)) == (4, True) and image(q)[3] == made[2]
q.on_write(mq.HOLD_QUEUE_MODE, mq.queue_ack_regs(made[2]))
q.sync()
node, q = boot()
made += [u["seq"] for u in node.tick(T0 + 9000)]
q.on_report()
assert mq.queue_state(image(q)) == (4, False)  # newest first after a reset, until asked
q.on_write(mq.HOLD_QUEUE_MODE, [1])
got = []
while mq.queue_state(image(q))[0]:
    regs = image(q)
    got.append(regs[3])
    q.on_write(mq.HOLD_QUEUE_MODE, mq.queue_ack_regs(regs[3]))
assert got == made[3:], (got, made)
from gateway_edge import modbus_map as gateway_map
assert gateway_map.decode_inputs("trap-01", image(q))["seq"] == made[-1]
print("OK")
"""


@pytest.mark.micropython
def test_report_queue_on_micropython(micropython, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """On MicroPython a pest node's 4-slot queue keeps the newest 4 of 6 reports (2 dropped), serves
    them oldest first, drops one per ack, and after a reset serves the rest and the new report in
    order; its modules and one report + ack cycle stay within a small heap budget."""
    build("pest", tmp_path / "image")  # the compiled (.mpy) image a board runs
    shutil.copytree(ROOT / "edge", tmp_path / "image" / "lib" / "gateway_edge",
                    ignore=shutil.ignore_patterns("__pycache__"))  # the whole contract, for the master's part
    result = micropython.run(QUEUE_MP, lib_dir=tmp_path / "image" / "lib")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().splitlines()[-1] == "OK", result.stdout
    [heap] = [line.split() for line in result.stdout.splitlines() if line.startswith("HEAP")]
    live, peak = int(heap[1]), int(heap[2])
    # (the WebAssembly port's collector keeps some garbage: `live` is an upper bound)
    print(f"report queue: heap retained {live} B (its modules and a 4-slot queue), report + ack allocate {peak} B")
    assert peak < 8 * 1024 and live < 24 * 1024
