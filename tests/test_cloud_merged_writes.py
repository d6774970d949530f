"""Batches in flight together reach InfluxDB in one write, and each is still answered on its own.

Real InfluxDB 1.x (and Mosquitto for the worker): a merged write stores every batch once; a
batch InfluxDB refuses is refused alone, with its own receipt, and the batches merged with it
are stored; an unavailable store leaves every batch unacknowledged."""

from __future__ import annotations

import asyncio
import json

import aiomqtt
import pytest

from furrow.cloud.db import Database
from furrow.cloud.ingest import flatten
from furrow.cloud.node_routes import Health, NodeRoutes
from furrow.cloud.storage import (
    Influx1ReadingStore,
    MergedWrites,
    RetryPolicy,
    SqliteReadingStore,
    StorageRejected,
    StorageUnavailable,
)
from furrow.edge.batch import encode_batch, make_batch
from furrow.edge.payload import make_reading, make_uplink
from furrow.edge.topics import gateway_topic
from tests.cloud_support import T0, WAIT, eventually, item, local_settings, running_app, soil_uplink

pytestmark = pytest.mark.influxdb

# InfluxDB 1.x refuses a point whose field has another type than the shard already holds for it:
# seeded with a string `value`, every air temperature of that week is refused (400, "field type
# conflict"). A gateway cannot send such a batch by the contract; a store can still refuse one.
SEED = f'air_temp_c,site=demo value="broken" {T0 * 1_000_000}'


def _readings(node: str, seqs: range, gateway: str = "gw-1") -> list:
    out = []
    for s in seqs:
        out += flatten("demo", gateway, soil_uplink(node, seq=s, ts_ms=T0 + s * 1000), None, [])
    return out


def _weather(seq: int) -> dict:
    return make_uplink("wx-01", "weather", seq, T0 + seq * 1000, [make_reading("air_temp_c", 21.5)], "0.1.0")


def _stored(influxdb, db: str) -> dict[tuple[str, int], int]:
    """Points per (node, seq) across the measurements."""
    out: dict[tuple[str, int], int] = {}
    for m in ("vwc_pct", "soil_temp_c", "air_temp_c"):
        body = influxdb.query(db, f'SELECT "seq", "node" FROM "{m}" WHERE "node" != \'\'')
        for series in body["results"][0].get("series", []):
            cols = series["columns"]
            for values in series["values"]:
                row = dict(zip(cols, values, strict=True))
                key = (row["node"], row["seq"])
                out[key] = out.get(key, 0) + 1
    return out


async def test_concurrent_batches_are_one_write_and_each_caller_gets_its_own_count(influxdb, influx_db):
    """Four batches written at once go to InfluxDB in one write; each caller is told its own
    count, and every point is there once."""
    store = Influx1ReadingStore(influxdb.url, influx_db)
    writes = MergedWrites(store)
    try:
        parts = [_readings(f"soil-{i}", range(1, 4 + i)) for i in range(4)]
        counts = await asyncio.gather(*(writes.write(p) for p in parts))
        assert counts == [len(p) for p in parts] == [6, 8, 10, 12]
        assert writes.stats["writes"] == 1 and writes.stats["merged_batches"] == 4
        stored = _stored(influxdb, influx_db)
        assert stored == {(f"soil-{i}", s): 2 for i in range(4) for s in range(1, 4 + i)}
    finally:
        await writes.close()
        await store.close()


