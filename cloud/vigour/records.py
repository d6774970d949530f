"""The stored side of crop vigour: measured canopy cover per zone (canopy_cover table).

Plain functions over a Session, called through Database.run; a measurement is kept once per
(zone, ref), so a photo processed again, or a form sent twice, stays one row.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db import CoverRow, IndexStatsRow
from .cover import CoverPoint


def add_cover(session: Session, *, zone_id: str, ts_ms: int, cover_pct: float, source: str, ref: str, method: str,
              by: str, now_ms: int, node: str | None = None, pixels: int | None = None) -> tuple[CoverRow, bool]:
    """Store one measurement; (the row, True) when new, (the row kept before, False) when (zone, ref) was."""
    old = session.scalar(select(CoverRow).where(CoverRow.zone_id == zone_id, CoverRow.ref == ref))
    if old is not None:
        return old, False
    row = CoverRow(zone_id=zone_id, ts_ms=ts_ms, cover_pct=round(cover_pct, 2), source=source, ref=ref,
                   method=method, by=by[:80], created_ms=now_ms, node=node, pixels=pixels)
    session.add(row)
    session.flush()
    return row, True


def cover_rows(session: Session, zone_id: str, start_ms: int, end_ms: int) -> list[CoverRow]:
    """The zone's measurements with start_ms <= ts_ms < end_ms, oldest first."""
    q = select(CoverRow).where(CoverRow.zone_id == zone_id, CoverRow.ts_ms >= start_ms, CoverRow.ts_ms < end_ms)
    return list(session.scalars(q.order_by(CoverRow.ts_ms, CoverRow.id)))


def cover_points(session: Session, zone_id: str, start_ms: int, end_ms: int) -> list[CoverPoint]:
    """cover_rows as the balance reads them."""
    return [CoverPoint(r.ts_ms, r.cover_pct, r.source, r.ref) for r in cover_rows(session, zone_id, start_ms, end_ms)]


def add_index_stats(session: Session, **values: object) -> tuple[IndexStatsRow, bool]:
    """Store one zone's index statistics; (the row, True) when new, (the row kept before, False) when
    (zone, index, ref) was."""
    old = session.scalar(select(IndexStatsRow).where(IndexStatsRow.zone_id == values["zone_id"],
                                                     IndexStatsRow.index_name == values["index_name"],
                                                     IndexStatsRow.ref == values["ref"]))
    if old is not None:
        return old, False
    row = IndexStatsRow(**values)
    session.add(row)
    session.flush()
    return row, True


def index_rows(session: Session, zone_id: str, start_ms: int, end_ms: int,
               index_name: str = "ndvi") -> list[IndexStatsRow]:
    """The zone's statistics with start_ms <= ts_ms < end_ms, oldest first."""
    q = select(IndexStatsRow).where(IndexStatsRow.zone_id == zone_id, IndexStatsRow.index_name == index_name,
                                    IndexStatsRow.ts_ms >= start_ms, IndexStatsRow.ts_ms < end_ms)
    return list(session.scalars(q.order_by(IndexStatsRow.ts_ms, IndexStatsRow.id)))
