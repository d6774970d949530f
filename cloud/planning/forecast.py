"""Weather forecasts for the planner and the alerts: what a provider gives, and the providers.

A provider (`ForecastProvider`) answers, for a place, the days ahead (`ForecastDay`: minimum and
maximum temperature, rain, its probability, ET0 where the provider gives it) and, where it has
them, the hours' rain. Providers here: `NoForecast` (the default, and what offline means), a JSON
`FileForecast` a farm's own script keeps up to date (the HIL farm writes one), and Open-Meteo
(open_meteo.py). A provider that fails raises ForecastUnavailable with the reason; forecasts.py
stores each forecast, falls back to the newest stored one while it is fresh, and never lets a
failure stop a plan.

`rain_ahead` turns a forecast into the planner's `Forecast` (agronomy/planner.py): the rain
expected over the planning horizon and its probability.
"""

from __future__ import annotations

import asyncio
import json
import math
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..agronomy.planner import Forecast

HOUR_MS = 3_600_000


class ForecastUnavailable(Exception):
    """A provider could not give a forecast: `reason` says why (timeout, HTTP 503, malformed ...)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Where:
    """The place and time zone a forecast is asked for; zone_id and site_id pick a file's entry."""

    site_id: str
    zone_id: str | None
    lat: float | None
    lon: float | None
    tz: ZoneInfo


@dataclass(frozen=True)
class ForecastDay:
    """One local day ahead. None where the provider gives no value."""

    day: date
    tmin_c: float | None = None
    tmax_c: float | None = None
    rain_mm: float | None = None
    rain_probability: float | None = None
    """0..1: the chance of rain that day (Open-Meteo's precipitation_probability_max / 100)."""
    et0_mm: float | None = None

    def record(self) -> dict[str, object]:
        return {"date": self.day.isoformat(), "tmin_c": self.tmin_c, "tmax_c": self.tmax_c, "rain_mm": self.rain_mm,
                "rain_probability": self.rain_probability, "et0_mm": self.et0_mm}


@dataclass(frozen=True)
class RainWindow:
    """Rain a provider states for a window from its issue time (the file's rain_mm, probability, horizon_h)."""

    rain_mm: float
    probability: float
    horizon_h: int


@dataclass(frozen=True)
class WeatherForecast:
    """What one provider said, when; `hours` are (start ms, rain mm, probability 0..1 or None)."""

    provider: str
    request: str
    issued_ms: int | None
    days: tuple[ForecastDay, ...] = ()
    hours: tuple[tuple[int, float, float | None], ...] = ()
    window: RainWindow | None = None
    lat: float | None = None
    lon: float | None = None
    extra: dict[str, object] = field(default_factory=dict)


class ForecastProvider(Protocol):
    """A source of forecasts; `name` goes into every decision that uses one."""

    name: str

    async def forecast(self, where: Where, now_ms: int) -> WeatherForecast | None:
        """The forecast for `where` (None: this provider has none for it); ForecastUnavailable on failure."""
        ...


class NoForecast:
    """No forecast configured: the planner decides from measured water only."""

    name = "none"

    async def forecast(self, where: Where, now_ms: int) -> WeatherForecast | None:
        return None


class _Day(BaseModel):
    model_config = ConfigDict(extra="forbid")

    date: date
    tmin_c: float | None = Field(default=None, ge=-80, le=70)
    tmax_c: float | None = Field(default=None, ge=-80, le=70)
    rain_mm: float | None = Field(default=None, ge=0, le=1000)
    rain_probability: float | None = Field(default=None, ge=0, le=1)
    et0_mm: float | None = Field(default=None, ge=0, le=30)


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    issued_ms: int = Field(ge=0, description="when the forecast was made (Unix ms)")
    rain_mm: float | None = Field(default=None, ge=0, le=1000)
    probability: float = Field(default=1.0, ge=0, le=1)
    horizon_h: int = Field(default=24, ge=1, le=240)
    days: list[_Day] = Field(default=[], max_length=16)


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")

    zones: dict[str, _Entry] = {}
    sites: dict[str, _Entry] = {}


