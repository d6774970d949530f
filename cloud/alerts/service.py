"""Runs the alert rules on a farm snapshot, keeps the alerts table, and says what changed.

One evaluation, in one transaction: the unresolved rows become the `previous` alerts of
agronomy.alerts.evaluate_alerts; an alert with no row is raised (inserted); one whose
severity rose is escalated (its acknowledgement cleared); one still true is refreshed
(last_ms, message, evidence, severity); a row whose rule no longer fires is resolved. The
changes are handed to the deliveries after the commit.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .._time import Clock, now_ms
from ..agronomy.alerts import Alert, AlertKind, Severity, evaluate_alerts
from ..db import AlertRow, Database
from ..errors import Conflict, NotFound
from .delivery import Deliveries, Notice
from .models import AlertOut, AlertState, EvaluationOut, SeverityName
from .snapshot import Snapshot

log = logging.getLogger(__name__)
SUBJECT_LEN = 80  # AlertRow.subject's column: rows are stored and matched on this much of the subject
_LOCK_ID = 0x46_55_52_41  # "FURA": the advisory lock that serialises evaluations on PostgreSQL


class AlertNotFound(NotFound):
    """No alert with this id (HTTP 404)."""


class AlreadyAcknowledged(Conflict):
    """The alert was acknowledged before (HTTP 409)."""


def _previous(row: AlertRow) -> Alert:
    return Alert(kind=AlertKind(row.kind), subject=row.subject, severity=Severity(row.severity), message=row.message,
                 since=datetime.fromtimestamp(row.first_ms / 1000, UTC), evidence=row.evidence, new=False,
                 acknowledged_by=row.acknowledged_by)


def _json_safe(evidence: dict[str, object]) -> dict[str, object]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in evidence.items()}


def _keyed(row: AlertRow, alert: Alert) -> None:
    """The message's catalogue key and values, for the dashboard's languages."""
    if alert.i18n is not None:
        record = alert.i18n.record()
        row.message_key, row.message_params = str(record["key"]), record["params"]


def _reconcile(session: Session, snap: Snapshot, now_ms: int) -> list[Notice]:
    if session.get_bind().dialect.name == "postgresql":
        # Instances take turns (the lock ends with the transaction), so each change is seen,
        # stored and delivered once however many instances evaluate.
        session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _LOCK_ID})
    rows = {(r.kind, r.subject): r for r in session.scalars(select(AlertRow).where(AlertRow.resolved_ms.is_(None)))}
    current = evaluate_alerts(snap.state, [_previous(r) for r in rows.values()])
    changes: list[tuple[str, AlertRow]] = []
    for alert in current:
        # Matched on what is stored: a longer subject would never find its row and flap.
        key = (str(alert.kind), alert.subject[:SUBJECT_LEN])
        row = rows.pop(key, None)
        if row is None:
            site, zone = snap.places.of(alert.kind, alert.subject)
            row = AlertRow(kind=key[0], subject=key[1], site=site, zone=zone, first_ms=now_ms,
                           severity=int(alert.severity), message=alert.message[:400],
                           evidence=_json_safe(alert.evidence), last_ms=now_ms)
            _keyed(row, alert)
            session.add(row)
            changes.append(("raised", row))
            continue
        escalated = alert.new and alert.severity > row.severity
        row.severity, row.message, row.evidence = int(alert.severity), alert.message[:400], _json_safe(alert.evidence)
        _keyed(row, alert)
        row.last_ms = now_ms
        if escalated:
            # A person acknowledged a lesser alert: this one needs looking at again.
            row.acknowledged_by = row.acknowledged_ms = row.ack_note = None
            changes.append(("escalated", row))
    for row in rows.values():
        row.resolved_ms = row.last_ms = now_ms
        changes.append(("resolved", row))
    session.flush()
    return [Notice(event, AlertOut.model_validate(row, from_attributes=True)) for event, row in changes]


class AlertService:
    """evaluate() now; the alerts, filtered; acknowledge(id) by a person."""

    def __init__(self, db: Database, snapshot: Callable[[int], Awaitable[Snapshot]], deliveries: Deliveries,
                 clock: Clock = now_ms) -> None:
        self._db = db
        self._snapshot = snapshot
        self.deliveries = deliveries
        self._clock = clock
        # The periodic job and POST /alerts/evaluate take turns: one evaluation at a time here.
        self._lock = asyncio.Lock()

    async def evaluate(self) -> EvaluationOut:
        """Evaluate every rule now, store the changes, deliver them; the counts of each change."""
        async with self._lock:
            now_ms = self._clock()
            snap = await self._snapshot(now_ms)
            try:
                notices = await self._db.run(lambda s: _reconcile(s, snap, now_ms))
            except IntegrityError:
                # Another instance raised one of these alerts meanwhile: its row is there now.
                notices = await self._db.run(lambda s: _reconcile(s, snap, now_ms))
        for notice in notices:
            self.deliveries.notify(notice)
        counts = {e: sum(1 for n in notices if n.event == e) for e in ("raised", "escalated", "resolved")}
        if notices:
            log.info("alerts: %(raised)d raised, %(escalated)d escalated, %(resolved)d resolved", counts)
        return EvaluationOut(**counts, open=await self.count_unresolved())

    async def count_unresolved(self) -> int:
        def count(session: Session) -> int:
            return len(session.scalars(select(AlertRow.id).where(AlertRow.resolved_ms.is_(None))).all())

        return await self._db.run(count)

    async def list(self, state: AlertState = AlertState.OPEN, severity: SeverityName | None = None,
                   zone: str | None = None, limit: int = 100) -> list[AlertOut]:
        """Alerts newest first (by when raised); `severity` means at least that severity."""

        def list_(session: Session) -> list[AlertOut]:
            q = select(AlertRow)
            if state is AlertState.OPEN:
                q = q.where(AlertRow.resolved_ms.is_(None), AlertRow.acknowledged_ms.is_(None))
            elif state is AlertState.ACKNOWLEDGED:
                q = q.where(AlertRow.resolved_ms.is_(None), AlertRow.acknowledged_ms.is_not(None))
            elif state is AlertState.RESOLVED:
                q = q.where(AlertRow.resolved_ms.is_not(None))
            if severity is not None:
                q = q.where(AlertRow.severity >= int(severity.level))
            if zone is not None:
                q = q.where(AlertRow.zone == zone)
            q = q.order_by(AlertRow.first_ms.desc(), AlertRow.id.desc()).limit(limit)
            return [AlertOut.model_validate(r, from_attributes=True) for r in session.scalars(q)]

        return await self._db.run(list_)

    async def acknowledge(self, alert_id: int, by: str, note: str | None = None) -> AlertOut:
        """Record that `by` has seen the alert. AlertNotFound (404); AlreadyAcknowledged (409)."""
        now_ms = self._clock()

        def ack(session: Session) -> AlertOut:
            row = session.get(AlertRow, alert_id, with_for_update=True)
            if row is None:
                raise AlertNotFound("alert_id", alert_id, "no alert with this id")
            if row.acknowledged_ms is not None:
                when = datetime.fromtimestamp(row.acknowledged_ms / 1000, UTC).isoformat(timespec="seconds")
                raise AlreadyAcknowledged("alert_id", alert_id, f"already acknowledged by {row.acknowledged_by} "
                                          f"at {when}")
            row.acknowledged_by, row.acknowledged_ms, row.ack_note = by[:80], now_ms, note
            session.flush()
            return AlertOut.model_validate(row, from_attributes=True)

        out = await self._db.run(ack)
        self.deliveries.notify(Notice("acknowledged", out))
        return out
