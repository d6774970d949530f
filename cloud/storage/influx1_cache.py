"""Closed roll-up windows kept in memory as numpy columns, so a 90-day chart of any zone of a farm does not
ask InfluxDB again for the hours and days that can no longer change.

A roll-up window (an hour of ``furrow_hourly``, a day of ``furrow_daily``) is closed once the
continuous queries no longer recompute it (``Rollups.closed_before_ms``, less an hour's margin for the
daily query's own period). A closed window changes only when late readings are rolled up for it
(``Influx1ReadingStore.backfill_rollups``): that drops the affected nodes' windows from this process's
cache at once and writes a change mark into InfluxDB (retention policy ``furrow_changes``, one day),
which every other instance on the same database reads before it answers from its cache. Marks are
read by InfluxDB's own clock (``time > now() - …``), so instances' clocks need not agree.

The cache holds, per (roll-up, measurement, node), one ``Block``: a contiguous range of windows, and
for each of the node's sensors (depth, channel) the roll-up's sum, n, min and max per window in four
numpy arrays, 28 bytes a cell. A row per window of Python objects, as before 2026-12-08, took about
400 bytes with its ready buckets: 250,000 rows (five zones of 20 sensors over 90 days) in the memory
that now holds 3.5 million cells (80 such zones). The rows of one sensor in one window that InfluxDB
answers in several series (a node heard through two gateways) are added in the order it answered them,
as the uncached store adds them. Charts are made from the cells with array arithmetic
(``Block.windows``); it keeps at most ``max_rows`` cells, dropping the least recently used node first.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from .influx1_rollups import CHANGES_MEASUREMENT, CHANGES_POLICY, NATIVE_MS

__all__ = ["CHANGES_MEASUREMENT", "CHANGES_POLICY", "Block", "ClosedWindows"]
MARK_SLACK_S = 60.0  # marks re-read this far before the last read: a write's time is set before it is seen
MARK_HORIZON_S = 20 * 3600.0  # not read for longer (marks live a day): everything is dropped instead

Series = tuple[str | None, str | None, list[list]]
"""(depth_cm tag, channel tag, [[time, sum, n, min, max], ...]) of one sensor, as InfluxDB answers it"""

Key = tuple[str, str, str]
"""(roll-up policy, measurement, node)"""

Sensor = tuple[int | None, int | None]
"""(depth_cm, channel)"""

CELL_BYTES = 8 + 4 + 8 + 8  # sum float64, n int32, min float64, max float64
# A node's Block, its four array headers, its key and its place in the order of use take about 800 bytes
# (tracemalloc) whatever it holds: counted as this many cells, so a cache of many nodes without data in
# the range (blocks of no cells) stays within its budget too.
BLOCK_CELLS = 32


@dataclass(frozen=True, slots=True)
class Block:
    """The windows [lo, hi) of one node, `step` long each, as columns: ``n[i, j]`` readings of sensor
    ``sensors[j]`` in window ``lo + i * step``, their ``total`` (sum), ``low`` (min) and ``high`` (max);
    n 0 where the sensor has no row there. Never changed once made (a new Block replaces it), so a
    request that took one answers from it whole while the cache moves on."""

    lo: int
    step: int
    sensors: tuple[Sensor, ...]
    total: np.ndarray  # float64 (windows, sensors)
    n: np.ndarray  # int32
    low: np.ndarray  # float64, +inf where n is 0
    high: np.ndarray  # float64, -inf where n is 0

    @property
    def hi(self) -> int:
        return self.lo + self.n.shape[0] * self.step

    @property
    def cells(self) -> int:
        return self.n.size

    @classmethod
    def empty(cls, lo: int, hi: int, step: int, sensors: tuple[Sensor, ...] = ()) -> Block:
        shape = ((hi - lo) // step, len(sensors))
        return cls(lo, step, sensors, np.zeros(shape), np.zeros(shape, np.int32), np.full(shape, np.inf),
                   np.full(shape, -np.inf))

    @classmethod
    def of_series(cls, lo: int, hi: int, step: int, series: list[Series]) -> Block:
        """The windows [lo, hi) from InfluxDB's answer for one node; windows without rows are held too, as
        empty (InfluxDB was asked for them and had none). A sensor's second row in a window (a node heard
        through two gateways) is added to the first in the order InfluxDB answered them."""
        sensors: dict[Sensor, int] = {}
        parts = []
        for depth, channel, values in series:
            if not values:
                continue
            a = np.array(values, dtype=np.float64)  # time, sum, n, min, max; None -> NaN
            a = a[(a[:, 2] > 0) & ~np.isnan(a[:, 1])]  # a window without readings is no window
            sensor = (None if depth is None else int(depth), None if channel is None else int(channel))
            parts.append((sensors.setdefault(sensor, len(sensors)), (a[:, 0].astype(np.int64) - lo) // step, a))
        block = cls.empty(lo, hi, step, tuple(sensors))
        for j, i, a in parts:
            _, first = np.unique(i, return_index=True)
            alone = np.zeros(i.size, bool)
            alone[first] = True
            alone &= block.n[i, j] == 0  # the window's first row of this sensor: set at once
            k = i[alone]
            block.total[k, j], block.n[k, j], block.low[k, j], block.high[k, j] = (
                a[alone, 1], a[alone, 2], a[alone, 3], a[alone, 4])
            for x in np.flatnonzero(~alone).tolist():  # the rest, in InfluxDB's order
                w, (_, total, n, low, high) = int(i[x]), a[x].tolist()
                block.total[w, j] += total
                block.n[w, j] += int(n)
                block.low[w, j] = min(block.low[w, j], low)
                block.high[w, j] = max(block.high[w, j], high)
        return block

    def _with_sensors(self, sensors: tuple[Sensor, ...]) -> Block:
        """This block with columns for `sensors` (a superset of its own, its own first)."""
        if sensors == self.sensors:
            return self
        wide = Block.empty(self.lo, self.hi, self.step, sensors)
        k = len(self.sensors)
        wide.total[:, :k], wide.n[:, :k], wide.low[:, :k], wide.high[:, :k] = self.total, self.n, self.low, self.high
        return wide

    def join(self, newer: Block) -> Block:
        """This block and `newer`'s windows (newer's where both hold one); `newer` alone where the two do
        not meet."""
        if newer.hi < self.lo or newer.lo > self.hi:
            return newer
        sensors = self.sensors + tuple(s for s in newer.sensors if s not in self.sensors)
        old, new = self._with_sensors(sensors), newer._with_sensors(sensors)
        lo, hi = min(old.lo, new.lo), max(old.hi, new.hi)
        out = Block.empty(lo, hi, self.step, sensors)
        for part in (old, new):
            a, b = (part.lo - lo) // self.step, (part.hi - lo) // self.step
            out.total[a:b], out.n[a:b], out.low[a:b], out.high[a:b] = part.total, part.n, part.low, part.high
        return out

    def before(self, cut: int) -> Block | None:
        """The windows that start before `cut` (None if none), copied so the rest is freed."""
        if cut <= self.lo:
            return None
        k = (min(cut, self.hi) - self.lo) // self.step
        return Block(self.lo, self.step, self.sensors, self.total[:k].copy(), self.n[:k].copy(),
                     self.low[:k].copy(), self.high[:k].copy())

    def since(self, cut: int) -> Block | None:
        """The windows that start at or after `cut` (None if none), copied so the rest is freed."""
        if cut >= self.hi:
            return None
        k = max(0, (cut - self.lo) // self.step)
        return Block(self.lo + k * self.step, self.step, self.sensors, self.total[k:].copy(), self.n[k:].copy(),
                     self.low[k:].copy(), self.high[k:].copy())

    def windows(self, start: int, end: int, window: int, fn: str) -> tuple[np.ndarray, np.ndarray]:
        """fn's value and the readings counted, per window of `window` in [start, end) (held whole, `start`
        a window's start) and sensor: the roll-up windows inside one combined as InfluxQL's ``GROUP BY
        time`` does — sums and counts added oldest first, min of mins, max of maxes, the mean their
        quotient. Where the count is 0 the value means nothing."""
        k = window // self.step
        a, b = (start - self.lo) // self.step, (end - self.lo) // self.step
        shape = ((b - a) // k, k, len(self.sensors))
        n = self.n[a:b].reshape(shape)
        count = n.sum(axis=1, dtype=np.int64)
        if fn == "count":
            return count.astype(np.float64), count
        if fn == "min":
            return self.low[a:b].reshape(shape).min(axis=1), count
        if fn == "max":
            return self.high[a:b].reshape(shape).max(axis=1), count
        parts = self.total[a:b].reshape(shape)
        value, seen = parts[:, 0].copy(), n[:, 0] > 0
        for i in range(1, k):  # one add per part, oldest first: the floats InfluxDB's fold gives
            has = n[:, i] > 0
            value = np.where(has, np.where(seen, value + parts[:, i], parts[:, i]), value)
            seen |= has
        if fn == "mean":
            with np.errstate(divide="ignore", invalid="ignore"):
                value = value / count
        return value, count


class ClosedWindows:
    """Per node, a ``Block`` of the closed windows already read; ``generation`` counts invalidations (a
    read that began before one is not kept: it may hold what the late readings changed)."""

    def __init__(self, max_rows: int) -> None:
        self.max_rows = max_rows  # cells: a sensor's window
        self.generation = 0
        self.rows = 0  # the cells held
        self._blocks: OrderedDict[Key, Block] = OrderedDict()
        self.hits = self.misses = 0  # node-windows answered from memory and read from InfluxDB (tests, bench)

    @property
    def nbytes(self) -> int:
        """The arrays' bytes (the Blocks' own objects add about 800 bytes a node)."""
        return self.rows * CELL_BYTES

    @property
    def used(self) -> int:
        """What counts against ``max_rows``: the cells held and ``BLOCK_CELLS`` for each node's block."""
        return self.rows + BLOCK_CELLS * len(self._blocks)

    def missing(self, key: Key, start_ms: int, end_ms: int) -> list[tuple[int, int]]:
        """The ranges of [start, end) this cache does not hold for `key`."""
        block = self._blocks.get(key)
        if block is None or end_ms < block.lo or start_ms > block.hi:
            return [(start_ms, end_ms)]
        self._blocks.move_to_end(key)
        out = []
        if start_ms < block.lo:
            out.append((start_ms, block.lo))
        if end_ms > block.hi:
            out.append((block.hi, end_ms))
        return out

    def view(self, key: Key) -> Block | None:
        return self._blocks.get(key)

    def fill(self, key: Key, block: Block, generation: int) -> None:
        """Keep `block`, read when ``generation`` was `generation`, with what `key` holds (if they meet)."""
        if generation != self.generation or self.max_rows <= 0:
            return
        held = self._blocks.get(key)
        self._put(key, block if held is None else held.join(block))
        self._blocks.move_to_end(key)
        while self.used > self.max_rows and self._blocks:
            self._put(next(iter(self._blocks)), None)

    def _put(self, key: Key, block: Block | None) -> None:
        """`key` holds `block` now (None: nothing), in its place in the order of use."""
        old = self._blocks.get(key)
        if old is not None:
            self.rows -= old.cells
        if block is None:
            self._blocks.pop(key, None)
        else:
            self._blocks[key] = block
            self.rows += block.cells

    def trim(self, keys: list[Key], before_ms: int) -> None:
        """Forget the windows of `keys` that start before `before_ms` (the warm-up's range has moved on:
        without this a node's block would grow an hour an hour for as long as the service runs)."""
        for key in keys:
            block = self._blocks.get(key)
            if block is not None and block.lo < before_ms:
                self._put(key, block.since(before_ms))

    def invalidate(self, nodes: list[str] | None, start_ms: int, end_ms: int) -> None:
        """Late readings of `nodes` (None: every node) between start and end were rolled up: their
        windows from the one holding `start_ms` on are read again."""
        self.generation += 1
        wanted = None if not nodes else set(nodes)
        for key, block in list(self._blocks.items()):
            policy, _, node = key
            if wanted is not None and node not in wanted:
                continue
            cut = start_ms - start_ms % NATIVE_MS[policy]
            if cut < block.hi:
                self._put(key, block.before(cut))

    def clear(self) -> None:
        self.generation += 1
        self._blocks.clear()
        self.rows = 0
