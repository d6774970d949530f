"""Irrigation safety at the farm: heartbeats to the nodes, and the last plan.

Heartbeats: every irrigation node closes its valves when it has not heard
from the gateway for its heartbeat timeout (firmware/irrigation_node.py).
Any message on its ``node/{id}/cmd`` topic counts, so the gateway sends a
small one there every ``heartbeat_interval`` (QoS 0, not retained)::

    {"v": "1.0", "type": "heartbeat", "gateway": "gw-1", "ts_ms": 1767225600000}

It carries no command id, so a node never acts on it or acknowledges it.
Heartbeats run on the farm broker only: they go on while the cloud is away
(the gateway is still there) and stop when the gateway stops.

The last plan: the cloud may send a plan on ``gw/{id}/cmd``::

    {"v": "1.0", "plan_id": "p-42", "issued_ms": ..., "valid_until_ms": ...,
     "commands": [<command>, ...]}

The gateway keeps the newest plan on disk. Each command of the plan is
delivered to its node once, when its not-before has come and before its own
expiry, unless that command id already came through the relay. After
``valid_until_ms`` nothing of the plan is sent: past its validity the farm
falls back to the nodes' own limits (valves closed). Commands keep their
ids, so a command the cloud also sends is executed once (the node refuses a
repeated id; with trusted keys the gateway's replay store refuses it first,
even after a restart). With trusted keys the relay keeps only a plan whose
envelope and commands the cloud signed (relay.py, furrow.edge.plan_signing).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from pathlib import Path
from typing import Any

from furrow.edge import CONTRACT_VERSION
from furrow.edge.commands import encode, validate_command
from furrow.edge.errors import ContractError
from furrow.edge.topics import NODE_CMD, node_topic

from .buffer import now_ms
from .config import GatewayConfig
from .relay import CommandRelay

log = logging.getLogger(__name__)

PLAN_TICK_S = 1.0
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
    """Keeps the newest plan (on disk, beside the buffer) and delivers its
    commands on time while the plan is valid."""

    def __init__(self, config: GatewayConfig, relay: CommandRelay) -> None:
        self._relay = relay
        self.path = Path(config.buffer_path).with_suffix(".plan.json")
        self.plan: dict[str, Any] | None = None
        self.delivered: set[str] = set()
        self.counts = {"plans": 0, "delivered": 0, "expired_plans": 0}
        self._expired_logged = False
        try:
            saved = json.loads(self.path.read_text())
            self.plan = validate_plan(saved["plan"])
            self.delivered = set(saved.get("delivered", []))
        except FileNotFoundError:
            pass
        except (ValueError, KeyError, ContractError) as e:
            log.error("ignoring unreadable saved plan %s: %s", self.path, e)

    def accept(self, plan: Any) -> None:
        """Take a plan from the cloud (newer replaces older); raises ContractError."""
        plan = validate_plan(plan)
        if self.plan is not None and plan["issued_ms"] < self.plan["issued_ms"]:
            log.info("plan %s is older than plan %s: ignored", plan["plan_id"], self.plan["plan_id"])
            return
        ids = {c["id"] for c in plan["commands"]}
        self._retire_dropped(plan, ids)
        self.plan, self.delivered = plan, self.delivered & ids
        self._expired_logged = False
        self.counts["plans"] += 1
        self._save()
        log.info("plan %s kept: %d commands, valid until %d", plan["plan_id"], len(ids), plan["valid_until_ms"])

    def _retire_dropped(self, plan: dict[str, Any], ids: set[str]) -> None:
        """A newer signed plan leaving out a command still to come means the cloud took it back
        (cancelled it): its id goes into the replay store until its expiry, so its own signature,
        still valid, cannot bring it back through the relay. A command left out because its
        not-before came (the cloud then sends it itself) is not touched, nor anything when the plan
        is full (a command may have been crowded out)."""
        auth = self._relay.auth
        if self.plan is None or auth is None or auth.seen is None or len(ids) >= PLAN_COMMANDS_MAX:
            return
        now = now_ms()
        for c in self.plan["commands"]:
            if c["id"] not in ids and c["not_before_ms"] >= plan["issued_ms"] and c["expires_ms"] > now:
                auth.seen.claim(c["id"], c["expires_ms"], now)
                log.info("command %s left the plan before its time: refused from now on", c["id"])

    def _save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        with tmp.open("w") as f:
            json.dump({"plan": self.plan, "delivered": sorted(self.delivered)}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

    def due(self, now: int) -> list[dict[str, Any]]:
        """Commands of the plan to deliver at `now`."""
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
            if c["id"] not in self.delivered
            and c["not_before_ms"] <= now < c["expires_ms"]
            and not self._relay.seen(c["id"])
        ]

    async def run(self) -> None:
        """Deliver due plan commands until cancelled."""
        while True:
            for cmd in self.due(now_ms()):
                if await self._relay.deliver(cmd, encode(cmd)):
                    self.delivered.add(cmd["id"])
                    self.counts["delivered"] += 1
                    await asyncio.to_thread(self._save)
            await asyncio.sleep(PLAN_TICK_S)

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
    """Sends a heartbeat to every known irrigation node on the farm broker."""

    def __init__(self, config: GatewayConfig, publish: Any, seen_nodes: set[str]) -> None:
        self._config = config
        self._publish = publish  # paho Client.publish
        self._seen = seen_nodes
        self.sent = 0

    def targets(self) -> list[str]:
        return sorted(set(self._config.irrigation_nodes) | self._seen)

    def beat(self) -> int:
        cfg = self._config
        payload = heartbeat_payload(cfg.gateway_id, now_ms())
        nodes = self.targets()
        for node in nodes:
            self._publish(node_topic(cfg.site, node, NODE_CMD, cfg.topic_root), payload, qos=0)
        self.sent += len(nodes)
        return len(nodes)

    async def run(self) -> None:
        interval = self._config.heartbeat_interval.total_seconds()
        while True:
            self.beat()
            await asyncio.sleep(interval)
