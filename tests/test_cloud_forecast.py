"""Forecasts (cloud/planning/forecast.py, open_meteo.py, forecasts.py): Open-Meteo against a local server
answering in its documented format, the file provider, storage, fallbacks, and the planner's rain."""

from __future__ import annotations

import json
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from furrow.cloud.db import Database, ForecastRow
from furrow.cloud.planning.forecast import (
    FileForecast,
    ForecastDay,
    ForecastUnavailable,
    RainWindow,
    WeatherForecast,
    Where,
    extremes_ahead,
    rain_ahead,
)
from furrow.cloud.planning.forecasts import ForecastService
from furrow.cloud.planning.open_meteo import OpenMeteoForecast
from tests.forecast_support import fake_open_meteo, open_meteo_body

TZ = ZoneInfo("Europe/Madrid")
MIDNIGHT = datetime(2026, 7, 6, tzinfo=TZ)
NOW = int(MIDNIGHT.timestamp() * 1000) + 22 * 3_600_000  # 22:00 local, planning for the night
WHERE = Where("s1", "z1", 41.65, -0.88, TZ)
DAYS = [{"tmin": 14.0, "tmax": 31.0, "rain": 0.0, "prob": 5, "et0": 6.1},
        {"tmin": 12.5, "tmax": 36.4, "rain": 9.0, "prob": 80, "et0": 5.2},
        {"tmin": 0.4, "tmax": 22.0, "rain": 1.0, "prob": 30, "et0": 3.0}]
# 9 mm tomorrow: 6 mm at 03:00 (hour 27 from today's midnight, 80 %), 3 mm at 23:00 (hour 47, 60 %)
RAIN = {27: (6.0, 80), 47: (3.0, 60)}


@pytest.fixture
def db(tmp_path) -> Database:
    d = Database(f"sqlite:///{tmp_path}/f.db")
    d.migrate()
    yield d
    d.dispose()


async def test_open_meteo_documented_answer_is_read():
    """The request asks for the daily and hourly variables in the site's time zone, Unix times; the answer's
    days (min/max, rain, probability, ET0) and hours are read, in mm, °C and 0..1."""
    with fake_open_meteo() as fake:
        fake.body = open_meteo_body(MIDNIGHT, DAYS, RAIN)
        f = await OpenMeteoForecast(fake.url, timeout_s=5).forecast(WHERE, NOW)
    (q,) = fake.requests
    assert q["timezone"] == ["Europe/Madrid"] and q["timeformat"] == ["unixtime"] and q["latitude"] == ["41.6500"]
    assert q["daily"][0].split(",") == ["temperature_2m_min", "temperature_2m_max", "precipitation_sum",
                                        "precipitation_probability_max", "et0_fao_evapotranspiration"]
    assert [d.day for d in f.days] == [date(2026, 7, 6), date(2026, 7, 7), date(2026, 7, 8)]
    assert f.days[1] == ForecastDay(date(2026, 7, 7), 12.5, 36.4, 9.0, 0.8, 5.2)
    assert len(f.hours) == 72 and f.provider == "open-meteo" and f.request.startswith(fake.url + "/v1/forecast?")


@pytest.mark.parametrize(("status", "raw", "body", "delay_s", "reason"), [
    (503, None, {"error": True, "reason": "overloaded"}, 0, "HTTP 503: overloaded"),
    (400, None, {"error": True, "reason": "Latitude must be in range of -90 to 90°."}, 0, "HTTP 400: Latitude"),
    (200, b"<html>proxy error</html>", None, 0, "not JSON"),
    (200, None, {"daily": {"time": [1, 2], "temperature_2m_min": [1.0]}}, 0, "not an array as long"),
    (200, None, {"daily": {"time": [1], "precipitation_sum": [1.0]}, "daily_units": {"precipitation_sum": "inch"}},
     0, "unexpected unit"),
    (200, None, {"daily": {"time": [1], "temperature_2m_max": [1e9]}}, 0, "outside"),
    (200, None, {"daily": {"time": [1]}}, 1.5, "did not answer within 0.5 s"),
])
async def test_open_meteo_failures_are_named(status, raw, body, delay_s, reason):
    """A 5xx, a 400 with Open-Meteo's reason, a body that is not JSON, arrays of different lengths, a foreign
    unit, an impossible value and a timeout each raise ForecastUnavailable saying which."""
    with fake_open_meteo() as fake:
        fake.status, fake.raw, fake.body, fake.delay_s = status, raw, body, delay_s
        with pytest.raises(ForecastUnavailable, match=reason):
            await OpenMeteoForecast(fake.url, timeout_s=0.5).forecast(WHERE, NOW)


