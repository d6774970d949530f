"""Plans for the gateway (cloud/commands/plans.py): which commands a plan carries, its validity and
signatures; and against a real Mosquitto and the real gateway, that the cloud's plan keeps the farm
irrigating through a WAN outage only within its validity, and that a cancelled command leaves it."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from furrow.clock import system_clock as now_ms
from furrow.cloud.commands.lifecycle import CommandState
from furrow.cloud.commands.plans import PLAN_COMMANDS_MAX, build_plan, pending_for_plan
from furrow.cloud.commands.signing import CommandSigner, generate_key, load_private_keys, load_public_key
from furrow.cloud.db import CommandRow
from furrow.edge.batch import make_batch
from furrow.edge.commands import encode, make_command
from furrow.edge.payload import make_reading, make_uplink
from furrow.edge.signing import signed_bytes
from furrow.edge.topics import gateway_topic, node_topic
from furrow.gateway import Gateway
from furrow.gateway.autonomy import PLAN_TICK_S, validate_plan
from tests.cloud_support import eventually, item, local_settings, running_app
from tests.gateway_support import Peer, TcpProxy, gateway_config, running_gateway, wait_until
from tests.test_cloud_planning import DAY, HOUR, T0, _planner_commands, _weather_farm

NOW = 1_767_225_600_000  # 2026-01-01T00:00:00Z
MIN = 60_000


def _row(cid: str, state: str = "created", not_before: int = NOW + MIN, expires: int = NOW + 30 * MIN,
         node: str = "irr-01") -> CommandRow:
    return CommandRow(id=cid, node=node, site="farm", gateway="gw-old", valve=1, action="open", duration_s=60,
                      max_runtime_s=120, not_before_ms=not_before, expires_ms=expires, state=state,
                      created_ms=NOW - MIN, updated_ms=NOW - MIN)


@pytest.fixture
def signer(tmp_path: Path) -> CommandSigner:
    generate_key(tmp_path / "keys", "k20260101000000-aaaa")
    return CommandSigner.create(load_private_keys(tmp_path / "keys"))


# --- building a plan (pure) ---------------------------------------------------------------------


def test_a_plan_carries_pending_commands_to_come_soonest_first():
    """Created, sent and received commands whose not-before is now or later and not expired are
    planned, soonest first; started, final, past-not-before and expired ones are not."""
    rows = [_row("c-late", not_before=NOW + 9 * MIN), _row("c-sent", "sent"), _row("c-recv", "received"),
            _row("c-now", not_before=NOW), _row("c-started", "started"), _row("c-done", "completed"),
            _row("c-cancelled", "cancelled"), _row("c-past", not_before=NOW - 1),
            _row("c-expired", not_before=NOW - MIN, expires=NOW), _row("c-exp-now", not_before=NOW, expires=NOW)]
    assert [r.id for r in pending_for_plan(rows, NOW)] == ["c-now", "c-recv", "c-sent", "c-late"]


def test_a_plan_never_holds_more_commands_than_the_gateway_accepts():
    """Past PLAN_COMMANDS_MAX the soonest commands are kept (the gateway refuses a longer plan)."""
    n = PLAN_COMMANDS_MAX + 5
    rows = [_row(f"c-{i:05d}", not_before=NOW + (n - i) * 1000) for i in range(n)]
    kept = pending_for_plan(rows, NOW)
    assert len(kept) == PLAN_COMMANDS_MAX and kept[0].id == f"c-{PLAN_COMMANDS_MAX + 4:05d}"
    assert "c-00000" not in {r.id for r in kept}


def test_a_plan_is_valid_for_its_validity_and_each_command_is_signed_for_its_gateway(signer, tmp_path):
    """valid_until_ms = issue + validity; every command is signed with the cloud's key for the plan's
    gateway (not the one recorded at creation), verifies, and the gateway's own check accepts the plan."""
    plan = build_plan([_row("c-1"), _row("c-2", not_before=NOW + 2 * MIN)], ("farm", "gw-1"), NOW, 3600, signer)
    assert plan["issued_ms"] == NOW and plan["valid_until_ms"] == NOW + 3_600_000
    assert plan["plan_id"].startswith("p-") and validate_plan(plan) is plan
    public = load_public_key(tmp_path / "keys" / "k20260101000000-aaaa.pub")
    for cmd, cid in zip(plan["commands"], ["c-1", "c-2"], strict=True):
        assert (cmd["id"], cmd["site"], cmd["gateway"], cmd["kid"]) == (cid, "farm", "gw-1", signer.kid)
        assert cmd["issued_ms"] == NOW
        public.verify(bytes.fromhex(cmd["sig"]), signed_bytes(cmd))  # raises if it does not verify
    again = build_plan([], ("farm", "gw-1"), NOW + 1, 3600, signer)
    assert again["commands"] == [] and again["plan_id"] != plan["plan_id"]


