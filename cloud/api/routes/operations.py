"""Field operations (issue 20): a machine's work on a field recorded from its track, and each field's
progress per kind of operation."""

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status

from furrow.edge.errors import ContractError
from furrow.edge.topics import check_id

from ...machinery import OperationService, TrackStore
from ...machinery.eta import machine_etas
from ...machinery.models import (
    CropsProgress,
    DispatchCurrent,
    DispatchIn,
    DispatchOut,
    FieldProgress,
    GrainMoistureIn,
    GrainMoistureOut,
    MachineOut,
    OperationIn,
    OperationKind,
    OperationOut,
    YieldLogIn,
    YieldLogOut,
    YieldTotals,
)
from ...machinery.tracks import MAX_FIXES
from ..deps import AuditDep, JobReader, OperationsWriter, Planner, Reader, get_services
from ..json_body import JsonRoute
from ..schemas import ProblemResponse

router = APIRouter(tags=["operations"], route_class=JsonRoute)


def get_operations(request: Request) -> OperationService:
    operations = get_services(request).operations
    assert operations is not None, "open_services sets the operations service"
    return operations


OperationsDep = Annotated[OperationService, Depends(get_operations)]


def get_tracks(request: Request) -> TrackStore:
    tracks = get_services(request).tracks
    assert tracks is not None, "open_services sets the track store"
    return tracks


TracksDep = Annotated[TrackStore, Depends(get_tracks)]
MS = Query(ge=0, le=9_000_000_000_000, description="Unix ms")


@router.post("/operations", status_code=status.HTTP_201_CREATED, response_model=OperationOut,
             responses={200: {"model": OperationOut, "description": "this track of this work was already recorded"},
                        404: {"model": ProblemResponse}, 409: {"model": ProblemResponse}})
async def record_operation(body: OperationIn, response: Response, operations: OperationsDep, who: OperationsWriter,
                           audit: AuditDep) -> OperationOut:
    """Record a machine's work on a field from its track (GPX, or CSV with time, lat, lon and implement
    down/up), or from its tracker's live track between from_ms and to_ms: the covered, overlapping and
    skipped area inside the field's boundary, the time and speed at work. The same track of the same work
    again returns the stored operation (200); a live window again is computed again from the fixes stored
    by then (200)."""
    check_id("field", body.field)
    out, new = await operations.record(body, f"person:{who.name}")
    if new:
        await audit(who.name, "operation.record", f"field:{body.field}", operation=out.id, kind=out.kind,
                    covered_ha=out.covered_ha)
    else:
        response.status_code = status.HTTP_200_OK
    return out


@router.get("/operations", response_model=list[OperationOut])
async def list_operations(operations: OperationsDep, _: JobReader,
                          field: Annotated[str | None, Query(description="only this field's")] = None,
                          kind: Annotated[OperationKind | None, Query(description="only this kind")] = None,
                          ) -> list[OperationOut]:
    """Operations, newest first (without their covered ground: GET one for it)."""
    return await operations.list(None if field is None else check_id("field", field), kind)


@router.get("/operations/{op_id}", response_model=OperationOut, responses={404: {"model": ProblemResponse}})
async def get_operation(op_id: Annotated[int, Path(ge=1, le=2**63 - 1)], operations: OperationsDep,
                        _: JobReader) -> OperationOut:
    """One operation with its covered ground as GeoJSON (WGS 84)."""
    return await operations.get(op_id)


@router.get("/fields/{field_id}/progress", response_model=FieldProgress,
            responses={404: {"model": ProblemResponse}, 409: {"model": ProblemResponse}})
async def field_progress(field_id: str, operations: OperationsDep, _: JobReader) -> FieldProgress:
    """How much of the field each kind of operation has worked: the union of its operations' covered ground
    inside the field's boundary, in hectares and % of the field."""
    return await operations.progress(check_id("field", field_id))


@router.get("/machines", response_model=list[MachineOut])
async def machines(tracks: TracksDep, _: JobReader) -> list[MachineOut]:
    """Every tracker where its newest stored fix places it."""
    return [MachineOut(node=node, site=site, t_ms=f.t_ms, lat=f.lat, lon=f.lon, speed_kmh=round(f.speed_kmh, 2),
                       course_deg=f.course_deg, quality=f.quality, sats=f.sats, implement_down=f.implement_down,
                       engine_on=f.engine_on, fixes=n) for node, site, f, n in await tracks.latest()]


