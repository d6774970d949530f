"""One contract suite for ReadingStore, run against SQLite and a real InfluxDB 1.x."""

from __future__ import annotations

import socket
from dataclasses import replace

import pytest

from furrow.cloud.storage import (
    Influx1ReadingStore,
    Reading,
    RetryPolicy,
    SqliteReadingStore,
    StorageUnavailable,
)
from furrow.cloud.storage.influx1 import LATEST_NODES_PER_QUERY
from furrow.cloud.storage.lineprotocol import to_line, to_lines, to_point
from furrow.edge.payload import TS_MS_MAX
from tests.cloud_support import T0

END = T0 + 3_600_000


def reading(node="soil-01", seq=1, measurement="vwc_pct", value=23.4, depth_cm=10,
            channel=None, ts_ms=T0, fault=None, gateway="gw-1", role="soil",
            unit=None, flags=()) -> Reading:
    units = {"vwc_pct": "%", "soil_temp_c": "degC", "valve_open": "state", "flow_l_min": "L/min"}
    return Reading(
        site="demo", gateway=gateway, node=node, role=role, measurement=measurement,
        unit=unit or units[measurement], depth_cm=depth_cm, channel=channel,
        value=None if fault else value, fault=fault, seq=seq, ts_ms=ts_ms,
        rx_ms=ts_ms + 250, flags=tuple(flags),
    )


@pytest.fixture(params=["sqlite", pytest.param("influxdb1", marks=pytest.mark.influxdb)])
async def store(request, tmp_path):
    if request.param == "sqlite":
        s = SqliteReadingStore(tmp_path / "readings.db")
    else:
        influxdb = request.getfixturevalue("influxdb")
        s = Influx1ReadingStore(influxdb.url, request.getfixturevalue("influx_db"))
    try:
        yield s
    finally:
        await s.close()


async def test_write_then_query_latest_and_count_round_trip(store):
    """What is written comes back equal from query, latest and count."""
    points = [
        reading(seq=1, ts_ms=T0, value=20.0),
        reading(seq=1, ts_ms=T0, measurement="soil_temp_c", value=18.25),
        reading(seq=2, ts_ms=T0 + 60_000, value=21.5, flags=["clock_corrected"]),
        reading(node="soil-02", seq=7, ts_ms=T0 + 30_000, value=30.0, depth_cm=30),
    ]
    await store.write(points)
    got = await store.query(None, None, T0, END, 100)
    assert got == sorted(points, key=Reading.sort_key)
    assert await store.count() == 4
    assert await store.count("soil-01") == 3
    latest = await store.latest("soil-01")
    assert [(r.measurement, r.seq, r.value) for r in latest] == [
        ("soil_temp_c", 1, 18.25),
        ("vwc_pct", 2, 21.5),
    ]


async def test_the_same_reading_written_twice_is_stored_once(store):
    """A retried reading (same node, seq, measurement, depth) is stored once."""
    r = reading(seq=5)
    await store.write([r])
    await store.write([r])
    await store.write([r, r])
    assert await store.count() == 1
    assert await store.query("soil-01", "vwc_pct", T0, END, 10) == [r]


async def test_two_reports_in_the_same_millisecond_are_both_kept(store):
    """Distinct reports of one sensor sharing a timestamp (second-resolution Modbus time) both stay."""
    first, second = reading(seq=1, value=20.0), reading(seq=2, value=21.0)
    await store.write([first, second])
    await store.write([second])
    assert await store.count() == 2
    assert await store.query("soil-01", "vwc_pct", T0, T0 + 1, 10) == [first, second]
    assert await store.latest("soil-01") == [second]


async def test_latest_keeps_the_newest_when_an_older_report_arrives_late(store):
    """A backlog delivered after fresher reports (fresh-first drain) never replaces the newest value."""
    newer, older = reading(seq=9, value=30.0, ts_ms=T0 + 60_000), reading(seq=8, value=10.0, ts_ms=T0)
    assert await store.write([newer]) == 1 and await store.write([older]) == 1  # one reading stored each time
    assert await store.latest("soil-01") == [newer]


async def test_sqlite_latest_index_is_rebuilt_for_an_older_store_and_follows_retention(tmp_path):
    """A store file without the newest-per-sensor table gets it filled on open; retention drops stale entries."""
    import sqlite3

    path = tmp_path / "old.db"
    s = SqliteReadingStore(path)
    a, b = reading(seq=1, ts_ms=T0), reading(seq=2, value=25.0, ts_ms=T0 + 1000, depth_cm=30)
    await s.write([a, b])
    await s.close()
    with sqlite3.connect(path) as conn:  # as a store made before the table existed
        conn.execute("DELETE FROM readings_latest")
    s = SqliteReadingStore(path, raw_retention_days=1)
    assert await s.latest("soil-01") == [a, b]
    await s.maintain(T0 + 1000 + 2 * 86_400_000)
    assert await s.latest("soil-01") == [] and await s.count() == 0
    await s.close()


