"""Closed roll-up windows kept in memory, so a 90-day chart does not ask InfluxDB again for the hours
and days that can no longer change.

A roll-up window (an hour of ``furrow_hourly``, a day of ``furrow_daily``) is closed once the
continuous queries no longer recompute it (``Rollups.closed_before_ms``, less an hour's margin for the
daily query's own period). A closed window changes only when late readings are rolled up for it
(``Influx1ReadingStore.backfill_rollups``): that drops the affected nodes' windows from this process's
cache at once and writes a change mark into InfluxDB (retention policy ``furrow_changes``, one day),
which every other instance on the same database reads before it answers from its cache. Marks are
read by InfluxDB's own clock (``time > now() - …``), so instances' clocks need not agree.

The cache holds, per (roll-up, measurement, node), the rows of one contiguous range of windows: the
roll-up's sum, n, min and max per depth and channel, in the order InfluxDB answered them (so combining
a window that two gateways' series share gives the same floats as without the cache), and the buckets
made of them for each aggregate and window asked (so a chart served from memory only gathers ready
objects; a window of several roll-up windows, like the dashboard's 2 or 3 hours over 90 days, is made
by combining theirs). It keeps at most ``max_rows`` rows, dropping the least recently used node first.
"""

from collections import OrderedDict
from dataclasses import dataclass, field

from .influx1_rollups import CHANGES_MEASUREMENT, CHANGES_POLICY, NATIVE_MS

__all__ = ["CHANGES_MEASUREMENT", "CHANGES_POLICY", "ClosedWindows"]
MARK_SLACK_S = 60.0  # marks re-read this far before the last read: a write's time is set before it is seen
MARK_HORIZON_S = 20 * 3600.0  # not read for longer (marks live a day): everything is dropped instead

Row = tuple[str | None, str | None, float | None, int | None, float | None, float | None]
"""(depth_cm tag, channel tag, sum, n, min, max) of one series in one window"""

Key = tuple[str, str, str]
"""(roll-up policy, measurement, node)"""


@dataclass(slots=True)
class _Entry:
    lo: int
    hi: int  # the windows starting in [lo, hi) are held
    rows: dict[int, list[Row]] = field(default_factory=dict)
    # "fn" (the roll-up's own windows) or "fn/window_ms" (several of them) -> window start -> its buckets
    made: dict[str, dict[int, tuple]] = field(default_factory=dict)
    size: int = 0


def _span(made_key: str, policy: str) -> int:
    """How long the windows of a ``made`` key are."""
    _, _, window = made_key.partition("/")
    return int(window) if window else NATIVE_MS[policy]


class ClosedWindows:
    """Per node, the rows of the closed windows already read; ``generation`` counts invalidations (a
    read that began before one is not kept: it may hold what the late readings changed)."""

    def __init__(self, max_rows: int) -> None:
        self.max_rows = max_rows
        self.generation = 0
        self.rows = 0
        self._entries: OrderedDict[Key, _Entry] = OrderedDict()
        self.hits = self.misses = 0  # windows answered from memory and read from InfluxDB (tests, bench)

    def missing(self, key: Key, start_ms: int, end_ms: int) -> list[tuple[int, int]]:
        """The ranges of [start, end) this cache does not hold for `key`."""
        entry = self._entries.get(key)
        if entry is None or end_ms < entry.lo or start_ms > entry.hi:
            return [(start_ms, end_ms)]
        self._entries.move_to_end(key)
        out = []
        if start_ms < entry.lo:
            out.append((start_ms, entry.lo))
        if end_ms > entry.hi:
            out.append((entry.hi, end_ms))
        return out

    def fill(self, key: Key, start_ms: int, end_ms: int, rows: dict[int, list[Row]], generation: int) -> None:
        """Keep `rows`, the windows [start, end) of `key` as read when ``generation`` was `generation`."""
        if generation != self.generation or self.max_rows <= 0:
            return
        entry = self._entries.get(key)
        if entry is None or end_ms < entry.lo or start_ms > entry.hi:  # not adjacent: start afresh
            self._drop(key)
            entry = self._entries[key] = _Entry(start_ms, end_ms)
        else:
            entry.lo, entry.hi = min(entry.lo, start_ms), max(entry.hi, end_ms)
        self._entries.move_to_end(key)
        for t, got in rows.items():  # two requests may have read the same windows at once
            added = len(got) - len(entry.rows.get(t, ()))
            entry.rows[t] = got
            entry.size += added
            self.rows += added
        while self.rows > self.max_rows and self._entries:
            self._drop(next(iter(self._entries)))

    def view(self, key: Key, fn: str) -> tuple[dict[int, list[Row]], dict[int, tuple]]:
        """`key`'s rows and its buckets for `fn` made so far (to add to), by window start. An
        invalidation replaces an entry's dicts instead of changing them, so a view stays whole."""
        entry = self._entries.get(key)
        if entry is None:
            return {}, {}
        return entry.rows, entry.made.setdefault(fn, {})

    def _drop(self, key: Key) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self.rows -= entry.size

    def invalidate(self, nodes: list[str] | None, start_ms: int, end_ms: int) -> None:
        """Late readings of `nodes` (None: every node) between start and end were rolled up: their
        windows from the one holding `start_ms` on are read again."""
        self.generation += 1
        wanted = None if not nodes else set(nodes)
        for key in list(self._entries):
            policy, _, node = key
            if wanted is not None and node not in wanted:
                continue
            entry = self._entries[key]
            cut = start_ms - start_ms % NATIVE_MS[policy]
            if cut >= entry.hi:
                continue
            if cut <= entry.lo:
                self._drop(key)
                continue
            kept = {t: rows for t, rows in entry.rows.items() if t < cut}  # new dicts: views stay whole
            gone = entry.size - sum(len(rows) for rows in kept.values())
            entry.rows, entry.size, entry.hi = kept, entry.size - gone, cut
            entry.made = {key: {t: b for t, b in made.items() if t + _span(key, policy) <= cut}
                          for key, made in entry.made.items()}
            self.rows -= gone

    def clear(self) -> None:
        self.generation += 1
        self._entries.clear()
        self.rows = 0
