"""Field operations (issue 20): a machine's work on a field recorded from its track, and each field's
progress per kind of operation."""

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status

from furrow.edge.topics import check_id

from ...machinery import OperationService
from ...machinery.models import FieldProgress, OperationIn, OperationKind, OperationOut
from ..deps import AuditDep, OperationsWriter, Reader, get_services
from ..json_body import JsonRoute
from ..schemas import ProblemResponse

router = APIRouter(tags=["operations"], route_class=JsonRoute)


def get_operations(request: Request) -> OperationService:
    operations = get_services(request).operations
    assert operations is not None, "open_services sets the operations service"
    return operations


OperationsDep = Annotated[OperationService, Depends(get_operations)]


@router.post("/operations", status_code=status.HTTP_201_CREATED, response_model=OperationOut,
             responses={200: {"model": OperationOut, "description": "this track of this work was already recorded"},
                        404: {"model": ProblemResponse}, 409: {"model": ProblemResponse}})
async def record_operation(body: OperationIn, response: Response, operations: OperationsDep, who: OperationsWriter,
                           audit: AuditDep) -> OperationOut:
    """Record a machine's work on a field from its track (GPX, or CSV with time, lat, lon and implement
    down/up): the covered, overlapping and skipped area inside the field's boundary, the time and speed
    at work. The same track of the same work again returns the stored operation (200)."""
    check_id("field", body.field)
    out, new = await operations.record(body, f"person:{who.name}")
    if new:
        await audit(who.name, "operation.record", f"field:{body.field}", operation=out.id, kind=out.kind,
                    covered_ha=out.covered_ha)
    else:
        response.status_code = status.HTTP_200_OK
    return out


@router.get("/operations", response_model=list[OperationOut])
async def list_operations(operations: OperationsDep, _: Reader,
                          field: Annotated[str | None, Query(description="only this field's")] = None,
                          kind: Annotated[OperationKind | None, Query(description="only this kind")] = None,
                          ) -> list[OperationOut]:
    """Operations, newest first (without their covered ground: GET one for it)."""
    return await operations.list(None if field is None else check_id("field", field), kind)


@router.get("/operations/{op_id}", response_model=OperationOut, responses={404: {"model": ProblemResponse}})
async def get_operation(op_id: Annotated[int, Path(ge=1, le=2**63 - 1)], operations: OperationsDep,
                        _: Reader) -> OperationOut:
    """One operation with its covered ground as GeoJSON (WGS 84)."""
    return await operations.get(op_id)


@router.get("/fields/{field_id}/progress", response_model=FieldProgress,
            responses={404: {"model": ProblemResponse}, 409: {"model": ProblemResponse}})
async def field_progress(field_id: str, operations: OperationsDep, _: Reader) -> FieldProgress:
    """How much of the field each kind of operation has worked: the union of its operations' covered ground
    inside the field's boundary, in hectares and % of the field."""
    return await operations.progress(check_id("field", field_id))
