"""Soil fertility in the service: soil tests (entered or imported from a lab's CSV), the farm's products and
coefficients, recommendations that explain themselves, and the record of every application.

A recommendation reads the season's soil tests of the zone (the mean of its samples: the points of a
zone make one composite), the crop's coefficients (built-in and cited, or the farm's), the farm's
products, and from the planning service the crop's progress and the root zone's water (the newest
day of the zone's balance). It is stored with every input and its source.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from zoneinfo import ZoneInfo

from shapely.geometry import Point

from furrow.edge.errors import ContractError

from .._time import Clock
from .._time import now_ms as _now_ms
from ..agronomy.fertility import Nutrient
from ..agronomy.fertility_crops import crop_fertility
from ..agronomy.fertility_mix import Product
from ..agronomy.fertility_plan import WaterState, recommend, root_zone_state
from ..db import (
    ApplicationRow,
    Database,
    FertilityCoefficientsRow,
    FieldRow,
    HarvestRow,
    LabMappingRow,
    ProductRow,
    RecommendationRow,
    SiteRow,
)
from ..errors import Conflict, FurrowError, NotFound
from ..events import EventBus
from ..planning import PlanningService
from ..registry import ZONES, Registry, ZoneOut
from ..vigour.boundaries import parse_boundary
from . import lab_csv, records
from .balance import season_balance
from .models import (
    ApplicationIn,
    ApplicationOut,
    CoefficientsIn,
    HarvestIn,
    ImportOut,
    LabMappingIn,
    ProductIn,
    ProductOut,
    RecommendIn,
    SampleIn,
    SampleOut,
)
from .units import RESULTS, stored_unit
from .views import coefficients_view, recommendation_out

log = logging.getLogger(__name__)


class FertilityService:
    """Soil tests, products, coefficients, recommendations and applications of the registry's zones."""

    def __init__(self, db: Database, registry: Registry, planning: PlanningService | None = None,
                 clock: Clock = _now_ms, events: EventBus | None = None) -> None:
        self._db = db
        self._registry = registry
        self._planning = planning
        self.clock = clock
        self.events = events
        # called with each new application (the production records, cloud/trace/); a failure is logged
        self.on_application: list[Callable[[ApplicationOut], Awaitable[None]]] = []

    async def site_of(self, zone: ZoneOut) -> tuple[str, ZoneInfo]:
        """The site (id, time zone) the zone belongs to."""
        def find(session):  # noqa: ANN001, ANN202
            field = session.get(FieldRow, zone.field_id)
            site = session.get(SiteRow, field.site_id)
            return site.id, site.timezone
        site_id, tz = await self._db.run(find)
        return site_id, ZoneInfo(tz)

    # --- soil tests -------------------------------------------------------------------------

    async def add_sample(self, zone_id: str, body: SampleIn, by: str, source: str = "manual") -> SampleOut:
        """Store a sample of an existing zone (NotFound otherwise), its results in stored units."""
        await self._registry.get_zone(zone_id)
        results = body.converted()
        row, _ = await self._db.run(lambda s: records.add_sample(
            s, zone_id=zone_id, season=body.season, sampled_on=body.sampled_on.isoformat(), point=body.point,
            lat=body.lat, lon=body.lon, depth_top_cm=body.depth_top_cm, depth_bottom_cm=body.depth_bottom_cm,
            lab=body.lab, lab_sample_id=body.lab_sample_id, results=results,
            given={k: r.model_dump() for k, r in body.results.items()}, source=source, by=by[:80],
            created_ms=self.clock()))
        return SampleOut.model_validate(row)

    async def samples(self, zone_id: str, season: str | None = None) -> list[SampleOut]:
        """The zone's samples across seasons (or of one), oldest first."""
        await self._registry.get_zone(zone_id)
        return [SampleOut.model_validate(r) for r in await self._db.run(lambda s: records.samples(s, zone_id, season))]

    async def put_mapping(self, lab: str, body: LabMappingIn, by: str) -> LabMappingIn:
        """Store (or replace) the lab's column mapping; every later import from the lab reads through it."""
        await self._db.run(lambda s: records.put_row(s, LabMappingRow, {"lab": lab}, mapping=body.model_dump(),
                                                     updated_ms=self.clock(), by=by[:80]))
        return body

    async def get_mapping(self, lab: str) -> LabMappingIn:
        row = await self._db.run(lambda s: records.mapping(s, lab))
        if row is None:
            raise NotFound("lab", lab, "no column mapping for this lab: PUT /api/v1/fertility/labs/{lab}/mapping first")
        return LabMappingIn.model_validate(row.mapping)

    async def import_csv(self, lab: str, data: bytes, zone: str | None, season: str | None, by: str) -> ImportOut:
        """Import a lab's CSV through its mapping: good rows stored, each bad cell named (lab_csv.py)."""
        mapping = await self.get_mapping(lab)
        if zone is not None:
            await self._registry.get_zone(zone)
        zones = {z.id for z in await self._registry.all(ZONES)} if mapping.zone else set()  # type: ignore[attr-defined]
        rows, errors = lab_csv.parse(data, mapping, lab, zone, zones)
        ids: list[int] = []
        duplicates = 0
        now = self.clock()
        for r in rows:
            f = r.fields
            sampled: date = f["sampled_on"]  # type: ignore[assignment]
            values = dict(zone_id=r.zone_id, season=season or str(sampled.year), sampled_on=sampled.isoformat(),
                          point=f.get("point"), lat=f.get("lat"), lon=f.get("lon"),
                          depth_top_cm=f.get("depth_top_cm", 0.0), depth_bottom_cm=f.get("depth_bottom_cm", 20.0),
                          lab=lab, lab_sample_id=f.get("lab_sample_id"), results=f["results"], given=f["given"],
                          source=f"csv:{lab}:row {r.row}", by=by[:80], created_ms=now)
            row, new = await self._db.run(lambda s, v=values: records.add_sample(s, **v))
            if new:
                ids.append(row.id)
            else:
                duplicates += 1
        rejected = len({e.row for e in errors})
        if errors:
            log.info("lab %s import: %d row(s) rejected, first %s", lab, rejected, errors[0])
        return ImportOut(imported=len(ids), duplicates=duplicates, rejected_rows=rejected, errors=errors, samples=ids)

    async def soil_map(self, zone_id: str, result: str, season: str | None) -> dict:
        """The zone's boundary and its located samples' values of one result (per season, default all)."""
        if result not in RESULTS:
            raise ContractError("result", result, f"not a soil-test result; known: {', '.join(RESULTS)}")
        zone = await self._registry.get_zone(zone_id)
        shape = parse_boundary(zone.boundary) if zone.boundary else None
        points = []
        for s in await self.samples(zone_id, season):
            if s.lat is None or s.lon is None or result not in s.results:
                continue
            inside = None if shape is None else bool(shape.covers(Point(s.lon, s.lat)))
            points.append({"sample_id": s.id, "point": s.point, "lat": s.lat, "lon": s.lon, "season": s.season,
                           "sampled_on": s.sampled_on, "value": s.results[result], "inside": inside})
        return {"zone_id": zone_id, "result": result, "unit": stored_unit(result), "label": RESULTS[result].label,
                "boundary": zone.boundary, "points": points}

    # --- products and coefficients -----------------------------------------------------------

    async def put_product(self, site_id: str, body: ProductIn) -> ProductOut:
        await self._site_exists(site_id)
        values = body.model_dump(exclude={"id"})
        key = {"site_id": site_id, "id": body.id}
        row = await self._db.run(lambda s: records.put_row(s, ProductRow, key, **values))
        return ProductOut.model_validate(row)

    async def products(self, site_id: str) -> list[ProductOut]:
        await self._site_exists(site_id)
        return [ProductOut.model_validate(r) for r in await self._db.run(lambda s: records.products(s, site_id))]

    async def _site_exists(self, site_id: str) -> None:
        if await self._db.run(lambda s: s.get(SiteRow, site_id)) is None:
            raise NotFound("site", site_id, "no site with this id in the registry")

    async def put_coefficients(self, site_id: str, crop: str, body: CoefficientsIn, by: str) -> dict:
        await self._site_exists(site_id)
        overrides = body.model_dump(exclude_none=True)
        overrides["by"] = by
        crop_fertility(crop, overrides, by)  # refuses nothing valid; proves the overrides apply
        await self._db.run(lambda s: records.put_row(s, FertilityCoefficientsRow, {"site_id": site_id,
                                                     "crop": crop.lower()}, overrides=overrides,
                                                     updated_ms=self.clock(), by=by[:80]))
        return await self.coefficients(site_id, crop)

    async def _crop(self, site_id: str, crop: str):  # noqa: ANN202
        row = await self._db.run(lambda s: records.coefficients(s, site_id, crop))
        overrides = row.overrides if row else None
        try:
            return crop_fertility(crop, overrides, by=(overrides or {}).get("by", "farm"))
        except KeyError:
            raise Conflict("crop", crop, "no built-in fertility coefficients for this crop: PUT "
                           f"/api/v1/fertility/sites/{site_id}/coefficients/{crop} with its uptake and "
                           "efficiencies") from None

    async def coefficients(self, site_id: str, crop: str) -> dict:
        """The crop's coefficients as a recommendation would use them, each with its source."""
        await self._site_exists(site_id)
        return coefficients_view(await self._crop(site_id, crop))

    # --- recommendations ----------------------------------------------------------------------

    async def _soil(self, zone_id: str, season: str) -> tuple[dict[str, float], dict[str, object]]:
        rows = await self.samples(zone_id, season)
        used = season
        if not rows:
            older = sorted((s for s in await self.samples(zone_id) if s.season < season),
                           key=lambda s: (s.season, s.sampled_on))
            used = older[-1].season if older else season
            rows = [s for s in older if s.season == used]
        means: dict[str, float] = {}
        for name in RESULTS:
            vals = [s.results[name] for s in rows if name in s.results]
            if vals:
                means[name] = round(sum(vals) / len(vals), 3)
        return means, {"season": used, "samples": [s.id for s in rows],
                       "how": "mean of the season's samples of the zone (one composite)"}

    async def _water(self, zone: ZoneOut, tz: ZoneInfo) -> dict[str, object]:
        """The crop's progress and the root zone's state from the newest day of the zone's balance."""
        out: dict[str, object] = {"state": WaterState.UNKNOWN, "progress": None, "unit": "days"}
        coeffs = zone.crop_coefficients
        by_gdd = coeffs is not None and coeffs.stages_in == "gdd"
        out["unit"] = "gdd" if by_gdd else "days"
        last = None
        if self._planning is not None:
            try:
                balance = await self._planning.balance(zone.id, days=1)
                last = balance.rows[-1] if balance.rows else None
            except (FurrowError, ContractError) as e:
                out["balance"] = f"no balance: {e}"
        if last is not None:
            out.update(state=root_zone_state(last.depletion_mm, last.raw_mm, last.excess_mm), date=last.date,
                       depletion_mm=last.depletion_mm, raw_mm=last.raw_mm, excess_mm=last.excess_mm,
                       balance=f"water balance of {last.date} ({last.source})")
            if by_gdd:
                out["progress"] = last.gdd_cum
        if not by_gdd and zone.planting_date is not None:
            today = datetime.fromtimestamp(self.clock() / 1000, tz).date()
            out["progress"] = (today - zone.planting_date).days + 1
        return out

    async def recommend(self, zone_id: str, body: RecommendIn, by: str) -> dict:
        """Recommend for the zone and season (module docstring); stored and returned."""
        zone = await self._registry.get_zone(zone_id)
        site_id, tz = await self.site_of(zone)
        crop = await self._crop(site_id, zone.crop)
        soil, soil_inputs = await self._soil(zone_id, body.season)
        if not soil:
            raise Conflict("zone", zone_id, "has no soil test in this or an earlier season: enter or import one first")
        # keyed by id (the stored mix, commands and records name products so); the text reads their names
        products = [Product(p.id, p.n_pct, p.p2o5_pct, p.k2o_pct, p.price_per_kg, label=p.name)
                    for p in await self.products(site_id)]
        water = await self._water(zone, tz)
        base = {Nutrient(k): v for k, v in (body.base_yield_kg_ha or {}).items()}
        r = recommend(crop, body.target_yield_kg_ha, soil, products, progress=water["progress"],  # type: ignore[arg-type]
                      progress_unit=str(water["unit"]), water=water["state"],  # type: ignore[arg-type]
                      excess_mm=water.get("excess_mm"), depletion_mm=water.get("depletion_mm"),  # type: ignore[arg-type]
                      raw_mm=water.get("raw_mm"), fertigation=body.fertigation,  # type: ignore[arg-type]
                      base_yields=base, tolerance=body.tolerance)
        inputs = {"soil": soil, "soil_tests": soil_inputs, "water": {k: str(v) if isinstance(v, WaterState) else v
                                                                    for k, v in water.items()},
                  "products": [p.__dict__ for p in products], "crop": zone.crop, "site": site_id,
                  "request": body.model_dump()}
        row = RecommendationRow(zone_id=zone_id, season=body.season, ts_ms=self.clock(), crop=zone.crop,
                                target_yield_kg_ha=body.target_yield_kg_ha, inputs=inputs, by=by[:80],
                                **recommendation_out(r))
        stored = await self._db.run(lambda s: records.add(s, row))
        out = _rec_dict(stored)
        if self.events is not None:
            self.events.publish("fertility", {"zone": zone_id, "recommendation": out["id"]})
        return out

    async def recommendations(self, zone_id: str, season: str | None = None, limit: int = 20) -> list[dict]:
        await self._registry.get_zone(zone_id)
        return [_rec_dict(r) for r in await self._db.run(lambda s: records.recommendations(s, zone_id, season, limit))]

    # --- applications and harvests (append-only) ---------------------------------------------

    async def record_application(self, zone_id: str, body: ApplicationIn, by: str,
                                 command_id: str | None = None, volume_flag: str | None = None) -> ApplicationOut:
        """Record a fertiliser applied to the zone; its nutrients per ha come from the product's analysis.
        `volume_flag`: a fertigation whose reported volume is suspect, and why."""
        zone = await self._registry.get_zone(zone_id)
        site_id, _ = await self.site_of(zone)
        product = await self._db.run(lambda s: s.get(ProductRow, (site_id, body.product_id)))
        if product is None:
            raise NotFound("product_id", body.product_id, f"no product with this id at site {site_id}")
        nutrients = {"N": round(body.rate_kg_ha * product.n_pct / 100, 3),
                     "P2O5": round(body.rate_kg_ha * product.p2o5_pct / 100, 3),
                     "K2O": round(body.rate_kg_ha * product.k2o_pct / 100, 3)}
        row = ApplicationRow(zone_id=zone_id, season=body.season, product_id=product.id, product_name=product.name,
                             rate_kg_ha=body.rate_kg_ha, area_ha=body.area_ha or zone.area_ha,
                             applied_on=body.applied_on.isoformat(), method=body.method, nutrients_kg_ha=nutrients,
                             by=by[:80], recorded_ms=self.clock(), command_id=command_id, note=body.note,
                             volume_flag=volume_flag[:200] if volume_flag else None)
        out = ApplicationOut.model_validate(await self._db.run(lambda s: records.add(s, row)))
        if self.events is not None:
            self.events.publish("fertility", {"zone": zone_id, "application": out.id})
        for listener in self.on_application:
            try:
                await listener(out)
            except Exception:  # the application is stored: the listener's own sync picks it up later
                log.exception("application %s recorded; a listener failed on it", out.id)
        return out

    async def applications(self, zone_id: str, season: str | None = None) -> list[ApplicationOut]:
        await self._registry.get_zone(zone_id)
        return [ApplicationOut.model_validate(r)
                for r in await self._db.run(lambda s: records.applications(s, zone_id, season))]

    async def record_harvest(self, zone_id: str, body: HarvestIn, by: str) -> dict:
        await self._registry.get_zone(zone_id)
        row = HarvestRow(zone_id=zone_id, season=body.season, yield_kg_ha=body.yield_kg_ha,
                         harvested_on=body.harvested_on.isoformat(), residues_removed=body.residues_removed,
                         by=by[:80], recorded_ms=self.clock())
        stored = await self._db.run(lambda s: records.add(s, row))
        return {"id": stored.id, "zone_id": zone_id, **body.model_dump(mode="json"), "by": stored.by}

    async def balance(self, zone_id: str, season: str) -> dict:
        """The season's nutrient balance of the zone: applied vs recommended vs removed by the harvest."""
        zone = await self._registry.get_zone(zone_id)
        site_id, _ = await self.site_of(zone)
        apps = await self.applications(zone_id, season)
        recs = await self.recommendations(zone_id, season, limit=1)
        harvest = await self._db.run(lambda s: records.newest_harvest(s, zone_id, season))
        crop = await self._crop(site_id, zone.crop)
        return season_balance(zone.area_ha, apps, recs[0] if recs else None, harvest, crop)


def _rec_dict(r: RecommendationRow) -> dict:
    return {"id": r.id, "zone_id": r.zone_id, "season": r.season, "ts_ms": r.ts_ms, "crop": r.crop,
            "target_yield_kg_ha": r.target_yield_kg_ha, "needs": r.needs, "applications": r.applications,
            "inputs": r.inputs, "messages": r.messages, "explanation": r.explanation, "by": r.by}
