"""Crop vigour: measured canopy cover per zone (from photos and people), field and zone boundaries,
NDVI per zone from Sentinel-2 scenes and GeoTIFFs."""

import hashlib
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path, Query, Request, Response, status

from furrow.edge.errors import ContractError
from furrow.edge.topics import check_id

from ..._time import parse_instant
from ...vigour import CoverIn, CoverOut, VigourService
from ...vigour.models import BoundaryOut, NdviOut
from ...vigour.photos import MAX_PIXELS
from ..deps import AuditDep, Planner, Reader, RegistryWriter, get_services
from ..json_body import JsonRoute
from ..schemas import ProblemResponse

router = APIRouter(prefix="/zones", tags=["vigour"], route_class=JsonRoute)
boundaries = APIRouter(prefix="/registry", tags=["registry"], route_class=JsonRoute)
rasters = APIRouter(prefix="/ndvi", tags=["vigour"], route_class=JsonRoute)


def get_vigour(request: Request) -> VigourService:
    vigour = get_services(request).vigour
    assert vigour is not None, "open_services sets the vigour service"
    return vigour


VigourDep = Annotated[VigourService, Depends(get_vigour)]
PHOTO_TYPES = ("image/jpeg", "image/png")


def _period(vigour: VigourService, start: str | int | None, end: str | int | None, days: int) -> tuple[int, int]:
    """[start, end) in ms from the query, by default the last `days` days up to now."""
    end_ms = vigour.clock() + 1 if end is None else parse_instant("end", end)
    start_ms = end_ms - days * 86_400_000 if start is None else parse_instant("start", start)
    return start_ms, end_ms


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
    return await vigour.covers(check_id("zone", zone_id), *_period(vigour, start, end, 366))


GEOJSON_EXAMPLE = {"type": "Polygon", "coordinates": [[[-0.881, 41.650], [-0.878, 41.650], [-0.878, 41.652],
                                                       [-0.881, 41.652], [-0.881, 41.650]]]}


async def _set_boundary(kind: str, key: str, body: dict, vigour: VigourService, who: str,
                        audit: AuditDep) -> BoundaryOut:
    out = await vigour.set_boundary(kind, check_id(kind, key), body)
    await audit(who, f"{kind}.boundary", f"{kind}:{key}", area_ha=out.boundary_area_ha)
    return out


@boundaries.put("/fields/{key}/boundary", response_model=BoundaryOut, responses={404: {"model": ProblemResponse},
                                                                                  409: {"model": ProblemResponse}})
async def set_field_boundary(key: str, vigour: VigourDep, who: RegistryWriter, audit: AuditDep,
                             body: Annotated[dict, Body(examples=[GEOJSON_EXAMPLE])]) -> BoundaryOut:
    """Set a field's boundary: a GeoJSON Polygon or MultiPolygon in WGS 84 (longitude, latitude), valid, at
    most 20,000 positions; stored with its geodesic area. 409 when a zone's boundary would fall outside it."""
    return await _set_boundary("field", key, body, vigour, who.name, audit)


@boundaries.put("/zones/{key}/boundary", response_model=BoundaryOut, responses={404: {"model": ProblemResponse}})
async def set_zone_boundary(key: str, vigour: VigourDep, who: RegistryWriter, audit: AuditDep,
                            body: Annotated[dict, Body(examples=[GEOJSON_EXAMPLE])]) -> BoundaryOut:
    """Set a zone's boundary (as a field's); it must lie inside its field's boundary when the field has one
    (at most 0.5 % of its area outside). NDVI rasters are reduced over it."""
    return await _set_boundary("zone", key, body, vigour, who.name, audit)


def _raster_body(kind: str, expected: tuple[str, ...], request: Request) -> None:
    got = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if got not in expected:
        raise ContractError("content-type", got, f"a {kind} is sent as {' or '.join(expected)}")


