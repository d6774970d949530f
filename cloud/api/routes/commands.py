"""Irrigation commands: create, look up, list, cancel; acknowledgements over HTTPS."""

from fastapi import APIRouter, Request, Response, status

from furrow.edge.topics import check_id

from ..._time import parse_instant
from ...commands import AckOutcome, CommandOut
from ..deps import AuditDep, CommandsDep, CommandWriter, Ingester, Reader
from ..json_body import JsonRoute
from ..schemas import CommandCancel, CommandCreate, ProblemResponse
from .ingest import gateway_origin

router = APIRouter(prefix="/commands", tags=["commands"], route_class=JsonRoute)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=CommandOut,
    responses={
        200: {"model": CommandOut, "description": "the idempotency key was used before: that command"},
        409: {"model": ProblemResponse, "description": "the node cannot be routed"},
        422: {"model": ProblemResponse, "description": "the command breaks the contract"},
    },
)
async def create_command(body: CommandCreate, commands: CommandsDep, who: CommandWriter,
                         response: Response, audit: AuditDep) -> CommandOut:
    """Create a command for a valve (node and valve, or a zone with one valve) and send
    it to the gateway that last forwarded the node's readings. It stays "created"
    (and is sent on reconnect) when the broker is unreachable. The same
    idempotency_key again returns the first command (200) and waters nothing more."""
    not_before_ms = None
    if body.not_before is not None:
        not_before_ms = parse_instant("not_before", body.not_before)
    out, created = await commands.create(
        node=body.node,
        valve=body.valve,
        zone=body.zone,
        action=body.action,
        duration_s=body.duration_s,
        amount_mm=body.amount_mm,
        amount_min=body.amount_min,
        not_before_ms=not_before_ms,
        ttl_s=body.ttl_s,
        max_runtime_s=body.max_runtime_s,
        origin=f"person:{who.name}",
        request_reason=body.reason,
        idempotency_key=body.idempotency_key,
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    else:
        await audit(who.name, "command.create", f"command:{out.id}", node=out.node, valve=out.valve,
                    action=str(out.action), reason=body.reason)
    return out


@router.get("/{command_id}", response_model=CommandOut,
            responses={404: {"model": ProblemResponse}})
async def get_command(command_id: str, commands: CommandsDep, _: Reader) -> CommandOut:
    """One command with its history of events."""
    return await commands.get(command_id)


@router.get("", response_model=list[CommandOut])
async def list_commands(commands: CommandsDep, _: Reader, node: str | None = None,
                        limit: int = 100) -> list[CommandOut]:
    """Commands, newest first, optionally for one node."""
    if node is not None:
        check_id("node", node)
    return await commands.recent(node, limit=max(1, min(limit, 1000)))


@router.post("/{command_id}/cancel", response_model=CommandOut,
             responses={404: {"model": ProblemResponse}, 409: {"model": ProblemResponse}})
async def cancel_command(command_id: str, commands: CommandsDep, who: CommandWriter, audit: AuditDep,
                         body: CommandCancel | None = None) -> CommandOut:
    """Cancel a command that is not final. One not sent yet is "cancelled" at once; one the
    controller may hold or run is "cancelling": the contract's cancel goes to it, and its
    "cancelled" (the held command dropped, the running valve closed) ends the command."""
    out = await commands.cancel(command_id, by=f"person:{who.name}", reason=body.reason if body else None)
    await audit(who.name, "command.cancel", f"command:{command_id}", reason=body.reason if body else None)
    return out


@router.post("/acks", response_model=dict[str, str],
             responses={403: {"model": ProblemResponse, "description": "the command went through another gateway"},
                        422: {"model": ProblemResponse}})
async def post_ack(request: Request, commands: CommandsDep, who: Ingester) -> dict[str, str]:
    """A gateway's command acknowledgement over HTTPS (the same as on .../gw/<gw>/ack).

    A gateway token (user `<site>.<gateway>`) may only acknowledge commands routed
    through its own gateway; admin may post any."""
    outcome: AckOutcome = await commands.apply_ack(await request.body(), gateway=gateway_origin(who))
    return {"outcome": str(outcome)}
