"""Field operations in the service: record a machine's work from its track, list it, a field's progress.

An operation's worked area is computed once, when it is recorded, from its track (a file, or a
tracker's live track between two times, live.py) and the field's boundary at that moment (coverage.py),
and stored with it; the same live window recorded again is computed again from the fixes stored by
then (a stretch delivered late, after a coverage gap, counts); a field's progress per operation kind is
the union of those covered polygons over the field's current boundary, measured geodesically.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import shapely
from sqlalchemy import select
from sqlalchemy.orm import Session

from furrow.edge.errors import ContractError

from .._time import Clock
from .._time import now_ms as _now_ms
from ..db import (
    DEFAULT_ORGANISATION,
    Database,
    DispatchPlanRow,
    FieldRow,
    GrainMoistureRow,
    OperationRow,
    SiteRow,
    YieldLogRow,
    ZoneRow,
)
from ..errors import Conflict, NotFound
from ..events import EventBus
from ..vigour.boundaries import area_ha, as_geojson, parse_boundary
from .coverage import Coverage, Fix, worked_area
from .live import TrackStore
from .models import (
    CropKindProgress,
    CropProgress,
    CropsProgress,
    DispatchCurrent,
    DispatchIn,
    DispatchOut,
    FieldProgress,
    KindProgress,
    OperationIn,
    OperationKind,
    OperationOut,
    StopOut,
    YieldLogIn,
    YieldLogOut,
    YieldTotal,
    YieldTotals,
)
from .tracks import MAX_FIXES, read_track

log = logging.getLogger(__name__)
SOWN_MIN_HA = 1e-4  # 1 m2: less tracked sowing in a zone is a swath's edge touching it, not the zone sown


def _out(row: OperationRow, with_covered: bool = False) -> OperationOut:
    pct = 100 * row.covered_ha / row.field_ha if row.field_ha else 0.0
    speed = 3.6 * row.work_distance_m / row.work_s if row.work_s > 0 else None
    out = OperationOut.model_validate({**{c: getattr(row, c) for c in OperationOut.model_fields
                                          if c not in ("covered_pct", "speed_kmh", "covered", "skipped")},
                                       "covered_pct": round(pct, 3), "speed_kmh": speed})
    if with_covered:
        out.covered = row.covered
        out.skipped = row.skipped
    return out


def _ref(body: OperationIn) -> str:
    """The same work (field, kind, machine, implement, width) on the same track is one operation."""
    if body.node is not None:  # a live track: the same window of the same tracker
        key = "\n".join([body.field, body.kind, body.machine, body.implement, repr(body.width_m), body.node,
                         str(body.from_ms), str(body.to_ms)])
        return "live:" + hashlib.sha256(key.encode()).hexdigest()[:40]
    key = "\n".join([body.field, body.kind, body.machine, body.implement, repr(body.width_m), body.track or ""])
    return "track:" + hashlib.sha256(key.encode()).hexdigest()[:40]


def _field(session: Session, field_id: str) -> FieldRow:
    field = session.get(FieldRow, field_id)
    if field is None:
        raise NotFound("field", field_id, "no field with this id in the registry")
    if not field.boundary:
        raise Conflict("field", field_id, "has no boundary: PUT /api/v1/registry/fields/{field}/boundary first "
                       "(or import it: furrow fields boundaries FILE)")
    return field


class OperationService:
    """Field operations: record from a track, read back, progress per field."""

    def __init__(self, db: Database, clock: Clock = _now_ms, events: EventBus | None = None,
                 tracks: TrackStore | None = None) -> None:
        self._db = db
        self.clock = clock
        self.events = events
        self.tracks = tracks if tracks is not None else TrackStore(db)
        self.yields = YieldLogs(db, clock)  # the combines' yield monitor logs, per field
        # called with each new operation (the production records, cloud/trace/); a failure is logged
        self.on_record: list[Callable[[OperationOut], Awaitable[None]]] = []

    async def _live_fixes(self, body: OperationIn) -> list[Fix]:
        """The tracker's valid fixes in the body's window, or ContractError naming `node`."""
        assert body.node is not None and body.from_ms is not None and body.to_ms is not None
        live = await self.tracks.track(body.node, body.from_ms, body.to_ms)
        if len(live) > MAX_FIXES:
            raise ContractError("to_ms", body.to_ms, f"the window holds more than {MAX_FIXES} fixes: split it")
        fixes = [f.as_fix() for f in live if f.valid]
        if not fixes:
            raise ContractError("node", body.node, f"has no valid fix stored between {body.from_ms} and {body.to_ms}")
        return fixes

    async def record(self, body: OperationIn, by: str) -> tuple[OperationOut, bool]:
        """Compute the operation's worked area from its track and store it once (the same track of the same
        work again returns the stored one, False). NotFound for an unknown field, Conflict for a field without
        a boundary, ContractError naming what is wrong with the track. A live window recorded again is
        computed again from the fixes stored by then, and the stored operation updated (False)."""
        boundary = await self._db.run(lambda s: _field(s, body.field).boundary)
        live = await self._live_fixes(body) if body.node is not None else None

        def compute() -> tuple[list[Fix], Coverage]:  # a day's track is seconds of work: off the event loop
            fixes = live if live is not None else read_track(body.track_format or "", body.track or "")
            return fixes, worked_area(fixes, body.width_m, parse_boundary(boundary))

        fixes, coverage = await asyncio.to_thread(compute)
        ref = _ref(body)

        def store(session: Session) -> tuple[OperationOut, bool, bool]:
            existing = session.scalars(select(OperationRow).where(OperationRow.ref == ref)).first()
            grown = existing is not None and live is not None and existing.fixes != len(fixes)
            if grown:
                for key, value in _row_values(body, fixes, coverage).items():  # more of the window arrived
                    setattr(existing, key, value)
                session.flush()
            if existing is not None:
                return _out(existing), False, grown
            row = OperationRow(**_row_values(body, fixes, coverage), ref=ref, by=by[:80], created_ms=self.clock())
            session.add(row)
            session.flush()
            return _out(row), True, False

        out, new, grown = await self._db.run(store)
        if (new or grown) and self.events is not None:  # a live window recomputed: the pages redraw its ground
            self.events.publish("operation", out.model_dump(mode="json"))
        if new or live is not None:  # a live window may have been recomputed: the listener sees if it was
            for listener in self.on_record:
                try:
                    await listener(out)
                except Exception:  # the operation is stored: the listener's own sync picks it up later
                    log.exception("operation %s recorded; a listener failed on it", out.id)
        return out, new

    async def get(self, op_id: int) -> OperationOut:
        """One operation with its covered ground (NotFound otherwise)."""

        def get(session: Session) -> OperationOut:
            row = session.get(OperationRow, op_id)
            if row is None:
                raise NotFound("operation", op_id, "no operation with this id")
            return _out(row, with_covered=True)

        return await self._db.run(get)

    async def list(self, field_id: str | None = None, kind: OperationKind | None = None) -> list[OperationOut]:
        """Operations, newest first, of one field and kind when given."""

        def list_(session: Session) -> list[OperationOut]:
            q = select(OperationRow).order_by(OperationRow.started_ms.desc(), OperationRow.id.desc())
            if field_id is not None:
                q = q.where(OperationRow.field_id == field_id)
            if kind is not None:
                q = q.where(OperationRow.kind == kind.value)
            return [_out(r) for r in session.scalars(q)]

        return await self._db.run(list_)

    async def dispatch(self, body: DispatchIn, by: str = "", organisation: str = DEFAULT_ORGANISATION) -> DispatchOut:
        """A dispatch plan (dispatch.py) for the body's machines and tasks, or the registry's when the body gives
        none (jobs.plan_inputs; the kept request then holds them as planned): each task's area left is its field
        less what its kind has covered, at the field's centroid; a machine stands where its tracker's newest
        fix is, or where the body says. ContractError names a machine with no position, and a body machine that
        says available while the registry says it is broken (jobs.registry_refusal); NotFound, Conflict as
        for progress. With `keep` the plan is stored as the farm's current one (`current`)."""
        from .dispatch import Machine, Task, plan
        from .jobs import plan_inputs, registry_refusal

        if body.machines is not None and not body.registry:  # one rule for a broken machine (jobs.py)
            given = body.machines
            await self._db.run(lambda s: registry_refusal(s, organisation, given))
        if body.registry or body.machines is None or body.tasks is None:  # the registry's (jobs.py)
            machines_in, tasks_in = await self._db.run(lambda s: plan_inputs(s, organisation))
            whole = body.registry or (body.machines is None and body.tasks is None)
            body = body.model_copy(update={"machines": machines_in if whole else body.machines or machines_in,
                                           "tasks": tasks_in if whole else body.tasks or tasks_in,
                                           "registry": whole})
        assert body.machines is not None and body.tasks is not None
        now = self.clock()
        latest = {node: f for node, _, f, _ in await self.tracks.latest()}
        machines = []
        for i, m in enumerate(body.machines):
            if m.node is not None and m.node in latest:
                lon, lat = latest[m.node].lon, latest[m.node].lat
            elif m.lon is not None and m.lat is not None:
                lon, lat = m.lon, m.lat
            else:
                raise ContractError(f"machines.{i}", m.id, "has no position: give lon and lat, or a node whose "
                                    "live fixes are stored")
            machines.append(Machine(m.id, tuple(m.implements), m.width_m, m.speed_kmh, m.efficiency, m.road_kmh,
                                    lon, lat, m.available))
        tasks, areas = [], {}
        for t in body.tasks:
            progress = await self.progress(t.field)
            done = next((k.covered_pct for k in progress.kinds if k.kind == t.kind), 0.0)
            boundary = await self._db.run(lambda s, f=t.field: _field(s, f).boundary)
            centre = parse_boundary(boundary).centroid
            areas[t.id] = round(progress.field_ha * max(0.0, 1 - done / 100), 4)
            deadline_h = None if t.deadline_ms is None else (t.deadline_ms - now) / 3_600_000
            tasks.append(Task(t.id, t.field, areas[t.id], t.implement, centre.x, centre.y, deadline_h, t.priority))
        result = await asyncio.to_thread(plan, machines, tasks, body.solver, body.time_limit_s)

        def ms(h: float) -> int:
            return now + round(h * 3_600_000)

        out = DispatchOut(solver=result.solver, planned_ms=now, makespan_h=round(result.makespan_h, 4),
                          routes={m: [StopOut(task=s.task, field=s.field, area_ha=areas[s.task],
                                              travel_h=round(s.travel_h, 4), start_ms=ms(s.start_h),
                                              end_ms=ms(s.end_h), late=s.late) for s in stops]
                                  for m, stops in result.routes.items()},
                          left_out=result.left_out)
        if body.keep:
            def keep(session: Session) -> int:
                row = DispatchPlanRow(planned_ms=now, by=by[:80], request=body.model_dump(mode="json"),
                                      plan=out.model_dump(mode="json"), organisation_id=organisation)
                session.add(row)
                session.flush()
                return row.id

            out.kept_id = await self._db.run(keep)
            if self.events is not None:
                self.events.publish("dispatch", {"id": out.kept_id, "planned_ms": now})
        return out

    async def current(self, organisation: str = DEFAULT_ORGANISATION) -> DispatchCurrent:
        """`organisation`'s newest kept plan (NotFound when the farm has none)."""

        def newest(session: Session) -> DispatchCurrent:
            row = session.scalars(select(DispatchPlanRow).where(DispatchPlanRow.organisation_id == organisation)
                                  .order_by(DispatchPlanRow.id.desc()).limit(1)).first()
            if row is None:
                raise NotFound("dispatch", None, "no plan kept yet: POST /api/v1/dispatch/plan with keep: true")
            return DispatchCurrent(id=row.id, by=row.by, request=DispatchIn.model_validate(row.request),
                                   plan=DispatchOut.model_validate({**row.plan, "kept_id": row.id}))

        return await self._db.run(newest)

    async def crops(self, organisation: str | None = None) -> CropsProgress:
        """Progress per crop: each zone with a boundary counts its crop's area; the covered ground of its
        field's operations inside it counts for each kind, the sowing's as the crop's planted area (so the
        planted area comes from the sowing operations, not typed twice). A zone no sowing was tracked in counts
        as planted whole once the planting_date entered in the registry has come (UTC day). With
        `organisation`, its zones only."""

        def load(session: Session) -> tuple[list[tuple], list[tuple]]:
            zq = select(ZoneRow.id, ZoneRow.field_id, ZoneRow.crop, ZoneRow.boundary,
                        ZoneRow.planting_date).order_by(ZoneRow.id)
            oq = select(OperationRow.field_id, OperationRow.kind, OperationRow.covered)
            if organisation is not None:
                fields = (select(FieldRow.id).join(SiteRow, SiteRow.id == FieldRow.site_id)
                          .where(SiteRow.organisation_id == organisation))
                zq, oq = zq.where(ZoneRow.field_id.in_(fields)), oq.where(OperationRow.field_id.in_(fields))
            zones = session.execute(zq).all()
            ops = session.execute(oq).all()
            return [tuple(z) for z in zones], [tuple(o) for o in ops]

        zones, ops = await self._db.run(load)
        today = datetime.fromtimestamp(self.clock() / 1000, tz=UTC).date().isoformat()

        def compute() -> CropsProgress:
            by_field: dict[tuple[str, str], list] = {}
            for field_id, kind, covered in ops:
                by_field.setdefault((field_id, kind), []).append(parse_covered(covered))
            unions = {key: shapely.union_all(geoms) for key, geoms in by_field.items()}
            crops: dict[str, dict] = {}
            missing = []
            for zone_id, field_id, crop, boundary, planting_date in zones:
                if not boundary:
                    missing.append(zone_id)
                    continue
                shape = parse_boundary(boundary)
                c = crops.setdefault(crop, {"zones": 0, "area": 0.0, "kinds": {}, "entered": 0.0})
                c["zones"] += 1
                zone_ha = area_ha(shape)
                c["area"] += zone_ha
                sown = 0.0
                for kind in OperationKind:
                    union = unions.get((field_id, kind.value))
                    if union is not None:
                        part = union.intersection(shape)
                        covered = 0.0 if part.is_empty else area_ha(part)
                        c["kinds"][kind] = c["kinds"].get(kind, 0.0) + covered
                        if kind is OperationKind.SOWING:
                            sown = covered
                if sown < SOWN_MIN_HA and planting_date is not None and str(planting_date) <= today:
                    c["entered"] += zone_ha  # sown without a tracker: the registry's planting date says so
            def pct(ha: float, whole: float) -> float:
                return round(100 * ha / whole, 3) if whole else 0.0

            out = []
            for crop, c in sorted(crops.items()):
                planted = c["kinds"].get(OperationKind.SOWING, 0.0) + c["entered"]
                out.append(CropProgress(crop=crop, zones=c["zones"], area_ha=round(c["area"], 4),
                                        planted_ha=round(planted, 4), planted_entered_ha=round(c["entered"], 4),
                                        planted_pct=pct(planted, c["area"]),
                                        kinds=[CropKindProgress(kind=k, covered_ha=round(v, 4),
                                                                covered_pct=pct(v, c["area"]))
                                               for k, v in c["kinds"].items()]))
            return CropsProgress(crops=out, zones_without_boundary=missing)

        return await asyncio.to_thread(compute)

    async def progress(self, field_id: str) -> FieldProgress:
        """The share of the field each operation kind has worked: the union of its operations' covered
        ground over the field's boundary, on the ellipsoid (NotFound, or Conflict without a boundary)."""

        def load(session: Session) -> tuple[dict, list[tuple[str, dict, int]]]:
            field = _field(session, field_id)
            rows = session.execute(select(OperationRow.kind, OperationRow.covered, OperationRow.ended_ms)
                                   .where(OperationRow.field_id == field_id)).all()
            return field.boundary, [tuple(r) for r in rows]

        boundary, rows = await self._db.run(load)
        field = parse_boundary(boundary)
        field_ha = area_ha(field)
        kinds: list[KindProgress] = []
        for kind in OperationKind:
            mine = [(parse_covered(c), ended) for k, c, ended in rows if k == kind.value]
            if not mine:
                continue
            union = shapely.union_all([g for g, _ in mine]).intersection(field)
            covered = area_ha(union) if not union.is_empty else 0.0
            kinds.append(KindProgress(kind=kind, covered_ha=round(covered, 4),
                                      covered_pct=round(100 * covered / field_ha, 3), operations=len(mine),
                                      last_ms=max(e for _, e in mine)))
        return FieldProgress(field_id=field_id, field_ha=round(field_ha, 4), kinds=kinds)


