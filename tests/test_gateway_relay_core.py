"""The relay's decisions without a broker (gateway/relay_core.py, autonomy.py), on a simulated clock:
what a command, a plan or a node ack makes the gateway send, as the HIL harness drives it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from furrow.cloud.commands.signing import CommandSigner, generate_key, load_private_keys, load_public_key
from furrow.edge import commands
from furrow.edge.cancel import make_cancel
from furrow.edge.errors import ContractError
from furrow.gateway import DurableBuffer
from furrow.gateway.autonomy import Heartbeats, PlanKeeper
from furrow.gateway.command_auth import CommandAuth, SeenIds
from furrow.gateway.relay_core import RelayCore
from furrow.hil.clock import SimClock

SITE, GW = "farm", "gw-1"
MIN = 60_000
HOUR = 60 * MIN


@pytest.fixture
def clock() -> SimClock:
    return SimClock(datetime(2026, 6, 1, tzinfo=UTC))


@pytest.fixture(scope="module")
def signer_and_key(tmp_path_factory: pytest.TempPathFactory) -> tuple[CommandSigner, str, Any]:
    d = tmp_path_factory.mktemp("keys")
    kid, _, _ = generate_key(d, "k20260101000000-aaaa")
    return CommandSigner.create(load_private_keys(d)), kid, load_public_key(d / f"{kid}.pub")


def command(cmd_id: str, at: int, **over: Any) -> dict[str, Any]:
    c = commands.make_command(cmd_id, "irr-01", 1, "open", 600, 900, at, at + HOUR)
    return {**c, **over}


def signed_core(signer_and_key: tuple[CommandSigner, str, Any], tmp_path: Path,
                tally: DurableBuffer | None = None) -> RelayCore:
    _, kid, public = signer_and_key
    auth = CommandAuth({kid: public}, SITE, GW, SeenIds(tmp_path / "seen.sqlite"))
    return RelayCore(site=SITE, gateway_id=GW, auth=auth, plans=PlanKeeper(tmp_path / "plan.json"), tally=tally)


def plan(cmds: list[dict[str, Any]], issued: int, plan_id: str = "p-1", signer: CommandSigner | None = None,
         validity_ms: int = 6 * HOUR) -> dict[str, Any]:
    p = {"v": "1.1", "plan_id": plan_id, "issued_ms": issued, "valid_until_ms": issued + validity_ms,
         "commands": cmds}
    return signer.sign_plan(p, SITE, GW) if signer is not None else p


def test_a_valid_command_goes_to_its_node_bytes_unchanged_and_is_tracked(clock: SimClock) -> None:
    """Without keys a valid command is handed on, bytes unchanged, and tracked as relayed at the clock's time."""
    core = RelayCore(site=SITE, gateway_id=GW)
    raw = commands.encode(command("c-1", clock.ms()))
    out = core.command(raw, clock.ms())
    assert [(nc.node, nc.raw) for nc in out.to_nodes] == [("irr-01", raw)] and out.to_cloud == []
    core.sent(out.to_nodes[0])
    assert core.commands()["c-1"]["state"] == "relayed" and core.commands()["c-1"]["updated_ms"] == clock.ms()
    assert core.counts["commands_relayed"] == 1


def test_an_invalid_command_goes_nowhere_and_is_counted_with_its_reason(clock: SimClock) -> None:
    """A command breaking the contract, or not JSON, makes nothing to send and is counted with its reason."""
    core = RelayCore(site=SITE, gateway_id=GW)
    for raw in (commands.encode(command("c-bad", clock.ms(), valve=99)), b"not json", b"[" * 100_000):
        out = core.command(raw, clock.ms())
        assert out.to_nodes == [] and out.to_cloud == []
    assert core.counts["commands_invalid"] == 3 and "not valid JSON" in (core.last_invalid or "")


