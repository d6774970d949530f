"""GET /nodes and GET /nodes/{node}/latest."""

from fastapi import APIRouter

from furrow.edge.topics import check_id

from ...node_routes import Route
from ...storage import Reading
from ..deps import Reader, RoutesDep, StoreDep
from ..json_body import JsonRoute
from ..schemas import NodeOut, ProblemResponse, ReadingOut

router = APIRouter(prefix="/nodes", tags=["nodes"], route_class=JsonRoute)


@router.get("", response_model=list[NodeOut])
async def list_nodes(routes: RoutesDep, _: Reader) -> list[Route]:
    """Every node heard so far, with the gateway its commands are routed through."""
    return await routes.all()


@router.get("/{node}/latest", response_model=list[ReadingOut],
            responses={422: {"model": ProblemResponse}})
async def latest(node: str, store: StoreDep, _: Reader) -> list[Reading]:
    """The newest reading of each sensor (measurement, depth, channel) of the node."""
    check_id("node", node)
    return await store.latest(node)
