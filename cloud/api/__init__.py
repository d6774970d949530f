"""The HTTP API, mounted under /api/v1."""

from fastapi import APIRouter, Depends

from .deps import authenticate, public_rate_limit
from .routes import alerts as alert_routes  # alerts: list, acknowledge, evaluate
from .routes import (
    audit,
    auth,
    commands,
    identity,
    images,
    ingest,
    login,
    nodes,
    organisation,
    planning,
    query,
    readings,
    regional,
    registry,
    status,
)
from .routes import commissioning as commissioning_routes  # the commissioning kit
from .routes import dashboard as dashboard_routes  # the zone page's season of data, as columns
from .routes import events as event_routes  # the dashboard's live stream
from .routes import expected_yield as expected_yield_routes  # FAO-33 expected yield per zone
from .routes import fertility as fertility_routes  # soil tests, recommendations, applications
from .routes import jobs as job_routes  # operators' jobs and task reports, progress per region of the farm
from .routes import operations as operation_routes  # field operations from machine tracks, field progress
from .routes import pests as pest_routes  # species, traps, trap-photo counts and reviews, zone pest seasons
from .routes import trace as trace_routes  # production records, their signed heads, lots traced back
from .routes import vigour as vigour_routes  # canopy cover per zone
from .schemas import ProblemResponse

# Every error has one shape (api/errors.py), and the schema says so for every operation: the
# statuses any route may give, and "default" for the rest (each route lists its own 404, 409 ...).
ERROR_RESPONSES: dict[int | str, dict] = {
    401: {"model": ProblemResponse, "description": "no valid token"},
    403: {"model": ProblemResponse, "description": "the token's role may not do this"},
    422: {"model": ProblemResponse, "description": "a field breaks the contract: named, with its value"},
    "default": {"model": ProblemResponse, "description": "any other error, in the same shape"},
}

# Every route needs a valid bearer token (the router-wide dependency below, so
# no route can be mounted without it), and each route names the permission its
# role must hold (api/deps.py: Reader, RegistryWriter, CommandWriter, Ingester,
# UserAdmin, AnyRole). tests/test_cloud_auth.py walks every route with every role.
# A gateway token speaks for one gateway (user <site>.<gateway>): HTTPS ingest
# checks the batch envelope against it (routes/ingest.py).
api_router = APIRouter(prefix="/api/v1", dependencies=[Depends(authenticate)], responses=ERROR_RESPONSES)
for module in (auth, ingest, images, readings, query, nodes, registry, commands, planning, status, identity, audit,
               commissioning_routes, dashboard_routes, event_routes, vigour_routes):
    api_router.include_router(module.router)
api_router.include_router(alert_routes.router)
api_router.include_router(vigour_routes.boundaries)
api_router.include_router(vigour_routes.rasters)
api_router.include_router(pest_routes.router)
api_router.include_router(pest_routes.zones)
api_router.include_router(pest_routes.sites)
api_router.include_router(fertility_routes.router)
api_router.include_router(fertility_routes.zones)
api_router.include_router(operation_routes.router)
api_router.include_router(job_routes.router)
api_router.include_router(expected_yield_routes.router)
api_router.include_router(trace_routes.router)
api_router.include_router(organisation.router)
api_router.include_router(regional.router)

# The one way in without a token: password login (rate-limited, routes/login.py).
login_router = APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES)
login_router.include_router(login.router)
# The one page with data and no token: a published harvest lot at its unguessable address, /lot/{token}
# (routes/trace.py): only what the farm chose to publish. With the open data (routes/regional.py), limited
# per client address (deps.public_rate_limit).
public_router = APIRouter(responses={404: {"model": ProblemResponse},
                                     429: {"model": ProblemResponse, "description": "too many requests; see "
                                           "Retry-After"}},
                          dependencies=[Depends(public_rate_limit)])
public_router.include_router(trace_routes.public)
public_router.include_router(regional.public)

__all__ = ["api_router", "login_router", "public_router"]
