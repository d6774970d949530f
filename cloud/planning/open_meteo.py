"""Open-Meteo's forecast API as a forecast provider (free, no key; a self-hosted instance by base URL).

One GET per place: ``{base}/v1/forecast?latitude=&longitude=&timezone=<IANA>&timeformat=unixtime
&forecast_days=N&daily=temperature_2m_min,temperature_2m_max,precipitation_sum,
precipitation_probability_max,et0_fao_evapotranspiration&hourly=precipitation,
precipitation_probability``. The answer (Open-Meteo's documented shape) holds ``daily`` and
``hourly`` objects of parallel arrays keyed by variable, with ``time`` in Unix seconds (a day's
time is its local midnight in the asked time zone), units in ``daily_units``/``hourly_units``
(mm, °C), and ``generationtime_ms``; an error is HTTP 400 with ``{"error": true, "reason"}``.

Every failure becomes ForecastUnavailable with its reason: a timeout, a connection refused, an
HTTP error status (its ``reason`` when the body has one), a body that is not JSON, arrays of
different lengths, a unit other than mm or °C, a value outside physical bounds.
"""

from __future__ import annotations

import math
from datetime import datetime
from urllib.parse import urlencode

import httpx

from .forecast import ForecastDay, ForecastUnavailable, WeatherForecast, Where

DAILY = ("temperature_2m_min", "temperature_2m_max", "precipitation_sum", "precipitation_probability_max",
         "et0_fao_evapotranspiration")
HOURLY = ("precipitation", "precipitation_probability")
UNITS = {"temperature_2m_min": "°C", "temperature_2m_max": "°C", "precipitation_sum": "mm",
         "et0_fao_evapotranspiration": "mm", "precipitation": "mm", "precipitation_probability": "%",
         "precipitation_probability_max": "%"}
BOUNDS = {"temperature_2m_min": (-90.0, 70.0), "temperature_2m_max": (-90.0, 70.0),
          "precipitation_sum": (0.0, 2000.0), "et0_fao_evapotranspiration": (0.0, 30.0), "precipitation": (0.0, 500.0),
          "precipitation_probability": (0.0, 100.0), "precipitation_probability_max": (0.0, 100.0)}
DEFAULT_BASE_URL = "https://api.open-meteo.com"


def _series(body: dict, block: str, names: tuple[str, ...]) -> tuple[list[int], dict[str, list[float | None]]]:
    part = body.get(block)
    if not isinstance(part, dict) or not isinstance(part.get("time"), list):
        raise ForecastUnavailable(f"malformed answer: no {block}.time array")
    times = part["time"]
    if not all(isinstance(t, int) and not isinstance(t, bool) for t in times):
        raise ForecastUnavailable(f"malformed answer: {block}.time must hold Unix seconds (timeformat=unixtime)")
    units = body.get(f"{block}_units") or {}
    out: dict[str, list[float | None]] = {}
    for name in names:
        values = part.get(name)
        if values is None:
            out[name] = [None] * len(times)
            continue
        if not isinstance(values, list) or len(values) != len(times):
            raise ForecastUnavailable(f"malformed answer: {block}.{name} is not an array as long as {block}.time")
        if name in units and units[name] != UNITS[name]:
            raise ForecastUnavailable(f"unexpected unit {units[name]!r} for {block}.{name} (want {UNITS[name]})")
        lo, hi = BOUNDS[name]
        clean: list[float | None] = []
        for v in values:
            if v is not None and (isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v)
                                  or not lo <= v <= hi):
                raise ForecastUnavailable(f"malformed answer: {block}.{name} holds {v!r}, outside {lo:g}..{hi:g}")
            clean.append(None if v is None else float(v))
        out[name] = clean
    return times, out


def parse(body: object, where: Where, request: str, fetched_ms: int) -> WeatherForecast:
    """An Open-Meteo answer (parsed JSON) to a WeatherForecast; ForecastUnavailable when it is not one."""
    if not isinstance(body, dict):
        raise ForecastUnavailable("malformed answer: not a JSON object")
    if body.get("error"):
        raise ForecastUnavailable(f"Open-Meteo refused: {str(body.get('reason'))[:200]}")
    day_times, daily = _series(body, "daily", DAILY)
    hour_times, hourly = _series(body, "hourly", HOURLY) if "hourly" in body else ([], {})
    days = []
    for i, t in enumerate(day_times):
        prob = daily["precipitation_probability_max"][i]
        days.append(ForecastDay(day=datetime.fromtimestamp(t, where.tz).date(),
                                tmin_c=daily["temperature_2m_min"][i], tmax_c=daily["temperature_2m_max"][i],
                                rain_mm=daily["precipitation_sum"][i],
                                rain_probability=None if prob is None else prob / 100,
                                et0_mm=daily["et0_fao_evapotranspiration"][i]))
    hours = []
    for i, t in enumerate(hour_times):
        mm, prob = hourly["precipitation"][i], hourly["precipitation_probability"][i]
        if mm is not None:
            hours.append((t * 1000, mm, None if prob is None else prob / 100))
    lat, lon = body.get("latitude"), body.get("longitude")
    return WeatherForecast(provider="open-meteo", request=request, issued_ms=fetched_ms, days=tuple(days),
                           hours=tuple(hours), lat=lat if isinstance(lat, int | float) else None,
                           lon=lon if isinstance(lon, int | float) else None,
                           extra={"elevation": body.get("elevation"), "timezone": body.get("timezone")})


class OpenMeteoForecast:
    """The provider; `base_url` is Open-Meteo's or a self-hosted instance's (same API)."""

    name = "open-meteo"

    def __init__(self, base_url: str = DEFAULT_BASE_URL, timeout_s: float = 5.0, days: int = 3,
                 client: httpx.AsyncClient | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.days = days
        self._client = client

    def url(self, where: Where) -> str:
        assert where.lat is not None and where.lon is not None
        query = {"latitude": f"{where.lat:.4f}", "longitude": f"{where.lon:.4f}", "timezone": where.tz.key,
                 "timeformat": "unixtime", "forecast_days": self.days, "daily": ",".join(DAILY),
                 "hourly": ",".join(HOURLY)}
        return f"{self.base_url}/v1/forecast?{urlencode(query)}"

    async def forecast(self, where: Where, now_ms: int) -> WeatherForecast | None:
        if where.lat is None or where.lon is None:
            raise ForecastUnavailable("the site has no latitude and longitude to ask Open-Meteo for")
        url = self.url(where)
        try:
            if self._client is not None:
                r = await self._client.get(url, timeout=self.timeout_s)
            else:
                async with httpx.AsyncClient() as client:
                    r = await client.get(url, timeout=self.timeout_s)
        except httpx.TimeoutException:
            raise ForecastUnavailable(f"Open-Meteo did not answer within {self.timeout_s:g} s") from None
        except httpx.HTTPError as e:
            raise ForecastUnavailable(f"Open-Meteo unreachable: {type(e).__name__}: {e}"[:200]) from None
        try:
            body = r.json()
        except ValueError:
            body = None
        if r.status_code != 200:
            reason = body.get("reason") if isinstance(body, dict) else None
            said = f": {str(reason)[:200]}" if reason else ""
            raise ForecastUnavailable(f"Open-Meteo answered HTTP {r.status_code}{said}")
        if body is None:
            raise ForecastUnavailable("malformed answer: not JSON")
        return parse(body, where, url, now_ms)
