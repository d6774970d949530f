"""The demo's machines at work: field boundaries, a tractor sowing, and a combine harvesting with its yield monitor,
each tracked by the tracker firmware's core through the gateway to the cloud (issue 20).

The farm's fields get their outlines, laid out as the virtual farm's zones are: the home field is the north
block (2.0 ha, 80 m x 250 m) and the south block (1.5 ha, 60 m x 250 m) side by side; 20 m east of it, the
early block (1.8 ha, 90 m x 200 m), an earlier maize sowing the combine harvests near the end of the
simulated weeks.

* The tractor (trk-tractor, 4 m drill, RTK) sows the north block at 09:00 on its sowing day and the south
  block on its own, back and forth at 9 km/h with 20 s headland turns (hil/machinery.py), the receiver losing
  its fix for a few seconds mid-pass.
* The combine (trk-combine, 9 m header, DGPS wandering 0.3 m) harvests the early block at 10:00 two days
  before the demo goes live, its yield monitor logging wet grain flow; the crop's yield comes from its water
  stress by FAO-33 eq. 1 (the field-operations scenario's crop: Ky 1.25, Ym 12 t/ha, the west half at
  ETa/ETm 0.70, the irrigated east half at 0.95).

Once the demo is live (`live_work`), the tractor sprays the home field with a 20 m boom, back and forth at
9 km/h, then drives the farm track to the early block and cultivates its stubble with a 9 m cultivator: its
next dispatched task. The demo registers the tractor (its operator li-wei, its tracker, both implements) and
the two tasks, keeps a plan made from them, and reports each task done as the tractor finishes it, which plans
again, so the dispatch page and the operator's job page move on with it. All in farm time at the demo's speed:
its tracker's core runs as the other live nodes do (an MQTT node on the demo's broker, its position messages
through the real gateway to the cloud's ingest), so the map shows it moving, and the demo records the job at
work from the tracker's live window every few seconds (POST /operations: the same window again is the stored
operation recomputed), so the field's covered ground grows. Its sequence numbers go on from the season's (the
tracker's seq file is kept in the season's folder).

Each receiver's NMEA goes, epoch by epoch, into the tracker firmware's core (TrackerCore); its positions
messages reach the gateway's source (InProcessGateway.receive), wait in its durable buffer and are forwarded
to the cloud's ingest, which keeps the fixes (track_points). The cloud then records each operation from the
tracker's live window (OperationService.record: covered area, overlap, skips, progress) and totals the
combine's log (POST /yield-logs' service). The farm's own Ym for maize is entered, so each zone's expected
yield (GET /zones/{zone}/expected-yield) reads in t/ha beside the harvest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from time import perf_counter, process_time
from typing import Any
from zoneinfo import ZoneInfo

from furrow.cloud.machinery.models import OperationIn, OperationKind, YieldLogIn
from furrow.cloud.registry import FIELDS
from furrow.cloud.registry.models import FieldIn
from furrow.cloud.trace.models import RecordIn
from furrow.firmware.seqstore import SeqStore
from furrow.hil import demo_farm
from furrow.hil.machinery import Field, Leg, Pattern, Receiver, Tour, TrackerCore, YieldMonitor
from furrow.hil.scenarios.field_operations import YM_KG_M2, crop_kg_m2

TRACTOR, COMBINE = "trk-tractor", "trk-combine"
EARLY = "early"
DRILL_M, HEADER_M = 4.0, 9.0
LENGTH_M = 250.0
MIN_DAYS = max(z.sown_day for z in demo_farm.ZONES) + 3  # the last block sown, and the harvest after it
BOOM_M = 20.0  # the live spraying's boom: 7 passes over the home field's 140 m
CULTIVATOR_M = HEADER_M  # the stubble cultivator after the harvest: the combine's 10 passes over the early block
EARLY_GAP_M = 20.0  # between the home field's east edge and the early block
ROAD_M_S = 4.0  # the tractor's speed on the farm track between two fields (14.4 km/h)
MACHINE, BOOM, CULTIVATOR = "tractor-1", "sprayer-20m", "cultivator-9m"
OPERATOR = "li-wei"  # the tractor's driver: the demo's operator login (#/job on a phone)
POWERED_S = 365 * 86_400  # how long the tractor's tracker reports (parked) after its day's work
LIVE_SPEED_M_S = 2.5  # 9 km/h: 100 s along the field's 250 m
LIVE_START_S = 5  # the tractor sets off this long after the demo goes live
STEP_S = 120  # GNSS seconds read per gateway receive: the tracker's board loop, played in steps
TAIL_S = 40  # the receiver runs on after the work: the last fixes leave the core
YM_SOURCE = ("the demo farm's maize under full irrigation: the simulated crop's Ym (hil/scenarios/"
             "field_operations.py, 12 t/ha at 15.5 %)")


@dataclass(frozen=True)
class Layout:
    home: Field
    blocks: dict[str, Field]  # zone id -> its strip of the home field
    early: Field


def layout(place: demo_farm.Place) -> Layout:
    """The fields' outlines about the farm's location (the nodes stand a few metres from it)."""
    lon, lat = place.lon - 0.0009, place.lat - 0.0012
    widths = {z.id: z.area_ha * 10_000 / LENGTH_M for z in demo_farm.ZONES}  # 80 m and 60 m
    passes = {zid: round(w / DRILL_M) for zid, w in widths.items()}
    home = Field(lon, lat, DRILL_M, sum(passes.values()), LENGTH_M)
    blocks, x = {}, 0.0
    for z in demo_farm.ZONES:
        blocks[z.id] = Field(*home.lonlat(x, 0.0), DRILL_M, passes[z.id], LENGTH_M)
        x += passes[z.id] * DRILL_M
    early = Field(*home.lonlat(x + EARLY_GAP_M, 0.0), HEADER_M, 10, 200.0)
    return Layout(home, blocks, early)


def _local_s(day: date, hour: int, place: demo_farm.Place) -> int:
    return int(datetime.combine(day, time(hour), ZoneInfo(place.timezone)).timestamp())


class _Gnss:
    """The GNSS time the machines' cores read up to: stepped by `work`, not by the wall clock."""

    def __init__(self) -> None:
        self.s = 0.0

    def __call__(self) -> float:
        return self.s


