"""wan-outage: the cloud unreachable for a farm day.

Four firmware nodes (two soil probes, one of them on a clock running two
minutes fast, a weather station and an irrigation controller) report through
the real gateway to the cloud's ingest on a real broker. The gateway's link
to the cloud goes through a `LinkCut`. Just before the outage the cloud
issues four irrigation runs to come, two inside the plan validity and two
after it. The cloud holds them (send-ahead 0: a command goes out at its
not-before) and publishes the gateway's plan with them, valid for
`plan_validity_s` (cloud/commands/plans.py): the runs reach the farm only
through that plan. During the outage the cloud also issues a command of its
own, which cannot get through.

It proves: every reading the nodes made is stored once after the link
returns (none lost, none twice); the gateway ran the plan's commands inside
the validity window and none after it (measured on the valves' drive); and
the cloud's command, expired before the link came back, never ran.

Time: 1 wall second is 2 farm hours (scale 7200); the outage is 12 s.
"""

from __future__ import annotations

import asyncio
import copy
import time

from furrow.gateway import Gateway, GatewayConfig
from furrow.hil import nodes
from furrow.hil.faults import LinkCut, NodeSlot, drifting_clock, fault_soil_probes
from furrow.hil.mqtt_node import wall_clock_ms
from furrow.hil.scenarios import RunOptions, Scenario, ScenarioResult
from furrow.hil.scenarios._fault_rig import (
    Rig,
    ScaledClock,
    irrigation_slot,
    run_gateway,
    scaled_backoff,
    wait_until,
)
from furrow.hil.verdict import Issued, stored_readings
from furrow.hil.virtual_farm import VirtualFarm, VirtualZone

SCALE = 7200.0  # farm seconds per wall second: a farm day in 12 s
HOUR = 3600.0
REPORT_FARM_S = 2 * HOUR  # every 2 farm hours: 1 s, the firmware's shortest interval
OUTAGE_FARM_S = 24 * HOUR
# The plan holds for 14 farm hours (7 s) from its issue, a second (2 farm hours) before the
# outage: the first 12 farm hours of it, give or take the time the cloud takes to issue.
VALIDITY_FARM_S = 14 * HOUR
# plan runs, farm hours into the outage: two inside the validity, two after
PLAN_RUNS_H = (2.0, 6.0, 15.0, 18.0)
RUN_WINDOW_FARM_S = 4 * HOUR  # each run may start within 4 farm hours of its time (2 s, whole seconds)


