"""The readily available water the soil-dry alert compares with: the planner's, from the daily balance.

FAO-56 adjusts the depletion fraction p for the day's crop water use (table 22, footnote:
p = p_table + 0.04 (5 - ETc)): a young crop using 2 mm a day can be left drier before it
stresses than a full canopy using 7. The planner's MAD and the balance's RAW follow that; an
alert on the table's p alone would call a crop stressed that the planner rightly leaves alone.
So the alert takes RAW from the zone's balance for its last complete day (planning/balance.py),
once per zone and day: the balance is recomputed from planting, too much for every evaluation.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime

from ..errors import NotFound
from ..planning import PlanningService
from ..planning.inputs import MissingInputs
from ..registry.models import ZoneOut

log = logging.getLogger(__name__)


class BalanceRaw:
    """`await raw(zone, now_ms)`: the zone's RAW [mm] of its last complete day, or None when its
    balance has none (no weather, no latitude: no ETc); cached per zone for the UTC day."""

    def __init__(self, planning: PlanningService) -> None:
        self._planning = planning
        self._cache: dict[str, tuple[date, float | None]] = {}

    async def __call__(self, zone: ZoneOut, now_ms: int) -> float | None:
        day = datetime.fromtimestamp(now_ms / 1000, UTC).date()
        hit = self._cache.get(zone.id)
        if hit is not None and hit[0] == day:
            return hit[1]
        try:
            rows = (await self._planning.balance(zone.id, days=1)).rows
        except (MissingInputs, NotFound) as e:
            log.info("alerts: zone %s has no balance (%s); RAW from the table's p", zone.id, e)
            rows = []
        raw = rows[-1].raw_mm if rows else None
        self._cache[zone.id] = (day, raw)
        return raw
