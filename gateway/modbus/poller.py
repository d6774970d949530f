"""The Modbus poller: one master per bus, dead devices set aside.

A bus is one host:port (an RS-485 line behind a serial-to-Ethernet converter,
or the emulated bus) or one local serial line. Devices on the same bus are
polled one at a time, in order of when each is due, as a bus with one
master must be; different buses run concurrently. On each bus the master:

* reads only the registers a device's role uses, adjacent ranges merged into
  one request where that is cheaper on the wire (see plan.py); a device of
  unknown role is read whole once and its role learnt from register 1;
* leaves the inter-frame gap (3.5 characters at the bus's baud rate) and the
  previous device's turnaround before every request;
* applies each device's own timeout and retries;
* sets a device that keeps failing aside with capped, jittered exponential
  backoff, then probes it once per backoff period, so a dead device costs the
  bus one timeout per period instead of one per poll.

A report is new only when its seq (registers 2-3) changed. A node with a
report queue (contract 1.1) is drained in seq order, each report stored
before it is acknowledged (see queue.py); a queued report of a node whose
clock is unset is dated back by its place in the queue (queue.behind_newest).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import struct
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import Any

from pymodbus import FramerType
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException

from furrow.clock import Clock, system_clock
from furrow.edge.commands import ACK_ABORTED, ACK_REJECTED, make_ack
from furrow.edge.errors import ContractError
from furrow.edge.measurements import ROLE_BY_CODE
from furrow.edge.modbus_map import (
    ACK_BASE,
    ACK_COUNT,
    CMD_BASE,
    HOLD_INTERVAL_S,
    decode_ack_regs,
    decode_inputs,
    encode_command_regs,
    has_report,
)
from furrow.edge.modbus_queue import queue_state

from ..buffer import Item
from ..config import ModbusDeviceConfig
from ..quality import TS_UNSET, correct_clock, estimated_flags, quality_flags
from .plan import Request, assemble, plan
from .queue import Outcome, behind_newest, drain

log = logging.getLogger(__name__)

Sink = Callable[[Sequence[Item]], int]
"""Stores items durably and returns how many were new (DurableBuffer.put_many)."""
QuarantineSink = Callable[[bytes, str, str], None]
"""Keeps a bad input with its source and reason (DurableBuffer.quarantine)."""
AckSink = Callable[[dict[str, Any], bytes], None]
"""Takes a validated command ack read from a node (CommandRelay.node_ack)."""

_FRAMERS = {"rtu": FramerType.RTU, "socket": FramerType.SOCKET}


class DeviceError(Exception):
    """The device answered with a Modbus exception, or not at all."""


@dataclass
class DeviceHealth:
    """What a technician needs to find a dead node or a noisy bus."""

    node_id: str
    port: str
    unit: int
    polls: int = 0
    requests: int = 0
    reports: int = 0
    errors: int = 0
    consecutive_failures: int = 0
    backed_off: bool = False
    backoff_s: float = 0.0
    last_good_ms: int | None = None
    last_seq: int | None = None
    last_error: str | None = None
    role: str | None = None
    reads: list[Request] = field(default_factory=list)
    commands_written: int = 0
    acks_read: int = 0
    ack_counter: int | None = None
    queued: int = 0  # reports waiting in the node's queue at the latest read
    queue_acks: int = 0
    queue_requests: int = 0  # "oldest first, please" writes
    interval_s: int | None = None  # the node's report interval (holding 1), read when a queued report needs dating


@dataclass
class _Device:
    config: ModbusDeviceConfig
    health: DeviceHealth
    next_due: float = 0.0
    source: str = field(init=False)

    def __post_init__(self) -> None:
        self.source = f"modbus:{self.health.port}/{self.config.unit}"
        self.health.role = self.config.role
        self.health.reads = self.reads_for(self.config.role)

    def reads_for(self, role: str | None) -> list[Request]:
        extra = [(ACK_BASE, ACK_COUNT)] if self.config.commands else []
        return plan(role) + extra


def _seconds(td: Any) -> float:
    return float(td.total_seconds())


def _check_cancelled() -> None:
    """Raise CancelledError if this task was cancelled and the cancellation
    got lost: on Python 3.11 ``asyncio.wait_for`` (which pymodbus awaits on
    every request) swallows a cancel that lands as its future completes, and
    the poll loop would then run on after its TaskGroup was told to stop."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def _next(dev: _Device, started: float) -> float:
    """The next poll on a fixed cadence: a poll that had to wait for the bus
    does not push every later one back. More than a whole interval late (a
    busy bus), the cadence restarts from now rather than bursting."""
    interval = _seconds(dev.config.poll_interval)
    due = dev.next_due + interval
    return due if due >= started else started + interval


