"""Which organisation owns an id: sites, nodes, machines, implements, dispatch tasks and regions of the farm carry
it; fields, zones, valves, commands, alerts,
operations, harvest lots and tokens take it from what they hang on."""

from collections.abc import Iterable
from enum import StrEnum

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from furrow.edge.errors import ContractError

from ..db import (
    DEFAULT_ORGANISATION,
    AlertRow,
    ApiToken,
    CommandRow,
    Database,
    FarmRegionRow,
    FieldRow,
    ImplementRow,
    MachineRow,
    NodeRoute,
    NodeRow,
    OperationRow,
    SiteRow,
    TaskRow,
    TraceRecordRow,
    User,
    ValveRow,
    YieldLogRow,
    ZoneRow,
)
from ..errors import NotFound


class Kind(StrEnum):
    SITE = "site"
    FIELD = "field"
    ZONE = "zone"
    NODE = "node"
    VALVE = "valve"
    COMMAND = "command"
    ALERT = "alert"
    OPERATION = "operation"
    LOT = "lot"
    TOKEN = "token"
    YIELD_LOG = "yield_log"
    MACHINE = "machine"
    IMPLEMENT = "implement"
    TASK = "task"
    REGION = "region"


SITE, FIELD, ZONE, NODE, VALVE = Kind.SITE, Kind.FIELD, Kind.ZONE, Kind.NODE, Kind.VALVE
COMMAND, ALERT, OPERATION, LOT, TOKEN = Kind.COMMAND, Kind.ALERT, Kind.OPERATION, Kind.LOT, Kind.TOKEN
YIELD_LOG = Kind.YIELD_LOG
MACHINE, IMPLEMENT, TASK, REGION = Kind.MACHINE, Kind.IMPLEMENT, Kind.TASK, Kind.REGION
_OWNED = {MACHINE: MachineRow, IMPLEMENT: ImplementRow, TASK: TaskRow, REGION: FarmRegionRow}  # carry their own

MIXED = "\x00mixed"  # a lot whose records lie in two organisations' fields: owned by neither


def _sites(session: Session, ids: set[str]) -> dict[str, str]:
    q = select(SiteRow.id, SiteRow.organisation_id).where(SiteRow.id.in_(ids))
    return dict(session.execute(q).all())


def _fields(session: Session, ids: set[str]) -> dict[str, str]:
    q = (select(FieldRow.id, SiteRow.organisation_id).join(SiteRow, SiteRow.id == FieldRow.site_id)
         .where(FieldRow.id.in_(ids)))
    return dict(session.execute(q).all())


def _zones(session: Session, ids: set[str]) -> dict[str, str]:
    q = (select(ZoneRow.id, SiteRow.organisation_id).join(FieldRow, FieldRow.id == ZoneRow.field_id)
         .join(SiteRow, SiteRow.id == FieldRow.site_id).where(ZoneRow.id.in_(ids)))
    return dict(session.execute(q).all())


def _nodes(session: Session, ids: set[str]) -> dict[str, str]:
    """A registered node's organisation; a node only heard (not registered) belongs to the site whose
    gateway forwarded it."""
    found = dict(session.execute(select(NodeRow.id, NodeRow.organisation_id).where(NodeRow.id.in_(ids)))
                 .all())
    rest = ids - found.keys()
    if rest:
        q = (select(NodeRoute.node, SiteRow.organisation_id).join(SiteRow, SiteRow.id == NodeRoute.site)
             .where(NodeRoute.node.in_(rest)))
        found.update(session.execute(q).all())
    return found


def _by(session: Session, pairs: Iterable[tuple[str, str | None, str | None]],
        first: Kind, second: Kind) -> dict[str, str]:
    """(id, a, b): the holder of `a` as `first`, else of `b` as `second` (``holders``: a command or alert
    of a node or site nobody registered is the default organisation's)."""
    pairs = list(pairs)
    a = holders(session, first, {p[1] for p in pairs if p[1]})
    b = holders(session, second, {p[2] for p in pairs if p[2]})
    out = {}
    for key, x, y in pairs:
        org = a.get(x) if x else b.get(y) if y else None
        if org is not None:
            out[key] = org
    return out


