"""Aggregates as columns: one time axis, a value and a count per sensor, for charts that draw columns
(the zone page's ``/columns``) without a ``Bucket`` object per window: 43,200 of them cost a 90-day hourly
chart about 100 ms to make on this 2-core machine (frozen dataclasses) before any JSON was written.

A store that keeps its windows as arrays (``Influx1ReadingStore`` with its chart cache) answers
``aggregate_table``; the routes ask other stores for their buckets, as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ._reading import Bucket

SensorOf = tuple[str, int | None, int | None]
"""(node, depth_cm, channel)"""


@dataclass(frozen=True, slots=True)
class Table:
    """`times_ms`: the window starts holding a bucket, oldest first; per sensor (`sensors`, in the order
    their buckets come in ``aggregate``'s answer within a window: ``in_bucket_order``) its value (NaN
    where none, or where the bucket's value is None) and count (0 where no bucket)."""

    times_ms: np.ndarray  # int64 (windows,)
    sensors: tuple[SensorOf, ...]
    value: np.ndarray  # float64 (windows, sensors)
    count: np.ndarray  # int64 (windows, sensors)

    @classmethod
    def empty(cls) -> Table:
        return cls(np.zeros(0, np.int64), (), np.zeros((0, 0)), np.zeros((0, 0), np.int64))


def in_bucket_order(sensors: list[SensorOf]) -> list[SensorOf]:
    """`sensors` in the order ``aggregate`` answers within a window: by node, depth, channel (None as -1),
    ties in the order given."""
    return sorted(sensors, key=lambda s: (s[0], s[1] or -1, s[2] or -1))


def table_of(buckets: Sequence[Bucket]) -> Table:
    """The table of buckets in ``aggregate``'s order (a later bucket of the same sensor and window, which
    that order never has, would replace the earlier)."""
    if not buckets:
        return Table.empty()
    times = sorted({b.time_ms for b in buckets})
    row = {t: i for i, t in enumerate(times)}
    seen: dict[SensorOf, None] = {}
    for b in buckets:
        seen.setdefault((b.node, b.depth_cm, b.channel))
    col = {s: j for j, s in enumerate(in_bucket_order(list(seen)))}
    value = np.full((len(times), len(col)), np.nan)
    count = np.zeros((len(times), len(col)), np.int64)
    for b in buckets:
        i, j = row[b.time_ms], col[(b.node, b.depth_cm, b.channel)]
        value[i, j] = np.nan if b.value is None else b.value
        count[i, j] = b.count
    return Table(np.array(times, np.int64), tuple(col), value, count)


def stack(parts: Sequence[Table]) -> Table:
    """Tables of disjoint time ranges, oldest first, as one."""
    parts = [p for p in parts if p.times_ms.size]
    if len(parts) <= 1:
        return parts[0] if parts else Table.empty()
    seen: dict[SensorOf, None] = {}
    for p in parts:
        for s in p.sensors:
            seen.setdefault(s)
    col = {s: j for j, s in enumerate(in_bucket_order(list(seen)))}
    rows = sum(p.times_ms.size for p in parts)
    value = np.full((rows, len(col)), np.nan)
    count = np.zeros((rows, len(col)), np.int64)
    at = 0
    for p in parts:
        cols = [col[s] for s in p.sensors]
        value[at:at + p.times_ms.size, cols] = p.value
        count[at:at + p.times_ms.size, cols] = p.count
        at += p.times_ms.size
    return Table(np.concatenate([p.times_ms for p in parts]), tuple(col), value, count)


def _cells(table: Table) -> zip:
    """(sensor, time, value or None, count) of each bucket, oldest window first, then sensors' order."""
    at = np.flatnonzero(table.count > 0)
    row, col = np.divmod(at, max(1, len(table.sensors)))
    sensors = table.sensors
    return zip([sensors[j] for j in col.tolist()], table.times_ms[row].tolist(),
               [None if v != v else v for v in table.value.ravel()[at].tolist()],
               table.count.ravel()[at].tolist(), strict=True)


def rows_of(table: Table, measurement: str) -> list[dict]:
    """The buckets of `table` as dicts with a Bucket's fields in its order (its JSON, without a Bucket
    made each: 43,200 frozen dataclasses cost ~100 ms, the dicts a third of that)."""
    return [{"node": node, "measurement": measurement, "depth_cm": depth, "channel": channel, "time_ms": t,
             "value": v, "count": n} for (node, depth, channel), t, v, n in _cells(table)]


def buckets_of(table: Table, measurement: str) -> list[Bucket]:
    """The buckets of `table`, oldest window first, then in its sensors' order."""
    return [Bucket(node, measurement, depth, channel, t, v, n) for (node, depth, channel), t, v, n in _cells(table)]

