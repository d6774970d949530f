"""Modbus polls per second on the emulated RS-485 bus, against the wire limit at its baud rate.

Real firmware soil nodes (RTU slaves) sit on `hil.modbus_bus.ModbusBus`,
which delays every request and reply by its time on the wire (11 bits per
character). The gateway's poller polls them as fast as the bus allows
(poll interval far below one bus cycle), in two ways measured in the same run:

  merged reads  the scheduler: only the registers of the role, adjacent ranges
                merged (soil: 0-31 and 64-79, two requests)
  whole map     one 112-register read per poll (what the first poller did)

The wire limit of each is baud / 11 characters per second divided by the
characters one poll puts on the wire (request + reply frames, plus a
3.5-character silence before each frame). The emulated line charges what the
limit charges: a reply comes when the request, the t3.5 silence after it and
the reply would have passed on the wire (hil/modbus_bus.py; until 2026-12-08
it charged no silence before a reply, so a master could read up to 5 % above
the limit).

Beside them, on the same emulated bus in the same run, the host's own limit: a bare
pymodbus client reading the same merged requests back to back, keeping the t3.5
silence before each request as any master must (`furrow.clock.exact_sleep`, as the
poller does; until 2026-12-08 it kept none and read above 100 %), with no poller,
no buffer and no acknowledgements: the share of the line a loaded host lets any
master in this process use. The poller's devices keep the t3.5 gap and
`--turnaround-ms` (unset: the config default, 0 since 2026-12-07, i.e. t3.5 alone) before each request.

For each, the silence the bus saw before each request (from the last reply leaving
to the next request arriving; t3.5 is 2.0 ms at 19,200 baud), median and 90th
percentile: t3.5 plus what the master took beyond it. `short` counts requests
sooner than t3.5 after the last reply (a broken line rule; must be 0).

`--coarse-silence` makes the poller and the bare client wait the silence with
asyncio.sleep alone, as they did until 2026-12-08 (it wakes late), to measure
what the exact wait is worth on the same line in the same conditions.

    .venv/bin/python bench/gateway_modbus.py [--baud 19200] [--nodes 4] [--seconds 10] [--turnaround-ms MS]
                                             [--coarse-silence]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import NamedTuple

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from furrow.clock import exact_sleep  # noqa: E402
from furrow.gateway import DurableBuffer, ModbusDeviceConfig  # noqa: E402
from furrow.gateway.app import cancel_and_wait  # noqa: E402
from furrow.gateway.modbus import ModbusPoller  # noqa: E402
from furrow.gateway.modbus.pymodbus_bus import make_client, quiet_pymodbus  # noqa: E402
from furrow.gateway.modbus.reads import reads_for_role  # noqa: E402
from furrow.gateway.modbus.schedule import inter_frame_s  # noqa: E402
from furrow.hil import nodes  # noqa: E402
from furrow.hil.modbus_bus import ModbusBus  # noqa: E402
from furrow.hil.virtual_farm import VirtualFarm, VirtualZone  # noqa: E402
from furrow.retry import Sleep  # noqa: E402


def chars_per_poll(requests: list[tuple[int, int]]) -> float:
    """Characters on the wire for one poll: per request an 8-byte FC04 request,
    a 5 + 2n byte reply, and 3.5 characters of silence before each frame."""
    return sum(8 + 5 + 2 * count + 2 * 3.5 for _start, count in requests)


class Silence(NamedTuple):
    """The silences the bus saw before requests during one measurement."""

    median_ms: float
    p90_ms: float
    short: int  # requests sooner than t3.5 after the last reply


class Measured(NamedTuple):
    polls_s: float
    wire_busy: float  # share of the line's characters/s carrying frames (reads, acks, queue writes) and their silences
    acks_s: float  # report-queue writes (acknowledgements and "oldest first") per second
    silence: Silence


class _Mark(NamedTuple):
    """Where the bus's counters stood when a measurement began."""

    frames: int
    short: int

    @classmethod
    def of(cls, bus: ModbusBus) -> _Mark:
        return cls(bus.frames_in, bus.short_silences)

    def since(self, bus: ModbusBus) -> Silence:
        n = min(bus.frames_in - self.frames, len(bus.silences_us))
        new = sorted(list(bus.silences_us)[-n:]) if n > 0 else [0]
        return Silence(new[len(new) // 2] / 1000, new[int(0.9 * (len(new) - 1))] / 1000,
                       bus.short_silences - self.short)


async def measure(baud: int, n: int, seconds: float, role: str | None, whole: bool,
                  turnaround_ms: float | None = None, silence: Sleep = exact_sleep) -> Measured:
    with tempfile.TemporaryDirectory(prefix="furrow-bench-") as d:  # flash images and the buffer
        return await _poll(baud, n, seconds, role, whole, Path(d), turnaround_ms, silence)


async def measure_bare(baud: int, n: int, seconds: float, silence: Sleep = exact_sleep) -> Measured:
    """The host's limit: a bare pymodbus client reading the soil role's merged requests from every node,
    back to back, on the same emulated bus (the t3.5 silence kept, nothing stored, nothing acknowledged)."""
    quiet_pymodbus()
    with tempfile.TemporaryDirectory(prefix="furrow-bench-") as d:
        bus, stop, bus_task = await _bus(baud, n, Path(d))
        client = make_client(serial_port=None, host=bus.host, port=bus.port, baud=baud, framing="rtu", timeout_s=1)
        try:
            await client.connect()
            requests = reads_for_role("soil")
            gap = inter_frame_s(baud)

            async def poll_until(deadline: float) -> int:
                polls = 0
                while time.perf_counter() < deadline:
                    for unit in range(1, n + 1):
                        for start, count in requests:
                            await client.read_input_registers(start, count=count, slave=unit)
                            await silence(gap)  # the line's silence before the next request
                        polls += 1
                return polls

            await poll_until(time.perf_counter() + min(2.0, seconds))  # connected, first reports made
            chars, began, mark = bus.chars_on_wire, time.perf_counter(), _Mark.of(bus)
            polls = await poll_until(began + seconds)
            elapsed = time.perf_counter() - began
            chars, silence = bus.chars_on_wire - chars, mark.since(bus)
        finally:
            client.close()
            stop.set()
            await bus_task
            await bus.close()
    return Measured(polls / elapsed, chars / (baud / 11 * elapsed), 0.0, silence)


async def _bus(baud: int, n: int, tmp: Path) -> tuple[ModbusBus, asyncio.Event, asyncio.Task]:
    farm = VirtualFarm([VirtualZone("z1")])
    bus = ModbusBus(port=0, baud=baud, tick_s=0.1, state_dir=tmp / "bus")  # its queue files go with `tmp`
    for unit in range(1, n + 1):
        bus.add(nodes.soil_node(farm, f"soil-{unit}", "z1", [10, 30, 60], tmp / "flash", 1000, time.time), unit)
    await bus.start()
    stop = asyncio.Event()
    return bus, stop, asyncio.create_task(bus.run(stop))


async def _poll(baud: int, n: int, seconds: float, role: str | None, whole: bool, tmp: Path,
                turnaround_ms: float | None, silence: Sleep) -> Measured:
    bus, stop, bus_task = await _bus(baud, n, tmp)
    turnaround = {} if turnaround_ms is None else {"turnaround": timedelta(milliseconds=turnaround_ms)}
    devices = [
        ModbusDeviceConfig(node_id=f"soil-{u}", host="127.0.0.1", port=bus.port, unit=u, baud=baud,
                           poll_interval=timedelta(milliseconds=1), timeout=timedelta(seconds=1), role=role,
                           **turnaround)
        for u in range(1, n + 1)
    ]
    with DurableBuffer(tmp / "b.sqlite") as buf:
        poller = ModbusPoller(devices, buf.put_many, buf.quarantine, silence=silence)
        if whole:
            for master in poller.buses:
                for d in master.devices:
                    d.health.reads = reads_for_role(None)
                    d.health.role = "soil"  # never re-planned
        task = asyncio.create_task(poller.run())
        await asyncio.sleep(2)  # connect, first reports
        before, chars, acks = _totals(poller.health()), bus.chars_on_wire, _acks(poller.health())
        began, mark = time.perf_counter(), _Mark.of(bus)
        await asyncio.sleep(seconds)
        elapsed = time.perf_counter() - began
        polls = _totals(poller.health()) - before
        chars, acks, silence = bus.chars_on_wire - chars, _acks(poller.health()) - acks, mark.since(bus)
        errors = sum(h["errors"] for h in poller.health().values())
        await cancel_and_wait(task)
    stop.set()
    await bus_task
    await bus.close()
    if errors:
        print(f"  ({errors} failed polls)")
    return Measured(polls / seconds, chars / (baud / 11 * elapsed), acks / seconds, silence)


def _totals(health: dict) -> int:
    return sum(h["polls"] for h in health.values())


def _acks(health: dict) -> int:
    return sum(h["queue_acks"] + h["queue_requests"] for h in health.values())


def _row(name: str, m: Measured, limit: float) -> str:
    return (f"| {name} | {m.polls_s:.1f} | {limit:.1f} | {m.polls_s / limit:.0%} | {m.acks_s:.1f} | {m.wire_busy:.0%}"
            f" | {m.silence.median_ms:.2f} / {m.silence.p90_ms:.2f} | {m.silence.short} |")


def _figures(key: str, m: Measured, limit: float) -> dict[str, float]:
    return {f"{key}_polls_s": round(m.polls_s, 2), f"{key}_share": round(m.polls_s / limit, 3),
            f"{key}_wire_busy_share": round(m.wire_busy, 3), f"{key}_silence_median_ms": m.silence.median_ms,
            f"{key}_silence_p90_ms": m.silence.p90_ms, f"{key}_short_silences": m.silence.short}


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--baud", type=int, default=19_200)
    ap.add_argument("--nodes", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--turnaround-ms", type=float, default=None,
                    help="the devices' turnaround (unset: the config default)")
    ap.add_argument("--coarse-silence", action="store_true",
                    help="wait the t3.5 silence with asyncio.sleep alone (as until 2026-12-08)")
    o = ap.parse_args()
    silence: Sleep = asyncio.sleep if o.coarse_silence else exact_sleep
    if o.turnaround_ms is None:
        o.turnaround_ms = ModbusDeviceConfig.model_fields["turnaround"].default.total_seconds() * 1000
    cps = o.baud / 11
    print(f"{o.nodes} soil nodes on one bus at {o.baud} baud ({cps:,.0f} characters/s),"
          f" turnaround {o.turnaround_ms:g} ms, t3.5 {inter_frame_s(o.baud) * 1000:.2f} ms"
          f" waited {'with asyncio.sleep' if o.coarse_silence else 'exactly'}")
    print("| read | polls/s measured | wire limit polls/s (reads only) | share | queue writes/s"
          " | wire busy, queue's acks included | silence before a request, median / p90 ms | short |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    figures: dict[str, float] = {}
    for name, key, role, whole in (("merged (0-31, 64-79)", "merged", "soil", False),
                                   ("whole map (0-111)", "whole", None, True)):
        m = await measure(o.baud, o.nodes, o.seconds, role, whole, o.turnaround_ms, silence)
        limit = cps / chars_per_poll(reads_for_role(role))
        print(_row(name, m, limit))
        figures |= {f"{key}_wire_limit_polls_s": round(limit, 2), f"{key}_queue_writes_s": round(m.acks_s, 2),
                    **_figures(key, m, limit)}
    bare = await measure_bare(o.baud, o.nodes, o.seconds, silence)
    limit = cps / chars_per_poll(reads_for_role("soil"))
    print(_row("host's limit: bare pymodbus, merged reads back to back, t3.5 kept", bare, limit))
    figures |= {**_figures("bare", bare, limit),
                "merged_busy_of_bare": round(figures["merged_wire_busy_share"] / bare.wire_busy, 3)}
    print(json.dumps({"baud": o.baud, "nodes": o.nodes, "seconds": o.seconds, "turnaround_ms": o.turnaround_ms,
                      "silence": "coarse" if o.coarse_silence else "exact", **figures}))


if __name__ == "__main__":
    asyncio.run(main())
