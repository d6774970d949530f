"""The plan each gateway keeps for a WAN outage (gateway/autonomy.py).

A plan is the gateway's copy of the commands still to come for the nodes
routed through it::

    {"v": "1.1", "plan_id": "p-...", "issued_ms": ..., "valid_until_ms": ...,
     "site": ..., "gateway": ..., "kid": ..., "sig": ..., "commands": [<signed command>, ...]}

The envelope is signed too (furrow.edge.plan_signing): a gateway trusting
the cloud's keys keeps only a plan whose id, times, gateway and ordered
command ids the cloud signed, so nobody on the link can wipe, age or
replace its plan.

It holds every command of those nodes that is pending ("created", "sent" or
"received"), whose not-before is now or later and which has not expired,
each signed for that gateway exactly as the command service sends it. It is
valid for ``plan_validity_s`` from its issue. The gateway keeps the newest
plan it received and, while the cloud is away, delivers each command at its
not-before unless the command already came through its relay, and nothing
once the plan's validity has passed.

The cloud publishes a gateway's whole plan again (a fresh ``plan_id``, even
when it is empty, which is how a cancelled command leaves the gateway) after
every planning run, whenever a command with a future not-before is created
or cancelled, and when its MQTT worker (re)connects. Plans travel on the
gateway's plan topic (``gw/{gateway}/plan``, contract 1.2; before, on its
command topic) over the cloud's MQTT link, as commands do; a gateway that
forwards its batches by HTTPS still takes commands and plans over MQTT
(gateway/config.py), so one path serves both.

Building a plan is pure (`pending_for_plan`, `build_plan`); `PlanPublisher`
reads the database and publishes.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from furrow.edge import CONTRACT_VERSION
from furrow.edge.commands import encode
from furrow.edge.topics import GW_PLAN, gateway_topic

from .._time import Clock, now_ms
from ..db import CommandRow, Database
from ..node_routes import NodeRoutes
from .lifecycle import CommandState
from .records import wire_command
from .signing import CommandSigner

log = logging.getLogger(__name__)

# The gateway refuses a plan of more commands (gateway/autonomy.py PLAN_COMMANDS_MAX).
PLAN_COMMANDS_MAX = 1_000
PLANNED_STATES = (CommandState.CREATED, CommandState.SENT, CommandState.RECEIVED)

Gateway = tuple[str, str]  # (site, gateway)
Publish = Callable[[str, bytes], Awaitable[None]]


def new_plan_id() -> str:
    return "p-" + uuid.uuid4().hex[:24]


def pending_for_plan(rows: Iterable[CommandRow], now_ms: int) -> list[CommandRow]:
    """The commands a plan carries, soonest first: pending, not-before now or later, not expired.

    At most PLAN_COMMANDS_MAX (the soonest): the gateway refuses a longer plan.
    """
    keep = [
        r for r in rows
        if CommandState(r.state) in PLANNED_STATES and r.not_before_ms >= now_ms and r.expires_ms > now_ms
    ]
    keep.sort(key=lambda r: (r.not_before_ms, r.id))
    return keep[:PLAN_COMMANDS_MAX]


def build_plan(rows: Sequence[CommandRow], gateway: Gateway, now_ms: int, validity_s: int,
               signer: CommandSigner | None, plan_id: str | None = None) -> dict[str, Any]:
    """The plan for `gateway` from the commands `rows` (already chosen by `pending_for_plan`).

    Each command is signed for `gateway` at `now_ms` as CommandService.send signs it, and the
    envelope too (CommandSigner.sign_plan); without a signer they go unsigned, as the commands
    themselves then do.
    """
    site, gw = gateway
    commands = []
    for row in rows:
        cmd = wire_command(row)
        commands.append(signer.sign(cmd, site, gw, now_ms) if signer is not None else cmd)
    plan = {"v": CONTRACT_VERSION, "plan_id": plan_id or new_plan_id(), "issued_ms": now_ms,
            "valid_until_ms": now_ms + validity_s * 1000, "commands": commands}
    return signer.sign_plan(plan, site, gw) if signer is not None else plan


class PlanPublisher:
    """Publishes each gateway's current plan; a failure is logged, never raised
    (a plan that cannot go now goes with the next one, or on reconnect)."""

    def __init__(self, db: Database, routes: NodeRoutes, *, validity_s: int, root: str,
                 signer: CommandSigner | None = None, publish: Publish | None = None, clock: Clock = now_ms) -> None:
        self._db = db
        self._clock = clock
        self._routes = routes
        self.validity_s = validity_s
        self.root = root
        self.signer = signer
        self.publish = publish  # MqttWorker.publish; None: no MQTT, no plans
        self.counts = {"published": 0, "failed": 0}
        self.last: dict[Gateway, dict[str, Any]] = {}  # the newest plan built for each gateway

    async def gateways_of(self, nodes: Iterable[str]) -> set[Gateway]:
        """The gateways the nodes are routed through now (nodes never heard are left out)."""
        out = set()
        for node in set(nodes):
            route = await self._routes.get(node)
            if route is not None:
                out.add((route.site, route.gateway))
        return out

    async def plan_for(self, gateway: Gateway, now_ms: int | None = None) -> dict[str, Any]:
        """The gateway's current plan, built from the database."""
        now = self._clock() if now_ms is None else now_ms
        nodes = [r.node for r in await self._routes.all() if (r.site, r.gateway) == gateway]

        def pending(session: Session) -> list[CommandRow]:
            if not nodes:
                return []
            q = select(CommandRow).where(
                CommandRow.node.in_(nodes), CommandRow.state.in_([str(s) for s in PLANNED_STATES]),
                CommandRow.not_before_ms >= now, CommandRow.expires_ms > now,
            )
            return list(session.scalars(q))

        rows = pending_for_plan(await self._db.run(pending), now)
        return build_plan(rows, gateway, now, self.validity_s, self.signer)

    async def publish_to(self, gateways: Iterable[Gateway], now_ms: int | None = None) -> int:
        """Publish the current plan to each gateway; how many went."""
        if self.publish is None:
            return 0
        sent = 0
        for site, gw in sorted(set(gateways)):
            try:
                plan = await self.plan_for((site, gw), now_ms)
                await self.publish(gateway_topic(site, gw, GW_PLAN, self.root), encode(plan))
            except Exception as e:  # noqa: BLE001 - broker away, database busy: the next plan replaces it
                self.counts["failed"] += 1
                log.warning("plan for gateway %s/%s not published: %s", site, gw, e)
                continue
            self.last[(site, gw)] = plan
            self.counts["published"] += 1
            sent += 1
            log.info("plan %s to %s/%s: %d command(s), valid until %d", plan["plan_id"], site, gw,
                     len(plan["commands"]), plan["valid_until_ms"])
        return sent

    async def publish_for_nodes(self, nodes: Iterable[str], now_ms: int | None = None) -> int:
        """Publish the plans of the gateways the nodes are routed through."""
        if self.publish is None:
            return 0
        return await self.publish_to(await self.gateways_of(nodes), now_ms)

    async def publish_all(self, now_ms: int | None = None) -> int:
        """Publish a plan to every gateway a node is routed through (after a planning run of
        every zone, and on reconnect)."""
        if self.publish is None:
            return 0
        return await self.publish_to({(r.site, r.gateway) for r in await self._routes.all()}, now_ms)
