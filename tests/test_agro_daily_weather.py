"""The service's weather rules: hourly means to the daily inputs of FAO-56 eq. 6 with the coverage
rules, and the file forecast source."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from furrow.cloud.planning.balance import BalanceRow, etc_ahead_mm
from furrow.cloud.planning.weather import daily_rain, daily_weather, hourly_means

D = date(2026, 7, 6)
UTC = ZoneInfo("UTC")


def _hours(n: int, value) -> dict:
    return {(D, h): value(h) for h in range(n)}


def test_a_full_day_gives_every_input():
    """24 hours of each: Tmin/Tmax and RHmin/RHmax are the extremes, wind the mean, Rs = mean W/m² x 0.0864."""
    hourly = {"air_temp_c": _hours(24, lambda h: 10.0 + h / 2), "rh_pct": _hours(24, lambda h: 90.0 - h),
              "wind_ms": _hours(24, lambda h: 1.0 + (h % 2)), "rs_w_m2": _hours(24, lambda h: 250.0)}
    (day,) = daily_weather([D], hourly, {D: 3.5})
    w = day.weather
    assert (w.tmin_c, w.tmax_c, w.rh_min_pct, w.rh_max_pct) == (10.0, 21.5, 67.0, 90.0)
    assert w.wind_ms == 1.5 and abs(w.rs_mj_m2 - 21.6) < 1e-9 and day.rain_mm == 3.5 and day.notes == ()


def test_sparse_hours_fall_back_to_the_missing_data_rules():
    """17 h of temperature: no ET0 inputs at all; 20 h of temperature but 10 h of RH and 23 h of sun:
    humidity and radiation are left missing (eq. 48 and eq. 50 then apply), each noted."""
    (few,) = daily_weather([D], {"air_temp_c": _hours(17, lambda h: 15.0)}, None)
    assert few.weather is None and few.rain_mm is None and "no ET0" in few.notes[0]
    hourly = {"air_temp_c": _hours(20, lambda h: 15.0 + h), "rh_pct": _hours(10, lambda h: 60.0),
              "rs_w_m2": _hours(23, lambda h: 300.0)}
    (day,) = daily_weather([D], hourly, {})
    w = day.weather
    assert w.rh_min_pct is None and w.rh_max_pct is None and w.rs_mj_m2 is None and w.wind_ms is None
    assert len(day.notes) == 2 and day.rain_mm == 0.0


def test_nodes_are_averaged_hour_by_hour_and_rain_gauges_by_total():
    """Two nodes in the same hour average; two gauges' day totals (4 and 6 mm) average to 5 mm."""
    t = int(datetime(2026, 7, 6, 10, tzinfo=UTC).timestamp() * 1000)
    assert hourly_means([("a", t, 10.0), ("b", t, 14.0)], UTC) == {(D, 10): 12.0}
    assert daily_rain([("a", t, 1.0), ("a", t + 3_600_000, 3.0), ("b", t, 6.0)], UTC) == {D: 5.0}


