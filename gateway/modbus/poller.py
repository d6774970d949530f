"""The Modbus poller: one master per port, dead devices set aside.

A "port" is one host:port, i.e. one RS-485 bus behind a serial-to-Ethernet
converter (or one emulated bus). Devices on the same port are polled one at a
time, as a bus with one master must be; different ports run concurrently.
Each device is read in one FC04 request of INPUT_COUNT registers from
address 0 (see furrow.edge.modbus_map) and a report is new only when its seq
(registers 2-3) changed.
"""

from __future__ import annotations

import asyncio
import logging
import random
import struct
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from pymodbus import FramerType
from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException

from furrow.edge.errors import ContractError
from furrow.edge.modbus_map import INPUT_COUNT, decode_inputs, has_report

from ..buffer import Item, now_ms
from ..config import ModbusDeviceConfig
from ..quality import quality_flags

log = logging.getLogger(__name__)

Sink = Callable[[Sequence[Item]], int]
"""Stores items durably and returns how many were new (DurableBuffer.put_many)."""
QuarantineSink = Callable[[bytes, str, str], None]
"""Keeps a bad input with its source and reason (DurableBuffer.quarantine)."""

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
    reports: int = 0
    errors: int = 0
    consecutive_failures: int = 0
    backed_off: bool = False
    backoff_s: float = 0.0
    last_good_ms: int | None = None
    last_seq: int | None = None
    last_error: str | None = None


@dataclass
class _Device:
    config: ModbusDeviceConfig
    health: DeviceHealth
    next_due: float = 0.0
    source: str = field(init=False)

    def __post_init__(self) -> None:
        self.source = f"modbus:{self.health.port}/{self.config.unit}"


def _seconds(td: Any) -> float:
    return float(td.total_seconds())


class _Port:
    """One bus: one client, devices polled in order of when they are due."""

    def __init__(self, key: str, devices: list[_Device], sink: Sink, quarantine: QuarantineSink | None) -> None:
        first = devices[0].config
        self.key = key
        self.devices = devices
        self._sink = sink
        self._quarantine = quarantine
        self._host, self._port, self._framer = first.host, first.port, _FRAMERS[first.framer]
        # One timing per bus: the slowest device sets the response timeout.
        self._timeout = max(_seconds(d.config.timeout) for d in devices)
        self.client: AsyncModbusTcpClient  # set in run(): pymodbus needs the running loop

    def _make_client(self) -> AsyncModbusTcpClient:
        # pymodbus makes one attempt per request (retries are ours, per
        # device) and its own reconnect task is off (reconnect_delay=0): we
        # reconnect on the next poll, inside this supervised loop.
        return AsyncModbusTcpClient(
            self._host,
            port=self._port,
            framer=self._framer,
            timeout=self._timeout,
            retries=0,
            reconnect_delay=0,
        )

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        self.client = self._make_client()
        try:
            while True:
                dev = min(self.devices, key=lambda d: d.next_due)
                delay = dev.next_due - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                try:
                    await self._poll(dev, loop.time())
                except Exception:  # a bug in one poll never ends the loop
                    log.exception("poll of %s failed unexpectedly", dev.config.node_id)
                    dev.next_due = loop.time() + _seconds(dev.config.poll_interval)
        finally:
            self.client.close()

    async def _read(self, dev: _Device) -> list[int]:
        cfg = dev.config
        if not self.client.connected and not await self.client.connect():
            raise DeviceError(f"cannot connect to {self.key}")
        last: Exception | None = None
        for _ in range(cfg.retries + 1):
            try:
                rr = await self.client.read_input_registers(0, count=INPUT_COUNT, slave=cfg.unit)
            except ModbusException as e:  # no answer in time, or a broken frame
                last = e
                continue
            if rr.isError():  # a Modbus exception response is an answer: no retry
                raise DeviceError(f"exception response: {rr}")
            if len(rr.registers) < INPUT_COUNT:
                raise DeviceError(f"short read: {len(rr.registers)} of {INPUT_COUNT} registers")
            return list(rr.registers)
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
        seq = (regs[2] << 16) | regs[3]
        if seq != h.last_seq:
            if not await self._store(dev, regs, seq):
                # The buffer refused: keep last_seq so the next poll tries again.
                dev.next_due = started + _seconds(dev.config.poll_interval)
                return
            h.last_seq = seq
        self._succeeded(dev, started)

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
            rx_ms = now_ms()
            await asyncio.to_thread(self._sink, [Item(uplink, rx_ms, quality_flags(uplink, rx_ms))])
        except Exception as e:
            log.error("cannot store report %s/%d, will poll again: %s", node, seq, e)
            return False
        dev.health.reports += 1
        return True

    def _succeeded(self, dev: _Device, started: float) -> None:
        h = dev.health
        if h.consecutive_failures:
            log.info("%s answers again after %d failed polls", h.node_id, h.consecutive_failures)
        h.consecutive_failures = 0
        h.backed_off = False
        h.backoff_s = 0.0
        h.last_good_ms = now_ms()
        dev.next_due = started + _seconds(dev.config.poll_interval)

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
            dev.next_due = started + interval
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
    ) -> None:
        by_port: dict[str, list[_Device]] = {}
        for cfg in devices:
            key = f"{cfg.host}:{cfg.port}"
            health = DeviceHealth(node_id=cfg.node_id, port=key, unit=cfg.unit)
            by_port.setdefault(key, []).append(_Device(cfg, health))
        self._ports = [_Port(key, devs, sink, quarantine) for key, devs in by_port.items()]

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
