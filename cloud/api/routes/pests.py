"""Pests: the species table, traps, trap-photo counts and people's corrections of them, the counter's
accuracy, and each zone's species seasons (biofix, degree days, stage forecast, pressure)."""

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response, status

from furrow.edge.errors import ContractError
from furrow.edge.topics import check_id

from ..._time import parse_instant
from ...agronomy.normals import NormalsInvalid
from ...agronomy.species import Species
from ...pests import CountDetail, CountOut, PestService, ReviewIn, TrapIn, TrapOut
from ...pests.models import AccuracyOut, NormalsOut
from ...pests.season import Season
from ..deps import AuditDep, Planner, Reader, RegistryWriter, Reviewer, get_services
from ..json_body import JsonRoute
from ..schemas import ProblemResponse

router = APIRouter(prefix="/pests", tags=["pests"], route_class=JsonRoute)
zones = APIRouter(prefix="/zones", tags=["pests"], route_class=JsonRoute)
sites = APIRouter(prefix="/sites", tags=["pests"], route_class=JsonRoute)

Seq = Annotated[int, Path(ge=0, le=2**63 - 1)]
Channel = Annotated[int, Path(ge=1, le=4, description="1 for a camera's card; 1-4 for a pest node's counters")]
NOT_FOUND = {404: {"model": ProblemResponse}}


def get_pests(request: Request) -> PestService:
    pests = get_services(request).pests
    assert pests is not None, "open_services sets the pest service"
    return pests


PestsDep = Annotated[PestService, Depends(get_pests)]


def _key(key: str) -> str:
    return check_id("species", key)


@router.get("/species", response_model=list[Species])
async def list_species(pests: PestsDep, _: Reader) -> list[Species]:
    """The species table: the shipped species, each replaced by an agronomist's entry of the same key, and
    hers; every group of values with its source (docs/pests.md)."""
    return await pests.species_table()


@router.get("/species/{key}", response_model=Species, responses=NOT_FOUND)
async def get_species(key: str, pests: PestsDep, _: Reader) -> Species:
    return await pests.species(_key(key))


@router.put("/species/{key}", response_model=Species)
async def put_species(key: str, body: Species, pests: PestsDep, who: Planner, audit: AuditDep) -> Species:
    """Enter or correct a species (it replaces a shipped one of the same key). Every group must carry its
    `source`: a value without one is refused naming the group's field."""
    if body.key != _key(key):
        raise ContractError("key", body.key, f"must be the key in the path ({key})")
    out = await pests.put_species(body, who.name)
    await audit(who.name, "species.put", f"species:{key}")
    return out


@router.delete("/species/{key}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response,
               responses=NOT_FOUND)
async def delete_species(key: str, pests: PestsDep, who: Planner, audit: AuditDep) -> Response:
    """Remove an agronomist's entry; a shipped species of that key comes back."""
    await pests.delete_species(_key(key))
    await audit(who.name, "species.delete", f"species:{key}")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/traps", response_model=list[TrapOut])
async def list_traps(pests: PestsDep, _: Reader) -> list[TrapOut]:
    return await pests.traps()


@router.put("/traps/{node}/{channel}", response_model=TrapOut, responses={**NOT_FOUND, 409: {"model": ProblemResponse}})
async def put_trap(node: str, channel: Channel, body: TrapIn, pests: PestsDep, who: RegistryWriter,
                   audit: AuditDep) -> TrapOut:
    """Set a trap up: on a camera node (channel 1) its card, lure and the width of card its photos show (the
    photos it already sent are counted now); on a pest node's pulse counter (channel 1-4) its lure."""
    out = await pests.put_trap(check_id("node", node), channel, body, who.name)
    await audit(who.name, "trap.put", f"trap:{node}/{channel}", card=str(body.card), lure=body.lure)
    return out


@router.get("/counts", response_model=list[CountOut])
async def list_counts(pests: PestsDep, _: Reader, node: str | None = None, zone: str | None = None,
                      start: str | int | None = None, end: str | int | None = None) -> list[CountOut]:
    """Trap-photo counts, oldest first, by node, zone and photo time [start, end)."""
    return await pests.counts(node=None if node is None else check_id("node", node),
                              zone=None if zone is None else check_id("zone", zone),
                              start_ms=None if start is None else parse_instant("start", start),
                              end_ms=None if end is None else parse_instant("end", end))


