"""Find the devices on a Modbus bus: ask each unit address for the Furrow header.

A technician runs this (`furrow modbus scan`) at a new installation, or when a
node does not show up: it tells which unit addresses answer, which of them
are Furrow nodes (their role, contract and firmware version, whether they
have reported yet or wait with an invalid config), and which answer but are
something else. `describe` is the pure part; `scan` does the asking.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException

from furrow.edge.measurements import ROLE_BY_CODE
from furrow.edge.modbus_map import (
    NO_BATTERY,
    NO_RSSI,
    STATUS,
    STATUS_CONFIG_ERROR,
    STATUS_ERRORS,
    has_report,
)

from ..config import Framing
from .pymodbus_bus import make_client as _client

HEADER_COUNT = 16  # input registers 0-15: the header every role shares
# Exceptions 10 (gateway path unavailable) and 11 (gateway target device failed to
# respond) come from a Modbus/TCP gateway on behalf of a unit that is not there.
GATEWAY_NO_TARGET = (0x0A, 0x0B)


@dataclass(frozen=True)
class Found:
    """One unit address that answered."""

    unit: int
    furrow: bool  # it served a Furrow header
    role: str | None = None
    contract: str | None = None
    firmware: str | None = None
    reported: bool = False  # it has made a report since power-up
    seq: int | None = None
    report_time_s: int | None = None
    battery_v: float | None = None
    rssi_dbm: int | None = None
    config_errors: int | None = None  # set when the node waits with an invalid config
    note: str = ""

    def line(self) -> str:
        """One human line for the scan's table."""
        if not self.furrow:
            return f"unit {self.unit:3d}  answers, but is not a Furrow node: {self.note}"
        if self.config_errors is not None:
            return (f"unit {self.unit:3d}  Furrow node in FAULT mode: its config has {self.config_errors} error(s); "
                    "fix config.json on the node and power-cycle it")
        parts = [f"unit {self.unit:3d}", f"{self.role or '?':10s}", f"contract {self.contract}",
                 f"firmware {self.firmware}"]
        if self.reported:
            parts.append(f"seq {self.seq}")
            if self.battery_v is not None:
                parts.append(f"battery {self.battery_v:.2f} V")
            if self.rssi_dbm is not None:
                parts.append(f"signal {self.rssi_dbm} dBm")
        else:
            parts.append("no report yet (just powered up?)")
        if self.note:
            parts.append(self.note)
        return "  ".join(parts)


def describe(unit: int, regs: list[int]) -> Found:
    """What the header registers `regs` (input registers 0-15) say about `unit`."""
    if len(regs) < HEADER_COUNT:
        return Found(unit, furrow=False, note=f"short answer: {len(regs)} of {HEADER_COUNT} registers")
    if regs[STATUS] == STATUS_CONFIG_ERROR:
        return Found(unit, furrow=True, config_errors=regs[STATUS_ERRORS])
    role = ROLE_BY_CODE.get(regs[1])
    firmware = f"{regs[8] >> 8}.{regs[8] & 0xFF}.{regs[9]}"
    if not has_report(regs):
        if regs[1] == 0:  # all zeros: a node before its first report looks like this
            return Found(unit, furrow=True, note="no report yet (just powered up?)")
        return Found(unit, furrow=role is not None, role=role, firmware=firmware,
                     note="" if role else f"register 1 = {regs[1]} is no Furrow role")
    if role is None:
        return Found(unit, furrow=False, note=f"register 1 = {regs[1]} is no Furrow role code")
    battery = None if regs[6] == NO_BATTERY else regs[6] / 1000
    rssi = None if regs[7] == NO_RSSI else (regs[7] - 0x10000 if regs[7] & 0x8000 else regs[7])
    return Found(
        unit, furrow=True, role=role, contract=f"{regs[0] >> 8}.{regs[0] & 0xFF}", firmware=firmware,
        reported=True, seq=regs[2] << 16 | regs[3], report_time_s=regs[4] << 16 | regs[5],
        battery_v=battery, rssi_dbm=rssi,
    )


