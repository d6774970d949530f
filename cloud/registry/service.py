"""The farm registry in the relational database: generic CRUD over five tables.

Parents are checked before a write (a zone names an existing field, ...), so
the error names the field; deleting a row that others still refer to is a
Conflict naming them.
"""

import json
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from furrow.edge.errors import ContractError

from ..db import DEFAULT_ORGANISATION, Base, Database, FieldRow, GatewayRow, NodeRow, SiteRow, ValveRow, ZoneRow
from ..errors import Conflict, NotFound
from ..tenancy import owners_changed
from .models import (
    FieldIn,
    FieldOut,
    NodeIn,
    NodeOut,
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


# A site's gateways are registered by issuing their broker credentials (cloud/identity/).
SITES = Kind("site", SiteRow, SiteIn, SiteOut, {}, ((FieldRow, "site_id"), (GatewayRow, "site_id")))
FIELDS = Kind("field", FieldRow, FieldIn, FieldOut, {"site_id": SiteRow}, ((ZoneRow, "field_id"),))
ZONES = Kind("zone", ZoneRow, ZoneIn, ZoneOut, {"field_id": FieldRow},
             ((NodeRow, "zone_id"), (ValveRow, "zone_id")), json_fields=("crop_coefficients",))
NODES = Kind("node", NodeRow, NodeIn, NodeOut, {"zone_id": ZoneRow}, ((ValveRow, "node_id"),),
             json_fields=("depths_cm", "calibration"))
VALVES = Kind("valve", ValveRow, ValveIn, ValveOut, {"node_id": NodeRow, "zone_id": ZoneRow}, ())
KINDS = (SITES, FIELDS, ZONES, NODES, VALVES)


def _of_organisation(kind: Kind, organisation: str) -> Any:
    """The condition that a row of `kind` is `organisation`'s."""
    sites = select(SiteRow.id).where(SiteRow.organisation_id == organisation)
    if kind is SITES:
        return SiteRow.organisation_id == organisation
    if kind is FIELDS:
        return FieldRow.site_id.in_(sites)
    if kind is ZONES:
        return ZoneRow.field_id.in_(select(FieldRow.id).where(FieldRow.site_id.in_(sites)))
    if kind is NODES:
        return NodeRow.organisation_id == organisation
    return ValveRow.node_id.in_(select(NodeRow.id).where(NodeRow.organisation_id == organisation))


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

    def _check_parents(self, session: Session, kind: Kind, values: dict[str, Any]) -> None:
        for field, table in kind.parents.items():
            ref = values.get(field)
            if ref is not None and session.get(table, ref) is None:
                raise ContractError(field, ref, f"no {table.__tablename__[:-1]} with this id")

    async def create(self, kind: Kind, body: BaseModel, organisation: str = DEFAULT_ORGANISATION) -> BaseModel:
        """Register a row; a site or node is `organisation`'s (fields, zones and valves are their parent's)."""
        values = _to_row_values(kind, body)
        if kind in (SITES, NODES):
            values["organisation_id"] = organisation

        def create(session: Session) -> BaseModel:
            self._check_parents(session, kind, values)
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

    async def replace(self, kind: Kind, key: str | int, body: BaseModel) -> BaseModel:
        values = _to_row_values(kind, body)
        if "id" in values and values["id"] != key:
            raise ContractError("id", values["id"], f"must match the id in the path ({key})")

        def replace(session: Session) -> BaseModel:
            row = session.get(kind.row, key)
            if row is None:
                raise NotFound(kind.name, key, f"no {kind.name} with this id in the registry")
            self._check_parents(session, kind, values)
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
