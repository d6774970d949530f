"""A zone's season of vigour for its page: measured cover, NDVI (rasters and the zone's own sensor),
the crop's expected cover, and whether it lags its neighbours (season.py's rule).

Reads the registry, the canopy_cover and vegetation_index tables and the readings store; the curve
and the rule themselves are pure (season.py).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..agronomy.crop import CropCoefficients
from ..db import CoverRow, Database
from ..registry import FIELDS, SITES, ZONES, Registry
from ..registry.models import ZoneOut
from ..storage import ReadingStore
from .records import cover_rows, index_rows
from .season import Standing, expected_series, expected_series_thermal, lagging

DAY_MS = 86_400_000
log = logging.getLogger(__name__)

ThermalTime = Callable[[str], Awaitable[dict[date, float]]]
"""A zone's degree days since planting at the end of each complete day (PlanningService.gdd_by_day)."""


def _coefficients(zone: ZoneOut) -> CropCoefficients | None:
    cc = zone.crop_coefficients
    if cc is None or zone.planting_date is None:
        return None
    return CropCoefficients(cc.l_ini, cc.l_dev, cc.l_mid, cc.l_late, cc.kc_ini, cc.kc_mid, cc.kc_end)


def _thermal(zone: ZoneOut) -> bool:
    return zone.crop_coefficients is not None and zone.crop_coefficients.stages_in == "gdd"


async def _expected(zone: ZoneOut, start: date, end: date,
                    thermal: ThermalTime | None) -> list[tuple[date, float]]:
    """The zone's expected cover per day in [start, end): by days, or by its degree days when staged by them."""
    c = _coefficients(zone)
    if c is None or zone.planting_date is None:
        return []
    if not _thermal(zone):
        return expected_series(zone.planting_date, c, start, end)
    if thermal is None:
        return []
    try:
        sums = await thermal(zone.id)
    except Exception as e:  # one zone's balance failing (its registry incomplete) never blanks the page
        log.warning("no thermal time for zone %s: %s", zone.id, e)
        return []
    return expected_series_thermal(c, sums, start, end)


async def _standing(zone: ZoneOut, newest: CoverRow | None, tz: ZoneInfo,
                    thermal: ThermalTime | None) -> Standing | None:
    if newest is None:
        return None
    day = datetime.fromtimestamp(newest.ts_ms / 1000, tz).date()
    # a degree-day crop's newest complete day may be the day before the photo's
    expected = await _expected(zone, day - timedelta(days=1) if _thermal(zone) else day, day + timedelta(days=1),
                               thermal)
    return Standing(zone.id, day, newest.cover_pct, expected[-1][1]) if expected else None


def _newest(session: Session, zone_id: str, end_ms: int) -> CoverRow | None:
    q = select(CoverRow).where(CoverRow.zone_id == zone_id, CoverRow.ts_ms < end_ms)
    return session.scalar(q.order_by(CoverRow.ts_ms.desc(), CoverRow.id.desc()).limit(1))


async def zone_season(registry: Registry, db: Database, store: ReadingStore, zone_id: str, start_ms: int,
                      end_ms: int, thermal: ThermalTime | None = None) -> dict[str, Any]:
    """Everything the zone page's vigour section shows, in [start_ms, end_ms); `thermal` gives a degree-day
    crop's thermal time (without it such a crop has no expected curve)."""
    zone = await registry.get_zone(zone_id)
    field: Any = await registry.get(FIELDS, zone.field_id)
    site: Any = await registry.get(SITES, field.site_id)
    try:
        tz = ZoneInfo(site.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        tz = ZoneInfo("UTC")
    covers = await db.run(lambda s: cover_rows(s, zone_id, start_ms, end_ms))
    rasters = await db.run(lambda s: index_rows(s, zone_id, start_ms, end_ms))
    sensors = [n.id for n in await registry.nodes_of_zone(zone_id) if n.role == "weather"]
    node_ndvi = [b for b in await store.aggregate(sensors, "ndvi", start_ms, end_ms, DAY_MS, "mean")
                 if b.value is not None] if sensors else []
    start_day = datetime.fromtimestamp(start_ms / 1000, tz).date()
    end_day = datetime.fromtimestamp(end_ms / 1000, tz).date() + timedelta(days=1)
    expected = await _expected(zone, start_day, end_day, thermal)

    site_zones: list[ZoneOut] = []
    for f in await registry.all(FIELDS, site_id=site.id):
        site_zones += await registry.all(ZONES, field_id=f.id)  # type: ignore[arg-type]
    standings = {}
    for z in site_zones:
        newest = await db.run(lambda s, zid=z.id: _newest(s, zid, end_ms))
        standings[z.id] = await _standing(z, newest, tz, thermal)
    today = datetime.fromtimestamp((end_ms - 1) / 1000, tz).date()
    mine = standings.get(zone_id)
    lag = lagging(mine, [s for k, s in standings.items() if k != zone_id and s is not None], today)
    why_no_curve = None if expected else (
        "the zone has no planting date" if zone.planting_date is None else
        "the crop has no coefficients" if zone.crop_coefficients is None else
        "the crop is staged by degree days and no day since planting has its degree days yet")
    return {
        "zone_id": zone_id,
        "expected": [{"date": d.isoformat(), "cover_pct": v} for d, v in expected],
        "expected_source": ("FAO-56 ch. 6 stages mapped to cover: 10 % at the end of the initial stage, effective "
                            "full cover 80 % from the end of development, falling with Kc in the late season"
                            + ("; stages in degree days, placed by the degree days of the zone's water balance "
                               "(to its last complete day)" if _thermal(zone) else ""))
        if expected else f"absent: {why_no_curve}",
        "cover": [{"ts_ms": r.ts_ms, "cover_pct": r.cover_pct, "source": r.source, "ref": r.ref} for r in covers],
        "ndvi_rasters": [{"id": r.id, "ts_ms": r.ts_ms, "mean": r.mean, "p10": r.p10, "p90": r.p90,
                          "valid_share": r.valid_share, "source": r.source, "ref": r.ref} for r in rasters],
        "ndvi_sensor": [{"ts_ms": b.time_ms, "ndvi": round(b.value, 4), "node": b.node} for b in node_ndvi],
        "lagging": {"lagging": lag.lagging, "reason": lag.reason, "ratio": lag.ratio,
                    "neighbours_median": lag.neighbours_median, "neighbours": list(lag.neighbours),
                    "measured_pct": mine.measured_pct if mine else None,
                    "expected_pct": mine.expected_pct if mine else None,
                    "date": mine.day.isoformat() if mine else None},
    }