async def test_open_meteo_unreachable_is_named():
    """Nothing listening on the port: ForecastUnavailable, unreachable."""
    with fake_open_meteo() as fake:
        url = fake.url
    with pytest.raises(ForecastUnavailable, match="unreachable"):
        await OpenMeteoForecast(url, timeout_s=1).forecast(WHERE, NOW)


async def test_stored_once_reused_then_fallback_then_stale(db):
    """A fetched forecast is stored and its id named; within the refresh time it is not asked again; when the
    provider fails the stored one is used, saying so, until it is older than max_age; then no forecast."""
    clock = [NOW]
    with fake_open_meteo() as fake:
        fake.body = open_meteo_body(MIDNIGHT, DAYS, RAIN)
        service = ForecastService(OpenMeteoForecast(fake.url, timeout_s=1), db, lambda: clock[0], refresh_s=3600,
                                  max_age_s=6 * 3600)
        first = await service.current(WHERE)
        assert first.forecast_id is not None and first.source.startswith(f"open-meteo, forecast #{first.forecast_id}")
        assert (await service.current(WHERE)).forecast_id == first.forecast_id and len(fake.requests) == 1
        clock[0] += 2 * 3600_000
        fake.status, fake.body = 500, {"error": True, "reason": "down"}
        fallback = await service.current(WHERE)
        assert fallback.forecast_id == first.forecast_id and fallback.forecast.days == first.forecast.days
        assert "stored forecast" in fallback.source and "now: Open-Meteo answered HTTP 500: down" in fallback.source
        clock[0] += 5 * 3600_000
        gone = await service.current(WHERE)
        assert gone.forecast is None and gone.source == "absent: Open-Meteo answered HTTP 500: down"
    rows = await db.run(lambda s: list(s.scalars(select(ForecastRow))))
    assert len(rows) == 1 and rows[0].days[1]["rain_mm"] == 9.0 and len(rows[0].hours) == 72


async def test_file_provider_entries_days_and_staleness(tmp_path, db):
    """A zone's entry wins over its site's; days are read; an entry whose window and days are past is out of
    date; a bad or missing file is named; an unchanged file is stored once."""
    path = tmp_path / "f.json"
    issued = NOW - 1000
    path.write_text(json.dumps({"sites": {"s1": {"rain_mm": 10, "issued_ms": issued}},
                                "zones": {"z1": {"issued_ms": issued, "days": [
                                    {"date": "2026-07-07", "tmin_c": -1.0, "tmax_c": 20.0, "rain_mm": 4.0,
                                     "rain_probability": 0.5}]}}}))
    src = FileForecast(path)
    z1 = await src.forecast(WHERE, NOW)
    assert z1.provider == "file f.json (zone z1)" and z1.days[0].tmin_c == -1.0 and z1.window is None
    z2 = await src.forecast(Where("s1", "z2", None, None, TZ), NOW)
    assert z2.window == RainWindow(10, 1.0, 24)
    with pytest.raises(ForecastUnavailable, match="out of date"):
        await src.forecast(WHERE, NOW + 3 * 86_400_000)
    service = ForecastService(src, db, lambda: NOW, refresh_s=0)
    a, b = await service.current(WHERE), await service.current(WHERE)
    assert a.forecast_id == b.forecast_id
    path.write_text("{not json")
    assert "unreadable" in (await ForecastService(src, db, lambda: NOW + 7 * 86_400_000).current(WHERE)).source
    path.unlink()
    with pytest.raises(ForecastUnavailable, match="does not exist"):
        await src.forecast(WHERE, NOW)