class FileForecast:
    """A JSON file: {"sites": {"s1": ENTRY}, "zones": {"z1": ENTRY}}; a zone's entry wins over its
    site's. ENTRY = {"issued_ms", "rain_mm"?, "probability"?, "horizon_h"?, "days"?: [{"date",
    "tmin_c", "tmax_c", "rain_mm", "rain_probability", "et0_mm"}]}: a stated rain window, the days
    ahead, or both. Re-read on every request; an entry whose window has passed and whose days are
    all past is out of date."""

    name = "file"

    def __init__(self, path: Path) -> None:
        self.path = path

    async def forecast(self, where: Where, now_ms: int) -> WeatherForecast | None:
        try:
            data = _File.model_validate(json.loads(await asyncio.to_thread(self.path.read_text)))
        except FileNotFoundError:
            raise ForecastUnavailable(f"forecast file {self.path} does not exist") from None
        except (OSError, ValueError, ValidationError) as e:
            raise ForecastUnavailable(f"forecast file {self.path} is unreadable: {str(e).splitlines()[0][:200]}") \
                from None
        if where.zone_id is not None and where.zone_id in data.zones:
            entry, label = data.zones[where.zone_id], f"zone {where.zone_id}"
        elif where.site_id in data.sites:
            entry, label = data.sites[where.site_id], f"site {where.site_id}"
        else:
            return None
        today = datetime.fromtimestamp(now_ms / 1000, where.tz).date()
        window_end = entry.issued_ms + entry.horizon_h * HOUR_MS
        window_open = entry.rain_mm is not None and entry.issued_ms <= now_ms < window_end
        if not window_open and not any(d.date >= today for d in entry.days):
            raise ForecastUnavailable(f"the forecast for {label} in {self.path} is out of date")
        days = tuple(ForecastDay(d.date, d.tmin_c, d.tmax_c, d.rain_mm, d.rain_probability, d.et0_mm)
                     for d in entry.days)
        window = RainWindow(entry.rain_mm, entry.probability, entry.horizon_h) \
            if window_open and entry.rain_mm is not None else None
        return WeatherForecast(provider=f"file {self.path.name} ({label})", request=str(self.path),
                               issued_ms=entry.issued_ms, days=days, window=window)


def rain_ahead(f: WeatherForecast, now_ms: int, tz: ZoneInfo, horizon_h: int = 24) -> Forecast | None:
    """The planner's rain over the next `horizon_h` hours, from the best a forecast has:

    * a stated window (the file's rain_mm, probability, horizon_h): as stated;
    * hours: the sum of the rain of the hours starting within (now, now + horizon], with the
      highest of their probabilities (the chance it rains at all in the window is at least that);
    * days only: the days after today that the horizon reaches (ceil(horizon / 24) of them) -
      today's total holds hours already past, which the rain gauge has measured.
    None when the forecast holds no rain figure for the horizon."""
    if f.window is not None:
        w = f.window
        return Forecast(rain_mm=w.rain_mm, probability=w.probability, horizon_h=w.horizon_h, source=f.provider)
    if f.hours:
        ahead = [(mm, p) for t, mm, p in f.hours if now_ms <= t < now_ms + horizon_h * HOUR_MS]
        if ahead:
            probs = [p for _, p in ahead if p is not None]
            return Forecast(rain_mm=round(sum(mm for mm, _ in ahead), 2), probability=max(probs) if probs else 1.0,
                            horizon_h=horizon_h, source=f.provider)
    today = datetime.fromtimestamp(now_ms / 1000, tz).date()
    wanted = {today + timedelta(days=i) for i in range(1, math.ceil(horizon_h / 24) + 1)}
    days = [d for d in f.days if d.day in wanted and d.rain_mm is not None]
    if not days:
        return None
    probs = [d.rain_probability for d in days if d.rain_probability is not None]
    return Forecast(rain_mm=round(sum(d.rain_mm or 0.0 for d in days), 2), probability=max(probs) if probs else 1.0,
                    horizon_h=24 * len(wanted), source=f.provider)


@dataclass(frozen=True)
class Extremes:
    """The lowest minimum and highest maximum temperature forecast over the days looked at."""

    tmin_c: float | None
    tmin_day: date | None
    tmax_c: float | None
    tmax_day: date | None


def extremes_ahead(f: WeatherForecast, today: date, days: int = 2) -> Extremes:
    """Over today and the next `days` - 1 days (frost and heat warnings look this far ahead)."""
    window = [d for d in f.days if today <= d.day < today + timedelta(days=days)]
    lows = [(d.tmin_c, d.day) for d in window if d.tmin_c is not None]
    highs = [(d.tmax_c, d.day) for d in window if d.tmax_c is not None]
    low = min(lows, default=(None, None), key=lambda x: x[0])  # type: ignore[arg-type,return-value]
    high = max(highs, default=(None, None), key=lambda x: x[0])  # type: ignore[arg-type,return-value]
    return Extremes(low[0], low[1], high[0], high[1])
