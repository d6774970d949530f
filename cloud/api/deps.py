"""What routes depend on, as ``Annotated[..., Depends()]`` aliases."""

import json
import re
from dataclasses import dataclass, field
from typing import Annotated

import orjson
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from furrow.edge.errors import ContractError

from .._time import Clock, now_ms
from ..alerts import AlertService
from ..audit import AuditLog, Auditor
from ..auth import AuthError, Permission, Principal, TokenStore, allows, roles_with
from ..auth.ratelimit import LoginLimiter
from ..cluster import Cluster
from ..commands import CommandService
from ..db import Database
from ..errors import Forbidden, NotFound, RateLimited
from ..events import EventBus
from ..fertility import FertigationService, FertilityService
from ..gaps import GapStore
from ..gateway_status import StatusBook
from ..identity import CredentialStore
from ..images import ImageService
from ..machinery import OperationService, TrackStore
from ..machinery.eta import EtaPublisher
from ..mqtt_worker import MqttWorker
from ..node_routes import NodeRoutes
from ..pests import PestService
from ..planning import PlanningService
from ..planning.expected import ExpectedYieldService
from ..regional import RegionalService
from ..regional.opendata import OpenData
from ..registry import Registry
from ..settings import Settings
from ..storage import MergedWrites, ReadingStore
from ..tenancy import (
    ALERT,
    COMMAND,
    FIELD,
    IMPLEMENT,
    LOT,
    MACHINE,
    NODE,
    OPERATION,
    REGION,
    SITE,
    TASK,
    TOKEN,
    VALVE,
    YIELD_LOG,
    ZONE,
    Kind,
    holders,
    owners,
)
from ..tenancy._filter import collect_ids
from ..tenancy._job import job_scope
from ..tenancy._single import single_organisation
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
    public_limiter: LoginLimiter = field(default_factory=lambda: LoginLimiter(120, 60.0))  # pages without a token
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
    regional: RegionalService | None = None  # set by open_services: the regional platform's aggregates
    open_data: OpenData | None = None  # set by open_services: published regional datasets
    expected_yield: ExpectedYieldService | None = None  # set by open_services: FAO-33 expected yield per zone
    etas: EtaPublisher | None = None  # set by open_services: the dispatch plan's finish estimates, pushed live
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

# --- organisations: another organisation's ids are answered as ids that do not exist (cloud/tenancy/) ----

_PATH_KINDS = {"site": SITE, "node": NODE, "node_id": NODE, "zone": ZONE, "zone_id": ZONE, "field": FIELD,
               "field_id": FIELD, "command_id": COMMAND, "alert_id": ALERT, "op_id": OPERATION, "lot_id": LOT,
               "token_id": TOKEN, "log_id": YIELD_LOG, "task_id": TASK, "machine_id": MACHINE}
_QUERY_KINDS = {"site": SITE, "node": NODE, "zone": ZONE, "field": FIELD}
_REGISTRY = {"sites": SITE, "fields": FIELD, "zones": ZONE, "nodes": NODE, "valves": VALVE, "machines": MACHINE,
             "implements": IMPLEMENT, "tasks": TASK, "regions": REGION}
_REGISTRY_PARENT = {"fields": SITE, "zones": FIELD, "nodes": ZONE, "valves": ZONE, "tasks": FIELD}


_ID = re.compile(r"[a-z0-9_-]{1,32}")  # registry ids (registry/models.py Id)
_ROW = re.compile(r"[1-9][0-9]{0,18}")  # database row ids; past int64 the route's own 422 names it


def _could_exist(kind: Kind, value: str) -> bool:
    """Whether `value` is shaped like an id of `kind` at all: one that is not cannot be another
    organisation's, and the route's own check names what is wrong with it (a 422)."""
    if kind in (SITE, FIELD, ZONE, NODE, MACHINE, IMPLEMENT, TASK, REGION):
        return _ID.fullmatch(value) is not None
    if kind in (VALVE, ALERT, OPERATION, YIELD_LOG):
        return _ROW.fullmatch(value) is not None and int(value) <= 2**63 - 1
    return True


def _ids_document(body: bytes) -> object:
    """A JSON body as far as the ids it names go: orjson, and ``json`` for what orjson refuses (NaN,
    integers past 64 bits, lone surrogates); None when neither reads it (the route's own parser names
    what is wrong)."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: nested past the interpreter's limit
        return None


async def scoped(request: Request, principal: PrincipalDep) -> Principal:
    """Keep the caller inside its organisation: a site, field, zone, node, command, alert, operation,
    lot or token of another organisation named in the path or the query is a 404, as one that does not
    exist (the same answer, so existence does not leak); one named in a JSON body is the route's "no
    such" 422. Every JSON list answered is filtered by ``TenantFilter`` for the organisation set here."""
    request.state.organisation = principal.organisation
    wanted: list[tuple[Kind, str, str]] = []  # (kind, id, where)
    path = request.url.path.removeprefix("/api/v1/").split("/")
    for name, value in request.path_params.items():
        if name == "key" and path[0] == "registry" and path[1] in _REGISTRY:
            wanted.append((_REGISTRY[path[1]], str(value), "key"))
        elif name in _PATH_KINDS:
            wanted.append((_PATH_KINDS[name], str(value), name))
    for name, value in request.query_params.items():
        if name in _QUERY_KINDS:
            wanted.append((_QUERY_KINDS[name], value, name))
        elif name == "parent" and path[0] == "registry" and len(path) == 2 and path[1] in _REGISTRY_PARENT:
            wanted.append((_REGISTRY_PARENT[path[1]], value, name))
    referenced: dict[Kind, set[str]] = {}
    wanted = [(kind, value, name) for kind, value, name in wanted if _could_exist(kind, value)]
    # (a batch, compressed or not, is checked item by item by the ingest core, cloud/tenancy/_ingest.py)
    has_body = request.method in ("POST", "PUT", "PATCH") and request.headers.get("content-type", "").startswith(
        "application/json") and path[0] != "ingest"
    if has_body and not await single_organisation(get_services(request).db).holds(principal.organisation):
        # (on an installation of one organisation no body reference can be another's: left unparsed)
        collect_ids(_ids_document(await request.body()), referenced)
    if not wanted and not referenced:
        return principal
    org = principal.organisation

    def check(session: Session) -> tuple[tuple[Kind, str, str] | None, tuple[Kind, str] | None]:
        for kind, value, name in wanted:
            if holders(session, kind, {value}).get(value) != org:
                return (kind, value, name), None
        for kind, ids in referenced.items():
            for value, owner in owners(session, kind, ids).items():
                if owner != org:
                    return None, (kind, value)
        return None, None

    missing, foreign = await get_services(request).db.run(check)
    if missing is not None:
        kind, value, name = missing
        raise NotFound(name, value, f"no {kind} with this id")
    if foreign is not None:
        kind, value = foreign
        raise ContractError(f"{kind}_id", value, f"no {kind} with this id")
    return principal