def test_rain_ahead_from_a_window_hours_or_days():
    """A stated window is used as stated; hours are summed over (now, now + 24 h] with their highest
    probability; days alone count from tomorrow (today's total holds hours the gauge measured)."""
    days = tuple(ForecastDay(date(2026, 7, 6 + i), d["tmin"], d["tmax"], d["rain"], d["prob"] / 100, d["et0"])
                 for i, d in enumerate(DAYS))
    start = int(MIDNIGHT.timestamp() * 1000)
    hours = tuple((start + h * 3_600_000, mm, p / 100) for h, (mm, p) in RAIN.items())
    f = WeatherForecast("open-meteo", "u", NOW, days=days, hours=hours)
    by_hours = rain_ahead(f, NOW, TZ)
    # 23:00 tomorrow is past now + 24 h
    assert (by_hours.rain_mm, by_hours.probability, by_hours.horizon_h) == (6.0, 0.8, 24)
    by_days = rain_ahead(WeatherForecast("file", "p", NOW, days=days), NOW, TZ)
    assert (by_days.rain_mm, by_days.probability) == (9.0, 0.8)
    stated = rain_ahead(WeatherForecast("file", "p", NOW, days=days, window=RainWindow(3, 0.5, 12)), NOW, TZ)
    assert (stated.rain_mm, stated.probability, stated.horizon_h) == (3, 0.5, 12)
    assert rain_ahead(WeatherForecast("file", "p", NOW), NOW, TZ) is None


def test_extremes_ahead_over_today_and_tomorrow():
    """Frost and heat look at today and tomorrow: the lowest minimum and highest maximum, with their days."""
    days = tuple(ForecastDay(date(2026, 7, 6 + i), d["tmin"], d["tmax"]) for i, d in enumerate(DAYS))
    e = extremes_ahead(WeatherForecast("x", "y", NOW, days=days), date(2026, 7, 6))
    assert (e.tmin_c, e.tmin_day, e.tmax_c, e.tmax_day) == (12.5, date(2026, 7, 7), 36.4, date(2026, 7, 7))
    e3 = extremes_ahead(WeatherForecast("x", "y", NOW, days=days), date(2026, 7, 6), days=3)
    assert (e3.tmin_c, e3.tmin_day) == (0.4, date(2026, 7, 8))


