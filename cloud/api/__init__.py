"""The HTTP API, mounted under /api/v1."""

from fastapi import APIRouter, Depends

from .deps import authenticate
from .routes import auth, commands, ingest, nodes, planning, query, readings, registry, status

# Every route needs a valid bearer token (the router-wide dependency below, so
# no route can be mounted without it), and each route names the permission its
# role must hold (api/deps.py: Reader, RegistryWriter, CommandWriter, Ingester,
# UserAdmin, AnyRole). tests/test_cloud_auth.py walks every route with every role.
# A gateway token speaks for one gateway (user <site>.<gateway>): HTTPS ingest
# checks the batch envelope against it (routes/ingest.py).
api_router = APIRouter(prefix="/api/v1", dependencies=[Depends(authenticate)])
for module in (auth, ingest, readings, query, nodes, registry, commands, planning, status):
    api_router.include_router(module.router)

__all__ = ["api_router"]
