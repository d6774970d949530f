"""The real bus: pymodbus over a serial line or a TCP endpoint, as a `master.Bus`.

pymodbus makes one attempt per request (retries are the master's, per
device) and its own reconnect task is off (``reconnect_delay=0``): the line
is reopened on the next request, inside the supervised poll loop. Its
errors become `NoAnswer` (worth asking again) or `DeviceError` (an answer,
but not the one asked for).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from pymodbus import FramerType
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException

from furrow.clock import Monotonic, system_monotonic

from ..config import Framing, ModbusDeviceConfig
from .master import check_cancelled
from .schedule import DeviceError, NoAnswer

_FRAMERS = {"rtu": FramerType.RTU, "tcp": FramerType.SOCKET}


def quiet_pymodbus() -> None:
    """pymodbus logs every unanswered request at ERROR ("No response received ..."). On a bus with
    absent units (a scan) or a dead device (the poller reports it once itself) that is one line per
    request: noise that hides what matters."""
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)


def make_client(*, serial_port: str | None, host: str, port: int, baud: int, framing: Framing,
                timeout_s: float, trace_packet: Callable[[bool, bytes], bytes] | None = None,
                ) -> AsyncModbusTcpClient | AsyncModbusSerialClient:
    """A client for a serial line (always RTU) or a host:port with its framing; `trace_packet`
    (pymodbus's hook) sees every chunk of bytes sent (True) and received (False)."""
    client: AsyncModbusTcpClient | AsyncModbusSerialClient
    if serial_port:
        client = AsyncModbusSerialClient(serial_port, framer=FramerType.RTU, baudrate=baud, timeout=timeout_s,
                                         retries=0, reconnect_delay=0, trace_packet=trace_packet)
    else:
        client = AsyncModbusTcpClient(host, port=port, framer=_FRAMERS[framing], timeout=timeout_s, retries=0,
                                      reconnect_delay=0, trace_packet=trace_packet)
    # pymodbus closes the connection after a few unanswered requests in a
    # row; on a shared bus that is a dead device, not a dead line.
    client.set_max_no_responses(1_000_000)
    return client


class PymodbusBus:
    """One bus through one pymodbus client, made on first use (it needs the running loop).
    `received_at` (master.Bus) is stamped on `monotonic` as each chunk of a reply arrives."""

    def __init__(self, config: ModbusDeviceConfig, monotonic: Monotonic = system_monotonic) -> None:
        self.key = config.bus
        self._config = config
        self._client: AsyncModbusTcpClient | AsyncModbusSerialClient | None = None
        self._monotonic = monotonic
        self.received_at: float | None = None

    def _traced(self, sending: bool, data: bytes) -> bytes:
        if not sending:
            self.received_at = self._monotonic()
        return data

    async def _ready(self, timeout_s: float) -> AsyncModbusTcpClient | AsyncModbusSerialClient:
        if self._client is None:
            c = self._config
            self._client = make_client(serial_port=c.serial_port, host=c.host, port=c.port, baud=c.baud,
                                       framing=c.framing, timeout_s=c.timeout.total_seconds(),
                                       trace_packet=self._traced)
        client = self._client
        client.ctx.comm_params.timeout_connect = timeout_s  # pymodbus times each request by this
        if not client.connected and not await client.connect():
            raise NoAnswer(f"cannot connect to {self.key}")
        return client

    async def read(self, unit: int, start: int, count: int, *, holding: bool, timeout_s: float) -> list[int]:
        client = await self._ready(timeout_s)
        self.received_at = None
        read = client.read_holding_registers if holding else client.read_input_registers
        try:
            rr = await read(start, count=count, slave=unit)
        except (ModbusException, OSError, TimeoutError) as e:  # no answer in time, or a broken frame
            raise NoAnswer(str(e) or type(e).__name__) from None
        check_cancelled()
        if rr.isError():  # a Modbus exception response is an answer: no retry
            raise DeviceError(f"exception response: {rr}")
        if len(rr.registers) < count:
            raise DeviceError(f"short read at {start}: {len(rr.registers)} of {count} registers")
        return list(rr.registers)

    async def write(self, unit: int, address: int, values: list[int], *, timeout_s: float) -> None:
        client = await self._ready(timeout_s)
        self.received_at = None
        try:
            rr = await client.write_registers(address, values, slave=unit)
        except (ModbusException, OSError, TimeoutError) as e:
            raise NoAnswer(str(e) or type(e).__name__) from None
        check_cancelled()
        if rr.isError():
            raise DeviceError(f"exception response: {rr}")

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