class _Port:
    """One bus: one client, devices polled in order of when they are due."""

    def __init__(
        self,
        key: str,
        devices: list[_Device],
        sink: Sink,
        quarantine: QuarantineSink | None,
        on_ack: AckSink | None = None,
        quality: Callable[[dict[str, Any], int], list[str]] = quality_flags,
        clock: Clock = system_clock,
    ) -> None:
        first = devices[0].config
        self._clock = clock
        self._quality = quality
        self._on_ack = on_ack
        self._writes: list[tuple[_Device, list[int], asyncio.Future[None]]] = []
        self._wake = asyncio.Event()
        self.key = key
        self.devices = devices
        self._sink = sink
        self._quarantine = quarantine
        self._first = first
        # 3.5 characters of 11 bits of silence before every request.
        self.gap_s = 3.5 * 11 / first.baud
        self._bus_free_at = 0.0
        self.client: AsyncModbusTcpClient | AsyncModbusSerialClient  # set in run(): needs the running loop

    def _make_client(self) -> AsyncModbusTcpClient | AsyncModbusSerialClient:
        # pymodbus makes one attempt per request (retries are ours, per
        # device) and its own reconnect task is off (reconnect_delay=0): we
        # reconnect on the next poll, inside this supervised loop.
        first = self._first
        client: AsyncModbusTcpClient | AsyncModbusSerialClient
        if first.serial_port:
            client = AsyncModbusSerialClient(
                first.serial_port,
                framer=FramerType.RTU,
                baudrate=first.baud,
                timeout=_seconds(first.timeout),
                retries=0,
                reconnect_delay=0,
            )
        else:
            client = AsyncModbusTcpClient(
                first.host,
                port=first.port,
                framer=_FRAMERS[first.framer],
                timeout=_seconds(first.timeout),
                retries=0,
                reconnect_delay=0,
            )
        # pymodbus closes the connection after a few unanswered requests in a
        # row; on a shared bus that is a dead device, not a dead line.
        client.set_max_no_responses(1_000_000)
        return client

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        self.client = self._make_client()
        try:
            while True:
                _check_cancelled()
                while self._writes:  # commands go before polls
                    w_dev, regs, fut = self._writes.pop(0)
                    try:
                        await self._write(w_dev, regs, fut)
                    except Exception as e:  # never leave the relay waiting
                        if not fut.done():
                            fut.set_exception(e)
                dev = min(self.devices, key=lambda d: d.next_due)
                delay = dev.next_due - loop.time()
                if delay > 0:
                    self._wake.clear()
                    if self._writes:  # queued before the clear: do not sleep on it
                        continue
                    try:
                        await asyncio.wait_for(self._wake.wait(), delay)
                        continue  # a command to write
                    except TimeoutError:
                        pass
                try:
                    await self._poll(dev, loop.time())
                except Exception:  # a bug in one poll never ends the loop
                    log.exception("poll of %s failed unexpectedly", dev.config.node_id)
                    dev.next_due = loop.time() + _seconds(dev.config.poll_interval)
        finally:
            self.client.close()

    async def _request(self, dev: _Device, start: int, count: int, holding: bool = False) -> list[int]:
        """One FC04 request (FC03 with `holding`) on the bus, after the
        inter-frame gap and the previous device's turnaround, with this
        device's timeout."""
        loop = asyncio.get_running_loop()
        wait = self._bus_free_at - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        self.client.ctx.comm_params.timeout_connect = _seconds(dev.config.timeout)
        dev.health.requests += 1
        try:
            read = self.client.read_holding_registers if holding else self.client.read_input_registers
            rr = await read(start, count=count, slave=dev.config.unit)
        finally:
            self._bus_free_at = loop.time() + max(self.gap_s, _seconds(dev.config.turnaround))
        _check_cancelled()
        if rr.isError():  # a Modbus exception response is an answer: no retry
            raise DeviceError(f"exception response: {rr}")
        if len(rr.registers) < count:
            raise DeviceError(f"short read at {start}: {len(rr.registers)} of {count} registers")
        return list(rr.registers)

    def queue_write(self, dev: _Device, regs: list[int]) -> asyncio.Future[None]:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._writes.append((dev, regs, fut))
        self._wake.set()
        return fut

    async def _write(self, dev: _Device, regs: list[int], fut: asyncio.Future[None]) -> None:
        """Write a command into a device's mailbox (one FC16), with its retries."""
        try:
            await self._write_registers(dev, CMD_BASE, regs)
        except DeviceError as e:
            if not fut.done():
                fut.set_exception(DeviceError(f"command not written to {dev.config.node_id}: {e}"))
            return
        dev.health.commands_written += 1
        if not fut.done():
            fut.set_result(None)

    async def _write_registers(self, dev: _Device, address: int, regs: list[int]) -> None:
        """One FC16 to a device's holding registers, after the bus gap, with
        its timeout and retries; DeviceError when it cannot be written."""
        loop = asyncio.get_running_loop()
        last: BaseException | None = None
        for _ in range(dev.config.retries + 1):
            wait = self._bus_free_at - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            self.client.ctx.comm_params.timeout_connect = _seconds(dev.config.timeout)
            try:
                if not self.client.connected and not await self.client.connect():
                    raise DeviceError(f"cannot connect to {self.key}")
                rr = await self.client.write_registers(address, regs, slave=dev.config.unit)
            except (ModbusException, DeviceError, OSError) as e:
                last = e
                continue
            finally:
                self._bus_free_at = loop.time() + max(self.gap_s, _seconds(dev.config.turnaround))
            if rr.isError():
                raise DeviceError(f"exception response: {rr}")
            return
        raise DeviceError(str(last))

    def _check_ack(self, dev: _Device, regs: list[int]) -> None:
        """Relay the node's latest ack when its counter moved."""
        h = dev.health
        try:
            counter, fields = decode_ack_regs(regs)
            if counter == h.ack_counter or fields is None:
                h.ack_counter = counter
                return
            reason = "reported over Modbus" if fields["state"] in (ACK_ABORTED, ACK_REJECTED) else None
            ack = make_ack(
                fields["id"], h.node_id, fields["state"], self._clock(), fields["runtime_s"], fields["volume_l"], reason
            )
        except ContractError as e:
            log.warning("%s served a bad ack block: %s", h.node_id, e)
            h.ack_counter = regs[ACK_COUNT - 1]
            return
        h.ack_counter = counter
        h.acks_read += 1
        if self._on_ack is not None:
            self._on_ack(ack, json.dumps(ack).encode())

    async def _read(self, dev: _Device) -> list[int]:
        cfg = dev.config
        if not self.client.connected and not await self.client.connect():
            raise DeviceError(f"cannot connect to {self.key}")
        last: Exception | None = None
        for _ in range(cfg.retries + 1):
            try:
                parts = [(start, await self._request(dev, start, count)) for start, count in dev.health.reads]
            except ModbusException as e:  # no answer in time, or a broken frame
                last = e
                continue
            for start, values in parts:
                if start == ACK_BASE:
                    self._check_ack(dev, values)
            regs = assemble([(start, values) for start, values in parts if start < ACK_BASE])
            role = ROLE_BY_CODE.get(regs[1]) if has_report(regs) else None
            if role is not None and role != dev.health.role:
                # Learnt (or changed): from now on read only what this role uses.
                known = dev.health.role is not None
                dev.health.role, dev.health.reads = role, dev.reads_for(role)
                if known:  # the image was read by the wrong plan: read it again
                    return await self._read(dev)
            return regs
        raise DeviceError(f"no response after {cfg.retries + 1} attempts: {last}")

    async def _poll(self, dev: _Device, started: float) -> None:
        h = dev.health
        h.polls += 1
        try:
            regs = await self._read(dev)
        except (TimeoutError, DeviceError, ModbusException, OSError) as e:
            self._failed(dev, started, e)
            return
        if not has_report(regs):
            # Powered up but no report made yet: the device is alive, and its
            # first report (seq may well be 0) is still to come.
            self._succeeded(dev, started)
            return

        async def store(image: list[int]) -> bool:
            seq = (image[2] << 16) | image[3]
            if seq != h.last_seq:
                if not await self._store(dev, image, seq):
                    return False  # keep last_seq so the next poll tries again
                h.last_seq = seq
            return True

        try:
            outcome = await drain(regs, read=lambda: self._read(dev), store=store,
                                  write=lambda address, values: self._write_registers(dev, address, values), health=h)
        except (TimeoutError, DeviceError, ModbusException, OSError) as e:
            self._failed(dev, started, e)
            return
        if outcome is Outcome.REFUSED:
            dev.next_due = started + _seconds(dev.config.poll_interval)
            return
        self._succeeded(dev, started)
        if outcome is Outcome.MORE:  # a backlog: again soon, behind every device already due
            dev.next_due = asyncio.get_running_loop().time()

    async def _store(self, dev: _Device, regs: list[int], seq: int) -> bool:
        node = dev.config.node_id
        try:
            uplink = decode_inputs(node, regs)
        except ContractError as e:
            log.warning("%s served a bad register image (seq %d): %s", node, seq, e)
            if self._quarantine is not None:
                raw = struct.pack(f">{len(regs)}H", *regs)
                await asyncio.to_thread(self._quarantine, raw, dev.source, str(e))
            return True
        try:
            rx_ms = self._clock()
            flags = self._quality(uplink, rx_ms)
            behind = await self._behind(dev, regs, flags)
            flags = estimated_flags(flags, behind)
            await asyncio.to_thread(self._sink, [Item(correct_clock(uplink, flags, rx_ms, behind), rx_ms, flags)])
        except Exception as e:
            log.error("cannot store report %s/%d, will poll again: %s", node, seq, e)
            return False
        dev.health.reports += 1
        return True

    async def _behind(self, dev: _Device, regs: list[int], flags: list[str]) -> timedelta:
        """How long before now a queued report of a node whose clock is unset
        was made (queue.behind_newest); zero when it is dated on receipt."""
        h = dev.health
        if TS_UNSET not in flags or not queue_state(regs)[1]:
            return timedelta(0)
        if h.interval_s is None:  # read once: only a tool changes it, and one master per bus means ours is stopped
            try:
                [h.interval_s] = await self._request(dev, HOLD_INTERVAL_S, 1, holding=True)
            except (TimeoutError, DeviceError, ModbusException, OSError) as e:
                log.warning("%s: report interval unreadable (%s); its queued report is dated on receipt", h.node_id, e)
                return timedelta(0)
        return behind_newest(regs, timedelta(seconds=h.interval_s))

    def _succeeded(self, dev: _Device, started: float) -> None:
        h = dev.health
        if h.consecutive_failures:
            log.info("%s answers again after %d failed polls", h.node_id, h.consecutive_failures)
        h.consecutive_failures = 0
        h.backed_off = False
        h.backoff_s = 0.0
        h.last_good_ms = self._clock()
        dev.next_due = _next(dev, started)

    def _failed(self, dev: _Device, started: float, error: BaseException) -> None:
        h, cfg = dev.health, dev.config
        h.errors += 1
        h.consecutive_failures += 1
        h.last_error = str(error) or type(error).__name__
        interval = _seconds(cfg.poll_interval)
        over = h.consecutive_failures - cfg.fail_threshold
        if over < 0:
            if h.consecutive_failures == 1:  # loud once, then quiet until it recovers
                log.warning("%s (%s) poll failed: %s", h.node_id, dev.source, h.last_error)
            dev.next_due = _next(dev, started)
            return
        # Set aside: exponential, capped and jittered so devices that died
        # together do not come back to the bus in lockstep.
        backoff = min(interval * 2 ** (over + 1), _seconds(cfg.backoff_max))
        h.backoff_s = backoff * random.uniform(0.8, 1.0)
        if not h.backed_off:
            log.warning(
                "%s failed %d polls in a row; backing off (%s)",
                h.node_id,
                h.consecutive_failures,
                h.last_error,
            )
        h.backed_off = True
        dev.next_due = started + h.backoff_s