def test_without_a_signer_the_plan_carries_the_commands_unsigned():
    """No signing key in the cloud: plan commands go unsigned, as the commands themselves do."""
    (cmd,) = build_plan([_row("c-1")], ("farm", "gw-1"), NOW, 60, None)["commands"]
    assert "sig" not in cmd and cmd["not_before_ms"] == NOW + MIN and cmd["expires_ms"] == NOW + 30 * MIN


# --- the cloud, a real broker and the real gateway ----------------------------------------------


@dataclass
class Farm:
    client: Any  # httpx client of the cloud app
    gateway: Gateway
    proxy: TcpProxy  # the gateway's way to the cloud broker
    node: Peer  # irr-01 on the farm broker


@contextlib.asynccontextmanager
async def farm(tmp_path: Path, mosquitto: Any, root: str, **cloud: Any) -> AsyncIterator[Farm]:
    """The cloud (signing, holding future commands: send-ahead 0) on a real broker, the real gateway
    trusting its key and reaching that broker through a proxy, and irr-01 routed through it."""
    kid, _, pub = generate_key(tmp_path / "keys")
    settings = local_settings(tmp_path / "cloud", mqtt_enabled=True, mqtt_host=mosquitto.host,
                              mqtt_port=mosquitto.port, topic_root=root, mqtt_reconnect_max_s=0.5,
                              command_signing_keys_dir=tmp_path / "keys", command_send_ahead_s=0,
                              command_expiry_interval_s=0.2, **cloud)
    node = Peer(mosquitto.host, mosquitto.port)
    async with TcpProxy(mosquitto.host, mosquitto.port) as proxy, running_app(settings) as c:
        config = gateway_config(tmp_path, mosquitto.host, mosquitto.port, root, command_auth={"keys": {kid: pub}},
                                cloud_broker={"host": proxy.host, "port": proxy.port, "keepalive": 2, "timeout": 2})
        node.subscribe(node_topic(config.site, "irr-01", "cmd", root))
        services = c.app.state.services
        await wait_until(lambda: services.worker.connected, "the cloud's MQTT worker to connect")
        irr = make_uplink("irr-01", "irrigation", 1, now_ms(), [make_reading("valve_open", 0, channel=1)], "0.1.0")
        batch = make_batch(config.site, config.gateway_id, "b-1", now_ms(), [item(irr)])
        r = await c.post("/api/v1/ingest/batch", json=batch)
        assert r.status_code == 200 and not r.json()["rejected"], r.text
        try:
            async with running_gateway(config) as gw:
                yield Farm(c, gw, proxy, node)
        finally:
            node.close()


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat()


async def _command(f: Farm, not_before_ms: int, ttl_s: int = 60) -> dict:
    r = await f.client.post("/api/v1/commands", json={"node": "irr-01", "valve": 1, "duration_s": 5,
                                                      "not_before": _iso(not_before_ms), "ttl_s": ttl_s})
    assert r.status_code == 201, r.text
    return r.json()


def _plan_ids(f: Farm) -> list[str]:
    plan = f.gateway.plans.plan
    return [c["id"] for c in plan["commands"]] if plan else []


async def _cut(f: Farm) -> None:
    f.proxy.down()
    await wait_until(lambda: not f.gateway.cloud.connected, "the gateway's cloud link to drop")


def _commands_at_node(f: Farm) -> list[tuple[dict, int]]:
    """The commands (not heartbeats) irr-01 received so far, with the time each arrived."""
    out = []
    while not f.node.messages.empty():
        msg = f.node.messages.get_nowait()
        body = json.loads(msg.payload)
        if "id" in body:
            out.append((body, now_ms()))
    return out


