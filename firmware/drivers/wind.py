"""Cup anemometer (reed switch pulses) and wind vane (resistor ladder on an
ADC), as in the common weather-meter kits (e.g. Argent Data Systems 80422).

* Anemometer: one closure per second is 2.4 km/h, `ms_per_hz` = 0.667 m/s.
  `counter` is anything with a ``count`` of debounced closures (the board's
  PulseCounter); ``read_ms(now_ms)`` gives the mean speed since the last call.
* Vane: a magnet closes one or two of eight reed switches, putting one of 16
  resistances between the ADC input and ground, under a pull-up of
  `pullup_ohm` to the ADC reference. The count is matched to the nearest
  direction; a count far from all of them (an open or shorted cable) is
  "disconnected".
"""

ADC_FULL = 65535
# (degrees, ohms) from the vane's datasheet table
LADDER = (
    (0.0, 33000), (22.5, 6570), (45.0, 8200), (67.5, 891), (90.0, 1000), (112.5, 688), (135.0, 2200),
    (157.5, 1410), (180.0, 3900), (202.5, 3140), (225.0, 16000), (247.5, 14120), (270.0, 120000),
    (292.5, 42120), (315.0, 64900), (337.5, 21880),
)
TOLERANCE = 0.04  # of full scale: half the closest spacing of the ladder, about


class Anemometer:
    def __init__(self, counter, ms_per_hz=0.667):
        self.counter = counter
        self.ms_per_hz = ms_per_hz
        self._last = None  # (ms, count)

    def read_ms(self, now_ms):
        """Mean wind speed (m/s) since the previous call; None at the first."""
        count = self.counter.count
        last, self._last = self._last, (now_ms, count)
        if last is None or now_ms <= last[0]:
            return None
        return (count - last[1]) * 1000 / (now_ms - last[0]) * self.ms_per_hz


class WindVane:
    def __init__(self, adc, pullup_ohm=10000):
        self.adc = adc
        self.table = [(deg, ADC_FULL * r / (r + pullup_ohm)) for deg, r in LADDER]

    def read_deg(self):
        """Direction in degrees, or "disconnected"."""
        raw = self.adc.read_u16()
        best = min(self.table, key=lambda e: abs(e[1] - raw))
        if abs(best[1] - raw) > TOLERANCE * ADC_FULL:
            return "disconnected"
        return best[0]


class Wind:
    """What the weather core reads: ``read()`` -> (wind_ms, wind_dir_deg)."""

    def __init__(self, anemometer, vane=None, clock_ms=None):
        self.anemometer = anemometer
        self.vane = vane
        self.clock_ms = clock_ms

    def read(self):
        speed = self.anemometer.read_ms(self.clock_ms())
        if speed is None:
            speed = "not_ready"  # the first read only starts the count
        return speed, None if self.vane is None else self.vane.read_deg()