@router.get("/counts/{node}/{seq}", response_model=CountDetail, responses=NOT_FOUND)
async def get_count(node: str, seq: Seq, pests: PestsDep, _: Reader) -> CountDetail:
    """One photo's count with every object found (position, size, class, target, outline for drawing over
    the photo at /api/v1/images/{node}/{seq}/content) and its corrections."""
    return await pests.count(check_id("node", node), seq)


@router.post("/counts/{node}/{seq}/review", response_model=CountOut, responses=NOT_FOUND)
async def review_count(node: str, seq: Seq, body: ReviewIn, pests: PestsDep, who: Reviewer,
                       audit: AuditDep) -> CountOut:
    """A person's count of the photo: it replaces the counter's in every model (biofix, pressure, alerts),
    and the correction is kept with who, when, from what and why."""
    out = await pests.review(check_id("node", node), seq, body.target, body.total, who.name, body.note)
    await audit(who.name, "count.review", f"count:{node}/{seq}", target=out.reviewed_target,
                total=out.reviewed_total)
    return out


@router.get("/accuracy", response_model=list[AccuracyOut])
async def accuracy(pests: PestsDep, _: Reader, start: str | int | None = None,
                   end: str | int | None = None) -> list[AccuracyOut]:
    """Per trap node, the counter against the people who reviewed its photos: mean absolute error and bias."""
    return await pests.accuracy(None if start is None else parse_instant("start", start),
                                None if end is None else parse_instant("end", end))


@zones.get("/{zone_id}/pests", response_model=list[Season], responses=NOT_FOUND)
async def zone_pests(zone_id: str, pests: PestsDep, _: Reader) -> list[Season]:
    """Each species lured by a trap of the zone, this season: biofix (rule and date), degree days since,
    the stage calendar of this and the next generations (each date observed, forecast or from recent
    weather), the action window, and the catch against the species' action threshold with its trend
    and source; `missing` names what the table or the data lack."""
    return await pests.zone_seasons(check_id("zone", zone_id))


@sites.get("/{site}/normals", response_model=NormalsOut, responses=NOT_FOUND)
async def get_normals(site: str, pests: PestsDep, _: Reader) -> NormalsOut:
    """The site's climate normals for the pest forecast beyond the weather forecast: the farm's own (its
    weather nodes' history, from 10 years per calendar day), else the ones an agronomist imported, else
    none (then the forecast carries the recent weather on and says so); each calendar day's values."""
    return await pests.normals(check_id("site", site))


@sites.put("/{site}/normals", response_model=NormalsOut, responses=NOT_FOUND,
           openapi_extra={"requestBody": {"required": True, "content": {
               "text/csv": {"schema": {"type": "string", "format": "binary"}}}}})
async def put_normals(site: str, request: Request, pests: PestsDep, who: Planner, audit: AuditDep,
                      source: Annotated[str, Query(min_length=8, max_length=600, description=(
                          "where the normals come from, e.g. 'CMA 1991-2020 daily normals, station 54511'"))],
                      ) -> NormalsOut:
    """Import the site's daily normals (the body: a CSV of doy,tmax_c,tmin_c[,tmax_sd_c,tmin_sd_c], 365 or
    366 rows, UTF-8 or GB 18030; docs/pests.md). A file with any bad cell is refused whole, every bad cell
    named rows.<line>.<column> with its value; the farm's own normals, once it has 10 years, take over."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind not in ("text/csv", "text/plain", "application/octet-stream"):
        raise ContractError("content-type", kind, "normals are sent as text/csv")
    try:
        out = await pests.put_normals(check_id("site", site), await request.body(), source, who.name)
    except NormalsInvalid as e:
        raise HTTPException(422, [{"field": f, "value": v, "reason": r} for f, v, r in e.problems]) from None
    await audit(who.name, "normals.put", f"site:{site}", source=source)
    return out


@sites.delete("/{site}/normals", status_code=status.HTTP_204_NO_CONTENT, response_class=Response,
              responses=NOT_FOUND)
async def delete_normals(site: str, pests: PestsDep, who: Planner, audit: AuditDep) -> Response:
    """Remove the site's imported normals."""
    await pests.delete_normals(check_id("site", site))
    await audit(who.name, "normals.delete", f"site:{site}")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