async def test_the_planner_cuts_for_open_meteo_rain_and_plans_on_when_it_fails(tmp_path):
    """A dry zone (it would irrigate) with Open-Meteo forecasting 50 mm at 90 % tonight: rule rain-forecast, only
    what keeps the zone within MAD until the next night applied (9.3 mm of a 43.2 mm refill), the decision naming
    the provider and the stored forecast's id, the forecast kept; with the provider down and nothing stored, the
    plan is made without a forecast (the whole refill), saying why."""
    from tests.cloud_support import local_settings, running_app
    from tests.test_cloud_planning import JAN4_23H, _weather_farm

    utc = ZoneInfo("UTC")
    midnight = datetime(2026, 1, 4, tzinfo=utc)
    with fake_open_meteo() as fake:
        fake.body = open_meteo_body(midnight, DAYS, {26: (50.0, 90)})
        settings = local_settings(tmp_path, forecast_provider="open-meteo", forecast_url=fake.url,
                                  forecast_timeout_s=2)
        async with running_app(settings) as c:
            await _weather_farm(c)
            d = (await c.post("/api/v1/zones/z1/plan")).json()
            assert (d["action"], d["rule"]) == ("irrigate", "rain-forecast"), d["explanation"]
            assert "45.0 mm of rain expected within 24 h (open-meteo) covers the 43.2 mm needed; 9.3 mm is applied" \
                in d["explanation"]
            sources = d["inputs"]["sources"]
            assert sources["forecast"].startswith(f"open-meteo, forecast #{sources['forecast_id']} fetched")
            assert d["inputs"]["forecast"] == {"rain_mm": 50.0, "probability": 0.9, "horizon_h": 24,
                                               "source": "open-meteo"}
            assert fake.requests[0]["latitude"] == ["41.6500"] and fake.requests[0]["timezone"] == ["UTC"]
            row = await c.app.state.services.db.run(lambda s: s.get(ForecastRow, sources["forecast_id"]))
            assert row.provider == "open-meteo" and row.fetched_ms == JAN4_23H

    async with running_app(local_settings(tmp_path / "down", forecast_provider="open-meteo",
                                          forecast_url=fake.url, forecast_timeout_s=1)) as c:
        await _weather_farm(c)
        d = (await c.post("/api/v1/zones/z1/plan")).json()
        assert (d["action"], d["rule"]) == ("irrigate", "mad-reached")
        assert d["inputs"]["sources"]["forecast"].startswith("absent: Open-Meteo "
                                                                                          "unreachable")


async def test_frost_and_heat_alerts_look_ahead_at_the_forecast(tmp_path):
    """No weather node reads anything cold, but the site's forecast says -1.5 °C tomorrow and 38.2 °C the day
    after tomorrow: a frost warning naming the day and the forecast (heat is beyond the two days looked at);
    the texts are message keys the catalogues hold."""
    from tests.cloud_support import local_settings, running_app

    now = int(datetime(2026, 3, 2, 12, tzinfo=ZoneInfo("UTC")).timestamp() * 1000)
    path = tmp_path / "forecast.json"
    path.write_text(json.dumps({"sites": {"s1": {"issued_ms": now - 3_600_000, "days": [
        {"date": "2026-03-02", "tmin_c": 3.0, "tmax_c": 15.0}, {"date": "2026-03-03", "tmin_c": -1.5, "tmax_c": 12.0},
        {"date": "2026-03-04", "tmin_c": 5.0, "tmax_c": 38.2}]}}}))
    async with running_app(local_settings(tmp_path, forecast_file=path), clock=lambda: now) as c:
        r = await c.post("/api/v1/registry/sites", json={"id": "s1", "name": "Farm", "timezone": "UTC", "lat": 41.6,
                                                         "lon": -0.9})
        assert r.status_code == 201, r.text
        assert (await c.post("/api/v1/alerts/evaluate")).status_code == 200
        (frost,) = (await c.get("/api/v1/alerts")).json()
        assert (frost["kind"], frost["subject"], frost["severity"]) == ("frost", "s1", "warning")
        assert frost["message"] == ("minimum -1.5 °C forecast for 2026-03-03 (file forecast.json (site s1), "
                                    "forecast #1 fetched 2026-03-02 12:00 UTC)")
        assert frost["message_key"] == "alert.frost-forecast"


async def test_a_forecast_issued_too_long_ago_is_stale(tmp_path, db):
    """A file whose days still lie ahead but that was issued two days ago (the farm's script stopped) is not
    used: the source says it is stale, and nothing is stored."""
    path = tmp_path / "f.json"
    path.write_text(json.dumps({"sites": {"s1": {"issued_ms": NOW - 2 * 86_400_000, "days": [
        {"date": "2026-07-07", "rain_mm": 20.0, "rain_probability": 0.9}]}}}))
    got = await ForecastService(FileForecast(path), db, lambda: NOW, refresh_s=0, max_age_s=86_400).current(
        Where("s1", None, None, None, TZ))
    assert got.forecast is None and got.source.endswith("more than 24 h ago: stale")
    assert await db.run(lambda s: list(s.scalars(select(ForecastRow)))) == []
