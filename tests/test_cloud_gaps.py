"""Readings that never reached storage: gap reports through the API, and holes nobody explains (issue 14 §3)."""

from __future__ import annotations

from furrow.cloud.gaps import Loss, losses
from furrow.edge.batch import GAP_FLOOD, GAP_QUOTA, make_gap
from tests.cloud_support import T0, batch_of, item, local_settings, running_app, soil_uplink


def test_holes_no_report_explains_are_losses_with_their_range():
    """Missing seqs between stored ones are losses unless a reported range covers them, in part or whole."""
    stored = [1, 2, 3, 10, 11, 20, 21]
    assert losses(stored, []) == [Loss(4, 9, False), Loss(12, 19, False)]
    assert losses(stored, [[4, 9]]) == [Loss(12, 19, False)]
    assert losses(stored, [[5, 6], [8, 8], [14, 30]]) == [Loss(4, 4, False), Loss(7, 7, False), Loss(9, 9, False),
                                                          Loss(12, 13, False)]
    assert losses([5, 3, 4, 4], []) == []  # order and repeats do not matter
    assert losses([], [[1, 2]]) == [] and losses([7], []) == []


def test_a_hole_ending_below_a_block_mark_is_a_likely_restart():
    """A node resumes at its next seq block (of 100) after a restart: such a hole is marked, others are not."""
    assert losses([141, 200], []) == [Loss(142, 199, True)]
    assert losses([141, 201], []) == [Loss(142, 200, False)]
    assert losses([50, 300], []) == [Loss(51, 299, False)]  # longer than a block: more than a restart


async def test_the_api_shows_a_nodes_drops_per_reason_and_its_unexplained_losses(tmp_path):
    """Gap reports posted with a batch show per reason with their ranges on GET /nodes/{node}/gaps, and
    the seqs neither stored nor reported show as losses."""
    stored = [1, 2, 3, 6, 7, 9, 10]
    items = [item(soil_uplink(seq=s, ts_ms=T0 + s * 60_000)) for s in stored]
    reports = [make_gap("gw-1-7-1", "soil-01", GAP_QUOTA, 1, [[4, 4]], T0, T0 + 300_000),
               make_gap("gw-1-7-2", "soil-01", GAP_FLOOD, 1, [[5, 5]], T0, T0 + 300_000),
               make_gap("gw-1-7-3", "soil-02", GAP_FLOOD, 9, [[1, 9]], T0, T0 + 300_000)]
    async with running_app(local_settings(tmp_path)) as client:
        r = await client.post("/api/v1/ingest/batch", json=dict(batch_of(items), gaps=reports))
        assert r.status_code == 200 and (r.json()["status"], r.json()["gaps"]) == ("stored", 3)
        r = await client.get("/api/v1/nodes/soil-01/gaps", params={"start": T0, "end": T0 + 3_600_000})
        assert r.status_code == 200, r.text
        body = r.json()
    assert body["dropped"] == {"quota": 1, "flood": 1, "quarantine": 0, "image_quota": 0}
    assert sorted((x["reason"], x["seqs"]) for x in body["reports"]) == [("flood", [[5, 5]]), ("quota", [[4, 4]])]
    assert body["losses"] == [{"first_seq": 8, "last_seq": 8, "count": 1, "likely_restart": False}]
    assert body["complete"] is True


async def test_reported_drops_raise_the_readings_dropped_alert(tmp_path):
    """A gap report received by the cloud makes the next alert evaluation raise readings-dropped for its node."""
    flood = make_gap("gw-1-9-1", "soil-07", GAP_FLOOD, 12, [[100, 111]], T0, T0 + 60_000)
    async with running_app(local_settings(tmp_path)) as client:
        r = await client.post("/api/v1/ingest/batch", json=dict(batch_of([item(soil_uplink(node="soil-07"))]),
                                                                 gaps=[flood]))
        assert r.status_code == 200, r.text
        assert (await client.post("/api/v1/alerts/evaluate")).status_code == 200
        alerts = (await client.get("/api/v1/alerts")).json()
    (dropped,) = [a for a in alerts if a["kind"] == "readings-dropped"]
    assert (dropped["subject"], dropped["severity"], dropped["evidence"]) == ("soil-07", "warning", {"flood": 12})
