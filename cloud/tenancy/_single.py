"""Whether this installation holds one organisation only, so that nothing any caller is answered can be
another organisation's and the tenancy checks (``TenantFilter``, the body check of ``deps.scoped``) can
be skipped.

An installation of one farm has no row in ``organisations`` (``default`` is implicit until its admin
names it, migration 0024) and every site, node and user is the default organisation's. Another
organisation needs its row first (``create_organisation``; a token is issued only for an organisation
that exists), so "one organisation" is: no ``organisations`` row but ``default``'s, and no site, node or
user held by another (a restore copies rows as they were).

The answer is one EXISTS query, remembered per database for ``TTL_S`` seconds. Several organisations
is final for the process (organisations are never deleted). ``create_organisation`` in this process
asks again at once; another instance sharing the database (or the CLI) is seen within ``TTL_S``. In
that second nothing of the new organisation can be answered to the default organisation yet: it has
no site or node until one of its users, with a token issued after the row exists, registers one.
"""

import asyncio
import time
import weakref
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import exists, or_, select
from sqlalchemy.orm import Session

from ..db import DEFAULT_ORGANISATION, Database, NodeRow, Organisation, SiteRow, User

TTL_S = 1.0
T = TypeVar("T")

_generation = 0  # bumped by create_organisation in this process


def organisations_changed() -> None:
    """An organisation was created in this process: every ``SingleOrganisation`` asks again."""
    global _generation
    _generation += 1


def several_organisations(session: Session) -> bool:
    """Whether anything in the database is held by an organisation other than the default one."""
    other = [exists().where(Organisation.id != DEFAULT_ORGANISATION),
             exists().where(SiteRow.organisation_id != DEFAULT_ORGANISATION),
             exists().where(NodeRow.organisation_id != DEFAULT_ORGANISATION),
             exists().where(User.organisation_id != DEFAULT_ORGANISATION)]
    return bool(session.execute(select(or_(*other))).scalar())


class SingleOrganisation:
    """``await single.holds(organisation)``: True when `organisation` is the default one and the
    database holds no other (then no id any answer names can be foreign to the caller)."""

    def __init__(self, db: Database, ttl_s: float = TTL_S) -> None:
        self._db = db
        self._ttl_s = ttl_s
        self._several = False
        self._checked_at = -float("inf")
        self._generation = -1
        self._asking: asyncio.Future[bool] | None = None
        self.queries = 0  # how often the database was asked (tests, bench)

    async def holds(self, organisation: str | None) -> bool:
        if organisation != DEFAULT_ORGANISATION or self._several:
            return False
        if self._generation == _generation and time.monotonic() - self._checked_at < self._ttl_s:
            return True
        if self._asking is None:  # one query for all the requests that arrive while it runs
            self._asking = asyncio.ensure_future(self._ask())
        try:
            several = await asyncio.shield(self._asking)
        finally:
            if self._asking is not None and self._asking.done():
                self._asking = None
        return not several

    async def _ask(self) -> bool:
        generation, started = _generation, time.monotonic()
        several = await self._db.run(several_organisations)
        self.queries += 1
        self._several = self._several or several
        self._generation, self._checked_at = generation, started
        return self._several


def per_database(make: Callable[[Database], T]) -> Callable[[Database], T]:
    """An accessor giving one `make(db)` per database object, kept while the database lives (what each
    request and the MQTT worker share: the remembered answers of ``SingleOrganisation``, ``IngestGuard``)."""
    made: weakref.WeakKeyDictionary[Database, T] = weakref.WeakKeyDictionary()

    def of(db: Database) -> T:
        found = made.get(db)
        if found is None:
            found = made[db] = make(db)
        return found

    return of


single_organisation = per_database(SingleOrganisation)
"""The database's ``SingleOrganisation`` (shared by the filter, the body check and the ingest guard)."""
