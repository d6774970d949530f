"""Modbus RTU/TCP sources: the bus scheduler and its per-device health."""

from .poller import DeviceHealth, ModbusPoller

__all__ = ["DeviceHealth", "ModbusPoller"]
