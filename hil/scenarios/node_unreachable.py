"""node-unreachable: commands that cannot reach their node before expiry.

Two irrigation controllers, one on MQTT behind its own radio link (a
`LinkCut` to the farm broker) and one on the emulated RS-485 bus with its
command mailbox, beside a soil node on the same bus whose replies are
sometimes garbled (CRC errors) or lost (timeouts). Each controller first
runs a command normally (the path works), then is cut off:

- irr-01's link goes down; the cloud sends a command that expires while the
  node is away. The broker keeps it for the node's session and hands it over
  when the link returns, after its expiry: the controller must refuse it.
- irr-02 goes dead on the bus; the gateway cannot write the command into its
  mailbox and the command expires. The device comes back; nothing may run.

It proves every such command ends "expired" in the cloud and never opens a
valve (`commands_executed_late` = 0, measured on the valves' drive against
each command's window), while the controls complete.

Time: wall-clock (scale 1); the commands live 2 s.
"""

from __future__ import annotations

import asyncio
import time

from furrow.gateway import GatewayConfig
from furrow.hil import nodes
from furrow.hil.faults import BusFaults, LinkCut, NodeSlot
from furrow.hil.modbus_bus import ModbusBus
from furrow.hil.mosquitto import HOST
from furrow.hil.scenarios import RunOptions, Scenario, ScenarioResult
from furrow.hil.scenarios._fault_rig import Rig, ScaledClock, irrigation_slot, run_gateway, wait_until
from furrow.hil.verdict import Issued
from furrow.hil.virtual_farm import VirtualFarm, VirtualZone

TTL_S = 2  # the commands that cannot get through
CONTROL_TTL_S = 15  # the controls: time to spare on a busy machine
FINAL = ("completed", "aborted", "rejected", "expired", "cancelled")