def test_a_command_expired_on_arrival_is_answered_rejected_at_the_simulated_time(clock: SimClock) -> None:
    """A command whose expiry passed on the simulated clock is not relayed; the cloud gets 'rejected: expired'."""
    core = RelayCore(site=SITE, gateway_id=GW)
    raw = commands.encode(command("c-late", clock.ms()))
    clock.advance_to(clock.s() + 2 * 3600)
    out = core.command(raw, clock.ms())
    (ack,) = [commands.decode_ack(a) for a in out.to_cloud]
    assert out.to_nodes == [] and ack["state"] == "rejected" and ack["reason"].startswith("expired:")
    assert ack["ts_ms"] == clock.ms() and core.counts["commands_expired"] == 1


def test_signed_relay_refuses_a_replay_and_a_forgery_never_blocks_the_real_command(
        clock: SimClock, signer_and_key: tuple[CommandSigner, str, Any], tmp_path: Path) -> None:
    """With keys: an unsigned copy under a real id is refused without recording the id, so the signed command
    still goes; the same signed command again is refused as replayed."""
    signer = signer_and_key[0]
    core = signed_core(signer_and_key, tmp_path)
    real = signer.sign(command("c-real", clock.ms()), SITE, GW, clock.ms())
    forged = core.command(commands.encode(command("c-real", clock.ms())), clock.ms())
    first = core.command(commands.encode(real), clock.ms())
    again = core.command(commands.encode(real), clock.ms())
    assert commands.decode_ack(forged.to_cloud[0])["reason"].startswith("unsigned:") and forged.to_nodes == []
    assert [nc.command["id"] for nc in first.to_nodes] == ["c-real"]
    assert again.to_nodes == [] and commands.decode_ack(again.to_cloud[0])["reason"].startswith("replayed:")
    assert core.refused == {"unsigned": 1, "replayed": 1}


def test_a_plan_command_goes_once_at_its_not_before_and_never_after_the_plans_validity(clock: SimClock) -> None:
    """On the simulated clock a planned command is due at its not-before, once; a plan past its validity sends
    nothing more."""
    core = RelayCore(site=SITE, gateway_id=GW)
    t0 = clock.ms()
    first, later = command("c-22h", t0 + 22 * HOUR), command("c-30h", t0 + 30 * HOUR)
    assert core.plan(commands.encode(plan([first, later], t0, validity_ms=24 * HOUR)), t0)
    assert core.due(t0 + 22 * HOUR - 1).to_nodes == []
    out = core.due(t0 + 22 * HOUR)
    assert [nc.raw for nc in out.to_nodes] == [commands.encode(first)]
    assert core.due(t0 + 22 * HOUR + MIN).to_nodes == []  # once
    assert core.due(t0 + 30 * HOUR).to_nodes == []  # the plan lapsed at 24 h
    assert core.plans.stats()["delivered"] == 1 and core.plans.stats()["expired_plans"] == 1


def test_a_plan_does_not_deliver_a_command_the_cloud_already_sent(clock: SimClock) -> None:
    """The cloud's own copy went through the relay first: the plan leaves it alone at its not-before."""
    core = RelayCore(site=SITE, gateway_id=GW)
    t0 = clock.ms()
    cmd = command("c-1", t0 + HOUR)
    core.plan(commands.encode(plan([cmd], t0)), t0)
    assert len(core.command(commands.encode(cmd), t0 + HOUR).to_nodes) == 1
    assert core.due(t0 + HOUR).to_nodes == []


def test_a_plan_on_the_command_topic_from_an_older_cloud_is_kept(clock: SimClock) -> None:
    """A 1.1 cloud sends plans on gw/{id}/cmd: the relay keeps such a plan, and sends nothing for it."""
    core = RelayCore(site=SITE, gateway_id=GW)
    out = core.command(commands.encode(plan([command("c-1", clock.ms() + HOUR)], clock.ms())), clock.ms())
    assert out.to_nodes == [] and out.to_cloud == []
    assert core.plans.stats()["plan_id"] == "p-1" and core.counts["plans"] == 1


