"""Closed roll-up windows cached for charts (cloud/storage/influx1_cache.py), on a real InfluxDB: a cached
chart is the uncached answer, and stays so after late readings for an old hour, on every instance."""

from __future__ import annotations

import asyncio

import pytest

from furrow.cloud.auth import Role
from furrow.cloud.registry import FIELDS, NODES, SITES, ZONES, FieldIn, NodeIn, SiteIn, ZoneIn
from furrow.cloud.storage import Influx1ReadingStore, Reading, Rollups
from tests.cloud_support import T0, batch_of, item, local_settings, running_app, soil_uplink

HOUR, DAY = 3_600_000, 86_400_000
NOW = T0 + 10 * DAY  # every window of the data below is closed
FNS = ("mean", "sum", "count", "min", "max")


def _points(days: int = 3) -> list[Reading]:
    """soil-01 through two gateways in turn (two series in each hour), soil-02 with a channel sensor and a
    fault, soil-03 outside the charted nodes; one report per 30 minutes."""
    out = []
    for s in range(days * 48):
        ts = T0 + s * 30 * 60_000
        gw = "gw-1" if s % 2 else "gw-2"
        out += [Reading("demo", gw, "soil-01", "soil", "vwc_pct", "%", 10, None, 20.0 + (s % 7) * 1.25, None, s, ts),
                Reading("demo", "gw-1", "soil-02", "soil", "vwc_pct", "%", None, 3, 30.0 - (s % 5) * 0.7, None, s, ts),
                Reading("demo", "gw-1", "soil-03", "soil", "vwc_pct", "%", 10, None, 99.0, None, s, ts)]
    out.append(Reading("demo", "gw-1", "soil-02", "soil", "vwc_pct", "%", 80, None, None, "open", 999, T0 + 5 * HOUR))
    return out


def _store(url: str, db: str, rows: int) -> Influx1ReadingStore:
    return Influx1ReadingStore(url, db, rollups=Rollups(db), clock=lambda: NOW, chart_cache_rows=rows)


async def _charts(store: Influx1ReadingStore, start: int = T0 - 30 * 60_000, end: int = T0 + 4 * DAY) -> dict:
    """Every fn over hours and days, and windows of several of them as the dashboard asks for a long
    range (2 and 3 hours, 2 days), with a partial first window and a range past the data."""
    return {(window, fn): await store.aggregate(["soil-01", "soil-02"], "vwc_pct", start, end, window, fn)
            for window in (HOUR, 2 * HOUR, 3 * HOUR, DAY, 2 * DAY) for fn in FNS}


@pytest.mark.influxdb
def _record_queries(store) -> list[str]:
    """The list every query `store` sends to InfluxDB from now on is appended to."""
    asked: list[str] = []
    query = store._query

    async def recorded(q: str, **kw):
        asked.append(q)
        return await query(q, **kw)

    store._query = recorded
    return asked