async def test_a_refused_batch_is_refused_alone_and_the_others_are_stored(influxdb, influx_db):
    """InfluxDB refuses the merged write for one batch's sake: the batches are written again one
    by one, the bad one's caller alone gets StorageRejected, the others their counts."""
    influxdb.write(influx_db, SEED)
    store = Influx1ReadingStore(influxdb.url, influx_db, retry=RetryPolicy(retries=0))
    writes = MergedWrites(store)
    try:
        good = [_readings("soil-1", range(1, 4)), _readings("soil-2", range(1, 3))]
        bad = flatten("demo", "gw-1", _weather(1), None, [])
        results = await asyncio.gather(writes.write(good[0]), writes.write(bad), writes.write(good[1]),
                                       return_exceptions=True)
        assert results[0] == 6 and results[2] == 4, results
        assert isinstance(results[1], StorageRejected) and "field type conflict" in str(results[1]), results
        assert writes.stats["fallbacks"] == 1
        stored = _stored(influxdb, influx_db)
        assert stored == {("soil-1", 1): 2, ("soil-1", 2): 2, ("soil-1", 3): 2, ("soil-2", 1): 2, ("soil-2", 2): 2}
    finally:
        await writes.close()
        await store.close()


async def test_an_unavailable_store_fails_every_merged_caller(influxdb, influx_db):
    """No InfluxDB at the address: each caller gets its own StorageUnavailable (and keeps its batch)."""
    store = Influx1ReadingStore("http://127.0.0.1:9", influx_db, retry=RetryPolicy(retries=0), timeout_s=2)
    writes = MergedWrites(store)
    try:
        results = await asyncio.gather(*(writes.write(_readings(f"soil-{i}", range(1, 3))) for i in range(3)),
                                       return_exceptions=True)
        assert all(isinstance(r, StorageUnavailable) for r in results), results
        assert len({id(r) for r in results}) == 3  # one exception each: tasks never share a traceback
        assert writes.stats["writes"] == 0
    finally:
        await writes.close()
        await store.close()


async def test_sqlite_writes_are_never_merged(tmp_path):
    """SQLite counts only the new readings, a count a merged write could not divide: each call
    goes to it alone, and a replayed batch is counted 0."""
    store = SqliteReadingStore(tmp_path / "r.db")
    writes = MergedWrites(store)
    try:
        assert writes.max_readings == 0
        part = _readings("soil-1", range(1, 3))
        assert await asyncio.gather(writes.write(part), writes.write(part)) in ([4, 0], [0, 4])
    finally:
        await store.close()


async def test_node_routes_of_batches_recorded_at_once_are_one_statement_and_the_newest_wins(tmp_path):
    """Three batches' sightings recorded at once are one upsert; a node in two of them is routed
    by the newer sighting whichever came first, with that sighting's health; an older sighting
    recorded later does not move it back."""
    db = Database(f"sqlite:///{tmp_path / 'furrow.db'}")
    db.create_all()
    routes = NodeRoutes(db)
    try:
        await asyncio.gather(
            routes.record("demo", "gw-2", {"soil-1": T0 + 5000}, {"soil-1": Health(9, "0.2.0", 3.6, -70)}),
            routes.record("demo", "gw-1", {"soil-1": T0 + 1000, "soil-2": T0},
                          {"soil-1": Health(1, "0.1.0", 3.7, -60), "soil-2": Health(4, "0.1.0", 3.8, -50)}),
            routes.record("demo", "gw-3", {"soil-3": T0}, {"soil-3": Health(2, None, None, None, ("vwc@10: open",))}),
        )
        assert routes.statements == 1
        got = {r.node: (r.gateway, r.last_seen_ms, r.seq, r.fw, r.faults) for r in await routes.all()}
        assert got == {"soil-1": ("gw-2", T0 + 5000, 9, "0.2.0", ()), "soil-2": ("gw-1", T0, 4, "0.1.0", ()),
                       "soil-3": ("gw-3", T0, 2, None, ("vwc@10: open",))}
        await routes.record("demo", "gw-1", {"soil-1": T0 + 2000}, {"soil-1": Health(2, "0.1.0", 3.7, -60)})
        assert (await routes.get("soil-1")).gateway == "gw-2"
        assert routes.statements == 2
    finally:
        db.dispose()


