"""Node routes: which gateway of which site a node was last heard through.

Ingest records them; command routing reads them (a command for a node goes to
the gateway that last forwarded its readings).
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .db import Database, NodeRoute


@dataclass(frozen=True, slots=True)
class Health:
    """What a node said about itself in its newest report."""

    seq: int
    fw: str | None
    bat_v: float | None
    rssi_dbm: int | None
    faults: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Route:
    node: str
    site: str
    gateway: str
    last_seen_ms: int
    seq: int | None = None
    fw: str | None = None
    bat_v: float | None = None
    rssi_dbm: int | None = None
    faults: tuple[str, ...] = ()


def _route(row: NodeRoute) -> Route:
    faults = tuple(json.loads(row.faults)) if row.faults else ()
    return Route(row.node, row.site, row.gateway, row.last_seen_ms, row.seq, row.fw, row.bat_v,
                 row.rssi_dbm, faults)


def _set_health(row: NodeRoute, h: Health | None) -> None:
    if h is None:
        return
    row.seq, row.fw, row.bat_v, row.rssi_dbm = h.seq, h.fw, h.bat_v, h.rssi_dbm
    row.faults = json.dumps(list(h.faults))[:400] if h.faults else None


class NodeRoutes:
    """Node routes kept in the relational database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def record(self, site: str, gateway: str, seen_ms: Mapping[str, int],
                     health: Mapping[str, Health] | None = None) -> None:
        """Note that each node of `seen_ms` was heard through (site, gateway) at that time.

        The newest sighting wins: a gateway replaying an old buffer does not
        take a node back from the gateway that heard it since. `health`
        (battery, signal, firmware, faults of the newest report per node) is
        kept with the newest sighting.
        """
        health = health or {}
        if not seen_ms:
            return
        wanted = sorted(seen_ms)

        def upsert(session: Session) -> None:
            rows = session.scalars(select(NodeRoute).where(NodeRoute.node.in_(wanted)))
            existing = {row.node: row for row in rows}
            for node in wanted:
                row, ms = existing.get(node), seen_ms[node]
                if row is None:
                    row = NodeRoute(node=node, site=site, gateway=gateway, last_seen_ms=ms)
                    _set_health(row, health.get(node))
                    session.add(row)
                elif ms >= row.last_seen_ms:
                    row.site, row.gateway, row.last_seen_ms = site, gateway, ms
                    _set_health(row, health.get(node))

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
