"""The ingest core: good items kept, bad ones named, bad envelopes refused, replays stored once."""

from __future__ import annotations

import json

import pytest

from furrow.cloud.db import Database
from furrow.cloud.gaps import GapStore
from furrow.cloud.ingest import ingest_batch, receipt, refusal
from furrow.cloud.node_routes import NodeRoutes
from furrow.cloud.storage import SqliteReadingStore
from furrow.edge.batch import GAP_FLOOD, GAP_QUOTA, decode_receipt, encode_receipt, make_gap
from furrow.edge.errors import ContractError
from furrow.edge.payload import TS_MS_MAX
from tests.cloud_support import T0, batch_of, item, soil_uplink


@pytest.fixture
async def parts(tmp_path):
    store = SqliteReadingStore(tmp_path / "readings.db")
    db = Database(f"sqlite:///{tmp_path / 'furrow.db'}")
    db.create_all()
    try:
        yield store, NodeRoutes(db), GapStore(db)
    finally:
        await store.close()
        db.dispose()


async def test_bad_items_are_reported_and_good_items_kept(parts):
    """Each bad item is reported with index, field, value and reason; the good ones are stored."""
    store, routes, _ = parts
    good = item(soil_uplink(seq=1))
    out_of_range = item(soil_uplink(seq=2))
    out_of_range["readings"][0]["value"] = 140.0
    no_seq = item(soil_uplink(seq=3))
    del no_seq["seq"]
    bad_flags = item(soil_uplink(node="soil-02", seq=1))
    bad_flags["flags"] = "clock_corrected"
    batch = batch_of([good, out_of_range, no_seq, bad_flags, item(soil_uplink(seq=4))])

    result = await ingest_batch(json.dumps(batch).encode(), store, routes)

    assert (result.accepted, result.readings, result.stored) == (2, 4, 4)
    assert [(r.index, r.field, r.value) for r in result.rejected] == [
        (1, "items.1.readings.0.value", 140.0),
        (2, "items.2.seq", None),
        (3, "items.3.flags", "clock_corrected"),
    ]
    assert "physical range" in result.rejected[0].reason
    assert await store.count() == 4
    assert [(r.node, r.gateway) for r in await routes.all()] == [("soil-01", "gw-1")]


async def test_a_bad_envelope_rejects_the_whole_batch(parts):
    """An envelope that breaks the contract raises ContractError naming it, and nothing is stored."""
    store, routes, _ = parts
    batch = batch_of([item(soil_uplink())])
    batch["gateway"] = "GW 1"
    with pytest.raises(ContractError) as info:
        await ingest_batch(batch, store, routes)
    assert info.value.field == "gateway" and info.value.value == "GW 1"
    with pytest.raises(ContractError) as info:
        await ingest_batch(b"{not json", store, routes)
    assert info.value.field == "batch"
    assert await store.count() == 0
    assert await routes.all() == []


async def test_a_replayed_batch_is_stored_once(parts):
    """The same batch ingested twice stores its readings once."""
    store, routes, _ = parts
    batch = batch_of([item(soil_uplink(seq=s)) for s in range(1, 4)])
    first = await ingest_batch(batch, store, routes)
    again = await ingest_batch(json.dumps(batch), store, routes)
    assert (first.readings, first.stored) == (6, 6)
    assert (again.readings, again.stored) == (6, 0)
    assert await store.count() == 6


async def test_faults_flags_and_rx_time_reach_the_store(parts):
    """A fault, the gateway's flags and rx_ms are kept on every reading of the item."""
    store, routes, _ = parts
    up = soil_uplink(seq=9, temp_fault=True)
    await ingest_batch(batch_of([item(up, rx_ms=T0 + 777, flags=["clock_corrected"])]),
                       store, routes)
    got = await store.query("soil-01", None, T0, T0 + 1, 10)
    assert [(r.measurement, r.value, r.fault) for r in got] == [
        ("soil_temp_c", None, "disconnected"), ("vwc_pct", 23.4, None),
    ]
    assert {(r.rx_ms, r.flags, r.site, r.gateway, r.seq) for r in got} == {
        (T0 + 777, ("clock_corrected",), "demo", "gw-1", 9)
    }


