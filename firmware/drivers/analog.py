"""Analog sensors on a 16-bit ADC (machine.ADC.read_u16): pyranometer, leaf
wetness, and line pressure (0.5-4.5 V ratiometric or 4-20 mA on a shunt).

A count pinned to a rail means nothing drives the input (a broken cable):
"disconnected", never a made-up value.
"""

ADC_FULL = 65535
RAIL = 128  # counts from a rail that mean "not driven"


def _volts(adc, vref, divider=1.0):
    raw = adc.read_u16()
    return raw, raw * vref / ADC_FULL * divider


class Pyranometer:
    """A thermopile or silicon-cell pyranometer behind an amplifier:
    W/m2 = mV at the sensor x `w_m2_per_mv` (sensor calibration certificate)
    where mV at the sensor = ADC mV / `gain`. ``read()`` -> W/m2."""

    def __init__(self, adc, w_m2_per_mv, gain=1.0, vref=3.3):
        self.adc, self.w_m2_per_mv, self.gain, self.vref = adc, w_m2_per_mv, gain, vref

    def read(self):
        raw, v = _volts(self.adc, self.vref)
        if raw >= ADC_FULL - RAIL:
            return "out_of_range"  # the amplifier saturated
        return max(0.0, v * 1000 / self.gain * self.w_m2_per_mv)  # night offset below 0 is 0


class LeafWetness:
    """A resistive leaf-wetness grid: water bridges the comb and pulls the
    count from `dry_raw` towards `wet_raw`. ``read()`` -> % of the grid wet."""

    def __init__(self, adc, dry_raw=60000, wet_raw=15000):
        if dry_raw == wet_raw:
            raise ValueError("dry_raw and wet_raw must differ")
        self.adc, self.dry_raw, self.wet_raw = adc, dry_raw, wet_raw

    def read(self):
        raw = self.adc.read_u16()
        if raw <= RAIL:
            return "disconnected"  # the pull-up path is broken
        t = (raw - self.dry_raw) / (self.wet_raw - self.dry_raw)
        return min(100.0, max(0.0, t * 100))


class LinePressure:
    """Line pressure transmitter, ``read()`` -> kPa.

    * "0.5-4.5v": ratiometric, 0.5 V at 0 and 4.5 V at `full_scale_kpa`, read
      through a divider (`divider` = input volts per ADC volt).
    * "4-20ma": current loop across a `shunt_ohm` resistor; 4 mA at 0, 20 mA
      at full scale. Below 3.6 mA or above 21 mA is a fault (NAMUR NE 43).
    """

    def __init__(self, adc, kind="0.5-4.5v", full_scale_kpa=1000.0, vref=3.3, divider=1.5, shunt_ohm=150.0):
        if kind not in ("0.5-4.5v", "4-20ma"):
            raise ValueError("kind must be '0.5-4.5v' or '4-20ma', not %r" % (kind,))
        self.adc, self.kind, self.fs = adc, kind, full_scale_kpa
        self.vref, self.divider, self.shunt_ohm = vref, divider, shunt_ohm

    def read(self):
        if self.kind == "4-20ma":
            raw, v = _volts(self.adc, self.vref)
            ma = v / self.shunt_ohm * 1000
            if ma < 3.6:
                return "disconnected"
            if ma > 21.0:
                return "out_of_range"
            return max(0.0, (ma - 4.0) / 16.0 * self.fs)
        raw, v = _volts(self.adc, self.vref, self.divider)
        if v < 0.25:
            return "disconnected"  # a live sensor never goes below 0.5 V
        if v > 4.75:
            return "out_of_range"
        return max(0.0, (v - 0.5) / 4.0 * self.fs)
