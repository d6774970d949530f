"""The Modbus poller: one master per bus, dead devices set aside.

A bus is one host:port (an RS-485 line behind a serial-to-Ethernet converter,
or the emulated bus) or one local serial line. Devices on the same bus are
polled one at a time, in order of when each is due, as a bus with one
master must be; different buses run concurrently. On each bus the master:

* reads only the registers a device's role uses, adjacent ranges merged into
  one request where that is cheaper on the wire (see reads.py); a device of
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

The decisions live in schedule.py (no I/O), the poll sequence in master.py
(any bus, any clock), pymodbus in pymodbus_bus.py; this module wires one
master per configured bus.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any

from furrow.clock import Clock, Monotonic, exact_sleep, system_clock, system_monotonic
from furrow.edge.modbus_map import encode_command_regs
from furrow.retry import Sleep

from ..config import ModbusDeviceConfig
from ..quality import quality_flags
from .master import AckSink, BusMaster, QuarantineSink, Sink
from .pymodbus_bus import PymodbusBus
from .schedule import BusSchedule, Device


class ModbusPoller:
    """Polls every configured Modbus device and hands new reports to `sink`.

    `sink` and `quarantine` are blocking (they commit to disk) and run in a
    worker thread. Errors never leave `run()`; they show up in `health()`.
    `clock` stamps what is stored, `monotonic` times the schedule, `silence`
    keeps each line's silence before a request (`furrow.clock.exact_sleep`).
    """

    def __init__(
        self,
        devices: Sequence[ModbusDeviceConfig],
        sink: Sink,
        quarantine: QuarantineSink | None = None,
        on_ack: AckSink | None = None,
        quality: Callable[[dict[str, Any], int], list[str]] = quality_flags,
        clock: Clock = system_clock,
        monotonic: Monotonic = system_monotonic,
        silence: Sleep = exact_sleep,
    ) -> None:
        by_bus: dict[str, list[Device]] = {}
        for cfg in devices:
            by_bus.setdefault(cfg.bus, []).append(Device.of(cfg))
        self.buses = [
            BusMaster(BusSchedule(devs), PymodbusBus(devs[0].config, monotonic), sink=sink, quarantine=quarantine,
                      on_ack=on_ack, quality=quality, clock=clock, monotonic=monotonic,
                      silence=silence)
            for devs in by_bus.values()
        ]
        self._by_node = {d.config.node_id: (m, d) for m in self.buses for d in m.devices}

    def command_nodes(self) -> set[str]:
        """Nodes that take commands over Modbus (configured with commands = true)."""
        return {n for n, (_, d) in self._by_node.items() if d.config.commands}

    async def write_command(self, cmd: dict[str, Any]) -> None:
        """Write a validated command into its node's mailbox, between polls on
        its bus. Raises ContractError (cannot go over Modbus) or DeviceError."""
        master, dev = self._by_node[cmd["node"]]
        await master.queue_write(dev, encode_command_regs(cmd))

    async def run(self) -> None:
        """Poll until cancelled; one supervised task per bus."""
        if not self.buses:
            return
        async with asyncio.TaskGroup() as tg:
            for master in self.buses:
                tg.create_task(master.run(), name=f"modbus {master.devices[0].config.bus}")

    def health(self) -> dict[str, dict[str, Any]]:
        """Per-device health, keyed by node id."""
        return {d.config.node_id: asdict(d.health) for m in self.buses for d in m.devices}
