"""Modbus RTU/TCP sources: the bus scheduler and its per-device health.

`ModbusPoller` runs one `BusMaster` per bus; each asks its `BusSchedule` (no
I/O, any clock) what is due and talks over a `Bus` (pymodbus, or a
simulated line in tests).
"""

from .master import Bus, BusMaster
from .poller import ModbusPoller
from .schedule import BusSchedule, Device, DeviceError, DeviceHealth, NoAnswer

__all__ = ["Bus", "BusMaster", "BusSchedule", "Device", "DeviceError", "DeviceHealth", "ModbusPoller", "NoAnswer"]
