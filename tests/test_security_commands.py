"""Signed commands (contract 1.1): the cloud signs with Ed25519, the gateway verifies, refuses
and reports unsigned, tampered, wrong-key, replayed and expired commands, and a node with a key
runs only commands carrying its MAC, through the real cloud, gateway, Mosquitto and emulated
nodes. The node's own checks, on CPython and MicroPython, are in test_firmware_command_mac.py."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from furrow.cloud.commands.signing import (
    CommandSigner,
    generate_key,
    load_node_keys,
    load_private_keys,
    load_public_key,
)
from furrow.edge import commands, modbus_map, signing
from furrow.edge.errors import ContractError
from furrow.edge.topics import node_topic
from furrow.firmware.config import validate as validate_firmware_config
from furrow.gateway.app import Gateway
from furrow.gateway.command_auth import FORGET_AFTER_EXPIRY_MS, CommandAuth, Refusal, SeenIds
from furrow.gateway.observe import health
from furrow.hil import nodes
from furrow.hil.modbus_bus import ModbusBus
from furrow.hil.mqtt_node import MqttNodeRunner
from furrow.hil.virtual_farm import VirtualFarm, VirtualZone
from tests.cloud_support import eventually, local_settings, running_app
from tests.gateway_support import Peer, gateway_config, gw_topic, running_gateway, wait_until
from tests.servers import free_port
from tests.test_firmware_board_config import _Clock, main  # noqa: F401 - `main`: firmware/main.py on fake pins

T0 = 1_767_225_600_000
HOUR = 3_600_000
NODE_KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, Any]:
    """Two cloud key pairs made by the CLI's code: `old` and the newer `new`, plus a stranger's."""
    d = tmp_path / "keys"
    old, _, old_pub = generate_key(d, "k20260101000000-aaaa")
    new, _, new_pub = generate_key(d, "k20260601000000-bbbb")
    stranger, _, stranger_pub = generate_key(tmp_path / "stranger", "k20260601000000-cccc")
    return {"dir": d, "old": old, "new": new, "old_pub": old_pub, "new_pub": new_pub,
            "private": load_private_keys(d), "stranger": load_private_keys(tmp_path / "stranger"),
            "stranger_kid": stranger, "stranger_pub": stranger_pub}


def _command(cmd_id: str = "c-0123456789abcdef01234567", node: str = "irr-01", now: int = T0,
             ttl_ms: int = HOUR, **over: Any) -> dict[str, Any]:
    c = dict(cmd_id=cmd_id, node=node, valve=1, action="open", duration_s=60, max_runtime_s=120,
             not_before_ms=now, expires_ms=now + ttl_ms)
    c.update(over)
    return commands.make_command(**c)


def _auth(keys: dict[str, Any], kids: tuple[str, ...], site: str = "farm", gateway: str = "gw-1") -> CommandAuth:
    return CommandAuth({k: load_public_key(keys["dir"] / f"{k}.pub") for k in kids}, site, gateway, None)


def _refusal(auth: CommandAuth, cmd: dict[str, Any]) -> str | None:
    try:
        auth.verify(commands.validate_command(cmd))
    except Refusal as e:
        return e.kind
    return None


# -- the cloud signs, the gateway's check ----------------------------------------------------------------


def test_signed_command_verifies_and_every_tampered_field_is_refused(keys: dict[str, Any]) -> None:
    """A command the cloud signed verifies at the gateway; any field altered after signing is a bad signature."""
    signer = CommandSigner.create(keys["private"])
    auth = _auth(keys, (keys["old"], keys["new"]))
    good = signer.sign(_command(), "farm", "gw-1", T0)
    assert good["kid"] == keys["new"] and len(good["sig"]) == 128  # the newest key signs
    assert _refusal(auth, good) is None
    for field, value in {"valve": 2, "action": "close", "duration_s": 120, "max_runtime_s": 7200,
                         "not_before_ms": T0 - HOUR, "expires_ms": T0 + 24 * HOUR, "issued_ms": T0 + 1,
                         "id": "c-other", "node": "irr-02"}.items():
        assert _refusal(auth, dict(good, **{field: value})) == signing.REFUSED_SIGNATURE, field


def test_unsigned_unknown_key_and_wrong_gateway_are_refused_by_kind(keys: dict[str, Any]) -> None:
    """No signature, an untrusted key, and a command signed for another gateway each get their own reason."""
    auth = _auth(keys, (keys["new"],))
    assert _refusal(auth, _command()) == signing.REFUSED_UNSIGNED
    stranger = CommandSigner.create(keys["stranger"])
    assert _refusal(auth, stranger.sign(_command(), "farm", "gw-1", T0)) == signing.REFUSED_UNKNOWN_KEY
    signer = CommandSigner.create(keys["private"])
    assert _refusal(auth, signer.sign(_command(), "farm", "gw-2", T0)) == signing.REFUSED_WRONG_GATEWAY
    # a stranger's signature under a trusted kid does not verify either
    forged = dict(stranger.sign(_command(), "farm", "gw-1", T0), kid=keys["new"])
    forged["sig"] = keys["stranger"][keys["stranger_kid"]].sign(signing.signed_bytes(forged)).hex()
    assert _refusal(auth, forged) == signing.REFUSED_SIGNATURE


def test_key_rotation_both_verify_during_overlap_and_a_retired_kid_is_refused(keys: dict[str, Any]) -> None:
    """While the gateway trusts both kids, commands signed by either verify; a retired kid is refused."""
    by_old = CommandSigner.create(keys["private"], kid=keys["old"]).sign(_command(), "farm", "gw-1", T0)
    by_new = CommandSigner.create(keys["private"]).sign(_command(), "farm", "gw-1", T0)
    overlap = _auth(keys, (keys["old"], keys["new"]))
    assert _refusal(overlap, by_old) is None and _refusal(overlap, by_new) is None
    retired = _auth(keys, (keys["new"],))
    assert _refusal(retired, by_old) == signing.REFUSED_UNKNOWN_KEY and _refusal(retired, by_new) is None


def test_seen_ids_refuse_a_second_claim_survive_reopening_and_forget_after_expiry(tmp_path: Path) -> None:
    """An id is claimed once, still known after the file is reopened, released on a failed delivery, and
    forgotten only a day after its command expired."""
    path = tmp_path / "seen.sqlite"
    seen = SeenIds(path)
    assert seen.claim("c-1", T0 + HOUR, T0) and not seen.claim("c-1", T0 + HOUR, T0)
    assert seen.claim("c-2", T0 + HOUR, T0)
    seen.release("c-2")
    seen.close()
    seen = SeenIds(path)
    assert not seen.claim("c-1", T0 + HOUR, T0 + 2 * HOUR)  # expired an hour ago: still remembered
    assert seen.claim("c-2", T0 + HOUR, T0)  # released: a re-send is not a replay
    assert seen.claim("c-1", T0 + HOUR, T0 + HOUR + FORGET_AFTER_EXPIRY_MS + 1) and len(seen) == 1
    seen.close()


def test_cli_generates_lists_and_makes_node_keys(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """`furrow cloud keys generate` makes a private key only its owner reads, `list` shows the newest signing,
    and `node-key` prints a key the node's config and the cloud's node key file share."""
    from furrow.cli import main as furrow

    assert furrow(["cloud", "keys", "generate", "--dir", str(tmp_path / "k")]) == 0
    first = capsys.readouterr().out.strip()
    assert furrow(["cloud", "keys", "generate", "--dir", str(tmp_path / "k")]) == 0
    second = capsys.readouterr().out.strip()
    assert furrow(["cloud", "keys", "list", "--dir", str(tmp_path / "k")]) == 0
    listed = capsys.readouterr().out.strip().splitlines()
    assert (tmp_path / "k" / f"{first}.key").stat().st_mode & 0o077 == 0
    newest = max(first, second)
    assert [line.split("\t")[0] for line in listed] == sorted([first, second])
    assert [line.split("\t")[-1] for line in listed if line.startswith(newest)] == ["signs"]
    assert furrow(["cloud", "keys", "node-key", "irr-01", "--file", str(tmp_path / "nodes.json")]) == 0
    hex_key = capsys.readouterr().out.strip()
    assert load_node_keys(tmp_path / "nodes.json") == {"irr-01": bytes.fromhex(hex_key)}
    _, errors = validate_firmware_config({"node": "irr-01", "site": "farm", "role": "irrigation", "link": "mqtt",
                                          "mqtt": {"host": "10.0.0.1"}, "valves": [{"pin": 25}], "cmd_key": hex_key})
    assert not [e for e in errors if e[0] == "cmd_key"]


# -- the real gateway against a real Mosquitto ------------------------------------------------------------


def _now_ms() -> int:
    return int(time.time() * 1000)


def _signed_config(tmp_path: Path, mosquitto: Any, root: str, keys: dict[str, Any], **over: Any) -> Any:
    trusted = {keys["old"]: str(keys["old_pub"]), keys["new"]: str(keys["new_pub"])}
    return gateway_config(tmp_path, mosquitto.host, mosquitto.port, root, command_auth={"keys": trusted}, **over)


async def _acks(peer: Peer, count: int) -> dict[str, dict[str, Any]]:
    """The next `count` acks the gateway sent the cloud, by command id."""
    out: dict[str, dict[str, Any]] = {}
    while len(out) < count:
        ack = commands.decode_ack((await peer.get()).payload)
        out[ack["id"]] = ack
    return out


@pytest.mark.mosquitto
async def test_gateway_relays_signed_commands_and_refuses_and_reports_forgeries(tmp_path, mosquitto,
                                                                                mqtt_topic_prefix, keys) -> None:
    """Only the signed command reaches the node; unsigned, tampered, wrong-key, wrong-gateway, expired and replayed
    ones each come back to the cloud as 'rejected' with their reason, and /metrics counts them by reason."""
    port = free_port()
    cfg = _signed_config(tmp_path, mosquitto, mqtt_topic_prefix, keys, http_port=port)
    signer = CommandSigner.create(keys["private"])
    now = _now_ms()

    def sign(cmd_id: str, gateway: str = cfg.gateway_id, **over: Any) -> dict[str, Any]:
        return signer.sign(_command(cmd_id, **{"now": now, **over}), cfg.site, gateway, now)

    good = sign("c-good")
    tampered = dict(sign("c-tampered"), duration_s=100)
    wrong_key = CommandSigner.create(keys["stranger"]).sign(_command("c-wrong-key", now=now), cfg.site,
                                                            cfg.gateway_id, now)
    refused = {"c-unsigned": (_command("c-unsigned", now=now), signing.REFUSED_UNSIGNED),
               "c-tampered": (tampered, signing.REFUSED_SIGNATURE),
               "c-wrong-key": (wrong_key, signing.REFUSED_UNKNOWN_KEY),
               "c-wrong-gw": (sign("c-wrong-gw", gateway="gw-elsewhere"), signing.REFUSED_WRONG_GATEWAY),
               "c-expired": (sign("c-expired", now=now - 2 * HOUR), signing.REFUSED_EXPIRED)}
    to_node, to_cloud = Peer(mosquitto.host, mosquitto.port), Peer(mosquitto.host, mosquitto.port)
    try:
        to_node.subscribe(node_topic(cfg.site, "irr-01", "cmd", cfg.topic_root))
        to_cloud.subscribe(gw_topic(cfg, "ack"))
        async with running_gateway(cfg) as gw:
            to_cloud.publish(gw_topic(cfg, "cmd"), commands.encode(good))
            relayed = await to_node.get()
            for cmd, _ in refused.values():
                to_cloud.publish(gw_topic(cfg, "cmd"), commands.encode(cmd))
            to_cloud.publish(gw_topic(cfg, "cmd"), commands.encode(good))  # the replay
            acks = await _acks(to_cloud, len(refused) + 1)
            async with httpx.AsyncClient(timeout=5) as client:
                metrics = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
                body = (await client.get(f"http://127.0.0.1:{port}/health")).json()
            stats = gw.stats()
    finally:
        to_node.close()
        to_cloud.close()
    assert json.loads(relayed.payload)["id"] == "c-good" and relayed.payload == commands.encode(good)
    assert stats["commands_relayed"] == 1
    for cmd_id, (_, kind) in refused.items():
        assert acks[cmd_id]["state"] == "rejected" and signing.refusal_kind(acks[cmd_id]["reason"]) == kind, cmd_id
    assert acks["c-good"]["state"] == "rejected" and acks["c-good"]["reason"].startswith("replayed:")
    assert stats["relay"]["commands_refused"] == {k: 1 for k in (*[k for _, k in refused.values()], "replayed")}
    for kind in ("unsigned", "bad signature", "unknown key", "wrong gateway", "expired", "replayed"):
        assert f'furrow_gateway_commands_refused_total{{reason="{kind}"}} 1.0' in metrics, kind
    assert "furrow_gateway_commands_signed 1.0" in metrics and body["commands"] == "signed"


@pytest.mark.mosquitto
async def test_replay_is_refused_after_a_gateway_restart(tmp_path, mosquitto, mqtt_topic_prefix, keys) -> None:
    """The ids of relayed commands survive a restart: the same signed command sent again after it is refused."""
    cfg = _signed_config(tmp_path, mosquitto, mqtt_topic_prefix, keys)
    now = _now_ms()
    raw = commands.encode(CommandSigner.create(keys["private"]).sign(_command("c-once", now=now), cfg.site,
                                                                     cfg.gateway_id, now))
    peer = Peer(mosquitto.host, mosquitto.port)
    try:
        peer.subscribe(node_topic(cfg.site, "irr-01", "cmd", cfg.topic_root))
        peer.subscribe(gw_topic(cfg, "ack"))
        async with running_gateway(cfg) as gw:
            peer.publish(gw_topic(cfg, "cmd"), raw)
            first = await peer.get()
            await wait_until(lambda: gw.stats()["commands_relayed"] == 1, "the first relay")
        async with running_gateway(cfg) as gw:
            peer.publish(gw_topic(cfg, "cmd"), raw)
            second = await peer.get()
            await wait_until(lambda: gw.stats()["relay"]["commands_refused"].get("replayed") == 1, "the refusal")
            relayed_after = gw.stats()["commands_relayed"]
    finally:
        peer.close()
    assert first.topic.endswith("/cmd") and json.loads(first.payload)["id"] == "c-once"
    ack = commands.decode_ack(second.payload)
    assert second.topic == gw_topic(cfg, "ack") and ack["state"] == "rejected" and ack["reason"].startswith("replayed:")
    assert relayed_after == 0


def test_gateway_without_keys_warns_and_reports_commands_unsigned(tmp_path, caplog) -> None:
    """With no trusted keys the gateway logs a loud warning at start and /health says "commands": "unsigned"."""
    cfg = gateway_config(tmp_path, "127.0.0.1", 1883, "t/unsigned")
    with caplog.at_level(logging.WARNING, logger="furrow.gateway.app"), Gateway(cfg) as gw:
        _, body = health(gw.stats(), gw.clock())
    assert body["commands"] == "unsigned"
    assert any("UNSIGNED" in r.getMessage() for r in caplog.records)


# -- cloud, gateway and node together ---------------------------------------------------------------------


@pytest.mark.mosquitto
async def test_cloud_signed_command_runs_on_a_node_checking_its_mac_and_refusals_reach_the_cloud(
        tmp_path, mosquitto, mqtt_topic_prefix, keys) -> None:
    """Through the real cloud, gateway and an emulated node with a key: a signed command with its nmac completes;
    a replay of it is refused without changing it; a command signed by a key the gateway does not trust ends
    'rejected' in the cloud with the gateway's reason."""
    root = mqtt_topic_prefix
    node_keys = tmp_path / "node-keys.json"
    node_keys.write_text(json.dumps({"irr-sec": NODE_KEY.hex()}))
    settings = local_settings(tmp_path / "cloud", mqtt_enabled=True, mqtt_host=mosquitto.host,
                              mqtt_port=mosquitto.port, topic_root=root, command_signing_keys_dir=keys["dir"],
                              command_node_keys_file=node_keys)
    cfg = _signed_config(tmp_path, mosquitto, root, keys)
    farm = VirtualFarm([VirtualZone("z1")])
    core, meter = nodes.irrigation_node(farm, "irr-sec", ["z1"], tmp_path / "flash", 1000)
    core.cmd_key = NODE_KEY

    def advance(now_ms: int) -> None:
        farm.advance(now_ms / 1000)
        meter.advance(now_ms / 1000)

    runner = MqttNodeRunner(core, cfg.site, mosquitto.host, mosquitto.port, root=root, tick_s=0.05, on_tick=advance)
    wire = Peer(mosquitto.host, mosquitto.port)
    wire.subscribe(gw_topic(cfg, "cmd"))  # what the cloud sends, as someone on the link would see it
    stop = asyncio.Event()
    node_task = asyncio.create_task(runner.run(stop))
    try:
        async with running_app(settings) as client, running_gateway(cfg):
            services = client.app.state.services

            async def routed() -> bool:
                return await services.routes.get("irr-sec") is not None

            await eventually(routed, "irr-sec to report through the gateway")
            cloud = services.commands  # the service behind POST /api/v1/commands
            cmd_id = (await cloud.create(node="irr-sec", valve=1, action="open", duration_s=1))[0].id

            async def state_is(want: str, cid: str) -> bool:
                return (await cloud.get(cid)).state == want

            await eventually(lambda: state_is("completed", cmd_id), "the signed command to complete")
            sent = commands.decode_command((await wire.get()).payload)
            wire.publish(gw_topic(cfg, "cmd"), commands.encode(sent))  # replayed by someone on the link
            await eventually(lambda: _true(cloud.ack_outcomes["replay_refused"] == 1), "the replay refusal")
            assert await state_is("completed", cmd_id)

            cloud.sender.signer = CommandSigner.create(keys["stranger"])  # a key the gateway does not trust
            other_id = (await cloud.create(node="irr-sec", valve=1, action="open", duration_s=1))[0].id
            await eventually(lambda: state_is("rejected", other_id), "the wrong-key command to be rejected")
            other = await cloud.get(other_id)
    finally:
        stop.set()
        await asyncio.wait_for(node_task, 15)
        wire.close()
    assert sent["id"] == cmd_id and sent["kid"] == keys["new"] and sent["gateway"] == cfg.gateway_id
    assert sent["nmac"] == signing.node_mac(NODE_KEY, sent)
    assert core.stats["mac_refused"] == 0 and core.stats["commands"] == 1
    assert other.reason.startswith("unknown key:") and keys["stranger_kid"] in other.reason


