"""Published lots in the database: publish (a new unguessable token), withdraw, the farm-wide default, and the
lookups the public page and the report make. Sync functions on a session; TraceService runs them."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db import FieldRow, SiteRow, TracePublicationRow
from ..errors import NotFound
from .publish import DEFAULT_ITEMS, PublishItem

DEFAULT_LOT = "*"  # the row holding the farm-wide default choice (no token)


def as_publication(row: TracePublicationRow) -> dict[str, Any]:
    return {"lot": row.lot_id, "token": row.token, "items": list(row.items), "by": row.by,
            "published_ms": row.published_ms, "withdrawn_ms": row.withdrawn_ms}


def _live(session: Session, lot_id: str) -> TracePublicationRow | None:
    return session.scalar(select(TracePublicationRow).where(TracePublicationRow.lot_id == lot_id,
                                                            TracePublicationRow.withdrawn_ms.is_(None))
                          .order_by(TracePublicationRow.id.desc()).limit(1))


def default_items(session: Session) -> list[str]:
    row = _live(session, DEFAULT_LOT)
    return list(row.items) if row is not None else [str(i) for i in DEFAULT_ITEMS]


def set_default(session: Session, items: Iterable[PublishItem], by: str, now_ms: int) -> list[str]:
    """Replace the farm-wide default (what a lot published without a choice of its own shows)."""
    old = _live(session, DEFAULT_LOT)
    if old is not None:
        old.withdrawn_ms = now_ms
    chosen = sorted({str(i) for i in items})
    session.add(TracePublicationRow(lot_id=DEFAULT_LOT, token=None, items=chosen, by=by, published_ms=now_ms))
    return chosen


def publish(session: Session, lot_id: str, items: Iterable[PublishItem] | None, by: str, now_ms: int) -> dict[str, Any]:
    """Publish `lot_id` showing `items` (the farm-wide default when None), under a new token; a lot published
    before is withdrawn first, so its old token answers 404."""
    chosen = sorted({str(i) for i in (items if items is not None else default_items(session))})
    withdraw(session, lot_id, now_ms, missing_ok=True)
    row = TracePublicationRow(lot_id=lot_id, token=secrets.token_urlsafe(24), items=chosen, by=by,
                              published_ms=now_ms)
    session.add(row)
    session.flush()
    return as_publication(row)


def withdraw(session: Session, lot_id: str, now_ms: int, missing_ok: bool = False) -> dict[str, Any] | None:
    """Withdraw the lot's publication: its token answers 404 from now on."""
    row = _live(session, lot_id)
    if row is None:
        if missing_ok:
            return None
        raise NotFound("lot", lot_id, "this lot is not published")
    row.withdrawn_ms = now_ms
    session.flush()
    return as_publication(row)


def current(session: Session, lot_id: str) -> dict[str, Any] | None:
    row = _live(session, lot_id)
    return None if row is None else as_publication(row)


def by_token(session: Session, token: str) -> dict[str, Any] | None:
    """The live publication with this token (None when unknown or withdrawn)."""
    if not token or len(token) > 64:
        return None
    row = session.scalar(select(TracePublicationRow).where(TracePublicationRow.token == token,
                                                           TracePublicationRow.withdrawn_ms.is_(None)))
    return None if row is None or row.lot_id == DEFAULT_LOT else as_publication(row)


def field_context(session: Session, field_ids: Iterable[str]) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """Each field's site ({"name", "timezone"}) and boundary, by field id, for publish.public_view."""
    sites, boundaries = {}, {}
    for fid in field_ids:
        field = session.get(FieldRow, fid)
        if field is None:
            continue
        site = session.get(SiteRow, field.site_id)
        sites[fid] = {"name": site.name if site else None, "timezone": site.timezone if site else "UTC"}
        boundaries[fid] = field.boundary
    return sites, boundaries