async def _drive(runtime: Any, core: TrackerCore, gnss: _Gnss, t0: int, until: int) -> None:
    """Play the core's board loop from `t0` to past `until` in STEP_S steps, each step's messages received
    by the gateway and forwarded to the cloud."""
    s = t0
    while s <= until + TAIL_S:
        s += STEP_S
        gnss.s = s
        for message in core.tick(int(s * 1000)):
            runtime.receive(message)
        await runtime.forward()


async def work(runtime: Any, place: demo_farm.Place, start: date, end: date, state_dir: Path,
               seed: int = 7) -> dict[str, Any]:
    """Boundaries, the sowing of each block on its sowing day, and the harvest of the early block on `end` - 2
    days; the operations recorded and the yield log totalled by the cloud's services. What was done, for the
    demo's log."""
    wall0, cpu0 = perf_counter(), process_time()
    services = runtime.services
    lay = layout(place)
    await services.registry.create(FIELDS, FieldIn(id=EARLY, site_id=demo_farm.SITE, name="Early block",
                                                   area_ha=round(lay.early.area_ha(), 2)))
    await services.vigour.set_boundary("field", demo_farm.FIELD, lay.home.boundary)
    await services.vigour.set_boundary("field", EARLY, lay.early.boundary)
    for zid, block in lay.blocks.items():
        await services.vigour.set_boundary("zone", zid, block.boundary)
    state_dir.mkdir(parents=True, exist_ok=True)
    gnss = _Gnss()
    seqs = {n: SeqStore(str(state_dir / f"{n}.seq")) for n in (TRACTOR, COMBINE)}
    ops = services.operations
    done: dict[str, Any] = {"sown": {}, "harvested": None}
    for i, z in enumerate(demo_farm.ZONES):
        block = lay.blocks[z.id]
        pattern = Pattern(block, passes=block.passes, speed_m_s=2.5, turn_s=20)
        t0 = _local_s(start + timedelta(days=z.sown_day), 9, place)
        until = t0 + pattern.duration_s
        receiver = Receiver(pattern, t0, lost=((130, 138),), seed=seed + i)
        core = TrackerCore(TRACTOR, seqs[TRACTOR], receiver, gnss, until)
        await _drive(runtime, core, gnss, t0, until)
        op, _ = await ops.record(OperationIn(field=demo_farm.FIELD, kind=OperationKind.SOWING, machine="tractor-1",
                                             implement="drill-4m", operator="Li Wei", width_m=DRILL_M, product="maize",
                                             node=TRACTOR, from_ms=t0 * 1000, to_ms=(until + TAIL_S) * 1000),
                                 by="person:technician")
        done["sown"][z.id] = {"operation": op.id, "covered_ha": round(op.covered_ha, 4),
                              "true_ha": round(block.worked_ha(block.passes), 4)}
    early = lay.early
    harvesting = Pattern(early, passes=early.passes, speed_m_s=2.0, turn_s=20)
    t0 = _local_s(end - timedelta(days=2), 10, place)
    until = t0 + harvesting.duration_s
    monitor = YieldMonitor(harvesting, t0, crop_kg_m2(early), seed=seed)
    receiver = Receiver(harvesting, t0, noise_m=0.3, correlation_s=30, quality=2, lost=((250, 258),), seed=seed + 5)
    core = TrackerCore(COMBINE, seqs[COMBINE], receiver, gnss, until, on_epoch=monitor.on_epoch)
    await _drive(runtime, core, gnss, t0, until)
    op, _ = await ops.record(OperationIn(field=EARLY, kind=OperationKind.HARVEST, machine="combine-1",
                                         implement="header-9m", operator="Zhang Min", width_m=HEADER_M, product="maize",
                                         node=COMBINE, from_ms=t0 * 1000, to_ms=(until + TAIL_S) * 1000),
                             by="person:technician")
    log, _ = await ops.yields.record(YieldLogIn(field=EARLY, crop="maize", machine="combine-1", width_m=HEADER_M,
                                                log=monitor.csv()), by="person:technician")
    lot = await _lot(services.trace, op.id, log, t0, place)
    await services.expected_yield.put_potential(demo_farm.SITE, "", "maize", None, round(YM_KG_M2 * 10, 3),
                                                YM_SOURCE, "person:technician")
    done["harvested"] = {"operation": op.id, "covered_ha": round(op.covered_ha, 4),
                         "true_ha": round(early.worked_ha(early.passes), 4), "yield_log": log.id,
                         "mass_kg": round(log.mass_kg, 1), "true_kg": round(monitor.true_kg, 1), "lot": lot}
    done["took_s"] = {"wall": round(perf_counter() - wall0, 2), "cpu": round(process_time() - cpu0, 2)}
    return done