async def _true(value: bool) -> bool:
    return value


@pytest.mark.mosquitto
async def test_modbus_node_runs_a_signed_command_through_the_gateway_and_refuses_a_bad_mac(
        tmp_path, mosquitto, mqtt_topic_prefix, keys) -> None:
    """Over the emulated RS-485 bus, the real gateway writes a cloud-signed command with its nmac into the mailbox and
    the keyed node completes it; a command the gateway itself makes up (no node key) is rejected by the node."""
    farm = VirtualFarm([VirtualZone("z1")])
    core, meter = nodes.irrigation_node(farm, "irr-rs485", ["z1"], tmp_path / "flash", 1000)
    core.cmd_key = NODE_KEY

    def advance(now_ms: int) -> None:
        farm.advance(now_ms / 1000)
        meter.advance(now_ms / 1000)

    bus = ModbusBus(port=0, baud=115_200, tick_s=0.05, on_tick=advance)
    bus.add(core, 3)
    await bus.start()
    stop = asyncio.Event()
    ticking = asyncio.create_task(bus.run(stop))
    device = {"node_id": "irr-rs485", "host": "127.0.0.1", "port": bus.port, "unit": 3, "role": "irrigation",
              "commands": True, "poll_interval": 0.2, "timeout": 1}
    cfg = _signed_config(tmp_path, mosquitto, mqtt_topic_prefix, keys, modbus=[device])
    now = _now_ms()
    signer = CommandSigner.create(keys["private"], node_keys={"irr-rs485": NODE_KEY})
    good = signer.sign(_command("c-rs485-good-0000000000000", node="irr-rs485", now=now - 1000, duration_s=1),
                       cfg.site, cfg.gateway_id, now)
    made_up = _command("c-rs485-made-up-00000000000", node="irr-rs485", now=now - 1000, duration_s=1)
    made_up["nmac"] = signing.node_mac(OTHER_KEY, made_up)
    peer = Peer(mosquitto.host, mosquitto.port)
    states: dict[str, list[str]] = {}

    async def collect(until: Any) -> None:
        while not until():
            ack = commands.decode_ack((await peer.get(30)).payload)
            states.setdefault(ack["id"], []).append(ack["state"])

    try:
        peer.subscribe(gw_topic(cfg, "ack"))
        async with running_gateway(cfg) as gw:
            await wait_until(lambda: gw.stats()["modbus"]["irr-rs485"]["polls"] > 0, "the first poll")
            peer.publish(gw_topic(cfg, "cmd"), commands.encode(good))
            await collect(lambda: "completed" in states.get(good["id"], []))
            await gw.poller.write_command(commands.validate_command(made_up))
            await collect(lambda: "rejected" in states.get(made_up["id"], []))
    finally:
        peer.close()
        stop.set()
        await ticking
        await bus.close()
    assert len(modbus_map.encode_command_regs(good)) == modbus_map.CMD_COUNT_MAC  # the nmac went over the bus
    assert states[made_up["id"]] == ["rejected"] and core.stats["mac_refused"] == 1
    assert core.valve_states() == [False] and farm.zones["z1"].irrigated_mm > 0


