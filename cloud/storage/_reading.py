"""One stored value, the store protocol, and the errors stores raise."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class Reading:
    """One stored value: one measurement of one report of one node.

    (node, seq, measurement, depth_cm, channel) identifies it; a reading
    stored twice under that identity is stored once.
    """

    site: str
    gateway: str
    node: str
    role: str
    measurement: str
    unit: str
    depth_cm: int | None
    channel: int | None
    value: float | None
    fault: str | None
    seq: int
    ts_ms: int
    rx_ms: int | None = None
    flags: tuple[str, ...] = ()

    def sensor_key(self) -> tuple[str, int, int]:
        """(measurement, depth_cm, channel) with -1 for none: one sensor of a node."""
        return (
            self.measurement,
            -1 if self.depth_cm is None else self.depth_cm,
            -1 if self.channel is None else self.channel,
        )

    def sort_key(self) -> tuple:
        """The order every store returns readings in."""
        return (self.ts_ms, self.node, *self.sensor_key(), self.seq)


AGGREGATES = ("mean", "min", "max", "sum", "count")


@dataclass(frozen=True, slots=True)
class Bucket:
    """One aggregation window of one sensor: `value` is fn(value) over [time_ms, time_ms + window)."""

    node: str
    measurement: str
    depth_cm: int | None
    channel: int | None
    time_ms: int
    value: float | None
    count: int


class StorageError(Exception):
    """A store could not do what was asked; `backend` names the store."""

    def __init__(self, backend: str, reason: str) -> None:
        self.backend = backend
        self.reason = reason
        super().__init__(f"{backend}: {reason}")


class StorageUnavailable(StorageError):
    """The store cannot take writes now (down, unreachable, misconfigured).

    Nothing in the failed call is stored for sure; the caller keeps the data
    and retries later (back-pressure), it never drops it.
    """


class StorageRejected(StorageError):
    """The store refused the data itself; retrying the same data will not help."""


@runtime_checkable
class ReadingStore(Protocol):
    """Where readings live. SQLite, InfluxDB 1.x and 2.x implement it."""

    backend: str

    async def write(self, points: list[Reading]) -> int:
        """Store `points` (a reading already stored is not stored again).

        Returns how many readings the store took: SQLite counts only the new
        ones; InfluxDB cannot tell a new point from one it overwrote with
        itself, so it returns len(points).
        """
        ...

    async def query(
        self,
        node: str | None,
        measurement: str | None,
        start_ms: int,
        end_ms: int,
        limit: int,
    ) -> list[Reading]:
        """Readings with start_ms <= ts_ms < end_ms, oldest first, at most `limit`."""
        ...

    async def latest(self, node: str) -> list[Reading]:
        """The newest reading of each (measurement, depth_cm, channel) of `node`."""
        ...

    async def latest_many(self, nodes: Sequence[str]) -> dict[str, list[Reading]]:
        """``latest`` of each of `nodes` (every one a key, [] when it has none): the alert job asks
        for the whole farm at once."""
        ...

    async def count(self, node: str | None = None) -> int:
        """How many readings are stored (faults included), for one node or all."""
        ...

    async def aggregate(
        self,
        nodes: list[str],
        measurement: str,
        start_ms: int,
        end_ms: int,
        window_ms: int,
        fn: str,
    ) -> list[Bucket]:
        """fn (one of AGGREGATES) of `value` per sensor of `nodes` per window, windows
        aligned to the Unix epoch, oldest first; empty windows are left out."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...
