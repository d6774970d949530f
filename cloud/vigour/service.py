"""Crop vigour in the service: measured canopy cover per zone (photos, people), field and zone
boundaries, and NDVI per zone from the rasters an agronomist brings.

The stored cover feeds the water balance (planning/balance.py, FAO-56 ch. 9). Photos arrive from
the cloud's image store as a processing step (`on_canopy_photo`) or through the API. A raster is
reduced to the zone's statistics (rasters.py) against the zone's boundary, which must be set first.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from furrow.edge.errors import ContractError

from .._time import Clock
from .._time import now_ms as _now_ms
from ..db import Database, FieldRow, IndexStatsRow, ZoneRow
from ..errors import Conflict, NotFound
from ..events import EventBus
from ..fields import spatial as _spatial  # a module import: fields.spatial imports vigour.boundaries
from ..images.service import StoredImage
from ..registry import Registry
from ..storage import ReadingStore
from .boundaries import INSIDE_TOLERANCE, as_geojson, check_inside, parse_boundary
from .models import BoundaryOut, CoverOut, NdviOut
from .photos import photo_cover
from .rasters import ZoneNdvi, geotiff_ndvi, sentinel2_ndvi
from .records import add_cover, add_index_stats, cover_rows, index_rows
from .zone_season import ThermalTime, zone_season

log = logging.getLogger(__name__)


class VigourService:
    """Canopy cover of the registry's zones: record (from a photo or a person) and read back."""

    def __init__(self, db: Database, registry: Registry, clock: Clock = _now_ms,
                 events: EventBus | None = None, store: ReadingStore | None = None,
                 spatial: _spatial.Spatial | None = None) -> None:
        self._db = db
        # PostGIS where the database has it (fields/spatial.py), shapely otherwise
        self.spatial: _spatial.Spatial = spatial or _spatial.ShapelySpatial()
        self._registry = registry
        self._store = store
        self.thermal: ThermalTime | None = None
        """A degree-day crop's thermal time (PlanningService.gdd_by_day), for its expected cover; the app sets it."""
        self.clock = clock
        self.events = events

    async def _record(self, **values: object) -> CoverOut:
        row, new = await self._db.run(lambda s: add_cover(s, **values))  # type: ignore[arg-type]
        out = CoverOut.model_validate(row)
        if new and self.events is not None:
            self.events.publish("cover", out.model_dump())
        return out

    async def record_cover(self, zone_id: str, cover_pct: float, ts_ms: int | None, method: str, by: str) -> CoverOut:
        """A person's measurement of an existing zone (NotFound otherwise), at `ts_ms` (default now)."""
        await self._registry.get_zone(zone_id)
        now = self.clock()
        at = now if ts_ms is None else ts_ms
        if at > now + 300_000:
            raise ContractError("at", at, "is in the future: a cover is recorded when it was measured")
        return await self._record(zone_id=zone_id, ts_ms=at, cover_pct=cover_pct, source="manual",
                                  ref=f"manual:{at}:{by}"[:200], method=method, by=by, now_ms=now)

    async def cover_from_photo(self, zone_id: str, data: bytes, ts_ms: int, ref: str, by: str,
                               node: str | None = None) -> CoverOut:
        """Classify a canopy photo of the zone (Canopeo) and record its cover once under `ref`
        (ContractError naming the image when it cannot be read)."""
        await self._registry.get_zone(zone_id)
        photo = await asyncio.to_thread(photo_cover, data)
        return await self._record(zone_id=zone_id, ts_ms=ts_ms, cover_pct=100 * photo.fraction, source="photo",
                                  ref=ref, method=photo.method, by=by, now_ms=self.clock(), node=node,
                                  pixels=photo.width * photo.height)

    async def on_canopy_photo(self, image: StoredImage, data: bytes) -> CoverOut | None:
        """The image store's processing step for canopy photos (ImageService.subscribe("canopy", ...)):
        the photo's cover is recorded for the camera's zone once per image (ref image:<node>/<seq>);
        a camera registered in no zone gives nothing, logged."""
        if image.zone_id is None:
            log.warning("canopy photo %s/%d: camera %s is in no zone, no cover recorded", image.node, image.seq,
                        image.node)
            return None
        return await self.cover_from_photo(image.zone_id, data, image.ts_ms, f"image:{image.node}/{image.seq}",
                                           by=f"node:{image.node}", node=image.node)

    async def covers(self, zone_id: str, start_ms: int, end_ms: int) -> list[CoverOut]:
        """The zone's measurements in [start_ms, end_ms), oldest first."""
        await self._registry.get_zone(zone_id)
        rows = await self._db.run(lambda s: cover_rows(s, zone_id, start_ms, end_ms))
        return [CoverOut.model_validate(r) for r in rows]

    async def set_boundary(self, kind: str, key: str, geojson: object) -> BoundaryOut:
        """Set a field's or zone's boundary (boundaries.py). A zone's must lie inside its field's (when the
        field has one); a field's must still hold each of its zones' (else Conflict naming the zone)."""
        geom = parse_boundary(geojson)
        stored = as_geojson(geom)
        spatial = self.spatial

        def update(session: Session) -> BoundaryOut:
            row = session.get(ZoneRow if kind == "zone" else FieldRow, key)
            if row is None:
                raise NotFound(kind, key, f"no {kind} with this id in the registry")
            area = round(spatial.area_ha(session, geom), 4)
            if kind == "zone":
                field = session.get(FieldRow, row.field_id)
                if field is not None and field.boundary:
                    share = spatial.outside_share(session, geom, parse_boundary(field.boundary))
                    check_inside(share, key, field.id)
            else:
                for zone in session.scalars(select(ZoneRow).where(ZoneRow.field_id == key)):
                    if zone.boundary and spatial.outside_share(session, parse_boundary(zone.boundary),
                                                               geom) > INSIDE_TOLERANCE:
                        raise Conflict("boundary", key, f"zone {zone.id}'s boundary would lie outside the field's: "
                                       "change the zone's first")
            row.boundary, row.boundary_area_ha = stored, area
            return BoundaryOut(id=key, boundary=stored, boundary_area_ha=area)

        return await self._db.run(update)

    async def _zone_boundary(self, zone_id: str) -> object:
        zone = await self._registry.get_zone(zone_id)
        if zone.boundary is None:
            raise Conflict("zone", zone_id, "has no boundary: PUT /api/v1/registry/zones/{zone}/boundary first")
        return parse_boundary(zone.boundary)

    async def import_ndvi(self, zone_id: str, source: str, data: bytes, at_ms: int, ref: str, by: str,
                          **params: object) -> NdviOut:
        """Reduce a raster (source "geotiff" or "sentinel2-l2a") to the zone's NDVI and store it once per
        (zone, ref); ContractError naming what is wrong with the raster, Conflict without a boundary."""
        geom = await self._zone_boundary(zone_id)
        if source == "sentinel2-l2a":
            stats: ZoneNdvi = await asyncio.to_thread(sentinel2_ndvi, data, geom, **params)  # type: ignore[arg-type]
        else:
            stats = await asyncio.to_thread(geotiff_ndvi, data, geom, **params)  # type: ignore[arg-type]
        p = stats.percentiles
        row, new = await self._db.run(lambda s: add_index_stats(
            s, zone_id=zone_id, ts_ms=at_ms, index_name="ndvi", source=source, ref=ref[:200], mean=stats.mean,
            p10=p[10], p25=p[25], p50=p[50], p75=p[75], p90=p[90], pixels=stats.pixels,
            valid_share=stats.valid_share, map_png=stats.map_png, detail=stats.detail, created_ms=self.clock(),
            by=by[:80]))
        out = NdviOut.model_validate(row)
        if new and self.events is not None:
            self.events.publish("ndvi", out.model_dump())
        return out

    async def ndvi(self, zone_id: str, start_ms: int, end_ms: int) -> list[NdviOut]:
        """The zone's NDVI statistics in [start_ms, end_ms), oldest first."""
        await self._registry.get_zone(zone_id)
        rows = await self._db.run(lambda s: index_rows(s, zone_id, start_ms, end_ms))
        return [NdviOut.model_validate(r) for r in rows]

    async def ndvi_map(self, zone_id: str, stats_id: int) -> bytes:
        """The PNG map of one of the zone's NDVI statistics (NotFound naming the id)."""
        row = await self._db.run(lambda s: s.get(IndexStatsRow, stats_id))
        if row is None or row.zone_id != zone_id or row.map_png is None:
            raise NotFound("stats_id", stats_id, f"zone {zone_id} has no NDVI map with this id")
        return row.map_png

    async def season(self, zone_id: str, start_ms: int, end_ms: int) -> dict[str, object]:
        """The zone page's vigour: cover, NDVI, the expected cover and the lag against neighbours."""
        assert self._store is not None, "the service reads the zone's NDVI sensor from the readings store"
        return await zone_season(self._registry, self._db, self._store, zone_id, start_ms, end_ms, self.thermal)
