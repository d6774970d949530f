"""Progress per region of the farm (issue 20): a region is a named group of fields (registry/fleet.py); its
progress per kind of operation is the sum over its fields of each field's covered ground (the union of that
kind's operations inside the field's boundary, OperationService.progress), over the sum of their areas.
Fields do not overlap (the registry keeps one boundary per field), so the sums count no ground twice."""

from __future__ import annotations

from pydantic import BaseModel, Field
from sqlalchemy import select

from ..db import Database, FarmRegionRow, FieldRow
from ..errors import Conflict, NotFound
from .models import CropKindProgress, OperationKind


class RegionProgress(BaseModel):
    region: str
    name: str
    fields: list[str] = Field(description="its fields with a boundary, counted below")
    fields_without_boundary: list[str] = Field(description="left out: no place on the map, no area to work")
    area_ha: float = Field(description="the fields' boundaries, on the ellipsoid")
    planted_ha: float = Field(description="the sowing operations' covered ground")
    planted_pct: float
    kinds: list[CropKindProgress] = Field(description="each kind of operation's covered ground and % of area_ha")


async def region_progress(db: Database, operations: object, organisation: str) -> list[RegionProgress]:
    """Each region of `organisation` with its fields' progress summed (regions by id)."""
    from .service import OperationService

    assert isinstance(operations, OperationService)

    def load(session) -> tuple[list[tuple[str, str, list[str]]], dict[str, bool]]:  # noqa: ANN001
        regions = [(r.id, r.name, list(r.field_ids)) for r in session.scalars(
            select(FarmRegionRow).where(FarmRegionRow.organisation_id == organisation).order_by(FarmRegionRow.id))]
        wanted = {f for _, _, ids in regions for f in ids}
        shaped = {i: b is not None for i, b in session.execute(select(FieldRow.id, FieldRow.boundary)
                                                                .where(FieldRow.id.in_(wanted))).all()}
        return regions, shaped

    regions, shaped = await db.run(load)
    progress = {}
    for field_id in sorted(f for f, has in shaped.items() if has):
        try:
            progress[field_id] = await operations.progress(field_id)
        except (NotFound, Conflict):  # deleted or its boundary cleared since: left out, as one without
            continue
    out = []
    for region_id, name, ids in regions:
        counted = [f for f in ids if f in progress]
        area = sum(progress[f].field_ha for f in counted)
        covered = {k: sum(next((x.covered_ha for x in progress[f].kinds if x.kind == k), 0.0) for f in counted)
                   for k in OperationKind}

        def pct(ha: float, whole: float = area) -> float:
            return round(100 * ha / whole, 3) if whole else 0.0

        out.append(RegionProgress(region=region_id, name=name, fields=counted,
                                  fields_without_boundary=[f for f in ids if f not in progress],
                                  area_ha=round(area, 4), planted_ha=round(covered[OperationKind.SOWING], 4),
                                  planted_pct=pct(covered[OperationKind.SOWING]),
                                  kinds=[CropKindProgress(kind=k, covered_ha=round(v, 4), covered_pct=pct(v))
                                         for k, v in covered.items() if v > 0]))
    return out
