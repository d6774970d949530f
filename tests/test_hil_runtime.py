"""The farm runtime (hil/runtime.py): the production cloud and gateway services in one process on a simulated clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from furrow.cloud.agronomy.planner import PlannedRun
from furrow.cloud.commands import CommandState
from furrow.cloud.registry.models import FieldIn, NodeIn, SiteIn, ValveIn, ZoneIn
from furrow.edge import commands
from furrow.hil import nodes
from furrow.hil.clock import SimClock
from furrow.hil.farm import Crop
from furrow.hil.fleet import NodeSpec
from furrow.hil.fleet import encode as encode_report
from furrow.hil.runtime import FarmRuntime
from furrow.hil.virtual_farm import VirtualFarm, VirtualZone

START = datetime(2026, 6, 1, tzinfo=UTC)
FARM = (SiteIn(id="farm", name="Farm", timezone="UTC"), FieldIn(id="f1", site_id="farm", name="F1"),
        ZoneIn(id="z1", field_id="f1", name="Z1", area_ha=0.1, soil_texture="loam", field_capacity_pct=30,
               wilting_point_pct=15, root_depth_cm=60, crop="maize", precip_rate_mm_h=12),
        NodeIn(id="soil-01", role="soil", zone_id="z1", depths_cm=[10, 30]),
        NodeIn(id="irr-01", role="irrigation", zone_id="z1"),
        ValveIn(node_id="irr-01", channel=1, zone_id="z1", max_runtime_s=3600))


class Farm:
    """A soil node and a controller on a small virtual farm, stepped on `clock`."""

    def __init__(self, tmp: Path, clock: SimClock) -> None:
        self.clock = clock
        self.farm = VirtualFarm([VirtualZone("z1")])
        self.soil = nodes.soil_node(self.farm, "soil-01", "z1", [10, 30], tmp / "flash", 600_000, clock.s)
        self.irr, self.meter = nodes.irrigation_node(self.farm, "irr-01", ["z1"], tmp / "flash", 600_000)

    def step(self, rt: FarmRuntime, dt_s: float) -> list[dict]:
        """Move the clock; deliver what the gateway relayed; tick both nodes; hand their reports
        to the gateway; return the controller's acks."""
        self.clock.advance_to(self.clock.s() + dt_s)
        now = self.clock.ms()
        self.farm.advance(now / 1000)
        self.meter.advance(now / 1000)
        acks = []
        for node, data in rt.take_node_messages():
            assert node == "irr-01"
            acks += self.irr.on_command(data, now)
        self.irr.on_heartbeat(now)
        more, ups = self.irr.tick(now)
        acks += more
        for up in [*ups, *self.soil.tick(now)]:
            rt.receive(encode_report(NodeSpec(up["node"], up["role"], 600), up))
        return acks


async def _open(tmp_path: Path, clock: SimClock) -> FarmRuntime:
    rt = await FarmRuntime.open(tmp_path / "rt", clock.ms, site="farm", gateway="gw-1")
    await rt.register(*FARM)
    return rt


async def test_reports_reach_the_store_and_a_signed_command_runs_on_the_simulated_clock(tmp_path):
    """Reports go gateway -> buffer -> forwarder -> ingest; a command the cloud creates is signed, verified by the
    gateway's relay on the simulated date, run by the real controller core, and its acks complete it in the cloud."""
    clock = SimClock(START)
    f = Farm(tmp_path, clock)
    rt = await _open(tmp_path, clock)
    try:
        await rt.node_acks(f.step(rt, 60))  # the controller reports at boot
        await rt.node_acks(f.step(rt, 600))  # the soil node a report interval after its boot
        assert await rt.forward() > 0
        stored = await rt.services.store.query("soil-01", "vwc_pct", 0, 1 << 62, 100)
        assert [r.depth_cm for r in stored] == [10, 30] and stored[0].ts_ms == clock.ms()
        route = await rt.services.routes.get("irr-01")
        assert (route.site, route.gateway) == ("farm", "gw-1")

        at = clock.now() + timedelta(minutes=5)
        run = PlannedRun("irr-01", 1, timedelta(minutes=2), at, at + timedelta(hours=1), timedelta(minutes=4))
        cmd, _ = await rt.services.commands.create_run(run, zone="z1", origin="test", request_reason="a test run",
                                                       idempotency_key="t-1")
        assert cmd.state == CommandState.SENT and cmd.created_ms == clock.ms()  # the simulated date, not the wall's
        (node, data), = rt.take_node_messages()
        sent = commands.decode_command(data)
        assert sent["id"] == cmd.id and sent["sig"] and sent["issued_ms"] == clock.ms()
        acks = f.irr.on_command(data, clock.ms())  # the controller holds it until its not-before
        for _ in range(8):
            await rt.node_acks(acks)
            acks = f.step(rt, 60)
        await rt.node_acks(acks)
        done = await rt.services.commands.get(cmd.id)
        assert done.state == CommandState.COMPLETED and done.runtime_s == 120
        assert [e.state for e in done.events] == ["created", "sent", "received", "started", "completed"]
        assert f.farm.zones["z1"].irrigated_mm > 0
    finally:
        await rt.close()


