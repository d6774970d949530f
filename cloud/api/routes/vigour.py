"""Crop vigour per zone: measured canopy cover (from photos and people)."""

import hashlib
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, status

from furrow.edge.errors import ContractError
from furrow.edge.topics import check_id

from ..._time import parse_instant
from ...vigour import CoverIn, CoverOut, VigourService
from ...vigour.photos import MAX_PIXELS
from ..deps import AuditDep, Planner, Reader, get_services
from ..json_body import JsonRoute
from ..schemas import ProblemResponse

router = APIRouter(prefix="/zones", tags=["vigour"], route_class=JsonRoute)


def get_vigour(request: Request) -> VigourService:
    vigour = get_services(request).vigour
    assert vigour is not None, "open_services sets the vigour service"
    return vigour


VigourDep = Annotated[VigourService, Depends(get_vigour)]
PHOTO_TYPES = ("image/jpeg", "image/png")


@router.post("/{zone_id}/cover", status_code=status.HTTP_201_CREATED, response_model=CoverOut,
             responses={404: {"model": ProblemResponse}})
async def record_cover(zone_id: str, body: CoverIn, vigour: VigourDep, who: Planner, audit: AuditDep) -> CoverOut:
    """Record a canopy cover measured by a person (a Canopeo app, a transect). From the crop's
    development stage on it sets the zone's Kc as a photo's cover does (FAO-56 ch. 9)."""
    at = None if body.at is None else parse_instant("at", body.at)
    out = await vigour.record_cover(check_id("zone", zone_id), body.cover_pct, at, body.method, f"person:{who.name}")
    await audit(who.name, "cover.record", f"zone:{zone_id}", cover_pct=body.cover_pct, ts_ms=out.ts_ms)
    return out


@router.post("/{zone_id}/cover/photo", status_code=status.HTTP_201_CREATED, response_model=CoverOut,
             responses={404: {"model": ProblemResponse}},
             description="Upload a nadir canopy photo of the zone (JPEG or PNG, at most 1 MiB and "
                         f"{MAX_PIXELS:,} pixels): its green cover is classified by the Canopeo rule and "
                         "recorded once per photo (the same bytes again return the same record).",
             openapi_extra={"requestBody": {"required": True, "content": {
                 t: {"schema": {"type": "string", "format": "binary"}} for t in PHOTO_TYPES}}})
async def cover_from_photo(zone_id: str, request: Request, vigour: VigourDep, who: Planner, audit: AuditDep,
                           at: Annotated[str | None, Query(description="when the photo was taken; default now")] = None,
                           ) -> CoverOut:
    zone = check_id("zone", zone_id)
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind not in PHOTO_TYPES:
        raise ContractError("content-type", kind, f"must be one of {', '.join(PHOTO_TYPES)}")
    data = await request.body()
    ts = vigour.clock() if at is None else parse_instant("at", at)
    ref = f"upload:{hashlib.sha256(data).hexdigest()[:32]}"
    out = await vigour.cover_from_photo(zone, data, ts, ref, by=f"person:{who.name}")
    await audit(who.name, "cover.photo", f"zone:{zone_id}", cover_pct=out.cover_pct, ref=ref)
    return out


@router.get("/{zone_id}/cover", response_model=list[CoverOut], responses={404: {"model": ProblemResponse}})
async def list_cover(zone_id: str, vigour: VigourDep, _: Reader, start: str | int | None = None,
                     end: str | int | None = None) -> list[CoverOut]:
    """The zone's measured canopy cover, oldest first, in [start, end) (default: the last 366 days)."""
    end_ms = vigour.clock() + 1 if end is None else parse_instant("end", end)
    start_ms = end_ms - 366 * 86_400_000 if start is None else parse_instant("start", start)
    return await vigour.covers(check_id("zone", zone_id), start_ms, end_ms)
