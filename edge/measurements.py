"""Node roles, measurement names, units and physical bounds.

A measurement's name carries its unit (``vwc_pct``, ``rain_mm``) so a value
that crosses a boundary cannot lose it. Each entry gives:

    code      one byte in the binary payload (never reuse a retired code)
    unit      the unit string written next to values in JSON payloads
    lo, hi    the physical bounds a valid value lies within
    decimals  the resolution values are quantised to on every path
"""

ROLE_SOIL = "soil"
ROLE_WEATHER = "weather"
ROLE_IRRIGATION = "irrigation"
ROLE_PEST = "pest"

# role name -> one-byte code used on binary links and in Modbus registers
ROLES = {
    ROLE_SOIL: 1,
    ROLE_WEATHER: 2,
    ROLE_IRRIGATION: 3,
    ROLE_PEST: 4,
}
ROLE_BY_CODE = {}
for _name in ROLES:
    ROLE_BY_CODE[ROLES[_name]] = _name

# name: (code, unit, lo, hi, decimals, role)
MEASUREMENTS = {
    # soil: moisture and temperature at several depths (depth_cm), EC optional
    "vwc_pct": (1, "%", 0.0, 100.0, 2, ROLE_SOIL),
    "soil_temp_c": (2, "degC", -40.0, 85.0, 2, ROLE_SOIL),
    "ec_ds_m": (3, "dS/m", 0.0, 20.0, 3, ROLE_SOIL),
    "soil_raw": (4, "count", 0.0, 65535.0, 0, ROLE_SOIL),
    # weather: microclimate at the station
    "air_temp_c": (10, "degC", -50.0, 70.0, 2, ROLE_WEATHER),
    "rh_pct": (11, "%", 0.0, 100.0, 2, ROLE_WEATHER),
    "pressure_kpa": (12, "kPa", 30.0, 110.0, 3, ROLE_WEATHER),
    "rain_mm": (13, "mm", 0.0, 500.0, 2, ROLE_WEATHER),
    "wind_ms": (14, "m/s", 0.0, 75.0, 2, ROLE_WEATHER),
    "wind_dir_deg": (15, "deg", 0.0, 360.0, 1, ROLE_WEATHER),
    "rs_w_m2": (16, "W/m2", 0.0, 2000.0, 1, ROLE_WEATHER),
    "leaf_wet_pct": (17, "%", 0.0, 100.0, 1, ROLE_WEATHER),
    # weather: canopy reflectance from a two-band sensor pair looking up and down (contract 1.4),
    # reflectance as a fraction (1 = all light reflected; a little above 1 can happen off specular
    # surfaces), NDVI = (nir - red) / (nir + red)
    "red_refl": (18, "1", 0.0, 1.5, 4, ROLE_WEATHER),
    "nir_refl": (19, "1", 0.0, 1.5, 4, ROLE_WEATHER),
    "ndvi": (25, "1", -1.0, 1.0, 4, ROLE_WEATHER),
    # irrigation: per valve (channel) state, flow and line pressure
    "valve_open": (20, "state", 0.0, 1.0, 0, ROLE_IRRIGATION),
    "flow_l_min": (21, "L/min", 0.0, 10000.0, 2, ROLE_IRRIGATION),
    "volume_l": (22, "L", 0.0, 100000000.0, 1, ROLE_IRRIGATION),
    "line_pressure_kpa": (23, "kPa", 0.0, 2000.0, 1, ROLE_IRRIGATION),
    # flow the meter measures while every valve is closed: a leak (0 when none)
    "leak_l_min": (24, "L/min", 0.0, 10000.0, 2, ROLE_IRRIGATION),
    # pest: catches per trap (channel) since the previous report
    "trap_count": (30, "count", 0.0, 100000.0, 0, ROLE_PEST),
    # pest: trap service state per trap (channel), from the technician's visits
    "lure_age_d": (31, "d", 0.0, 365.0, 1, ROLE_PEST),  # days since the lure was changed
    "trap_total": (32, "count", 0.0, 100000.0, 0, ROLE_PEST),  # catches since the trap was emptied
}
MEASUREMENT_BY_CODE = {}
for _name in MEASUREMENTS:
    MEASUREMENT_BY_CODE[MEASUREMENTS[_name][0]] = _name

# Fault codes: a sensor that cannot give a valid value reports one of these
# instead of a number, never a made-up value.
FAULTS = {
    "disconnected": 1,
    "out_of_range": 2,
    "crc_error": 3,
    "not_ready": 4,
    "sensor_error": 5,
}
FAULT_BY_CODE = {}
for _name in FAULTS:
    FAULT_BY_CODE[FAULTS[_name]] = _name


def unit_of(name):
    return MEASUREMENTS[name][1]


def role_of(name):
    return MEASUREMENTS[name][5]


def decimals_of(name):
    return MEASUREMENTS[name][4]


def bounds_of(name):
    m = MEASUREMENTS[name]
    return m[2], m[3]


def measurements_of_role(role):
    """Measurement names a node of `role` may report, in code order."""
    names = [n for n in MEASUREMENTS if MEASUREMENTS[n][5] == role]
    names.sort(key=lambda n: MEASUREMENTS[n][0])
    return names


def quantise(name, value):
    """Round `value` to the measurement's resolution.

    Every path (JSON, binary, Modbus) stores the same quantised number, so a
    reading compares equal after any round trip.
    """
    scale = 10 ** MEASUREMENTS[name][4]
    return int(round(value * scale)) / scale
