"""Track ingest: trackers' fixes through the cloud's ingest (cloud/ingest.py's ingest_batch into
cloud/machinery/live.py's TrackStore, SQLite), beside the raw write rate of the same rows into the same
table with sqlite3's executemany, measured in the same run.

Each batch holds --items positions items of 60 fixes (a tracker's message at 1 Hz), as a gateway
forwards them (edge/position.py's item form, JSON); a tracker at work makes 3,600 fixes an hour.

  ingest       ingest_batch(batch dict): the contract's checks of every fix, the routes, TrackStore.record
               (INSERT .. ON CONFLICT DO NOTHING through SQLAlchemy Core), one transaction per batch
  raw write    sqlite3 executemany of the same rows into the same table (track_points), one transaction
               per batch: the storage floor
  again        the same batches again: every fix already stored (a gateway's resend)

    .venv/bin/python bench/track_ingest.py [--batches 20] [--items 50]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from furrow.cloud.db import Database  # noqa: E402
from furrow.cloud.ingest import ingest_batch  # noqa: E402
from furrow.cloud.machinery.live import TrackStore  # noqa: E402
from furrow.cloud.node_routes import NodeRoutes  # noqa: E402
from furrow.edge.batch import make_batch, make_item  # noqa: E402
from furrow.edge.position import FLAG_IMPLEMENT_DOWN, FLAG_VALID, positions_item  # noqa: E402

T0 = 1_776_664_800_000
FIXES = 60


def batches(n: int, items: int) -> list[dict]:
    """`n` batches of `items` messages of 60 fixes, trackers trk-0.. taking turns, a fix a second."""
    out, seq = [], 0
    for b in range(n):
        its = []
        for i in range(items):
            node = f"trk-{i % 10}"
            t0 = T0 + seq * 60_000
            fixes = [{"t_ms": t0 + 1000 * k, "lat_e7": 360_000_000 + 25 * k, "lon_e7": 1_144_000_000 + seq,
                      "speed_cms": 250, "course_d10": 0, "quality": 4, "sats": 14, "valid": True,
                      "implement_down": True, "engine_on": True} for k in range(FIXES)]
            msg = {"node": node, "seq": seq, "fixes": fixes}
            its.append(make_item(positions_item(msg), t0 + 61_000))
            seq += 1
        out.append(make_batch("s1", "gw-1", f"gw-1-{b}", T0, its))
    return out


async def ingest(db: Database, work: list[dict]) -> float:
    tracks, routes = TrackStore(db), NodeRoutes(db)
    start = time.perf_counter()
    for b in work:
        result = await ingest_batch(b, _NoStore(), routes, tracks=tracks)
        assert not result.rejected, result.rejected[:1]
    return time.perf_counter() - start


class _NoStore:
    async def write(self, points: list) -> int:  # positions items hold no readings
        return 0


def raw(path: Path, work: list[dict]) -> float:
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    start = time.perf_counter()
    for b in work:
        rows = [(it["node"], it["seq"], i, "s1", "gw-1", *f, it["rx_ms"])
                for it in b["items"] for i, f in enumerate(it["fixes"])]
        con.execute("BEGIN")
        con.executemany("INSERT INTO track_points (node, seq, i, site, gateway, t_ms, lat_e7, lon_e7, speed_cms, "
                        "course_d10, quality, sats, flags, rx_ms) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
        con.execute("COMMIT")
    elapsed = time.perf_counter() - start
    con.close()
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batches", type=int, default=20)
    ap.add_argument("--items", type=int, default=50, help="positions items (messages of 60 fixes) per batch")
    args = ap.parse_args()
    work = batches(args.batches, args.items)
    points = args.batches * args.items * FIXES
    assert work[0]["items"][0]["fixes"][0][7] == FLAG_VALID | FLAG_IMPLEMENT_DOWN | 4
    with tempfile.TemporaryDirectory(prefix="furrow-bench-tracks-") as tmp:
        db = Database(f"sqlite:///{tmp}/cloud.db")
        db.create_all()
        first = asyncio.run(ingest(db, work))
        again = asyncio.run(ingest(db, work))
        db.engine.dispose()
        raw_db = Database(f"sqlite:///{tmp}/raw.db")
        raw_db.create_all()
        raw_db.engine.dispose()
        floor = raw(Path(tmp) / "raw.db", work)
    print(f"{points:,} fixes in {args.batches} batches of {args.items} messages of {FIXES} fixes (SQLite)")
    print(f"{'measure':<34}{'s':>9}{'fixes/s':>12}")
    for name, value in (("ingest (contract + TrackStore)", first), ("ingest again (all stored)", again),
                        ("raw write (sqlite3 executemany)", floor)):
        print(f"{name:<34}{value:>9.3f}{points / value:>12,.0f}")
    print(f"ingest runs at {floor / first:.0%} of the raw write rate")
    print(json.dumps({"fixes": points, "ingest_fixes_s": round(points / first), "again_fixes_s": round(points / again),
                      "raw_fixes_s": round(points / floor), "share_of_raw": round(floor / first, 3)}))


if __name__ == "__main__":
    main()
