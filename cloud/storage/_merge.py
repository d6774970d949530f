"""Group commit: the readings of the batches being handled at once go to the store in one write.

The MQTT worker handles up to ``ingest_in_flight`` batches at once (cloud/mqtt_worker.py). Each
batch's ``ingest_batch`` calls ``write`` with its own readings and returns only once they are
stored; only then is its receipt sent and its PUBACK queued. `MergedWrites` keeps that promise
per batch while the store sees fewer, larger writes: while one write is on its way to the
store, the readings of every batch that arrives meanwhile wait, and go together in the next
one (up to ``max_readings``). One POST of 1,200 lines costs InfluxDB and httpx far less than
four of 300 (docs/performance.md, "Cloud ingest").

What each caller is told is what happened to its own readings:

- the merged write succeeded: every batch in it is stored, each caller gets its own count;
- the store is unavailable: every caller gets `StorageUnavailable` and keeps its batch
  unacknowledged (the worker retries it; the writes are idempotent, so a part that did reach
  the store is harmless the second time);
- the store refused the merged write (`StorageRejected`), or anything else went wrong: one
  batch's data may be to blame, so each batch is written again on its own and each caller gets
  its own outcome. A bad batch is refused and answered alone; the others are stored.

Only stores whose ``write`` returns ``len(points)`` may be merged (InfluxDB: it cannot tell a
new point from one it overwrote with itself). SQLite counts the readings that were new, a
count a merged write could not divide between its batches; `merges` says which is which.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ._reading import StorageUnavailable
from ._reports import Reports

if TYPE_CHECKING:
    from ._reading import Reading, ReadingStore

MERGEABLE_BACKENDS = ("influxdb1", "influxdb2")


def merges(store: ReadingStore) -> bool:
    """True when `store`'s writes may be merged (its ``write`` returns ``len(points)``)."""
    return getattr(store, "backend", None) in MERGEABLE_BACKENDS


class MergedWrites:
    """``write`` as the store's, the writes of concurrent callers merged (see the module doc).

    With ``max_readings=0`` (or a store that `merges` refuses) every call goes straight to the
    store, one write per call, as before.
    """

    def __init__(self, store: ReadingStore, *, max_readings: int = 20_000) -> None:
        if max_readings < 0:
            raise ValueError(f"max_readings={max_readings} must be 0 (off) or more")
        self.store = store
        self.backend = store.backend
        self.max_readings = max_readings if merges(store) else 0
        self._queue: list[tuple[Sequence[Reading], asyncio.Future[int]]] = []
        self._writer: asyncio.Task[None] | None = None
        self.stats: Counter[str] = Counter()  # writes, merged_batches, fallbacks

    async def write(self, points: Sequence[Reading]) -> int:
        """Store `points`; returns when they are stored (or raises what the store raised for them)."""
        if self.max_readings == 0 or not points:
            return await self.store.write(points)
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._queue.append((points, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain(), name="furrow-merged-writes")
        return await done

    async def close(self) -> None:
        """Stop writing; callers still waiting are cancelled (their batches stay unacknowledged)."""
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
            self._writer = None

    async def _drain(self) -> None:
        group: list[tuple[Sequence[Reading], asyncio.Future[int]]] = []
        try:
            while self._queue:
                group, size = [], 0
                while self._queue and (not group or size + len(self._queue[0][0]) <= self.max_readings):
                    points, done = self._queue.pop(0)
                    if not done.done():  # a caller that gave up (the worker stopping) is left out
                        group.append((points, done))
                        size += len(points)
                if group:
                    await self._write_group(group)
                group = []
        finally:  # cancelled: nobody is left waiting forever
            for _, done in [*group, *self._queue]:
                done.cancel()
            self._queue.clear()

    async def _write_group(self, group: list[tuple[Sequence[Reading], asyncio.Future[int]]]) -> None:
        if len(group) == 1:
            await self._write_alone(*group[0])
            return
        parts = [points for points, _ in group]
        if all(isinstance(p, Reports) for p in parts):  # ingest's: kept as reports, no Reading made
            merged: Sequence[Reading] = Reports.join(parts)  # type: ignore[arg-type]
        else:
            merged = [p for points in parts for p in points]
        try:
            await self.store.write(merged)
        except StorageUnavailable as e:
            for _, done in group:  # each caller keeps its own batch and tries again
                _fail(done, StorageUnavailable(e.backend, e.reason))
            return
        except Exception:  # refused, or a bug: find out whose readings, batch by batch
            self.stats["fallbacks"] += 1
            for points, done in group:
                await self._write_alone(points, done)
            return
        self.stats["writes"] += 1
        self.stats["merged_batches"] += len(group)
        for points, done in group:
            if not done.done():
                done.set_result(len(points))

    async def _write_alone(self, points: Sequence[Reading], done: asyncio.Future[int]) -> None:
        try:
            n = await self.store.write(points)
        except Exception as e:
            _fail(done, e)
            return
        self.stats["writes"] += 1
        if not done.done():
            done.set_result(n)


def _fail(done: asyncio.Future[int], e: BaseException) -> None:
    if not done.done():
        done.set_exception(e)
