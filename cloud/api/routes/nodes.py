"""GET /nodes, GET /nodes/{node}/latest and GET /nodes/{node}/gaps."""

from typing import Annotated

from fastapi import APIRouter, Query

from furrow.edge.batch import GAP_REASONS
from furrow.edge.errors import ContractError
from furrow.edge.topics import check_id

from ..._time import parse_instant
from ...gaps import losses
from ...node_routes import Route
from ...storage import Reading
from ..deps import ClockDep, Reader, RoutesDep, ServicesDep, StoreDep
from ..json_body import JsonRoute
from ..schemas import NodeGapsOut, NodeOut, ProblemResponse, ReadingOut

router = APIRouter(prefix="/nodes", tags=["nodes"], route_class=JsonRoute)

WEEK_MS = 7 * 24 * 3600 * 1000
GAP_READINGS_MAX = 100_000  # readings read to find a window's unexplained holes


@router.get("", response_model=list[NodeOut])
async def list_nodes(routes: RoutesDep, _: Reader) -> list[Route]:
    """Every node heard so far, with the gateway its commands are routed through."""
    return await routes.all()


@router.get("/{node}/latest", response_model=list[ReadingOut],
            responses={422: {"model": ProblemResponse}})
async def latest(node: str, store: StoreDep, _: Reader) -> list[Reading]:
    """The newest reading of each sensor (measurement, depth, channel) of the node."""
    check_id("node", node)
    return await store.latest(node)


@router.get("/{node}/gaps", response_model=NodeGapsOut, responses={422: {"model": ProblemResponse}})
async def gaps(
    node: str,
    store: StoreDep,
    services: ServicesDep,
    clock: ClockDep,
    _: Reader,
    start: Annotated[str | None, Query(description="ISO 8601 or Unix ms; default end - 7 days")] = None,
    end: Annotated[str | None, Query(description="ISO 8601 or Unix ms (exclusive); default now")] = None,
) -> NodeGapsOut:
    """The node's readings that never reached storage in [start, end): what its gateways reported they
    did not forward (per reason: quota, flood, quarantine, each report with its seq ranges), and the
    seq ranges missing from the stored readings that no report explains (losses)."""
    check_id("node", node)
    end_ms = parse_instant("end", end) if end is not None else services.clock()
    start_ms = parse_instant("start", start) if start is not None else end_ms - WEEK_MS
    if start_ms >= end_ms:
        raise ContractError("start", start, "must be before end")
    reports = await services.gaps.for_node(node, start_ms, end_ms)
    readings = await store.query(node, None, start_ms, end_ms, GAP_READINGS_MAX)
    dropped = dict.fromkeys(GAP_REASONS, 0)
    for r in reports:
        dropped[r.reason] = dropped.get(r.reason, 0) + r.count
    found = losses((r.seq for r in readings), (span for r in reports for span in r.seqs))
    return NodeGapsOut(
        node=node, start_ms=start_ms, end_ms=end_ms, dropped=dropped,
        reports=[{"site": r.site, "gateway": r.gateway, "reason": r.reason, "count": r.count, "seqs": r.seqs,
                  "first_ms": r.first_ms, "last_ms": r.last_ms, "received_ms": r.received_ms} for r in reports],
        losses=[{"first_seq": x.first, "last_seq": x.last, "count": x.count, "likely_restart": x.likely_restart}
                for x in found],
        complete=len(readings) < GAP_READINGS_MAX,
    )