# -- signed plans, and refusals that must not block a real command (review of issue 9) -------------------


def _plan(signer: CommandSigner | None, cmds: list[dict[str, Any]], issued: int, plan_id: str = "p-real",
          site: str = "farm", gateway: str = "gw-1", validity_ms: int = HOUR) -> dict[str, Any]:
    plan = {"v": "1.1", "plan_id": plan_id, "issued_ms": issued, "valid_until_ms": issued + validity_ms,
            "commands": cmds}
    return signer.sign_plan(plan, site, gateway) if signer is not None else plan


def _plan_refusal(auth: CommandAuth, plan: dict[str, Any]) -> str | None:
    try:
        auth.verify_plan(plan)
    except Refusal as e:
        return e.kind
    return None


def test_a_signed_plan_verifies_and_every_altered_envelope_field_is_refused(keys: dict[str, Any]) -> None:
    """The cloud's plan signature covers its id, times, gateway and ordered command ids: changing any of them,
    dropping the signature, or passing a command's signature off as a plan's is refused."""
    signer = CommandSigner.create(keys["private"])
    auth = _auth(keys, (keys["new"],))
    cmds = [signer.sign(_command(f"c-{i}"), "farm", "gw-1", T0) for i in range(3)]
    plan = _plan(signer, cmds, T0)
    assert _plan_refusal(auth, plan) is None and plan["kid"] == keys["new"]
    for field, value in {"plan_id": "p-other", "issued_ms": 10**15, "valid_until_ms": T0 + 48 * HOUR,
                         "commands": cmds[:2], "site": "elsewhere"}.items():
        assert _plan_refusal(auth, dict(plan, **{field: value})) == signing.REFUSED_SIGNATURE, field
    assert _plan_refusal(auth, dict(plan, commands=[cmds[1], cmds[0], cmds[2]])) == signing.REFUSED_SIGNATURE
    assert _plan_refusal(auth, dict(plan, sig=cmds[0]["sig"])) == signing.REFUSED_SIGNATURE
    assert _plan_refusal(auth, _plan(None, [], 10**15)) == signing.REFUSED_UNSIGNED
    assert _plan_refusal(auth, _plan(signer, cmds, T0, gateway="gw-2")) == signing.REFUSED_WRONG_GATEWAY
    with pytest.raises(ContractError) as e:
        auth.verify_plan(dict(plan, issued_ms="x"))
    assert e.value.field == "issued_ms"


