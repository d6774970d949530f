"""Crop vigour in the service: measured canopy cover per zone, from photos and from people.

The stored cover feeds the water balance (planning/balance.py, FAO-56 ch. 9). Photos arrive from
the cloud's image store as a processing step (`on_canopy_photo`) or through the API.
"""

from __future__ import annotations

import asyncio

from furrow.edge.errors import ContractError

from .._time import Clock
from .._time import now_ms as _now_ms
from ..db import Database
from ..events import EventBus
from ..registry import Registry
from .models import CoverOut
from .photos import photo_cover
from .records import add_cover, cover_rows


class VigourService:
    """Canopy cover of the registry's zones: record (from a photo or a person) and read back."""

    def __init__(self, db: Database, registry: Registry, clock: Clock = _now_ms,
                 events: EventBus | None = None) -> None:
        self._db = db
        self._registry = registry
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

    async def covers(self, zone_id: str, start_ms: int, end_ms: int) -> list[CoverOut]:
        """The zone's measurements in [start_ms, end_ms), oldest first."""
        await self._registry.get_zone(zone_id)
        rows = await self._db.run(lambda s: cover_rows(s, zone_id, start_ms, end_ms))
        return [CoverOut.model_validate(r) for r in rows]
