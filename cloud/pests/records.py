"""The stored side of pests: traps, counts and their reviews, the species an agronomist entered.

Plain functions over a Session, called through Database.run. A count is kept once per image
(node, seq): the same photo processed again changes nothing.
"""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ..db import ClimateNormalsRow, SpeciesRow, TrapCountRow, TrapReviewRow, TrapRow
from ..errors import NotFound


def put_trap(session: Session, node: str, channel: int, card: str, lure: str | None, view_width_mm: float | None,
             by: str, now_ms: int) -> TrapRow:
    row = session.get(TrapRow, (node, channel))
    if row is None:
        row = TrapRow(node=node, channel=channel)
        session.add(row)
    row.card, row.lure, row.view_width_mm, row.by, row.updated_ms = card, lure, view_width_mm, by[:80], now_ms
    session.flush()
    return row


def traps(session: Session) -> list[TrapRow]:
    return list(session.scalars(select(TrapRow).order_by(TrapRow.node, TrapRow.channel)))


def add_count(session: Session, **values: object) -> tuple[TrapCountRow, bool]:
    """Store a count; (the row, True) when new, (the row kept before, False) when its image has one."""
    old = session.scalar(select(TrapCountRow).where(TrapCountRow.node == values["node"],
                                                    TrapCountRow.seq == values["seq"]))
    if old is not None:
        return old, False
    row = TrapCountRow(**values)
    session.add(row)
    session.flush()
    return row, True


def count_row(session: Session, node: str, seq: int) -> TrapCountRow:
    row = session.scalar(select(TrapCountRow).where(TrapCountRow.node == node, TrapCountRow.seq == seq))
    if row is None:
        raise NotFound("seq", seq, f"no trap count of image {seq} from node {node}")
    return row


def count_rows(session: Session, *, node: str | None = None, nodes: list[str] | None = None,
               zone: str | None = None, start_ms: int | None = None, end_ms: int | None = None,
               limit: int = 5000) -> list[TrapCountRow]:
    """Counts oldest first, by node(s), zone and photo time (start <= ts < end)."""
    q = select(TrapCountRow)
    if node is not None:
        q = q.where(TrapCountRow.node == node)
    if nodes is not None:
        q = q.where(TrapCountRow.node.in_(nodes))
    if zone is not None:
        q = q.where(TrapCountRow.zone_id == zone)
    if start_ms is not None:
        q = q.where(TrapCountRow.ts_ms >= start_ms)
    if end_ms is not None:
        q = q.where(TrapCountRow.ts_ms < end_ms)
    return list(session.scalars(q.order_by(TrapCountRow.ts_ms, TrapCountRow.id).limit(limit)))


def review(session: Session, node: str, seq: int, total: int, target: int, by: str, note: str | None,
           now_ms: int) -> TrapCountRow:
    """A person's count of the photo: kept on the count (what the models use) and in its history."""
    row = count_row(session, node, seq)
    before_total = row.reviewed_total if row.reviewed_total is not None else row.total
    before_target = row.reviewed_target if row.reviewed_target is not None else row.target
    session.add(TrapReviewRow(count_id=row.id, by=by[:80], at_ms=now_ms, total_before=before_total,
                              target_before=before_target, total=total, target=target,
                              note=None if note is None else note[:300]))
    row.reviewed_total, row.reviewed_target, row.reviewed_by, row.reviewed_ms = total, target, by[:80], now_ms
    session.flush()
    return row


def reviews(session: Session, count_id: int) -> list[TrapReviewRow]:
    return list(session.scalars(select(TrapReviewRow).where(TrapReviewRow.count_id == count_id)
                                .order_by(TrapReviewRow.at_ms, TrapReviewRow.id)))


def species_rows(session: Session) -> list[SpeciesRow]:
    return list(session.scalars(select(SpeciesRow).order_by(SpeciesRow.key)))


def put_species(session: Session, key: str, data: dict, by: str, now_ms: int) -> SpeciesRow:
    row = session.get(SpeciesRow, key)
    if row is None:
        row = SpeciesRow(key=key)
        session.add(row)
    row.data, row.by, row.updated_ms = data, by[:80], now_ms
    session.flush()
    return row


def delete_species(session: Session, key: str) -> bool:
    return session.execute(delete(SpeciesRow).where(SpeciesRow.key == key)).rowcount > 0


def normals_row(session: Session, site: str) -> ClimateNormalsRow | None:
    return session.get(ClimateNormalsRow, site)


def put_normals(session: Session, site: str, source: str, days: list, by: str, now_ms: int) -> ClimateNormalsRow:
    row = session.get(ClimateNormalsRow, site)
    if row is None:
        row = ClimateNormalsRow(site_id=site)
        session.add(row)
    row.source, row.days, row.by, row.updated_ms = source[:600], days, by[:80], now_ms
    session.flush()
    return row


def delete_normals(session: Session, site: str) -> bool:
    return session.execute(delete(ClimateNormalsRow).where(ClimateNormalsRow.site_id == site)).rowcount > 0