async def test_a_batch_claiming_another_gateway_than_its_topic_is_refused(parts):
    """With an origin (the MQTT topic), an envelope naming another gateway is refused."""
    store, routes, _ = parts
    with pytest.raises(ContractError) as info:
        await ingest_batch(batch_of([item(soil_uplink())]), store, routes,
                           origin=("demo", "gw-2"))
    assert info.value.field == "gateway"
    assert await store.count() == 0


async def test_routes_follow_the_newest_sighting(parts):
    """A node heard through a new gateway is routed there; an older replay does not move it back."""
    store, routes, _ = parts
    await ingest_batch(batch_of([item(soil_uplink(seq=1), rx_ms=T0 + 1000)], gateway="gw-1"),
                       store, routes)
    await ingest_batch(batch_of([item(soil_uplink(seq=2), rx_ms=T0 + 2000)], gateway="gw-2"),
                       store, routes)
    # gw-1 replays its old buffer after the node moved on
    await ingest_batch(batch_of([item(soil_uplink(seq=1), rx_ms=T0 + 1000)], gateway="gw-1"),
                       store, routes)
    route = await routes.get("soil-01")
    assert (route.gateway, route.last_seen_ms) == ("gw-2", T0 + 2000)


async def test_a_timestamp_beyond_what_influxdb_can_store_rejects_only_that_item(parts):
    """An item dated past what InfluxDB can hold (a node with a garbage clock)
    is refused alone by the contract; the rest is stored."""
    store, routes, _ = parts
    far = dict(item(soil_uplink(seq=2)), ts_ms=TS_MS_MAX + 1)
    result = await ingest_batch(batch_of([item(soil_uplink(seq=1)), far]), store, routes)
    assert result.accepted == 1
    assert [(r.index, r.field, r.value) for r in result.rejected] == [(1, "items.1.ts_ms", TS_MS_MAX + 1)]
    assert await store.count() == 2


async def test_gap_reports_are_kept_once_and_old_dropped_counts_become_reports(parts):
    """A batch's gap reports are kept once however often it comes, and a 1.1 gateway's dropped
    counts are kept as quota reports; the receipt counts them."""
    store, routes, gaps = parts
    flood = make_gap("gw-1-1-1", "soil-01", GAP_FLOOD, 3, [[7, 9]], T0, T0 + 2000)
    batch = dict(batch_of([item(soil_uplink(seq=1))]), gaps=[flood],
                 dropped={"soil-02": {"count": 65, "min_seq": 0, "max_seq": 64}})
    first = await ingest_batch(batch, store, routes, gaps=gaps, clock=lambda: T0 + 5000)
    again = await ingest_batch(json.dumps(batch), store, routes, gaps=gaps, clock=lambda: T0 + 9000)
    assert (first.gaps, first.gaps_new, again.gaps, again.gaps_new) == (2, 2, 2, 0)
    assert await gaps.totals(0) == {("soil-01", GAP_FLOOD): 3, ("soil-02", GAP_QUOTA): 65}
    (row,) = await gaps.for_node("soil-02", 0, T0 + 86_400_000)
    assert (row.seqs, row.received_ms) == ([[0, 64]], T0 + 5000)
    assert decode_receipt(encode_receipt(receipt(first)))["gaps"] == 2


async def test_malformed_gap_reports_cost_the_reports_not_the_readings(parts):
    """A gaps key that breaks the contract is refused as a whole, named, and the readings are stored."""
    store, routes, gaps = parts
    batch = dict(batch_of([item(soil_uplink(seq=1))]), gaps=[{"id": "x", "reason": "bored"}])
    result = await ingest_batch(batch, store, routes, gaps=gaps)
    assert result.stored == 2 and result.gaps == 0
    assert result.gap_error is not None and result.gap_error.field.startswith("gaps.0.")
    assert await gaps.totals(0) == {}


def test_a_refused_batch_gets_a_refusal_receipt_when_its_id_can_be_read():
    """A refused envelope whose batch id can be read gets a refused receipt with the reason; garbage gets none."""
    batch = dict(batch_of([item(soil_uplink())]), gateway="GW 1")
    r = refusal(json.dumps(batch).encode(), ContractError("gateway", "GW 1", "bad id"))
    assert r is not None and (r["batch_id"], r["status"]) == (batch["batch_id"], "refused")
    assert "bad id" in r["reason"]
    assert refusal(b"{not json", ValueError("x")) is None
    assert refusal(b"[1, 2]", ValueError("x")) is None
