"""The gateway's gap log and its receipts bookkeeping (issue 14 §2, §3): readings not forwarded are
reported per node and reason, survive restarts, and leave only with the cloud's receipt."""

from __future__ import annotations

import json
import sqlite3

import pytest

from furrow.edge.payload import encode_json
from furrow.gateway import DurableBuffer, Item
from furrow.gateway.gaps import Drop, merge_ranges
from tests.cloud_support import eventually, local_settings, running_app
from tests.gateway_support import (
    Peer,
    gateway_config,
    running_gateway,
    soil_uplink,
    up_topic,
    valve_uplink,
    wait_until,
)


@pytest.fixture
def buf(tmp_path):
    with DurableBuffer(tmp_path / "buffer.sqlite", clock=lambda: 1_000) as b:
        yield b


def test_seq_ranges_merge_where_they_touch():
    """Seqs join the ranges they touch or extend; others start their own range, all sorted."""
    assert merge_ranges([], [5, 3, 4, 9]) == [[3, 5], [9, 9]]
    assert merge_ranges([[3, 5], [9, 9]], [6, 8, 20]) == [[3, 6], [8, 9], [20, 20]]
    assert merge_ranges([[1, 4]], [2, 3]) == [[1, 4]]


def test_drops_gather_per_node_and_reason_until_a_batch_carries_them(buf):
    """Flood and quarantine drops of one node gather in one report per reason; once sent, new drops
    open the next report and the sent one stays as it went."""
    buf.put_many([], drops=[Drop("soil-01", "flood", s) for s in (7, 8, 10)] + [Drop("soil-01", "quarantine")])
    buf.put_many([], drops=[Drop("soil-01", "flood", 9), Drop(None, "quarantine")])
    gaps = {(g["node"], g["reason"]): g for _, g in buf.next_gaps()}
    assert (gaps[("soil-01", "flood")]["count"], gaps[("soil-01", "flood")]["seqs"]) == (4, [[7, 10]])
    assert (gaps[("soil-01", "quarantine")]["count"], gaps[("soil-01", "quarantine")]["seqs"]) == (1, [])
    assert gaps[(None, "quarantine")]["count"] == 1
    ids = [i for i, _ in buf.next_gaps()]
    buf.sent("b1", [], ids, 1_000)
    buf.put_many([], drops=[Drop("soil-01", "flood", 11)])
    assert [(g["count"], g["seqs"]) for _, g in buf.next_gaps()] == [(1, [[11, 11]])]
    assert buf.stats()["flooded"] == 5
    assert buf.stats()["gaps_unconfirmed"] == {"flood": {"soil-01": 5}, "quarantine": {"soil-01": 1, "?": 1}}


def test_a_report_past_64_ranges_is_sealed_and_the_next_one_opened(buf):
    """A report holds at most 64 seq ranges: the 65th opens the next report, counts add up."""
    buf.put_many([], drops=[Drop("soil-01", "flood", 2 * s) for s in range(64)])
    buf.put_many([], drops=[Drop("soil-01", "flood", 1000)])
    reports = [g for _, g in buf.next_gaps()]
    assert [(len(g["seqs"]), g["count"]) for g in reports] == [(64, 64), (1, 1)]


def test_quota_drops_are_reported_with_their_seqs_and_leave_with_the_receipt(tmp_path):
    """Readings the quota drops become a quota report with their seq range; the report leaves only
    with the receipt of the batch that carried it, not when it is sent."""
    with DurableBuffer(tmp_path / "b.sqlite", max_rows=3, clock=lambda: 5) as b:
        b.put_many([Item(soil_uplink("soil-01", s), 0) for s in range(5)])
        b.put_many([Item(valve_uplink("irr-01", 1), 0)])
        ((gap_id, gap),) = b.next_gaps()
        assert (gap["node"], gap["reason"], gap["count"], gap["seqs"]) == ("soil-01", "quota", 3, [[0, 2]])
        rows = b.next_batch(10)
        b.sent("b1", [r for r, _ in rows], [gap_id], 5)
        assert b.next_gaps() == [] and b.next_batch(10) == []
        assert (b.stats()["pending"], b.stats()["in_flight"]) == (3, 3)
        assert b.stored("b1") == (3, 5)
        assert b.stats()["gaps_unconfirmed"] == {} and b.stats()["pending"] == 0
        assert b.receipts_seen()


def test_a_batch_that_never_got_through_goes_again_and_one_without_receipt_only_when_due(buf):
    """Rows of a batch whose publish failed are sent with the next one; rows of a batch that got
    through wait for its receipt until they are due again (sent before resend_before_ms)."""
    buf.put_many([Item(soil_uplink("a", s), 0) for s in range(4)])
    first = [r for r, _ in buf.next_batch(2)]
    buf.sent("b1", first, [], 100)
    buf.unsent("b1")
    assert [r for r, _ in buf.next_batch(2)] == first
    buf.sent("b1", first, [], 100)
    later = [r for r, _ in buf.next_batch(2)]
    buf.sent("b2", later, [], 200)
    assert buf.next_batch(10) == [] and buf.waiting()
    assert [r for r, _ in buf.next_batch(10, resend_before_ms=150)] == first
    assert buf.stored("b2") == (2, 200) and buf.stored("gone") == (0, None)