async def test_a_cached_chart_is_the_uncached_one_before_and_after_late_readings_on_every_instance(
        influxdb, influx_db):
    a, b, plain = (_store(influxdb.url, influx_db, rows) for rows in (100_000, 100_000, 0))
    try:
        for s in (a, b, plain):
            await s.ensure_database()
        await a.write(_points())  # late (NOW is days after): rolled up by the write
        truth = await _charts(plain)
        assert len(truth[(HOUR, "mean")]) == 2 * 72 and len(truth[(DAY, "count")]) == 2 * 3
        for s in (a, b):
            assert await _charts(s) == truth
            misses = s.closed.misses
            assert await _charts(s) == truth  # now from memory
            assert s.closed.misses == misses and s.closed.hits > 0
            # a narrower range inside what is held, and a wider one around it
            assert await _charts(s, T0 + DAY, T0 + 2 * DAY) == await _charts(plain, T0 + DAY, T0 + 2 * DAY)
            assert await _charts(s, T0 - 2 * DAY, T0 + 5 * DAY) == await _charts(plain, T0 - 2 * DAY, T0 + 5 * DAY)
        # Charted two days in: the newest closed hours are read afresh (the cache's hour of margin), the
        # open ones from raw points.
        soon = T0 + 2 * DAY + 4 * HOUR
        near, near_plain = (Influx1ReadingStore(influxdb.url, influx_db, rollups=Rollups(influx_db),
                                                clock=lambda: soon, chart_cache_rows=rows) for rows in (100_000, 0))
        try:
            for s in (near, near_plain):
                await s.ensure_database()
            assert await _charts(near) == await _charts(near_plain) == await _charts(near)
            assert near.closed.hits > 0
        finally:
            await near.close()
            await near_plain.close()
        # A late reading for an old hour, written through instance a: a sees it at once, b by a's mark.
        await a.write([Reading("demo", "gw-3", "soil-01", "soil", "vwc_pct", "%", 10, None, 55.5, None, 7777,
                               T0 + DAY + 5 * HOUR + 60_000)])
        changed = await _charts(plain)
        assert changed != truth
        assert await _charts(a) == changed
        assert await _charts(b) == changed
        assert await _charts(b) == changed  # and held again
    finally:
        for s in (a, b, plain):
            await s.close()


@pytest.mark.influxdb
async def test_two_instances_chart_a_late_reading_ingested_through_one_of_them(tmp_path, influxdb, influx_db):
    """Two app instances on one InfluxDB: /series from each equals the uncached store's, also after a
    gateway's batch with a reading for an hour both had cached arrives at the first."""
    seed = _store(influxdb.url, influx_db, 0)
    try:
        await seed.ensure_database()
        await seed.write(_points(2))
        settings = [local_settings(tmp_path / n, storage="influxdb1", influx_url=influxdb.url,
                                   influx_database=influx_db) for n in ("a", "b")]
        query = {"node": ["soil-01", "soil-02"], "measurement": "vwc_pct", "window": "1h", "start": str(T0),
                 "end": str(T0 + 3 * DAY)}

        async def uncached() -> list[dict]:
            buckets = await seed.aggregate(["soil-01", "soil-02"], "vwc_pct", T0, T0 + 3 * DAY, HOUR, "mean")
            return [{"node": x.node, "measurement": x.measurement, "depth_cm": x.depth_cm, "channel": x.channel,
                     "time_ms": x.time_ms, "value": x.value, "count": x.count} for x in buckets]

        async with running_app(settings[0], clock=lambda: NOW) as a, running_app(settings[1], clock=lambda: NOW) as b:
            before = await uncached()
            for c in (a, b):
                for _ in range(2):
                    r = await c.get("/api/v1/series", params=query)
                    assert r.status_code == 200 and r.json() == before, r.text
                assert c.app.state.services.store.closed.hits > 0
            gateway = (await a.app.state.services.tokens.issue("demo.gw-1", Role.GATEWAY, 1)).token
            late = soil_uplink("soil-01", 9001, ts_ms=T0 + 30 * HOUR + 120_000, vwc=61.0)
            r = await a.post("/api/v1/ingest/batch", json=batch_of([item(late)], batch_id="gw-1-late"),
                             headers={"Authorization": f"Bearer {gateway}"})
            assert r.status_code == 200 and r.json()["accepted"] == 1, r.text
            after = await uncached()
            assert after != before
            for c in (a, b):
                r = await c.get("/api/v1/series", params=query)
                assert r.status_code == 200 and r.json() == after, r.text
    finally:
        await seed.close()