async def test_a_cut_cloud_link_holds_batches_and_commands_until_it_returns(tmp_path):
    """With the link cut, reports wait in the gateway buffer and a command stays created; when the link is back
    the batch is stored and the expiry job's dispatch sends the command."""
    clock = SimClock(START)
    f = Farm(tmp_path, clock)
    rt = await _open(tmp_path, clock)
    try:
        await rt.node_acks(f.step(rt, 60))
        await rt.forward()  # the controller is routed through gw-1
        rt.cloud_up = False
        await rt.node_acks(f.step(rt, 700))  # the soil node's first report, made during the cut
        assert await rt.forward() == 0
        assert await rt.services.store.query("soil-01", "vwc_pct", 0, 1 << 62, 100) == []
        cmd, _ = await rt.services.commands.create(node="irr-01", valve=1, duration_s=60, ttl_s=3600)
        assert cmd.state == CommandState.CREATED and rt.take_node_messages() == []
        rt.cloud_up = True
        await rt.jobs()
        assert await rt.forward() > 0
        assert (await rt.services.commands.get(cmd.id)).state == CommandState.SENT
        assert [n for n, _ in rt.take_node_messages()] == ["irr-01"]
        assert len(await rt.services.store.query("soil-01", "vwc_pct", 0, 1 << 62, 100)) == 2
    finally:
        await rt.close()


async def test_a_camera_photographs_the_growing_canopy_and_each_photo_reaches_the_cloud_once(tmp_path):
    """A camera node (the real core and camera driver, on an emulated sensor over the virtual farm's crop) takes a
    canopy photo a day; its chunks go through the gateway's image store, the forwarder and the cloud's image ingest:
    every photo is in the object store once, under the camera's zone, and the cloud's canopy step records each
    photo's cover within 2 points of the cover the crop had when it was taken. A day with the link cut, the photo
    waits at the gateway."""
    clock = SimClock(START)
    crop = Crop(gdd_total=250.0)  # development stage: the canopy is closing
    rt = await _open(tmp_path, clock)
    await rt.register(NodeIn(id="cam-01", role="camera", zone_id="z1"))
    core, sensor = nodes.camera_node(lambda: crop.canopy_fraction, "cam-01", tmp_path / "flash", 86_400_000)
    try:
        for day in range(4):
            rt.cloud_up = day != 2
            core.tick(clock.ms())
            while (chunk := core.next_chunk(clock.ms())) is not None:
                answer = rt.receive_chunk(bytes(chunk))
                core.sent(clock.ms())  # the broker's PUBACK
                if answer is not None:
                    core.on_image_ack(answer, clock.ms())
            await rt.forward()
            if day == 2:
                assert rt.gateway.images.stats()["pending"] == 1  # the cut link: kept at the gateway
            crop.add_day(16.0, 30.0)
            clock.advance_to(clock.s() + 86_400)
        images = await rt.services.images.list(node="cam-01")
        covers = await rt.services.vigour.covers("z1", 0, clock.ms())
        stats = rt.gateway.images.stats()
    finally:
        await rt.close()
    assert [i.seq for i in images] == [3, 2, 1, 0] and {i.zone_id for i in images} == {"z1"}
    assert [c.ref for c in covers] == [f"image:cam-01/{seq}" for seq in range(4)]  # one per photo, oldest first
    measured = [c.cover_pct / 100 for c in covers]
    assert all(abs(m - truth) <= 0.02 for m, truth in zip(measured, sensor.truths, strict=True)), (measured,
                                                                                                 sensor.truths)
    assert sensor.truths == sorted(sensor.truths) and sensor.truths[-1] > sensor.truths[0]  # it grew
    assert len(core.store) == 0 and (stats["forwarded"], stats["pending"], stats["quarantined"]) == (4, 0, 0)
    assert rt.counts.images_to_cloud == 4