async def _lot(trace: Any, op_id: int, log: Any, t0: int, place: demo_farm.Place) -> str:
    """The harvest's lot, as the farm's technician adds it (docs/traceability.md, 1): the machine's record of the
    harvest knows the track, not the lot, so a person corrects that record with the lot's id and the grain it
    holds (the yield log's total at standard moisture). The lot page then traces it back to the field."""
    [chain] = [c for c in await trace.chains(EARLY)]
    [record] = [r for r in await trace.chain(EARLY, chain["season"]) if r["source"].startswith(f"operation:{op_id}:")]
    lot = f"EB-{chain['season']}-001"
    await trace.record(RecordIn(
        field=EARLY, season=chain["season"], occurred_at=datetime.fromtimestamp(t0, ZoneInfo(place.timezone)),
        details={"kind": "harvest", "lot_id": lot, "quantity_kg": round(log.mass_kg),
                 "moisture_pct": log.standard_moisture_pct},
        corrects=record["seq"], reason="the lot and its grain from the combine's yield log",
        idempotency_key=f"demo-lot-{lot}"), by="person:technician")
    return lot


@dataclass(frozen=True)
class LiveJob:
    """One job of the tractor's live day: its dispatch task, and the body that records its work from the tracker's
    window (POST /api/v1/operations)."""

    task: str
    body: dict[str, Any]
    start_s: int
    until_s: int
    true_ha: float  # the ground the implement covers when done (the truth the recorded area approaches)


@dataclass(frozen=True)
class LiveWork:
    """The tractor's live day (module docstring): its tracker's core on the whole tour, for the demo's MQTT node
    runner; its jobs in the order it works them; and the farm's machinery as the demo registers it for dispatch
    ((path, body) for POST /api/v1/registry/<path>): the implements, the tracker, the tractor with its operator,
    and a task per job, the first with a deadline so the plan puts it first, as the tractor works them."""

    core: TrackerCore
    jobs: tuple[LiveJob, ...]
    registry: tuple[tuple[str, dict[str, Any]], ...]

    @property
    def until_s(self) -> int:
        return self.jobs[-1].until_s


