"""The gateway's stuck-sensor flag judges each measurement by its physics (gateway/stuck.py):
a quantity that is legitimately steady is never flagged, a frozen one is, after its window."""

from __future__ import annotations

from datetime import timedelta

from furrow.cloud.agronomy.alerts import SensorFault
from furrow.cloud.alerts.snapshot import sensor_faults
from furrow.cloud.storage import Reading
from furrow.edge.payload import make_reading, make_uplink
from furrow.gateway.quality import QualityChecker
from furrow.gateway.stuck import stuck_window

T0 = 1_767_225_600_000
MINUTE, HOUR = 60_000, 3_600_000


def _reports(check: QualityChecker, role: str, readings: list[dict], every_ms: int, n: int,
             arrive_at: int | None = None) -> list[list[str]]:
    """`n` reports of the same readings `every_ms` apart in node time; the flags of each. They arrive
    as made, or all at `arrive_at` (a backlog)."""
    out = []
    for seq in range(n):
        ts = T0 + seq * every_ms
        out.append(check(make_uplink(node="n1", role=role, seq=seq, ts_ms=ts, readings=readings, fw="0.1.0"),
                         arrive_at if arrive_at is not None else ts))
    return out


def test_a_barometer_steady_over_minutes_is_not_stuck():
    """101.30 kPa every 2 s for 10 minutes (300 reports) is a working barometer; the old rule
    (twelve equal values) called it stuck after 24 s."""
    flags = _reports(QualityChecker(), "weather", [make_reading("pressure_kpa", 101.3)], 2000, 300)
    assert all("stuck:pressure_kpa" not in f for f in flags)


def test_a_barometer_unchanged_for_half_a_day_is_stuck():
    """The semidiurnal tide moves pressure by hundredths of a kPa: 13 hours on one value is frozen."""
    flags = _reports(QualityChecker(), "weather", [make_reading("pressure_kpa", 101.3)], HOUR, 14)
    assert "stuck:pressure_kpa" not in flags[11] and "stuck:pressure_kpa" in flags[12]


def test_a_calm_wind_vane_and_anemometer_are_never_stuck():
    """A day of calm: the vane rests on one of its 16 positions and the cups read 0 m/s."""
    calm = [make_reading("wind_ms", 0.0), make_reading("wind_dir_deg", 225.0)]
    flags = _reports(QualityChecker(), "weather", calm, 15 * MINUTE, 4 * 30)
    assert all(f == [] for f in flags)


def test_fog_at_full_humidity_is_not_stuck_but_a_frozen_humidity_is():
    """100 % RH is the sensor's bound, where fog holds it for hours; 63.20 % for 7 hours is frozen."""
    fog = _reports(QualityChecker(), "weather", [make_reading("rh_pct", 100.0)], 10 * MINUTE, 6 * 12)
    frozen = _reports(QualityChecker(), "weather", [make_reading("rh_pct", 63.2)], 10 * MINUTE, 6 * 7)
    assert all(f == [] for f in fog)
    assert frozen[-1] == ["stuck:rh_pct"] and frozen[6 * 6 - 1] == []


def test_soil_moisture_is_stuck_after_a_day_and_deep_soil_temperature_never():
    """A probe that repeats 23.40 % for over a day is stuck; a DS18B20 at 60 cm, below the daily
    temperature wave, may read the same for three days; at 10 cm the same day-long repeat is stuck.
    The flag names the depth."""
    check = QualityChecker()
    readings = [make_reading("vwc_pct", 23.4, depth_cm=10), make_reading("soil_temp_c", 17.5, depth_cm=10),
                make_reading("soil_temp_c", 16.25, depth_cm=60)]
    flags = _reports(check, "soil", readings, HOUR, 3 * 24)
    assert flags[23] == [] and flags[24] == ["stuck:soil_temp_c@10", "stuck:vwc_pct@10"]
    assert stuck_window("soil_temp_c", 60) is None and stuck_window("soil_temp_c", 10) == timedelta(hours=24)


def test_a_backlog_is_judged_by_the_nodes_time_not_its_arrival():
    """A day and a half of hourly reports replayed at once after an outage: still stuck by node time."""
    flags = _reports(QualityChecker(), "soil", [make_reading("vwc_pct", 30.0, depth_cm=30)], HOUR, 36,
                     arrive_at=T0 + 40 * HOUR)
    assert flags[-1] == ["stuck:vwc_pct@30"]


def test_two_reports_are_never_enough():
    """A node reporting twice a day is not stuck after two equal values, however far apart."""
    flags = _reports(QualityChecker(), "soil", [make_reading("vwc_pct", 30.0, depth_cm=30)], 30 * HOUR, 2)
    assert flags == [[], []]


def test_a_value_that_moves_resets_the_window():
    """Equal values broken by one change start over: 20 h, a change, 20 h more is not stuck."""
    check = QualityChecker()
    first = _reports(check, "soil", [make_reading("vwc_pct", 30.0, depth_cm=30)], HOUR, 20)
    moved = check(make_uplink(node="n1", role="soil", seq=20, ts_ms=T0 + 20 * HOUR,
                              readings=[make_reading("vwc_pct", 29.99, depth_cm=30)], fw="0.1.0"), T0 + 20 * HOUR)
    again = [check(make_uplink(node="n1", role="soil", seq=21 + i, ts_ms=T0 + (21 + i) * HOUR,
                               readings=[make_reading("vwc_pct", 30.0, depth_cm=30)], fw="0.1.0"),
                   T0 + (21 + i) * HOUR) for i in range(20)]
    assert all(f == [] for f in [*first, moved, *again])


def test_the_cloud_blames_only_the_sensor_the_flag_names():
    """A stuck flag naming vwc_pct@30 makes a fault of the 30 cm probe, not of the node's other depths;
    an older gateway's bare "stuck:vwc_pct" still holds for each depth."""
    def reading(depth: int, flags: tuple[str, ...]) -> Reading:
        return Reading(site="s", gateway="g", node="soil-01", role="soil", measurement="vwc_pct", unit="%",
                       depth_cm=depth, channel=None, value=30.0, fault=None, seq=1, ts_ms=T0, flags=flags)

    assert sensor_faults([reading(10, ()), reading(30, ("stuck:vwc_pct@30",))]) == (
        SensorFault("vwc_pct@30", "stuck", 30.0, "%"),)
    assert [f.sensor for f in sensor_faults([reading(10, ("stuck:vwc_pct",)), reading(30, ("stuck:vwc_pct",))])] == [
        "vwc_pct@10", "vwc_pct@30"]


def test_a_reflectance_pair_in_the_dark_is_no_sensor_fault_but_its_cut_cable_is():
    """A reflectance pair says not_ready every night (too little light for a ratio): no fault; the same pair's
    disconnected head, and not_ready from any other sensor, are faults."""
    def reading(measurement: str, fault: str) -> Reading:
        return Reading(site="s", gateway="g", node="weather-01", role="weather", measurement=measurement, unit="",
                       depth_cm=None, channel=None, value=None, fault=fault, seq=1, ts_ms=T0, flags=())

    night = [reading(m, "not_ready") for m in ("red_refl", "nir_refl", "ndvi")]
    assert sensor_faults(night) == ()
    assert sensor_faults([reading("ndvi", "disconnected"), reading("air_temp_c", "not_ready")]) == (
        SensorFault("air_temp_c", "not_ready"), SensorFault("ndvi", "disconnected"))
