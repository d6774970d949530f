"""Weather node core: air, rain, and optional wind and solar radiation.

Sensors are objects the board builds; the core only calls them:

    air.read()   -> (air_temp_c, rh_pct, pressure_kpa)
    wind.read()  -> (wind_ms, wind_dir_deg)
    solar.read() -> rs_w_m2
    leaf.read()  -> leaf_wet_pct
    canopy.read() -> (red_refl, nir_refl, ndvi)   (drivers/reflectance.py)

Each item is a number, a fault code string ("crc_error", ...), or None when
that sensor does not measure the quantity (an SHT31 has no pressure). A
sensor the station does not have is passed as None and its measurements are
left out; a sensor that raises reports "sensor_error" for what it measures.
An air sensor without a barometer should set ``has_pressure = False`` so
that a failure does not claim a pressure fault.

Rain comes from a tipping-bucket gauge: the board's pin interrupt calls
``on_pulse(now_ms)`` per tip. Reed switches bounce, so a pulse within
`debounce_ms` of the last accepted one is ignored. Each report carries the
rain since the previous report.
"""

from furrow.edge.measurements import ROLE_WEATHER
from furrow.firmware.reporting import Reporter, reading

DEFAULT_INTERVAL_MS = 10 * 60 * 1000
RAIN_MM_PER_TIP = 0.2
DEBOUNCE_MS = 50


def _read(sensor, n):
    """`sensor.read()` as an n-tuple; a raising sensor gives sensor_error."""
    try:
        values = sensor.read()
    except Exception:  # noqa: BLE001 - one failing sensor must not stop the report
        return ("sensor_error",) * n
    if n == 1:
        return (values,)
    return tuple(values)


class WeatherNode:
    """A weather station: one report per interval of what it has fitted.

    `rain_mm_per_tip` None means no rain gauge.
    """

    def __init__(
        self,
        node_id,
        seqstore,
        air=None,
        fw="0.1.0",
        interval_ms=DEFAULT_INTERVAL_MS,
        rain_mm_per_tip=RAIN_MM_PER_TIP,
        wind=None,
        solar=None,
        battery=None,
        rssi=None,
        debounce_ms=DEBOUNCE_MS,
        leaf=None,
        canopy=None,
    ):
        self.node_id = node_id
        self.leaf = leaf
        self.canopy = canopy
        self.air = air
        self.wind = wind
        self.solar = solar
        self.rain_mm_per_tip = rain_mm_per_tip
        self.debounce_ms = debounce_ms
        self._rep = Reporter(node_id, ROLE_WEATHER, seqstore, fw, interval_ms, battery, rssi)
        self.holding = self._rep.holding
        self.tips = 0  # since the previous report
        self.stats = {"tips": 0, "bounces": 0}
        self._last_tip_ms = None

    def on_pulse(self, now_ms):
        """One edge from the rain gauge's reed switch."""
        # Compared with the last *accepted* tip: a chattering switch cannot
        # then hold the gauge off for ever.
        if self._last_tip_ms is not None and now_ms - self._last_tip_ms < self.debounce_ms:
            self.stats["bounces"] += 1
            return
        self._last_tip_ms = now_ms
        self.tips += 1
        self.stats["tips"] += 1

    def tick(self, now_ms):
        """Advance to `now_ms`; returns a list of uplink dicts (0 or 1)."""
        if not self._rep.due(now_ms):
            return []
        readings = []
        if self.air is not None:
            t, rh, p = _read(self.air, 3)
            if p == "sensor_error" and not getattr(self.air, "has_pressure", True):
                p = None
            readings += [reading("air_temp_c", t), reading("rh_pct", rh), reading("pressure_kpa", p)]
        tips = self.tips
        if self.rain_mm_per_tip is not None:
            readings.append(reading("rain_mm", tips * self.rain_mm_per_tip))
        if self.wind is not None:
            speed, direction = _read(self.wind, 2)
            readings += [reading("wind_ms", speed), reading("wind_dir_deg", direction)]
        if self.solar is not None:
            readings.append(reading("rs_w_m2", _read(self.solar, 1)[0]))
        if self.leaf is not None:
            readings.append(reading("leaf_wet_pct", _read(self.leaf, 1)[0]))
        if self.canopy is not None:
            red, nir, ndvi = _read(self.canopy, 3)
            readings += [reading("red_refl", red), reading("nir_refl", nir), reading("ndvi", ndvi)]
        up = self._rep.report(now_ms, readings)
        self.tips -= tips  # only once the report exists; later tips stay counted
        return [up]

    def registers(self):
        """Live input-register view of the latest report (for RtuSlave)."""
        return self._rep.registers

    @property
    def last(self):
        """The latest uplink dict, or None before the first report."""
        return self._rep.last

    def on_holding_write(self, address, values):
        """RtuSlave's `on_write`: unit address and report interval."""
        self._rep.apply_holding(self._rep.new_holding(address, values))
