"""Zone soil charts read into the chart cache when the service starts (and hourly after), so the first
look at a zone answers from memory instead of waiting seconds for InfluxDB.

The zone page's soil chart is the mean volumetric water content per window over 30 or 90 days; both
are made from the hourly roll-up's columns (``influx1_cache.ClosedWindows``), which this job reads for
the last ``days`` of every zone, zone after zone, while the cache is below ``FILL_SHARE`` of its cells
(so charts opened later, of other measurements or older ranges, still find room). A zone's columns stay
held as the service runs: each pass reads only the hours closed since the last and forgets those that
fell out of the range. At the default ``influx_chart_cache_rows`` every zone of a farm of 100 zones of
20 sensors fits (docs/cloud.md, "Chart cache").
"""

from __future__ import annotations

import logging

from ._time import Clock
from .registry import ZONES, Registry
from .storage import ReadingStore

log = logging.getLogger(__name__)

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
FILL_SHARE = 0.8
WINDOWS_MS = 12 * HOUR_MS  # a multiple of every hourly window of dashboard.AUTO_WINDOWS
CHARTED = "vwc_pct"  # the zone page's soil chart


async def warm_zone_charts(registry: Registry, store: ReadingStore, clock: Clock, days: int) -> int:
    """Read the last `days` of each zone's soil chart into `store`'s chart cache; the number of zones read
    (0 where the store keeps no cache)."""
    closed = getattr(store, "closed", None)
    if closed is None or days <= 0 or not hasattr(store, "hold"):
        return 0
    end = clock()
    start = end - days * DAY_MS
    # from the start of a 12-hour window: every hourly window the zone page asks for (1, 2, 3, 6, 12 h,
    # each starting its range at a multiple of itself) then starts inside what is held, not an hour or
    # two before it (which each chart would read from InfluxDB again until the next pass trimmed it)
    start -= start % WINDOWS_MS
    warmed = skipped = 0
    for zone in await registry.all(ZONES):
        nodes = sorted(n.id for n in await registry.nodes_of_zone(zone.id))
        if not nodes:
            continue
        # A zone already held is read on (its new hours, its oldest forgotten) even with the cache full:
        # otherwise its block would grow an hour an hour until the cache dropped it whole. Only a zone
        # not yet held waits for room.
        if closed.used >= closed.max_rows * FILL_SHARE and not store.holds(nodes, CHARTED):
            skipped += 1
            continue
        await store.hold(nodes, CHARTED, start, end)
        warmed += 1
    if skipped:
        log.info("chart warm-up left %d zones out: the chart cache holds %d of its %d cells",
                 skipped, closed.used, closed.max_rows)
    return warmed
