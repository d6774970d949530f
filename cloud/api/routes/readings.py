"""GET /readings: stored values by node, measurement and time."""

from typing import Annotated

from fastapi import APIRouter, Query

from furrow.edge.errors import ContractError
from furrow.edge.measurements import MEASUREMENTS
from furrow.edge.topics import check_id

from ..._time import parse_instant
from ...storage import Reading
from ..deps import ClockDep, Reader, StoreDep
from ..json_body import JsonRoute
from ..schemas import ProblemResponse, ReadingOut

router = APIRouter(tags=["readings"], route_class=JsonRoute)

DAY_MS = 24 * 3600 * 1000


@router.get("/readings", response_model=list[ReadingOut],
            responses={422: {"model": ProblemResponse}})
async def get_readings(
    store: StoreDep,
    clock: ClockDep,
    _: Reader,
    node: str | None = None,
    measurement: Annotated[str | None, Query(examples=["vwc_pct"])] = None,
    start: Annotated[str | None, Query(description="ISO 8601 or Unix ms; default end - 24 h",
                                       examples=["2026-01-01T00:00:00Z"])] = None,
    end: Annotated[str | None, Query(description="ISO 8601 or Unix ms (exclusive); default now",
                                     examples=["1767225600000"])] = None,
    limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
) -> list[Reading]:
    """Readings with start <= ts < end, oldest first."""
    if node is not None:
        check_id("node", node)
    if measurement is not None and measurement not in MEASUREMENTS:
        raise ContractError("measurement", measurement, "unknown measurement")
    end_ms = parse_instant("end", end) if end is not None else clock()
    start_ms = parse_instant("start", start) if start is not None else end_ms - DAY_MS
    if start_ms >= end_ms:
        raise ContractError("start", start, "must be before end")
    return await store.query(node, measurement, start_ms, end_ms, limit)