@pytest.mark.mosquitto
async def test_through_the_worker_the_bad_batch_gets_its_refusal_and_the_others_their_receipts(
        tmp_path, mosquitto, influxdb, influx_db, mqtt_topic_prefix):
    """Four batches in flight, merged in one write that InfluxDB refuses for the second's sake: the
    second gets a `refused` receipt naming the conflict, the other three `stored`, every good
    reading is in InfluxDB once, and all four are acknowledged (none is left to redeliver)."""
    settings = local_settings(tmp_path, storage="influxdb1", influx_url=influxdb.url, influx_database=influx_db,
                              mqtt_enabled=True, mqtt_host=mosquitto.host, mqtt_port=mosquitto.port,
                              topic_root=mqtt_topic_prefix, ingest_in_flight=4, influx_write_retries=0,
                              influx_rollups=False)
    async with running_app(settings) as client:
        services = client.app.state.services
        worker, writes = services.worker, services.ingest_writes
        await asyncio.wait_for(worker.ready.wait(), WAIT)
        influxdb.write(influx_db, SEED)
        # The first write is held until the batches behind it wait, so they are merged.
        gate = asyncio.Event()
        real_write = writes.store.write

        held_nodes = []

        async def held(points):
            held_nodes.append(sorted({r.node for r in points}))
            if not gate.is_set():
                await gate.wait()
            return await real_write(points)

        writes.store.write = held
        bodies = [batch(f"gw-1-{n:06d}", [item(soil_uplink(f"soil-{n}", seq=s, ts_ms=T0 + s * 1000))
                                          for s in range(1, 4)]) for n in range(4)]
        bodies[1] = batch("gw-1-000001", [item(_weather(1)), item(soil_uplink("soil-1", seq=1))])
        receipts: dict[str, dict] = {}
        async with aiomqtt.Client(mosquitto.host, mosquitto.port) as gw:
            await gw.subscribe(gateway_topic("demo", "gw-1", "receipt", mqtt_topic_prefix), qos=1)

            async def collect() -> None:
                async for message in gw.messages:
                    r = json.loads(message.payload)
                    receipts[r["batch_id"]] = r

            collector = asyncio.create_task(collect())
            try:
                for body in bodies:
                    await gw.publish(gateway_topic("demo", "gw-1", "batch", mqtt_topic_prefix), body, qos=1)
                # merged: either two or more wait behind the held first write (the bad one at least), or all
                # reached the writer together and the held first write carries the bad batch with the others
                # (the ingest core awaits the organisation guard before storing, so they can arrive at once)
                await eventually(lambda: _true(len(writes._queue) >= 2 or (
                                     bool(held_nodes) and "wx-01" in held_nodes[0] and len(held_nodes[0]) > 2)),
                                 "the bad batch merged with others",
                                 seen=lambda: ([sorted({r.node for r in q[0]}) for q in writes._queue], held_nodes,
                                               dict(writes.stats), dict(worker.stats)))
                gate.set()
                await eventually(lambda: _true(len(receipts) == 4), "a receipt for each of the four batches")
                await eventually(lambda: _true(worker.stats["mqtt_acks"] == 4), "all four acknowledged")
            finally:
                collector.cancel()
        assert {b: r["status"] for b, r in receipts.items()} == {
            "gw-1-000000": "stored", "gw-1-000001": "refused", "gw-1-000002": "stored", "gw-1-000003": "stored"}
        assert "field type conflict" in receipts["gw-1-000001"]["reason"]
        assert writes.stats["fallbacks"] == 1 and worker.stats["batch_rejected"] == 1
        stored = _stored(influxdb, influx_db)
        # soil-1's reports came in the refused batch only: its points may or may not have got in
        # with the partial write; everything the stored batches carried is there, one point per reading
        assert {k: v for k, v in stored.items() if k[0] != "soil-1"} == {
            (f"soil-{n}", s): 2 for n in (0, 2, 3) for s in range(1, 4)}


def batch(batch_id: str, items: list[dict]) -> bytes:
    return encode_batch(make_batch("demo", "gw-1", batch_id, T0 + 60_000, items))


async def _true(value: bool) -> bool:
    return value
