"""DS18B20 1-Wire temperature sensor (Maxim datasheet 19-7487).

The 1-Wire bus object needs only three methods, which MicroPython's
``onewire.OneWire`` has:

    reset() -> bool        reset pulse; True if a device answered with presence
    writebyte(value)       write one byte, LSB first
    readbyte() -> int      read one byte

A conversion takes up to 750 ms at 12-bit resolution, so it is split in two:
``convert()`` starts it, ``read()`` (at least `conversion_ms` later) fetches the
result. Nothing here sleeps; the node core schedules the two calls.
"""

try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


_SKIP_ROM = const(0xCC)
_MATCH_ROM = const(0x55)
_CONVERT_T = const(0x44)
_READ_SCRATCHPAD = const(0xBE)
_POWER_ON_RAW = const(0x0550)  # 85.0 degC: the scratchpad's reset value


def crc8(data):
    """Dallas/Maxim CRC-8 (x^8 + x^5 + x^4 + 1, reflected, init 0)."""
    crc = 0
    for byte in data:
        for _ in range(8):
            mix = (crc ^ byte) & 1
            crc >>= 1
            if mix:
                crc ^= 0x8C
            byte >>= 1
    return crc


class DS18B20:
    """One DS18B20 on `bus`: ``convert()``, then ``read()`` -> (degC or None, fault or None).

    With `rom` (8 bytes) the driver addresses that device (Match ROM), so
    several probes share one bus; without it the bus must hold one device
    (Skip ROM).
    """

    conversion_ms = 750  # worst case, 12-bit resolution (datasheet table 2)

    def __init__(self, bus, rom=None):
        if rom is not None and len(rom) != 8:
            raise ValueError("a 1-Wire ROM code is 8 bytes, not %d" % len(rom))
        self.bus = bus
        self.rom = rom

    def _select(self):
        """Reset and address the device; False when nothing answers."""
        if not self.bus.reset():
            return False
        if self.rom is None:
            self.bus.writebyte(_SKIP_ROM)
        else:
            self.bus.writebyte(_MATCH_ROM)
            for b in self.rom:
                self.bus.writebyte(b)
        return True

    def convert(self):
        """Start a temperature conversion; False if no device is present."""
        if not self._select():
            return False
        self.bus.writebyte(_CONVERT_T)
        return True

    def read(self):
        """Read the scratchpad: (temp_c, None) or (None, fault)."""
        if not self._select():
            return None, "disconnected"
        self.bus.writebyte(_READ_SCRATCHPAD)
        pad = bytearray(9)
        for i in range(9):
            pad[i] = self.bus.readbyte()
        if pad == b"\xff" * 9:
            return None, "disconnected"  # nobody drove the line: released pull-up
        if pad == b"\x00" * 9:
            # A data line held low reads all zeros, whose CRC-8 is also 0.
            return None, "sensor_error"
        if crc8(pad[:8]) != pad[8]:
            return None, "crc_error"
        raw = pad[0] | (pad[1] << 8)
        if raw == _POWER_ON_RAW:
            return None, "not_ready"  # no conversion since power-up
        if raw & 0x8000:
            raw -= 0x10000
        # Config byte bits 6-5 hold the resolution (9..12 bit); the low bits
        # below it are undefined and must be masked (datasheet, figure 4).
        undefined = 3 - ((pad[4] >> 5) & 3)
        raw &= ~((1 << undefined) - 1)
        return raw / 16.0, None
