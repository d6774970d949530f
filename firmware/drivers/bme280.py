"""Bosch BME280 temperature, humidity and pressure sensor on I2C (datasheet
BST-BME280-DS002, section 4.2.3: the integer compensation formulas).

The sensor runs in normal mode (oversampling x1 for all three, 1000 ms
standby), so ``read()`` only reads the latest burst, 0xF7..0xFE, and applies
the chip's own trimming parameters read once at start (0x88..0xA1 and
0xE1..0xE7). Chip id 0x60 at 0xD0. The I2C object is machine.I2C
(``readfrom_mem``, ``writeto_mem``).
"""

import struct

try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


ADDRESS = const(0x76)  # SDO low; 0x77 when high
CHIP_ID = const(0x60)
_SKIPPED = const(0x80000)  # a measurement that has not run reads 0x80000


def _s12(v):
    return v - 4096 if v & 0x800 else v


class BME280:
    """``read()`` -> (air_temp_c, rh_pct, pressure_kpa), faults instead of values."""

    has_pressure = True

    def __init__(self, i2c, address=ADDRESS):
        self.i2c = i2c
        self.address = address
        self.cal = None

    def start(self):
        """Check the chip id, read the trimming, start normal mode."""
        try:
            if self.i2c.readfrom_mem(self.address, 0xD0, 1)[0] != CHIP_ID:
                return False
            a = self.i2c.readfrom_mem(self.address, 0x88, 26)
            b = self.i2c.readfrom_mem(self.address, 0xE1, 7)
            self.i2c.writeto_mem(self.address, 0xF2, b"\x01")  # humidity x1 (applies at the ctrl_meas write)
            self.i2c.writeto_mem(self.address, 0xF5, b"\xa0")  # standby 1000 ms, filter off
            self.i2c.writeto_mem(self.address, 0xF4, b"\x27")  # T x1, P x1, normal mode
        except OSError:
            return False
        t_p = struct.unpack("<HhhHhhhhhhhh", a[:24])
        h2, h3, e4, e5, e6, h6 = struct.unpack("<hBBBBb", b)
        self.cal = t_p + (a[25], h2, h3, _s12((e4 << 4) | (e5 & 0x0F)), _s12((e6 << 4) | (e5 >> 4)), h6)
        return True

    def read(self):
        if self.cal is None and not self.start():
            return "disconnected", "disconnected", "disconnected"
        try:
            d = self.i2c.readfrom_mem(self.address, 0xF7, 8)
        except OSError:
            self.cal = None
            return "disconnected", "disconnected", "disconnected"
        adc_p = (d[0] << 12) | (d[1] << 4) | (d[2] >> 4)
        adc_t = (d[3] << 12) | (d[4] << 4) | (d[5] >> 4)
        adc_h = (d[6] << 8) | d[7]
        if adc_t == _SKIPPED:
            return "not_ready", "not_ready", "not_ready"
        t_fine, t = self.temperature(adc_t)
        return t / 100, self.humidity(adc_h, t_fine) / 1024, self.pressure(adc_p, t_fine) / 256000

    def temperature(self, adc_t):
        """(t_fine, degC x 100): BME280_compensate_T_int32."""
        t1, t2, t3 = self.cal[0:3]
        var1 = (((adc_t >> 3) - (t1 << 1)) * t2) >> 11
        var2 = (((((adc_t >> 4) - t1) * ((adc_t >> 4) - t1)) >> 12) * t3) >> 14
        t_fine = var1 + var2
        return t_fine, (t_fine * 5 + 128) >> 8

    def pressure(self, adc_p, t_fine):
        """Pa x 256: BME280_compensate_P_int64."""
        p1, p2, p3, p4, p5, p6, p7, p8, p9 = self.cal[3:12]
        var1 = t_fine - 128000
        var2 = var1 * var1 * p6 + ((var1 * p5) << 17) + (p4 << 35)
        var1 = ((var1 * var1 * p3) >> 8) + ((var1 * p2) << 12)
        var1 = (((1 << 47) + var1) * p1) >> 33
        if var1 == 0:
            return 0  # avoid a division by zero (the datasheet's guard)
        p = 1048576 - adc_p
        p = (((p << 31) - var2) * 3125) // var1
        var1 = (p9 * (p >> 13) * (p >> 13)) >> 25
        var2 = (p8 * p) >> 19
        return ((p + var1 + var2) >> 8) + (p7 << 4)

    def humidity(self, adc_h, t_fine):
        """%RH x 1024: BME280_compensate_H_int32."""
        h1, h2, h3, h4, h5, h6 = self.cal[12:18]
        v = t_fine - 76800
        v = ((((adc_h << 14) - (h4 << 20) - (h5 * v)) + 16384) >> 15) * (
            ((((((v * h6) >> 10) * (((v * h3) >> 11) + 32768)) >> 10) + 2097152) * h2 + 8192) >> 14
        )
        v = v - (((((v >> 15) * (v >> 15)) >> 7) * h1) >> 4)
        v = min(max(v, 0), 419430400)
        return v >> 12
