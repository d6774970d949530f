"""POST /ingest/batch: the HTTPS path for gateways (the MQTT worker is the other)."""

from fastapi import APIRouter, Request

from ...ingest import ingest_batch
from ..deps import RoutesDep, StoreDep
from ..schemas import EXAMPLE_BATCH, IngestResponse, MessageResponse, ProblemResponse

router = APIRouter(prefix="/ingest", tags=["ingest"])


@router.post(
    "/batch",
    response_model=IngestResponse,
    responses={
        422: {"model": ProblemResponse, "description": "the envelope breaks the contract"},
        503: {"model": MessageResponse, "description": "storage unavailable: retry later"},
    },
    openapi_extra={"requestBody": {
        "required": True,
        "content": {"application/json": {
            "schema": {"type": "object", "description": "a batch as defined in edge/batch.py"},
            "example": EXAMPLE_BATCH,
        }},
    }},
)
async def post_batch(request: Request, store: StoreDep, routes: RoutesDep) -> IngestResponse:
    """Store a gateway's batch. Good items are kept, each bad item is reported;
    a batch already stored is stored once. The body is checked by the contract
    (edge/batch.py), not by a second schema here."""
    result = await ingest_batch(await request.body(), store, routes)
    return IngestResponse(
        batch_id=result.batch_id,
        accepted=result.accepted,
        readings=result.readings,
        stored=result.stored,
        rejected=[
            {"index": r.index, "field": r.field, "value": r.value, "reason": r.reason}
            for r in result.rejected
        ],
    )
