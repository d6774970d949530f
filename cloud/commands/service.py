"""The command lifecycle: create and route, cancel, expire, apply acknowledgements.

`CommandService` is what the API, the planner and the MQTT worker call. Each
job lives in its own module: amounts.py turns a request into a valve and
seconds, dispatch.py signs, publishes and marks sent, refusals.py tells which
rejections are about a copy rather than the command, records.py is the SQL
side, lifecycle.py the rules. The service reads time only from the clock it is
given (cloud/_time.py); a caller that already took its instant (a planning
pass) may pass it as `now_ms`, so everything it does is stamped alike.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from furrow.edge import commands as contract
from furrow.edge.cancel import cancel_expires_ms
from furrow.edge.errors import ContractError

from .._time import Clock, now_ms
from ..agronomy.planner import PlannedRun
from ..db import CommandRow, Database
from ..events import EventBus
from ..node_routes import NodeRoutes
from . import amounts, records
from .dispatch import CommandSender
from .errors import AckFromOtherGateway, CommandNotFound, NotCancellable, UnroutableNode
from .lifecycle import CANCELLABLE, FINAL_STATES, NOT_STARTED, AckOutcome, CommandState
from .models import CommandOut
from .refusals import refuses_a_copy_only
from .signing import CommandSigner

log = logging.getLogger(__name__)


class PlanSink(Protocol):
    """Republishes the plans of the gateways of some nodes (plans.PlanPublisher)."""

    async def publish_for_nodes(self, nodes: list[str], now_ms: int | None = None) -> int: ...
    async def publish_all(self, now_ms: int | None = None) -> int: ...


def new_command_id() -> str:
    # 26 characters (96 random bits): short enough for the Modbus command
    # mailbox, which carries at most 32 (edge.modbus_map.CMD_ID_MAX).
    return "c-" + uuid.uuid4().hex[:24]


def _ms(t: datetime) -> int:
    return round(t.timestamp() * 1000)


class CommandService:
    """Creates commands, routes them to a gateway, sends them, cancels and expires them,
    and applies acks."""

    def __init__(self, db: Database, routes: NodeRoutes, *, default_max_runtime_s: int, default_ttl_s: int,
                 zones: amounts.ZoneLookup | None = None, signer: CommandSigner | None = None,
                 clock: Clock = now_ms) -> None:
        self._db = db
        self._routes = routes
        self.clock = clock
        self.zones = zones
        self.default_max_runtime_s = default_max_runtime_s
        self.default_ttl_s = default_ttl_s
        self.sender = CommandSender(db, clock, self._announce, signer)
        self.ack_outcomes: Counter[str] = Counter()
        self.events: EventBus | None = None  # live views hear of every state change
        # Gateways' plans for a WAN outage (plans.py); None: no plans published.
        self.plans: PlanSink | None = None
        # Told of each command its controller ended (fertility records a fertigation's application).
        self.on_end: list[Callable[[CommandOut], Awaitable[None]]] = []

    def _now(self, now_ms: int | None) -> int:
        return self.clock() if now_ms is None else now_ms

    async def _replan(self, node: str, not_before_ms: int, now_ms: int) -> None:
        """A command to come changed: its gateway's plan goes out again."""
        if self.plans is not None and not_before_ms > now_ms:
            await self.plans.publish_for_nodes([node], now_ms)

    async def _by_key(self, key: str | None) -> CommandOut | None:
        return await self._db.run(lambda s: records.by_key(s, key)) if key is not None else None

    def _announce(self, command_id: str, state: str, node: str | None = None, zone: str | None = None) -> None:
        if self.events is not None:
            self.events.publish("command", {"id": command_id, "state": str(state), "node": node, "zone": zone})

    # --- create and route ---------------------------------------------------------------

    async def create(
        self,
        *,
        node: str | None = None,
        valve: int | None = None,
        zone: str | None = None,
        action: str = contract.ACTION_OPEN,
        duration_s: int | None = None,
        amount_mm: float | None = None,
        amount_min: float | None = None,
        not_before_ms: int | None = None,
        ttl_s: int | None = None,
        max_runtime_s: int | None = None,
        origin: str = "unknown",
        request_reason: str | None = None,
        idempotency_key: str | None = None,
        now_ms: int | None = None,
        replan: bool = True,
        inject: tuple[int, int, int] | None = None,
    ) -> tuple[CommandOut, bool]:
        """Create a command, route it and try to send it; (command, created).

        A "fertigate" (contract 1.5) also takes `inject`: (inject_ml, inject_from_s,
        inject_until_s), the stock solution and its window within the run
        (cloud/fertility/fertigation.py makes them from a product and a dose).

        Target: node and valve, or a zone with one valve in the registry.
        Amount: duration_s, amount_min, or amount_mm (converted with the
        zone's emitter precipitation rate). With an idempotency key already
        used, the existing command is returned and nothing new is created or
        sent (created is False). Raises ContractError naming the field for an
        invalid command and UnroutableNode when no gateway has forwarded the
        node's readings. When it cannot be sent now it stays "created" and is
        sent on reconnect; so does one held by `send_ahead_s` until it is due.
        A command to come also goes out in its gateway's plan (plans.py), unless
        `replan` is False (a planning pass publishes each plan once, at its end).
        """
        if (existing := await self._by_key(idempotency_key)) is not None:
            return existing, False
        node, valve, zone = await amounts.resolve_target(self.zones, node, valve, zone)
        seconds = await amounts.duration_s(self.zones, zone, duration_s, amount_mm, amount_min)
        return await self._insert_and_send(
            node, valve, zone, action, seconds, not_before_ms, ttl_s, max_runtime_s, amount_mm=amount_mm,
            amount_min=amount_min, origin=origin, request_reason=request_reason, idempotency_key=idempotency_key,
            now_ms=now_ms, replan=replan, inject=inject)

    async def create_run(self, run: PlannedRun, *, zone: str | None, origin: str, request_reason: str | None,
                         idempotency_key: str | None, now_ms: int | None = None,
                         replan: bool = True) -> tuple[CommandOut, bool]:
        """Create the command for a planner's (or a schedule's) run: its valve opened for its
        duration within [not_before, expires], cut off at its max runtime. As `create`; the
        command records the run's length in minutes as its requested amount."""
        if (existing := await self._by_key(idempotency_key)) is not None:
            return existing, False
        node, valve, zone = await amounts.resolve_target(self.zones, run.node, run.valve, zone)
        seconds = round(run.duration.total_seconds())
        return await self._insert_and_send(
            node, valve, zone, contract.ACTION_OPEN, seconds, _ms(run.not_before),
            round((run.expires - run.not_before).total_seconds()), round(run.max_runtime.total_seconds()),
            amount_mm=None, amount_min=seconds / 60, origin=origin, request_reason=request_reason,
            idempotency_key=idempotency_key, now_ms=now_ms, replan=replan)

    async def _insert_and_send(self, node: str, valve: int, zone: str | None, action: str, seconds: int | None,
                               not_before_ms: int | None, ttl_s: int | None, max_runtime_s: int | None, *,
                               amount_mm: float | None, amount_min: float | None, origin: str,
                               request_reason: str | None, idempotency_key: str | None, now_ms: int | None,
                               replan: bool, inject: tuple[int, int, int] | None = None
                               ) -> tuple[CommandOut, bool]:
        now = self._now(now_ms)
        not_before = now if not_before_ms is None else not_before_ms
        ttl = self.default_ttl_s if ttl_s is None else ttl_s
        if ttl <= 0:
            raise ContractError("ttl_s", ttl_s, "must be a positive number of seconds")
        max_runtime = self.default_max_runtime_s if max_runtime_s is None else max_runtime_s
        cmd = contract.make_command(new_command_id(), node, valve, action, seconds, max_runtime, not_before,
                                    not_before + ttl * 1000, inject)
        route = await self._routes.get(node)
        if route is None:
            raise UnroutableNode(node)
        row = CommandRow(
            id=cmd["id"], node=node, site=route.site, gateway=route.gateway, valve=cmd["valve"],
            action=cmd["action"], duration_s=cmd["duration_s"], max_runtime_s=cmd["max_runtime_s"],
            not_before_ms=cmd["not_before_ms"], expires_ms=cmd["expires_ms"], state=CommandState.CREATED,
            created_ms=now, updated_ms=now, zone=zone, amount_mm=amount_mm, amount_min=amount_min,
            origin=origin[:80], request_reason=request_reason, idempotency_key=idempotency_key,
            inject_ml=cmd.get("inject_ml"), inject_from_s=cmd.get("inject_from_s"),
            inject_until_s=cmd.get("inject_until_s"))
        try:
            await self._db.run(lambda s: records.insert(s, row))
        except IntegrityError:
            # the same key created at this moment by another request or instance
            if (existing := await self._by_key(idempotency_key)) is None:
                raise
            return existing, False
        self._announce(cmd["id"], CommandState.CREATED, node, zone)
        if not self.sender.held(not_before, now):
            await self.sender.send(cmd["id"], route.site, route.gateway, cmd)
        if replan:
            await self._replan(node, not_before, now)
        return await self.get(cmd["id"]), True

    # --- cancel and expire ----------------------------------------------------------------

    async def cancel(self, command_id: str, by: str, reason: str | None = None,
                     now_ms: int | None = None) -> CommandOut:
        """Cancel a command not yet final.

        One that never left the cloud is "cancelled" at once. An open command that was sent (or
        is being published right now) becomes "cancelling" and its controller is sent the
        contract's cancel (edge/cancel.py): it drops the command if it holds it, closes its valve
        if it runs it, and answers "cancelled", which ends the command (or the run's own end, if
        that came first). Raises CommandNotFound, or NotCancellable when it is already final or
        being cancelled.
        """
        now = self._now(now_ms)
        why = (f"cancelled by {by}" + (f": {reason}" if reason else ""))[:200]
        in_flight = command_id in self.sender.sending  # being published: it may still arrive

        def cancel(session: Session) -> tuple[CommandRow, CommandState] | None:
            row = session.get(CommandRow, command_id)
            if row is None:
                return None
            state = CommandState(row.state)
            if state not in CANCELLABLE:
                raise NotCancellable(command_id, row.state)
            reached = (state is not CommandState.CREATED or in_flight) and row.action in contract.RUNS
            # a command past its expiry plus max runtime can no longer be held or running
            told = reached and now < cancel_expires_ms(records.wire_command(row))
            new = CommandState.CANCELLING if told else CommandState.CANCELLED
            records.advance(session, row, new, now, why, now)
            row.reason = why
            return row, new

        try:
            found = await self._db.run(cancel)
        except IntegrityError:
            found = None
        if found is None:
            raise CommandNotFound(command_id)
        row, state = found
        self._announce(command_id, state, row.node, row.zone)
        if state is CommandState.CANCELLING and not await self.sender.cancel(row, now):
            log.warning("the cancel of command %s could not go now; it goes again on reconnect", command_id)
        await self._replan(row.node, row.not_before_ms, now)  # it leaves its gateway's plan
        return await self.get(command_id)

    async def expire_due(self, now_ms: int | None = None) -> int:
        """Mark "expired" every command whose expiry passed before it started, and "cancelled" every
        "cancelling" one its controller never answered that can no longer be held or running (its
        expiry plus its max runtime passed: the controller enforces both); how many."""
        now = self._now(now_ms)
        ended: list[tuple[str, CommandState, str, str | None]] = []

        def end(session: Session, row: CommandRow, state: CommandState, why: str) -> None:
            if records.advance(session, row, state, now, why, now) is AckOutcome.APPLIED:
                row.reason = why
                ended.append((row.id, state, row.node, row.zone))

        def expire(session: Session) -> int:
            q = select(CommandRow).where(
                CommandRow.state.in_([str(s) for s in NOT_STARTED]), CommandRow.expires_ms <= now)
            for row in session.scalars(q):
                end(session, row, CommandState.EXPIRED, "expired before it started")
            q = select(CommandRow).where(CommandRow.state == CommandState.CANCELLING, CommandRow.expires_ms <= now)
            for row in session.scalars(q):
                if now >= cancel_expires_ms(records.wire_command(row)):
                    end(session, row, CommandState.CANCELLED, "cancel not answered by the controller; the command "
                        "can no longer run (its expiry and max runtime passed)")
            return len(ended)

        try:
            n = await self._db.run(expire)
        except IntegrityError:
            return 0  # another instance ended them at the same moment
        for command_id, state, node, zone in ended:
            self._announce(command_id, state, node, zone)
        return n

    # --- acknowledgements -------------------------------------------------------------------

    async def apply_ack(self, ack: dict | bytes, now_ms: int | None = None, *,
                        gateway: tuple[str, str] | None = None) -> AckOutcome:
        """Apply one acknowledgement (validated here; ContractError if it breaks the contract).

        An ack for an unknown id is counted and ignored; a late or out-of-order
        ack is kept in the history but never moves a final state; the same
        ack twice changes nothing. A gateway's refusal of a copy (a replay, a
        forgery: refusals.py) changes nothing either. With `gateway` (site,
        gateway) set, an ack for a command routed through another gateway
        changes nothing and raises AckFromOtherGateway.
        """
        ack = contract.decode_ack(ack) if isinstance(ack, bytes) else contract.validate_ack(ack)
        now = self._now(now_ms)
        signer = self.sender.signer
        copy_refused = refuses_a_copy_only(ack, signer.kid if signer is not None else None)
        if copy_refused is not None:
            # About a copy, not the command, which goes on: counted with the replays.
            self.ack_outcomes[AckOutcome.REPLAY_REFUSED] += 1
            log.warning("gateway refused a copy of command %s to %s (%s; a replay, a forgery, or a key the "
                        "gateway does not trust); the command is left as it is: %s", ack["id"], ack["node"],
                        copy_refused, ack["reason"])
            return AckOutcome.REPLAY_REFUSED
        moved: list[tuple[str, str, str | None]] = []
        ended: list[str] = []

        def apply(session: Session) -> AckOutcome:
            row = session.get(CommandRow, ack["id"])
            if row is None:
                return AckOutcome.UNKNOWN_COMMAND
            if gateway is not None and (row.site, row.gateway) != gateway:
                raise AckFromOtherGateway(row.id, *gateway)
            if row.node != ack["node"]:
                return AckOutcome.WRONG_NODE
            outcome = records.advance(session, row, ack["state"], ack["ts_ms"], ack["reason"], now)
            if outcome is AckOutcome.APPLIED:
                if ack["reason"] is not None:
                    row.reason = ack["reason"]
                if CommandState(row.state) in FINAL_STATES:
                    row.runtime_s = ack["runtime_s"]
                    row.volume_l = ack["volume_l"]
                    row.injected_ml = ack.get("injected_ml")
                    ended.append(row.id)
                moved.append((row.state, row.node, row.zone))
            return outcome

        try:
            outcome = await self._db.run(apply)
        except IntegrityError:
            outcome = AckOutcome.DUPLICATE  # the same ack applied at once by another worker
            moved.clear()
            ended.clear()
        for state, node, zone in moved:
            self._announce(ack["id"], state, node, zone)
        for command_id in ended:
            await self._ended(command_id)
        self.ack_outcomes[outcome] += 1
        if outcome in (AckOutcome.UNKNOWN_COMMAND, AckOutcome.WRONG_NODE):
            log.info("ack %s from %s ignored: %s", ack["id"], ack["node"], outcome)
        return outcome

    async def _ended(self, command_id: str) -> None:
        out = await self.get(command_id)
        for listener in self.on_end:
            try:
                await listener(out)
            except Exception:  # one listener's failure never loses the ack (it is stored already)
                log.exception("command %s ended; a listener failed on it", command_id)

    async def flag_injected(self, command_id: str, flag: str) -> None:
        """Mark an ended fertigate's reported volume as suspect, saying why (fertility/fertigation.py)."""
        def mark(session: Session) -> None:
            row = session.get(CommandRow, command_id)
            if row is None:
                raise CommandNotFound(command_id)
            row.injected_flag = flag[:200]

        await self._db.run(mark)

    # --- reading -------------------------------------------------------------------------

    async def get(self, command_id: str) -> CommandOut:
        out = await self._db.run(lambda s: records.by_id(s, command_id))
        if out is None:
            raise CommandNotFound(command_id)
        return out

    async def recent(self, node: str | None = None, limit: int = 100) -> list[CommandOut]:
        """Newest first, with their histories."""
        return await self._db.run(lambda s: records.recent(s, node, limit))

    async def unfinished(self) -> list[CommandOut]:
        """Every command not yet final, oldest first (without histories)."""
        return await self._db.run(lambda s: records.in_states(s, frozenset(CommandState) - FINAL_STATES))

    async def counts(self) -> dict[str, int]:
        """Number of commands in each state."""
        return await self._db.run(records.counts)
