"""field-operations: a tractor sowing and a combine harvesting, tracked by the tracker firmware through the
real gateway to the cloud, which computes the worked area, the progress and the harvest.

Two machines, each with the tracker firmware's core (firmware/tracker_node.py) reading a GNSS receiver's
NMEA (hil/machinery.py: fix dropouts of 10-12 s mid-pass) and publishing over MQTT from its
flash ring (MqttNodeRunner) to the real gateway, which forwards to the cloud's ingest on a real broker:

* a tractor with a 6 m drill and an RTK receiver (2 cm) sows 10 of the 16 passes of a 96 m x 200 m
  field (back and forth, 9 km/h, 20 s headland turns, the drill lifted in them);
* a combine with a 9 m header and a DGPS receiver (0.3 m wandering over 30 s) harvests a 90 m x 200 m
  maize field, all 10 passes at 7.2 km/h; its radio is cut for 2 wall seconds (5 GNSS minutes), so its
  messages wait in its flash ring. The crop's yield
  comes from its seasonal water stress (FAO-33 eq. 1, Ky 1.25, Ym 12 t/ha): the west half had
  ETa/ETm 0.70 (7.50 t/ha), the irrigated east half 0.95 (11.25 t/ha). The combine's yield monitor logs
  wet mass flow (22 % moisture) 12 s late through the elevator's 3 s lag, with 3 % noise and spikes.

The cloud records each operation from the tracker's live window (OperationService.record), and the
harvest's total from the monitor's log (cloud/machinery/yield_map.py) against the field's boundary in the
registry. It measures: covered area against the true worked area, progress, overlap, every fix the
trackers kept stored exactly once, and the harvest's total against the simulated harvest.

Time: GNSS time runs SCALE times the wall clock from 3,000 s before the run's start (the work is in the
past when it arrives, as a replay of the morning).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from furrow.cloud.machinery.models import OperationIn, OperationKind
from furrow.cloud.machinery.yield_map import harvest, read_yield_csv
from furrow.cloud.registry import FIELDS, SITES
from furrow.cloud.registry.models import FieldIn, SiteIn
from furrow.cloud.vigour.boundaries import parse_boundary
from furrow.firmware.seqstore import SeqStore
from furrow.gateway import GatewayConfig
from furrow.hil.faults import LinkCut
from furrow.hil.machinery import (
    KY_MAIZE,
    STANDARD_MOISTURE_PCT,
    Field,
    Pattern,
    Receiver,
    TrackerCore,
    YieldMonitor,
    fao33_yield_kg_m2,
)
from furrow.hil.scenarios import RunOptions, Scenario, ScenarioResult
from furrow.hil.scenarios._fault_rig import SITE, Rig, run_gateway, wait_until

SCALE = 150.0  # GNSS seconds per wall second
LEAD_S = 3000  # GNSS time starts this long before the run
TAIL_S = 40  # the receivers run on after the work: the last fixes leave (the core flushes after 15 s)
YM_KG_M2 = 1.2  # 12 t/ha at 15.5 %: a good irrigated maize crop (FAO-33 Table 3 gives 6-9 t/ha, grain
# at 10-13 % moisture, for 1979's varieties; today's hybrids reach 12-14 t/ha under full irrigation)
ETA_OVER_ETM = (0.70, 0.95)  # west half, east half


def crop_kg_m2(field: Field) -> Callable[[float, float], float]:
    """The maize under the header at (x, y) of `field`: FAO-33 eq. 1 with the half's ETa/ETm."""
    west, east = (fao33_yield_kg_m2(YM_KG_M2, KY_MAIZE, r) for r in ETA_OVER_ETM)
    half = field.width_m * field.passes / 2
    return lambda x, _y: west if x < half else east