def owners(session: Session, kind: Kind, ids: Iterable[str]) -> dict[str, str]:
    """id -> organisation for the ids of `kind` that exist (an id that does not is absent)."""
    ids = {str(i) for i in ids}
    if not ids:
        return {}
    if kind is SITE:
        return _sites(session, ids)
    if kind is FIELD:
        return _fields(session, ids)
    if kind is ZONE:
        return _zones(session, ids)
    if kind is NODE:
        return _nodes(session, ids)
    if kind is VALVE:
        numbers = {int(i) for i in ids if i.isdigit() and len(i) < 19}
        rows = session.execute(select(ValveRow.id, ValveRow.node_id).where(ValveRow.id.in_(numbers))).all()
        nodes = _nodes(session, {n for _, n in rows})
        return {str(v): nodes[n] for v, n in rows if n in nodes}
    if kind is COMMAND:
        rows = session.execute(select(CommandRow.id, CommandRow.zone, CommandRow.node)
                               .where(CommandRow.id.in_(ids))).all()
        return _by(session, rows, ZONE, NODE)
    if kind is ALERT:
        numbers = {int(i) for i in ids if i.isdigit() and len(i) < 19}
        rows = session.execute(select(AlertRow.id, AlertRow.zone, AlertRow.site, AlertRow.subject)
                               .where(AlertRow.id.in_(numbers))).all()
        by_zone_or_site = _by(session, [(str(i), z, s) for i, z, s, _ in rows], ZONE, SITE)
        rest = [(str(i), subject) for i, z, s, subject in rows if str(i) not in by_zone_or_site and not z and not s]
        nodes = holders(session, NODE, {subject for _, subject in rest})  # a node's own alert names the node
        by_zone_or_site.update({i: nodes[subject] for i, subject in rest if subject in nodes})
        return by_zone_or_site
    if kind in (OPERATION, YIELD_LOG):
        table = OperationRow if kind is OPERATION else YieldLogRow
        numbers = {int(i) for i in ids if i.isdigit() and len(i) < 19}
        rows = session.execute(select(table.id, table.field_id).where(table.id.in_(numbers))).all()
        fields = _fields(session, {f for _, f in rows})
        return {str(i): fields[f] for i, f in rows if f in fields}
    if kind is LOT:
        rows = session.execute(select(TraceRecordRow.lot_id, TraceRecordRow.field_id).distinct()
                               .where(TraceRecordRow.lot_id.in_(ids))).all()
        fields = _fields(session, {f for _, f in rows})
        out: dict[str, str] = {}
        for lot, f in rows:
            org = fields.get(f, MIXED)  # a record of a deleted field: nobody's, so the lot is nobody's
            out[lot] = org if out.get(lot, org) == org else MIXED
        return out
    if kind in _OWNED:
        row = _OWNED[kind]
        return dict(session.execute(select(row.id, row.organisation_id).where(row.id.in_(ids))).all())
    if kind is TOKEN:
        q = (select(ApiToken.id, User.organisation_id).join(User, User.id == ApiToken.user_id)
             .where(ApiToken.id.in_(ids)))
        return dict(session.execute(q).all())
    raise ValueError(f"unknown kind {kind!r}")


def holders(session: Session, kind: Kind, ids: Iterable[str]) -> dict[str, str]:
    """``owners``, with a site or node nobody registered (a gateway's site, a node only heard, or not
    yet) held by the default organisation, as everything was before organisations: an install of one
    farm works unchanged, and another organisation must register its sites and nodes to see them."""
    ids = {str(i) for i in ids}
    found = owners(session, kind, ids)
    if kind in (SITE, NODE):
        found.update({i: DEFAULT_ORGANISATION for i in ids - found.keys()})
    return found


def org_sites(session: Session, organisation: str) -> set[str]:
    return set(session.scalars(select(SiteRow.id).where(SiteRow.organisation_id == organisation)))


def org_fields(session: Session, organisation: str) -> set[str]:
    q = select(FieldRow.id).join(SiteRow, SiteRow.id == FieldRow.site_id).where(SiteRow.organisation_id == organisation)
    return set(session.scalars(q))


def org_zones(session: Session, organisation: str) -> set[str]:
    q = (select(ZoneRow.id).join(FieldRow, FieldRow.id == ZoneRow.field_id)
         .join(SiteRow, SiteRow.id == FieldRow.site_id).where(SiteRow.organisation_id == organisation))
    return set(session.scalars(q))


def org_nodes(session: Session, organisation: str) -> set[str]:
    """The organisation's registered nodes and those only heard through its sites' gateways."""
    registered = set(session.scalars(select(NodeRow.id).where(NodeRow.organisation_id == organisation)))
    others = set(session.scalars(select(NodeRow.id).where(NodeRow.organisation_id != organisation)))
    heard = select(NodeRoute.node).join(SiteRow, SiteRow.id == NodeRoute.site, isouter=True)
    if organisation == DEFAULT_ORGANISATION:  # through a site nobody registered, too (holders)
        heard = heard.where(or_(SiteRow.organisation_id == organisation, SiteRow.id.is_(None)))
    else:
        heard = heard.where(SiteRow.organisation_id == organisation)
    return registered | (set(session.scalars(heard)) - others)


async def require_owned(db: Database, organisation: str, kind: Kind, value: str, name: str) -> None:
    """NotFound (404) unless `value` is a `kind` of `organisation`: another organisation's id is
    answered exactly as one that does not exist."""
    found = await db.run(lambda s: holders(s, kind, {value}))
    if found.get(str(value)) != organisation:
        raise NotFound(name, value, f"no {kind} with this id")


async def refuse_foreign(db: Database, organisation: str, kind: Kind, value: str, name: str) -> None:
    """ContractError (422) when `value` is another organisation's `kind` (as a reference to one
    that does not exist is); a free id passes."""
    found = await db.run(lambda s: owners(s, kind, {value}))
    if found.get(str(value), organisation) != organisation:
        raise ContractError(name, value, f"no {kind} with this id")
