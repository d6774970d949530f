"""Which of a batch's nodes another organisation holds than the batch's site (issue 21), for the ingest
core both paths share (``cloud.ingest.ingest_batch``: the MQTT worker and ``POST /ingest/batch``).

A site is its registered organisation's, and a site nobody registered the default organisation's
(``holders``). A node registered to another organisation than the site's is foreign: its items are
refused one by one, the rest of the batch is stored. A node nobody registered is accepted as before
organisations: it is heard through the site, and so read as the site's organisation's
(``_owners._nodes``). On an installation of one organisation (``SingleOrganisation``) nothing is asked.

Owners are remembered per id for ``TTL_S`` seconds (a registered site's or node's organisation never
changes while it exists; ``Registry`` calls ``owners_changed`` when one is created or deleted in this
process, another instance is seen within ``TTL_S``).
"""

import time
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from furrow.edge.errors import ContractError

from ..db import DEFAULT_ORGANISATION, Database, NodeRow, SiteRow
from ._single import TTL_S, per_database, single_organisation

_generation = 0  # bumped when a site or node is registered or deleted in this process
_NONE = ""  # remembered: nobody registered this id
MAX_REMEMBERED = 100_000  # node owners kept; past it the expired ones are forgotten


def owners_changed() -> None:
    """A site or node was registered or deleted in this process: every ``IngestGuard`` asks again."""
    global _generation
    _generation += 1


def _registered(session: Session, sites: set[str], nodes: set[str]) -> tuple[dict[str, str], dict[str, str]]:
    s = dict(session.execute(select(SiteRow.id, SiteRow.organisation_id).where(SiteRow.id.in_(sites))).all()) \
        if sites else {}
    n = dict(session.execute(select(NodeRow.id, NodeRow.organisation_id).where(NodeRow.id.in_(nodes))).all()) \
        if nodes else {}
    return s, n


class IngestGuard:
    """``await guard.foreign(site, nodes, poster)``: the site's organisation and the nodes of `nodes`
    registered to another one. With `poster` (the organisation of the token that posted the batch),
    a site registered to another organisation refuses the batch as a site that does not exist."""

    def __init__(self, db: Database, ttl_s: float = TTL_S) -> None:
        self._db = db
        self._ttl_s = ttl_s
        self._sites: dict[str, tuple[str, float]] = {}
        self._nodes: dict[str, tuple[str, float]] = {}
        self._generation = _generation
        self.queries = 0  # how often the database was asked (tests, bench)

    async def foreign(self, site: str, nodes: Iterable[str], poster: str | None = None) -> tuple[str, set[str]]:
        if await single_organisation(self._db).holds(DEFAULT_ORGANISATION):
            return DEFAULT_ORGANISATION, set()
        if self._generation != _generation:
            self._sites.clear()
            self._nodes.clear()
            self._generation = _generation
        now = time.monotonic()
        nodes = set(nodes)
        need_sites = {site} if now - self._sites.get(site, (_NONE, -float("inf")))[1] >= self._ttl_s else set()
        need_nodes = {n for n in nodes if now - self._nodes.get(n, (_NONE, -float("inf")))[1] >= self._ttl_s}
        if need_sites or need_nodes:
            if len(self._nodes) + len(need_nodes) > MAX_REMEMBERED:  # ids only heard once, or made up
                self._nodes = {k: v for k, v in self._nodes.items() if now - v[1] < self._ttl_s}
            generation = _generation
            s, n = await self._db.run(lambda session: _registered(session, need_sites, need_nodes))
            self.queries += 1
            if generation == _generation:  # else a registration raced the query: do not remember it
                self._sites.update({k: (s.get(k, _NONE), now) for k in need_sites})
                self._nodes.update({k: (n.get(k, _NONE), now) for k in need_nodes})
        else:
            s, n = {}, {}
        site_org = s.get(site) if site in need_sites else self._sites[site][0]
        if poster is not None and site_org and site_org != poster:
            raise ContractError("site", site, "no site with this id")
        site_org = site_org or DEFAULT_ORGANISATION
        owner = {k: (n.get(k, _NONE) if k in need_nodes else self._nodes[k][0]) for k in nodes}
        return site_org, {k for k, org in owner.items() if org and org != site_org}


ingest_guard = per_database(IngestGuard)
"""The database's ``IngestGuard`` (shared by the HTTP route and the MQTT worker)."""
