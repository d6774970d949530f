"""Broker credentials for nodes and gateways, issued from the registry.

Issuing again rotates: a new random password replaces the old hash, and the
old password stops working when the broker files are next generated. The
password is returned once; only its Mosquitto-format hash is stored.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from furrow.edge.errors import ContractError
from furrow.edge.topics import check_id

from .._time import Clock, now_ms
from ..db import Database, DeviceCredential, FieldRow, GatewayRow, NodeRow, SiteRow, ZoneRow
from ..errors import NotFound
from ..registry.models import NodeRole
from .mosquitto import BrokerLogin, Topics, gateway_topics, hash_password, node_topics

NODE = "node"
GATEWAY = "gateway"


@dataclass(frozen=True, slots=True)
class IssuedCredentials:
    """A new login: `password` is shown this once and never stored."""

    kind: str
    site: str
    device: str
    username: str
    password: str
    issued_ms: int
    topics: Topics


def gateway_username(site: str, gateway: str) -> str:
    """A gateway logs in as ``<site>.<gateway>``, as its API token's user is named; node ids
    cannot hold a '.', so the two never clash."""
    return f"{site}.{gateway}"


def site_of_node(session: Session, node: str) -> str:
    """The site a registered node is in: its zone's field's, or, for a tracker (in no zone: it rides a machine from
    field to field), the site it was registered with."""
    row = session.get(NodeRow, node)
    if row is None:
        raise NotFound("node", node, "no node with this id in the registry")
    if row.zone_id is None:
        if row.site_id is not None:
            return row.site_id
        if row.role == NodeRole.TRACKER:
            raise ContractError("site_id", None, f"tracker {node!r} has no site, so its topics are unknown: register "
                                "it with its site (site_id; furrow node add --role tracker --site SITE)")
        raise ContractError("zone_id", None, f"node {node!r} has no zone, so its site (and its topics) "
                            "are unknown: give it a zone first")
    zone = session.get(ZoneRow, row.zone_id)
    field = session.get(FieldRow, zone.field_id) if zone is not None else None
    if field is None:
        raise NotFound("zone_id", row.zone_id, f"the zone of node {node!r} has no field")
    return field.site_id


class CredentialStore:
    """Issues, rotates and revokes broker logins; lists the live ones for the broker files."""

    def __init__(self, db: Database, topic_root: str, clock: Clock = now_ms) -> None:
        self._db = db
        self.root = topic_root
        self._clock = clock

    def _topics(self, session: Session, kind: str, site: str, device: str) -> Topics:
        if kind == GATEWAY:
            return gateway_topics(self.root, site, device)
        node = session.get(NodeRow, device)  # its role says which topics it needs (node_topics)
        return node_topics(self.root, site, device, node.role if node is not None else None)

    def _issue(self, session: Session, kind: str, site: str, device: str, username: str, by: str,
               now: int) -> IssuedCredentials:
        password = secrets.token_urlsafe(32)
        row = session.get(DeviceCredential, username)
        if row is None:
            row = DeviceCredential(username=username, kind=kind, site=site, device=device)
            session.add(row)
        row.site = site
        row.password_hash = hash_password(password)
        row.issued_ms = now
        row.issued_by = by
        row.revoked_ms = None
        return IssuedCredentials(kind, site, device, username, password, now,
                                 self._topics(session, kind, site, device))

    def issue_node_sync(self, session: Session, node: str, by: str, now_ms: int | None = None) -> IssuedCredentials:
        check_id("node", node)
        site = site_of_node(session, node)
        return self._issue(session, NODE, site, node, node, by, self._clock() if now_ms is None else now_ms)

    def issue_gateway_sync(self, session: Session, site: str, gateway: str, by: str,
                           now_ms: int | None = None) -> IssuedCredentials:
        check_id("site", site)
        check_id("gateway", gateway)
        now = self._clock() if now_ms is None else now_ms
        if session.get(SiteRow, site) is None:
            raise NotFound("site", site, "no site with this id in the registry")
        if session.get(GatewayRow, (site, gateway)) is None:
            session.add(GatewayRow(site_id=site, id=gateway, created_ms=now))
        return self._issue(session, GATEWAY, site, gateway, gateway_username(site, gateway), by, now)

    def revoke_sync(self, session: Session, username: str, now_ms: int | None = None) -> bool:
        """Revoke a login; False when it was never issued. Revoking twice keeps the first time."""
        row = session.get(DeviceCredential, username)
        if row is None:
            return False
        if row.revoked_ms is None:
            row.revoked_ms = self._clock() if now_ms is None else now_ms
        return True

    def logins_sync(self, session: Session) -> list[BrokerLogin]:
        """Every live login, with its topics: what the broker files are made of."""
        rows = session.scalars(select(DeviceCredential).where(DeviceCredential.revoked_ms.is_(None))
                               .order_by(DeviceCredential.username))
        return [BrokerLogin(r.username, r.password_hash, self._topics(session, r.kind, r.site, r.device))
                for r in rows]

    # --- async API, for the routes ------------------------------------------

    async def issue_node(self, node: str, by: str) -> IssuedCredentials:
        return await self._db.run(lambda s: self.issue_node_sync(s, node, by))

    async def issue_gateway(self, site: str, gateway: str, by: str) -> IssuedCredentials:
        return await self._db.run(lambda s: self.issue_gateway_sync(s, site, gateway, by))

    async def revoke(self, username: str) -> bool:
        return await self._db.run(lambda s: self.revoke_sync(s, username))