async def test_sqlite_a_late_reading_joins_a_rolled_up_hour_whose_raw_rows_are_gone(tmp_path):
    """A reading arriving after retention dropped its hour's raw rows adds to the hour's roll-up
    instead of replacing it (the hour's mean and count include both)."""
    hour = T0 - T0 % 3_600_000
    s = SqliteReadingStore(tmp_path / "r.db", raw_retention_days=1)
    await s.write([reading(seq=1, value=20.0, ts_ms=hour), reading(seq=2, value=30.0, ts_ms=hour + 60_000)])
    later = hour + 3 * 86_400_000
    assert await s.maintain(later) == (1, 2)  # rolled up, then the raw rows dropped
    await s.write([reading(seq=3, value=40.0, ts_ms=hour + 120_000)])  # the late one
    await s.maintain(later)
    (b,) = await s.aggregate(["soil-01"], "vwc_pct", hour, hour + 3_600_000, 3_600_000, "mean")
    assert (b.value, b.count) == (30.0, 3) and await s.count() == 0
    await s.close()


async def test_faults_are_stored_counted_and_read_back(store):
    """A reading with a fault instead of a value is stored, counted and read back as a fault."""
    fault = reading(measurement="soil_temp_c", fault="disconnected", seq=3)
    value = reading(seq=3)
    await store.write([fault, value])
    assert await store.count() == 2
    got = await store.query(None, "soil_temp_c", T0, END, 10)
    assert got == [fault]
    assert got[0].value is None and got[0].fault == "disconnected"


async def test_query_filters_by_node_measurement_window_and_limit(store):
    """query honours node, measurement, [start, end) and limit, oldest first."""
    points = [reading(seq=i, ts_ms=T0 + i * 1000, value=float(i)) for i in range(10)]
    points.append(reading(node="soil-02", seq=1, ts_ms=T0 + 2000))
    points.append(reading(seq=1, measurement="soil_temp_c", ts_ms=T0 + 1000, value=15.0))
    await store.write(points)
    got = await store.query("soil-01", "vwc_pct", T0 + 2000, T0 + 6000, 100)
    assert [r.seq for r in got] == [2, 3, 4, 5]
    got = await store.query("soil-01", "vwc_pct", T0, END, 3)
    assert [r.seq for r in got] == [0, 1, 2]
    got = await store.query(None, None, T0 + 1000, T0 + 2001, 100)
    assert [(r.node, r.measurement, r.seq) for r in got] == [
        ("soil-01", "soil_temp_c", 1), ("soil-01", "vwc_pct", 1),
        ("soil-01", "vwc_pct", 2), ("soil-02", "vwc_pct", 1),
    ]
    assert await store.query("soil-03", None, T0, END, 100) == []


async def test_channels_and_missing_depth_are_kept_apart(store):
    """Valves on different channels are separate sensors; a missing depth reads back as None."""
    a = reading(node="irr-01", role="irrigation", measurement="valve_open", value=1.0,
                depth_cm=None, channel=1)
    b = reading(node="irr-01", role="irrigation", measurement="valve_open", value=0.0,
                depth_cm=None, channel=2)
    await store.write([a, b])
    assert await store.count("irr-01") == 2
    assert await store.latest("irr-01") == [a, b]


@pytest.mark.influxdb
async def test_influx_tags_are_low_cardinality_and_seq_is_a_field(influxdb, influx_db):
    """On the real server seq is an integer field, never a tag; the tags are the sensor's identity."""
    s = Influx1ReadingStore(influxdb.url, influx_db)
    try:
        await s.write([reading(seq=i, ts_ms=T0 + i) for i in range(5)]
                      + [reading(measurement="soil_temp_c", fault="crc_error")])
    finally:
        await s.close()
    tag_keys = {
        v[0]
        for series in influxdb.query(influx_db, "SHOW TAG KEYS")["results"][0]["series"]
        for v in series["values"]
    }
    assert tag_keys == {"site", "gateway", "node", "role", "depth_cm"}
    fields = {
        tuple(v)
        for series in influxdb.query(influx_db, "SHOW FIELD KEYS")["results"][0]["series"]
        for v in series["values"]
    }
    assert ("seq", "integer") in fields and ("value", "float") in fields
    assert ("fault", "string") in fields
    series = influxdb.query(influx_db, "SHOW SERIES")["results"][0]["series"][0]["values"]
    assert len(series) == 2  # five reports of one sensor are one series, not five


