"""cancel-night-run: a cancelled night run never opens its valve, on MQTT and on RS-485 (issue 13 §4).

Two controllers whose firmware runs in the real MicroPython runtime
(hil/micropython_fleet.py): `irr-north` on MQTT, `irr-south` on RS-485 with
its command mailbox, polled and written by the gateway's own bus master over a
simulated line (hil/sim_line.py). The cloud and the gateway are the production
services on the simulated clock (hil/runtime.py): the lifecycle signs, the
relay verifies, refuses replays and keeps its plan, the API takes the cancel.

The evening before, each zone gets a planned night run (the planner's
`PlannedRun` handed to the command lifecycle) for 02:00; the controllers hold
it. At 22:00 an agronomist cancels both through the cloud API. Earlier, at
21:00, each controller also starts a run at once that the agronomist cancels
ten minutes later: its valve must close then.

Judged from the farm's own valve record (`Farm.runs` and what is open at the
end), not from any acknowledgement: `night_runs_opened` must be 0 and each
run cancelled while open must have closed at its cancel. The cloud's view
(every cancelled command `cancelled`) and the controllers' own acks (each
ending `cancelled`) are reported beside it.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from furrow.cloud.agronomy.planner import PlannedRun
from furrow.cloud.app import create_app
from furrow.cloud.auth.roles import Role
from furrow.cloud.registry.models import FieldIn, NodeIn, SiteIn, ValveIn, ZoneIn
from furrow.edge.commands import decode_command
from furrow.edge.modbus_map import encode_command_regs
from furrow.gateway import ModbusDeviceConfig
from furrow.gateway.modbus import BusMaster, BusSchedule, Device
from furrow.gateway.quality import quality_flags
from furrow.hil.clock import SimClock
from furrow.hil.farm import Crop, Farm, FarmZone, SoilColumn, generate
from furrow.hil.fleet import NodeSpec
from furrow.hil.micropython_fleet import MicroPythonFleet
from furrow.hil.runtime import FarmRuntime
from furrow.hil.scenarios import RunOptions, Scenario, ScenarioResult
from furrow.hil.sim_line import SimulatedLine, run_inline
from furrow.hil.verdict import Accounting, Issued, Ledger, Opening, account, audit_valves, stored_readings

START = datetime(2026, 5, 1, tzinfo=UTC)
MQTT, RS485 = "irr-north", "irr-south"
ZONES = {MQTT: "north", RS485: "south"}
UNIT = 3
TICK_S = 300  # the MQTT controller's loop and the services' jobs; its heartbeat timeout is 10 min
BEGIN, OPEN_RUN, CANCEL_OPEN, CANCEL_NIGHT = (START + timedelta(hours=h) for h in (20, 21, 21 + 1 / 6, 22))
NIGHT = START + timedelta(hours=26)  # 02:00 the next morning
END = NIGHT + timedelta(hours=2)  # past the night runs' expiry
RUN = timedelta(minutes=30)


def _registry() -> list[Any]:
    items: list[Any] = [SiteIn(id="farm", name="Cancel farm", timezone="UTC"),
                        FieldIn(id="f1", site_id="farm", name="F1")]
    for node, zone in ZONES.items():
        items += [ZoneIn(id=zone, field_id="f1", name=zone, area_ha=0.1, soil_texture="loam", field_capacity_pct=30,
                         wilting_point_pct=15, root_depth_cm=60, crop="maize", precip_rate_mm_h=12),
                  NodeIn(id=node, role="irrigation", zone_id=zone),
                  ValveIn(node_id=node, channel=1, zone_id=zone, max_runtime_s=3600)]
    return items


class CancelFarm:
    """The farm, its two controllers, the production services and the gateway's bus master, on one clock."""

    def __init__(self, options: RunOptions) -> None:
        self.clock = SimClock(START)
        self.farm = Farm([FarmZone(z, SoilColumn.uniform(0.3, 0.15, 60, start_fraction=0.3), Crop())
                          for z in ZONES.values()], generate(START.date(), 3, options.seed), START)
        self.fleet = MicroPythonFleet(
            [NodeSpec(MQTT, "irrigation", 3600, valve_zones=(ZONES[MQTT],)),
             NodeSpec(RS485, "irrigation", 3600, valve_zones=(ZONES[RS485],), link="modbus", unit=UNIT)],
            self.farm, self.clock, options.workdir / "nodes")
        self.workdir = options.workdir
        # every reading and ack the controllers made (MQTT) or the master read from them (RS-485)
        self.ledger = Ledger()
        self.rt: FarmRuntime
        self.master: BusMaster
        self.api: httpx.AsyncClient
        self._next_tick = 0.0

    async def open(self) -> None:
        self.clock.advance_to(BEGIN.timestamp())
        self.farm.advance(self.clock.s())
        self.rt = await FarmRuntime.open(self.workdir / "farm", self.clock.ms, site="farm", gateway="gw-1")
        await self.rt.register(*_registry())
        gateway = self.rt.gateway
        device = ModbusDeviceConfig(node_id=RS485, host="rs485", port=1, unit=UNIT, role="irrigation",
                                    commands=True, poll_interval=timedelta(minutes=2),
                                    timeout=timedelta(seconds=0.5), retries=1)
        line = SimulatedLine(self.clock, self.fleet.answer)
        # the gateway's own master: reports into its buffer, acks to its relay and outbox
        def sink(items: Any) -> int:
            for item in items:
                self.ledger.uplink(item.uplink)
            return gateway.buffer.put_many(items)

        self.master = BusMaster(BusSchedule([Device.of(device)]), line, sink=sink,
                                quarantine=gateway.buffer.quarantine, quality=quality_flags, clock=self.clock.ms,
                                monotonic=self.clock.s, sleep=line.sleep,
                                on_ack=self._bus_ack, offload=run_inline)
        app = create_app(self.rt.services.settings, self.clock.ms)
        app.state.services = self.rt.services  # the runtime opened them: the API serves the same
        token = await self.rt.services.tokens.issue("agronomist", Role.AGRONOMIST, 30)
        self.api = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://cloud",
                                     headers={"Authorization": f"Bearer {token.token}"})
        self._next_tick = self.clock.s()

    def _bus_ack(self, ack: dict[str, Any], _raw: bytes) -> None:
        self.ledger.ack(ack)
        self.rt.gateway.node_acks([ack])

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.api.aclose()
        with contextlib.suppress(Exception):
            await self.rt.close()
        self.fleet.close()

    # -- the loop ---------------------------------------------------------------------------

    async def until(self, when: datetime) -> None:
        """Run everything to `when`: the bus master moves the clock poll by poll; every TICK_S the MQTT
        controller's loop and the services' jobs run."""
        while self.clock.s() < when.timestamp():
            await self.master.step()
            self.farm.advance(self.clock.s())
            if self.clock.s() >= self._next_tick:
                await self._tick()
                self._next_tick += TICK_S

    async def _tick(self) -> None:
        now = self.clock.ms()
        out = self.fleet.step(now, [MQTT], [], {})  # heard (the gateway's broker is up), ticked, reports out
        for up, data in out.uplinks:
            self.ledger.uplink(up)
            self.rt.receive(data)
        await self._acks(out.acks)
        await self.rt.jobs()
        await self.deliver()
        await self.rt.forward()

    async def deliver(self) -> None:
        """What the gateway's relay passed on: published to the MQTT controller, or written into the
        RS-485 controller's mailbox by the bus master before its next poll."""
        for node, raw in self.rt.take_node_messages():
            if node == RS485:
                self.master.queue_write(self.master.devices[0], encode_command_regs(decode_command(raw)))
            else:
                out = self.fleet.step(self.clock.ms(), [], [(node, raw)], {})
                await self._acks(out.acks)

    async def _acks(self, acks: list[dict[str, Any]]) -> None:
        for ack in acks:
            self.ledger.ack(ack)
        await self.rt.node_acks(acks)

    # -- what the people do -----------------------------------------------------------------

    async def plan_run(self, node: str, at: datetime, key: str) -> str:
        """A run the planner hands to the command lifecycle; its id."""
        run = PlannedRun(node, 1, RUN, at, at + timedelta(hours=1), timedelta(minutes=40))
        cmd, _ = await self.rt.services.commands.create_run(run, zone=ZONES[node], origin="planner",
                                                           request_reason="cancel-night-run", idempotency_key=key)
        await self.deliver()
        return cmd.id

    async def cancel(self, command_id: str) -> None:
        """An agronomist cancels through the cloud API."""
        reply = await self.api.post(f"/api/v1/commands/{command_id}/cancel", json={"reason": "rain forecast"})
        reply.raise_for_status()
        await self.deliver()

    async def command(self, command_id: str) -> dict[str, Any]:
        reply = await self.api.get(f"/api/v1/commands/{command_id}")
        reply.raise_for_status()
        return reply.json()