@router.get("/machines/{node}/track", responses={422: {"model": ProblemResponse}})
async def machine_track(node: str, tracks: TracksDep, _: JobReader, from_ms: Annotated[int, MS],
                        to_ms: Annotated[int, MS]) -> dict:
    """A tracker's live track between from_ms and to_ms (at most 7 days, 200,000 fixes) as a GeoJSON
    FeatureCollection of Point features in time order, with the properties a track file import reads
    (`time` in Unix ms, `implement` down/up) and speed, course, fix quality and satellites."""
    check_id("node", node)
    if not 0 < to_ms - from_ms <= 7 * 86_400_000:
        raise ContractError("to_ms", to_ms, f"must be after from_ms {from_ms}, by at most 7 days")
    fixes = await tracks.track(node, from_ms, to_ms, MAX_FIXES)
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [f.lon, f.lat]},
         "properties": {"time": f.t_ms, "implement": "down" if f.implement_down else "up",
                        "speed_kmh": round(f.speed_kmh, 2), "course_deg": f.course_deg, "quality": f.quality,
                        "sats": f.sats, "valid": f.valid, "engine_on": f.engine_on}} for f in fixes]}


@router.post("/dispatch/plan", response_model=DispatchOut,
             responses={404: {"model": ProblemResponse}, 409: {"model": ProblemResponse}})
async def dispatch_plan(body: DispatchIn, operations: OperationsDep, who: OperationsWriter) -> DispatchOut:
    """Plan which machine does which task, in what order, so that all are done soonest (docs/machinery.md
    section 6): work time from each machine's field capacity and the area each field has left for the task's
    kind, travel between fields, only machines carrying the implement; OR-Tools with a greedy fallback. A
    machine with a tracker (`node`) stands where its newest fix is: plan again for fresh ETAs, or with a broken
    machine `available: false`. Without `machines` and `tasks` it plans with the registry's (GET
    /registry/machines, /registry/tasks: the machines that can work and the tasks not done). With `keep: true` the
    plan becomes the farm's current one (GET /dispatch/current), which the dispatch page and each operator's job
    page show; otherwise nothing is stored."""
    for t in body.tasks or []:  # none given: the registry's (checked there)
        check_id("field", t.field)
    return await operations.dispatch(body, who.name, who.organisation)


@router.get("/dispatch/current", response_model=DispatchCurrent, responses={404: {"model": ProblemResponse}})
async def dispatch_current(operations: OperationsDep, who: JobReader) -> DispatchCurrent:
    """The farm's current dispatch plan (the newest kept with `keep: true`), the machines and tasks it was made
    from and who asked for it; 404 when none was kept."""
    return await operations.current(who.organisation)


@router.get("/dispatch/etas")
async def dispatch_etas(operations: OperationsDep, who: JobReader) -> list[dict]:
    """Each machine of the current plan with a task left: its task now, the area left (the field less what the
    recorded operations of its kind cover, less what the machine's live track has worked since), its field
    capacity (ASABE EP496.3: C = S w E / 10 ha/h) and the finish estimate; the same list is pushed as the live
    ``eta`` event as new fixes arrive (docs/machinery.md, section 6). Empty without a kept plan."""
    return await machine_etas(operations, who.organisation)


@router.get("/progress/crops", response_model=CropsProgress)
async def crops_progress(operations: OperationsDep, who: Reader) -> CropsProgress:
    """Per crop, over the zones that grow it (zones with a boundary): their area, the area planted (the
    sowing operations' covered ground inside them) and each kind of operation's progress."""
    return await operations.crops(who.organisation)


@router.post("/yield-logs", response_model=YieldLogOut, status_code=status.HTTP_201_CREATED,
             responses={200: {"model": YieldLogOut, "description": "this log for this field was posted before"},
                        404: {"model": ProblemResponse}, 409: {"model": ProblemResponse}})