def test_gaps_and_flood_counts_survive_a_restart(tmp_path):
    """The gap log and the flood counter are on disk: a restarted gateway still reports them."""
    path = tmp_path / "b.sqlite"
    with DurableBuffer(path) as b:
        b.put_many([], drops=[Drop("soil-01", "flood", 3)])
    with DurableBuffer(path) as b:
        assert b.stats()["flooded"] == 1 and [g["seqs"] for _, g in b.next_gaps()] == [[[3, 3]]]


def test_a_buffer_from_before_the_gap_log_keeps_its_unreported_drops(tmp_path):
    """Quota drops an older buffer file kept per node become quota reports when it is opened."""
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.executescript("CREATE TABLE readings (id INTEGER PRIMARY KEY AUTOINCREMENT, node TEXT NOT NULL, "
                     "seq INTEGER NOT NULL, rx_ms INTEGER NOT NULL, flags TEXT NOT NULL, payload TEXT NOT NULL, "
                     "UNIQUE (node, seq));"
                     "CREATE TABLE unreported_drops (node TEXT PRIMARY KEY, count INTEGER NOT NULL, "
                     "min_seq INTEGER NOT NULL, max_seq INTEGER NOT NULL);"
                     "INSERT INTO unreported_drops VALUES ('soil-01', 65, 0, 64);")
    db.close()
    with DurableBuffer(path) as b:
        ((_, gap),) = b.next_gaps()
        assert (gap["node"], gap["reason"], gap["count"], gap["seqs"]) == ("soil-01", "quota", 65, [[0, 64]])


GATEWAY_SEEN = ("received", "duplicates", "quarantined", "flooded", "pending", "in_flight", "gaps_unconfirmed",
                "forwarder", "farm")  # what a failure of the test below shows of the gateway


@pytest.mark.mosquitto
async def test_every_reading_the_gateway_does_not_forward_reaches_the_cloud_per_node_and_reason(
        tmp_path, mosquitto, mqtt_topic_prefix):
    """Through a real broker, gateway and cloud: a flooding node's refused reports and a quarantined
    report show on the cloud's GET /nodes/{node}/gaps with their reason and seqs, a hole nothing
    explains shows as a loss, and the gateway's flood count survives its restart."""
    root = mqtt_topic_prefix
    settings = local_settings(tmp_path / "cloud", mqtt_enabled=True, mqtt_host=mosquitto.host,
                              mqtt_port=mosquitto.port, topic_root=root, mqtt_reconnect_max_s=0.5)
    config = gateway_config(tmp_path, mosquitto.host, mosquitto.port, root, node_burst=5, node_rate_per_s=0.001)
    node = Peer(mosquitto.host, mosquitto.port)

    async def gaps(client, node_id: str) -> dict:
        r = await client.get(f"/api/v1/nodes/{node_id}/gaps", params={"start": 0})
        assert r.status_code == 200, r.text
        return r.json()

    try:
        async with running_app(settings) as client:
            await wait_until(lambda: client.app.state.services.worker.connected, "the cloud worker to subscribe")
            async with running_gateway(config) as gw:
                for seq in range(1, 11):  # a burst of 5 is allowed, the rest is a flood
                    node.publish(up_topic(config, "soil-01"), encode_json(soil_uplink("soil-01", seq)))
                bad = soil_uplink("soil-02", 3)
                bad["readings"][0]["value"] = 140.0  # no soil holds 140 % water
                node.publish(up_topic(config, "soil-02"), json.dumps(bad).encode())
                for seq in (1, 2, 5):
                    node.publish(up_topic(config, "soil-03"), encode_json(soil_uplink("soil-03", seq)))

                last: dict[str, object] = {}

                async def reported() -> bool:
                    for n in ("soil-01", "soil-02", "soil-03"):
                        got = await gaps(client, n)
                        last[n] = {k: got[k] for k in ("dropped", "reports", "losses")}
                    last["gateway"] = {k: v for k, v in gw.stats().items() if k in GATEWAY_SEEN}
                    return (last["soil-01"]["dropped"]["flood"] == 5
                            and last["soil-02"]["dropped"]["quarantine"] == 1
                            and bool(last["soil-03"]["losses"]))

                await eventually(reported, "the drops and the loss on the cloud", seen=lambda: last)
                await wait_until(lambda: not gw.stats()["gaps_unconfirmed"], "the reports' receipts")
            flood, quarantine = await gaps(client, "soil-01"), await gaps(client, "soil-02")
            # the drops gather until a batch carries them (gaps.py), so the five may come in one report or in
            # several as batches leave while they arrive: each is a flood, and together they are 6 to 10, once
            assert {r["reason"] for r in flood["reports"]} == {"flood"}
            assert sum(r["count"] for r in flood["reports"]) == 5
            assert merge_ranges([r for rep in flood["reports"] for r in rep["seqs"]], []) == [[6, 10]]
            assert sum(b - a + 1 for rep in flood["reports"] for a, b in rep["seqs"]) == 5  # none twice
            assert flood["losses"] == [] and quarantine["reports"][0]["seqs"] == [[3, 3]]
            assert (await gaps(client, "soil-03"))["losses"] == [
                {"first_seq": 3, "last_seq": 4, "count": 2, "likely_restart": False}]
        with DurableBuffer(config.buffer_path) as b:
            assert b.stats()["flooded"] == 5 and b.stats()["quarantined"] == 1
    finally:
        node.close()
