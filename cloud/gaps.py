"""Readings that never reached storage, per node: the gateway's own reports and the holes nobody explains.

A gateway reports every reading it did not forward (its buffer quota, a node's flood budget, the
quarantine) in its batches (edge/batch.py, ``gaps``). `GapStore` keeps each report once, under
(site, gateway, report id), so a batch sent again records nothing twice.

What no report explains is found in the stored readings themselves: `losses` takes the seqs a node's
stored readings carry and the ranges its gateways reported, and gives the seq ranges missing from
neither. A node skips the rest of its reserved block of seqs when it restarts
(firmware/seqstore.py, 100 by default), so a hole that ends just below a multiple of that block is
marked as a likely restart rather than left for a person to guess.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from furrow.edge.batch import GAP_QUOTA, make_gap

from .db import Database, GapRow

SEQ_BLOCK = 100  # firmware/seqstore.py's default reserve (config seq_reserve)
REPORTS_MAX = 500  # reports one query returns, newest first


@dataclass(frozen=True, slots=True)
class Loss:
    """Seqs `first`..`last` of a node that were never stored and that no gateway reported."""

    first: int
    last: int
    likely_restart: bool

    @property
    def count(self) -> int:
        return self.last - self.first + 1


def losses(seqs: Iterable[int], reported: Iterable[Sequence[int]], block: int = SEQ_BLOCK) -> list[Loss]:
    """The seq ranges between the lowest and the highest of `seqs` (the stored ones) that are
    neither stored nor inside a `reported` [first, last] range, oldest first."""
    stored = sorted(set(seqs))
    holes = [(a + 1, b - 1) for a, b in zip(stored, stored[1:], strict=False) if b > a + 1]
    covered = sorted((int(r[0]), int(r[1])) for r in reported)
    out: list[Loss] = []
    for first, last in holes:
        for a, b in covered:
            if b < first or a > last:
                continue
            if a > first:
                out.append(_loss(first, a - 1, block))
            first = max(first, b + 1)
            if first > last:
                break
        if first <= last:
            out.append(_loss(first, last, block))
    return out


def _loss(first: int, last: int, block: int) -> Loss:
    # After a restart a node resumes at its persisted mark, a multiple of its block.
    return Loss(first, last, (last + 1) % block == 0 and last - first + 1 < block)


def legacy_drops(batch_id: str, sent_ms: int, dropped: Any) -> list[dict]:
    """A 1.1 gateway's ``dropped`` counts (quota drops per node, as one seq range) as gap reports;
    anything malformed in it is ignored (that gateway's readings are still stored)."""
    if not isinstance(dropped, dict):
        return []
    out = []
    for node, d in dropped.items():
        try:
            count, low, high = int(d["count"]), int(d["min_seq"]), int(d["max_seq"])
        except (KeyError, TypeError, ValueError):
            continue
        if count > 0 and 0 <= low <= high:
            out.append(make_gap(f"{batch_id}:{node}"[:80], node, GAP_QUOTA, count, [[low, high]], sent_ms, sent_ms))
    return out


class GapStore:
    """Gap reports in the relational database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def record(self, site: str, gateway: str, gaps: Sequence[Mapping[str, Any]], received_ms: int) -> int:
        """Keep each report of (site, gateway) once; how many were new."""
        if not gaps:
            return 0
        wanted = {g["id"]: g for g in gaps}

        def insert(session: Session) -> int:
            have = set(session.scalars(select(GapRow.report_id).where(
                GapRow.site == site, GapRow.gateway == gateway, GapRow.report_id.in_(wanted))))
            new = [g for gid, g in wanted.items() if gid not in have]
            session.add_all(GapRow(site=site, gateway=gateway, report_id=g["id"], node=g["node"], reason=g["reason"],
                                   count=g["count"], seqs=g["seqs"], first_ms=g["first_ms"], last_ms=g["last_ms"],
                                   received_ms=received_ms) for g in new)
            return len(new)

        try:
            return await self._db.run(insert)
        except IntegrityError:
            # Another worker stored one of them first (the same batch redelivered to it).
            return await self._db.run(insert)

    async def for_node(self, node: str, start_ms: int, end_ms: int) -> list[GapRow]:
        """The node's reports whose readings fall in [start_ms, end_ms), newest first."""

        def query(session: Session) -> list[GapRow]:
            rows = session.scalars(select(GapRow).where(GapRow.node == node, GapRow.last_ms >= start_ms,
                                                        GapRow.first_ms < end_ms)
                                   .order_by(GapRow.last_ms.desc()).limit(REPORTS_MAX))
            return list(rows)

        return await self._db.run(query)

    async def totals(self, since_ms: int) -> dict[tuple[str | None, str], int]:
        """Readings reported missing since `since_ms` (by when they were received), per (node, reason)."""

        def query(session: Session) -> dict[tuple[str | None, str], int]:
            rows = session.execute(select(GapRow.node, GapRow.reason, func.sum(GapRow.count))
                                   .where(GapRow.received_ms >= since_ms).group_by(GapRow.node, GapRow.reason))
            return {(node, reason): int(total) for node, reason, total in rows}

        return await self._db.run(query)