def test_the_service_balance_stages_by_degree_days_and_carries_et0():
    """stages_in gdd (base 10 °C, 10-20 °C days = 5 GDD each, L 5/10/...): day 1 initial (Kc 0.3),
    day 2 half-way through development (Kc 0.75); a day without temperatures carries the ET0 of the
    day before and says so; no rain gauge gives rain 0, recorded."""
    from datetime import timedelta

    from furrow.cloud.agronomy.et0 import DailyWeather
    from furrow.cloud.agronomy.zone import ZoneConfig
    from furrow.cloud.planning.balance import balance_rows
    from furrow.cloud.planning.weather import DayWeather

    config = ZoneConfig.model_validate({
        "site": {"latitude_deg": 41.6, "elevation_m": 0}, "soil": {"theta_fc": 0.3, "theta_wp": 0.15},
        "crop": {"planting": D, "l_ini": 5, "l_dev": 10, "l_mid": 30, "l_late": 20, "kc_ini": 0.3, "kc_mid": 1.2,
                 "kc_end": 0.4, "root_depth_m": 0.6, "stages_in": "gdd", "gdd_base_c": 10.0},
        "irrigation": {"precipitation_rate_mm_h": 10.0}})
    days = [DayWeather(D + timedelta(days=i), DailyWeather(D + timedelta(days=i), 10.0, 20.0), None)
            for i in range(2)] + [DayWeather(D + timedelta(days=2), None, None)]
    rows = balance_rows(config, True, days, {}, {}, has_gauge=False)
    assert [r.gdd_cum for r in rows[:2]] == [5.0, 10.0] and [r.stage for r in rows[:2]] == ["initial", "development"]
    assert rows[0].kc == 0.3 and rows[1].kc == 0.75
    assert rows[2].et0_mm == rows[1].et0_mm and "et0 carried from 2026-07-07" in rows[2].source
    assert all("no rain gauge: rain 0" in r.source for r in rows) and rows[0].rain_mm is None
    assert "start: field capacity assumed" in rows[0].source and rows[0].depletion_mm == rows[0].etc_mm


def test_the_latitude_comes_from_the_weather_nodes_first_and_is_never_invented():
    """locate(): the balance's weather node wins over a located zone node, a zone node over a site node;
    with no located node there is no location (no default latitude of 0)."""
    from furrow.cloud.planning.inputs import locate
    from furrow.cloud.registry.models import NodeOut

    def node(i: str, role: str, lat: float | None) -> NodeOut:
        return NodeOut(id=i, role=role, zone_id="z1", lat=lat, lon=None if lat is None else 1.0)

    soil, wx, far = node("soil-01", "soil", 10.0), node("wx-01", "weather", 45.0), node("wx-09", "weather", 50.0)
    assert locate(["wx-01"], [soil, wx], []).lat == 45.0
    assert locate(["wx-09"], [soil], [far]).source == "weather node wx-09 (50, 1.0)"
    assert locate(["wx-02"], [soil, node("wx-02", "weather", None)], []).source == "zone node soil-01 (10, 1.0)"
    assert locate([], [node("soil-03", "soil", None)], [far]).source == "site node wx-09 (50, 1.0)"
    assert locate(["wx-02"], [node("wx-02", "weather", None)], []) is None


def _row(day: int, et0: float, kc: float):
    return BalanceRow(date=f"2026-06-{day:02d}", et0_mm=et0, kc=kc, etc_mm=round(et0 * kc, 2), rain_mm=0.0,
                      effective_rain_mm=0.0, irrigation_mm=0.0, depletion_mm=10.0, taw_mm=90.0, raw_mm=45.0, ks=1.0,
                      gdd_cum=None, stage="development", probe_correction_mm=None, source="test")


def test_the_etc_bound_is_the_et0_spread_times_todays_kc_so_a_kc_step_does_not_inflate_it():
    """Fourteen days of steady 5 mm ET0 with Kc stepping from 0.4 to 1.0 a week ago (a new canopy
    cover measurement): the bound is 5 x 1.0 = 5 mm, where mean + 3 sd of the ETc series gave 8 mm
    (3.5 + 3 x 1.5, the step read as variability); a varying ET0 still widens it."""
    step = [_row(d, 5.0, 0.4) for d in range(1, 8)] + [_row(d, 5.0, 1.0) for d in range(8, 15)]
    assert etc_ahead_mm(step) == pytest.approx(5.0)
    etc = [r.etc_mm for r in step]
    mean = sum(etc) / len(etc)
    sd = (sum((v - mean) ** 2 for v in etc) / len(etc)) ** 0.5
    assert mean + 3 * sd == pytest.approx(8.0)  # the bound of the ETc series, as it was
    swing = [_row(d, 4.0 if d % 2 else 6.0, 1.0) for d in range(1, 15)]  # ET0 mean 5, sd 1
    assert etc_ahead_mm(swing) == pytest.approx(8.0)
    assert etc_ahead_mm([]) is None
