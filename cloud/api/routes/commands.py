"""Irrigation commands: create, look up, list."""

from fastapi import APIRouter, status

from furrow.edge.topics import check_id

from ..._time import parse_instant
from ...commands import CommandOut
from ..deps import CommandsDep
from ..schemas import CommandCreate, MessageResponse, ProblemResponse

router = APIRouter(prefix="/commands", tags=["commands"])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=CommandOut,
    responses={
        409: {"model": MessageResponse, "description": "the node cannot be routed"},
        422: {"model": ProblemResponse, "description": "the command breaks the contract"},
    },
)
async def create_command(body: CommandCreate, commands: CommandsDep) -> CommandOut:
    """Create a command for a node's valve and send it to the gateway that last
    forwarded the node's readings. It stays "created" (and is sent on
    reconnect) when the broker is unreachable."""
    not_before_ms = None
    if body.not_before is not None:
        not_before_ms = parse_instant("not_before", body.not_before)
    return await commands.create(
        node=body.node,
        valve=body.valve,
        action=body.action,
        duration_s=body.duration_s,
        not_before_ms=not_before_ms,
        ttl_s=body.ttl_s,
        max_runtime_s=body.max_runtime_s,
    )


@router.get("/{command_id}", response_model=CommandOut,
            responses={404: {"model": MessageResponse}})
async def get_command(command_id: str, commands: CommandsDep) -> CommandOut:
    """One command with its history of events."""
    return await commands.get(command_id)


@router.get("", response_model=list[CommandOut])
async def list_commands(commands: CommandsDep, node: str | None = None,
                        limit: int = 100) -> list[CommandOut]:
    """Commands, newest first, optionally for one node."""
    if node is not None:
        check_id("node", node)
    return await commands.recent(node, limit=max(1, min(limit, 1000)))
