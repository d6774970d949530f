"""How much of a zone's water budget is spent, for the budget-nearly-spent rule.

The planner's own accounting (planning/usage.py, used read-only): gross mm of the zone's
commands, as the controller reported them when done and as planned while in flight; the week
from Monday 00:00 and the season from planting (else 1 January), in the site's time zone.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from ..db import Database
from ..planning.usage import applied_mm, used_since, zone_commands
from ..registry.models import ZoneOut

DAY_MS = 86_400_000


def _ms(d: date, tz: ZoneInfo) -> int:
    return int(datetime.combine(d, datetime.min.time(), tz).timestamp() * 1000)


async def budget_used_fraction(db: Database, zone: ZoneOut, tz: ZoneInfo, now_ms: int) -> float | None:
    """The larger of week used / week budget and season used / season budget; None without a budget."""
    week_mm, season_mm = zone.week_budget_mm, zone.season_budget_mm
    if not week_mm and not season_mm:
        return None
    today = datetime.fromtimestamp(now_ms / 1000, tz).date()
    week_start = _ms(today - timedelta(days=today.weekday()), tz)
    planting = zone.planting_date
    season_start = _ms(planting if planting and planting <= today else date(today.year, 1, 1), tz)
    rows = await db.run(lambda s: zone_commands(s, zone.id, min(week_start, season_start) - DAY_MS))
    applied = [a for a in (applied_mm(r, zone.area_ha, zone.precip_rate_mm_h) for r in rows) if a is not None]
    fractions = []
    if week_mm:
        fractions.append(used_since(applied, week_start) / week_mm)
    if season_mm:
        fractions.append(used_since(applied, season_start) / season_mm)
    return round(max(fractions), 3)
