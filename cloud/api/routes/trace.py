"""Production records (issue 21): the append-only, hash-chained record of every operation on a field in a
season; its signed heads; verifying the chains; a harvest lot traced back."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response, status
from fastapi.responses import HTMLResponse

from furrow.edge.topics import check_id

from ...errors import NotFound
from ...trace import TraceService
from ...trace.models import (
    ChainOut,
    CheckpointOut,
    DefaultItemsIn,
    PublicationOut,
    PublishIn,
    RecordIn,
    RecordOut,
    Season,
)
from ...trace.pages import choose_lang, public_page, report_page
from ...trace.publish import PublishItem
from ..deps import AuditDep, Reader, RecordsWriter, TraceSigner, get_services
from ..json_body import JsonRoute
from ..schemas import ProblemResponse

router = APIRouter(prefix="/trace", tags=["traceability"], route_class=JsonRoute)
# The one page with data and no token: a published lot, behind its unguessable token (mounted outside /api/v1).
public = APIRouter(tags=["traceability"])


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


def public_url(request: Request, token: str | None) -> str | None:
    """The address of a publication's public page: FURROW_PUBLIC_URL's, else the one this request came to."""
    if token is None:
        return None
    base = get_services(request).settings.public_url
    return f"{str(base or request.base_url).rstrip('/')}/lot/{token}"


Lang = Annotated[str | None, Query(pattern=r"^(zh|en)(-[A-Za-z]{2,4})?$", description="zh or en (else the "
                                   "browser's Accept-Language)")]


HTML_PAGE = {"content": {"text/html": {}}, "description": "an HTML page"}


@router.get("/lots/{lot_id}/report", response_class=Response,
            responses={200: HTML_PAGE, 404: {"model": ProblemResponse}})
async def lot_report(lot_id: str, request: Request, trace: TraceDep, _: Reader, lang: Lang = None,
                     accept_language: Annotated[str | None, Header()] = None) -> HTMLResponse:
    """The lot's printable report (HTML, print it from the browser): everything of its trace and, when the lot
    is published, a QR code of its public page and what that page shows."""
    lot = await trace.lot(lot_id)
    full = await trace.view(lot, list(PublishItem))
    pub = await trace.publication(lot_id)
    url = public_url(request, pub["token"]) if pub else None
    return HTMLResponse(report_page(lot, full, url, pub["items"] if pub else None,
                                    choose_lang(lang, accept_language)))


@router.get("/lots/{lot_id}/publication", response_model=PublicationOut, responses={404: {"model": ProblemResponse}})
async def get_publication(lot_id: str, request: Request, trace: TraceDep, _: Reader) -> dict[str, Any]:
    """The lot's publication: its token, public address and what it shows (404 when not published)."""
    pub = await trace.publication(lot_id)
    if pub is None:
        raise NotFound("lot", lot_id, "this lot is not published")
    return {**pub, "url": public_url(request, pub["token"])}


@router.post("/lots/{lot_id}/publication", status_code=status.HTTP_201_CREATED, response_model=PublicationOut,
             responses={404: {"model": ProblemResponse}})
async def publish_lot(lot_id: str, body: PublishIn, request: Request, trace: TraceDep, who: RecordsWriter,
                      audit: AuditDep) -> dict[str, Any]:
    """Publish the lot: a new unguessable token whose public page (/lot/{token}, the report's QR code) shows
    `items` only (the farm-wide default without them). Publishing again replaces the token: the old one
    answers 404."""
    pub = await trace.publish(lot_id, body.items, who.name)
    await audit(who.name, "trace.publish", f"lot:{lot_id}", items=pub["items"])
    return {**pub, "url": public_url(request, pub["token"])}


@router.delete("/lots/{lot_id}/publication", response_model=PublicationOut,
               responses={404: {"model": ProblemResponse}})
async def withdraw_lot(lot_id: str, trace: TraceDep, who: RecordsWriter, audit: AuditDep) -> dict[str, Any]:
    """Withdraw the lot's publication: its public page answers 404 from now on (printed QR codes too)."""
    pub = await trace.withdraw(lot_id)
    await audit(who.name, "trace.withdraw", f"lot:{lot_id}")
    return pub


@router.get("/publication-default", response_model=DefaultItemsIn)
async def get_default_items(trace: TraceDep, _: Reader) -> dict[str, Any]:
    """What a lot published without a choice of its own shows."""
    return {"items": await trace.default_items()}


@router.put("/publication-default", response_model=DefaultItemsIn)
async def set_default_items(body: DefaultItemsIn, trace: TraceDep, who: RecordsWriter,
                            audit: AuditDep) -> dict[str, Any]:
    """Set the farm-wide default of what a published lot shows (lots published before keep their choice)."""
    items = await trace.set_default_items(body.items, who.name)
    await audit(who.name, "trace.publication_default", "trace", items=items)
    return {"items": items}


@public.get("/lot/{token}", response_class=Response, responses={200: HTML_PAGE, 404: {"model": ProblemResponse},
                                                                 422: {"model": ProblemResponse}})
async def public_lot(token: str, request: Request, lang: Lang = None,
                     accept_language: Annotated[str | None, Header()] = None) -> HTMLResponse:
    """A published lot's public page, no login: only what the farm chose to publish. An unknown or withdrawn
    token is 404."""
    view = await get_trace(request).public(token)
    if view is None:
        raise NotFound("token", None, "no published lot has this address, or it was withdrawn")
    return HTMLResponse(public_page(view, choose_lang(lang, accept_language)),
                        headers={"Cache-Control": "no-store", "X-Robots-Tag": "noindex",
                                 "Referrer-Policy": "no-referrer"})
