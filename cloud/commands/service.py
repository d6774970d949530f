"""Commands in the relational database: create, route, send, acknowledge.

Every database call runs through ``Database.run`` (a worker thread); the
lifecycle rules themselves are the pure functions of ``lifecycle``.
"""

import logging
import math
import uuid
from collections import Counter
from typing import Protocol

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from furrow.edge import commands as contract
from furrow.edge.errors import ContractError
from furrow.edge.signing import (
    REFUSED_REPLAYED,
    REFUSED_SIGNATURE,
    REFUSED_UNKNOWN_KEY,
    REFUSED_UNSIGNED,
    REFUSED_WRONG_GATEWAY,
    refusal_kind,
)

from .._time import now_ms as _now_ms
from ..db import CommandEvent, CommandRow, Database
from ..errors import Conflict, Forbidden, NotFound
from ..events import EventBus
from ..node_routes import NodeRoutes
from .lifecycle import CANCELLABLE, FINAL_STATES, NOT_STARTED, AckOutcome, CommandState, moves_forward
from .models import CommandEventOut, CommandOut
from .signing import CommandSigner

log = logging.getLogger(__name__)


class UnroutableNode(Conflict):
    """The node has never reported through a gateway, so no gateway can carry its command."""

    def __init__(self, node: str) -> None:
        self.node = node
        super().__init__("node", node, "has never reported through a gateway, so a command cannot be routed "
                         "to it; commands go to the gateway that last forwarded the node's readings")


class CommandNotFound(NotFound):
    def __init__(self, command_id: str) -> None:
        self.command_id = command_id
        super().__init__("command_id", command_id, "no command with this id")


class AckFromOtherGateway(Forbidden):
    """An ack for a command that was routed through another gateway (HTTP 403)."""

    def __init__(self, command_id: str, site: str, gateway: str) -> None:
        self.command_id = command_id
        super().__init__("id", command_id, f"this command was not routed through gateway {site}/{gateway}; "
                         "a gateway may only acknowledge its own commands")


class NotCancellable(Conflict):
    """The command is already final (HTTP 409)."""

    def __init__(self, command_id: str, state: str) -> None:
        super().__init__("command_id", command_id, f"the command is already {state}")


class ZoneLookup(Protocol):
    async def zone_of_valve(self, node: str, channel: int): ...  # noqa: ANN201
    async def valves_of_zone(self, zone: str): ...  # noqa: ANN201
    async def get_zone(self, zone: str): ...  # noqa: ANN201


class CommandPublisher(Protocol):
    async def publish_command(self, site: str, gateway: str, command: dict) -> None: ...


class PlanSink(Protocol):
    """Republishes the plans of the gateways of some nodes (plans.PlanPublisher)."""

    async def publish_for_nodes(self, nodes: list[str], now_ms: int | None = None) -> int: ...
    async def publish_all(self, now_ms: int | None = None) -> int: ...


def new_command_id() -> str:
    # 26 characters (96 random bits): short enough for the Modbus command
    # mailbox, which carries at most 32 (edge.modbus_map.CMD_ID_MAX).
    return "c-" + uuid.uuid4().hex[:24]


def wire_command(row: CommandRow | CommandOut) -> dict:
    """The contract form of a stored command, as the gateway receives it."""
    return contract.make_command(
        row.id,
        row.node,
        row.valve,
        row.action,
        row.duration_s,
        row.max_runtime_s,
        row.not_before_ms,
        row.expires_ms,
    )


def _out(row: CommandRow, events: list[CommandEvent]) -> CommandOut:
    out = CommandOut.model_validate(row)
    out.events = [CommandEventOut.model_validate(e) for e in events]
    return out


def _events(session: Session, command_id: str) -> list[CommandEvent]:
    q = select(CommandEvent).where(CommandEvent.command_id == command_id).order_by(CommandEvent.id)
    return list(session.scalars(q))


def _advance(session: Session, row: CommandRow, state: str, ts_ms: int, reason: str | None,
             now: int) -> AckOutcome:
    """Record `state` in the history and move the command forward if it is newer."""
    seen = session.scalar(
        select(CommandEvent.id).where(
            CommandEvent.command_id == row.id, CommandEvent.state == state
        )
    )
    if seen is not None:
        return AckOutcome.DUPLICATE
    session.add(CommandEvent(command_id=row.id, state=state, ts_ms=ts_ms, reason=reason))
    if not moves_forward(row.state, state):
        return AckOutcome.LATE
    row.state = state
    row.updated_ms = now
    return AckOutcome.APPLIED