async def run(options: RunOptions) -> ScenarioResult:
    wall0 = time.time()
    t0 = int(wall0) - LEAD_S

    def gnss_s() -> float:
        return t0 + (time.time() - wall0) * SCALE

    drill_field = Field(114.400, 36.000, 6.0, 16, 200.0)
    maize_field = Field(114.403, 36.000, 9.0, 10, 200.0)
    sowing = Pattern(drill_field, passes=10, speed_m_s=2.5, turn_s=20)
    harvesting = Pattern(maize_field, passes=10, speed_m_s=2.0, turn_s=20)
    crop = crop_kg_m2(maize_field)
    monitor = YieldMonitor(harvesting, t0, crop, seed=options.seed)
    async with Rig(options, "field-operations") as rig:
        assert rig.broker is not None and rig.cloud is not None
        services = rig.cloud.services
        assert services.operations is not None
        state = rig.folder / "nodes"
        state.mkdir(parents=True, exist_ok=True)
        until = {"trk-tractor": t0 + sowing.duration_s + TAIL_S, "trk-combine": t0 + harvesting.duration_s + TAIL_S}
        tractor = TrackerCore("trk-tractor", SeqStore(str(state / "trk-tractor.seq")),
                              Receiver(sowing, t0, lost=((130, 140), (450, 462)), seed=options.seed), gnss_s,
                              until["trk-tractor"])
        combine = TrackerCore("trk-combine", SeqStore(str(state / "trk-combine.seq")),
                              Receiver(harvesting, t0, noise_m=0.3, correlation_s=30, quality=2, lost=((250, 260),),
                                       seed=options.seed + 1), gnss_s,
                              until["trk-combine"], on_epoch=monitor.on_epoch)
        radio = LinkCut(rig.broker.host, rig.broker.port)
        await radio.start()
        stop = asyncio.Event()
        gateway, task = await run_gateway(GatewayConfig.model_validate(rig.gateway_raw()), stop)
        try:
            await services.registry.create(SITES, SiteIn(id=SITE, name="HIL farm"))
            for fid, name, f in (("drill", "North drill", drill_field), ("maize", "Maize east", maize_field)):
                await services.registry.create(FIELDS, FieldIn(id=fid, site_id=SITE, name=name))
                await services.vigour.set_boundary("field", fid, f.boundary)
            rig.mqtt_node(tractor)
            rig.mqtt_node(combine, port=radio.port)
            rig.start_nodes()
            await asyncio.sleep(3.0)
            radio.down()
            cut_at = gnss_s()
            rig.say(f"the combine's radio is down at GNSS {cut_at - t0:.0f} s")
            await asyncio.sleep(2.0)
            await radio.up()
            rig.say(f"the combine's radio is back at GNSS {gnss_s() - t0:.0f} s")
            await wait_until(lambda: gnss_s() > max(until.values()) + 16, "the machines' work and the last flush",
                             timeout_s=60)
            await rig.stop_nodes()
            kept = {"trk-tractor": tractor.node.stats["kept"], "trk-combine": combine.node.stats["kept"]}
            left = {n: len(c.node.pending) for n, c in (("trk-tractor", tractor), ("trk-combine", combine))}
            stored: dict[str, list] = {}

            async def all_stored() -> bool:
                for node in kept:
                    stored[node] = await services.operations.tracks.track(node, t0 * 1000, until[node] * 1000 + 1)
                return all(len(stored[n]) >= kept[n] for n in kept)

            await wait_until(all_stored, "the cloud to store every fix the trackers kept")
            gw_stats = gateway.stats()
        finally:
            stop.set()
            await asyncio.wait_for(task, 30)
            gateway.close()
            await radio.close()
        ops = services.operations
        sown, _ = await ops.record(OperationIn(field="drill", kind=OperationKind.SOWING, machine="tractor-1",
                                               implement="drill-6m", width_m=6.0, product="maize",
                                               node="trk-tractor", from_ms=t0 * 1000,
                                               to_ms=until["trk-tractor"] * 1000), by="hil")
        harvested, _ = await ops.record(OperationIn(field="maize", kind=OperationKind.HARVEST, machine="combine-1",
                                                    implement="header-9m", width_m=9.0, node="trk-combine",
                                                    from_ms=t0 * 1000, to_ms=until["trk-combine"] * 1000), by="hil")
        progress = await ops.progress("drill")
        boundary = (await services.registry.get(FIELDS, "maize")).boundary
        total = harvest(read_yield_csv(monitor.csv()), 9.0, parse_boundary(boundary), STANDARD_MOISTURE_PCT)
        true_sown_ha = drill_field.worked_ha(sowing.passes)
        true_harvested_ha = maize_field.worked_ha(harvesting.passes)
        true_kg = monitor.true_kg  # what the header cut, at standard moisture
        sowing_pct = next(k.covered_pct for k in progress.kinds if k.kind == OperationKind.SOWING)
        twice = {n: len(s) - len({f.t_ms for f in s}) for n, s in stored.items()}
        extra = {
            "sown_ha": round(sown.covered_ha, 4), "true_sown_ha": round(true_sown_ha, 4),
            "sown_error_pct": round(100 * (sown.covered_ha - true_sown_ha) / true_sown_ha, 3),
            "sowing_progress_pct": sowing_pct,
            "true_sowing_progress_pct": round(100 * true_sown_ha / drill_field.area_ha(), 3),
            "sown_overlap_ha": round(sown.overlap_ha, 4), "sown_skipped_ha": round(sown.skipped_ha, 4),
            "harvested_ha": round(harvested.covered_ha, 4), "true_harvested_ha": round(true_harvested_ha, 4),
            "harvested_error_pct": round(100 * (harvested.covered_ha - true_harvested_ha) / true_harvested_ha, 3),
            "harvested_overlap_ha": round(harvested.overlap_ha, 4),
            "harvested_skipped_ha": round(harvested.skipped_ha, 4),
            "yield_total_kg": round(total.mass_kg, 1), "true_harvest_kg": round(true_kg, 1),
            "yield_error_pct": round(100 * (total.mass_kg - true_kg) / true_kg, 3),
            "yield_mean_t_ha": round(total.mean_yield_t_ha, 3), "yield_points": total.points,
            "yield_points_kept": total.kept, "yield_dropped": total.dropped,
            "fixes_kept": kept, "fixes_stored": {n: len(s) for n, s in stored.items()}, "fixes_stored_twice": twice,
            "fixes_left_in_core": left, "gateway_duplicates": gw_stats["duplicates"],
            "gnss_epochs_lost": {"trk-tractor": tractor.receiver.stats["lost"],
                                 "trk-combine": combine.receiver.stats["lost"]},
            "radio_cut_gnss_s": round(2.0 * SCALE),
        }
        rig.say(f"sown {sown.covered_ha:.4f} ha of {true_sown_ha:.4f}; harvest {total.mass_kg:.0f} kg of "
                f"{true_kg:.0f}")
        days = (max(until.values()) - t0) / 86400
        return await rig.result(days, [], [], None, extra)


SCENARIO = Scenario("field-operations", "a tractor sowing and a combine harvesting through the tracker firmware, "
                    "gateway and cloud: worked area within 2 %, harvest within 3 % of the truth", run)
