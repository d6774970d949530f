"""HIL fault injection: the primitives on emulated hardware, and the four fault scenarios end to end."""

from __future__ import annotations

import asyncio
import errno
import json
import socket
from pathlib import Path
from types import SimpleNamespace

import aiomqtt
import pytest

from furrow.cloud.storage import Reading
from furrow.edge import commands
from furrow.edge.crc import crc16_modbus
from furrow.firmware.outbox import Outbox
from furrow.gateway import load_config
from furrow.hil import nodes
from furrow.hil.faults import (
    BusFaults,
    Fault,
    FaultPlan,
    FaultyValve,
    LinkCut,
    NodeSlot,
    drifting_clock,
    fault_soil_probes,
    gateway_toml,
    kill_times,
    reboot_mqtt_node,
)
from furrow.hil.mosquitto import MosquittoBroker
from furrow.hil.scenarios import RunOptions, all_scenarios
from furrow.hil.scenarios._fault_rig import irrigation_slot
from furrow.hil.scenarios.gateway_crash import crash_plan
from furrow.hil.verdict import Issued, Ledger, Opening, account, audit_valves
from furrow.hil.virtual_farm import VirtualFarm, VirtualZone

T0 = 1_767_225_600_000


def farm() -> VirtualFarm:
    f = VirtualFarm([VirtualZone("north"), VirtualZone("south")], seed=5)
    f.advance(T0 / 1000)
    return f


def open_cmd(cmd_id: str, valve: int = 1, duration_s: int = 10, max_runtime_s: int = 20, at: int = T0) -> bytes:
    return commands.encode(commands.make_command(cmd_id, "irr-01", valve, "open", duration_s, max_runtime_s, at,
                                                 at + 60_000))


# -- the schedule -------------------------------------------------------------------------


def test_kill_times_repeat_for_a_seed_and_keep_their_gaps():
    """The same seed gives the same kill moments; each gap lies in the range asked for."""
    a, b = kill_times(7, 5, 0.0, 1.0, 2.5), kill_times(7, 5, 0.0, 1.0, 2.5)
    assert a == b and a != kill_times(8, 5, 0.0, 1.0, 2.5)
    gaps = [y - x for x, y in zip([0.0, *a], a, strict=False)]
    assert all(1.0 - 1e-6 <= g <= 2.5 + 1e-6 for g in gaps), gaps


def test_fault_plan_finds_active_and_starting_faults_and_names_a_bad_field():
    """A plan answers which fault is active on a target now and which start in a step; a bad kind is named."""
    plan = FaultPlan([Fault("wan_outage", "gw", 10.0, 5.0), Fault("gateway_kill", "gw", 3.0)])
    assert plan.active("wan_outage", "gw", 12.0) is not None
    assert plan.active("wan_outage", "gw", 15.0) is None
    assert [f.kind for f in plan.starting(0.0, 11.0)] == ["gateway_kill", "wan_outage"]
    with pytest.raises(ValueError, match="kind='meteor'"):
        Fault("meteor", "gw", 1.0)
    with pytest.raises(ValueError, match="duration_s=-1"):
        Fault("leak", "irr-01", 1.0, -1)


def test_gateway_crash_plan_repeats_for_its_seed_with_every_fault_it_promises():
    """The gateway-crash schedule is a pure function of the seed: at least three kills, both node
    resets among them, the broker restart after the last kill."""
    plan = crash_plan(5)
    assert [f.start_s for f in plan.faults] == [f.start_s for f in crash_plan(5).faults]
    kills = plan.of_kind("gateway_kill")
    assert len(kills) >= 3 and all(0.1 <= f.duration_s <= 0.6 for f in kills)
    assert [f.target for f in plan.of_kind("node_reboot") + plan.of_kind("node_brownout")] == ["soil-01", "soil-02"]
    (restart,) = plan.of_kind("broker_restart")
    assert restart.start_s > kills[-1].start_s


# -- sensors, valves, flow ------------------------------------------------------------------


def test_probe_faults_reach_the_report_as_fault_codes_and_values(tmp_path):
    """A disconnected probe is reported as the fault "disconnected", a stuck one repeats its
    value, a noisy one scatters; the healthy probe keeps reporting numbers."""
    f = farm()
    core = nodes.soil_node(f, "soil-01", "north", [10, 30, 60], tmp_path, 1000, lambda: T0 / 1000)
    probes = fault_soil_probes(core, seed=3)
    probes[10].set("disconnected")
    probes[30].set("stuck")
    probes[60].set("noisy", noise_counts=4000)
    vwc: dict[int, list] = {10: [], 30: [], 60: []}
    for i in range(6):
        for up in core.tick(T0 + i * 1000):
            for r in up["readings"]:
                if r["name"] == "vwc_pct":
                    vwc[r["depth_cm"]].append(r.get("fault") or r["value"])
    assert set(vwc[10]) == {"disconnected"}
    assert len(vwc[30]) >= 3 and len(set(vwc[30])) == 1
    assert len(set(vwc[60])) == len(vwc[60]) >= 3  # noise: no two alike