def test_a_command_a_newer_signed_plan_drops_is_refused_as_a_replay(
        clock: SimClock, signer_and_key: tuple[CommandSigner, str, Any], tmp_path: Path) -> None:
    """A newer signed plan leaves out a command still to come: its own valid signature cannot bring it back,
    while the kept command still goes at its time."""
    signer = signer_and_key[0]
    core = signed_core(signer_and_key, tmp_path)
    t0 = clock.ms()
    keep, dropped = (signer.sign(command(i, t0 + HOUR), SITE, GW, t0) for i in ("c-keep", "c-dropped"))
    assert core.plan(commands.encode(plan([keep, dropped], t0, "p-1", signer)), t0)
    assert core.plan(commands.encode(plan([keep], t0 + 1, "p-2", signer)), t0 + 1)
    refused = core.command(commands.encode(dropped), t0 + 2)
    assert refused.to_nodes == [] and commands.decode_ack(refused.to_cloud[0])["reason"].startswith("replayed:")
    assert [nc.command["id"] for nc in core.due(t0 + HOUR).to_nodes] == ["c-keep"]


def test_a_forged_plan_is_refused_and_the_plan_kept_before_stays(
        clock: SimClock, signer_and_key: tuple[CommandSigner, str, Any], tmp_path: Path) -> None:
    """With keys an unsigned plan is refused and counted; the signed plan kept before still delivers."""
    signer = signer_and_key[0]
    core = signed_core(signer_and_key, tmp_path)
    t0 = clock.ms()
    cmd = signer.sign(command("c-1", t0 + HOUR), SITE, GW, t0)
    assert core.plan(commands.encode(plan([cmd], t0, "p-real", signer)), t0)
    assert not core.plan(commands.encode(plan([], t0 + 10, "p-wipe")), t0 + 10)
    assert core.counts["plans_refused"] == 1 and core.plans.stats()["plan_id"] == "p-real"
    assert [nc.command["id"] for nc in core.due(t0 + HOUR).to_nodes] == ["c-1"]


def test_refusal_counts_kept_in_the_buffer_file_come_back_after_a_restart(
        clock: SimClock, signer_and_key: tuple[CommandSigner, str, Any], tmp_path: Path) -> None:
    """With the buffer as tally, a refused plan, an unsigned command and an invalid one are counted
    again by a new relay core on the same file (a restarted gateway)."""
    t0 = clock.ms()
    with DurableBuffer(tmp_path / "buffer.sqlite", clock=clock.ms) as buf:
        core = signed_core(signer_and_key, tmp_path, tally=buf)
        assert not core.plan(commands.encode(plan([], t0, "p-wipe")), t0)
        assert core.command(commands.encode(command("c-1", t0)), t0).to_nodes == []
        core.command(b"{", t0)
    with DurableBuffer(tmp_path / "buffer.sqlite", clock=clock.ms) as buf:
        again = signed_core(signer_and_key, tmp_path, tally=buf).stats()
    assert (again["plans_refused"], again["commands_invalid"], again["commands_refused"]) == (1, 1, {"unsigned": 1})


def test_a_mailbox_that_did_not_take_a_planned_command_gets_it_on_the_next_tick(
        clock: SimClock, signer_and_key: tuple[CommandSigner, str, Any], tmp_path: Path) -> None:
    """A Modbus device that did not answer: the id is released and the plan delivers it again; a command that
    cannot go over Modbus at all is answered 'rejected'."""
    signer = signer_and_key[0]
    core = signed_core(signer_and_key, tmp_path)
    t0 = clock.ms()
    cmd = signer.sign(command("c-mb", t0 + HOUR), SITE, GW, t0)
    core.plan(commands.encode(plan([cmd], t0, "p-1", signer)), t0)
    (nc,) = core.due(t0 + HOUR).to_nodes
    assert core.not_taken(nc, TimeoutError("no answer"), t0 + HOUR).to_cloud == []
    (again,) = core.due(t0 + HOUR + 1000).to_nodes
    out = core.not_taken(again, ContractError("id", "c-mb", "too long for the mailbox"), t0 + HOUR + 1000)
    ack = commands.decode_ack(out.to_cloud[0])
    assert ack["state"] == "rejected" and ack["reason"].startswith("cannot go over Modbus")