async def run(options: RunOptions) -> ScenarioResult:
    f = CancelFarm(options)
    try:
        await f.open()
        await f.until(BEGIN + timedelta(minutes=20))  # both controllers report: the cloud can route to them
        night = {node: await f.plan_run(node, NIGHT, f"night-{node}") for node in ZONES}
        await f.until(OPEN_RUN)
        now_runs = {node: await f.plan_run(node, f.clock.now(), f"now-{node}") for node in ZONES}
        await f.until(CANCEL_OPEN)
        for cid in now_runs.values():
            await f.cancel(cid)
        await f.until(CANCEL_NIGHT)
        for cid in night.values():
            options.progress(f"cancelling night run {cid}")
            await f.cancel(cid)
        await f.until(END)
        await f.rt.jobs()
        await f.rt.forward()
        views = {cid: await f.command(cid) for cid in [*night.values(), *now_runs.values()]}
        readings = account(f.ledger.readings, await stored_readings(f.rt.services.store, f.ledger.nodes))
        open_at_end = f.fleet.open_valves()
    finally:
        await f.close()
    return _judge(f, night, now_runs, views, readings, open_at_end)


def _judge(f: CancelFarm, night: dict[str, str], now_runs: dict[str, str], views: dict[str, dict[str, Any]],
           readings: Accounting, open_at_end: list[tuple[str, int]]) -> ScenarioResult:
    """From the farm's valve record: no opening after the night runs were cancelled, and each run
    cancelled while open closed then; the cloud's and the controllers' view beside it."""
    end_ms = f.clock.ms()
    openings = [Opening(r.node, r.channel, round(r.start_s * 1000), round(r.end_s * 1000)) for r in f.farm.runs]
    openings += [Opening(node, channel, end_ms, None) for node, channel in open_at_end]
    audit = audit_valves(openings, [Issued.of(v) for v in views.values()], end_ms)
    cancel_ms = CANCEL_NIGHT.timestamp() * 1000
    after_cancel = [o for o in openings if o.open_ms >= cancel_ms or o.close_ms is None]
    cancelled_open = {node: [(o.close_ms - o.open_ms) // 1000 for o in openings
                             if o.node == node and o.close_ms is not None and o.open_ms < cancel_ms]
                      for node in ZONES}
    acked = {cid: [e["state"] for e in v["events"]] for cid, v in views.items()}
    controller = {cid: [a["state"] for a in f.ledger.acks if a["id"] == cid] for cid in views}
    return ScenarioResult(
        simulated_days=round((END - BEGIN).total_seconds() / 86400, 3), nodes=len(ZONES),
        readings_sent=readings.sent, readings_stored=readings.stored, readings_lost=readings.lost,
        duplicates_stored=readings.duplicates,
        irrigation_mm=round(sum(z.irrigated_mm for z in f.farm.zones.values()), 2), stress_days=0,
        commands_issued=len(views), commands_executed_late=audit.late, valve_overruns=audit.overruns,
        extra={
            "night_runs_opened": len(after_cancel),
            "night_runs_opened_mqtt": sum(o.node == MQTT for o in after_cancel),
            "night_runs_opened_rs485": sum(o.node == RS485 for o in after_cancel),
            "cancelled_open_runs_s": cancelled_open,
            "cloud_states": {cid: v["state"] for cid, v in views.items()},
            "command_events": acked,
            "controller_acks": controller,
            "cancels_relayed": f.rt.gateway.relay.counts["cancels_relayed"],
            "mailbox_writes": f.master.devices[0].health.commands_written,
            "valve_audit": audit.detail,
        },
    )


SCENARIO = Scenario("cancel-night-run", "a night run held by its controller and cancelled through the cloud API "
                    "never opens, on MQTT and RS-485, firmware in MicroPython (needs Node.js)", run)