def test_stuck_closed_valve_makes_the_controller_abort_for_no_flow(tmp_path):
    """A run on a valve stuck closed sees no flow and the controller aborts it; the drive log
    has the one open interval, closed well inside the max runtime."""
    f, ledger = farm(), Ledger()
    slot, valves, meter, _ = irrigation_slot(f, "irr-01", ["north"], tmp_path, 60_000, ledger, no_flow_ms=5000)
    valves[0].set_mode("stuck_closed")
    slot.on_heartbeat(T0)
    slot.on_command(open_cmd("c-1"), T0)
    for t in range(T0, T0 + 8000, 500):
        f.advance(t / 1000)
        meter.advance(t / 1000)
        slot.on_heartbeat(t)
        slot.tick(t)
    states = [(a["state"], a.get("reason") or "") for a in ledger.acks]
    assert states[-1][0] == "aborted" and "no flow" in states[-1][1], states
    (interval,) = valves[0].intervals
    assert interval[0] == T0 and 5000 <= interval[1] - interval[0] < 20_000


def test_stuck_open_valve_and_burst_pipe_are_reported_as_leaks(tmp_path):
    """A valve stuck open keeps the water flowing after its run: once the pipe has had time to
    drain the controller reports leak_l_min > 0; a burst pipe (meter leak) does the same."""
    f, ledger = farm(), Ledger()
    slot, valves, meter, _ = irrigation_slot(f, "irr-01", ["north"], tmp_path, 60_000, ledger, leak_settle_ms=2000)
    valves[0].set_mode("stuck_open")
    slot.on_command(open_cmd("c-1", duration_s=2), T0)

    def leak_readings(start: int) -> list[float]:
        seen = []
        for t in range(start, start + 6000, 250):
            f.advance(t / 1000)
            meter.advance(t / 1000)
            slot.on_heartbeat(t)
            for up in slot.tick(t)[1]:
                seen += [r["value"] for r in up["readings"] if r["name"] == "leak_l_min"]
        return seen

    assert max(leak_readings(T0)) > 0
    assert valves[0].is_open is False and f.valve_flow_l_min("irr-01") > 0  # drive closed, water flows
    valves[0].set_mode("ok")  # repaired: the leak ends, and that is reported too
    assert leak_readings(T0 + 6000) == [0.0]
    meter.leak_l_min = 4.0
    assert leak_readings(T0 + 12_000) == [4.0]
    assert slot.stats["leaks"] >= 2


def test_reboot_resumes_seq_above_the_last_and_ends_the_interrupted_run(tmp_path):
    """A reset mid-run: the drive drops closed, the new core never reuses a seq, and it ends the
    interrupted run "aborted" with the reset's cause from its journal."""
    f, ledger = farm(), Ledger()
    slot, valves, _meter, _ = irrigation_slot(f, "irr-01", ["north"], tmp_path, 1000, ledger)
    slot.on_command(open_cmd("c-1"), T0)
    for t in range(T0, T0 + 3000, 500):
        slot.tick(t)
    seqs_before = {k[1] for k in ledger.readings}
    slot.brownout()
    assert valves[0].is_open is False and slot.boots == 2
    acks, _ups = slot.tick(T0 + 3500)
    assert [(a["id"], a["state"], a["reason"]) for a in acks] == [("c-1", "aborted", "brownout")]
    for t in range(T0 + 4000, T0 + 7000, 500):
        slot.tick(t)
    seqs_after = {k[1] for k in ledger.readings} - seqs_before
    assert seqs_after and min(seqs_after) > max(seqs_before)
    assert slot.on_command(open_cmd("c-1"), T0 + 7000)[0]["state"] == "aborted"  # a retry is not run again


