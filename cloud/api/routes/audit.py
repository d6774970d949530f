"""The audit log, for admins."""

from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from ...audit import MAX_LIMIT
from ..deps import AuditReader, ServicesDep
from ..json_body import JsonRoute

router = APIRouter(tags=["audit"], route_class=JsonRoute)


class AuditEntryOut(BaseModel):
    id: int
    ts_ms: int
    actor: str
    action: str
    target: str
    client: str
    detail: dict[str, Any] | None


@router.get("/audit", response_model=list[AuditEntryOut])
async def read_audit(services: ServicesDep, who: AuditReader,
                     limit: int = Query(default=100, ge=1, le=MAX_LIMIT),
                     since_ms: int | None = Query(default=None, ge=0, le=2**63 - 1)) -> list[AuditEntryOut]:
    """Changes by the caller's organisation, newest first: who (user), what (action and target), when
    (ts_ms) and from where (the client's address); `since_ms` keeps those at or after it."""
    assert services.audit is not None
    return [AuditEntryOut(**e.as_dict()) for e in await services.audit.recent(limit, since_ms, who.organisation)]