async def _next_command(peer: Peer) -> dict[str, Any]:
    """The next command (not a heartbeat) a node's topic carried."""
    while True:
        body = json.loads((await peer.get()).payload)
        if "id" in body:
            return body


@pytest.mark.mosquitto
async def test_forged_plans_are_refused_and_the_real_plan_still_runs(tmp_path, mosquitto, mqtt_topic_prefix,
                                                                     keys) -> None:
    """With the cloud's signed plan kept, an unsigned empty plan with a huge issue time, a plan whose issued_ms is
    a string, the real plan with its command list emptied, a replayed older signed plan and a plan nested deeper
    than Python parses are all refused without touching the cloud link, and the real plan's command reaches the
    node on time."""
    cfg = _signed_config(tmp_path, mosquitto, mqtt_topic_prefix, keys)
    signer = CommandSigner.create(keys["private"])
    now = _now_ms()
    real_cmd = signer.sign(_command("c-planned", now=now + 1500), cfg.site, cfg.gateway_id, now)
    real = _plan(signer, [real_cmd], now, site=cfg.site, gateway=cfg.gateway_id)
    older = _plan(signer, [signer.sign(_command("c-cancelled", now=now + 1500), cfg.site, cfg.gateway_id, now - 1)],
                  now - 1, plan_id="p-older", site=cfg.site, gateway=cfg.gateway_id)
    forged = [commands.encode(_plan(None, [], 10**15, plan_id="p-wipe")),
              commands.encode(dict(_plan(None, [], now), plan_id="p-x", issued_ms="x")),
              commands.encode(dict(real, commands=[])),
              commands.encode(older),
              b'{"plan_id": "p-deep", "commands": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"]
    node = Peer(mosquitto.host, mosquitto.port)
    try:
        node.subscribe(node_topic(cfg.site, "irr-01", "cmd", cfg.topic_root))
        async with running_gateway(cfg) as gw:
            node.publish(gw_topic(cfg, "cmd"), commands.encode(real))
            await wait_until(lambda: gw.plans.stats()["plan_id"] == "p-real", "the real plan to be kept")
            for raw in forged:
                node.publish(gw_topic(cfg, "cmd"), raw)
            relay = gw.relay
            await wait_until(lambda: relay.counts.get("plans_refused", 0) + relay.counts["commands_invalid"] == 4,
                             "the forged plans to be refused")
            got = await _next_command(node)
            await wait_until(lambda: gw.plans.stats()["delivered"] == 1, "the delivery to be counted")
            plan_stats, cloud = gw.plans.stats(), dict(gw.cloud.counts)
    finally:
        node.close()
    assert got["id"] == "c-planned" and got["sig"] == real_cmd["sig"]
    assert relay.counts["plans_refused"] == 2 and relay.counts["commands_invalid"] == 2  # "x" and the deep one
    assert plan_stats["plan_id"] == "p-real" and plan_stats["plans"] == 1 and plan_stats["delivered"] == 1
    assert cloud["connects"] == 1 and cloud["stage_errors"] == 0  # no plan tore the cloud link down


@pytest.mark.mosquitto
async def test_a_plan_command_already_relayed_is_not_sent_again_after_a_restart(tmp_path, mosquitto,
                                                                               mqtt_topic_prefix, keys) -> None:
    """A command the cloud sent and the gateway relayed is also in the kept plan: after a gateway restart the
    plan does not deliver it a second time (the replay store remembers it), and the node hears only the next
    command."""
    cfg = _signed_config(tmp_path, mosquitto, mqtt_topic_prefix, keys)
    signer = CommandSigner.create(keys["private"])
    now = _now_ms()
    cmd = signer.sign(_command("c-relayed", now=now), cfg.site, cfg.gateway_id, now)
    after = signer.sign(_command("c-after", now=now), cfg.site, cfg.gateway_id, now)
    plan = _plan(signer, [cmd], now, site=cfg.site, gateway=cfg.gateway_id)
    node = Peer(mosquitto.host, mosquitto.port)
    try:
        node.subscribe(node_topic(cfg.site, "irr-01", "cmd", cfg.topic_root))
        async with running_gateway(cfg) as gw:
            node.publish(gw_topic(cfg, "cmd"), commands.encode(cmd))
            first = await _next_command(node)
            node.publish(gw_topic(cfg, "cmd"), commands.encode(plan))
            await wait_until(lambda: gw.plans.stats()["plan_id"] == "p-real", "the plan to be kept")
        async with running_gateway(cfg) as gw:
            await wait_until(lambda: gw.plans.stats()["delivered"] == 1, "the plan to pass the command")
            node.publish(gw_topic(cfg, "cmd"), commands.encode(after))
            second = await _next_command(node)
    finally:
        node.close()
    assert first["id"] == "c-relayed" and second["id"] == "c-after"


@pytest.mark.mosquitto
async def test_a_command_a_newer_signed_plan_drops_cannot_be_replayed_alone(tmp_path, mosquitto, mqtt_topic_prefix,
                                                                             keys) -> None:
    """The cloud's newer plan leaves out a command still to come (cancelled): that command, sent alone with its
    still-valid signature, is refused as replayed, while the command the plan keeps still goes through."""
    cfg = _signed_config(tmp_path, mosquitto, mqtt_topic_prefix, keys)
    signer = CommandSigner.create(keys["private"])
    now = _now_ms()

    def sign(cmd_id: str) -> dict[str, Any]:
        return signer.sign(_command(cmd_id, now=now + 60_000), cfg.site, cfg.gateway_id, now)

    keep, cancelled = sign("c-keep"), sign("c-cancelled")
    first = _plan(signer, [keep, cancelled], now, plan_id="p-1", site=cfg.site, gateway=cfg.gateway_id)
    second = _plan(signer, [keep], now + 1, plan_id="p-2", site=cfg.site, gateway=cfg.gateway_id)
    peer = Peer(mosquitto.host, mosquitto.port)
    try:
        peer.subscribe(gw_topic(cfg, "ack"))
        peer.subscribe(node_topic(cfg.site, "irr-01", "cmd", cfg.topic_root))
        async with running_gateway(cfg) as gw:
            for plan in (first, second):
                peer.publish(gw_topic(cfg, "cmd"), commands.encode(plan))
                await wait_until(lambda p=plan: gw.plans.stats()["plan_id"] == p["plan_id"], "the plan to be kept")
            peer.publish(gw_topic(cfg, "cmd"), commands.encode(cancelled))
            peer.publish(gw_topic(cfg, "cmd"), commands.encode(keep))
            got: dict[str, dict[str, Any]] = {}
            while len(got) < 2:
                body = json.loads((await peer.get()).payload)
                if "id" in body:
                    got[body["id"]] = body
    finally:
        peer.close()
    assert got["c-cancelled"]["state"] == "rejected" and got["c-cancelled"]["reason"].startswith("replayed:")
    assert got["c-keep"]["sig"] == keep["sig"]  # the command itself, relayed to the node
