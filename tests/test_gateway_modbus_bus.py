"""The bus scheduler against the emulated RS-485 bus of real firmware RTU slaves (wire time at the baud)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from furrow.gateway import DurableBuffer, ModbusDeviceConfig
from furrow.gateway.app import cancel_and_wait
from furrow.gateway.modbus import ModbusPoller
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
