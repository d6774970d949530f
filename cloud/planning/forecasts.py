"""The forecast a decision or an alert uses: asked of the configured provider, stored, and never a
reason for a plan to fail.

`ForecastService.current(where)`:

* a forecast fetched for the same place less than `refresh_s` ago is used again (a farm of many
  zones asks the provider once per site and refresh);
* else the provider is asked; what it gives is stored (`forecasts` table) unless it equals the
  newest stored one for that place, whose id is then reused, and the decision names that id, so it
  can be replayed from what was stored;
* a provider that fails (timeout, HTTP error, malformed answer, an out-of-date file) falls back to
  the newest stored forecast for the place if it was fetched less than `max_age_s` ago, saying so;
  else there is no forecast, and the reason is recorded;
* a forecast issued more than `max_age_s` before now is stale: not used, and said so.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from .._time import Clock
from .._time import now_ms as _now_ms
from ..agronomy.planner import Forecast
from ..db import Database, ForecastRow
from ..settings import Settings
from .forecast import (
    Extremes,
    FileForecast,
    ForecastDay,
    ForecastProvider,
    ForecastUnavailable,
    NoForecast,
    RainWindow,
    WeatherForecast,
    Where,
    extremes_ahead,
    rain_ahead,
)
from .open_meteo import OpenMeteoForecast

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Fetched:
    """A forecast in use (or None), the stored row's id, and a sentence saying where it came from."""

    forecast: WeatherForecast | None
    forecast_id: int | None
    source: str


@dataclass(frozen=True)
class ForecastAnswer:
    """The planner's rain (or None), the stored forecast's id, and where it came from."""

    forecast: Forecast | None
    source: str
    forecast_id: int | None = None


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _row(where: Where, f: WeatherForecast, fetched_ms: int) -> ForecastRow:
    return ForecastRow(site_id=where.site_id, zone_id=where.zone_id, provider=f.provider[:40], fetched_ms=fetched_ms,
                       issued_ms=f.issued_ms, lat=f.lat if f.lat is not None else where.lat,
                       lon=f.lon if f.lon is not None else where.lon, days=[d.record() for d in f.days],
                       hours=[list(h) for h in f.hours],
                       rain_window=None if f.window is None else vars(f.window), request=f.request[:600])


def _from_row(row: ForecastRow) -> WeatherForecast:
    days = tuple(ForecastDay(datetime.fromisoformat(d["date"]).date(), d["tmin_c"], d["tmax_c"], d["rain_mm"],
                             d["rain_probability"], d["et0_mm"]) for d in row.days)
    window = RainWindow(**row.rain_window) if row.rain_window else None
    return WeatherForecast(provider=row.provider, request=row.request, issued_ms=row.issued_ms, days=days,
                           hours=tuple((int(t), float(mm), p) for t, mm, p in row.hours or []), window=window,
                           lat=row.lat, lon=row.lon)


def _same(row: ForecastRow, f: WeatherForecast) -> bool:
    return (row.provider == f.provider[:40] and row.issued_ms == f.issued_ms
            and row.days == [d.record() for d in f.days] and row.hours == [list(h) for h in f.hours]
            and row.rain_window == (None if f.window is None else vars(f.window)))


def _newest(session: Session, where: Where) -> ForecastRow | None:
    q = select(ForecastRow).where(ForecastRow.site_id == where.site_id)
    q = q.where(ForecastRow.zone_id == where.zone_id) if where.zone_id is not None else \
        q.where(ForecastRow.zone_id.is_(None))
    return session.scalar(q.order_by(ForecastRow.fetched_ms.desc(), ForecastRow.id.desc()).limit(1))