async def run(options: RunOptions) -> ScenarioResult:
    clock = ScaledClock(SCALE)
    farm = VirtualFarm([VirtualZone("north"), VirtualZone("south")], seed=options.seed)
    farm.advance(clock.s())
    interval_ms = int(clock.wall(REPORT_FARM_S) * 1000)
    with scaled_backoff(1.0):
        cloud = {"command_send_ahead_s": 0, "plan_validity_s": round(clock.wall(VALIDITY_FARM_S))}
        async with Rig(options, "wan-outage", cloud_settings=cloud) as rig:
            assert rig.broker is not None and rig.cloud is not None
            state = rig.folder / "nodes"
            irr, valves, meter, _flash = irrigation_slot(farm, "irr-01", ["north"], state, interval_ms, rig.ledger,
                                                         rate_mm_h=4.0, heartbeat_timeout_ms=3000)

            def soil(node: str, zone: str) -> NodeSlot:
                return NodeSlot(lambda _why: nodes.soil_node(farm, node, zone, [10, 30, 60], state, interval_ms,
                                                             clock.s), rig.ledger.uplink)

            def advance(_now_ms: int) -> None:
                farm.advance(clock.s())
                meter.advance(clock.s())

            weather = NodeSlot(lambda _why: nodes.weather_node(farm, "weather-01", state, interval_ms, clock.s),
                               rig.ledger.uplink)
            soil1 = soil("soil-01", "north")
            probes = fault_soil_probes(soil1.inner, options.seed)
            rig.mqtt_node(soil1)
            rig.mqtt_node(soil("soil-02", "south"), encoding="binary",
                          clock_ms=drifting_clock(wall_clock_ms, ppm=200.0, offset_ms=120_000))
            rig.mqtt_node(weather)
            rig.mqtt_node(irr, on_tick=advance)

            wan = LinkCut(rig.broker.host, rig.broker.port)
            await wan.start()
            raw = rig.gateway_raw(cloud_port=wan.port, irrigation_nodes=["irr-01"], heartbeat_interval=0.25,
                                  cloud_broker={"host": wan.host, "port": wan.port, "keepalive": 2, "timeout": 2})
            stop = asyncio.Event()
            gateway, task = await run_gateway(GatewayConfig.model_validate(raw), stop)
            try:
                rig.start_nodes()
                await wait_until(lambda: rig.cloud.routed("irr-01"), "irr-01's first report in the cloud")
                plan, outage_at = await _issue_runs(rig, clock, gateway)
                issued = [Issued.of(c) for c in plan["commands"]]
                await asyncio.sleep(max(0.0, outage_at - time.time()))
                rig.say(f"WAN down for {OUTAGE_FARM_S / HOUR:g} farm hours ({clock.wall(OUTAGE_FARM_S):g} s)")
                wan.down()
                pending: tuple[list[float], list[float]] = ([], [])
                outage_end = time.time() + clock.wall(OUTAGE_FARM_S)
                blocked = None
                # soil-01's probes misbehave during the outage: a cut cable at 10 cm,
                # a probe stuck at 30 cm, a noisy one at 60 cm
                probes[10].set("disconnected")
                probes[30].set("stuck")
                probes[60].set("noisy")
                while time.time() < outage_end:
                    if blocked is None and time.time() > outage_at + clock.wall(3 * HOUR):
                        # the cloud sends a 2-hour run during the outage: it cannot get through
                        blocked = await rig.cloud.command("irr-01", 1, duration_s=1, ttl_s=1, max_runtime_s=2)
                        issued.append(Issued.of(blocked))
                    pending[0].append(round((time.time() - outage_at) * SCALE / HOUR, 2))
                    pending[1].append(float(gateway.stats()["pending"]))
                    await asyncio.sleep(0.25)
                await wan.up()
                for probe in probes.values():
                    probe.set("ok")
                rig.say("WAN back; draining")
                await wait_until(lambda: gateway.cloud.connected, "the gateway's cloud link to return")
                await asyncio.sleep(clock.wall(2 * HOUR))
                simulated_days = clock.elapsed_days()
                await rig.stop_nodes()
                await wait_until(lambda: gateway.stats()["pending"] == 0, "the gateway buffer to drain")
                await rig.drain()
                assert blocked is not None
                await wait_until(lambda: _final(rig, blocked.id), "the blocked command to be settled")
                blocked_state = (await rig.cloud.state(blocked.id)).state
                plan_stats = gateway.plans.stats()
                gw_stats = gateway.stats()
            finally:
                stop.set()
                await asyncio.wait_for(task, 30)
                gateway.close()
                await wan.close()
            started = {a["id"] for a in rig.ledger.acks if a["state"] == "started"}
            valid_until = plan["valid_until_ms"]
            inside = [c["id"] for c in plan["commands"] if c["expires_ms"] <= valid_until]
            after = [c["id"] for c in plan["commands"] if c["not_before_ms"] >= valid_until]
            soil = await stored_readings(rig.cloud.services.store, ["soil-01"])
            faults = [r for r in soil if r.fault == "disconnected"]
            extra = {
                "disconnected_probe_readings_stored": len(faults),
                "outage_farm_hours": OUTAGE_FARM_S / HOUR,
                "plan_validity_farm_hours": VALIDITY_FARM_S / HOUR,
                "plan_runs_inside_validity": len(inside),
                "plan_runs_inside_validity_started": len(started & set(inside)),
                "plan_runs_after_validity": len(after),
                "plan_runs_after_validity_started": len(started & set(after)),
                "plan_commands_delivered": plan_stats["delivered"],
                "gateway_pending_peak": int(max(pending[1], default=0)),
                "gateway_duplicates": gw_stats["duplicates"],
                "cloud_link_disconnects": gw_stats["cloud"].get("disconnects", 0),
                "outage_command_state": str(blocked_state),
                "outage_command_started": blocked.id in started,
                "soil_02_clock_ahead_s": 120,
            }
            return await rig.result(simulated_days, issued, valves, farm, extra,
                                    {"gateway pending readings (vs farm hours into the outage)": pending})


async def _issue_runs(rig: Rig, clock: ScaledClock, gateway: Gateway) -> tuple[dict, float]:
    """The cloud issues the coming runs; each issue publishes the gateway's plan again. Returns
    the plan the gateway keeps once it holds all four runs, and when the outage starts."""
    assert rig.cloud is not None
    outage_at = time.time() + 1.0
    start_ms = int(outage_at * 1000)
    ids = []
    for hours in PLAN_RUNS_H:
        nb = start_ms + int(clock.wall(hours * HOUR) * 1000)
        # a 2-farm-hour run (1 s), at most 4 farm hours (2 s) open
        cmd = await rig.cloud.command("irr-01", 1, duration_s=1, ttl_s=round(clock.wall(RUN_WINDOW_FARM_S)),
                                      max_runtime_s=2, not_before_ms=nb)
        ids.append(cmd.id)

    def kept() -> list[str]:
        plan = gateway.plans.plan
        return [c["id"] for c in plan["commands"]] if plan else []

    await wait_until(lambda: kept() == ids, "the cloud's plan with the four runs at the gateway")
    return copy.deepcopy(gateway.plans.plan), outage_at


async def _final(rig: Rig, cmd_id: str) -> bool:
    assert rig.cloud is not None
    return str((await rig.cloud.state(cmd_id)).state) in ("expired", "rejected", "aborted", "completed")


SCENARIO = Scenario("wan-outage", "the cloud unreachable for a farm day: nothing lost or stored twice, the last "
                    "plan kept only within its validity", run)
