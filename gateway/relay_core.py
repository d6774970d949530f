"""The command relay's decisions, with no I/O: bytes and the time in, what to send out.

`RelayCore` is what the gateway does with a command, a plan or a node's
acknowledgement; `relay.CommandRelay` wraps it with the MQTT links and the
Modbus mailbox, and the hardware-in-the-loop harness calls it directly on
its simulated clock, without a broker::

    core = RelayCore(site="farm-1", gateway_id="gw-1", auth=auth, plans=PlanKeeper())
    out = core.command(raw, now_ms)      # bytes from gw/{id}/cmd
    for nc in out.to_nodes:              # NodeCommand(node, command, raw): give `raw` to the node
        ...                              #   (its MQTT cmd topic, or its Modbus mailbox), then
        core.sent(nc)                    #   core.sent(nc) once it took it, or core.not_taken(...)
    for ack in out.to_cloud:             # acks the gateway answers itself (a refusal): to gw/{id}/ack
        ...
    core.plan(raw, now_ms)               # bytes from gw/{id}/plan: kept or refused
    out = core.due(now_ms)               # planned commands whose not-before came (offline autonomy)
    core.node_ack(ack, now_ms)           # a node's ack (it goes up unchanged; this tracks it)

What it decides:

* a command is validated with furrow.edge (an invalid one is counted with
  its reason and goes nowhere);
* with trusted cloud keys (`CommandAuth`) it must be signed for this
  gateway: an authentication refusal (unsigned, unknown key, bad signature,
  wrong gateway) is answered with a ``rejected`` ack but records nothing
  about the id it names, so a forgery reusing a real id cannot block the
  real command;
* an expired command is answered ``rejected`` (the node would refuse it too,
  later); a command id already relayed is refused as ``replayed`` (the id is
  claimed in the durable replay store before the command goes on);
* a plan is kept only when its envelope and every command in it are signed
  (a refused plan is counted in ``plans_refused`` and the plan kept before
  stays); a newer plan that leaves out a command still to come means the
  cloud took it back: its id is claimed so its own, still valid, signature
  cannot bring it back;
* planned commands go when their not-before comes, unless the cloud's copy
  went through already;
* a cancel (contract 1.2, the id of the command it cancels) is checked like
  any command but never refused as a replay of that id; the id is remembered
  all the same (a copy of the command arriving later is refused as
  replayed), the command leaves the kept plan, and the cancel goes to the
  node like a command.

The refusal counts (``commands_invalid``, ``commands_expired``,
``plans_refused`` and ``commands_refused`` by kind) are kept in a `Tally`
when one is given (the gateway's buffer file), so a restart does not wipe
the trace of an attack or of a broken cloud.

A JSON object with a ``plan_id`` on the command topic is a plan from a cloud
older than contract 1.2, which sent plans there: it is kept the same way.
"""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Protocol

from furrow.edge.commands import ACK_REJECTED, ACTION_CANCEL, encode, make_ack, validate_command
from furrow.edge.errors import ContractError
from furrow.edge.signing import REFUSED_EXPIRED

from .autonomy import PlanKeeper
from .command_auth import CommandAuth, Refusal

log = logging.getLogger(__name__)

COMMANDS_KEPT = 1_000
REFUSED = "refused:"  # prefix of the per-kind refusal counts in a Tally


class Tally(Protocol):
    """Where the refusal counts survive restarts (DurableBuffer)."""

    def relay_counts(self) -> dict[str, int]: ...
    def count_relay(self, name: str) -> None: ...


@dataclass(frozen=True, slots=True)
class NodeCommand:
    """A valid command for `node`; `raw` is what goes to it, bytes unchanged."""

    node: str
    command: dict[str, Any]
    raw: bytes


@dataclass(slots=True)
class Out:
    """What one input makes the relay send."""

    to_nodes: list[NodeCommand] = field(default_factory=list)
    to_cloud: list[bytes] = field(default_factory=list)  # acks the gateway answers itself


def _parse(raw: bytes, what: str) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as e:  # RecursionError: JSON nested deeper than Python goes
        raise ContractError(what, raw[:40], f"not valid JSON: {str(e)[:200]}") from None