class ForecastService:
    """The provider, its stored forecasts and a short-lived cache (module docstring)."""

    def __init__(self, provider: ForecastProvider | None, db: Database, clock: Clock = _now_ms,
                 refresh_s: float = 3 * 3600, max_age_s: float = 24 * 3600) -> None:
        self.provider: ForecastProvider = provider or NoForecast()
        self._db = db
        self.clock = clock
        self.refresh_s = refresh_s
        self.max_age_s = max_age_s
        self._cache: dict[tuple[str, str | None], tuple[int, Fetched]] = {}

    async def current(self, where: Where, now_ms: int | None = None) -> Fetched:
        """The forecast for `where` at `now_ms` (default: the clock's now; module docstring); never raises
        for a provider's failure."""
        if isinstance(self.provider, NoForecast):
            return Fetched(None, None, "absent: no forecast provider configured")
        now = self.clock() if now_ms is None else now_ms
        key = (where.site_id, where.zone_id)
        hit = self._cache.get(key)
        if hit is not None and now - hit[0] < self.refresh_s * 1000:
            return hit[1]
        try:
            f = await self.provider.forecast(where, now)
        except ForecastUnavailable as e:
            return await self._fallback(where, now, e.reason)
        except Exception as e:  # noqa: BLE001 - a broken provider means no forecast, never no plan
            log.warning("forecast provider %s failed: %s", self.provider.name, e)
            return await self._fallback(where, now, f"the provider failed: {type(e).__name__}: {e}"[:200])
        if f is None:
            return Fetched(None, None, f"absent: {self.provider.name} has no forecast for site {where.site_id}"
                           + (f" or zone {where.zone_id}" if where.zone_id else ""))
        if f.issued_ms is not None and now - f.issued_ms > self.max_age_s * 1000:
            return Fetched(None, None, f"absent: the {f.provider} forecast was issued {_when(f.issued_ms)}, more "
                           f"than {self.max_age_s / 3600:g} h ago: stale")

        def store(session: Session) -> int:
            newest = _newest(session, where)
            if newest is not None and _same(newest, f):
                return newest.id
            row = _row(where, f, now)
            session.add(row)
            session.flush()
            return row.id

        forecast_id = await self._db.run(store)
        fetched = Fetched(f, forecast_id, f"{f.provider}, forecast #{forecast_id} fetched {_when(now)}")
        self._cache[key] = (now, fetched)
        return fetched

    async def _fallback(self, where: Where, now: int, reason: str) -> Fetched:
        row = await self._db.run(lambda s: _newest(s, where))
        if row is not None and now - row.fetched_ms <= self.max_age_s * 1000:
            return Fetched(_from_row(row), row.id, f"{row.provider}, stored forecast #{row.id} fetched "
                           f"{_when(row.fetched_ms)} (now: {reason})")
        return Fetched(None, None, f"absent: {reason}")

    async def rain(self, where: Where, now_ms: int | None = None, horizon_h: int = 24) -> ForecastAnswer:
        """The planner's rain over the next `horizon_h` hours, with the forecast's id and source."""
        now = self.clock() if now_ms is None else now_ms
        got = await self.current(where, now)
        if got.forecast is None:
            return ForecastAnswer(None, got.source)
        rain = rain_ahead(got.forecast, now, where.tz, horizon_h)
        if rain is None:
            return ForecastAnswer(None, f"absent: {got.source} holds no rain for the next {horizon_h} h",
                                  got.forecast_id)
        return ForecastAnswer(rain, got.source, got.forecast_id)

    async def extremes(self, where: Where, now_ms: int | None = None,
                       days: int = 2) -> tuple[Extremes, str] | None:
        """The lowest minimum and highest maximum over today and the next days, and the source; None without."""
        now = self.clock() if now_ms is None else now_ms
        got = await self.current(where, now)
        if got.forecast is None:
            return None
        today = datetime.fromtimestamp(now / 1000, where.tz).date()
        return extremes_ahead(got.forecast, today, days), got.source


def forecasts_from_settings(settings: Settings, db: Database, clock: Clock = _now_ms) -> ForecastService:
    """The configured provider (forecast_provider; unset: the file when forecast_file is set, else none).
    A file is read again at every request (a farm's script may rewrite it at any time)."""
    kind = settings.forecast_provider or ("file" if settings.forecast_file is not None else "none")
    provider: ForecastProvider | None = None
    refresh_s = settings.forecast_refresh_s
    if kind == "file":
        if settings.forecast_file is None:
            raise ValueError("forecast_provider is file but forecast_file is not set")
        provider, refresh_s = FileForecast(settings.forecast_file), 0.0
    elif kind == "open-meteo":
        provider = OpenMeteoForecast(settings.forecast_url, settings.forecast_timeout_s)
    return ForecastService(provider, db, clock, refresh_s=refresh_s, max_age_s=settings.forecast_max_age_s)