def test_the_kept_plan_survives_a_restart_with_what_it_delivered(clock: SimClock, tmp_path: Path) -> None:
    """The plan and its delivered ids are on disk: a new keeper on the same file delivers nothing twice."""
    t0 = clock.ms()
    core = RelayCore(site=SITE, gateway_id=GW, plans=PlanKeeper(tmp_path / "plan.json"))
    core.plan(commands.encode(plan([command("c-1", t0 + HOUR), command("c-2", t0 + 2 * HOUR)], t0)), t0)
    assert len(core.due(t0 + HOUR).to_nodes) == 1
    restarted = RelayCore(site=SITE, gateway_id=GW, plans=PlanKeeper(tmp_path / "plan.json"))
    assert [nc.command["id"] for nc in restarted.due(t0 + 2 * HOUR).to_nodes] == ["c-2"]


def test_node_acks_move_the_tracked_state(clock: SimClock) -> None:
    """A node's acks move the relay's view of the command, stamped with the time they came."""
    core = RelayCore(site=SITE, gateway_id=GW)
    core.command(commands.encode(command("c-1", clock.ms())), clock.ms())
    core.node_ack(commands.make_ack("c-1", "irr-01", "started", clock.ms()), clock.ms() + 5)
    entry = core.commands()["c-1"]
    assert entry["history"] == ["relayed", "started"] and entry["updated_ms"] == clock.ms() + 5


def test_heartbeats_reach_configured_and_seen_nodes_stamped_with_the_simulated_time(clock: SimClock) -> None:
    """Every configured or seen irrigation node gets one heartbeat, stamped with the clock's time."""
    seen: set[str] = {"irr-02"}
    beats = Heartbeats(SITE, GW, "furrow", ["irr-01"], seen)
    msgs = beats.messages(clock.ms())
    assert [t for t, _ in msgs] == ["furrow/v1/farm/node/irr-01/cmd", "furrow/v1/farm/node/irr-02/cmd"]
    assert all(b'"ts_ms": %d' % clock.ms() in p for _, p in msgs) and beats.sent == 2


# -- cancel (contract 1.2) ----------------------------------------------------------------------------


def test_a_signed_cancel_goes_through_though_its_id_was_relayed_and_the_command_after_it_is_refused(
        clock: SimClock, signer_and_key: tuple[CommandSigner, str, Any], tmp_path: Path) -> None:
    """The cancel carries the relayed command's id: it is relayed (twice, as the cloud re-sends it), not refused
    as a replay; a copy of the command afterwards is refused as replayed."""
    signer = signer_and_key[0]
    core = signed_core(signer_and_key, tmp_path)
    t0 = clock.ms()
    cmd = signer.sign(command("c-1", t0 + HOUR), SITE, GW, t0)
    assert len(core.command(commands.encode(cmd), t0).to_nodes) == 1
    cancel = commands.encode(signer.sign(make_cancel(cmd, t0 + 10), SITE, GW, t0 + 10))
    for at in (t0 + 10, t0 + 20):
        out = core.command(cancel, at)
        assert [nc.raw for nc in out.to_nodes] == [cancel] and out.to_cloud == []
        core.sent(out.to_nodes[0])
    again = core.command(commands.encode(cmd), t0 + 30)
    assert again.to_nodes == [] and commands.decode_ack(again.to_cloud[0])["reason"].startswith("replayed:")
    assert core.counts["cancels_relayed"] == 2 and core.commands()["c-1"]["state"] == "cancel relayed"


