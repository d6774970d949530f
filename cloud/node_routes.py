"""Node routes: which gateway of which site a node was last heard through.

Ingest records them; command routing reads them (a command for a node goes to
the gateway that last forwarded its readings).
"""

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .db import Database, NodeRoute


@dataclass(frozen=True, slots=True)
class Route:
    node: str
    site: str
    gateway: str
    last_seen_ms: int


def _route(row: NodeRoute) -> Route:
    return Route(row.node, row.site, row.gateway, row.last_seen_ms)


class NodeRoutes:
    """Node routes kept in the relational database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def record(self, site: str, gateway: str, seen_ms: Mapping[str, int]) -> None:
        """Note that each node of `seen_ms` was heard through (site, gateway) at that time.

        The newest sighting wins: a gateway replaying an old buffer does not
        take a node back from the gateway that heard it since.
        """
        if not seen_ms:
            return
        wanted = sorted(seen_ms)

        def upsert(session: Session) -> None:
            rows = session.scalars(select(NodeRoute).where(NodeRoute.node.in_(wanted)))
            existing = {row.node: row for row in rows}
            for node in wanted:
                row, ms = existing.get(node), seen_ms[node]
                if row is None:
                    session.add(NodeRoute(node=node, site=site, gateway=gateway, last_seen_ms=ms))
                elif ms >= row.last_seen_ms:
                    row.site, row.gateway, row.last_seen_ms = site, gateway, ms

        try:
            await self._db.run(upsert)
        except IntegrityError:
            # Another worker inserted one of these nodes first; now it is an update.
            await self._db.run(upsert)

    async def get(self, node: str) -> Route | None:
        def get(session: Session) -> Route | None:
            row = session.get(NodeRoute, node)
            return _route(row) if row is not None else None

        return await self._db.run(get)

    async def all(self) -> list[Route]:
        def all_(session: Session) -> list[Route]:
            return [_route(r) for r in session.scalars(select(NodeRoute).order_by(NodeRoute.node))]

        return await self._db.run(all_)