def test_reboot_of_an_mqtt_node_keeps_what_its_outbox_had_not_sent(tmp_path):
    """The outbox is read back from flash at the reset: every message not yet acknowledged is still there."""
    box = Outbox(str(tmp_path / "n.outbox"), slots=16, slot_size=256)
    for i in range(5):
        box.append("t", b"m%d" % i)
    box.peek()
    box.pop()  # m0 acknowledged
    runner = SimpleNamespace(outbox=box)
    slot = NodeSlot(lambda _why: SimpleNamespace(tick=lambda now: []))
    reboot_mqtt_node(runner, slot)
    left = []
    while (m := runner.outbox.peek()) is not None:
        left.append(m[1])
        runner.outbox.pop()
    assert runner.outbox is not box and slot.boots == 2
    assert left[-4:] == [b"m1", b"m2", b"m3", b"m4"]  # maybe m0 again (at-least-once), never one missing


def test_full_flash_refuses_journal_writes_and_the_valve_still_closes(tmp_path):
    """With the flash full the journal write fails (ENOSPC, counted) and the run still ends on time."""
    f, ledger = farm(), Ledger()
    slot, valves, _meter, flash = irrigation_slot(f, "irr-01", ["north"], tmp_path, 60_000, ledger)
    flash.full = True
    slot.on_command(open_cmd("c-1", duration_s=2), T0)
    for t in range(T0, T0 + 4000, 500):
        slot.on_heartbeat(t)
        slot.tick(t)
    assert flash.refused > 0 and slot.stats["journal_errors"] > 0
    assert valves[0].intervals == [[T0, T0 + 2000]]
    with pytest.raises(OSError) as e:
        flash.save({})
    assert e.value.errno == errno.ENOSPC


def test_drifting_clock_runs_fast_by_its_ppm_from_its_offset():
    """200 ppm fast from +120 s: after 1000 s of base time the node reads 1000.2 s later, plus the offset."""
    base = [T0]
    clock = drifting_clock(lambda: base[0], ppm=200.0, offset_ms=120_000)
    assert clock() == T0 + 120_000
    base[0] += 1_000_000
    assert clock() == T0 + 1_000_000 + 120_000 + 200


def test_faulty_valve_logs_only_drive_changes_in_the_controllers_time():
    """The drive log opens and closes on changes only, stamped by the clock it is given."""
    f, now = farm(), [T0]
    valve = FaultyValve(f, "irr-01", 1)
    f.connect_valve("irr-01", 1, "north", 10.0)
    valve.clock = lambda: now[0]
    valve.set(False)
    valve.set(True)
    now[0] += 5000
    valve.set(True)
    valve.set(False)
    assert valve.intervals == [[T0, T0 + 5000]]


def test_bus_faults_drop_garble_or_pass_replies_per_unit():
    """A dead unit hears nothing; a CRC fault leaves a reply whose CRC no longer checks; a timeout loses it."""
    reply = b"\x01\x04\x02\x00\x2a"
    reply += crc16_modbus(reply).to_bytes(2, "little")
    line = BusFaults(seed=1)
    line.dead.add(3)
    line.crc_p[1] = 1.0
    line.timeout_p[2] = 1.0
    assert not line.hears(3) and line.hears(1)
    garbled = line.on_reply(1, reply)
    assert garbled is not None and garbled[:-2] == reply[:-2] and crc16_modbus(garbled[:-2]) != int.from_bytes(
        garbled[-2:], "little")
    assert line.on_reply(2, reply) is None
    assert line.on_reply(4, reply) == reply
    assert line.counts == {"crc_errors": 1, "timeouts": 1, "unheard": 1}


