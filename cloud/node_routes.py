"""Node routes: which gateway of which site a node was last heard through.

Ingest records them; command routing reads them (a command for a node goes to
the gateway that last forwarded its readings).

A route that changes (a node this instance has not recorded yet, or heard through another site or
gateway than it last recorded) is in the database before ``record`` returns, so every instance
routes a command the same way at once. A sighting that changes only when the node was last
heard and its health (battery, signal, firmware, faults) is written behind, within ``flush_s``:
every batch of a busy farm carries such sightings of the same nodes, and writing them one
statement per batch in the batch's path was a tenth of a worker's time (docs/performance.md,
"Seventh pass"). Readers on this instance (``get``, ``all``) write what waits first; other
instances see it within ``flush_s``. The newest sighting wins in the database itself, so
instances that hear a node through different gateways still agree on the newest.

"Changed" is judged against the newest sighting this instance wrote (and a write of the node
still under way counts as a change). Another instance's write is not seen: when a node heard
through two gateways alternates between instances, the database may hold the other gateway, one
that heard the node moments before, for up to ``flush_s`` (and until the node's next report if
this instance dies in that second).
"""

import asyncio
import contextlib
import functools
import json
import logging
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from .db import Database, NodeRoute

log = logging.getLogger(__name__)

FLUSH_S = 1.0  # how long a sighting whose route is unchanged may wait to be written


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


Sighting = tuple[bool, dict]  # (health known, the node_routes row)


def _newer(have: dict[str, Sighting], rows: list[Sighting]) -> None:
    """Keep in `have` each node's newest sighting of `have` and `rows`."""
    for sighting in rows:
        node, ms = sighting[1]["node"], sighting[1]["last_seen_ms"]
        if node not in have or ms >= have[node][1]["last_seen_ms"]:
            have[node] = sighting


class NodeRoutes:
    """Node routes kept in the relational database.

    A changed route is written before ``record`` returns; the sightings of batches handled at
    once (the MQTT worker's window, cloud/mqtt_worker.py) go together: while one statement runs,
    the sightings that arrive meanwhile wait and go in the next, one statement for all of them
    (group commit). A sighting whose route this instance already recorded waits up to `flush_s`
    and goes with the next statement (module doc).
    """

    def __init__(self, db: Database, *, flush_s: float = FLUSH_S) -> None:
        self._db = db
        self._flush_s = flush_s
        self._pending: list[tuple[list[Sighting], asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None
        # node -> the route (site, gateway) of the newest sighting this instance wrote, and its time
        self._known: dict[str, tuple[tuple[str, str], int]] = {}
        self._writing: Counter[str] = Counter()  # nodes whose sightings are being written before a return
        self._behind: dict[str, Sighting] = {}  # per node, the newest sighting not yet written
        self._flusher: asyncio.Task[None] | None = None
        self._flushing = asyncio.Lock()  # a reader's flush waits for the one under way
        self.statements = 0  # upserts run (each for the sightings of one or more batches)

    async def record(self, site: str, gateway: str, seen_ms: Mapping[str, int],
                     health: Mapping[str, Health] | None = None) -> None:
        """Note that each node of `seen_ms` was heard through (site, gateway) at that time.

        The newest sighting wins: a gateway replaying an old buffer does not
        take a node back from the gateway that heard it since. `health`
        (battery, signal, firmware, faults of the newest report per node) is
        kept with the newest sighting. Returns once each changed route is in
        the database; the other sightings are written within `flush_s`.
        """
        health = health or {}
        if not seen_ms:
            return
        route = (site, gateway)
        now: list[Sighting] = []
        later: list[Sighting] = []
        for node, ms in seen_ms.items():
            sighting = (node in health, _row(node, site, gateway, ms, health.get(node)))
            # behind only when the database holds this route from this instance and no write of
            # the node is under way (that one may be another route, or fail)
            known = self._known.get(node)
            unchanged = known is not None and known[0] == route and not self._writing[node]
            (later if unchanged else now).append(sighting)
        if later:
            _newer(self._behind, later)
            if self._flusher is None or self._flusher.done():
                self._flusher = asyncio.create_task(self._flush_later(), name="furrow-node-routes-behind")
        if now:
            # a node's newest sighting goes now: one waiting behind that is newer (a replayed older
            # report came through another gateway) goes instead, else the database would hold the
            # older route until the flush
            rows = []
            for sighting in now:
                waiting = self._behind.pop(sighting[1]["node"], None)
                newer = waiting is not None and waiting[1]["last_seen_ms"] > sighting[1]["last_seen_ms"]
                rows.append(waiting if newer else sighting)
            nodes = [row["node"] for _, row in rows]
            self._writing.update(nodes)
            try:
                await self._write(rows)
            finally:
                self._writing.subtract(nodes)
                for node in nodes:
                    if self._writing[node] <= 0:
                        del self._writing[node]

    async def flush(self) -> None:
        """Write the sightings that wait (this instance's readers call it first: if a flush is
        under way, they wait for it, then write what came meanwhile)."""
        async with self._flushing:
            if self._behind:
                rows, self._behind = list(self._behind.values()), {}
                try:
                    await self._write(rows)
                except BaseException:
                    _newer(self._behind, rows)  # kept for the next try; a newer one that came meanwhile wins
                    raise

    async def close(self) -> None:
        """Write what waits (best effort: a sighting lost here comes again with the node's next report)."""
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        try:
            await self.flush()
        except Exception as e:
            log.warning("node routes: %d sighting(s) not written at shutdown: %s", len(self._behind), e)

    async def _flush_later(self) -> None:
        failures = 0
        while True:
            await asyncio.sleep(self._flush_s * min(2 ** failures, 30))
            try:
                await self.flush()
            except Exception as e:  # the database away: the sightings wait, newest kept, and go later
                if failures == 0:
                    log.warning("node routes: could not write %d sighting(s), retrying: %s", len(self._behind), e)
                failures += 1
                continue
            if not self._behind:
                return
            failures = 0

    async def _write(self, rows: list[Sighting]) -> None:
        """`rows` in the database (group commit with the other callers), then known as written."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((rows, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain(), name="furrow-node-routes")
        await done
        for _, row in rows:  # the newest sighting wins in the database; so here
            known = self._known.get(row["node"])
            if known is None or row["last_seen_ms"] >= known[1]:
                self._known[row["node"]] = ((row["site"], row["gateway"]), row["last_seen_ms"])

    async def _drain(self) -> None:
        group: list[tuple[list[Sighting], asyncio.Future[None]]] = []
        try:
            while self._pending:
                group = [(rows, done) for rows, done in self._pending if not done.done()]
                self._pending = []
                newest: dict[str, Sighting] = {}  # per node, the newest sighting of the waiting batches
                for rows, _ in group:
                    _newer(newest, rows)
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
        await self.flush()

        def get(session: Session) -> Route | None:
            row = session.get(NodeRoute, node)
            return _route(row) if row is not None else None

        return await self._db.run(get)

    async def all(self) -> list[Route]:
        await self.flush()

        def all_(session: Session) -> list[Route]:
            return [_route(r) for r in session.scalars(select(NodeRoute).order_by(NodeRoute.node))]

        return await self._db.run(all_)