async def run(options: RunOptions) -> ScenarioResult:
    clock = ScaledClock(1.0)
    farm = VirtualFarm([VirtualZone("north"), VirtualZone("south")], seed=options.seed)
    farm.advance(clock.s())
    async with Rig(options, "node-unreachable") as rig:
        assert rig.cloud is not None and rig.broker is not None
        cloud = rig.cloud
        state = rig.folder / "nodes"
        irr1, valves1, meter1, _ = irrigation_slot(farm, "irr-01", ["north"], state, 1000, rig.ledger)
        # irr-02 reports once a minute, so no report of it falls in its dead spell (a
        # Modbus node keeps only its latest report: one made while dead would be lost)
        irr2, valves2, meter2, _ = irrigation_slot(farm, "irr-02", ["south"], state, 60_000, rig.ledger)

        def advance(_now_ms: int) -> None:
            farm.advance(clock.s())
            meter1.advance(clock.s())
            meter2.advance(clock.s())

        radio = LinkCut(rig.broker.host, rig.broker.port)
        await radio.start()
        runner = rig.mqtt_node(irr1, on_tick=advance, port=radio.port)
        bus = ModbusBus(HOST, 0, baud=19_200, tick_s=0.05)
        line = BusFaults(seed=options.seed)
        line.crc_p[1] = line.timeout_p[1] = 0.1
        bus.faults = line
        bus.add(NodeSlot(lambda _why: nodes.soil_node(farm, "soil-03", "south", [10, 30], state, 4000, clock.s),
                         rig.ledger.uplink), 1)
        bus.add(irr2, 2)
        await bus.start()
        device = {"host": HOST, "port": bus.port, "poll_interval": 0.25, "timeout": 0.3, "retries": 1,
                  "fail_threshold": 2, "backoff_max": 1.0}
        raw = rig.gateway_raw(irrigation_nodes=["irr-01"], heartbeat_interval=0.5, modbus=[
            {**device, "node_id": "soil-03", "unit": 1, "role": "soil"},
            {**device, "node_id": "irr-02", "unit": 2, "role": "irrigation", "commands": True}])
        stop, bus_stop = asyncio.Event(), asyncio.Event()
        gateway, task = await run_gateway(GatewayConfig.model_validate(raw), stop)
        bus_task = asyncio.create_task(bus.run(bus_stop), name="rs485 bus")
        issued: list[Issued] = []
        try:
            rig.start_nodes()
            for node in ("irr-01", "irr-02", "soil-03"):
                await wait_until(lambda n=node: cloud.routed(n), f"{node}'s first report in the cloud")

            async def command(node: str, ttl_s: int = TTL_S) -> str:
                cmd = await cloud.command(node, 1, duration_s=1, ttl_s=ttl_s, max_runtime_s=2)
                issued.append(Issued.of(cmd))
                return cmd.id

            async def settled(cmd_id: str) -> str:
                await wait_until(lambda: _state_in(rig, cmd_id, FINAL), f"command {cmd_id} to settle")
                return str((await cloud.state(cmd_id)).state)

            rig.say("irr-01 (MQTT): a control run, then its radio link down")
            mqtt_control = await settled(await command("irr-01", CONTROL_TTL_S))
            radio.down()
            await wait_until(lambda: not runner.connected, "irr-01 to lose its link")
            received_before = runner.commands_received
            mqtt_cut = await command("irr-01")
            mqtt_cut_state = await settled(mqtt_cut)
            await asyncio.sleep(0.5)
            await radio.up()
            rig.say("irr-01 back: the broker hands over the expired command")
            await wait_until(lambda: runner.commands_received > received_before, "the late command to reach irr-01")
            await wait_until(lambda: _acked(rig, mqtt_cut, "rejected"), "irr-01 to refuse the late command")

            rig.say("irr-02 (RS-485): a control run, then dead on the bus")
            modbus_control = await settled(await command("irr-02", CONTROL_TTL_S))
            line.dead.add(2)
            modbus_cut = await command("irr-02")
            modbus_cut_state = await settled(modbus_cut)
            line.dead.discard(2)
            rig.say("irr-02 back on the bus")
            revived_at = time.time()
            await wait_until(lambda: gateway.stats()["modbus"]["irr-02"]["polls"] > 0
                             and time.time() > revived_at + 2.0, "irr-02 to be polled again")
            simulated_days = clock.elapsed_days()
            await rig.stop_nodes()
            bus_stop.set()
            await bus_task
            await wait_until(lambda: gateway.stats()["pending"] == 0, "the gateway buffer to drain")
            await rig.drain()
            gw_stats = gateway.stats()
        finally:
            bus_stop.set()
            stop.set()
            await asyncio.wait_for(task, 30)
            gateway.close()
            await bus.close()
            await radio.close()
        late_refusals = [a for a in rig.ledger.acks if a["id"] == mqtt_cut and a["state"] == "rejected"]
        extra = {
            "mqtt_control": mqtt_control,
            "mqtt_unreachable_command": mqtt_cut_state,
            "mqtt_late_delivery_refused": bool(late_refusals),
            "mqtt_late_refusal_reason": late_refusals[0].get("reason") if late_refusals else None,
            "modbus_control": modbus_control,
            "modbus_unreachable_command": modbus_cut_state,
            "modbus_writes_failed": gw_stats["relay"]["commands_unconfirmed"],
            "bus_crc_errors": line.counts["crc_errors"],
            "bus_timeouts": line.counts["timeouts"],
            "bus_requests_unheard": line.counts["unheard"],
        }
        return await rig.result(simulated_days, issued, valves1 + valves2, farm, extra)


async def _state_in(rig: Rig, cmd_id: str, states: tuple[str, ...]) -> bool:
    assert rig.cloud is not None
    return str((await rig.cloud.state(cmd_id)).state) in states


def _acked(rig: Rig, cmd_id: str, state: str) -> bool:
    return any(a["id"] == cmd_id and a["state"] == state for a in rig.ledger.acks)


SCENARIO = Scenario("node-unreachable", "commands that cannot reach their node (radio link down, dead on the "
                    "RS-485 bus) expire and never run late", run)