async def test_a_point_furrow_did_not_write_is_skipped_and_counted(influxdb, influx_db):
    """Another program's point in a reading measurement (no seq field) is skipped by query and latest, counted,
    and the readings around it come back: one such point used to fail every query that met it (the alert job's
    evaluation raised TypeError in from_row and retried every minute)."""
    s = Influx1ReadingStore(influxdb.url, influx_db)
    try:
        await s.write([reading(seq=1, ts_ms=T0), reading(seq=2, ts_ms=T0 + 2000)])
        foreign = f"vwc_pct,site=demo,gateway=gw-1,node=soil-01,role=soil,depth_cm=10 value=99.0 {(T0 + 1000) * 10**6}"
        influxdb.write(influx_db, [foreign])
        got = await s.query("soil-01", "vwc_pct", T0, END, 100)
        assert [(r.seq, r.value) for r in got] == [(1, 23.4), (2, 23.4)]
        assert s.unreadable == 1
        assert [r.seq for r in await s.latest("soil-01")] == [2]
    finally:
        await s.close()


async def test_latest_reads_past_a_newer_point_furrow_did_not_write(influxdb, influx_db):
    """Another program's point (no seq) newer than a sensor's readings: latest and latest_many still give
    the sensor's newest reading (it used to come back with nothing for that sensor), the other sensors and
    nodes are as they were, and a node with no reading at all is there with none."""
    s = Influx1ReadingStore(influxdb.url, influx_db)
    try:
        await s.write([reading(seq=1, ts_ms=T0), reading(seq=2, ts_ms=T0 + 2000),
                       reading(seq=2, ts_ms=T0 + 2000, measurement="soil_temp_c", value=18.5),
                       reading(node="soil-02", seq=5, ts_ms=T0 + 1000, value=31.0)])
        foreign = f"vwc_pct,site=demo,gateway=gw-1,node=soil-01,role=soil,depth_cm=10 value=99.0 {(T0 + 9000) * 10**6}"
        influxdb.write(influx_db, [foreign])
        got = await s.latest("soil-01")
        assert [(r.measurement, r.seq, r.value) for r in got] == [("soil_temp_c", 2, 18.5), ("vwc_pct", 2, 23.4)]
        many = await s.latest_many(["soil-02", "soil-01", "soil-99"])
        assert many == {"soil-01": got, "soil-02": await s.latest("soil-02"), "soil-99": []}
        assert [(r.node, r.seq, r.value) for r in many["soil-02"]] == [("soil-02", 5, 31.0)]
    finally:
        await s.close()


async def test_latest_many_is_latest_of_each_node(store):
    """latest_many answers what latest answers node by node, on every store, across more nodes than one
    InfluxDB query asks for."""
    nodes = [f"n-{k:03d}" for k in range(LATEST_NODES_PER_QUERY + 5)]
    await store.write([reading(node=n, seq=s, ts_ms=T0 + s * 1000, value=20.0 + k + s, depth_cm=d)
                       for k, n in enumerate(nodes) for s in (1, 2) for d in (10, 30)])
    many = await store.latest_many(nodes + ["nobody"])
    assert set(many) == set(nodes) | {"nobody"} and many["nobody"] == []
    for k, n in enumerate(nodes):
        assert many[n] == await store.latest(n)
        assert [(r.depth_cm, r.seq, r.value) for r in many[n]] == [(10, 2, 22.0 + k), (30, 2, 22.0 + k)]


def test_line_protocol_of_a_reading_is_exact_and_stable():
    """A reading maps to one exact line (seq below the millisecond), a retry to the identical line."""
    r = reading(seq=42, flags=["clock_corrected"])
    line = to_line(r)
    assert line == (
        "vwc_pct,depth_cm=10,gateway=gw-1,node=soil-01,role=soil,site=demo "
        'flags="[\\"clock_corrected\\"]",rx_ms=1767225600250i,seq=42i,value=23.4 '
        "1767225600000000042"
    )
    assert to_line(reading(seq=42, flags=["clock_corrected"])) == line
    fault = to_line(reading(measurement="soil_temp_c", fault="disconnected", seq=42))
    assert fault == (
        "soil_temp_c,depth_cm=10,gateway=gw-1,node=soil-01,role=soil,site=demo "
        'fault="disconnected",rx_ms=1767225600250i,seq=42i 1767225600000000042'
    )


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_influx_store_on_a_closed_port_raises_storage_unavailable():
    """Writes to an InfluxDB nobody listens on fail as StorageUnavailable after the retries."""
    s = Influx1ReadingStore(f"http://127.0.0.1:{_closed_port()}", "furrow",
                            retry=RetryPolicy(retries=2, backoff_s=0.01))
    try:
        with pytest.raises(StorageUnavailable) as info:
            await s.write([reading()])
        assert "after 3 attempts" in info.value.reason
    finally:
        await s.close()


