"""Measured canopy cover, from the stored points to the cover of each day of the water balance.

`daily_cover` is pure: a day at or between two measurements gets their linear interpolation (a
canopy grows smoothly between photos); after the newest one the value is carried at most
COVER_CARRY_DAYS days (a camera that missed a few days, or the 5-day revisit of Sentinel-2), then the
balance goes back to the crop's curve. Each day's MeasuredCover names the measurements it came from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from ..agronomy.canopy_kc import MeasuredCover

COVER_CARRY_DAYS = 7


@dataclass(frozen=True)
class CoverPoint:
    """One stored measurement: when, the cover in %, and where it came from."""

    ts_ms: int
    cover_pct: float
    source: str
    ref: str


def _label(p: CoverPoint, tz: ZoneInfo) -> str:
    return f"{p.cover_pct:.0f}% on {datetime.fromtimestamp(p.ts_ms / 1000, tz).date().isoformat()} ({p.source} {p.ref})"


def daily_cover(points: Sequence[CoverPoint], days: Sequence[date], tz: ZoneInfo) -> dict[date, MeasuredCover]:
    """The cover of each day that has one (module docstring). Several measurements on one local day
    count as their mean, at that day."""
    by_day: dict[date, list[CoverPoint]] = {}
    for p in points:
        by_day.setdefault(datetime.fromtimestamp(p.ts_ms / 1000, tz).date(), []).append(p)
    measured = sorted((d, sum(p.cover_pct for p in ps) / len(ps), ps) for d, ps in by_day.items())
    out: dict[date, MeasuredCover] = {}
    i = 0
    for day in sorted(days):
        while i + 1 < len(measured) and measured[i + 1][0] <= day:
            i += 1
        if not measured or measured[0][0] > day:
            continue
        d0, v0, ps0 = measured[i]
        if d0 == day:
            out[day] = MeasuredCover(v0 / 100, "measured " + "; ".join(_label(p, tz) for p in ps0))
        elif i + 1 < len(measured):
            d1, v1, ps1 = measured[i + 1]
            v = v0 + (v1 - v0) * (day - d0).days / (d1 - d0).days
            out[day] = MeasuredCover(v / 100, f"{v:.0f}% between {_label(ps0[-1], tz)} and {_label(ps1[0], tz)}")
        elif (day - d0).days <= COVER_CARRY_DAYS:
            out[day] = MeasuredCover(v0 / 100, f"carried from {_label(ps0[-1], tz)}")
    return out