async def record_yield_log(body: YieldLogIn, response: Response, operations: OperationsDep, who: OperationsWriter,
                           audit: AuditDep) -> YieldLogOut:
    """A combine's yield monitor log for a field (docs/machinery.md section 8): cleaned with the standard
    filters (flow delay, start/end of pass, speed, yield outliers) and totalled at standard moisture inside
    the field's boundary; the yield map's points kept (GET /yield-logs/{id}). The same log for the same field
    again answers 200 with the stored totals. 422 names the log's line and column."""
    check_id("field", body.field)
    out, new = await operations.yields.record(body, f"person:{who.name}")
    if new:
        await audit(who.name, "yield_log.record", f"field:{body.field}", yield_log=out.id, mass_kg=out.mass_kg)
    else:
        response.status_code = status.HTTP_200_OK
    return out


@router.get("/yield-logs", response_model=list[YieldLogOut])
async def list_yield_logs(operations: OperationsDep, _: Reader,
                          field: Annotated[str | None, Query(description="only this field's")] = None,
                          ) -> list[YieldLogOut]:
    """Yield logs' totals, newest first (without their maps: GET one for it)."""
    return await operations.yields.list(None if field is None else check_id("field", field))


@router.get("/yield-totals", response_model=YieldTotals)
async def yield_totals(operations: OperationsDep, who: Reader,
                       season: Annotated[int | None, Query(ge=1970, le=2200,
                                                           description="the year the harvests started in (UTC)")]
                       = None) -> YieldTotals:
    """The harvest per field (and crop) and per crop from the yield logs, each at its crop's standard moisture:
    the organisation's own (PUT /standard-moistures/{crop}), else the built-in one (maize 15.5 %, wheat 13.5 %,
    soybean 13 %, barley 14.5 %: docs/machinery.md section 8); a log posted again with other settings counts once
    (the newest). Only the caller's organisation's fields."""
    return await operations.yields.totals(season, who.organisation)


GrainCrop = Annotated[str, Path(min_length=1, max_length=64, description="the crop as the yield logs name it")]


@router.get("/standard-moistures", response_model=list[GrainMoistureOut])
async def standard_moistures(operations: OperationsDep, who: Reader) -> list[dict]:
    """The moisture each crop's yield totals are given at for the caller's organisation: its own entries, with
    the sources it gave, and the built-in United States figures it has not replaced (docs/machinery.md
    section 8)."""
    return await operations.yields.moistures(who.organisation)


@router.put("/standard-moistures/{crop}", response_model=list[GrainMoistureOut],
            responses={422: {"model": ProblemResponse}})
async def put_standard_moisture(crop: GrainCrop, body: GrainMoistureIn, operations: OperationsDep, who: Planner,
                                audit: AuditDep) -> list[dict]:
    """Set the organisation's own standard moisture for a crop, with its source (a Chinese farm's GB figure,
    say): its yield totals and the crop's logs posted without a moisture take it."""
    if not crop.strip():
        raise ContractError("crop", crop, "must name the crop, as the yield logs name it (e.g. maize)")
    out = await operations.yields.put_moisture(who.organisation, crop.strip(), body.pct, body.source,
                                               f"person:{who.name}")
    await audit(who.name, "grain.moisture", f"crop:{crop}", pct=body.pct, source=body.source)
    return out


@router.delete("/standard-moistures/{crop}", response_model=list[GrainMoistureOut],
               responses={404: {"model": ProblemResponse}})
async def delete_standard_moisture(crop: GrainCrop, operations: OperationsDep, who: Planner,
                                   audit: AuditDep) -> list[dict]:
    """Drop the organisation's own standard moisture for a crop (back to the built-in one, if any)."""
    out = await operations.yields.delete_moisture(who.organisation, crop.strip())
    await audit(who.name, "grain.moisture.delete", f"crop:{crop}")
    return out


@router.get("/yield-logs/{log_id}", response_model=YieldLogOut, responses={404: {"model": ProblemResponse}})
async def get_yield_log(log_id: Annotated[int, Path(ge=1, le=2**63 - 1)], operations: OperationsDep,
                        _: Reader) -> YieldLogOut:
    """One yield log's totals with its yield map: [lon, lat, t/ha] of each point the filters kept."""
    return await operations.yields.get(log_id)