@pytest.mark.mosquitto
async def test_the_clouds_plan_runs_a_command_through_a_wan_outage(tmp_path, mosquitto, mqtt_topic_prefix):
    """A command a few seconds ahead waits in the cloud and reaches the gateway only in its plan; the
    WAN is cut; at its not-before the gateway delivers it, signed, to the node (never earlier), and
    the cloud, its send-ahead reached, sends its own copy (it waits at the broker)."""
    async with farm(tmp_path, mosquitto, mqtt_topic_prefix) as f:
        cmd = await _command(f, now_ms() + 4000)
        assert cmd["state"] == CommandState.CREATED  # held: it goes out in the plan only
        await wait_until(lambda: _plan_ids(f) == [cmd["id"]], "the plan with the command at the gateway")
        await _cut(f)
        assert _commands_at_node(f) == []
        got: list[tuple[dict, int]] = []
        await wait_until(lambda: bool(got.extend(_commands_at_node(f)) or got), "the command at the node", 20)
        (body, at_ms), = got
        assert body["id"] == cmd["id"] and body["sig"] and body["gateway"] == f.gateway.config.gateway_id
        assert at_ms >= cmd["not_before_ms"]
        assert f.gateway.plans.stats()["delivered"] == 1 and f.gateway.relay.counts["commands_relayed"] == 1

        async def sent() -> bool:
            return (await f.client.get(f"/api/v1/commands/{cmd['id']}")).json()["state"] == CommandState.SENT

        await eventually(sent, "the cloud to send the command once due", 20)


@pytest.mark.mosquitto
async def test_a_plan_past_its_validity_delivers_nothing(tmp_path, mosquitto, mqtt_topic_prefix):
    """The plan is valid for 1 s and its command is due after that: with the WAN cut the gateway
    lets the plan lapse and the node hears no command, even after the command's not-before."""
    async with farm(tmp_path, mosquitto, mqtt_topic_prefix, plan_validity_s=1) as f:
        cmd = await _command(f, now_ms() + 4000)
        await wait_until(lambda: _plan_ids(f) == [cmd["id"]], "the plan with the command at the gateway")
        assert f.gateway.plans.plan["valid_until_ms"] < cmd["not_before_ms"]
        await _cut(f)
        await wait_until(lambda: f.gateway.plans.stats()["expired_plans"] == 1, "the plan to lapse")
        until = cmd["not_before_ms"] + int(3 * PLAN_TICK_S * 1000)
        await wait_until(lambda: now_ms() > until, "three plan ticks past the not-before", 20)
        assert _commands_at_node(f) == [] and f.gateway.plans.stats()["delivered"] == 0


@pytest.mark.mosquitto
async def test_a_cancelled_command_leaves_the_gateways_plan(tmp_path, mosquitto, mqtt_topic_prefix):
    """Two commands to come are in the gateway's plan; one is cancelled in the cloud: the next plan
    holds only the other, and after a WAN cut the node receives only that one."""
    async with farm(tmp_path, mosquitto, mqtt_topic_prefix) as f:
        keep = await _command(f, now_ms() + 5000)
        drop = await _command(f, now_ms() + 5000)
        await wait_until(lambda: sorted(_plan_ids(f)) == sorted([keep["id"], drop["id"]]), "both in the plan")
        r = await f.client.post(f"/api/v1/commands/{drop['id']}/cancel", json={"reason": "rain came"})
        assert r.status_code == 200 and r.json()["state"] == CommandState.CANCELLED, r.text
        await wait_until(lambda: _plan_ids(f) == [keep["id"]], "the cancelled command to leave the plan")
        await _cut(f)
        got: list[tuple[dict, int]] = []
        await wait_until(lambda: bool(got.extend(_commands_at_node(f)) or got), "the kept command at the node", 20)
        await wait_until(lambda: now_ms() > drop["not_before_ms"] + int(3 * PLAN_TICK_S * 1000), "plan ticks", 20)
        got.extend(_commands_at_node(f))
        assert [b["id"] for b, _ in got] == [keep["id"]]


