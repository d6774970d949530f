"""POST /ingest/batch: the HTTPS path for gateways (the MQTT worker is the other)."""

from fastapi import APIRouter, Request

from furrow.edge.batch import RECEIPT_STORED

from ...auth import Principal, Role
from ...errors import Forbidden
from ...ingest import ingest_batch
from ...tenancy import ingest_guard
from ..deps import Ingester, RoutesDep, ServicesDep, StoreDep
from ..json_body import JsonRoute
from ..schemas import EXAMPLE_BATCH, IngestResponse, ProblemResponse

router = APIRouter(prefix="/ingest", tags=["ingest"], route_class=JsonRoute)


def gateway_origin(who: Principal) -> tuple[str, str] | None:
    """The (site, gateway) a gateway token speaks for: its user is named `<site>.<gateway>`.

    Other roles allowed to ingest (admin) are not bound to one gateway.
    """
    if who.role is not Role.GATEWAY:
        return None
    site, dot, gateway = who.name.partition(".")
    if not dot or not site or not gateway:
        raise Forbidden("user", who.name, "a gateway token's user must be named <site>.<gateway>, "
                        "so its batches can be checked against it")
    return site, gateway



@router.post(
    "/batch",
    response_model=IngestResponse,
    responses={
        413: {"model": ProblemResponse, "description": "the batch inflates past the size limit"},
        422: {"model": ProblemResponse, "description": "the envelope breaks the contract"},
        503: {"model": ProblemResponse, "description": "storage unavailable: retry later"},
    },
    openapi_extra={"requestBody": {
        "required": True,
        "content": {"application/json": {
            "schema": {"type": "object", "description": "a batch as defined in edge/batch.py"},
            "example": EXAMPLE_BATCH,
        }},
    }},
)
async def post_batch(request: Request, store: StoreDep, routes: RoutesDep, services: ServicesDep,
                     who: Ingester) -> IngestResponse:
    """Store a gateway's batch. Good items are kept, each bad item is reported;
    a batch already stored is stored once. The body is checked by the contract
    (edge/batch.py), not by a second schema here; it may be zlib-compressed
    (first byte 0x78), up to 16 MiB inflated. A gateway token (user `<site>.<gateway>`)
    may only post its own gateway's batches: another envelope is a 422 naming `gateway`.
    A site of another organisation than the token's is a 422 naming `site`; an item whose node
    is registered to another organisation than the batch's site is rejected, naming `node`.
    The answer is the batch's receipt: `status` "stored" once every good item and gap report is kept."""
    result = await ingest_batch(await request.body(), store, routes, origin=gateway_origin(who),
                                events=services.events, gaps=services.gaps, tracks=services.tracks,
                                clock=services.clock, owners=ingest_guard(services.db),
                                poster=who.organisation)
    return IngestResponse(
        batch_id=result.batch_id,
        status=RECEIPT_STORED,
        gaps=result.gaps,
        fixes=result.fixes,
        accepted=result.accepted,
        readings=result.readings,
        stored=result.stored,
        rejected=[
            {"index": r.index, "field": r.field, "value": r.value, "reason": r.reason}
            for r in result.rejected
        ],
    )
