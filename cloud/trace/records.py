"""The stored side of production records: plain functions over a Session, called through Database.run.

There is an insert and reads; no update or delete exists here, and the database refuses them anyway
(migration 0018's triggers).
"""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from furrow.edge.errors import ContractError

from ..db import TraceCheckpointRow, TraceRecordRow
from .canonical import CanonicalError, canonical_json
from .chain import GENESIS, head_body, record_hash


def as_record(row: TraceRecordRow) -> dict[str, Any]:
    """A row under the names the chain hashes (chain.HASHED), with its ``id`` and ``hash``."""
    return {"id": row.id, "field": row.field_id, "season": row.season, "seq": row.seq, "kind": row.kind,
            "occurred_ms": row.occurred_ms, "zone": row.zone_id, "data": row.data, "corrects": row.corrects,
            "source": row.source, "lot": row.lot_id, "by": row.by, "recorded_ms": row.recorded_ms,
            "prev": row.prev_hash, "hash": row.hash}


def as_checkpoint(row: TraceCheckpointRow) -> dict[str, Any]:
    return {"id": row.id, "field": row.field_id, "season": row.season, "seq": row.seq, "head": row.head_hash,
            "signed_ms": row.signed_ms, "kid": row.kid, "sig": row.sig}


def by_source(session: Session, source: str) -> TraceRecordRow | None:
    return session.scalar(select(TraceRecordRow).where(TraceRecordRow.source == source))


def _lock_chain(session: Session, field_id: str, season: str) -> None:
    """On PostgreSQL, one appender per chain at a time (until the transaction ends), so two instances do
    not both take the next seq; SQLite writes one transaction at a time already."""
    if session.get_bind().dialect.name == "postgresql":
        key = int.from_bytes(hashlib.sha256(f"trace:{field_id}/{season}".encode()).digest()[:8], "big", signed=True)
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})


def head(session: Session, field_id: str, season: str) -> TraceRecordRow | None:
    q = (select(TraceRecordRow).where(TraceRecordRow.field_id == field_id, TraceRecordRow.season == season)
         .order_by(TraceRecordRow.seq.desc()).limit(1))
    return session.scalar(q)


def append(session: Session, *, field_id: str, season: str, kind: str, occurred_ms: int, zone_id: str | None,
           data: dict[str, Any], corrects: int | None, source: str, by: str, recorded_ms: int,
           ) -> tuple[TraceRecordRow, bool]:
    """Add a record at the end of its chain: (the row, True); (the stored row, False) when one with the same
    `source` exists. ContractError when `corrects` names no earlier record of the chain."""
    old = by_source(session, source)
    if old is not None:
        return old, False
    _lock_chain(session, field_id, season)
    last = head(session, field_id, season)
    seq, prev = (last.seq + 1, last.hash) if last is not None else (1, GENESIS)
    if corrects is not None and corrects >= seq:
        raise ContractError("corrects", corrects, f"chain {field_id}/{season} has records 1 to {seq - 1}"
                            if seq > 1 else f"chain {field_id}/{season} has no record yet")
    try:
        canonical_json(data)  # what has no canonical form (NaN, huge integers) is refused before it is stored
    except CanonicalError as e:
        raise ContractError("data", None, str(e)) from None
    lot = data.get("lot_id") if kind == "harvest" else None
    rec = {"field": field_id, "season": season, "seq": seq, "kind": kind, "occurred_ms": occurred_ms,
           "zone": zone_id, "data": data, "corrects": corrects, "source": source, "lot": lot, "by": by[:80],
           "recorded_ms": recorded_ms, "prev": prev}
    row = TraceRecordRow(field_id=field_id, season=season, seq=seq, kind=kind, occurred_ms=occurred_ms,
                         zone_id=zone_id, data=data, corrects=corrects, source=source, lot_id=lot, by=by[:80],
                         recorded_ms=recorded_ms, prev_hash=prev, hash=record_hash(rec))
    session.add(row)
    session.flush()
    return row, True


def chain(session: Session, field_id: str, season: str) -> list[TraceRecordRow]:
    q = (select(TraceRecordRow).where(TraceRecordRow.field_id == field_id, TraceRecordRow.season == season)
         .order_by(TraceRecordRow.seq, TraceRecordRow.id))
    return list(session.scalars(q))


def checkpoints(session: Session, field_id: str, season: str) -> list[TraceCheckpointRow]:
    q = (select(TraceCheckpointRow)
         .where(TraceCheckpointRow.field_id == field_id, TraceCheckpointRow.season == season)
         .order_by(TraceCheckpointRow.seq, TraceCheckpointRow.id))
    return list(session.scalars(q))


def chain_keys(session: Session, field_id: str | None = None, season: str | None = None) -> list[tuple[str, str]]:
    """Every (field, season) with records or checkpoints, sorted; only `field`'s / `season`'s when given."""
    keys: set[tuple[str, str]] = set()
    for model in (TraceRecordRow, TraceCheckpointRow):
        q = select(model.field_id, model.season).distinct()
        if field_id is not None:
            q = q.where(model.field_id == field_id)
        if season is not None:
            q = q.where(model.season == season)
        keys.update((f, s) for f, s in session.execute(q))
    return sorted(keys)


def chains(session: Session, field_id: str | None = None) -> list[dict[str, Any]]:
    """Each chain's length, head and newest checkpoint."""
    q = select(TraceRecordRow.field_id, TraceRecordRow.season, func.max(TraceRecordRow.seq),
               func.max(TraceRecordRow.recorded_ms)).group_by(TraceRecordRow.field_id, TraceRecordRow.season)
    if field_id is not None:
        q = q.where(TraceRecordRow.field_id == field_id)
    out = []
    for f, s, n, last_ms in session.execute(q.order_by(TraceRecordRow.field_id, TraceRecordRow.season)):
        top = head(session, f, s)
        cp = session.scalar(select(TraceCheckpointRow)
                            .where(TraceCheckpointRow.field_id == f, TraceCheckpointRow.season == s)
                            .order_by(TraceCheckpointRow.seq.desc(), TraceCheckpointRow.id.desc()).limit(1))
        out.append({"field": f, "season": s, "records": n, "head": top.hash if top else GENESIS,
                    "last_recorded_ms": last_ms, "signed_seq": cp.seq if cp else None,
                    "signed_ms": cp.signed_ms if cp else None})
    return out


def add_checkpoint(session: Session, field_id: str, season: str, seq: int, head_hash: str, signed_ms: int,
                   kid: str, sig: str) -> TraceCheckpointRow:
    row = TraceCheckpointRow(field_id=field_id, season=season, seq=seq, head_hash=head_hash, signed_ms=signed_ms,
                             kid=kid, sig=sig)
    session.add(row)
    session.flush()
    return row


def unsigned_heads(session: Session) -> list[tuple[str, str, int, str]]:
    """(field, season, seq, hash) of every chain whose head no checkpoint covers yet."""
    out = []
    for chain_info in chains(session):
        if chain_info["signed_seq"] is None or chain_info["signed_seq"] < chain_info["records"]:
            out.append((chain_info["field"], chain_info["season"], chain_info["records"], chain_info["head"]))
    return out


__all__ = ["append", "as_checkpoint", "as_record", "by_source", "chain", "chain_keys", "chains", "checkpoints",
           "head", "head_body", "unsigned_heads"]
