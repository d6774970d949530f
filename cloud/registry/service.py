"""The farm registry in the relational database: generic CRUD over its tables (sites, fields, zones, nodes,
valves; machines, implements, dispatch tasks and regions of the farm).

Parents are checked before a write (a zone names an existing field, ...), so
the error names the field; deleting a row that others still refer to is a
Conflict naming them.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from furrow.edge.errors import ContractError

from ..db import (
    DEFAULT_ORGANISATION,
    Base,
    Database,
    FarmRegionRow,
    FieldRow,
    GatewayRow,
    ImplementRow,
    MachineRow,
    NodeRow,
    SiteRow,
    TaskRow,
    User,
    ValveRow,
    ZoneRow,
)
from ..errors import Conflict, NotFound
from ..tenancy import owners_changed
from .fleet import ImplementIn, ImplementOut, MachineIn, MachineOut, RegionIn, RegionOut, TaskIn, TaskOut
from .models import (
    FieldIn,
    FieldOut,
    NodeIn,
    NodeOut,
    NodeRole,
    SiteIn,
    SiteOut,
    ValveIn,
    ValveOut,
    ZoneIn,
    ZoneOut,
)


@dataclass(frozen=True)
class Kind:
    """One registry resource: its table, models, parents and children."""

    name: str
    row: type[Base]
    model_in: type[BaseModel]
    model_out: type[BaseModel]
    parents: dict[str, type[Base]]  # field -> parent table
    children: tuple[tuple[type[Base], str], ...]  # (table, column) that point here
    json_fields: tuple[str, ...] = ()
    owned: bool = False  # the row carries its organisation (else it takes its parent's)
    # what the models cannot check alone: (session, values, organisation) -> raises ContractError naming the field
    check: Callable[[Session, dict[str, Any], str], None] | None = None
    # rows naming this one inside a JSON list (a region's fields, a machine's implements): (session, key) -> names
    listed_in: Callable[[Session, str], list[str]] | None = None


# A site's gateways are registered by issuing their broker credentials (cloud/identity/).
# A tracker (in no zone) names its site.
SITES = Kind("site", SiteRow, SiteIn, SiteOut, {},
             ((FieldRow, "site_id"), (GatewayRow, "site_id"), (NodeRow, "site_id")), owned=True)


def _listing(row: type[Base], column: str) -> Callable[[Session, str], list[str]]:
    """The ids of `row` whose JSON list `column` names a key (few rows per organisation: read in Python, the
    same on SQLite and PostgreSQL)."""

    def find(session: Session, key: str) -> list[str]:
        return [i for i, values in session.execute(select(row.id, getattr(row, column))).all()  # type: ignore[attr-defined]
                if key in (values or [])]

    return find


def _in_organisation(session: Session, row: type[Base], ids: list[str], organisation: str, name: str,
                     what: str) -> None:
    """ContractError naming `name`.i for the first id that is no `row` of `organisation` (another
    organisation's is answered as one that does not exist)."""
    if row is FieldRow:
        q = (select(FieldRow.id).join(SiteRow, SiteRow.id == FieldRow.site_id)
             .where(FieldRow.id.in_(ids), SiteRow.organisation_id == organisation))
    else:
        q = select(row.id).where(row.id.in_(ids), row.organisation_id == organisation)  # type: ignore[attr-defined]
    found = set(session.scalars(q))
    for i, value in enumerate(ids):
        if value not in found:
            raise ContractError(f"{name}.{i}", value, f"no {what} with this id: register it first")


def _check_machine(session: Session, values: dict[str, Any], organisation: str) -> None:
    if values.get("node_id") is not None:
        node = session.get(NodeRow, values["node_id"])
        if node is not None and node.role != NodeRole.TRACKER:
            raise ContractError("node_id", values["node_id"], f"is a {node.role} node: a machine carries a tracker "
                                "(register it with role tracker)")
    _in_organisation(session, ImplementRow, values["implement_ids"], organisation, "implement_ids", "implement")
    if values.get("operator") is not None:
        user = session.scalar(select(User).where(User.name == values["operator"],
                                                 User.organisation_id == organisation))
        if user is None:
            raise ContractError("operator", values["operator"], "no user of this name in your organisation: create "
                                "the operator's login first (furrow cloud user create --role operator)")


def _check_task(session: Session, values: dict[str, Any], organisation: str) -> None:
    _in_organisation(session, ImplementRow, [values["implement_id"]], organisation, "implement_id", "implement")
    implement = session.get(ImplementRow, values["implement_id"])
    if implement is not None and values["kind"] not in implement.operations:
        raise ContractError("implement_id", values["implement_id"], f"does {', '.join(implement.operations)}, not "
                            f"{values['kind']}")


def _check_region(session: Session, values: dict[str, Any], organisation: str) -> None:
    _in_organisation(session, FieldRow, values["field_ids"], organisation, "field_ids", "field")


FIELDS = Kind("field", FieldRow, FieldIn, FieldOut, {"site_id": SiteRow},
              ((ZoneRow, "field_id"), (TaskRow, "field_id")), listed_in=_listing(FarmRegionRow, "field_ids"))
ZONES = Kind("zone", ZoneRow, ZoneIn, ZoneOut, {"field_id": FieldRow},
             ((NodeRow, "zone_id"), (ValveRow, "zone_id")), json_fields=("crop_coefficients",))
NODES = Kind("node", NodeRow, NodeIn, NodeOut, {"zone_id": ZoneRow, "site_id": SiteRow},
             ((ValveRow, "node_id"), (MachineRow, "node_id")),
             json_fields=("depths_cm", "calibration"), owned=True)
VALVES = Kind("valve", ValveRow, ValveIn, ValveOut, {"node_id": NodeRow, "zone_id": ZoneRow}, ())
IMPLEMENTS = Kind("implement", ImplementRow, ImplementIn, ImplementOut, {}, ((TaskRow, "implement_id"),), owned=True,
                  listed_in=_listing(MachineRow, "implement_ids"))
MACHINES = Kind("machine", MachineRow, MachineIn, MachineOut, {"node_id": NodeRow}, (), owned=True,
                check=_check_machine)
TASKS = Kind("task", TaskRow, TaskIn, TaskOut, {"field_id": FieldRow}, (), owned=True, check=_check_task)
REGIONS = Kind("region", FarmRegionRow, RegionIn, RegionOut, {}, (), owned=True, check=_check_region)
KINDS = (SITES, FIELDS, ZONES, NODES, VALVES, IMPLEMENTS, MACHINES, TASKS, REGIONS)


def _of_organisation(kind: Kind, organisation: str) -> Any:
    """The condition that a row of `kind` is `organisation`'s."""
    sites = select(SiteRow.id).where(SiteRow.organisation_id == organisation)
    if kind is SITES:
        return SiteRow.organisation_id == organisation
    if kind is FIELDS:
        return FieldRow.site_id.in_(sites)
    if kind is ZONES:
        return ZoneRow.field_id.in_(select(FieldRow.id).where(FieldRow.site_id.in_(sites)))
    if kind is VALVES:
        return ValveRow.node_id.in_(select(NodeRow.id).where(NodeRow.organisation_id == organisation))
    return kind.row.organisation_id == organisation  # type: ignore[attr-defined]


def _to_row_values(kind: Kind, body: BaseModel) -> dict[str, Any]:
    values = body.model_dump(mode="json")
    for name in kind.json_fields:
        if values.get(name) is not None:
            values[name] = json.dumps(values[name], sort_keys=True)
    return values


def _out(kind: Kind, row: Base) -> BaseModel:
    values = {c.name: getattr(row, c.name) for c in row.__table__.columns if c.name != "organisation_id"}
    for name in kind.json_fields:
        if values.get(name) is not None:
            values[name] = json.loads(values[name])
    return kind.model_out.model_validate(values)


class Registry:
    """CRUD over the registry; all calls run through Database.run."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def trackers_without_site(self) -> list[tuple[str, str]]:
        """(node, organisation) of each tracker with no site: one registered before trackers had a site (migration
        0032; 0034 gave one to those of an organisation with a single site) gets no broker login until it has one."""

        def find(session: Session) -> list[tuple[str, str]]:
            q = (select(NodeRow.id, NodeRow.organisation_id)
                 .where(NodeRow.role == "tracker", NodeRow.zone_id.is_(None), NodeRow.site_id.is_(None))
                 .order_by(NodeRow.organisation_id, NodeRow.id))
            return [(n, o) for n, o in session.execute(q).all()]

        return await self._db.run(find)

    def _check_parents(self, session: Session, kind: Kind, values: dict[str, Any]) -> None:
        for field, table in kind.parents.items():
            ref = values.get(field)
            if ref is not None and session.get(table, ref) is None:
                raise ContractError(field, ref, f"no {table.__tablename__[:-1]} with this id")

    async def create(self, kind: Kind, body: BaseModel, organisation: str = DEFAULT_ORGANISATION) -> BaseModel:
        """Register a row; a site, node, machine, implement, task or region is `organisation`'s (fields, zones and
        valves are their parent's)."""
        values = _to_row_values(kind, body)
        if kind.owned:
            values["organisation_id"] = organisation

        def create(session: Session) -> BaseModel:
            self._check_parents(session, kind, values)
            if kind.check is not None:
                kind.check(session, values, organisation)
            if "id" in values and session.get(kind.row, values["id"]) is not None:
                raise Conflict("id", values["id"], f"a {kind.name} with this id already exists")
            row = kind.row(**values)
            session.add(row)
            session.flush()
            return _out(kind, row)

        try:
            return await self._db.run(create)
        except IntegrityError as e:
            raise Conflict(kind.name, None, f"clashes with an existing {kind.name}: {e.orig}") from None
        finally:
            if kind in (SITES, NODES):
                owners_changed()  # ingest asks the new owner at once (tenancy/_ingest.py)

    async def replace(self, kind: Kind, key: str | int, body: BaseModel,
                      organisation: str = DEFAULT_ORGANISATION) -> BaseModel:
        values = _to_row_values(kind, body)
        if "id" in values and values["id"] != key:
            raise ContractError("id", values["id"], f"must match the id in the path ({key})")

        def replace(session: Session) -> BaseModel:
            row = session.get(kind.row, key)
            if row is None:
                raise NotFound(kind.name, key, f"no {kind.name} with this id in the registry")
            self._check_parents(session, kind, values)
            if kind.check is not None:
                kind.check(session, values, organisation)
            for name, value in values.items():
                setattr(row, name, value)
            session.flush()
            return _out(kind, row)

        try:
            return await self._db.run(replace)
        except IntegrityError as e:
            raise Conflict(kind.name, key, f"clashes with an existing {kind.name}: {e.orig}") from None

    async def get(self, kind: Kind, key: str | int) -> BaseModel:
        def get(session: Session) -> BaseModel:
            row = session.get(kind.row, key)
            if row is None:
                raise NotFound(kind.name, key, f"no {kind.name} with this id in the registry")
            return _out(kind, row)

        return await self._db.run(get)

    async def all(self, kind: Kind, organisation: str | None = None, **filters: str | None) -> list[BaseModel]:
        """Every row of `kind` (of `organisation` when given), or those whose `filters` columns match."""

        def list_(session: Session) -> list[BaseModel]:
            q = select(kind.row)
            if organisation is not None:
                q = q.where(_of_organisation(kind, organisation))
            for name, value in filters.items():
                if value is not None:
                    q = q.where(getattr(kind.row, name) == value)
            q = q.order_by(*kind.row.__table__.primary_key.columns)
            return [_out(kind, row) for row in session.scalars(q)]

        return await self._db.run(list_)

    async def delete(self, kind: Kind, key: str | int) -> None:
        def delete(session: Session) -> None:
            row = session.get(kind.row, key)
            if row is None:
                raise NotFound(kind.name, key, f"no {kind.name} with this id in the registry")
            for table, column in kind.children:
                n = session.scalar(select(func.count()).select_from(table).where(getattr(table, column) == key))
                if n:
                    raise Conflict(kind.name, key, f"still has {n} {table.__tablename__}: delete those first")
            if kind.listed_in is not None and (names := kind.listed_in(session, str(key))):
                raise Conflict(kind.name, key, f"still named by {', '.join(names)}: take it out of those first")
            session.delete(row)

        try:
            await self._db.run(delete)
        except IntegrityError as e:  # a reference the children above do not name: still a clash, not a bug
            raise Conflict(kind.name, key, f"still referred to elsewhere: {e.orig}") from None
        finally:
            if kind in (SITES, NODES):
                owners_changed()

    async def zone_of_valve(self, node: str, channel: int) -> ZoneOut | None:
        """The zone that valve `channel` of irrigation node `node` waters, if registered."""

        def find(session: Session) -> ZoneOut | None:
            valve = session.scalar(select(ValveRow).where(ValveRow.node_id == node, ValveRow.channel == channel))
            if valve is None:
                return None
            return _out(ZONES, session.get(ZoneRow, valve.zone_id))  # type: ignore[return-value]

        return await self._db.run(find)

    async def get_zone(self, zone: str) -> ZoneOut:
        return await self.get(ZONES, zone)  # type: ignore[return-value]

    async def valves_of_zone(self, zone: str) -> list[ValveOut]:
        return await self.all(VALVES, zone_id=zone)  # type: ignore[return-value]

    async def nodes_of_zone(self, zone: str) -> list[NodeOut]:
        return await self.all(NODES, zone_id=zone)  # type: ignore[return-value]

    async def nodes_of_site(self, site: str) -> list[NodeOut]:
        """Every node of a zone of the site's fields, by id (one query)."""

        def list_(session: Session) -> list[NodeOut]:
            q = (select(NodeRow).join(ZoneRow, NodeRow.zone_id == ZoneRow.id)
                 .join(FieldRow, ZoneRow.field_id == FieldRow.id)
                 .where(FieldRow.site_id == site).order_by(NodeRow.id))
            return [_out(NODES, row) for row in session.scalars(q)]  # type: ignore[misc]

        return await self._db.run(list_)