@pytest.mark.influxdb
async def test_windows_of_several_roll_up_windows_are_made_from_memory(influxdb, influx_db):
    """The dashboard's 90-day chart asks for 2- or 3-hour windows (``window=auto``): once a range's hours
    are held, such a chart asks InfluxDB only for the change marks, and equals the uncached answer."""
    cached, plain = (_store(influxdb.url, influx_db, rows) for rows in (100_000, 0))
    try:
        for s in (cached, plain):
            await s.ensure_database()
        await plain.write(_points())
        asked = _record_queries(cached)
        await cached.aggregate(["soil-01", "soil-02"], "vwc_pct", T0, T0 + 3 * DAY, HOUR, "mean")  # holds the hours
        asked.clear()
        for window in (2 * HOUR, 3 * HOUR):
            for fn in FNS:
                got = await cached.aggregate(["soil-01", "soil-02"], "vwc_pct", T0, T0 + 3 * DAY, window, fn)
                assert got == await plain.aggregate(["soil-01", "soil-02"], "vwc_pct", T0, T0 + 3 * DAY, window, fn)
                assert len(got) == 2 * 72 * HOUR // window
        assert asked and all("furrow_changes" in q for q in asked), asked
    finally:
        for s in (cached, plain):
            await s.close()


@pytest.mark.influxdb
async def test_a_zone_soil_chart_is_held_before_anyone_asks_for_it(tmp_path, influxdb, influx_db):
    """At startup each instance reads every zone's last 90 days of soil chart into its cache
    (``influx_chart_warm_days``): the zone page's first 30-day chart then asks InfluxDB nothing but the
    change marks and the newest hours, and equals the uncached answer."""
    seed = _store(influxdb.url, influx_db, 0)
    try:
        await seed.ensure_database()
        await seed.write(_points())
        settings = local_settings(tmp_path, storage="influxdb1", influx_url=influxdb.url, influx_database=influx_db)
        async with running_app(settings, clock=lambda: NOW) as c:  # the farm as a technician registers it
            reg = c.app.state.services.registry
            await reg.create(SITES, SiteIn(id="demo", name="Farm"))
            await reg.create(FIELDS, FieldIn(id="f1", site_id="demo", name="Field"))
            await reg.create(ZONES, ZoneIn(id="z1", field_id="f1", name="Zone", area_ha=5, soil_texture="loam",
                                           field_capacity_pct=31, wilting_point_pct=14, root_depth_cm=60,
                                           crop="maize", precip_rate_mm_h=5))
            for node in ("soil-01", "soil-02"):
                await reg.create(NODES, NodeIn(id=node, role="soil", zone_id="z1"))
        async with running_app(settings, clock=lambda: NOW) as c:  # started again: warmed by itself
            closed = c.app.state.services.store.closed
            for _ in range(200):
                if closed.rows:
                    break
                await asyncio.sleep(0.05)
            # a cell per sensor and hour of the 90 days but the newest 3 (2 the roll-ups may still recompute,
            # 1 of margin), held with or without data; soil-01's two gateways' series in one cell an hour
            assert closed.rows == 2 * (90 * 24 - 3), closed.rows
            misses = closed.misses
            r = await c.get("/api/v1/zones/z1/columns", params={"days": 30, "window": "1h", "measurement": "vwc_pct"})
            assert r.status_code == 200, r.text
            assert closed.misses == misses and closed.hits > 0
            start = NOW - 30 * DAY
            truth = await seed.aggregate(["soil-01", "soil-02"], "vwc_pct", start, NOW, HOUR, "mean")
            body = r.json()
            got = sorted((t, s["node"], s["depth_cm"], v) for s in body["sensors"]
                         for t, v in zip(body["times_ms"], s["values"], strict=True) if v is not None)
            assert got == sorted((b.time_ms, b.node, b.depth_cm, round(b.value, 3)) for b in truth)
    finally:
        await seed.close()