def live_work(place: demo_farm.Place, now_s: float, gnss_s: Callable[[], float], trackers_dir: Path,
              seed: int = 7) -> LiveWork:
    """From `now_s` + LIVE_START_S (farm seconds) the tractor sprays the home field with its 20 m boom, then drives
    to the early block, harvested two days before, and cultivates its stubble with a 9 m cultivator (its next
    dispatched task); its GNSS time `gnss_s` (the demo's clock), its seq file in `trackers_dir`, where the season
    left it."""
    lay = layout(place)
    home, early = lay.home, lay.early
    passes = round(home.width_m * home.passes / BOOM_M)
    boom = Field(*home.lonlat(0.0, 0.0), BOOM_M, passes, LENGTH_M)
    early_x = home.width_m * home.passes + EARLY_GAP_M  # the early block's corner in the home field's plane
    stubble = Field(*home.lonlat(early_x, 0.0), CULTIVATOR_M, early.passes, early.length_m)
    tour = Tour((Leg(Pattern(boom, passes=passes, speed_m_s=LIVE_SPEED_M_S, turn_s=20), 0.0, 0.0),
                 Leg(Pattern(stubble, passes=early.passes, speed_m_s=LIVE_SPEED_M_S, turn_s=20), early_x, 0.0)),
                road_m_s=ROAD_M_S)
    start = int(now_s) + LIVE_START_S
    trackers_dir.mkdir(parents=True, exist_ok=True)
    receiver = Receiver(tour, start, seed=seed + 11)  # RTK, as the season's tractor
    spans = [(start + a, start + b) for a, b in tour.spans()]
    # the tracker stays powered after the day's work, as on a real machine: parked fixes every few minutes (the
    # firmware's parked interval), so a registered tracker is never silent while the demo runs
    core = TrackerCore(TRACTOR, SeqStore(str(trackers_dir / f"{TRACTOR}.seq")), receiver, gnss_s,
                       spans[-1][1] + POWERED_S)
    common = {"machine": MACHINE, "operator": "Li Wei", "node": TRACTOR}
    (s0, u0), (s1, u1) = spans
    jobs = (LiveJob("spray-home", {**common, "field": demo_farm.FIELD, "kind": OperationKind.SPRAYING.value,
                                   "implement": BOOM, "width_m": BOOM_M, "product": "fungicide",
                                   "from_ms": s0 * 1000, "to_ms": (u0 + TAIL_S) * 1000}, s0, u0,
                    boom.worked_ha(passes)),
            LiveJob("till-early", {**common, "field": EARLY, "kind": OperationKind.TILLAGE.value,
                                   "implement": CULTIVATOR, "width_m": CULTIVATOR_M, "product": None,
                                   "from_ms": s1 * 1000, "to_ms": (u1 + TAIL_S) * 1000}, s1, u1,
                    stubble.worked_ha(early.passes)))
    registry = (
        ("implements", {"id": BOOM, "name": "Boom sprayer 20 m", "kind": "sprayer", "width_m": BOOM_M,
                        "operations": ["spraying"]}),
        ("implements", {"id": CULTIVATOR, "name": "Stubble cultivator 9 m", "kind": "cultivator",
                        "width_m": CULTIVATOR_M, "operations": ["tillage"]}),
        ("nodes", {"id": TRACTOR, "role": "tracker", "site_id": demo_farm.SITE}),
        ("machines", {"id": MACHINE, "name": "Tractor 1", "type": "tractor", "width_m": BOOM_M,
                      "speed_kmh": LIVE_SPEED_M_S * 3.6, "node_id": TRACTOR, "implement_ids": [BOOM, CULTIVATOR],
                      "operator": OPERATOR}),
        ("tasks", {"id": "spray-home", "field_id": demo_farm.FIELD, "kind": "spraying", "implement_id": BOOM,
                   "priority": 1, "deadline_ms": (u0 + 3600) * 1000}),
        ("tasks", {"id": "till-early", "field_id": EARLY, "kind": "tillage", "implement_id": CULTIVATOR,
                   "priority": 3}))
    return LiveWork(core, jobs, registry)