@rasters.post("/geotiff", status_code=status.HTTP_201_CREATED, response_model=NdviOut,
              responses={404: {"model": ProblemResponse}, 409: {"model": ProblemResponse}},
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}})
async def ndvi_from_geotiff(request: Request, vigour: VigourDep, who: Planner, audit: AuditDep,
                            zone: Annotated[str, Query(description="the zone, which must have a boundary")],
                            at: Annotated[str, Query(description="when the raster was acquired")],
                            ref: Annotated[str, Query(min_length=1, max_length=200,
                                                      description="a name for the raster: kept once per zone")],
                            red_band: Annotated[int | None, Query(ge=1, le=64)] = None,
                            nir_band: Annotated[int | None, Query(ge=1, le=64)] = None,
                            ndvi_band: Annotated[int | None, Query(ge=1, le=64)] = None) -> NdviOut:
    """A GeoTIFF as the body (Content-Type image/tiff or application/octet-stream; a drone orthomosaic; at
    most 128 MiB): NDVI from its red and NIR bands, or the
    band holding NDVI, over the zone's boundary: mean, percentiles, valid pixels and their share, a map."""
    _raster_body("GeoTIFF", ("image/tiff", "application/octet-stream"), request)
    out = await vigour.import_ndvi(check_id("zone", zone), "geotiff", await request.body(), parse_instant("at", at),
                                   ref, f"person:{who.name}", red_band=red_band, nir_band=nir_band,
                                   ndvi_band=ndvi_band)
    await audit(who.name, "ndvi.import", f"zone:{zone}", source="geotiff", ref=ref, mean=out.mean)
    return out


@rasters.post("/sentinel2", status_code=status.HTTP_201_CREATED, response_model=NdviOut,
              responses={404: {"model": ProblemResponse}, 409: {"model": ProblemResponse}},
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}})
async def ndvi_from_sentinel2(request: Request, vigour: VigourDep, who: Planner, audit: AuditDep,
                              zone: Annotated[str, Query(description="the zone, which must have a boundary")],
                              at: Annotated[str, Query(description="the scene's sensing time")],
                              ref: Annotated[str, Query(min_length=1, max_length=200,
                                                        description="the product name: kept once per zone")],
                              baseline: Annotated[str, Query(pattern=r"^\d{2}\.\d{2}$",
                                                             description="processing baseline, e.g. 05.10")],
                              offset: Annotated[float | None, Query(ge=-5000, le=5000, description=(
                                  "BOA_ADD_OFFSET from the product's MTD_MSIL2A.xml; default by baseline"))] = None,
                              ) -> NdviOut:
    """A zip of a Sentinel-2 L2A scene's B04, B08 (10 m) and SCL (20 m) band files (JP2 or GeoTIFF, clipped
    or whole; Content-Type application/zip or application/octet-stream; at most 128 MiB): NDVI over the
    zone's boundary, scaled by the baseline's offset, clouds, shadows, snow and no data left out by the SCL."""
    _raster_body("Sentinel-2 scene", ("application/zip", "application/octet-stream"), request)
    out = await vigour.import_ndvi(check_id("zone", zone), "sentinel2-l2a", await request.body(),
                                   parse_instant("at", at), ref, f"person:{who.name}", baseline=baseline, offset=offset)
    await audit(who.name, "ndvi.import", f"zone:{zone}", source="sentinel2-l2a", ref=ref, mean=out.mean)
    return out


@router.get("/{zone_id}/ndvi", response_model=list[NdviOut], responses={404: {"model": ProblemResponse}})
async def list_ndvi(zone_id: str, vigour: VigourDep, _: Reader, start: str | int | None = None,
                    end: str | int | None = None) -> list[NdviOut]:
    """The zone's NDVI statistics from rasters, oldest first, in [start, end) (default: the last 366 days)."""
    return await vigour.ndvi(check_id("zone", zone_id), *_period(vigour, start, end, 366))


@router.get("/{zone_id}/ndvi/{stats_id}/map", response_class=Response, responses={
    200: {"content": {"image/png": {}}, "description": "the zone's NDVI map"}, 404: {"model": ProblemResponse}})
async def ndvi_map(zone_id: str, stats_id: Annotated[int, Path(ge=1, le=2**63 - 1)], vigour: VigourDep,
                   _: Reader) -> Response:
    """A small PNG of the zone's NDVI from one raster (brown bare, yellow sparse, green dense; transparent
    outside the zone and where clouds or no data left nothing)."""
    return Response(await vigour.ndvi_map(check_id("zone", zone_id), stats_id), media_type="image/png")


@router.get("/{zone_id}/vigour", responses={404: {"model": ProblemResponse}})
async def zone_vigour(zone_id: str, vigour: VigourDep, _: Reader, start: str | int | None = None,
                      end: str | int | None = None) -> dict:
    """The zone's season of vigour (default: the last 120 days): measured canopy cover, NDVI from rasters
    and from its weather node's sensor (daily means), the crop's expected cover (FAO-56 stages mapped to
    cover) and whether it lags its neighbours, with the rule's figures."""
    start_ms, end_ms = _period(vigour, start, end, 120)
    if start_ms >= end_ms or end_ms - start_ms > 400 * 86_400_000:
        raise ContractError("start", start, "must be before end, at most 400 days before it")
    return await vigour.season(check_id("zone", zone_id), start_ms, end_ms)