@pytest.mark.mosquitto
async def test_a_planning_run_publishes_the_zones_plan_to_its_gateway(tmp_path, mosquitto, mqtt_topic_prefix):
    """Planning z1 at noon defers a run to 22:00: the zone's gateway receives one plan (not one per
    command created) holding that command, valid for plan_validity_s from the planning time;
    planning again publishes the plan again, with a fresh id and the same command."""
    settings = local_settings(tmp_path, mqtt_enabled=True, mqtt_host=mosquitto.host, mqtt_port=mosquitto.port,
                              topic_root=mqtt_topic_prefix, mqtt_reconnect_max_s=0.5, plan_validity_s=7200)
    gw = Peer(mosquitto.host, mosquitto.port)
    gw.subscribe(gateway_topic("demo", "gw-1", "plan", mqtt_topic_prefix))
    try:
        async with running_app(settings) as c:
            services = c.app.state.services
            await wait_until(lambda: services.worker.connected, "the cloud's MQTT worker to connect")
            await _weather_farm(c)
            noon = T0 + 3 * DAY + 12 * HOUR
            services.planning.clock = lambda: noon
            published = services.commands.plans.counts["published"]
            d = (await c.post("/api/v1/zones/z1/plan")).json()
            assert services.commands.plans.counts["published"] == published + 1  # once per planning pass
            (cmd,) = await _planner_commands(c)
            assert d["command_ids"] == [cmd["id"]] and cmd["not_before_ms"] == T0 + 3 * DAY + 22 * HOUR
            plans = await _plans(gw, lambda p: [x["id"] for x in p["commands"]] == [cmd["id"]])
            last = plans[-1]
            assert last["issued_ms"] == noon and last["valid_until_ms"] == noon + 7_200_000
            assert "sig" not in last["commands"][0]  # no signing key in this cloud
            await c.post("/api/v1/zones/z1/plan")
            again = await _plans(gw, lambda p: p["plan_id"] not in {x["plan_id"] for x in plans})
            assert [x["id"] for x in again[-1]["commands"]] == [cmd["id"]]
    finally:
        gw.close()


async def _plans(peer: Peer, wanted: Any) -> list[dict]:
    """Plans read off the gateway's plan topic until one satisfies `wanted`."""
    plans: list[dict] = []
    deadline = time.monotonic() + 15
    while not plans or not wanted(plans[-1]):
        assert time.monotonic() < deadline, f"no wanted plan among {plans}"
        body = json.loads((await peer.get(15)).payload)
        if "plan_id" in body:
            plans.append(body)
    return plans


@pytest.mark.mosquitto
async def test_an_unsigned_copy_under_a_real_id_changes_nothing_and_the_command_still_runs(
        tmp_path, mosquitto, mqtt_topic_prefix):
    """Someone on the gateway's command topic sends an unsigned command reusing the id of a real command waiting
    in the plan: the gateway refuses it, the cloud counts the refusal but does not reject the real command, and
    at its not-before the plan still delivers the real, signed command to the node."""
    async with farm(tmp_path, mosquitto, mqtt_topic_prefix) as f:
        cmd = await _command(f, now_ms() + 4000)
        await wait_until(lambda: _plan_ids(f) == [cmd["id"]], "the plan with the command at the gateway")
        forged = make_command(cmd["id"], "irr-01", 1, "open", 3600, 7200, now_ms(), now_ms() + 600_000)
        config = f.gateway.config
        f.node.publish(gateway_topic(config.site, config.gateway_id, "cmd", config.topic_root), encode(forged))
        outcomes = f.client.app.state.services.commands.ack_outcomes
        await wait_until(lambda: outcomes["replay_refused"] == 1, "the cloud to hear of the refusal")
        state = (await f.client.get(f"/api/v1/commands/{cmd['id']}")).json()["state"]
        refused = dict(f.gateway.relay.refused)
        got: list[tuple[dict, int]] = []
        await wait_until(lambda: bool(got.extend(_commands_at_node(f)) or got), "the command at the node", 20)
    assert state in (CommandState.CREATED, CommandState.SENT)  # sent: the cloud's own copy once due
    assert refused == {"unsigned": 1}
    (body, at_ms), = got
    assert body["id"] == cmd["id"] and body["sig"] and body["duration_s"] == 5 and at_ms >= cmd["not_before_ms"]