def parse_units(text: str) -> list[int]:
    """'1-20,31,40-42' -> the unit addresses, each 1..247."""
    units: list[int] = []
    for part in text.split(","):
        lo, sep, hi = part.strip().partition("-")
        try:
            first, last = int(lo), int(hi) if sep else int(lo)
        except ValueError:
            raise ValueError(f"units: {part.strip()!r} is not a unit address or a range like 1-20") from None
        if not 1 <= first <= last <= 247:
            raise ValueError(f"units: {part.strip()!r} is outside 1..247 (or the range is reversed)")
        units.extend(range(first, last + 1))
    return sorted(set(units))


def make_client(port: str, baud: int, framing: Framing,
                timeout_s: float) -> AsyncModbusTcpClient | AsyncModbusSerialClient:
    """A serial line ('/dev/ttyUSB0': RTU) or a TCP endpoint ('HOST:PORT', RTU or Modbus/TCP framing)."""
    if port.startswith("/"):
        return _client(serial_port=port, host="", port=0, baud=baud, framing="rtu", timeout_s=timeout_s)
    host, _, tcp_port = port.rpartition(":")
    return _client(serial_port=None, host=host, port=int(tcp_port), baud=baud, framing=framing, timeout_s=timeout_s)


async def scan(
    client: AsyncModbusTcpClient | AsyncModbusSerialClient,
    units: Iterable[int],
    gap_s: float,
    progress: Callable[[int, int, Found | None], None] = lambda *_: None,
    retries: int = 1,
) -> list[Found]:
    """Ask every unit in `units` for its header, `gap_s` of bus silence between
    requests. A unit silent for 1 + `retries` requests (each within the client's
    timeout) is absent: one lost frame on a noisy bus must not hide a node."""
    if not await client.connect():
        raise ConnectionError("could not open the bus: check the port (and that nothing else holds it)")
    # A bus mostly of absent units is not a dead line: never give up on the connection.
    client.set_max_no_responses(1_000_000)
    todo = list(units)
    found: list[Found] = []
    try:
        for i, unit in enumerate(todo, 1):
            hit: Found | None = None
            for _attempt in range(1 + retries):
                try:
                    rr = await client.read_input_registers(0, count=HEADER_COUNT, slave=unit)
                except ModbusException:
                    await asyncio.sleep(gap_s)  # no answer (timeout) or a garbled one: ask again
                    continue
                code = getattr(rr, "exception_code", None)
                if rr.isError() and code in GATEWAY_NO_TARGET:
                    break  # a Modbus/TCP gateway saying nobody answered behind it: absent
                if rr.isError():
                    hit = Found(unit, furrow=False, note=f"exception response {code}")
                else:
                    hit = describe(unit, list(rr.registers))
                await asyncio.sleep(gap_s)
                break
            if hit is not None:
                found.append(hit)
            progress(i, len(todo), hit)
    finally:
        client.close()
    return found


def gateway_snippet(found: Iterable[Found], port: str, baud: int, framing: Framing, prefix: str = "node") -> str:
    """`[[modbus]]` entries for the gateway's config, one per Furrow node found; node ids are
    placeholders (`node-uNN`) for the technician to replace with the registered ones."""
    lines: list[str] = []
    for f in found:
        if not f.furrow:
            continue
        lines.append("[[modbus]]")
        lines.append(f'node_id = "{prefix}-u{f.unit:03d}"  # replace with the registered node id')
        if port.startswith("/"):
            lines.append(f'serial_port = "{port}"')
        else:
            host, _, tcp_port = port.rpartition(":")
            lines.append(f'host = "{host}"')
            lines.append(f"port = {tcp_port}")
            lines.append(f'framing = "{framing}"')
        lines.append(f"unit = {f.unit}")
        lines.append(f"baud = {baud}")
        if f.role:
            lines.append(f'role = "{f.role}"')
        lines.append("")
    return "\n".join(lines)