@pytest.mark.influxdb
async def test_a_zone_season_is_held_in_a_few_bytes_a_sensor_hour_and_charts_as_uncached(influxdb, influx_db):
    """A farm of 100 zones must fit in one instance's cache: 90 days of 20 sensors (43,200 hours of the
    hourly roll-up, values that are not exact in binary) take under 40 bytes a sensor-hour held (the
    per-row objects before 2026-12-08 took about 400), and every fn over 1- and 3-hour windows made from
    them is the uncached store's answer, bit for bit."""
    import gc
    import tracemalloc

    import numpy as np

    cached, plain = (_store(influxdb.url, influx_db, rows) for rows in (1_000_000, 0))
    nodes = [f"soil-{i:02d}" for i in range(10)]
    days, first = 90, NOW - 90 * DAY
    rng = np.random.default_rng(16)
    lines = []
    for node in nodes:
        for depth in (10, 30):
            for h in range(days * 24):
                low, high = sorted(float(x) for x in rng.uniform(5, 45, 2))
                n = int(rng.integers(2, 5))
                total = float(rng.uniform(low, high)) * n  # as a roll-up of n readings between low and high
                lines.append(f"vwc_pct,depth_cm={depth},gateway=gw-1,node={node},role=soil,site=demo "
                             f"sum={total!r},n={n}i,min={low!r},max={high!r} {(first + h * HOUR) * 1_000_000}")
    try:
        for s in (cached, plain):
            await s.ensure_database()
        for i in range(0, len(lines), 10_000):
            await cached._post_lines("\n".join(lines[i:i + 10_000]).encode(), "furrow_hourly")
        differ, sizes = [], {}
        tracemalloc.start()
        try:
            gc.collect()
            before = tracemalloc.get_traced_memory()[0]
            for w in (HOUR, 3 * HOUR):
                for fn in FNS:  # every answer dropped once compared: what stays is what the cache holds
                    mine = await cached.aggregate(nodes, "vwc_pct", first, NOW, w, fn)
                    truth = await plain.aggregate(nodes, "vwc_pct", first, NOW, w, fn)
                    sizes[w, fn] = len(mine)
                    if mine != truth:
                        differ.append((w, fn))
                    del mine, truth
            gc.collect()
            held = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
        assert not differ
        assert sizes[HOUR, "mean"] == 20 * (days * 24 - 2)  # the 2 newest hours from raw points: none here
        hours = cached.closed.rows
        assert hours >= 20 * (days * 24 - 3), hours
        assert held < 40 * hours, f"{held:,} bytes for {hours:,} sensor-hours"
    finally:
        for s in (cached, plain):
            await s.close()


@pytest.mark.influxdb
async def test_charts_made_from_the_arrays_are_the_bucket_answers(influxdb, influx_db):
    """/series and /columns answer from the cache's arrays without a Bucket per window
    (``aggregate_table``): the same JSON as the uncached store's buckets, for every fn and window, held
    or not, over a partial first window (a range from midnight in UTC+8, not UTC) and past the data, with
    a node heard through two gateways and a channel sensor, and again after a late reading."""
    import orjson

    from furrow.cloud.api.routes.dashboard import columns, table_columns
    from furrow.cloud.api.routes.query import series_json
    from furrow.cloud.storage._table import rows_of

    cached, plain = (_store(influxdb.url, influx_db, rows) for rows in (100_000, 0))
    nodes = ["soil-01", "soil-02", "soil-03"]

    async def same(start: int, end: int) -> None:
        for window in (HOUR, 2 * HOUR, 3 * HOUR, DAY, 2 * DAY, 30 * 60_000):
            for fn in FNS:
                truth = await plain.aggregate(nodes, "vwc_pct", start, end, window, fn)
                table = await cached.aggregate_table(nodes, "vwc_pct", start, end, window, fn)
                assert orjson.dumps(rows_of(table, "vwc_pct")) == series_json(truth), (window, fn)
                assert table_columns(table) == columns(truth), (window, fn)
                assert await cached.aggregate(nodes, "vwc_pct", start, end, window, fn) == truth, (window, fn)

    try:
        for s in (cached, plain):
            await s.ensure_database()
        await plain.write(_points())
        for _ in range(2):  # read, then held
            await same(T0 - 30 * 60_000, T0 + 4 * DAY)
        assert cached.closed.hits > 0
        await same(T0 + DAY, T0 + 2 * DAY)
        await same(T0 + DAY - 8 * HOUR, T0 + 3 * DAY - 8 * HOUR)  # days as Beijing counts them (UTC+8)
        await cached.write([Reading("demo", "gw-3", "soil-02", "soil", "vwc_pct", "%", None, 3, 1.5, None, 8888,
                                    T0 + 2 * DAY + 7 * HOUR)])
        await same(T0 - 30 * 60_000, T0 + 4 * DAY)
    finally:
        for s in (cached, plain):
            await s.close()