@pytest.mark.influxdb
async def test_the_latest_storable_instant_is_accepted_by_influxdb(influxdb, influx_db):
    """The contract's latest time, TS_MS_MAX, is one the real InfluxDB still stores."""
    s = Influx1ReadingStore(influxdb.url, influx_db)
    try:
        await s.write([reading(ts_ms=TS_MS_MAX, seq=999_999)])
        assert await s.count() == 1
    finally:
        await s.close()


@pytest.mark.parametrize("reading", [
    Reading("demo", "gw-1", "soil-01", "soil", "vwc_pct", "%", 10, None, 23.46, None, 42, T0, T0 + 250),
    Reading("demo", "gw-1", "soil-01", "soil", "vwc_pct", "%", 10, None, 35.0, None, 1, T0),
    Reading("a-b_c", "gw-1", "irr-01", "irrigation", "valve_open", "state", None, 2, 1.0, None, 7, T0, None,
            ("late", 'q"uote')),
    Reading("demo", "gw-1", "soil-01", "soil", "soil_temp_c", "degC", 30, None, None, 'odd "fault"\\', 9, T0),
    Reading("demo", "gw-1", "w-1", "weather", "rs_w_m2", "W/m2", None, None, 1e-7, None, 3_000_001, T0),
])
def test_the_direct_line_protocol_matches_influxdb_clients_point(reading):
    """The fast line writer gives exactly the line influxdb_client's Point gives."""
    assert to_line(reading) == to_point(reading).to_line_protocol()


def test_to_lines_formats_a_reports_shared_fields_once_and_gives_to_lines_lines():
    """`to_lines` (a report's seq, rx_ms, flags and time formatted once) gives exactly `to_line`'s
    lines: readings of one report in a row, faults and flags among them, and a change of report
    that keeps the seq but not the time, the rx_ms or the flags."""
    r1 = [reading(seq=7, measurement="vwc_pct", value=21.0), reading(seq=7, measurement="soil_temp_c", value=1e-7),
          reading(seq=7, measurement="soil_temp_c", fault='odd "fault"\\', value=None)]
    r2 = [reading(seq=7, ts_ms=T0 + 1000), reading(seq=7, ts_ms=T0 + 1000, flags=["late", 'q"uote']),
          replace(reading(seq=7, ts_ms=T0 + 1000, flags=["late", 'q"uote']), rx_ms=None), reading(seq=8, value=-3.5)]
    readings = r1 + r2 + r1
    lines = to_lines(readings)
    assert lines == [to_line(r) for r in readings]
    assert lines[1].endswith(",seq=7i,value=1e-07 1767225600000000007")
    assert len(set(lines)) == len(r1) + len(r2)  # each distinct reading, its own line


async def test_sqlite_rollups_keep_hourly_aggregates_after_raw_retention(tmp_path):
    """The SQLite job rolls up every touched hour (late rows too), drops raw rows past retention, and
    hourly/daily series for that range come from the roll-up with exact means."""
    store = SqliteReadingStore(tmp_path / "r.db", raw_retention_days=30)
    try:
        hour = 3_600_000
        await store.write([reading(seq=i, ts_ms=T0 + i * 15 * 60_000, value=20.0 + i) for i in range(8)])
        assert await store.maintain(now_ms=T0 + 2 * hour) == (2, 0)
        await store.write([reading(seq=99, ts_ms=T0 + 60_000, value=99.0)])  # a late row in hour 0
        assert await store.maintain(now_ms=T0 + 2 * hour) == (1, 0)
        before = await store.aggregate(["soil-01"], "vwc_pct", T0, T0 + 2 * hour, hour, "mean")
        assert [(b.value, b.count) for b in before] == [((20 + 21 + 22 + 23 + 99) / 5, 5), (25.5, 4)]

        assert await store.maintain(now_ms=T0 + 40 * 24 * hour) == (0, 9)  # 40 days on: raw rows gone
        assert await store.count() == 0
        after = await store.aggregate(["soil-01"], "vwc_pct", T0, T0 + 2 * hour, hour, "mean")
        assert after == before
        daily = await store.aggregate(["soil-01"], "vwc_pct", T0, T0 + 2 * hour, 24 * hour, "max")
        assert [(b.value, b.count) for b in daily] == [(99.0, 9)]
    finally:
        await store.close()
