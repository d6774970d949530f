"""The SQLite store's hourly path, which the zone page's coarse windows read: whole hours come
from the roll-up table where it is current and from raw rows where it is not, and the answer is
the same as aggregating the raw rows, before and after the roll-up job, with late rows, faults,
partial hours at the ends, and after retention emptied the table."""

from __future__ import annotations

import random

import pytest

from furrow.cloud._time import now_ms
from furrow.cloud.storage import Reading, SqliteReadingStore

HOUR, DAY, STEP = 3_600_000, 86_400_000, 15 * 60_000
NODES = ["soil-01", "soil-02"]
FNS = ("mean", "min", "max", "sum", "count")


def reading(node: str, seq: int, ts_ms: int, value: float | None, depth_cm: int = 10) -> Reading:
    return Reading(site="demo", gateway="gw-1", node=node, role="soil", measurement="vwc_pct", unit="%",
                   depth_cm=depth_cm, channel=None, value=value, fault=None if value is not None else "disconnected",
                   seq=seq, ts_ms=ts_ms, rx_ms=ts_ms + 250, flags=())


def season(start: int, hours: int, seed: int = 7) -> list[Reading]:
    """Two nodes at two depths every 15 minutes, a few reports missing and a few faults."""
    rnd = random.Random(seed)
    out, seq = [], 0
    for node in NODES:
        for t in range(start, start + hours * HOUR, STEP):
            if rnd.random() < 0.05:
                continue  # a lost report
            seq += 1
            for depth in (10, 30):
                value = None if rnd.random() < 0.03 else round(rnd.uniform(12, 35), 2)
                out.append(reading(node, seq, t + rnd.randrange(0, 60_000), value, depth))
    return out


def key(b) -> tuple:
    return (b.node, b.depth_cm, b.channel, b.time_ms, b.count)


async def check_against_raw(store: SqliteReadingStore, start: int, end: int) -> None:
    """Every hour-multiple window and function: the hourly path equals aggregating raw rows."""
    for window in (HOUR, 2 * HOUR, 3 * HOUR, DAY):
        for fn in FNS:
            got = await store.aggregate(NODES, "vwc_pct", start, end, window, fn)
            want = await store._raw_buckets(NODES, "vwc_pct", start, end, window, fn)
            assert [key(b) for b in got] == [key(b) for b in want], (window, fn)
            assert [b.value for b in got] == pytest.approx([b.value for b in want], rel=1e-12), (window, fn)
            assert got, (window, fn)


async def test_hourly_windows_equal_the_raw_aggregate_before_and_after_the_roll_up_and_with_late_rows(tmp_path):
    """Nothing rolled up, all rolled up, then new rows in the newest hour, a late row in an old
    rolled hour and rows in a new hour: each time every window equals the raw rows' aggregate,
    for aligned ranges and ranges that start and end inside an hour."""
    store = SqliteReadingStore(tmp_path / "r.db")
    try:
        t0 = now_ms() - 3 * DAY
        t0 -= t0 % DAY
        rows = season(t0, 60)
        await store.write(rows)
        ranges = [(t0, t0 + 60 * HOUR), (t0 + 17 * 60_000, t0 + 59 * HOUR + 31 * 60_000),
                  (t0 + 5 * HOUR, t0 + 6 * HOUR)]
        for start, end in ranges:
            await check_against_raw(store, start, end)  # nothing rolled up: every hour from raw rows
        await store.maintain(now_ms())
        for start, end in ranges:
            await check_against_raw(store, start, end)  # every whole hour from the roll-up
        seq = 10_000
        late = [reading("soil-01", seq + 1, t0 + 3 * HOUR + 5 * 60_000, 99.0),  # a late row in a rolled hour
                reading("soil-02", seq + 2, t0 + 59 * HOUR + 50 * 60_000, 1.0, 30),  # the newest hour grows
                reading("soil-02", seq + 3, t0 + 60 * HOUR + 10 * 60_000, 2.0)]  # a new hour
        await store.write(late)
        ranges.append((t0, t0 + 61 * HOUR))
        for start, end in ranges:
            await check_against_raw(store, start, end)  # those hours from raw rows, the rest rolled
        window = await store.aggregate(["soil-01"], "vwc_pct", t0 + 3 * HOUR, t0 + 4 * HOUR, HOUR, "max")
        assert [b.value for b in window if b.depth_cm == 10] == [99.0]
        await store.maintain(now_ms())
        for start, end in ranges:
            await check_against_raw(store, start, end)
    finally:
        await store.close()


async def test_changes_scattered_over_many_hours_are_read_from_raw_rows_and_still_agree(tmp_path):
    """Late rows in more separate hours than are worth a query each: the range is read from raw
    rows instead, with the same answer."""
    store = SqliteReadingStore(tmp_path / "r.db")
    try:
        t0 = now_ms() - 4 * DAY
        t0 -= t0 % DAY
        await store.write(season(t0, 80))
        await store.maintain(now_ms())
        late = [reading("soil-02", 20_000 + h, t0 + h * HOUR + 7 * 60_000, 50.0 + h) for h in range(0, 80, 3)]
        await store.write(late)
        await check_against_raw(store, t0, t0 + 80 * HOUR)
    finally:
        await store.close()


async def test_rows_written_after_retention_emptied_the_table_are_not_taken_as_rolled_up(tmp_path):
    """Once retention dropped every raw row, SQLite numbers new rows from 1 again: the job
    notes it, so they are read from raw rows (and rolled up by the next run) beside the roll-up
    of the dropped ones."""
    store = SqliteReadingStore(tmp_path / "r.db", raw_retention_days=30)
    try:
        hour = now_ms() - 3 * HOUR
        hour -= hour % HOUR
        await store.write([reading("soil-01", i + 1, hour + i * STEP, 20.0 + i) for i in range(4)])
        await store.maintain(now_ms() + 40 * DAY)  # as if 40 days on: rolled up, then every raw row dropped
        assert await store.count() == 0
        await store.write([reading("soil-01", 10 + i, hour + HOUR + i * STEP, 30.0) for i in range(2)])
        got = await store.aggregate(["soil-01"], "vwc_pct", hour, hour + 2 * HOUR, HOUR, "mean")
        assert [(b.time_ms, b.value, b.count) for b in got] == [(hour, 21.5, 4), (hour + HOUR, 30.0, 2)]
        await store.maintain(now_ms())
        assert await store.aggregate(["soil-01"], "vwc_pct", hour, hour + 2 * HOUR, HOUR, "mean") == got
    finally:
        await store.close()
