"""What routes depend on, as ``Annotated[..., Depends()]`` aliases."""

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from .._time import Clock, now_ms
from ..alerts import AlertService
from ..audit import AuditLog, Auditor
from ..auth import AuthError, Permission, Principal, TokenStore, allows, roles_with
from ..auth.ratelimit import LoginLimiter
from ..cluster import Cluster
from ..commands import CommandService
from ..db import Database
from ..errors import Forbidden
from ..events import EventBus
from ..fertility import FertigationService, FertilityService
from ..gaps import GapStore
from ..gateway_status import StatusBook
from ..identity import CredentialStore
from ..images import ImageService
from ..machinery import OperationService, TrackStore
from ..mqtt_worker import MqttWorker
from ..node_routes import NodeRoutes
from ..pests import PestService
from ..planning import PlanningService
from ..registry import Registry
from ..settings import Settings
from ..storage import MergedWrites, ReadingStore
from ..trace import TraceService
from ..vigour import VigourService


@dataclass
class Services:
    """Everything the lifespan opens, shared by all requests."""

    settings: Settings
    store: ReadingStore
    db: Database
    routes: NodeRoutes
    commands: CommandService
    tokens: TokenStore
    registry: Registry
    planning: PlanningService
    gaps: GapStore
    worker: MqttWorker | None = None
    background: list = field(default_factory=list)
    demo_token: str | None = None
    audit: AuditLog | None = None  # set by open_services
    credentials: CredentialStore | None = None
    login_limiter: LoginLimiter = field(default_factory=LoginLimiter)
    alerts: AlertService | None = None  # set by open_services
    events: EventBus = field(default_factory=EventBus)
    gateway_status: StatusBook = field(default_factory=StatusBook)  # gateways' Modbus counters (bus page)
    images: ImageService | None = None  # set by open_services
    clock: Clock = now_ms  # what every service here reads the time from (open_services)
    cluster: Cluster | None = None  # the other instances and the job leases (set by open_services)
    vigour: VigourService | None = None  # set by open_services: canopy cover per zone
    pests: PestService | None = None  # set by open_services: traps, trap-photo counts, species seasons
    fertility: FertilityService | None = None  # set by open_services: soil tests and fertiliser advice
    fertigation: FertigationService | None = None  # set by open_services: fertigate commands and their records
    operations: OperationService | None = None  # set by open_services: field operations from machine tracks
    tracks: TrackStore | None = None  # set by open_services: trackers' live fixes
    trace: TraceService | None = None  # set by open_services: production records, their chains and signed heads
    ingest_writes: MergedWrites | None = None  # set with the MQTT worker: its batches' readings, written merged


def get_services(request: Request) -> Services:
    return request.app.state.services


def get_store(request: Request) -> ReadingStore:
    return get_services(request).store


def get_routes(request: Request) -> NodeRoutes:
    return get_services(request).routes


def get_commands(request: Request) -> CommandService:
    return get_services(request).commands


ServicesDep = Annotated[Services, Depends(get_services)]
StoreDep = Annotated[ReadingStore, Depends(get_store)]
RoutesDep = Annotated[NodeRoutes, Depends(get_routes)]
CommandsDep = Annotated[CommandService, Depends(get_commands)]


def get_registry(request: Request) -> Registry:
    return get_services(request).registry


RegistryDep = Annotated[Registry, Depends(get_registry)]


def get_planning(request: Request) -> PlanningService:
    return get_services(request).planning


PlanningDep = Annotated[PlanningService, Depends(get_planning)]


def get_alerts(request: Request) -> AlertService:
    alerts = get_services(request).alerts
    assert alerts is not None, "open_services sets the alert service"
    return alerts


AlertsDep = Annotated[AlertService, Depends(get_alerts)]


def get_clock(request: Request) -> Clock:
    return get_services(request).clock


ClockDep = Annotated[Clock, Depends(get_clock)]
"""The service's clock: what "now" means in a route (a default end time, an age)."""

# --- authentication and roles ------------------------------------------------

_bearer = HTTPBearer(auto_error=False, description="a Furrow API token: `Authorization: Bearer fw_...`")


async def authenticate(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller behind the bearer token; AuthError (401) without a valid one."""
    if credentials is None and request.url.path == "/api/v1/events" and "token" in request.query_params:
        # A browser's EventSource cannot set headers; this one stream also takes ?token=
        # (it then shows in access logs: docs/dashboard.md says why the dashboard avoids it).
        return await get_services(request).tokens.verify(request.query_params["token"])
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise AuthError("an Authorization: Bearer token is required")
    return await get_services(request).tokens.verify(credentials.credentials)


PrincipalDep = Annotated[Principal, Depends(authenticate)]


def allow(permission: Permission):
    """A route guard: the caller's role must hold `permission` (else Forbidden, 403)."""

    async def guard(principal: PrincipalDep) -> Principal:
        if not allows(principal.role, permission):
            needed = ", ".join(roles_with(permission))
            raise Forbidden("role", str(principal.role), f"may not {permission!s}; this needs one of: {needed}")
        return principal

    guard.__name__ = f"allow_{permission}"
    return Depends(guard)


Reader = Annotated[Principal, allow(Permission.READ)]
RegistryWriter = Annotated[Principal, allow(Permission.REGISTRY_WRITE)]
CommandWriter = Annotated[Principal, allow(Permission.COMMAND_WRITE)]
Planner = Annotated[Principal, allow(Permission.PLAN)]
Reviewer = Annotated[Principal, allow(Permission.PEST_REVIEW)]
OperationsWriter = Annotated[Principal, allow(Permission.OPERATIONS_WRITE)]
RecordsWriter = Annotated[Principal, allow(Permission.RECORDS_WRITE)]
TraceSigner = Annotated[Principal, allow(Permission.TRACE_SIGN)]
Ingester = Annotated[Principal, allow(Permission.INGEST)]
UserAdmin = Annotated[Principal, allow(Permission.USER_ADMIN)]
CredentialsWriter = Annotated[Principal, allow(Permission.CREDENTIALS_WRITE)]
AuditReader = Annotated[Principal, allow(Permission.AUDIT_READ)]
AlertAcker = Annotated[Principal, allow(Permission.ALERT_ACK)]
AnyRole = Annotated[Principal, allow(Permission.HEALTH)]


def client_address(request: Request) -> str:
    """The caller's address as the server saw it (uvicorn applies X-Forwarded-For only from
    its --forwarded-allow-ips)."""
    return request.client.host if request.client is not None else "unknown"


def get_auditor(request: Request) -> Auditor:
    return Auditor(get_services(request).audit, client_address(request))


AuditDep = Annotated[Auditor, Depends(get_auditor)]
