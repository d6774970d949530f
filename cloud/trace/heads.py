"""The signed chain heads kept away from the database (`furrow trace export-heads`, `verify --heads`).

The database alone cannot show that a whole chain was deleted together with its signed heads: nothing is
left that names it. A copy of the newest signed head of every chain, kept somewhere else (another machine,
the printed binder, the auditor's mail), can: `check` finds each exported head's chain and requires it to
still reach that head (the record it names, with the same hash) and the head's signature to hold.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..db import TraceCheckpointRow
from . import records
from .chain import ChainReport, Problem, verify_chain

FORMAT = "furrow-trace-heads/1"
HEAD_KEYS = ("field", "season", "seq", "head", "signed_ms", "kid", "sig")


class HeadsError(ValueError):
    """An exported heads file that is not one; the message names what is wrong."""


def export(session: Session, now_ms: int) -> dict[str, Any]:
    """The newest signed head of every chain, as the JSON document `export-heads` writes."""
    newest = (select(TraceCheckpointRow.field_id, TraceCheckpointRow.season, func.max(TraceCheckpointRow.seq))
              .group_by(TraceCheckpointRow.field_id, TraceCheckpointRow.season))
    heads = []
    for field_id, season, seq in session.execute(newest).all():
        row = session.scalars(select(TraceCheckpointRow).where(
            TraceCheckpointRow.field_id == field_id, TraceCheckpointRow.season == season,
            TraceCheckpointRow.seq == seq).order_by(TraceCheckpointRow.id.desc()).limit(1)).one()
        cp = records.as_checkpoint(row)
        heads.append({k: cp[k] for k in HEAD_KEYS})
    heads.sort(key=lambda h: (h["field"], h["season"]))
    return {"format": FORMAT, "exported_ms": now_ms, "heads": heads}


def parse(data: Any, name: str) -> list[dict[str, Any]]:
    """The heads of an exported document; HeadsError naming the first thing wrong."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise HeadsError(f"{name}: not an exported heads file (format {FORMAT!r} expected)")
    heads = data.get("heads")
    if not isinstance(heads, list):
        raise HeadsError(f"{name}: heads: a list expected")
    for i, h in enumerate(heads):
        missing = [k for k in HEAD_KEYS if not isinstance(h, dict) or k not in h]
        if missing:
            raise HeadsError(f"{name}: heads[{i}]: lacks {', '.join(missing)}")
    return heads


def check(session: Session, heads: list[Mapping[str, Any]],
          public_keys: Mapping[str, Ed25519PublicKey] | None) -> list[ChainReport]:
    """One report per exported head: bad when its chain is gone, shorter than the head, rewritten up to it,
    or the head's signature does not hold."""
    reports = []
    for h in heads:
        f, s = h["field"], h["season"]
        rows = [records.as_record(r) for r in records.chain(session, f, s)]
        if not rows:
            report = ChainReport(f, s)
            report.problem = Problem(f, s, "exported head", h["seq"], None,
                                     f"the exported heads say this chain reached record {h['seq']} (signed at "
                                     f"{h['signed_ms']} ms), but the database has no record of it: the chain was "
                                     "deleted")
            reports.append(report)
            continue
        report = verify_chain(f, s, rows, [{**h, "id": None}], public_keys)
        if report.problem is not None and report.problem.what == "checkpoint":
            p = report.problem
            report.problem = Problem(f, s, "exported head", p.seq, None, p.reason)
        reports.append(report)
    return reports
