"""Sending commands to their gateways: sign, publish, mark sent; hold those not due yet.

A command is signed at each send, bound to the gateway it goes through (the
id stays the same, so a re-send is still the one command, and the controller
runs it once). A publish that fails leaves the command "created": it goes on
reconnect (`dispatch_pending`). With `send_ahead_s` set, a command whose
not-before is further away than that waits here, and in its gateway's plan
(plans.py), until it is that close.

A sent command that is cancelled is followed by the contract's cancel
(edge/cancel.py: the same id, signed like a command), which the controller
answers "cancelled"; until it does the command is "cancelling", and its cancel
goes again on reconnect (`resend_cancels`) while the command could still run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from furrow.edge.cancel import cancel_expires_ms, make_cancel

from .._time import Clock
from ..db import CommandRow, Database
from . import records
from .lifecycle import AckOutcome, CommandState
from .signing import CommandSigner

log = logging.getLogger(__name__)


class CommandPublisher(Protocol):
    """Where commands leave the cloud: the MQTT worker, or an in-process gateway (hil/runtime.py)."""

    async def publish_command(self, site: str, gateway: str, command: dict) -> None: ...


Announce = Callable[[str, str, str | None, str | None], None]
"""(command id, state, node, zone): a state change for the live views."""


class CommandSender:
    """Signs and publishes commands, and records that they were sent."""

    def __init__(self, db: Database, clock: Clock, announce: Announce, signer: CommandSigner | None = None,
                 publisher: CommandPublisher | None = None, send_ahead_s: float | None = None) -> None:
        self._db = db
        self._clock = clock
        self._announce = announce
        # Signs each command as it leaves (contract 1.1); None sends them unsigned.
        self.signer = signer
        self.publisher = publisher
        # None: a command is sent when created. Else one whose not-before is further away
        # than this waits (and goes in its gateway's plan) until it is that close.
        self.send_ahead_s = send_ahead_s
        # ids being published right now: a cancel that lands meanwhile cannot stop the
        # publish, so the canceller must act as if the command was sent (service.cancel)
        self.sending: set[str] = set()

    def held(self, not_before_ms: int, now_ms: int) -> bool:
        """True if a command of this not-before is not sent yet at `now_ms` (send_ahead_s)."""
        return self.send_ahead_s is not None and not_before_ms > now_ms + self.send_ahead_s * 1000

    async def publish(self, command_id: str, site: str, gateway: str, cmd: dict) -> bool:
        """Sign `cmd` for its gateway and publish it; False if it could not go now."""
        if self.publisher is None:
            return False
        if self.signer is not None:
            cmd = self.signer.sign(cmd, site, gateway, self._clock())
        self.sending.add(command_id)
        try:
            await self.publisher.publish_command(site, gateway, cmd)
        except Exception as e:  # noqa: BLE001 - broker down, not connected: it goes on reconnect
            log.warning("command %s (%s) not sent yet (%s); it will be sent on reconnect", command_id,
                        cmd["action"], e)
            return False
        finally:
            self.sending.discard(command_id)
        return True

    async def send(self, command_id: str, site: str, gateway: str, cmd: dict) -> bool:
        """Publish one command to its gateway and mark it sent; False if it could not go."""
        if not await self.publish(command_id, site, gateway, cmd):
            return False
        await self.mark_sent(command_id)
        return True

    async def mark_sent(self, command_id: str, now_ms: int | None = None) -> None:
        now = self._clock() if now_ms is None else now_ms

        def mark(session: Session) -> tuple[str, str | None] | None:
            row = session.get(CommandRow, command_id)
            if row is not None and records.advance(session, row, CommandState.SENT, now, None,
                                                   now) is AckOutcome.APPLIED:
                return row.node, row.zone
            return None

        try:
            moved = await self._db.run(mark)
        except IntegrityError:
            moved = None  # sent twice at once: already recorded
        if moved is not None:
            self._announce(command_id, CommandState.SENT, *moved)

    async def cancel(self, row: CommandRow, now_ms: int) -> bool:
        """Publish the cancel of `row` (a sent open command) to its gateway; False if it could not
        go now."""
        return await self.publish(row.id, row.site, row.gateway, make_cancel(records.wire_command(row), now_ms))

    async def resend_cancels(self, now_ms: int | None = None) -> int:
        """Send again the cancel of every command still "cancelling" that could still be held or
        run (on reconnect: one may have been lost with the link); how many went."""
        now = self._clock() if now_ms is None else now_ms

        def waiting(session: Session) -> list[CommandRow]:
            q = select(CommandRow).where(CommandRow.state == CommandState.CANCELLING)
            return [r for r in session.scalars(q) if now < cancel_expires_ms(records.wire_command(r))]

        sent = 0
        for row in await self._db.run(waiting):
            sent += await self.cancel(row, now)
        return sent

    async def dispatch_pending(self, now_ms: int | None = None) -> int:
        """Send every command still "created" and not expired (and not held, see
        send_ahead_s); return how many went. A command sent twice is harmless: the
        controller knows it by its id."""
        now = self._clock() if now_ms is None else now_ms
        horizon = None if self.send_ahead_s is None else now + int(self.send_ahead_s * 1000)

        def pending(session: Session) -> list[CommandRow]:
            q = select(CommandRow).where(
                CommandRow.state == CommandState.CREATED, CommandRow.expires_ms > now
            ).order_by(CommandRow.created_ms)
            if horizon is not None:
                q = q.where(CommandRow.not_before_ms <= horizon)
            return list(session.scalars(q))

        def still_created(session: Session, command_id: str) -> bool:
            row = session.get(CommandRow, command_id)
            return row is not None and row.state == CommandState.CREATED

        sent = 0
        for row in await self._db.run(pending):
            # each publish may wait on the broker: one cancelled meanwhile is not sent
            if await self._db.run(lambda session, cid=row.id: still_created(session, cid)):
                sent += await self.send(row.id, row.site, row.gateway, records.wire_command(row))
        return sent