def test_the_cache_stays_within_its_cells_however_many_nodes_it_holds():
    """The memory the chart cache holds is bounded by its setting's cells (28 bytes each) also when most
    of its nodes have no data in the range asked: each node's block costs about 800 bytes whatever it
    holds, and counts against the budget (without that, 3,000 empty blocks took 2.4 MB of a 280 kB
    budget); the newest block is kept, the least recently used dropped."""
    import gc
    import tracemalloc

    from furrow.cloud.storage.influx1_cache import CELL_BYTES, Block, ClosedWindows

    budget = 10_000
    tracemalloc.start()
    try:
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        cache = ClosedWindows(budget)
        for i in range(3_000):
            sensors = tuple((10 * d, None) for d in range(i % 3))  # a third of the nodes without any sensor
            cache.fill(("furrow_hourly", "vwc_pct", f"soil-{i:04d}"), Block.empty(0, 48 * HOUR, HOUR, sensors),
                       cache.generation)
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert held <= 1.25 * budget * CELL_BYTES, f"{held:,} bytes for a budget of {budget * CELL_BYTES:,}"
    assert cache.view(("furrow_hourly", "vwc_pct", "soil-2999")) is not None
    assert cache.view(("furrow_hourly", "vwc_pct", "soil-0000")) is None


def test_a_chart_cache_size_below_zero_is_refused_naming_the_setting(tmp_path):
    """INFLUX_CHART_CACHE_ROWS is a count of cells (0: no cache); a negative one stops the start with an
    error naming the setting and the value."""
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=r"influx_chart_cache_rows[\s\S]*greater than or equal to 0"
                                              r"[\s\S]*input_value=-5"):
        local_settings(tmp_path, influx_chart_cache_rows=-5)


