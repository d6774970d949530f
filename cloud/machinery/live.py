"""Live tracks: the fixes trackers send through their gateways (contract 1.6), stored once, read back.

The gateway forwards each position message as a positions item of its batches (edge/position.py);
``ingest_batch`` hands the checked items of a batch to `TrackStore.record`, which keeps every fix once
per (node, seq, index in its message): a batch sent again, or the same message through a second
gateway, stores nothing new. Reading a track back gives the same `Fix` values a track file gives
(coverage.py), so a live track becomes an operation, and a field's progress, the same way an imported
file does (service.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from furrow.edge.position import FLAG_ENGINE_ON, FLAG_IMPLEMENT_DOWN, FLAG_VALID

from ..db import Database, TrackPointRow
from .coverage import Fix
from .tracks import MAX_FIXES

E7 = 1e7  # positions travel as integers of 1e-7 degree


@dataclass(frozen=True)
class LiveFix:
    """One stored fix of a tracker, in degrees and SI units."""

    t_ms: int
    lon: float
    lat: float
    speed_kmh: float
    course_deg: float | None
    quality: int | None
    sats: int | None
    valid: bool
    implement_down: bool
    engine_on: bool

    def as_fix(self) -> Fix:
        """The coverage module's fix: worked while the implement is down, with its GGA fix quality."""
        return Fix(self.t_ms, self.lon, self.lat, self.implement_down, self.quality)


def _live(row: Any) -> LiveFix:
    t_ms, lat_e7, lon_e7, speed_cms, course_d10, quality, sats, flags = row
    return LiveFix(t_ms, lon_e7 / E7, lat_e7 / E7, speed_cms * 0.036, None if course_d10 is None else course_d10 / 10,
                   quality, sats, bool(flags & FLAG_VALID), bool(flags & FLAG_IMPLEMENT_DOWN),
                   bool(flags & FLAG_ENGINE_ON))


_COLUMNS = (TrackPointRow.t_ms, TrackPointRow.lat_e7, TrackPointRow.lon_e7, TrackPointRow.speed_cms,
            TrackPointRow.course_d10, TrackPointRow.quality, TrackPointRow.sats, TrackPointRow.flags)


class TrackStore:
    """Trackers' fixes in the relational database."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self.on_new: list[Callable[[], None]] = []
        """Called (on the event loop) after fixes new to the store were kept: the server's ETAs (eta.py)."""

    async def record(self, site: str, gateway: str, items: Sequence[tuple[dict, int | None]]) -> int:
        """Keep the fixes of checked positions items ((item, rx_ms) pairs) once each; how many were new."""
        rows = [{"node": it["node"], "seq": it["seq"], "i": i, "site": site, "gateway": gateway, "t_ms": f[0],
                 "lat_e7": f[1], "lon_e7": f[2], "speed_cms": f[3], "course_d10": f[4], "quality": f[5],
                 "sats": f[6], "flags": f[7], "rx_ms": rx_ms}
                for it, rx_ms in items for i, f in enumerate(it["fixes"])]
        if not rows:
            return 0

        def insert(session: Session) -> int:
            dialect = session.get_bind().dialect.name
            stmt = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(TrackPointRow.__table__)
            result = session.connection().execute(stmt.on_conflict_do_nothing(index_elements=["node", "seq", "i"]),
                                                  rows)
            return max(result.rowcount, 0)

        new = await self._db.run(insert)
        if new:
            for listener in self.on_new:
                listener()
        return new

    async def track(self, node: str, from_ms: int, to_ms: int, limit: int = MAX_FIXES + 1) -> list[LiveFix]:
        """The node's fixes with a position in [from_ms, to_ms], in time order (at most `limit`)."""

        def query(session: Session) -> list[LiveFix]:
            rows = session.execute(select(*_COLUMNS).where(
                TrackPointRow.node == node, TrackPointRow.t_ms >= from_ms, TrackPointRow.t_ms <= to_ms)
                .order_by(TrackPointRow.t_ms, TrackPointRow.seq, TrackPointRow.i).limit(limit))
            return [_live(r) for r in rows]

        return await self._db.run(query)

    async def latest(self) -> list[tuple[str, str, LiveFix, int]]:
        """Each tracker's newest fix: (node, site, fix, fixes stored), nodes in order."""

        def query(session: Session) -> list[tuple[str, str, LiveFix, int]]:
            newest = (select(TrackPointRow.node, func.max(TrackPointRow.t_ms).label("t"),
                             func.count().label("n")).group_by(TrackPointRow.node).subquery())
            rows = session.execute(
                select(TrackPointRow.node, TrackPointRow.site, newest.c.n, *_COLUMNS)
                .join(newest, (TrackPointRow.node == newest.c.node) & (TrackPointRow.t_ms == newest.c.t))
                .order_by(TrackPointRow.node, TrackPointRow.seq.desc(), TrackPointRow.i.desc()))
            out: dict[str, tuple[str, str, LiveFix, int]] = {}
            for node, site, n, *rest in rows:
                out.setdefault(node, (node, site, _live(rest), int(n)))
            return list(out.values())

        return await self._db.run(query)
