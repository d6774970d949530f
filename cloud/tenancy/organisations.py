"""Organisations as the API and the CLI take them: a farm or a cooperative, the region it is in and
whether it shares its data with the regional platform (the regional view counts only those that do)."""

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import event
from sqlalchemy.orm import Session

from .._time import now_ms
from ..db import DEFAULT_ORGANISATION, Organisation
from ..errors import Conflict, NotFound
from ._single import organisations_changed

Region = Annotated[str, Field(pattern=r"^[0-9A-Za-z-]{1,12}(/[0-9A-Za-z-]{1,12}){0,3}$", max_length=64,
                              examples=["650000/650100/650102"],
                              description="administrative codes from the widest down, '/'-separated: "
                                          "province/city/county (GB/T 2260 codes in China)")]


class OrganisationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=120)
    region: Region | None = None
    shares_regional: bool = Field(default=False, description="counted in its region's aggregates (never shown "
                                                             "alone: cells of fewer farms are suppressed)")


class OrganisationNew(OrganisationIn):
    id: str = Field(pattern=r"^[a-z0-9_-]{1,32}$")


class OrganisationOut(OrganisationNew):
    created_ms: int


def _out(row: Organisation) -> OrganisationOut:
    return OrganisationOut(id=row.id, name=row.name, region=row.region, shares_regional=row.shares_regional,
                           created_ms=row.created_ms)


def create_organisation(session: Session, body: OrganisationNew, now: int | None = None) -> OrganisationOut:
    """A new organisation (the CLI; an organisation's admin cannot make another)."""
    if session.get(Organisation, body.id) is not None:
        raise Conflict("id", body.id, "an organisation with this id already exists")
    row = Organisation(id=body.id, name=body.name, region=body.region, shares_regional=body.shares_regional,
                       created_ms=now_ms() if now is None else now)
    session.add(row)
    session.flush()
    # After the commit: a check that began before it must not stand (the tenancy checks switch on at once here).
    event.listen(session, "after_commit", lambda _s: organisations_changed(), once=True)
    return _out(row)


def _default() -> Organisation:
    """The default organisation before its admin names it (it has no row until then)."""
    return Organisation(id=DEFAULT_ORGANISATION, name="Default organisation", region=None, shares_regional=False,
                        created_ms=0)


def get_organisation(session: Session, organisation: str) -> OrganisationOut:
    row = session.get(Organisation, organisation)
    if row is None and organisation == DEFAULT_ORGANISATION:
        return _out(_default())
    if row is None:
        raise NotFound("organisation", organisation, "no organisation with this id")
    return _out(row)


def update_organisation(session: Session, organisation: str, body: OrganisationIn) -> OrganisationOut:
    row = session.get(Organisation, organisation)
    if row is None and organisation == DEFAULT_ORGANISATION:
        row = _default()
        session.add(row)
    if row is None:
        raise NotFound("organisation", organisation, "no organisation with this id")
    row.name, row.region, row.shares_regional = body.name, body.region, body.shares_regional
    return _out(row)
