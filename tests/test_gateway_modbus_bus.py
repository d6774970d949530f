"""The bus scheduler against the emulated RS-485 bus of real firmware RTU slaves (wire time at the baud)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import pytest

from furrow.clock import exact_sleep
from furrow.edge.crc import crc16_modbus
from furrow.gateway import DurableBuffer, ModbusDeviceConfig
from furrow.gateway.app import cancel_and_wait
from furrow.gateway.modbus import ModbusPoller
from furrow.gateway.modbus.schedule import inter_frame_s
from tests.gateway_support import PtyBridge, soil_bus, wait_until

BAUD = 19_200
INTERVAL = 0.25
WINDOW = 6.0  # 24 polls per live device per window


def device(node_id: str, port: int, unit: int, **kw) -> ModbusDeviceConfig:
    return ModbusDeviceConfig(
        node_id=node_id, host="127.0.0.1", port=port, unit=unit, baud=BAUD, poll_interval=INTERVAL,
        timeout=kw.pop("timeout", 0.3), retries=kw.pop("retries", 0), **kw,
    )


@contextlib.asynccontextmanager
async def polling(poller: ModbusPoller) -> AsyncIterator[ModbusPoller]:
    task = asyncio.create_task(poller.run())
    try:
        yield poller
    finally:
        await cancel_and_wait(task)


async def polls_in_window(poller: ModbusPoller, live: list[str], reference: list[str]) -> dict[str, int]:
    """How many polls each live device got in one window, after a warm-up. The window ends when
    every `reference` device has had WINDOW / INTERVAL polls (24: 6 s at full pace), not after a
    fixed time, so a slow or busy machine stretches the window instead of failing the comparison."""
    h = poller.health
    await wait_until(lambda: all(h()[n]["reports"] >= 1 for n in live), "a first report from every live node")
    before = {n: h()[n]["polls"] for n in live}
    target = round(WINDOW / INTERVAL)
    await wait_until(lambda: all(h()[n]["polls"] - before[n] >= target for n in reference),
                     f"{target} polls of each clean-bus device", timeout=10 * WINDOW)
    return {n: h()[n]["polls"] - before[n] for n in live}


async def test_dead_device_leaves_the_live_devices_poll_rate_within_ten_percent(tmp_path):
    """Two identical 19 200-baud buses polled side by side in the same window, two live soil nodes
    each (every 0.25 s); one bus also has a dead unit configured. The live nodes there get within
    10% of the polls their twins get on the clean bus, and the dead unit is set aside and probed."""
    async with soil_bus(tmp_path / "clean", {1: "soil-a", 2: "soil-b"}) as clean, \
            soil_bus(tmp_path / "shared", {1: "soil-c", 2: "soil-d"}) as shared:
        devices = [
            device("soil-a", clean.port, 1, role="soil"), device("soil-b", clean.port, 2),
            device("soil-c", shared.port, 1, role="soil"), device("soil-d", shared.port, 2),
            device("soil-dead", shared.port, 9, timeout=0.1, fail_threshold=1, backoff_max=2),
        ]
        with DurableBuffer(tmp_path / "b.sqlite") as buf:
            async with polling(ModbusPoller(devices, buf.put_many, buf.quarantine)) as poller:
                polls = await polls_in_window(poller, ["soil-a", "soil-b", "soil-c", "soil-d"], ["soil-a", "soil-b"])
                health = poller.health()
    print(f"polls in one window: {polls}; dead unit {health['soil-dead']}")
    for twin, node in (("soil-a", "soil-c"), ("soil-b", "soil-d")):
        assert polls[node] >= 0.9 * polls[twin], polls
        assert health[node]["errors"] == 0, health[node]
    d = health["soil-dead"]
    assert d["backed_off"] and d["polls"] >= 2 and d["last_good_ms"] is None, d


async def test_reads_only_the_registers_of_the_role_in_merged_requests(tmp_path):
    """A soil node is read in two merged requests (0-31, 64-79); a node of unknown role is read
    whole once, learns its role, then is read the same way, and every report is stored."""
    async with soil_bus(tmp_path, {1: "soil-a", 2: "soil-b"}) as bus:
        devices = [device("soil-a", bus.port, 1, role="soil"), device("soil-b", bus.port, 2)]
        with DurableBuffer(tmp_path / "b.sqlite") as buf:
            async with polling(ModbusPoller(devices, buf.put_many, buf.quarantine)) as poller:
                await wait_until(lambda: all(poller.health()[n]["reports"] >= 2 for n in ("soil-a", "soil-b")),
                                 "two reports from each node")
                health = poller.health()
                items = [i for _, i in buf.next_batch(100)]
    for node in ("soil-a", "soil-b"):
        assert health[node]["role"] == "soil"
        assert [tuple(r) for r in health[node]["reads"]] == [(0, 32), (64, 16)]
    a, b = health["soil-a"], health["soil-b"]
    # Two requests per poll; the snapshot may fall between the two of the poll in flight.
    assert 2 * a["polls"] - 1 <= a["requests"] <= 2 * a["polls"]
    # Until its first report (and role) it was read whole, in one request.
    assert b["requests"] <= 2 * b["polls"] - 1
    stored = {(i["node"], i["seq"]) for i in items}
    assert {n for n, _ in stored} == {"soil-a", "soil-b"}
    assert all({r["depth_cm"] for r in i["readings"]} == {10, 30} for i in items)


@pytest.mark.parametrize("baud", [9_600])
async def test_inter_frame_gap_follows_the_baud_rate(baud):
    """The master leaves 3.5 characters of 11 bits of silence at the bus's baud rate."""
    poller = ModbusPoller([ModbusDeviceConfig(node_id="x", host="h", unit=1, baud=baud)], lambda items: 0)
    (bus,) = poller.buses
    assert bus.schedule.gap_s == pytest.approx(3.5 * 11 / baud)


