"""The stored side of soil fertility: plain functions over a Session, called through Database.run.

Applications and harvests are append-only: there is an insert and reads, no update or delete.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db import (
    ApplicationRow,
    FertilityCoefficientsRow,
    HarvestRow,
    LabMappingRow,
    ProductRow,
    RecommendationRow,
    SoilSampleRow,
)


def add_sample(session: Session, **values: object) -> tuple[SoilSampleRow, bool]:
    """Store one sample; (the row, True) when new, (the row kept before, False) when the same
    (zone, lab, lab_sample_id) was (a sample without a lab id is always new)."""
    if values.get("lab_sample_id"):
        old = session.scalar(select(SoilSampleRow).where(SoilSampleRow.zone_id == values["zone_id"],
                                                         SoilSampleRow.lab == values["lab"],
                                                         SoilSampleRow.lab_sample_id == values["lab_sample_id"]))
        if old is not None:
            return old, False
    row = SoilSampleRow(**values)
    session.add(row)
    session.flush()
    return row, True


def samples(session: Session, zone_id: str, season: str | None = None) -> list[SoilSampleRow]:
    """The zone's samples (of one season, or all), oldest first."""
    q = select(SoilSampleRow).where(SoilSampleRow.zone_id == zone_id)
    if season is not None:
        q = q.where(SoilSampleRow.season == season)
    return list(session.scalars(q.order_by(SoilSampleRow.sampled_on, SoilSampleRow.id)))


def put_row(session: Session, model: type, key: dict[str, object], **values: object) -> object:
    """Insert or replace the row of `model` with primary key `key` (mappings, products, coefficients)."""
    row = session.get(model, tuple(key.values()) if len(key) > 1 else next(iter(key.values())))
    if row is None:
        row = model(**key, **values)
        session.add(row)
    else:
        for k, v in values.items():
            setattr(row, k, v)
    session.flush()
    return row


def mapping(session: Session, lab: str) -> LabMappingRow | None:
    return session.get(LabMappingRow, lab)


def products(session: Session, site_id: str) -> list[ProductRow]:
    return list(session.scalars(select(ProductRow).where(ProductRow.site_id == site_id).order_by(ProductRow.id)))


def coefficients(session: Session, site_id: str, crop: str) -> FertilityCoefficientsRow | None:
    return session.get(FertilityCoefficientsRow, (site_id, crop.lower()))


def add(session: Session, row: object) -> object:
    """Insert one row (a recommendation, an application, a harvest) and return it with its id."""
    session.add(row)
    session.flush()
    return row


def recommendations(session: Session, zone_id: str, season: str | None, limit: int = 20) -> list[RecommendationRow]:
    q = select(RecommendationRow).where(RecommendationRow.zone_id == zone_id)
    if season is not None:
        q = q.where(RecommendationRow.season == season)
    return list(session.scalars(q.order_by(RecommendationRow.ts_ms.desc(), RecommendationRow.id.desc()).limit(limit)))


def applications(session: Session, zone_id: str, season: str | None = None) -> list[ApplicationRow]:
    q = select(ApplicationRow).where(ApplicationRow.zone_id == zone_id)
    if season is not None:
        q = q.where(ApplicationRow.season == season)
    return list(session.scalars(q.order_by(ApplicationRow.applied_on, ApplicationRow.id)))


def newest_harvest(session: Session, zone_id: str, season: str) -> HarvestRow | None:
    q = select(HarvestRow).where(HarvestRow.zone_id == zone_id, HarvestRow.season == season)
    return session.scalar(q.order_by(HarvestRow.recorded_ms.desc(), HarvestRow.id.desc()).limit(1))