# Refusals of a copy that failed authentication at the gateway (gateway/command_auth.py).
_AUTH_REFUSALS = (REFUSED_UNSIGNED, REFUSED_UNKNOWN_KEY, REFUSED_SIGNATURE, REFUSED_WRONG_GATEWAY)


class CommandService:
    """Creates commands, routes them to a gateway, sends them and applies acks."""

    def __init__(
        self,
        db: Database,
        routes: NodeRoutes,
        *,
        default_max_runtime_s: int,
        default_ttl_s: int,
        publisher: CommandPublisher | None = None,
        zones: ZoneLookup | None = None,
        signer: CommandSigner | None = None,
    ) -> None:
        self._db = db
        # Signs each command as it leaves (contract 1.1); None sends them unsigned.
        self.signer = signer
        self.zones = zones
        self._routes = routes
        self.default_max_runtime_s = default_max_runtime_s
        self.default_ttl_s = default_ttl_s
        self.publisher = publisher
        self.ack_outcomes: Counter[str] = Counter()
        self.events: EventBus | None = None  # live views hear of every state change
        # Gateways' plans for a WAN outage (plans.py); None: no plans published.
        self.plans: PlanSink | None = None
        # None: a command is sent when created. Else one whose not-before is further away
        # than this waits here (and in its gateway's plan) until it is that close.
        self.send_ahead_s: float | None = None
        # ids being published right now: a cancel that lands meanwhile cannot stop the publish,
        # so it follows it with a close (see cancel)
        self._sending: set[str] = set()

    def held(self, not_before_ms: int, now_ms: int) -> bool:
        """True if a command of this not-before is not sent yet at `now_ms` (send_ahead_s)."""
        return self.send_ahead_s is not None and not_before_ms > now_ms + self.send_ahead_s * 1000

    async def _replan(self, node: str, not_before_ms: int, now_ms: int) -> None:
        """A command to come changed: its gateway's plan goes out again."""
        if self.plans is not None and not_before_ms > now_ms:
            await self.plans.publish_for_nodes([node], now_ms)

    def _announce(self, command_id: str, state: str, node: str | None = None, zone: str | None = None) -> None:
        if self.events is not None:
            self.events.publish("command", {"id": command_id, "state": str(state), "node": node, "zone": zone})

    async def _resolve_target(self, node: str | None, valve: int | None, zone: str | None):
        """(node, valve, zone or None) from a node+valve or a zone with one valve."""
        if zone is not None:
            if self.zones is None:
                raise ContractError("zone", zone, "the farm registry is not available")
            valves = await self.zones.valves_of_zone(zone)
            if node is not None:
                valves = [v for v in valves if v.node_id == node and (valve is None or v.channel == valve)]
            if len(valves) != 1:
                raise ContractError("zone", zone, f"has {len(valves)} matching valve(s) in the registry; "
                                    "a command needs exactly one: name node and valve")
            return valves[0].node_id, valves[0].channel, zone
        if node is None or valve is None:
            raise ContractError("node", node, "give node and valve, or zone")
        found = await self.zones.zone_of_valve(node, valve) if self.zones is not None else None
        return node, valve, found.id if found is not None else None

    async def _duration(self, zone: str | None, duration_s: int | None, amount_mm: float | None,
                        amount_min: float | None) -> int | None:
        values = {"duration_s": duration_s, "amount_mm": amount_mm, "amount_min": amount_min}
        given = [n for n, v in values.items() if v is not None]
        if len(given) > 1:
            raise ContractError(given[1], values[given[1]], "give only one of duration_s, amount_mm, "
                                f"amount_min (also got {given[0]})")
        if amount_min is not None:
            if not amount_min > 0:
                raise ContractError("amount_min", amount_min, "must be a positive number of minutes")
            return max(1, round(amount_min * 60))
        if amount_mm is not None:
            if not amount_mm > 0:
                raise ContractError("amount_mm", amount_mm, "must be a positive depth in millimetres")
            if zone is None or self.zones is None:
                raise ContractError("amount_mm", amount_mm, "the valve waters no registered zone, so "
                                    "millimetres cannot be converted: give duration_s or amount_min")
            z = await self.zones.get_zone(zone)
            return max(1, math.ceil(amount_mm / z.precip_rate_mm_h * 3600))
        return duration_s

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
    ) -> tuple[CommandOut, bool]:
        """Create a command, route it and try to send it; (command, created).

        Target: node and valve, or a zone with one valve in the registry.
        Amount: duration_s, amount_min, or amount_mm (converted with the
        zone's emitter precipitation rate). With an idempotency key already
        used, the existing command is returned and nothing new is created or
        sent (created is False). Raises ContractError naming the field for an
        invalid command and UnroutableNode when no gateway has forwarded the
        node's readings. When it cannot be sent now it stays "created" and is
        sent on reconnect; so does one held by `send_ahead_s` until it is due.
        A command to come also goes out in its gateway's plan (plans.py).
        """
        if idempotency_key is not None:
            existing = await self._by_key(idempotency_key)
            if existing is not None:
                return existing, False
        now = _now_ms() if now_ms is None else now_ms
        node, valve, zone = await self._resolve_target(node, valve, zone)
        duration_s = await self._duration(zone, duration_s, amount_mm, amount_min)
        not_before = now if not_before_ms is None else not_before_ms
        ttl = self.default_ttl_s if ttl_s is None else ttl_s
        if ttl <= 0:
            raise ContractError("ttl_s", ttl_s, "must be a positive number of seconds")
        max_runtime = self.default_max_runtime_s if max_runtime_s is None else max_runtime_s
        cmd = contract.make_command(
            new_command_id(), node, valve, action, duration_s, max_runtime, not_before,
            not_before + ttl * 1000,
        )
        route = await self._routes.get(node)
        if route is None:
            raise UnroutableNode(node)

        def insert(session: Session) -> None:
            session.add(CommandRow(
                id=cmd["id"], node=node, site=route.site, gateway=route.gateway,
                valve=cmd["valve"], action=cmd["action"], duration_s=cmd["duration_s"],
                max_runtime_s=cmd["max_runtime_s"], not_before_ms=cmd["not_before_ms"],
                expires_ms=cmd["expires_ms"], state=CommandState.CREATED, created_ms=now,
                updated_ms=now, zone=zone, amount_mm=amount_mm, amount_min=amount_min,
                origin=origin[:80], request_reason=request_reason, idempotency_key=idempotency_key,
            ))
            session.flush()  # the command row first: events refer to it
            session.add(CommandEvent(command_id=cmd["id"], state=CommandState.CREATED, ts_ms=now))

        try:
            await self._db.run(insert)
        except IntegrityError:
            # the same key created at this moment by another request or instance
            existing = await self._by_key(idempotency_key) if idempotency_key else None
            if existing is None:
                raise
            return existing, False
        self._announce(cmd["id"], CommandState.CREATED, node, zone)
        if not self.held(not_before, now):
            await self.send(cmd["id"], route.site, route.gateway, cmd)
        await self._replan(node, not_before, now)
        return await self.get(cmd["id"]), True

    async def _by_key(self, key: str) -> CommandOut | None:
        def find(session: Session) -> CommandOut | None:
            row = session.scalar(select(CommandRow).where(CommandRow.idempotency_key == key))
            return _out(row, _events(session, row.id)) if row is not None else None

        return await self._db.run(find)

    async def cancel(self, command_id: str, by: str, reason: str | None = None,
                     now_ms: int | None = None) -> CommandOut:
        """Cancel a command not yet final; a sent one is followed by a close command for its valve.

        Raises CommandNotFound, or NotCancellable when it is already final.
        """
        now = _now_ms() if now_ms is None else now_ms
        why = f"cancelled by {by}" + (f": {reason}" if reason else "")

        def cancel(session: Session) -> tuple[CommandRow, str] | None:
            row = session.get(CommandRow, command_id)
            if row is None:
                return None
            if CommandState(row.state) not in CANCELLABLE:
                raise NotCancellable(command_id, row.state)
            before = row.state
            _advance(session, row, CommandState.CANCELLED, now, why[:200], now)
            row.reason = why[:200]
            return row, before

        try:
            found = await self._db.run(cancel)
        except IntegrityError:
            found = None
        if found is None:
            raise CommandNotFound(command_id)
        row, before = found
        in_flight = command_id in self._sending  # being published as it was cancelled: it may still arrive
        self._announce(command_id, CommandState.CANCELLED, row.node, row.zone)
        if (before != CommandState.CREATED or in_flight) and row.action == contract.ACTION_OPEN:
            # The controller may hold or run it: a close for its valve, a command of its own with
            # its own history, stops a run at once. Its key makes a repeated cancel send one close.
            try:
                await self.create(node=row.node, valve=row.valve, action=contract.ACTION_CLOSE, origin=by,
                                  request_reason=f"closes cancelled command {command_id}",
                                  idempotency_key=f"cancel:{command_id}", now_ms=now)
            except Exception as e:  # noqa: BLE001 - the cancel stands; the controller's limits still hold
                log.warning("close for cancelled command %s not created: %s", command_id, e)
        await self._replan(row.node, row.not_before_ms, now)  # it leaves its gateway's plan
        return await self.get(command_id)

    async def expire_due(self, now_ms: int | None = None) -> int:
        """Mark "expired" every command whose expiry passed before it started; how many."""
        now = _now_ms() if now_ms is None else now_ms

        def expire(session: Session) -> int:
            q = select(CommandRow).where(
                CommandRow.state.in_([str(s) for s in NOT_STARTED]), CommandRow.expires_ms <= now)
            for row in session.scalars(q):
                if _advance(session, row, CommandState.EXPIRED, now, "expired before it started",
                            now) is AckOutcome.APPLIED:
                    row.reason = "expired before it started"
                    expired.append((row.id, row.node, row.zone))
            return len(expired)

        expired: list[tuple[str, str, str | None]] = []
        try:
            n = await self._db.run(expire)
        except IntegrityError:
            return 0  # another instance expired them at the same moment
        for command_id, node, zone in expired:
            self._announce(command_id, CommandState.EXPIRED, node, zone)
        return n

    async def send(self, command_id: str, site: str, gateway: str, cmd: dict) -> bool:
        """Publish one command to its gateway and mark it sent; False if it could not go."""
        if self.publisher is None:
            return False
        if self.signer is not None:
            # Signed at each send, bound to the gateway it goes through; the id
            # stays the same, so a re-send is still the one command.
            cmd = self.signer.sign(cmd, site, gateway, _now_ms())
        self._sending.add(command_id)
        try:
            await self.publisher.publish_command(site, gateway, cmd)
        except Exception as e:  # broker down, not connected: it stays "created"
            log.warning("command %s not sent yet (%s); it will be sent on reconnect", command_id, e)
            return False
        finally:
            self._sending.discard(command_id)
        await self.mark_sent(command_id)
        return True

    async def mark_sent(self, command_id: str, now_ms: int | None = None) -> None:
        now = _now_ms() if now_ms is None else now_ms

        def mark(session: Session) -> tuple[str, str | None] | None:
            row = session.get(CommandRow, command_id)
            if row is not None and _advance(session, row, CommandState.SENT, now, None, now) is AckOutcome.APPLIED:
                return row.node, row.zone
            return None

        try:
            moved = await self._db.run(mark)
        except IntegrityError:
            moved = None  # sent twice at once: already recorded
        if moved is not None:
            self._announce(command_id, CommandState.SENT, *moved)

    async def dispatch_pending(self, now_ms: int | None = None) -> int:
        """Send every command still "created" and not expired (and not held, see
        send_ahead_s); return how many went.

        A command sent twice is harmless: the controller knows it by its id.
        """
        now = _now_ms() if now_ms is None else now_ms
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
                sent += await self.send(row.id, row.site, row.gateway, wire_command(row))
        return sent

    def _refuses_own_copy(self, kind: str, reason: str) -> bool:
        """Whether an authentication refusal would hit this cloud's own copy too: the cloud signs
        nothing and the gateway wants signatures, or the gateway does not trust the kid it signs with.
        Then the command can never get through and is rightly rejected."""
        if kind == REFUSED_UNSIGNED:
            return self.signer is None
        if kind == REFUSED_UNKNOWN_KEY:
            return self.signer is not None and f"kid {self.signer.kid!r} " in reason
        return False

    async def apply_ack(self, ack: dict | bytes, now_ms: int | None = None, *,
                        gateway: tuple[str, str] | None = None) -> AckOutcome:
        """Apply one acknowledgement (validated here; ContractError if it breaks the contract).

        An ack for an unknown id is counted and ignored; a late or out-of-order
        ack is kept in the history but never moves a final state; the same
        ack twice changes nothing. With `gateway` (site, gateway) set, an ack
        for a command routed through another gateway changes nothing and
        raises AckFromOtherGateway.
        """
        ack = contract.decode_ack(ack) if isinstance(ack, bytes) else contract.validate_ack(ack)
        now = _now_ms() if now_ms is None else now_ms
        kind = refusal_kind(ack["reason"]) if ack["state"] == contract.ACK_REJECTED else None
        if kind == REFUSED_REPLAYED:
            # A gateway refused a second copy of a command it already relayed
            # (someone replaying it, or a duplicate delivery): the command's own
            # fate is reported by its node, so this changes nothing.
            self.ack_outcomes[AckOutcome.REPLAY_REFUSED] += 1
            log.warning("gateway refused a replayed copy of command %s to %s: %s", ack["id"], ack["node"],
                        ack["reason"])
            return AckOutcome.REPLAY_REFUSED
        if kind in _AUTH_REFUSALS and not self._refuses_own_copy(kind, ack["reason"]):
            # A gateway refused a copy that failed authentication: anyone on its
            # command topic can send one under a real command's id, so it says
            # nothing about the command itself, which goes on. Counted with the
            # replays (the same "a copy, not the command" outcome).
            self.ack_outcomes[AckOutcome.REPLAY_REFUSED] += 1
            log.warning("gateway refused an unauthenticated copy of command %s to %s (a forgery, or a key the "
                        "gateway does not trust); the command is left as it is: %s", ack["id"], ack["node"],
                        ack["reason"])
            return AckOutcome.REPLAY_REFUSED

        def apply(session: Session) -> AckOutcome:
            row = session.get(CommandRow, ack["id"])
            if row is None:
                return AckOutcome.UNKNOWN_COMMAND
            if gateway is not None and (row.site, row.gateway) != gateway:
                raise AckFromOtherGateway(row.id, *gateway)
            if row.node != ack["node"]:
                return AckOutcome.WRONG_NODE
            outcome = _advance(session, row, ack["state"], ack["ts_ms"], ack["reason"], now)
            if outcome is AckOutcome.APPLIED:
                if ack["reason"] is not None:
                    row.reason = ack["reason"]
                if CommandState(row.state) in FINAL_STATES:
                    row.runtime_s = ack["runtime_s"]
                    row.volume_l = ack["volume_l"]
                moved.append((row.state, row.node, row.zone))
            return outcome

        moved: list[tuple[str, str, str | None]] = []
        try:
            outcome = await self._db.run(apply)
        except IntegrityError:
            outcome = AckOutcome.DUPLICATE  # the same ack applied at once by another worker
            moved.clear()
        for state, node, zone in moved:
            self._announce(ack["id"], state, node, zone)
        self.ack_outcomes[outcome] += 1
        if outcome in (AckOutcome.UNKNOWN_COMMAND, AckOutcome.WRONG_NODE):
            log.info("ack %s from %s ignored: %s", ack["id"], ack["node"], outcome)
        return outcome

    async def get(self, command_id: str) -> CommandOut:
        def get(session: Session) -> CommandOut | None:
            row = session.get(CommandRow, command_id)
            return _out(row, _events(session, command_id)) if row is not None else None

        out = await self._db.run(get)
        if out is None:
            raise CommandNotFound(command_id)
        return out

    async def recent(self, node: str | None = None, limit: int = 100) -> list[CommandOut]:
        """Newest first, with their histories."""

        def list_(session: Session) -> list[CommandOut]:
            q = select(CommandRow).order_by(CommandRow.created_ms.desc(), CommandRow.id)
            q = q.limit(limit)
            if node is not None:
                q = q.where(CommandRow.node == node)
            return [_out(row, _events(session, row.id)) for row in session.scalars(q)]

        return await self._db.run(list_)

    async def counts(self) -> dict[str, int]:
        """Number of commands in each state."""

        def counts(session: Session) -> dict[str, int]:
            q = select(CommandRow.state, func.count()).group_by(CommandRow.state)
            return {state: n for state, n in session.execute(q)}

        return await self._db.run(counts)
