"""Sensirion SHT3x (SHT30/31/35) humidity and temperature sensor on I2C
(datasheet "SHT3x-DIS", version 6).

The sensor runs in periodic mode (command 0x2130: one high-repeatability
measurement per second), so a reading never waits: ``read()`` sends Fetch
Data (0xE000) and reads 6 bytes, temperature then humidity, each 16 bits
followed by its CRC-8 (polynomial 0x31, init 0xFF, no reflection, datasheet
section 4.12). With no new measurement since the last fetch the sensor NACKs
the read: "not_ready".

    T  = -45 + 175 * S_T / 65535        (degC)
    RH = 100 * S_RH / 65535             (%)

The I2C object is MicroPython's machine.I2C (``writeto``, ``readfrom``).
"""

try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


ADDRESS = const(0x44)  # ADDR pin low; 0x45 when high
_PERIODIC_1MPS_HIGH = b"\x21\x30"
_FETCH = b"\xe0\x00"
_SOFT_RESET = b"\x30\xa2"


def crc8(data):
    """CRC-8 of the SHT3x: x^8 + x^5 + x^4 + 1 (0x31), init 0xFF."""
    crc = 0xFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x31) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


class SHT3x:
    """``read()`` -> (air_temp_c, rh_pct, None): no barometer on this chip.
    Faults replace the values: "disconnected", "crc_error", "not_ready"."""

    has_pressure = False

    def __init__(self, i2c, address=ADDRESS):
        self.i2c = i2c
        self.address = address
        self.started = False

    def start(self):
        """Soft reset, then periodic measurement. False if nobody answers."""
        try:
            self.i2c.writeto(self.address, _SOFT_RESET)
            self.i2c.writeto(self.address, _PERIODIC_1MPS_HIGH)
        except OSError:
            return False
        self.started = True
        return True

    def read(self):
        if not self.started and not self.start():
            return "disconnected", "disconnected", None
        try:
            self.i2c.writeto(self.address, _FETCH)
        except OSError:
            self.started = False  # gone (or power-cycled): start again next time
            return "disconnected", "disconnected", None
        try:
            data = self.i2c.readfrom(self.address, 6)
        except OSError:
            return "not_ready", "not_ready", None  # NACK: no new measurement yet
        if crc8(data[0:2]) != data[2] or crc8(data[3:5]) != data[5]:
            return "crc_error", "crc_error", None
        s_t = (data[0] << 8) | data[1]
        s_rh = (data[3] << 8) | data[4]
        return -45 + 175 * s_t / 65535, 100 * s_rh / 65535, None
