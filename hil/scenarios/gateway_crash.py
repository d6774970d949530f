"""gateway-crash: the gateway SIGKILLed again and again under load.

Sixteen soil nodes and a weather station (firmware cores, each with its flash
outbox) publish through a real broker to `furrow gateway --config FILE`, a
real process, which the scenario SIGKILLs at seeded random moments and starts
again. Meanwhile two nodes reset (one a watchdog reboot, one a brownout) and
the broker itself restarts once. The cloud's ingest stores what the gateway
forwards.

It proves every (node, seq) the nodes made is stored exactly once in the
cloud (`readings_lost` = 0, `duplicates_stored` = 0), and that the gateway's
durable buffer took each report once however often it was redelivered
(`gateway_reports_stored` = the reports made).

Time: wall-clock (scale 1); each node reports every second, the firmware's
shortest interval.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid

import aiomqtt

from furrow.edge.payload import encode_json, make_reading, make_uplink
from furrow.edge.topics import node_topic
from furrow.gateway import DurableBuffer
from furrow.hil import nodes
from furrow.hil.faults import Fault, FaultPlan, GatewayProcess, NodeSlot, kill_times, reboot_mqtt_node
from furrow.hil.scenarios import RunOptions, Scenario, ScenarioResult
from furrow.hil.scenarios._fault_rig import GATEWAY, SITE, Rig, ScaledClock
from furrow.hil.virtual_farm import VirtualFarm, VirtualZone

SOIL_NODES = 16
KILLS = 4
FARM_CLIENT = f"furrow-gw-{SITE}-{GATEWAY}-farm"  # the gateway's farm broker client id (gateway/mqtt_source.py)


async def run(options: RunOptions) -> ScenarioResult:
    clock = ScaledClock(1.0)
    farm = VirtualFarm([VirtualZone("north"), VirtualZone("south")], seed=options.seed)
    farm.advance(clock.s())
    async with Rig(options, "gateway-crash") as rig:
        assert rig.cloud is not None and rig.broker is not None
        state = rig.folder / "nodes"
        slots: list[NodeSlot] = []
        for i in range(1, SOIL_NODES + 1):
            node, zone = f"soil-{i:02d}", ("north", "south")[i % 2]
            slots.append(NodeSlot(lambda _why, n=node, z=zone: nodes.soil_node(farm, n, z, [10, 30, 60], state, 1000,
                                                                              clock.s), rig.ledger.uplink))
            rig.mqtt_node(slots[-1], encoding="binary" if i % 2 else "json", tick_s=0.1)
        rig.mqtt_node(NodeSlot(lambda _why: nodes.weather_node(farm, "weather-01", state, 1000, clock.s),
                               rig.ledger.uplink), tick_s=0.1)
        gateway = GatewayProcess(rig.gateway_raw(forward_batch_size=200), rig.folder / "gateway")
        buffer_path = rig.folder / "gateway" / "buffer.sqlite"
        gateway.start()
        plan = crash_plan(options.seed)
        try:
            # the gateway's farm session must exist before the nodes publish: until
            # then the broker has no one to keep their reports for
            await _until_gateway_forwards(rig)
            rig.start_nodes()
            rig.say(f"{len(plan.of_kind('gateway_kill'))} SIGKILLs of the gateway, node resets and a broker "
                    f"restart in {plan.faults[-1].end_s:.1f} s of load")
            started = time.monotonic()
            connects = 0
            by_node = {r.node_id: (r, slot) for r, slot in zip(rig.runners, slots, strict=False)}
            for fault in plan.faults:
                await asyncio.sleep(max(0.0, started + fault.start_s - time.monotonic()))
                if fault.kind == "gateway_kill":
                    # killed while it works: after it is back on the farm broker and
                    # taking the backlog the broker kept for it, not while it imports
                    await _until_connected(rig, connects)
                    await asyncio.sleep(fault.params["after_connect_s"])
                    await gateway.kill()
                    await asyncio.sleep(fault.duration_s)  # down a moment, as a supervisor restarts it
                    connects = rig.broker.connects(FARM_CLIENT)
                    gateway.start()
                elif fault.kind in ("node_reboot", "node_brownout"):
                    runner, slot = by_node[fault.target]
                    reboot_mqtt_node(runner, slot, brownout=fault.kind == "node_brownout")
                elif fault.kind == "broker_restart":
                    await rig.broker.restart(down_s=fault.duration_s)
            await asyncio.sleep(2.0)
            simulated_days = clock.elapsed_days()
            await rig.stop_nodes()
            await rig.drain(timeout_s=45)
            status = await gateway.stop()
        finally:
            if gateway.running:
                await gateway.kill()
        with DurableBuffer(buffer_path) as buffer:
            buf = buffer.stats()
        reports_made = len({(k[0], k[1]) for k in rig.ledger.readings})
        extra = {
            "gateway_kills": gateway.kills,
            "faults": [f"{f.start_s:.2f} s {f.kind} {f.target}" for f in plan.faults],
            "broker_restarts": rig.broker.restarts,
            "reports_made": reports_made,
            # the probe's one report (sent until it arrived) is not the nodes'
            "gateway_reports_stored": buf["received"] - buf["duplicates"] - 1,
            "gateway_redeliveries": buf["duplicates"],
            "gateway_pending_at_end": buf["pending"],
            "gateway_exit_status": status,
            "outbox_dropped": sum(r.outbox.stats["dropped"] for r in rig.runners),
        }
        return await rig.result(simulated_days, [], [], farm, extra)


def crash_plan(seed: int) -> FaultPlan:
    """The run's faults from its seed: KILLS SIGKILLs 1 to 2.5 s apart, each
    at least 0 to 0.5 s after the gateway is back on the farm broker, each
    down 0.1 to 0.6 s; a watchdog reset of soil-01 and a brownout of soil-02
    at random moments among them, and a broker restart after the last kill."""
    rng = random.Random(f"gateway-crash {seed}")  # a stream of its own, apart from kill_times'
    kills = kill_times(seed, KILLS, 0.0, 1.0, 2.5)
    faults = [Fault("gateway_kill", "gateway", t, round(rng.uniform(0.1, 0.6), 2),
                    {"after_connect_s": round(rng.uniform(0.0, 0.5), 2)}) for t in kills]
    faults += [Fault(kind, node, round(rng.uniform(0.5, kills[-1]), 2))
               for kind, node in (("node_reboot", "soil-01"), ("node_brownout", "soil-02"))]
    faults.append(Fault("broker_restart", "broker", kills[-1] + 1.5, 0.5))
    return FaultPlan(faults)


async def _until_connected(rig: Rig, before: int | None) -> None:
    """Until the gateway's farm client has connected more than `before` times
    (bounded; the embedded broker keeps no count, so there it goes at once)."""
    assert rig.broker is not None
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        now = rig.broker.connects(FARM_CLIENT)
        if now is None or before is None or now > before:
            return
        await asyncio.sleep(0.02)


async def _until_gateway_forwards(rig: Rig) -> None:
    """Publish a probe report (node "probe", not counted) until the cloud has it."""
    assert rig.broker is not None and rig.cloud is not None
    up = make_uplink("probe", "soil", 0, int(time.time() * 1000), [make_reading("vwc_pct", 20.0, depth_cm=10)],
                     fw="0.1.0")
    topic = node_topic(SITE, "probe", "up")
    async with aiomqtt.Client(rig.broker.host, rig.broker.port, identifier=f"hil-probe-{uuid.uuid4().hex[:6]}") as c:
        deadline = time.monotonic() + 30
        while not await rig.cloud.routed("probe"):
            if time.monotonic() > deadline:
                raise TimeoutError("the gateway never forwarded the probe report")
            await c.publish(topic, encode_json(up), qos=1)
            await asyncio.sleep(0.3)


SCENARIO = Scenario("gateway-crash", "the gateway SIGKILLed repeatedly under load (and a broker restart, node "
                    "resets): every reading stored exactly once", run)