async def test_rtu_over_a_real_serial_line(tmp_path):
    """pymodbus's serial client on a pty (the far end piped to the emulated bus) polls a firmware
    soil node in RTU and stores its reports, as over a USB RS-485 adapter."""
    async with soil_bus(tmp_path, {3: "soil-s"}) as bus, PtyBridge("127.0.0.1", bus.port) as line:
        dev = ModbusDeviceConfig(node_id="soil-s", serial_port=line.path, unit=3, baud=BAUD, role="soil",
                                 poll_interval=INTERVAL, timeout=0.5)
        with DurableBuffer(tmp_path / "serial.sqlite") as buf:
            async with polling(ModbusPoller([dev], buf.put_many, buf.quarantine)) as poller:
                await wait_until(lambda: poller.health()["soil-s"]["reports"] >= 2, "two reports over the serial line")
                items = [i for _, i in buf.next_batch(10)]
    assert {i["node"] for i in items} == {"soil-s"} and len(items) >= 2
    assert poller.health()["soil-s"]["errors"] == 0


def _fc04(unit: int, start: int, count: int) -> bytes:
    body = bytes((unit, 4, start >> 8, start & 0xFF, count >> 8, count & 0xFF))
    crc = crc16_modbus(body)
    return body + bytes((crc & 0xFF, crc >> 8))


async def test_the_emulated_line_holds_a_reply_for_request_silence_and_reply_and_counts_a_short_silence(tmp_path):
    """At 1,200 baud (9.17 ms a character, t3.5 32 ms) a 16-register read's reply comes no sooner than the
    request (8), the silence after it (3.5) and the reply (37 characters) on the wire: 444 ms. A request
    that waited in the socket while the reply was on the line follows it with no silence and is counted;
    one sent 3 x t3.5 after the reply is not. (Lower bounds only: a slow machine is late, never early.)"""
    async with soil_bus(tmp_path, {1: "soil-a"}, baud=1_200) as bus:
        char_s = 11 / 1_200
        reader, writer = await asyncio.open_connection(bus.host, bus.port)
        try:
            sent = time.perf_counter()
            writer.write(_fc04(1, 0, 16))
            await writer.drain()
            await asyncio.sleep(0.05)  # the bus has the first request and holds its reply
            writer.write(_fc04(1, 0, 16))  # the master breaks the rule: no silence after the reply
            await writer.drain()
            await reader.readexactly(37)
            assert time.perf_counter() - sent >= (8 + 3.5 + 37) * char_s
            await reader.readexactly(37)
            await asyncio.sleep(3 * 3.5 * char_s)
            writer.write(_fc04(1, 0, 16))
            await writer.drain()
            await reader.readexactly(37)
        finally:
            writer.close()
    assert bus.short_silences == 1
    assert len(bus.silences_us) == 2 and bus.silences_us[1] >= 3 * 3.5 * char_s * 1e6


async def test_the_poller_keeps_each_silence_through_its_silence_wait_and_never_breaks_it(tmp_path):
    """The poller waits the line's t3.5 before every request but the first through `silence` (by
    default furrow.clock.exact_sleep, which spins its last 1.5 ms instead of waking late), never
    longer than t3.5, and the bus never saw a request sooner than t3.5 after a reply."""
    waits: list[float] = []

    async def silence(s: float) -> None:
        waits.append(s)
        await exact_sleep(s)

    async with soil_bus(tmp_path, {1: "soil-a", 2: "soil-b"}) as bus:
        devices = [device("soil-a", bus.port, 1, role="soil"), device("soil-b", bus.port, 2, role="soil")]
        with DurableBuffer(tmp_path / "b.sqlite") as buf:
            async with polling(ModbusPoller(devices, buf.put_many, buf.quarantine, silence=silence)) as poller:
                await wait_until(lambda: all(poller.health()[n]["reports"] >= 2 for n in ("soil-a", "soil-b")),
                                 "two reports from each node")
    gap = inter_frame_s(BAUD)
    assert len(waits) >= 6 and all(0 < w <= gap for w in waits)
    assert bus.short_silences == 0 and len(bus.silences_us) >= len(waits)