async def test_link_cut_refuses_while_down_and_carries_bytes_on_the_same_port_after():
    """Down: open connections drop and a new connect is refused at once; up: bytes flow again on the same port."""

    async def echo(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        while data := await r.read(100):
            w.write(data)
            await w.drain()
        w.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    link = LinkCut("127.0.0.1", server.sockets[0].getsockname()[1])
    await link.start()
    try:
        r, w = await asyncio.open_connection(link.host, link.port)
        w.write(b"hi")
        assert await asyncio.wait_for(r.read(2), 5) == b"hi"
        link.down()
        assert await asyncio.wait_for(r.read(10), 5) == b""  # dropped
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection(link.host, link.port)
        port = link.port
        await link.up()
        r, w = await asyncio.open_connection(link.host, link.port)
        w.write(b"again")
        assert link.port == port and await asyncio.wait_for(r.read(5), 5) == b"again"
        w.close()
    finally:
        await link.close()
        server.close()
        await server.wait_closed()
    assert link.outages == 1


def test_gateway_toml_is_a_config_the_gateway_loads(tmp_path):
    """What GatewayProcess writes is read back by the gateway's own loader, tables and all."""
    path = tmp_path / "gw.toml"
    path.write_text(gateway_toml({"site": "hil", "gateway_id": "gw-1", "buffer_path": str(tmp_path / "b.db"),
                                  "forward_interval": 0.1, "http_port": 0, "irrigation_nodes": ["irr-01"],
                                  "farm_broker": {"host": "127.0.0.1", "port": 1884, "keepalive": 5},
                                  "cloud_broker": {"host": "127.0.0.1", "port": 1885}}))
    config = load_config(path)
    assert (config.farm_broker.port, config.cloud_broker.port, config.irrigation_nodes) == (1884, 1885, ["irr-01"])


# -- accounting ------------------------------------------------------------------------------


def reading(node: str, seq: int, name: str = "vwc_pct", depth: int | None = 10) -> Reading:
    return Reading("s", "g", node, "soil", name, "%", depth, None, 20.0, None, seq, T0)


def test_account_counts_lost_and_stored_twice():
    """A sent reading not stored is lost; a stored reading never sent (a report under a new seq) is a duplicate."""
    sent = {("n", 1, "vwc_pct", 10, None), ("n", 2, "vwc_pct", 10, None)}
    got = account(sent, [reading("n", 1), reading("n", 3)])
    assert (got.sent, got.stored, got.lost, got.duplicates) == (2, 2, 1, 1)
    assert account(sent, [reading("n", 1), reading("n", 2)]).lost == 0


def test_valve_audit_finds_late_starts_overruns_and_opens_without_a_command():
    """Judged on the valves' own record against the commands held: an opening after the expiry of the
    latest command for that valve is late, one held past that command's max runtime is an overrun,
    and an opening of a valve no command was for counts as an overrun (no ack is consulted)."""
    openings = [Opening("irr-01", 1, T0 + 1000, T0 + 3000), Opening("irr-01", 1, T0 + 70_000, T0 + 71_000),
                Opening("irr-01", 1, T0 + 80_000, T0 + 95_000), Opening("irr-01", 2, T0 + 99_000, None)]
    issued = [Issued("ok", "irr-01", 1, T0, T0 + 60_000, 10), Issued("late", "irr-01", 1, T0 + 50_000, T0 + 60_000, 10),
              Issued("long", "irr-01", 1, T0 + 80_000, T0 + 90_000, 10)]
    audit = audit_valves(openings, issued, end_ms=T0 + 100_000)
    assert (audit.opens, audit.late, audit.overruns, audit.unexplained) == (4, 1, 2, 1)
    assert audit_valves(openings[:1], issued, T0 + 100_000).overruns == 0


# -- the broker --------------------------------------------------------------------------------


@pytest.mark.mosquitto
async def test_mosquitto_restart_keeps_its_port_and_a_sessions_queued_message(tmp_path):
    """A graceful restart of the HIL broker keeps the port, the offline session and the QoS 1 message queued for it."""
    broker = MosquittoBroker(tmp_path / "broker")
    await broker.start()
    try:
        async with aiomqtt.Client(broker.host, broker.port, identifier="sub-1", clean_session=False) as sub:
            await sub.subscribe("t/x", qos=1)
        async with aiomqtt.Client(broker.host, broker.port, identifier="pub-1") as pub:
            await pub.publish("t/x", b"kept", qos=1)
        port = broker.port
        await broker.restart(down_s=0.2)
        assert broker.port == port and broker.restarts == 1
        async with aiomqtt.Client(broker.host, broker.port, identifier="sub-1", clean_session=False) as sub:
            message = await asyncio.wait_for(anext(aiter(sub.messages)), 10)
        assert message.payload == b"kept"
    finally:
        await broker.stop()
    with socket.socket() as s:
        assert s.connect_ex((broker.host, broker.port)) != 0  # stopped


# -- the scenarios -------------------------------------------------------------------------------


async def run_scenario(name: str, tmp_path: Path, seed: int = 1) -> dict:
    result = await all_scenarios()[name].run(RunOptions(workdir=tmp_path, seed=seed))
    summary = result.summary()
    print(json.dumps(summary))
    assert summary["broker"] == "mosquitto"
    assert summary["readings_sent"] > 0 and summary["readings_stored"] == summary["readings_sent"], summary
    assert (summary["readings_lost"], summary["duplicates_stored"]) == (0, 0), summary
    assert (summary["commands_executed_late"], summary["valve_overruns"]) == (0, 0), summary
    return summary


@pytest.mark.mosquitto
async def test_wan_outage_loses_nothing_and_keeps_to_the_plan_only_within_its_validity(tmp_path):
    """A farm day without the cloud: every reading stored once after; the plan's runs inside its
    validity ran, none after it; the cloud's command sent during the outage expired unrun."""
    s = await run_scenario("wan-outage", tmp_path)
    assert s["simulated_days"] >= 1.0 and s["gateway_pending_peak"] > 0 and s["cloud_link_disconnects"] >= 1
    assert (s["plan_runs_inside_validity"], s["plan_runs_inside_validity_started"]) == (2, 2), s
    assert (s["plan_runs_after_validity"], s["plan_runs_after_validity_started"]) == (2, 0), s
    assert s["valve_opens"] == 2 and s["irrigation_mm"] > 0
    assert s["outage_command_state"] == "expired" and s["outage_command_started"] is False
    assert s["disconnected_probe_readings_stored"] > 0


@pytest.mark.mosquitto
async def test_leak_and_stuck_valve_detected_and_no_valve_open_past_its_max_runtime(tmp_path):
    """Stuck closed: the run aborts for no flow; stuck open and a burst pipe: leak alarms stored
    in the cloud; a full flash: the run still completes; every valve closed at the end."""
    s = await run_scenario("leak-and-stuck-valve", tmp_path)
    assert s["normal_run"] == "completed" and s["normal_run_volume_l"] > 0
    assert s["stuck_closed_run"] == "aborted" and "no flow" in s["stuck_closed_reason"]
    assert s["leak_alarms_irr_01"] >= 1 and s["leak_alarms_irr_02"] >= 1, s
    assert s["full_flash_run"] == "completed" and s["full_flash_journal_writes_refused"] > 0
    assert s["valve_opens"] == 4 and s["unexplained_opens"] == 0 and s["valves_open_at_end"] == 0


@pytest.mark.mosquitto
@pytest.mark.postgres
async def test_node_unreachable_commands_expire_and_never_run_late(tmp_path, pg_database, monkeypatch):
    """With the cloud's database on PostgreSQL: a command for a node out of radio reach, and one for a
    node dead on the bus, both expire; the late delivery is refused by the node; the controls complete."""
    monkeypatch.setenv("FURROW_HIL_DATABASE_URL", pg_database)
    s = await run_scenario("node-unreachable", tmp_path)
    assert (s["mqtt_control"], s["modbus_control"]) == ("completed", "completed"), s
    assert (s["mqtt_unreachable_command"], s["modbus_unreachable_command"]) == ("expired", "expired"), s
    assert s["mqtt_late_delivery_refused"] is True and "expired" in s["mqtt_late_refusal_reason"]
    assert s["modbus_writes_failed"] >= 1 and s["bus_requests_unheard"] > 0
    assert s["bus_crc_errors"] + s["bus_timeouts"] > 0
    assert s["valve_opens"] == 2 and s["commands_issued"] == 4


@pytest.mark.mosquitto
async def test_gateway_crash_stores_every_reading_exactly_once(tmp_path):
    """The gateway process SIGKILLed at least three times under load, plus node resets and a broker
    restart: every (node, seq) stored once in the cloud and taken once by the gateway's buffer."""
    s = await run_scenario("gateway-crash", tmp_path, seed=3)
    assert s["gateway_kills"] >= 3 and s["broker_restarts"] == 1 and s["nodes"] == 17
    assert s["gateway_reports_stored"] == s["reports_made"], s
    assert s["gateway_pending_at_end"] == 0 and s["gateway_exit_status"] == 0 and s["outbox_dropped"] == 0


def test_a_fault_scenario_report_draws_each_valve_drive(tmp_path):
    """The valves' logged open intervals become step series and the report's valves.png."""
    from furrow.hil.report import write_report
    from furrow.hil.scenarios import ScenarioResult
    from furrow.hil.scenarios._fault_rig import valve_timeline
    from furrow.hil.virtual_farm import VirtualFarm, VirtualZone

    farm = VirtualFarm([VirtualZone("z1")])
    farm.connect_valve("irr-01", 1, "z1", 12.0)
    valve = FaultyValve(farm, "irr-01", 1)
    now = [10_000]
    valve.clock = lambda: now[0]
    valve.set(True)
    now[0] = 12_500
    valve.set(False)
    series = valve_timeline([valve])
    assert series == {"valve_open:irr-01/1": ([0.0, 0.0, 0.0, 2.5, 2.5], [0.0, 0.0, 1.0, 1.0, 0.0])}
    result = ScenarioResult(1, 1, 0, 0, 0, 0, 0.0, 0, 1, 0, 0, series=series)
    report = write_report("leak-and-stuck-valve", "a test", RunOptions(workdir=tmp_path), result, tmp_path / "r")
    assert (tmp_path / "r" / "valves.png").stat().st_size > 1000 and "![valves.png](valves.png)" in report.read_text()
