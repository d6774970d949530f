"""leak-and-stuck-valve: valves that stick, a burst pipe, a full flash.

Two irrigation controllers (irr-01 with two valves, irr-02 with one) and a
soil node report through the real gateway to the cloud. The cloud's command
lifecycle sends irrigation runs while faults are injected on the emulated
hardware:

1. a normal run on irr-01 valve 1 (the control: it completes, with volume);
2. irr-01 valve 2 stuck closed: the run sees no flow and the controller
   aborts it ("no flow");
3. irr-01 valve 1 stuck open: the run ends, the drive closes, water keeps
   flowing: the controller reports a leak at once (the alarm, stored in the
   cloud as `leak_l_min` > 0);
4. a burst pipe behind irr-02 (flow with every valve closed): a leak again;
5. irr-02's flash full: its run still completes and its valve closes (the
   journal write is refused and counted; safety does not depend on it).

Valve drive intervals are logged on the emulated valves, so
`valve_overruns` (a drive open past the max runtime of the command that
opened it) is measured outside the firmware.

Time: 1 wall second is 10 farm minutes (scale 600), and so are the
firmware's limits: no-flow after 2 farm minutes (0.2 s), a closed pipe
drained after 1 farm minute (0.1 s).
"""

from __future__ import annotations

import asyncio
import time

from furrow.gateway import GatewayConfig
from furrow.hil import nodes
from furrow.hil.faults import NodeSlot
from furrow.hil.scenarios import RunOptions, Scenario, ScenarioResult
from furrow.hil.scenarios._fault_rig import Rig, ScaledClock, irrigation_slot, run_gateway, wait_until
from furrow.hil.verdict import Issued, stored_readings
from furrow.hil.virtual_farm import VirtualFarm, VirtualZone

SCALE = 600.0
FINAL = ("completed", "aborted", "rejected", "expired", "cancelled")


