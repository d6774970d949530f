"""`furrow modbus scan` finds the firmware slaves on an emulated RS-485 bus, over RTU-over-TCP and a real pty."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from furrow.edge import modbus_map
from furrow.firmware.fault_node import FaultNode
from furrow.gateway.modbus.scan import describe, parse_units
from furrow.hil import nodes
from furrow.hil.modbus_bus import ModbusBus
from furrow.hil.virtual_farm import VirtualFarm, VirtualZone
from tests.gateway_support import PtyBridge, wait_until


@contextlib.asynccontextmanager
async def mixed_bus(tmp_path: Path, framing: str = "rtu") -> AsyncIterator[ModbusBus]:
    """Soil at unit 3, weather at 7, irrigation at 12 and a node with an invalid config at 9."""
    farm = VirtualFarm([VirtualZone("z1")])
    bus = ModbusBus(port=0, baud=19_200, tick_s=0.05, framing=framing)
    flash = tmp_path / "flash"
    soil = bus.add(nodes.soil_node(farm, "soil-a", "z1", [10, 30], flash, 1000, time.time), 3)
    weather = bus.add(nodes.weather_node(farm, "wx-a", flash, 1000, time.time), 7)
    irrigation, _meter = nodes.irrigation_node(farm, "irr-a", ["z1"], flash, 1000)
    irr = bus.add(irrigation, 12)
    bus.add(FaultNode("broken", [("interval_s", -1, "must be positive"), ("role", "x", "unknown role")]), 9)
    await bus.start()
    stop = asyncio.Event()
    task = asyncio.create_task(bus.run(stop))
    try:
        await wait_until(lambda: all(n.reports_made for n in (soil, weather, irr)), "a first report from each node",
                         timeout=20)
        yield bus
    finally:
        stop.set()
        await task
        await bus.close()


async def furrow(*args: str) -> tuple[int, str, str]:
    """Run the `furrow` CLI as a separate process while this loop keeps the bus answering."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "furrow.cli", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_scan_lists_every_unit_with_its_role_and_the_faulty_one(tmp_path):
    """Four units answer of fifteen asked: three roles with firmware and seq, one in fault mode with its error count."""
    async with mixed_bus(tmp_path) as bus:
        code, out, err = await furrow("modbus", "scan", "--port", f"127.0.0.1:{bus.port}", "--units", "1-15",
                                      "--timeout", "0.2", "--json")
    assert code == 0, err
    found = {f["unit"]: f for f in json.loads(out.splitlines()[-1])["found"]}
    assert sorted(found) == [3, 7, 9, 12]
    assert [found[u]["role"] for u in (3, 7, 12)] == ["soil", "weather", "irrigation"]
    assert all(found[u]["reported"] and found[u]["seq"] >= 1 for u in (3, 7, 12))
    assert found[3]["contract"] == f"{modbus_map.CONTRACT_MAJOR}.{modbus_map.CONTRACT_MINOR}"
    assert found[3]["battery_v"] == pytest.approx(3.7, abs=0.01) and found[3]["rssi_dbm"] == -70
    assert found[9]["furrow"] and found[9]["config_errors"] == 2
    assert "scanned 15/15" in err


async def test_scan_table_and_gateway_snippet_are_usable(tmp_path):
    """The table names each unit; the --gateway-toml output loads as the gateway's [[modbus]] config."""
    import tomllib

    from furrow.gateway.config import ModbusDeviceConfig

    async with mixed_bus(tmp_path) as bus:
        code, table, err = await furrow("modbus", "scan", "--port", f"127.0.0.1:{bus.port}", "--units", "3,7,9",
                                        "--timeout", "0.2")
        assert code == 0, err
        code, snippet, err = await furrow("modbus", "scan", "--port", f"127.0.0.1:{bus.port}", "--units", "3,7",
                                          "--timeout", "0.2", "--gateway-toml")
    assert code == 0, err
    assert "unit   3  soil" in table and "FAULT mode" in table
    assert "3 device(s) answered, 3 of them Furrow node(s), of 3 address(es) asked" in table
    devices = [ModbusDeviceConfig(**d) for d in tomllib.loads(snippet)["modbus"]]
    assert [(d.unit, d.role, d.port) for d in devices] == [(3, "soil", bus.port), (7, "weather", bus.port)]


async def test_scan_prints_no_pymodbus_line_per_silent_unit(tmp_path):
    """Absent units cost pymodbus a timeout each; stderr carries only the scan's own lines, not pymodbus's
    "No response received ..." per request."""
    async with mixed_bus(tmp_path) as bus:
        code, _out, err = await furrow("modbus", "scan", "--port", f"127.0.0.1:{bus.port}", "--units", "1-4",
                                       "--timeout", "0.2")
    assert code == 0, err
    lines = err.strip().splitlines()
    assert lines[0].startswith("scanning 4 unit address(es)") and "found unit 3" in err
    assert all(line.startswith(("scanning", "  found unit", "scanned")) for line in lines), lines


async def test_scan_over_a_serial_line(tmp_path):
    """Through a pty (pyserial, termios) as through a USB RS-485 adapter, the same units answer."""
    async with mixed_bus(tmp_path) as bus, PtyBridge("127.0.0.1", bus.port) as line:
        code, out, err = await furrow("modbus", "scan", "--port", line.path, "--units", "2-4,12",
                                      "--timeout", "0.3", "--json")
    assert code == 0, err
    assert [f["unit"] for f in json.loads(out.splitlines()[-1])["found"]] == [3, 12]


async def test_scan_through_a_modbus_tcp_gateway_counts_missing_units_as_absent(tmp_path):
    """Behind Modbus/TCP, exception 11 (target failed to respond) means nobody there, not a stranger."""
    async with mixed_bus(tmp_path, framing="tcp") as bus:
        code, out, err = await furrow("modbus", "scan", "--port", f"127.0.0.1:{bus.port}", "--framing", "tcp",
                                      "--units", "2-4", "--timeout", "0.3", "--json")
    assert code == 0, err
    assert [(f["unit"], f["role"]) for f in json.loads(out.splitlines()[-1])["found"]] == [(3, "soil")]


async def test_scan_of_a_port_nobody_listens_on_says_so():
    """A converter that is not there: exit 2 and a message naming the port, no traceback."""
    from tests.servers import free_port

    port = free_port()
    code, out, err = await furrow("modbus", "scan", "--port", f"127.0.0.1:{port}", "--units", "1")
    assert code == 2 and f"127.0.0.1:{port}" in err and "Traceback" not in err


@pytest.mark.parametrize("text, why", [("0-3", "outside 1..247"), ("5-2", "reversed"), ("a", "not a unit")])
def test_bad_unit_lists_are_refused_naming_the_part(text, why):
    """--units rejects addresses outside 1..247, reversed ranges and words, quoting the bad part."""
    with pytest.raises(ValueError, match=why):
        parse_units(text)


def test_describe_tells_a_fresh_node_and_a_stranger_apart():
    """An all-zero header is a node before its first report; an unknown role code is not a Furrow node."""
    assert describe(5, [0] * 16).furrow and not describe(5, [0] * 16).reported
    stranger = [0x0100, 77] + [0] * 14
    assert not describe(5, stranger).furrow and "77" in describe(5, stranger).note
    assert not describe(5, [1, 2]).furrow
    assert parse_units("1-3,2,10") == [1, 2, 3, 10]
