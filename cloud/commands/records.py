"""Commands as rows: the SQL side of the lifecycle, as plain functions on a Session.

Each runs inside ``Database.run`` (a worker thread). The rules for which
state may follow which are lifecycle.py's; here they are applied to rows and
every step is kept in the command's history (``command_events``).
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from furrow.edge import commands as contract

from ..db import CommandEvent, CommandRow
from .lifecycle import AckOutcome, CommandState, moves_forward
from .models import CommandEventOut, CommandOut


def wire_command(row: CommandRow | CommandOut) -> dict:
    """The contract form of a stored command, as the gateway receives it (unsigned)."""
    inject = None
    if row.action == contract.ACTION_FERTIGATE:
        inject = (row.inject_ml, row.inject_from_s, row.inject_until_s)
    return contract.make_command(row.id, row.node, row.valve, row.action, row.duration_s, row.max_runtime_s,
                                 row.not_before_ms, row.expires_ms, inject)


def events_of(session: Session, command_id: str) -> list[CommandEvent]:
    q = select(CommandEvent).where(CommandEvent.command_id == command_id).order_by(CommandEvent.id)
    return list(session.scalars(q))


def to_out(session: Session, row: CommandRow) -> CommandOut:
    """The command as the API shows it, with its history."""
    out = CommandOut.model_validate(row)
    out.events = [CommandEventOut.model_validate(e) for e in events_of(session, row.id)]
    return out


def insert(session: Session, row: CommandRow) -> None:
    """A new command and the first step of its history."""
    session.add(row)
    session.flush()  # the command row first: events refer to it
    session.add(CommandEvent(command_id=row.id, state=CommandState.CREATED, ts_ms=row.created_ms))


def advance(session: Session, row: CommandRow, state: str, ts_ms: int, reason: str | None,
            now_ms: int) -> AckOutcome:
    """Record `state` in the history and move the command forward if it is newer."""
    seen = session.scalar(select(CommandEvent.id).where(CommandEvent.command_id == row.id,
                                                        CommandEvent.state == state))
    if seen is not None:
        return AckOutcome.DUPLICATE
    session.add(CommandEvent(command_id=row.id, state=state, ts_ms=ts_ms, reason=reason))
    if not moves_forward(row.state, state):
        return AckOutcome.LATE
    row.state = state
    row.updated_ms = now_ms
    return AckOutcome.APPLIED


def by_key(session: Session, key: str) -> CommandOut | None:
    row = session.scalar(select(CommandRow).where(CommandRow.idempotency_key == key))
    return to_out(session, row) if row is not None else None


def by_id(session: Session, command_id: str) -> CommandOut | None:
    row = session.get(CommandRow, command_id)
    return to_out(session, row) if row is not None else None


def recent(session: Session, node: str | None, limit: int) -> list[CommandOut]:
    """Newest first, with their histories."""
    q = select(CommandRow).order_by(CommandRow.created_ms.desc(), CommandRow.id).limit(limit)
    if node is not None:
        q = q.where(CommandRow.node == node)
    return [to_out(session, row) for row in session.scalars(q)]


def in_states(session: Session, states: frozenset[CommandState]) -> list[CommandOut]:
    """Every command in one of `states`, oldest first (without histories)."""
    q = select(CommandRow).where(CommandRow.state.in_([str(s) for s in states])).order_by(CommandRow.created_ms)
    return [CommandOut.model_validate(row) for row in session.scalars(q)]


def counts(session: Session, nodes: Collection[str] | None = None) -> dict[str, int]:
    """Number of commands in each state (for `nodes` only, when given)."""
    q = select(CommandRow.state, func.count()).group_by(CommandRow.state)
    if nodes is not None:
        q = q.where(CommandRow.node.in_(list(nodes)))
    return {state: n for state, n in session.execute(q)}
