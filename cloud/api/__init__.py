"""The HTTP API, mounted under /api/v1."""

from fastapi import APIRouter

from .routes import commands, ingest, nodes, readings, status

# TODO(auth): authentication and roles come in their own issue. Every route is
# open today: run the service on a trusted network only. Gateways will
# authenticate (mTLS or a per-gateway token bound to its site/gateway id, which
# ingest must then check against the batch envelope), people by role
# (technician, agronomist, admin). Add it here, as a dependency of api_router,
# so no route can be mounted without it.
api_router = APIRouter(prefix="/api/v1")
for module in (ingest, readings, nodes, commands, status):
    api_router.include_router(module.router)

__all__ = ["api_router"]