class ModbusPoller:
    """Polls every configured Modbus device and hands new reports to `sink`.

    `sink` and `quarantine` are blocking (they commit to disk) and run in a
    worker thread. Errors never leave `run()`; they show up in `health()`.
    """

    def __init__(
        self,
        devices: Sequence[ModbusDeviceConfig],
        sink: Sink,
        quarantine: QuarantineSink | None = None,
        on_ack: AckSink | None = None,
        quality: Callable[[dict[str, Any], int], list[str]] = quality_flags,
        clock: Clock = system_clock,
    ) -> None:
        by_port: dict[str, list[_Device]] = {}
        for cfg in devices:
            key = cfg.bus
            health = DeviceHealth(node_id=cfg.node_id, port=key, unit=cfg.unit)
            by_port.setdefault(key, []).append(_Device(cfg, health))
        self._ports = [_Port(key, devs, sink, quarantine, on_ack, quality, clock) for key, devs in by_port.items()]
        self._by_node = {d.config.node_id: (p, d) for p in self._ports for d in p.devices}

    def command_nodes(self) -> set[str]:
        """Nodes that take commands over Modbus (configured with commands = true)."""
        return {n for n, (_, d) in self._by_node.items() if d.config.commands}

    async def write_command(self, cmd: dict[str, Any]) -> None:
        """Write a validated command into its node's mailbox, between polls on
        its bus. Raises ContractError (cannot go over Modbus) or DeviceError."""
        port, dev = self._by_node[cmd["node"]]
        await port.queue_write(dev, encode_command_regs(cmd))

    async def run(self) -> None:
        """Poll until cancelled; one supervised task per port."""
        if not self._ports:
            return
        async with asyncio.TaskGroup() as tg:
            for port in self._ports:
                tg.create_task(port.run(), name=f"modbus {port.key}")

    def health(self) -> dict[str, dict[str, Any]]:
        """Per-device health, keyed by node id."""
        return {d.config.node_id: asdict(d.health) for p in self._ports for d in p.devices}
