"""Node routes: which gateway of which site a node was last heard through.

Ingest records them; command routing reads them (a command for a node goes to
the gateway that last forwarded its readings).
"""

import asyncio
import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
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


_HEALTH = ("seq", "fw", "bat_v", "rssi_dbm", "faults")


def _row(node: str, site: str, gateway: str, ms: int, h: Health | None) -> dict:
    """The node_routes row of one sighting, with the node's health when known."""
    health = {"seq": None, "fw": None, "bat_v": None, "rssi_dbm": None, "faults": None}
    if h is not None:
        health = {"seq": h.seq, "fw": h.fw, "bat_v": h.bat_v, "rssi_dbm": h.rssi_dbm,
                  "faults": json.dumps(list(h.faults))[:400] if h.faults else None}
    return {"node": node, "site": site, "gateway": gateway, "last_seen_ms": ms, **health}


def _upsert(rows: list[tuple[bool, dict]], session: Session) -> None:
    """One INSERT ... ON CONFLICT DO UPDATE executed for all the rows (per kind: with health or
    without), the newest sighting winning in its WHERE, through SQLAlchemy Core: the ORM's
    SELECT and UPDATE per node took a third of the worker's time (docs/performance.md).
    Concurrent workers need no retry either."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    table = NodeRoute.__table__
    for with_health in (True, False):
        chosen = [r for has_health, r in rows if has_health == with_health]
        if not chosen:
            continue
        stmt = insert(table)
        columns = ("site", "gateway", "last_seen_ms") + (_HEALTH if with_health else ())
        session.connection().execute(stmt.on_conflict_do_update(
            index_elements=[table.c.node],
            set_={c: getattr(stmt.excluded, c) for c in columns},
            where=stmt.excluded.last_seen_ms >= table.c.last_seen_ms,
        ), chosen)


class NodeRoutes:
    """Node routes kept in the relational database.

    The sightings of batches handled at once (the MQTT worker's window, cloud/mqtt_worker.py)
    are recorded together: while one statement runs, the sightings that arrive meanwhile wait
    and go in the next, one statement for all of them (group commit). Each ``record`` still
    returns only once its own sightings are in the database.
    """

    def __init__(self, db: Database) -> None:
        self._db = db
        self._pending: list[tuple[list[tuple[bool, dict]], asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None
        self.statements = 0  # upserts run (each for the sightings of one or more batches)

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
        rows = [(node in health, _row(node, site, gateway, ms, health.get(node))) for node, ms in seen_ms.items()]
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((rows, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain(), name="furrow-node-routes")
        await done

    async def _drain(self) -> None:
        group: list[tuple[list[tuple[bool, dict]], asyncio.Future[None]]] = []
        try:
            while self._pending:
                group = [(rows, done) for rows, done in self._pending if not done.done()]
                self._pending = []
                newest: dict[str, tuple[bool, dict]] = {}  # per node, the newest sighting of the waiting batches
                for rows, _ in group:
                    for sighting in rows:
                        node, ms = sighting[1]["node"], sighting[1]["last_seen_ms"]
                        if node not in newest or ms >= newest[node][1]["last_seen_ms"]:
                            newest[node] = sighting
                if newest:
                    try:
                        await self._db.run(functools.partial(_upsert, [newest[n] for n in sorted(newest)]))
                        self.statements += 1
                    except Exception as e:
                        for _, done in group:
                            if not done.done():
                                done.set_exception(e)
                        group = []
                        continue
                for _, done in group:
                    if not done.done():
                        done.set_result(None)
                group = []
        finally:  # cancelled: nobody is left waiting forever
            for _, done in [*group, *self._pending]:
                done.cancel()
            self._pending = []

    async def get(self, node: str) -> Route | None:
        def get(session: Session) -> Route | None:
            row = session.get(NodeRoute, node)
            return _route(row) if row is not None else None

        return await self._db.run(get)

    async def all(self) -> list[Route]:
        def all_(session: Session) -> list[Route]:
            return [_route(r) for r in session.scalars(select(NodeRoute).order_by(NodeRoute.node))]

        return await self._db.run(all_)
