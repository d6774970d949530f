"""When an unchanging value means a stuck sensor, judged per measurement by its physics.

A working sensor's value changes between reports because the quantity moves by more than
the sensor's resolution, or because the sensor's own noise does. How long a quantity may
legitimately hold one value is a property of the quantity, not a number of reports: a calm
wind vane points the same way all night, a barometer reads within 0.01 kPa for minutes, and
a soil probe at 60 cm sees no daily temperature wave at all. So each measurement gets a
*window*: its value unchanged (at the contract's resolution, edge/measurements.py) for longer
than that, over at least MIN_REPORTS reports, is "stuck". None means the measurement is never
judged stuck by repetition: a steady value is normal for it.

A value at its measurement's physical bound (edge.measurements.bounds_of) is never stuck
either: 0 W/m2 all night, 0 m/s in a calm, 100 % humidity in fog, a dry or soaked leaf
wetness grid are what a working sensor reads there.

The windows, and why (the longest a working sensor holds one value, with margin):

* ``vwc_pct`` 24 h: a capacitive probe is read through an ADC whose step (about 0.0015 %
  on a 16-bit converter, 0.02 % on a 12-bit one) and noise are at or above the 0.01 % the
  contract keeps, and the crop draws water every day; a whole day without one step is frozen.
* ``soil_temp_c`` 24 h down to 30 cm, never deeper: the daily temperature wave is damped as
  exp(-z/D), with the damping depth D = sqrt(2 kappa / omega) (Campbell & Norman 1998, *An
  Introduction to Environmental Biophysics*, ch. 8); a soil thermal diffusivity kappa of
  0.2-1.0e-6 m2/s gives D = 0.07-0.17 m for the daily cycle. At 30 cm (D = 0.1 m) a surface
  amplitude of 8 °C leaves 0.4 °C, six DS18B20 steps of 1/16 °C; at 50 cm it leaves 0.05 °C,
  under one step, and a probe there may read the same for days.
* ``air_temp_c``, ``rh_pct``, ``wind_ms`` 6 h: screen temperature and humidity follow the sun
  and change by tenths within hours even under fog or overcast; a cup anemometer's mean speed
  over a report interval varies with every gust (a calm is 0, at the bound).
* ``rs_w_m2`` 4 h: the sun's elevation changes the irradiance all day (night is 0, at the bound).
* ``pressure_kpa`` 12 h: the semidiurnal atmospheric tide alone moves surface pressure by
  0.3-0.5 hPa (0.03-0.05 kPa) at mid-latitudes and about 1 hPa in the tropics (Dai & Wang
  1999, J. Atmos. Sci. 56:3874-3891), so over its 12 h period a barometer crosses several
  0.01 kPa steps; over minutes it legitimately does not.
* ``leaf_wet_pct`` 24 h (a leaf is dry or wet, at the bounds, for days; in between it dries).
* ``ec_ds_m`` 48 h: soil EC changes slowly with water content; its noise at 0.001 dS/m does not.
* never: ``wind_dir_deg`` (a vane has 16 positions; a calm or steady wind holds one for
  days), ``rain_mm`` and the pest counts (0 for weeks), the irrigation readings (a closed
  valve, no flow, a still line), ``soil_raw`` (judged through its ``vwc_pct``),
  ``lure_age_d`` and ``trap_total`` (changed by a technician's visit).
"""

from __future__ import annotations

from datetime import timedelta

from furrow.edge.measurements import bounds_of

MIN_REPORTS = 3
"""A node that reports twice a day is not stuck after two equal reports: at least three."""

HOUR = timedelta(hours=1)
WINDOWS: dict[str, timedelta | None] = {
    "vwc_pct": 24 * HOUR,
    "soil_temp_c": 24 * HOUR,
    "air_temp_c": 6 * HOUR,
    "rh_pct": 6 * HOUR,
    "wind_ms": 6 * HOUR,
    "rs_w_m2": 4 * HOUR,
    "pressure_kpa": 12 * HOUR,
    "leaf_wet_pct": 24 * HOUR,
    "ec_ds_m": 48 * HOUR,
}
SOIL_TEMP_MAX_DEPTH_CM = 30
"""Below this the daily wave is under a DS18B20 step: a steady reading is normal (docstring)."""


def stuck_window(name: str, depth_cm: int | None = None) -> timedelta | None:
    """How long `name` (at `depth_cm`) may hold one value before it is stuck; None: never judged."""
    if name == "soil_temp_c" and depth_cm is not None and depth_cm > SOIL_TEMP_MAX_DEPTH_CM:
        return None
    return WINDOWS.get(name)


def at_bound(name: str, value: float) -> bool:
    """Whether `value` sits at the measurement's physical bound, where a working sensor may rest."""
    lo, hi = bounds_of(name)
    return value <= lo or value >= hi


class SteadyRun:
    """One sensor's current run of an unchanged value: the value, the node times it spans, the reports."""

    __slots__ = ("count", "first_ms", "last_ms", "value")

    def __init__(self, value: float, ts_ms: int) -> None:
        self.value, self.first_ms, self.last_ms, self.count = value, ts_ms, ts_ms, 1

    def extend(self, value: float, ts_ms: int) -> SteadyRun:
        """This run with one more report, or a new run when the value changed."""
        if value != self.value:
            return SteadyRun(value, ts_ms)
        # a backlog may arrive out of order: the run spans the earliest to the latest time
        self.first_ms, self.last_ms = min(self.first_ms, ts_ms), max(self.last_ms, ts_ms)
        self.count += 1
        return self

    def stuck(self, name: str, depth_cm: int | None) -> bool:
        window = stuck_window(name, depth_cm)
        if window is None or self.count < MIN_REPORTS or at_bound(name, self.value):
            return False
        return timedelta(milliseconds=self.last_ms - self.first_ms) >= window