def test_a_cancel_that_overtakes_its_command_makes_the_command_a_replay(
        clock: SimClock, signer_and_key: tuple[CommandSigner, str, Any], tmp_path: Path) -> None:
    """A cancel before its command: the id is remembered, and the command arriving later never goes on."""
    signer = signer_and_key[0]
    core = signed_core(signer_and_key, tmp_path)
    t0 = clock.ms()
    cmd = signer.sign(command("c-1", t0 + HOUR), SITE, GW, t0)
    assert len(core.command(commands.encode(signer.sign(make_cancel(cmd, t0), SITE, GW, t0)), t0).to_nodes) == 1
    late = core.command(commands.encode(cmd), t0 + 5)
    assert late.to_nodes == [] and commands.decode_ack(late.to_cloud[0])["reason"].startswith("replayed:")


def test_a_forged_cancel_is_refused_and_the_planned_command_still_goes(
        clock: SimClock, signer_and_key: tuple[CommandSigner, str, Any], tmp_path: Path) -> None:
    """With keys an unsigned cancel is refused ('unsigned:'), goes nowhere, and leaves the plan alone."""
    signer = signer_and_key[0]
    core = signed_core(signer_and_key, tmp_path)
    t0 = clock.ms()
    cmd = signer.sign(command("c-1", t0 + HOUR), SITE, GW, t0)
    core.plan(commands.encode(plan([cmd], t0, "p-1", signer)), t0)
    forged = core.command(commands.encode(make_cancel(cmd, t0)), t0)
    assert forged.to_nodes == [] and commands.decode_ack(forged.to_cloud[0])["reason"].startswith("unsigned:")
    assert [nc.command["id"] for nc in core.due(t0 + HOUR).to_nodes] == ["c-1"]


def test_a_cancelled_command_leaves_the_plan_and_no_later_plan_or_restart_brings_it_back(
        clock: SimClock, tmp_path: Path) -> None:
    """Cancelled while the plan holds it: not delivered at its not-before, not by a newer plan that still
    lists it (built before the cancel), nor after a restart; the other planned command still goes."""
    t0 = clock.ms()
    core = RelayCore(site=SITE, gateway_id=GW, plans=PlanKeeper(tmp_path / "plan.json"))
    cancelled, kept = command("c-off", t0 + HOUR), command("c-on", t0 + HOUR)
    core.plan(commands.encode(plan([cancelled, kept], t0, "p-1")), t0)
    assert len(core.command(commands.encode(make_cancel(cancelled, t0 + 1)), t0 + 1).to_nodes) == 1
    core.plan(commands.encode(plan([cancelled, kept], t0 + 2, "p-2")), t0 + 2)
    restarted = RelayCore(site=SITE, gateway_id=GW, plans=PlanKeeper(tmp_path / "plan.json"))
    assert [nc.command["id"] for nc in restarted.due(t0 + HOUR).to_nodes] == ["c-on"]


def test_a_cancel_a_mailbox_does_not_take_keeps_its_id_remembered(
        clock: SimClock, signer_and_key: tuple[CommandSigner, str, Any], tmp_path: Path) -> None:
    """A Modbus node that refuses the cancel (a 1.1 node: exception 03) or does not answer: nothing is answered
    for the command's id and nothing released, so the command still cannot come through afterwards."""
    signer = signer_and_key[0]
    core = signed_core(signer_and_key, tmp_path)
    t0 = clock.ms()
    cmd = signer.sign(command("c-1", t0 + HOUR), SITE, GW, t0)
    (nc,) = core.command(commands.encode(signer.sign(make_cancel(cmd, t0), SITE, GW, t0)), t0).to_nodes
    assert core.not_taken(nc, RuntimeError("exception response 3"), t0).to_cloud == []
    assert core.command(commands.encode(cmd), t0 + 5).to_nodes == []
