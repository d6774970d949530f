"""The farm registry over HTTP: /registry/{sites,fields,zones,nodes,valves}, and the machinery the farm
dispatches (issue 20): /registry/{machines,implements,regions,tasks}.

Reads need the read permission (an operator's job_read reads the sites, fields, zones, machines, implements and
tasks of its job); writes the registry permission (technician, admin), except dispatch tasks:
whoever records and plans the farm's operations (operations_write) manages them. A bad field is named in the
422; a missing parent too. Every write is in the audit log.
"""

from typing import Annotated, Any

from fastapi import APIRouter, status
from fastapi import Path as PathParam

from ...auth import Principal
from ...registry import FIELDS, IMPLEMENTS, MACHINES, NODES, REGIONS, SITES, TASKS, VALVES, ZONES, Kind
from ..deps import AuditDep, JobReader, OperationsWriter, Reader, RegistryDep, RegistryWriter
from ..json_body import JsonRoute
from ..schemas import ProblemResponse

router = APIRouter(prefix="/registry", tags=["registry"], route_class=JsonRoute)

_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ProblemResponse}, 409: {"model": ProblemResponse}, 422: {"model": ProblemResponse}}


def _mount(kind: Kind, path: str, key_type: type, filters: tuple[str, ...] = (),
           writer: type[Principal] = RegistryWriter,  # type: ignore[assignment]
           reader: type[Principal] = Reader) -> None:  # type: ignore[assignment]
    model_in, model_out = kind.model_in, kind.model_out

    async def create(body: model_in, registry: RegistryDep, who: writer,  # type: ignore[valid-type]
                     audit: AuditDep) -> Any:
        out = await registry.create(kind, body, who.organisation)
        await audit(who.name, f"registry.create_{kind.name}", f"{kind.name}:{getattr(out, 'id', '')}",
                    body=body.model_dump(mode="json"))
        return out

    async def list_(registry: RegistryDep, who: reader, parent: str | None = None) -> Any:
        return await registry.all(kind, who.organisation, **({filters[0]: parent} if filters else {}))

    async def get(key: key_type, registry: RegistryDep, _: reader) -> Any:  # type: ignore[valid-type]
        return await registry.get(kind, key)

    async def replace(key: key_type, body: model_in, registry: RegistryDep,  # type: ignore[valid-type]
                      who: writer, audit: AuditDep) -> Any:  # type: ignore[valid-type]
        out = await registry.replace(kind, key, body, who.organisation)
        await audit(who.name, f"registry.replace_{kind.name}", f"{kind.name}:{key}", body=body.model_dump(mode="json"))
        return out

    async def delete(key: key_type, registry: RegistryDep, who: writer,  # type: ignore[valid-type]
                     audit: AuditDep) -> None:
        await registry.delete(kind, key)
        await audit(who.name, f"registry.delete_{kind.name}", f"{kind.name}:{key}")

    create.__doc__ = f"Register a {kind.name}; its parent must exist."
    list_.__doc__ = f"Every {kind.name}" + (f", or those of one parent (`parent` = {filters[0]})" if filters else "")
    get.__doc__ = f"One {kind.name}."
    replace.__doc__ = f"Replace a {kind.name} (every field)."
    delete.__doc__ = f"Delete a {kind.name}; refused (409) while others still refer to it."
    name = kind.name
    router.add_api_route(f"/{path}", create, methods=["POST"], response_model=model_out,
                         status_code=status.HTTP_201_CREATED, responses=_ERRORS, name=f"create_{name}")
    router.add_api_route(f"/{path}", list_, methods=["GET"], response_model=list[model_out],  # type: ignore[valid-type]
                         name=f"list_{name}s")
    router.add_api_route(f"/{path}/{{key}}", get, methods=["GET"], response_model=model_out,
                         responses=_ERRORS, name=f"get_{name}")
    router.add_api_route(f"/{path}/{{key}}", replace, methods=["PUT"], response_model=model_out,
                         responses=_ERRORS, name=f"replace_{name}")
    router.add_api_route(f"/{path}/{{key}}", delete, methods=["DELETE"], status_code=status.HTTP_204_NO_CONTENT,
                         responses=_ERRORS, name=f"delete_{name}")


# an operator reads those of its job (cloud/tenancy/_job.py): its tasks, their fields, sites and zones, the
# machines it drives and their implements; nodes, valves and regions are the farm's
_mount(SITES, "sites", str, reader=JobReader)
_mount(FIELDS, "fields", str, ("site_id",), reader=JobReader)
_mount(ZONES, "zones", str, ("field_id",), reader=JobReader)
_mount(NODES, "nodes", str, ("zone_id",))
# Valve ids are database rows: a key past SQLite's int64 is a 422, not an OverflowError (500).
_mount(VALVES, "valves", Annotated[int, PathParam(ge=1, le=2**63 - 1)], ("zone_id",))
_mount(IMPLEMENTS, "implements", str, reader=JobReader)
_mount(MACHINES, "machines", str, reader=JobReader)
_mount(REGIONS, "regions", str)
_mount(TASKS, "tasks", str, ("field_id",), writer=OperationsWriter, reader=JobReader)  # type: ignore[arg-type]
