"""Production records (issue 21): the append-only, hash-chained record of every operation on a field in a
season; its signed heads; verifying the chains; a harvest lot traced back."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, status

from furrow.edge.topics import check_id

from ...trace import TraceService
from ...trace.models import ChainOut, CheckpointOut, RecordIn, RecordOut, Season
from ..deps import AuditDep, Reader, RecordsWriter, TraceSigner, get_services
from ..json_body import JsonRoute
from ..schemas import ProblemResponse

router = APIRouter(prefix="/trace", tags=["traceability"], route_class=JsonRoute)


def get_trace(request: Request) -> TraceService:
    trace = get_services(request).trace
    assert trace is not None, "open_services sets the trace service"
    return trace


TraceDep = Annotated[TraceService, Depends(get_trace)]


@router.post("/records", status_code=status.HTTP_201_CREATED, response_model=RecordOut,
             responses={200: {"model": RecordOut, "description": "this idempotency key was recorded already"},
                        404: {"model": ProblemResponse}})
async def add_record(body: RecordIn, response: Response, trace: TraceDep, who: RecordsWriter,
                     audit: AuditDep) -> dict[str, Any]:
    """Add an operation on a field to its season's record: sowing (seed lot), irrigation, fertilisation,
    spraying (product, rate, pre-harvest interval), harvest (lot, quantity), tillage. To correct a record,
    send the corrected one naming it in `corrects` with a `reason`; `void` withdraws it. Nothing is ever
    edited: both stay in the chain."""
    check_id("field", body.field)
    if body.zone is not None:
        check_id("zone", body.zone)
    rec, new = await trace.record(body, f"person:{who.name}")
    if new:
        await audit(who.name, "trace.record", f"trace:{rec['field']}/{rec['season']}/{rec['seq']}",
                    kind=rec["kind"], corrects=rec["corrects"], hash=rec["hash"])
    else:
        response.status_code = status.HTTP_200_OK
    return rec


@router.get("/records", response_model=list[RecordOut])
async def list_records(trace: TraceDep, _: Reader, field: Annotated[str, Query(description="the field")],
                       season: Annotated[Season, Query(description="the season")]) -> list[dict[str, Any]]:
    """One field's chain of one season, in order (corrections and what they correct both appear)."""
    return await trace.chain(check_id("field", field), season)


@router.get("/chains", response_model=list[ChainOut])
async def list_chains(trace: TraceDep, _: Reader,
                      field: Annotated[str | None, Query(description="only this field's")] = None,
                      ) -> list[dict[str, Any]]:
    """Every chain: its length, its head's hash and the newest signed head."""
    return await trace.chains(None if field is None else check_id("field", field))


@router.get("/checkpoints", response_model=list[CheckpointOut])
async def list_checkpoints(trace: TraceDep, _: Reader, field: Annotated[str, Query()],
                           season: Annotated[Season, Query()]) -> list[dict[str, Any]]:
    """A chain's signed heads (Ed25519 over RFC 8785 JSON, docs/traceability.md), to keep a copy elsewhere."""
    return await trace.checkpoints(check_id("field", field), season)


@router.post("/checkpoints", response_model=list[CheckpointOut])
async def sign_checkpoints(trace: TraceDep, who: TraceSigner, audit: AuditDep) -> list[dict[str, Any]]:
    """Sign now the head of every chain that grew since its last signed head (the service does it every
    FURROW_TRACE_SIGN_INTERVAL_S): the new signed heads; none when the service has no signing key."""
    out = await trace.sign_heads()
    if out:
        await audit(who.name, "trace.sign", "trace", chains=len(out))
    return out


@router.get("/verify")
async def verify(trace: TraceDep, _: Reader,
                 field: Annotated[str | None, Query(description="only this field's chains")] = None,
                 season: Annotated[Season | None, Query(description="only this season's")] = None,
                 ) -> dict[str, Any]:
    """Check every chain against its hashes and signed heads (with the service's own public keys); each
    chain's first bad record is named. `furrow trace verify` does the same from the database and the .pub
    files alone."""
    reports = await trace.verify(field_id=None if field is None else check_id("field", field), season=season)
    return {"ok": all(r.ok for r in reports), "chains": [r.as_dict() for r in reports]}


@router.get("/lots/{lot_id}", responses={404: {"model": ProblemResponse}})
async def trace_lot(lot_id: str, trace: TraceDep, _: Reader) -> dict[str, Any]:
    """A harvest lot traced back: its fields, their operations that season, the seed lots, fertilisers and
    sprays (with each pre-harvest interval checked against the harvest date), the water applied, and whether
    each chain it rests on verifies. JSON, to export."""
    return await trace.lot(lot_id)