def _yield_out(row: YieldLogRow, with_map: bool = False) -> YieldLogOut:
    return YieldLogOut.model_validate({**{c: getattr(row, c) for c in YieldLogOut.model_fields if c != "yields"},
                                       "yields": row.yields if with_map else None})


class YieldLogs:
    """Yield monitor logs cleaned and totalled per field (yield_map.py), kept once per (field, settings, log)."""

    def __init__(self, db: Database, clock: Clock = _now_ms) -> None:
        self._db = db
        self.clock = clock

    async def record(self, body: YieldLogIn, by: str) -> tuple[YieldLogOut, bool]:
        """The log's totals for its field, stored once (the same log again returns the stored one, False).
        NotFound, Conflict as for an operation; ContractError naming the log's line and column."""
        from .grain import standard_moisture
        from .yield_map import YieldFilters, harvest, read_yield_csv

        def field_of(session: Session) -> tuple[dict, dict[str, tuple[float, str]]]:
            field = _field(session, body.field)
            site = session.get(SiteRow, field.site_id)
            return field.boundary, _own_moistures(session, site.organisation_id if site else DEFAULT_ORGANISATION)

        boundary, own = await self._db.run(field_of)
        moisture = body.standard_moisture_pct
        if moisture is None and body.crop in own:
            moisture = own[body.crop][0]  # the farm's own standard for the crop (PUT /standard-moistures/{crop})
        if moisture is None:
            moisture = standard_moisture(body.crop)
        if moisture is None:
            raise ContractError("standard_moisture_pct", None, f"no standard moisture is built in for crop "
                                f"{body.crop!r}: give the moisture its grain is traded at (e.g. 14.0), or set the "
                                f"farm's for the crop once (PUT /api/v1/standard-moistures/{{crop}})")
        body = body.model_copy(update={"standard_moisture_pct": moisture})
        settings = [body.field, repr(body.width_m), repr(body.standard_moisture_pct), repr(body.flow_delay_s)]
        if body.max_overlap != YieldFilters.max_overlap:  # only then: a log stored before the setting keeps its ref
            settings.append(f"max_overlap={body.max_overlap!r}")
        key = "\n".join([*settings, body.log])
        ref = "yield:" + hashlib.sha256(key.encode()).hexdigest()[:40]

        def compute():  # noqa: ANN202 - a day's log is seconds of work: off the event loop
            points = read_yield_csv(body.log)
            return points, harvest(points, body.width_m, parse_boundary(boundary), moisture,
                                   YieldFilters(flow_delay_s=body.flow_delay_s, max_overlap=body.max_overlap))

        points, total = await asyncio.to_thread(compute)
        if total.harvested_ha == 0:
            raise ContractError("field", body.field, "the log's header-down passes do not reach this field")

        def store(session: Session) -> tuple[YieldLogOut, bool]:
            existing = session.scalars(select(YieldLogRow).where(YieldLogRow.ref == ref)).first()
            if existing is not None:
                return _yield_out(existing), False
            row = YieldLogRow(ref=ref, field_id=body.field, crop=body.crop, machine=body.machine, width_m=body.width_m,
                              standard_moisture_pct=moisture, started_ms=points[0].t_ms,
                              ended_ms=points[-1].t_ms, mass_kg=round(total.mass_kg, 2),
                              harvested_ha=round(total.harvested_ha, 6),
                              mean_yield_t_ha=round(total.mean_yield_t_ha, 4),
                              mean_moisture_pct=round(total.mean_moisture_pct, 2), points=total.points,
                              kept=total.kept, dropped=total.dropped,
                              yields=[[round(x, 7), round(y, 7), round(v, 3)] for x, y, v in total.yields],
                              by=by[:80], created_ms=self.clock())
            session.add(row)
            session.flush()
            return _yield_out(row), True

        return await self._db.run(store)

    async def list(self, field_id: str | None = None) -> list[YieldLogOut]:
        """The logs' totals, newest first, of one field when given."""

        def list_(session: Session) -> list[YieldLogOut]:
            q = select(YieldLogRow).order_by(YieldLogRow.started_ms.desc(), YieldLogRow.id.desc())
            if field_id is not None:
                q = q.where(YieldLogRow.field_id == field_id)
            return [_yield_out(r) for r in session.scalars(q)]

        return await self._db.run(list_)

    async def totals(self, season: int | None = None, organisation: str | None = None) -> YieldTotals:
        """The harvest per field and crop and per crop at each crop's standard moisture (yield_totals.py), of the
        logs whose harvest started in `season` (a UTC year) or of all; with `organisation`, of its fields only."""
        from .yield_totals import LogTotal, totals

        def load(session: Session) -> list[LogTotal]:
            cols = (YieldLogRow.id, YieldLogRow.field_id, YieldLogRow.crop, YieldLogRow.machine, YieldLogRow.started_ms,
                    YieldLogRow.ended_ms, YieldLogRow.mass_kg, YieldLogRow.standard_moisture_pct,
                    YieldLogRow.harvested_ha, YieldLogRow.created_ms)
            q = select(*cols)
            if organisation is not None:
                fields = (select(FieldRow.id).join(SiteRow, SiteRow.id == FieldRow.site_id)
                          .where(SiteRow.organisation_id == organisation))
                q = q.where(YieldLogRow.field_id.in_(fields))
            if season is not None:
                start = int(datetime(season, 1, 1, tzinfo=UTC).timestamp() * 1000)
                end = int(datetime(season + 1, 1, 1, tzinfo=UTC).timestamp() * 1000)
                q = q.where(YieldLogRow.started_ms >= start, YieldLogRow.started_ms < end)
            return [LogTotal(*row) for row in session.execute(q)]

        own = {} if organisation is None else await self._db.run(lambda s: _own_moistures(s, organisation))
        fields, crops, replaced = totals(await self._db.run(load), own)
        return YieldTotals(season=season, fields=[YieldTotal(**f) for f in fields],
                           crops=[YieldTotal(**c) for c in crops], replaced=replaced)

    async def moistures(self, organisation: str) -> list[dict]:
        """The standard moisture of each crop the organisation's totals know: its own entries (with their
        sources) and the built-in ones it has not replaced."""
        from .grain import STANDARD_MOISTURE_PCT, STANDARD_MOISTURE_SOURCE

        own = await self._db.run(lambda s: _own_rows(s, organisation))
        out = {crop: {"crop": crop, "pct": pct, "source": STANDARD_MOISTURE_SOURCE, "own": False, "by": None,
                      "updated_ms": None} for crop, pct in STANDARD_MOISTURE_PCT.items()}
        out.update({r.crop: {"crop": r.crop, "pct": r.pct, "source": r.source, "own": True, "by": r.by,
                             "updated_ms": r.updated_ms} for r in own})
        return [out[c] for c in sorted(out)]

    async def put_moisture(self, organisation: str, crop: str, pct: float, source: str, by: str) -> list[dict]:
        """Set the organisation's own standard moisture for a crop (replacing its last entry)."""

        def put(session: Session) -> None:
            row = session.get(GrainMoistureRow, (organisation, crop))
            if row is None:
                row = GrainMoistureRow(organisation_id=organisation, crop=crop)
                session.add(row)
            row.pct, row.source, row.by, row.updated_ms = pct, source, by[:80], self.clock()

        await self._db.run(put)
        return await self.moistures(organisation)

    async def delete_moisture(self, organisation: str, crop: str) -> list[dict]:
        """Drop the organisation's own entry for a crop (its totals go back to the built-in standard, if any)."""

        def delete(session: Session) -> None:
            row = session.get(GrainMoistureRow, (organisation, crop))
            if row is None:
                raise NotFound("crop", crop, "the organisation has no standard moisture of its own for this crop")
            session.delete(row)

        await self._db.run(delete)
        return await self.moistures(organisation)

    async def get(self, log_id: int) -> YieldLogOut:
        """One log's totals with its yield map (NotFound otherwise)."""

        def get(session: Session) -> YieldLogOut:
            row = session.get(YieldLogRow, log_id)
            if row is None:
                raise NotFound("yield_log", log_id, "no yield log with this id")
            return _yield_out(row, with_map=True)

        return await self._db.run(get)