async def run(options: RunOptions) -> ScenarioResult:
    clock = ScaledClock(SCALE)
    farm = VirtualFarm([VirtualZone("north"), VirtualZone("south"), VirtualZone("east")], seed=options.seed)
    farm.advance(clock.s())
    limits = {"no_flow_ms": int(clock.wall(120) * 1000), "leak_settle_ms": int(clock.wall(60) * 1000),
              "heartbeat_timeout_ms": int(clock.wall(600) * 1000)}
    async with Rig(options, "leak-and-stuck-valve") as rig:
        assert rig.cloud is not None
        cloud = rig.cloud
        state = rig.folder / "nodes"
        irr1, valves1, meter1, _ = irrigation_slot(farm, "irr-01", ["north", "south"], state, 1000, rig.ledger,
                                                   **limits)
        irr2, valves2, meter2, flash2 = irrigation_slot(farm, "irr-02", ["east"], state, 1000, rig.ledger, **limits)

        def advance(_now_ms: int) -> None:
            t = clock.s()
            farm.advance(t)
            meter1.advance(t)
            meter2.advance(t)

        rig.mqtt_node(irr1, on_tick=advance)
        rig.mqtt_node(irr2)
        rig.mqtt_node(NodeSlot(lambda _why: nodes.soil_node(farm, "soil-01", "north", [10, 30], state, 1000, clock.s),
                               rig.ledger.uplink))
        stop = asyncio.Event()
        raw = rig.gateway_raw(irrigation_nodes=["irr-01", "irr-02"], heartbeat_interval=0.5)
        gateway, task = await run_gateway(GatewayConfig.model_validate(raw), stop)
        issued: list[Issued] = []
        try:
            rig.start_nodes()
            for node in ("irr-01", "irr-02"):
                await wait_until(lambda n=node: cloud.routed(n), f"{node}'s first report in the cloud")

            async def irrigate(node: str, valve: int, duration_s: int, max_runtime_s: int) -> str:
                cmd = await cloud.command(node, valve, duration_s=duration_s, ttl_s=30, max_runtime_s=max_runtime_s)
                issued.append(Issued.of(cmd))
                await wait_until(lambda: _state_in(rig, cmd.id, FINAL), f"command {cmd.id} to finish")
                return cmd.id

            rig.say("1. a normal run on irr-01 valve 1")
            normal = await irrigate("irr-01", 1, 2, 3)
            rig.say("2. irr-01 valve 2 stuck closed")
            valves1[1].set_mode("stuck_closed")
            no_flow = await irrigate("irr-01", 2, 3, 4)
            valves1[1].set_mode("ok")
            rig.say("3. irr-01 valve 1 stuck open")
            valves1[0].set_mode("stuck_open")
            stuck_open = await irrigate("irr-01", 1, 1, 2)
            leak1_at = time.time()
            await wait_until(lambda: _leak_stored(rig, "irr-01", leak1_at), "irr-01's leak alarm in the cloud")
            valves1[0].set_mode("ok")  # the technician closes the manual valve upstream
            rig.say("4. a burst pipe behind irr-02")
            meter2.leak_l_min = 6.0
            leak2_at = time.time()
            await wait_until(lambda: _leak_stored(rig, "irr-02", leak2_at), "irr-02's leak alarm in the cloud")
            meter2.leak_l_min = 0.0
            rig.say("5. irr-02's flash full during a run")
            flash2.full = True
            full_flash = await irrigate("irr-02", 1, 1, 2)
            flash2.full = False
            await asyncio.sleep(1.0)
            simulated_days = clock.elapsed_days()
            await rig.stop_nodes()
            await wait_until(lambda: gateway.stats()["pending"] == 0, "the gateway buffer to drain")
            await rig.drain()
            runs = {"normal": normal, "no_flow": no_flow, "stuck_open": stuck_open, "full_flash": full_flash}
            states = {k: await cloud.state(v) for k, v in runs.items()}
        finally:
            stop.set()
            await asyncio.wait_for(task, 30)
            gateway.close()
        leaks = await _leaks(rig)
        extra = {
            "normal_run": str(states["normal"].state),
            "normal_run_volume_l": states["normal"].volume_l,
            "stuck_closed_run": str(states["no_flow"].state),
            "stuck_closed_reason": states["no_flow"].reason,
            "stuck_open_run": str(states["stuck_open"].state),
            "leak_alarms_irr_01": leaks.get("irr-01", 0),
            "leak_alarms_irr_02": leaks.get("irr-02", 0),
            "full_flash_run": str(states["full_flash"].state),
            "full_flash_journal_writes_refused": flash2.refused,
            "valves_open_at_end": sum(v.is_open for v in valves1 + valves2),
        }
        return await rig.result(simulated_days, issued, valves1 + valves2, farm, extra)


async def _state_in(rig: Rig, cmd_id: str, states: tuple[str, ...]) -> bool:
    assert rig.cloud is not None
    return str((await rig.cloud.state(cmd_id)).state) in states


async def _leak_stored(rig: Rig, node: str, since_s: float) -> bool:
    """A leak reading (> 0 L/min) from `node`, stored by the cloud, made after `since_s`."""
    assert rig.cloud is not None
    rows = await rig.cloud.services.store.query(node, "leak_l_min", int(since_s * 1000), 1 << 62, 1000)
    return any((r.value or 0) > 0 for r in rows)


async def _leaks(rig: Rig) -> dict[str, int]:
    """Stored leak reports (> 0) per node."""
    assert rig.cloud is not None
    out: dict[str, int] = {}
    for r in await stored_readings(rig.cloud.services.store, ["irr-01", "irr-02"]):
        if r.measurement == "leak_l_min" and (r.value or 0) > 0:
            out[r.node] = out.get(r.node, 0) + 1
    return out


SCENARIO = Scenario("leak-and-stuck-valve", "valves stuck open and closed, a burst pipe, a full flash: the flow "
                    "anomaly detected and no valve open past its max runtime", run)