class RelayCore:
    """Commands down, plans kept, node acks tracked: the relay's decisions."""

    def __init__(self, *, site: str, gateway_id: str, auth: CommandAuth | None = None,
                 plans: PlanKeeper | None = None, tally: Tally | None = None) -> None:
        self.site, self.gateway_id = site, gateway_id
        self.auth = auth if auth is not None and auth.enabled else None
        self.plans = plans if plans is not None else PlanKeeper()
        self._commands: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.counts = {
            "commands_relayed": 0,
            "cancels_relayed": 0,
            "commands_unconfirmed": 0,
            "commands_invalid": 0,
            "commands_expired": 0,
            "plans": 0,
            "plans_refused": 0,
        }
        self.refused: dict[str, int] = {}  # signed-command refusals by kind (signing.REFUSED_*)
        self.last_invalid: str | None = None
        self._tally = tally
        for name, n in (tally.relay_counts() if tally is not None else {}).items():
            if name.startswith(REFUSED):
                self.refused[name.removeprefix(REFUSED)] = n
            elif name in self.counts:
                self.counts[name] = n

    def _count(self, name: str) -> None:
        """One more refusal `name` (a key of `counts`, or REFUSED + a kind), kept in the tally."""
        if name.startswith(REFUSED):
            kind = name.removeprefix(REFUSED)
            self.refused[kind] = self.refused.get(kind, 0) + 1
        else:
            self.counts[name] += 1
        if self._tally is not None:
            self._tally.count_relay(name)

    # -- commands ---------------------------------------------------------------

    def command(self, raw: bytes, now: int) -> Out:
        """A message from the cloud's command topic."""
        try:
            body = _parse(raw, "command")
            if isinstance(body, dict) and "plan_id" in body:  # a plan from a cloud before 1.2
                self._keep_plan(body, now)
                return Out()
            cmd = validate_command(body)
        except ContractError as e:
            self._invalid(str(e))
            return Out()
        if self.auth is not None:
            try:
                self.auth.verify(cmd)
            except Refusal as e:
                # This copy is not the cloud's: its id is not recorded (here or in the
                # replay store), so a forgery reusing a real id cannot block the real
                # command; the cloud counts the refusal and leaves the command alone.
                return self._refuse(cmd, e, now, track=False)
        try:
            if cmd["expires_ms"] <= now:
                self._count("commands_expired")
                raise Refusal(REFUSED_EXPIRED, "before the gateway could deliver it "
                              f"(expires_ms {cmd['expires_ms']}, now {now})")
            if cmd["action"] == ACTION_CANCEL:
                return self._cancel(cmd, raw, now)
            if self.auth is not None:
                self.auth.claim(cmd, now)  # durable before the command goes on
        except Refusal as e:
            # An expired command is rejected here for good; a replay is a copy, and an expired
            # cancel a late word about its command: neither changes the state tracked for the id.
            return self._refuse(cmd, e, now, track=e.kind == REFUSED_EXPIRED and cmd["action"] != ACTION_CANCEL)
        return Out(to_nodes=[self._going(cmd, raw, now)])

    def _cancel(self, cancel: dict[str, Any], raw: bytes, now: int) -> Out:
        """A cancel names a command that may well have gone through already: never a replay.
        Its id is remembered (durably, before the cancel goes on), so a copy of the command
        arriving after it is refused; the command leaves the kept plan for good."""
        cmd_id = cancel["id"]
        if self.auth is not None and self.auth.seen is not None:
            self.auth.seen.remember(cmd_id, cancel["expires_ms"], now)
        self.plans.cancel(cmd_id, cancel["expires_ms"])
        self._track(cmd_id, cancel["node"], "cancel relayed", now)
        log.info("cancel of command %s relayed to %s", cmd_id, cancel["node"])
        return Out(to_nodes=[NodeCommand(cancel["node"], cancel, raw)])

    def _going(self, cmd: dict[str, Any], raw: bytes, now: int) -> NodeCommand:
        if cmd["id"] not in self._commands:
            self._track(cmd["id"], cmd["node"], "relayed", now)
        return NodeCommand(cmd["node"], cmd, raw)

    def _refuse(self, cmd: dict[str, Any], e: Refusal, now: int, track: bool) -> Out:
        # Refused here, and said so: the cloud must not wait for a node that
        # will never act on it.
        self._count(REFUSED + e.kind)
        if track:
            self._track(cmd["id"], cmd["node"], ACK_REJECTED, now)
        log.warning("command %s to %s refused: %s", cmd["id"], cmd["node"], e.reason)
        return Out(to_cloud=[encode(make_ack(cmd["id"], cmd["node"], ACK_REJECTED, now, reason=e.reason))])

    def _invalid(self, reason: str) -> None:
        self._count("commands_invalid")
        self.last_invalid = reason
        log.warning("invalid command not relayed: %s", reason)

    def sent(self, nc: NodeCommand) -> None:
        """The node's transport took the command (the farm broker's PUBACK, or the mailbox write)."""
        self.counts["cancels_relayed" if nc.command["action"] == ACTION_CANCEL else "commands_relayed"] += 1

    def unconfirmed(self, nc: NodeCommand) -> None:
        """The farm broker did not confirm in time: paho keeps it queued and sends it when the
        broker is back; the command's expiry makes a late delivery harmless."""
        self.counts["commands_unconfirmed"] += 1
        log.warning("command %s to %s not confirmed by the farm broker", nc.command["id"], nc.node)

    def not_taken(self, nc: NodeCommand, error: Exception, now: int) -> Out:
        """A Modbus node's mailbox did not take the command. A ContractError (it cannot go over
        Modbus, e.g. an id too long for the mailbox) is answered ``rejected``; any other error
        (the device did not answer) forgets the id, so the cloud's re-send and the plan's next
        tick are not taken for replays."""
        cmd = nc.command
        if cmd["action"] == ACTION_CANCEL:
            # Nothing to release or answer: the id stays remembered and out of the plan, and the
            # ack of that id is the command's. A 1.1 node answers a cancel with exception 03 (the
            # cloud sends it a close instead); a silent one gets the cloud's next cancel.
            self.counts["commands_unconfirmed"] += 1
            log.warning("cancel of %s not taken by %s: %s", cmd["id"], nc.node, error)
            return Out()
        if isinstance(error, ContractError):
            self._track(cmd["id"], nc.node, ACK_REJECTED, now)
            reason = f"cannot go over Modbus: {error}"[:200]
            return Out(to_cloud=[encode(make_ack(cmd["id"], nc.node, ACK_REJECTED, now, reason=reason))])
        if self.auth is not None and self.auth.seen is not None:
            self.auth.seen.release(cmd["id"])
        self._commands.pop(cmd["id"], None)
        self.plans.undeliver(cmd["id"])
        self.counts["commands_unconfirmed"] += 1
        log.warning("command %s not written to %s: %s", cmd["id"], nc.node, error)
        return Out()

    # -- plans --------------------------------------------------------------------

    def plan(self, raw: bytes, now: int) -> bool:
        """A message from the cloud's plan topic; True if the plan is kept."""
        try:
            return self._keep_plan(_parse(raw, "plan"), now)
        except ContractError as e:
            self._invalid(f"plan: {e}")
            return False

    def _keep_plan(self, plan: Any, now: int) -> bool:
        try:
            if self.auth is not None:
                self.auth.verify_plan(plan)  # the envelope: id, times, gateway, command ids
                self._verify_plan_commands(plan)
            withdrawn = self.plans.accept(plan, now)
        except ContractError as e:
            self._invalid(f"plan: {e}")
            return False
        except Refusal as e:
            # Not the cloud's plan (or not all of it): the plan kept before stays.
            self._count("plans_refused")
            self.last_invalid = f"plan refused: {e.reason}"
            log.warning("plan %r refused, the plan kept before stays: %s",
                        plan.get("plan_id") if isinstance(plan, dict) else None, e.reason)
            return False
        if self.auth is not None and self.auth.seen is not None:
            for c in withdrawn:
                self.auth.seen.claim(c["id"], c["expires_ms"], now)
                log.info("command %s left the plan before its time: refused from now on", c["id"])
        self.counts["plans"] += 1
        return True

    def _verify_plan_commands(self, plan: Any) -> None:
        """Every command of a plan must be signed for this gateway (ContractError naming it,
        Refusal for the first that is not)."""
        assert self.auth is not None
        cmds = plan.get("commands") if isinstance(plan, dict) else None
        for i, c in enumerate(cmds if isinstance(cmds, list) else []):
            try:
                self.auth.verify(validate_command(c))
            except ContractError as e:
                raise ContractError(f"commands.{i}.{e.field}", e.value, e.reason) from None
            except Refusal as e:
                raise Refusal(e.kind, f"commands.{i} ({c.get('id')}): {e.reason[len(e.kind) + 2:]}") from None

    def due(self, now: int) -> Out:
        """The kept plan's commands whose not-before came (verified when the plan came), each
        unless its id already went through the relay, even before a restart."""
        out = Out()
        for cmd in self.plans.due(now, self.relayed):
            if self.auth is not None and self.auth.seen is not None and not self.auth.seen.claim(
                    cmd["id"], cmd["expires_ms"], now):
                # Claimed before it goes on: the cloud's own copy of it is then a replay.
                log.info("plan command %s to %s was already relayed: not sent again", cmd["id"], cmd["node"])
            else:
                out.to_nodes.append(self._going(cmd, encode(cmd), now))
            self.plans.mark_delivered([cmd["id"]])
        return out

    # -- acks -----------------------------------------------------------------------

    def node_ack(self, ack: dict[str, Any], now: int) -> None:
        """A validated ack from a node (it goes up to the cloud unchanged)."""
        self._track(ack["id"], ack["node"], ack["state"], now)

    def _track(self, cmd_id: str, node: str, state: str, now: int) -> None:
        entry = self._commands.pop(cmd_id, None) or {"id": cmd_id, "node": node, "history": []}
        entry["state"] = state
        entry["history"] = [*entry["history"], state][-10:]
        entry["updated_ms"] = now
        self._commands[cmd_id] = entry
        while len(self._commands) > COMMANDS_KEPT:
            self._commands.popitem(last=False)

    def relayed(self, cmd_id: str) -> bool:
        """True if this command id already went through the relay."""
        return cmd_id in self._commands

    def commands(self) -> dict[str, dict[str, Any]]:
        """The last state (and short history) of recent commands, by id."""
        return {k: dict(v) for k, v in self._commands.items()}

    def stats(self) -> dict[str, Any]:
        return {
            **self.counts,
            "last_invalid": self.last_invalid,
            "commands_refused": dict(self.refused),
            "commands_signed": self.auth is not None,
        }