@pytest.mark.influxdb
async def test_hours_closed_after_the_warm_up_are_read_on_and_the_oldest_forgotten(influxdb, influx_db):
    """An instance's warm-up held a day of two nodes; readings arrive for the hours after it, and the
    next pass 12 hours later reads only what it lacks (joined to what it held) and forgets the hours that
    fell out of its range: the cache holds its day of cells, not the 33 hours it read, and charts of the
    day equal the uncached store's, bit for bit, asking InfluxDB only for the hours after the held ones."""
    now = [T0 + DAY + 6 * HOUR]
    cached = Influx1ReadingStore(influxdb.url, influx_db, rollups=Rollups(influx_db), clock=lambda: now[0],
                                 chart_cache_rows=100_000)
    plain = Influx1ReadingStore(influxdb.url, influx_db, rollups=Rollups(influx_db), clock=lambda: now[0],
                                chart_cache_rows=0)
    seed = _store(influxdb.url, influx_db, 0)
    nodes = ["soil-01", "soil-02"]
    points = _points(3)
    try:
        for s in (cached, plain):
            await s.ensure_database()
        await seed.write([p for p in points if p.ts_ms < now[0]])  # what had arrived by the first pass
        await cached.hold(nodes, "vwc_pct", now[0] - DAY, now[0])
        first = cached.closed.view(("furrow_hourly", "vwc_pct", "soil-01"))
        assert (first.lo, first.hi) == (T0 + 6 * HOUR, T0 + DAY + 3 * HOUR)
        await seed.write([p for p in points if p.ts_ms >= now[0]])  # the readings of the day after
        now[0] += 12 * HOUR
        await cached.hold(nodes, "vwc_pct", now[0] - DAY, now[0])
        for node in nodes:
            block = cached.closed.view(("furrow_hourly", "vwc_pct", node))
            assert (block.lo, block.hi) == (T0 + 18 * HOUR, T0 + DAY + 15 * HOUR), node
        assert cached.closed.rows == 2 * 21  # soil-01's depth and soil-02's channel, 21 hours each
        asked = _record_queries(cached)
        start = now[0] - DAY
        for window in (HOUR, 3 * HOUR):
            for fn in FNS:
                got = await cached.aggregate(nodes, "vwc_pct", start, now[0], window, fn)
                assert got == await plain.aggregate(nodes, "vwc_pct", start, now[0], window, fn), (window, fn)
                assert any(b.time_ms >= T0 + DAY + 6 * HOUR for b in got)  # the newer readings are in it
        hourly = [q for q in asked if "furrow_hourly" in q]  # only the hours after the held ones
        assert hourly and all(f"time >= {T0 + DAY + 15 * HOUR}ms" in q for q in hourly), hourly
    finally:
        for s in (cached, plain, seed):
            await s.close()


@pytest.mark.influxdb
async def test_a_full_cache_keeps_its_zones_current_and_a_moved_node_charts_in_its_new_zone(
        tmp_path, influxdb, influx_db):
    """Once the warm-up has filled the cache past 80%, its next passes still read the zones it holds on
    and forget their oldest hours (only a zone not yet held waits for room), so a held zone's block does
    not grow an hour an hour; and a node moved to another zone charts there with its own history, the
    same JSON as the uncached store's."""
    from furrow.cloud.api.routes.dashboard import columns
    from furrow.cloud.chart_warmup import warm_zone_charts

    seed = _store(influxdb.url, influx_db, 0)
    now = [NOW]
    try:
        await seed.ensure_database()
        await seed.write(_points())
        # z1's two sensors over 90 days are 4,314 cells and two blocks: past 80% of 5,000
        settings = local_settings(tmp_path, storage="influxdb1", influx_url=influxdb.url, influx_database=influx_db,
                                  influx_chart_cache_rows=5_000)
        async with running_app(settings, clock=lambda: now[0]) as c:
            reg = c.app.state.services.registry
            await reg.create(SITES, SiteIn(id="demo", name="Farm"))
            await reg.create(FIELDS, FieldIn(id="f1", site_id="demo", name="Field"))
            for zone in ("z1", "z2"):
                await reg.create(ZONES, ZoneIn(id=zone, field_id="f1", name=zone, area_ha=5, soil_texture="loam",
                                               field_capacity_pct=31, wilting_point_pct=14, root_depth_cm=60,
                                               crop="maize", precip_rate_mm_h=5))
            for node, zone in (("soil-01", "z1"), ("soil-02", "z1"), ("soil-03", "z2")):
                await reg.create(NODES, NodeIn(id=node, role="soil", zone_id=zone))
            store = c.app.state.services.store
            closed = store.closed
            assert await warm_zone_charts(reg, store, lambda: now[0], 90) == 1  # z2 waits for room
            assert closed.view(("furrow_hourly", "vwc_pct", "soil-03")) is None
            held = closed.view(("furrow_hourly", "vwc_pct", "soil-01"))
            now[0] += 12 * HOUR
            assert await warm_zone_charts(reg, store, lambda: now[0], 90) == 1
            block = closed.view(("furrow_hourly", "vwc_pct", "soil-01"))
            assert (block.lo, block.hi) == (held.lo + 12 * HOUR, held.hi + 12 * HOUR)
            assert closed.rows == 2 * (90 * 24 - 3)
            await reg.replace(NODES, "soil-02", NodeIn(id="soil-02", role="soil", zone_id="z2"))
            start = now[0] - 30 * DAY
            for zone, nodes in (("z2", ["soil-02", "soil-03"]), ("z1", ["soil-01"])):
                for _ in range(2):  # read, then held
                    r = await c.get(f"/api/v1/zones/{zone}/columns",
                                    params={"days": 30, "window": "1h", "measurement": "vwc_pct"})
                    assert r.status_code == 200, r.text
                    times, sensors = columns(await seed.aggregate(nodes, "vwc_pct", start, now[0], HOUR, "mean"))
                    assert (r.json()["times_ms"], r.json()["sensors"]) == (times, sensors), zone
                    assert {s["node"] for s in sensors} == set(nodes)
    finally:
        await seed.close()


