"""The audit log: who changed what, when, and from which address.

Routes record a change after it is done (registry writes, credentials,
tokens, users, irrigation commands, plans and overrides, failed logins);
admins read it at ``GET /api/v1/audit``. Entries are only ever added.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ._time import Clock, now_ms
from .db import DEFAULT_ORGANISATION, AuditRow, Database, User

MAX_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    ts_ms: int
    actor: str
    action: str
    target: str
    client: str
    detail: dict[str, Any] | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 3] + "..."


def record_sync(session: Session, actor: str, action: str, target: str, client: str,
                detail: dict[str, Any] | None = None, *, now_ms: int) -> None:
    """Add one entry at `now_ms` in `session` (so it commits with the change it describes, where the
    caller can)."""
    session.add(AuditRow(ts_ms=now_ms, actor=_clip(actor, 80),
                         action=_clip(action, 64), target=_clip(target, 200), client=_clip(client, 64),
                         detail=detail))


class AuditLog:
    """Writes and reads the audit log table."""

    def __init__(self, db: Database, clock: Clock = now_ms) -> None:
        self._db = db
        self._clock = clock

    async def record(self, actor: str, action: str, target: str, client: str,
                     detail: dict[str, Any] | None = None) -> None:
        at = self._clock()
        await self._db.run(lambda s: record_sync(s, actor, action, target, client, detail, now_ms=at))

    async def recent(self, limit: int = 100, since_ms: int | None = None,
                     organisation: str | None = None) -> list[AuditEntry]:
        """Entries newest first; with `since_ms`, only those at or after it. With `organisation`, only
        what its users did (and, for the default organisation, what no user did: the CLI, the jobs)."""
        limit = max(1, min(limit, MAX_LIMIT))

        def read(session: Session) -> list[AuditEntry]:
            q = select(AuditRow)
            if organisation is not None:
                members = AuditRow.actor.in_(select(User.name).where(User.organisation_id == organisation))
                if organisation == DEFAULT_ORGANISATION:
                    members = or_(members, AuditRow.actor.not_in(select(User.name)))
                q = q.where(members)
            if since_ms is not None:
                q = q.where(AuditRow.ts_ms >= since_ms)
            q = q.order_by(AuditRow.ts_ms.desc(), AuditRow.id.desc()).limit(limit)
            return [AuditEntry(r.id, r.ts_ms, r.actor, r.action, r.target, r.client, r.detail)
                    for r in session.scalars(q)]

        return await self._db.run(read)


class Auditor:
    """The audit log bound to one request's client address: ``await audit(who, action, target)``."""

    def __init__(self, log: AuditLog | None, client: str) -> None:
        self._log = log
        self.client = client

    async def __call__(self, actor: str, action: str, target: str, /, **detail: Any) -> None:
        if self._log is not None:
            await self._log.record(actor, action, target, self.client, detail or None)