def _own_rows(session: Session, organisation: str) -> list[GrainMoistureRow]:
    return list(session.scalars(select(GrainMoistureRow).where(GrainMoistureRow.organisation_id == organisation)))


def _own_moistures(session: Session, organisation: str) -> dict[str, tuple[float, str]]:
    """The organisation's own standard moistures: crop -> (%, who entered it, when, and the source given)."""
    return {r.crop: (r.pct, f"entered for organisation {organisation} by {r.by} on "
                            f"{datetime.fromtimestamp(r.updated_ms / 1000, UTC).date().isoformat()}: {r.source}")
            for r in _own_rows(session, organisation)}


def parse_covered(geojson: dict) -> shapely.Geometry:
    """A stored covered polygon (possibly empty) as a shapely geometry."""
    if not geojson.get("coordinates"):
        return shapely.Polygon()
    return shapely.geometry.shape(geojson)


def _row_values(body: OperationIn, fixes: list[Fix], c: Coverage) -> dict:
    if c.passes == 0:
        raise ContractError("track", len(fixes), "has no stretch with the implement down: nothing was worked")
    if c.covered_ha == 0:
        raise ContractError("field", body.field, "the track's swaths do not reach this field's boundary: "
                            "is it the right field?")
    return {"field_id": body.field, "kind": body.kind.value, "machine": body.machine, "implement": body.implement,
            "width_m": body.width_m, "operator": body.operator, "product": body.product, "rate": body.rate,
            "rate_unit": body.rate_unit, "started_ms": fixes[0].t_ms, "ended_ms": fixes[-1].t_ms,
            "fixes": len(fixes), "covered_ha": round(c.covered_ha, 6), "gross_ha": round(c.gross_ha, 6),
            "overlap_ha": round(c.overlap_ha, 6), "skipped_ha": round(c.skipped_ha, 6),
            "field_ha": round(c.field_ha, 6), "work_s": c.work_s, "work_distance_m": round(c.work_distance_m, 2),
            "covered": as_geojson(c.covered) if not c.covered.is_empty else {"type": "MultiPolygon",
                                                                              "coordinates": []},
            "skipped": as_geojson(c.skipped) if not c.skipped.is_empty else {"type": "MultiPolygon",
                                                                              "coordinates": []},
            "track": [[f.t_ms, f.lon, f.lat, int(f.down)] for f in fixes], "node": body.node}