def allow(permission: Permission):
    """A route guard: the caller's role must hold `permission` (else Forbidden, 403)."""

    async def guard(request: Request, principal: PrincipalDep) -> Principal:
        if not allows(principal.role, permission):
            needed = ", ".join(roles_with(permission))
            raise Forbidden("role", str(principal.role), f"may not {permission!s}; this needs one of: {needed}")
        return await scoped(request, principal)

    guard.__name__ = f"allow_{permission}"
    return Depends(guard)


async def job_reader(request: Request, principal: PrincipalDep) -> Principal:
    """The guard of what an operator's job reads (``JobReader``): a caller with ``read`` sees its organisation as
    every reader does; one with ``job_read`` only (an operator) sees its job (cloud/tenancy/_job.py): an id of
    the organisation outside it, in the path or the query, is a 404 as a foreign one is, and the answer is
    narrowed to the job (``TenantFilter``, the event stream)."""
    if not allows(principal.role, Permission.JOB_READ):
        needed = ", ".join(roles_with(Permission.JOB_READ))
        raise Forbidden("role", str(principal.role), f"may not {Permission.JOB_READ!s}; this needs one of: {needed}")
    await scoped(request, principal)
    if allows(principal.role, Permission.READ):
        return principal
    scope = await get_services(request).db.run(lambda s: job_scope(s, principal.organisation, principal.name))
    request.state.job = scope
    path = request.url.path.removeprefix("/api/v1/").split("/")
    named = [(_PATH_KINDS.get(k), v, k) for k, v in request.path_params.items()]
    named += [(_QUERY_KINDS.get(k), v, k) for k, v in request.query_params.items()]
    named += [(_REGISTRY.get(path[1]), v, k) for k, v in request.path_params.items()
              if k == "key" and path[0] == "registry"]
    named += [(_REGISTRY_PARENT.get(path[1]), v, k) for k, v in request.query_params.items()
              if k == "parent" and path[0] == "registry" and len(path) == 2]
    for kind, value, name in named:
        if kind is not None and scope.outside(kind, str(value)):
            raise NotFound(name, value, f"no {kind} with this id in your job")
    return principal


Reader = Annotated[Principal, allow(Permission.READ)]
JobReader = Annotated[Principal, Depends(job_reader)]
RegistryWriter = Annotated[Principal, allow(Permission.REGISTRY_WRITE)]
CommandWriter = Annotated[Principal, allow(Permission.COMMAND_WRITE)]
Planner = Annotated[Principal, allow(Permission.PLAN)]
Reviewer = Annotated[Principal, allow(Permission.PEST_REVIEW)]
OperationsWriter = Annotated[Principal, allow(Permission.OPERATIONS_WRITE)]
RecordsWriter = Annotated[Principal, allow(Permission.RECORDS_WRITE)]
TaskReporter = Annotated[Principal, allow(Permission.TASK_REPORT)]
TraceSigner = Annotated[Principal, allow(Permission.TRACE_SIGN)]
Ingester = Annotated[Principal, allow(Permission.INGEST)]
UserAdmin = Annotated[Principal, allow(Permission.USER_ADMIN)]
CredentialsWriter = Annotated[Principal, allow(Permission.CREDENTIALS_WRITE)]
AuditReader = Annotated[Principal, allow(Permission.AUDIT_READ)]
AlertAcker = Annotated[Principal, allow(Permission.ALERT_ACK)]
AnyRole = Annotated[Principal, allow(Permission.HEALTH)]
RegionalReader = Annotated[Principal, allow(Permission.REGIONAL_READ)]
RegionalPublisher = Annotated[Principal, allow(Permission.REGIONAL_PUBLISH)]


def client_address(request: Request) -> str:
    """The caller's address as the server saw it (uvicorn applies X-Forwarded-For only from
    its --forwarded-allow-ips)."""
    return request.client.host if request.client is not None else "unknown"


def public_rate_limit(request: Request) -> None:
    """The pages open without a token answer each client address `public_max_requests` times per
    `public_window_s`, then 429 with Retry-After (auth/ratelimit.py)."""
    services = get_services(request)
    address = client_address(request)
    wait = services.public_limiter.take([address], services.clock() / 1000)
    if wait is not None:
        raise RateLimited("client", address, f"too many requests from this address; try again in {wait} s", wait)


def get_auditor(request: Request) -> Auditor:
    return Auditor(get_services(request).audit, client_address(request))


AuditDep = Annotated[Auditor, Depends(get_auditor)]