@pytest.mark.influxdb
async def test_a_cold_zone_chart_asked_as_messagepack_is_the_json_one_through_the_api(tmp_path, influxdb, influx_db):
    """A zone the cache does not hold yet has its roll-up rows asked as MessagePack (``Answer``): the API's
    JSON is byte for byte the one asked as JSON, for every fn over 1-, 3-hour and 1-day windows, with values
    that are not exact in binary, a node heard through two gateways, a channel sensor and a fault."""
    import numpy as np

    from furrow.cloud.storage.influx1 import Answer
    from furrow.cloud.storage.influx1_cache import ClosedWindows

    seed = _store(influxdb.url, influx_db, 0)
    rng = np.random.default_rng(8)
    first = NOW - 20 * DAY
    lines = []
    for node in ("soil-04", "soil-05"):
        for h in range(20 * 24):
            low, high = sorted(float(x) for x in rng.uniform(5, 45, 2))
            n = int(rng.integers(1, 5))
            lines.append(f"vwc_pct,depth_cm=30,gateway=gw-1,node={node},role=soil,site=demo sum="
                         f"{float(rng.uniform(low, high)) * n!r},n={n}i,min={low!r},max={high!r} "
                         f"{(first + h * HOUR) * 1_000_000}")
    try:
        await seed.ensure_database()
        await seed.write(_points())
        await seed._post_lines("\n".join(lines).encode(), "furrow_hourly")
        settings = local_settings(tmp_path, storage="influxdb1", influx_url=influxdb.url, influx_database=influx_db,
                                  influx_chart_warm_days=0)
        async with running_app(settings, clock=lambda: NOW) as c:
            store = c.app.state.services.store
            answered: list[str] = []

            async def seen(resp) -> None:
                answered.append(resp.headers.get("content-type", ""))

            store._http.event_hooks["response"].append(seen)
            nodes = ["soil-01", "soil-02", "soil-04", "soil-05"]
            for window in ("1h", "3h", "1d"):
                for fn in FNS:
                    bodies = {}
                    for answer in (Answer.MSGPACK, Answer.JSON):
                        store.cold_answer = answer
                        store.closed = ClosedWindows(1_000_000)  # cold: every closed window is read
                        answered.clear()
                        r = await c.get("/api/v1/series", params={"node": nodes, "measurement": "vwc_pct",
                                                                  "window": window, "fn": fn,
                                                                  "start": str(first), "end": str(NOW)})
                        assert r.status_code == 200, r.text
                        assert any(t.startswith(answer.value) for t in answered), (answer, answered)
                        assert store.closed.misses > 0
                        bodies[answer] = r.content
                    assert bodies[Answer.MSGPACK] == bodies[Answer.JSON], (window, fn)
                    # soil-04 and soil-05 are in the hourly roll-up only (written there), not the daily one
                    assert len(r.json()) > ({"1h": 2 * 20 * 24, "3h": 2 * 20 * 8, "1d": 5}[window]), (window, fn)
    finally:
        await seed.close()
