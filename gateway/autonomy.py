"""Irrigation safety at the farm: heartbeats to the nodes, and the last plan.

Both are I/O-free: they take the time as an argument and say what to send;
the relay (relay.py) and the gateway process (app.py) do the sending, and
the hardware-in-the-loop harness calls them on its simulated clock.

Heartbeats: every irrigation node closes its valves when it has not heard
from the gateway for its heartbeat timeout (firmware/irrigation_node.py).
Any message on its ``node/{id}/cmd`` topic counts, so the gateway sends a
small one there every ``heartbeat_interval`` (QoS 0, not retained)::

    {"v": "1.0", "type": "heartbeat", "gateway": "gw-1", "ts_ms": 1767225600000}

It carries no command id, so a node never acts on it or acknowledges it.
Heartbeats run on the farm broker only: they go on while the cloud is away
(the gateway is still there) and stop when the gateway stops.

The last plan: the cloud sends a plan on ``gw/{id}/plan`` (a cloud older
than contract 1.2 on ``gw/{id}/cmd``; see docs/contract.md)::

    {"v": "1.0", "plan_id": "p-42", "issued_ms": ..., "valid_until_ms": ...,
     "commands": [<command>, ...]}

The gateway keeps the newest plan, on disk when given a path. Each command
of the plan is delivered to its node once, when its not-before has come and
before its own expiry, unless that command id already came through the
relay. After ``valid_until_ms`` nothing of the plan is sent: past its
validity the farm falls back to the nodes' own limits (valves closed).
Commands keep their ids, so a command the cloud also sends is executed once
(the node refuses a repeated id; with trusted keys the gateway's replay
store refuses it first, even after a restart). With trusted keys the relay
keeps only a plan whose envelope and commands the cloud signed
(relay_core.py, furrow.edge.plan_signing). A command the cloud cancels
(contract 1.2) leaves the kept plan, and no later plan delivers it until it
could no longer run.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from furrow.edge import CONTRACT_VERSION
from furrow.edge.commands import encode, validate_command
from furrow.edge.errors import ContractError
from furrow.edge.topics import NODE_CMD, node_topic

log = logging.getLogger(__name__)

PLAN_TICK_S = 1.0
"""How often the gateway looks for plan commands whose not-before came."""
PLAN_COMMANDS_MAX = 1_000


def validate_plan(plan: Any) -> dict[str, Any]:
    """Check a plan; raises ContractError naming the field (``commands.3.expires_ms``)."""
    if not isinstance(plan, dict):
        raise ContractError("plan", plan, "must be an object")
    plan_id = plan.get("plan_id")
    if not isinstance(plan_id, str) or not 1 <= len(plan_id) <= 80:
        raise ContractError("plan_id", plan_id, "must be a string of 1 to 80 characters")
    # Both times typed here: they are compared with the kept plan's, and a string
    # there would make every later plan fail with TypeError.
    for field in ("issued_ms", "valid_until_ms"):
        value = plan.get(field)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ContractError(field, value, "must be Unix time in milliseconds")
    cmds = plan.get("commands")
    if not isinstance(cmds, list) or len(cmds) > PLAN_COMMANDS_MAX:
        raise ContractError("commands", cmds, f"must be a list of at most {PLAN_COMMANDS_MAX} commands")
    for i, c in enumerate(cmds):
        try:
            validate_command(c)
        except ContractError as e:
            raise ContractError(f"commands.{i}.{e.field}", e.value, e.reason) from None
    return plan


class PlanKeeper:
    """Keeps the newest plan (on disk at `path`, or in memory) and says which
    of its commands are due while it is valid."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self.plan: dict[str, Any] | None = None
        self.delivered: set[str] = set()
        self.cancelled: dict[str, int] = {}  # command id -> until when it could still run (Unix ms)
        self.counts = {"plans": 0, "delivered": 0, "expired_plans": 0, "cancelled": 0}
        self._expired_logged = False
        if self.path is None:
            return
        try:
            saved = json.loads(self.path.read_text())
            self.plan = validate_plan(saved["plan"])
            self.delivered = set(saved.get("delivered", []))
            self.cancelled = {str(k): int(v) for k, v in saved.get("cancelled", {}).items()}
        except FileNotFoundError:
            pass
        except (ValueError, KeyError, ContractError) as e:
            log.error("ignoring unreadable saved plan %s: %s", self.path, e)

    def accept(self, plan: Any, now: int) -> list[dict[str, Any]]:
        """Take a plan from the cloud (newer replaces older); raises ContractError.

        Returns the commands the cloud took back: those of the plan kept before
        that the new one leaves out while they were still to come (not-before
        at or after the new plan's issue) and not expired. A command left out
        because its not-before came (the cloud then sends it itself) is not
        one, nor anything when the new plan is full (a command may have been
        crowded out)."""
        plan = validate_plan(plan)
        old = self.plan
        if old is not None and plan["issued_ms"] < old["issued_ms"]:
            log.info("plan %s is older than plan %s: ignored", plan["plan_id"], old["plan_id"])
            return []
        ids = {c["id"] for c in plan["commands"]}
        withdrawn = []
        if old is not None and len(ids) < PLAN_COMMANDS_MAX:
            withdrawn = [c for c in old["commands"] if c["id"] not in ids
                         and c["not_before_ms"] >= plan["issued_ms"] and c["expires_ms"] > now]
        self.plan, self.delivered = plan, self.delivered & ids
        self.cancelled = {k: until for k, until in self.cancelled.items() if until > now}
        self._expired_logged = False
        self.counts["plans"] += 1
        self._save()
        log.info("plan %s kept: %d commands, valid until %d", plan["plan_id"], len(ids), plan["valid_until_ms"])
        return withdrawn

    def cancel(self, cmd_id: str, until_ms: int) -> bool:
        """The cloud cancelled this command: it leaves the kept plan, and no plan delivers it
        before `until_ms` (when it could no longer run). True if the kept plan held it."""
        held = self.plan is not None and any(c["id"] == cmd_id for c in self.plan["commands"])
        if held:
            assert self.plan is not None
            self.plan = {**self.plan, "commands": [c for c in self.plan["commands"] if c["id"] != cmd_id]}
            self.counts["cancelled"] += 1
        self.delivered.discard(cmd_id)
        self.cancelled[cmd_id] = max(until_ms, self.cancelled.get(cmd_id, 0))
        self._save()
        return held

    def due(self, now: int, relayed: Callable[[str], bool] = lambda _id: False) -> list[dict[str, Any]]:
        """Commands of the plan to deliver at `now`: not-before come, not expired, not
        delivered yet, and not `relayed` already (the cloud's own copy went through)."""
        if self.plan is None:
            return []
        if now >= self.plan["valid_until_ms"]:
            if not self._expired_logged:
                self._expired_logged = True
                self.counts["expired_plans"] += 1
                log.warning("plan %s is past its validity: nothing more of it is sent", self.plan["plan_id"])
            return []
        return [
            c
            for c in self.plan["commands"]
            if c["id"] not in self.delivered and c["id"] not in self.cancelled
            and c["not_before_ms"] <= now < c["expires_ms"] and not relayed(c["id"])
        ]

    def mark_delivered(self, ids: Iterable[str]) -> None:
        """These commands went to their nodes: never again from this plan (saved at once)."""
        new = set(ids) - self.delivered
        if new:
            self.delivered |= new
            self.counts["delivered"] += len(new)
            self._save()

    def undeliver(self, cmd_id: str) -> None:
        """The command did not reach its node (a Modbus device that did not take it): due again."""
        if cmd_id in self.delivered:
            self.delivered.discard(cmd_id)
            self.counts["delivered"] -= 1
            self._save()

    def _save(self) -> None:
        if self.path is None:
            return
        tmp = self.path.with_suffix(".tmp")
        with tmp.open("w") as f:
            json.dump({"plan": self.plan, "delivered": sorted(self.delivered), "cancelled": self.cancelled}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

    def stats(self) -> dict[str, Any]:
        p = self.plan
        return {
            **self.counts,
            "plan_id": p["plan_id"] if p else None,
            "valid_until_ms": p["valid_until_ms"] if p else None,
            "commands": len(p["commands"]) if p else 0,
            "delivered_ids": len(self.delivered),
        }


def heartbeat_payload(gateway: str, ts_ms: int) -> bytes:
    return encode({"v": CONTRACT_VERSION, "type": "heartbeat", "gateway": gateway, "ts_ms": ts_ms})


class Heartbeats:
    """The heartbeat every known irrigation node gets: the configured ones and
    those seen reporting (`seen_nodes`, kept up to date by the MQTT source)."""

    def __init__(self, site: str, gateway_id: str, topic_root: str, nodes: Iterable[str] = (),
                 seen_nodes: set[str] | None = None) -> None:
        self._site, self._gateway, self._root = site, gateway_id, topic_root
        self._nodes = set(nodes)
        self._seen = seen_nodes if seen_nodes is not None else set()
        self.sent = 0

    def targets(self) -> list[str]:
        return sorted(self._nodes | self._seen)

    def messages(self, now: int) -> list[tuple[str, bytes]]:
        """(topic, payload) of one heartbeat to every target, stamped `now` (publish QoS 0)."""
        payload = heartbeat_payload(self._gateway, now)
        out = [(node_topic(self._site, node, NODE_CMD, self._root), payload) for node in self.targets()]
        self.sent += len(out)
        return out
