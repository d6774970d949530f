"""Live tracks in the cloud (cloud/machinery/live.py, ingest.py): a gateway's batch of trackers' positions items
is stored once per fix, read back as a track and as each machine's newest place, and becomes an operation with
the same worked area as the same track imported from a file."""

from __future__ import annotations

import pytest

from furrow.edge.errors import ContractError
from furrow.edge.position import decode_positions, positions_item, validate_positions_item
from tests.cloud_support import local_settings, problem, running_app
from tests.test_machinery_coverage import back_and_forth
from tests.test_machinery_operations import _field, operation
from tests.tracker_support import position_messages, positions_batch

NODE = "trk-1"


def live(from_ms: int, to_ms: int, **extra) -> dict:
    body = operation([5, 13], **extra)
    del body["track"], body["track_format"]
    return {**body, "node": NODE, "from_ms": from_ms, "to_ms": to_ms}


def test_a_positions_item_is_checked_field_by_field():
    """The batch form keeps every fix of the message; a fix whose time goes back, a latitude off the Earth
    and a fix of the wrong length are refused naming the fix and field."""
    [msg] = position_messages(NODE, back_and_forth([5])[:30])
    item = positions_item(decode_positions(msg))
    assert validate_positions_item(item) == item and len(item["fixes"]) == 30 and item["ts_ms"] == item["fixes"][0][0]
    back = {**item, "fixes": [item["fixes"][1], item["fixes"][0]]}
    with pytest.raises(ContractError) as e:
        validate_positions_item(back)
    assert e.value.field == "fixes.1.t_ms"
    off = {**item, "fixes": [[item["fixes"][0][0], 910_000_000, *item["fixes"][0][2:]]]}
    with pytest.raises(ContractError) as e:
        validate_positions_item(off)
    assert (e.value.field, e.value.value) == ("fixes.0.lat_e7", 910_000_000)
    with pytest.raises(ContractError) as e:
        validate_positions_item({**item, "fixes": [item["fixes"][0][:7]]})
    assert e.value.field == "fixes.0"


async def test_live_fixes_are_stored_once_and_become_an_operation_like_a_file(tmp_path):
    """Two 10 m passes 8 m apart sent as position messages: the batch twice stores each fix once; the machine's
    newest fix and its track read back; the live window gives the file's 0.36 ha, 0.04 ha overlap and 200 s at
    work; half the track first (a coverage gap), the other half late: the same window recorded again is updated
    to the whole work (200)."""
    fixes = back_and_forth([5, 13])
    messages = position_messages(NODE, fixes)
    t0, t1 = fixes[0].t_ms, fixes[-1].t_ms
    async with running_app(local_settings(tmp_path)) as c:
        await _field(c)
        from_file = (await c.post("/api/v1/operations", json=operation([5, 13]))).json()
        half = len(messages) // 2
        r = await c.post("/api/v1/ingest/batch", json=positions_batch("s1", "gw-1", "gw-1-1", messages[:half], t1))
        assert r.status_code == 200 and r.json()["rejected"] == [], r.text
        first = await c.post("/api/v1/operations", json=live(t0, t1))
        assert first.status_code == 201, first.text
        assert first.json()["covered_ha"] < 0.3 and first.json()["node"] == NODE
        for batch_id in ("gw-1-2", "gw-1-2"):  # the rest arrives, and its batch again
            batch = positions_batch("s1", "gw-1", batch_id, messages[half:], t1 + 60_000)
            r = await c.post("/api/v1/ingest/batch", json=batch)
            assert r.status_code == 200 and r.json()["fixes"] == sum(len(decode_positions(m)["fixes"])
                                                                     for m in messages[half:])
        [machine] = (await c.get("/api/v1/machines")).json()
        assert (machine["node"], machine["fixes"], machine["t_ms"]) == (NODE, len(fixes), t1)
        assert machine["lat"] == pytest.approx(fixes[-1].lat, abs=1e-7) and machine["implement_down"] is False
        track = (await c.get(f"/api/v1/machines/{NODE}/track", params={"from_ms": t0, "to_ms": t1})).json()
        assert [p["properties"]["time"] for p in track["features"]] == [f.t_ms for f in fixes]
        again = await c.post("/api/v1/operations", json=live(t0, t1))
        assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
        op = again.json()
        for key in ("covered_ha", "overlap_ha", "gross_ha", "skipped_ha"):
            assert op[key] == pytest.approx(from_file[key], rel=1e-3, abs=1e-5), key
        assert (op["work_s"], op["fixes"]) == (from_file["work_s"], from_file["fixes"])
        progress = (await c.get("/api/v1/fields/f1/progress")).json()
        assert progress["kinds"][0]["operations"] == 2


async def test_bad_live_operations_are_refused_naming_the_field(tmp_path):
    """A window with no fix is 422 naming the node; a file and a live track together, and a window that ends
    before it starts, are 422; a track window over 7 days is 422 naming to_ms."""
    async with running_app(local_settings(tmp_path)) as c:
        await _field(c)
        r = await c.post("/api/v1/operations", json=live(1, 2))
        assert r.status_code == 422 and problem(r)["field"] == "node", r.text
        r = await c.post("/api/v1/operations", json={**live(1, 2), "track_format": "csv", "track": "x"})
        assert r.status_code == 422
        r = await c.post("/api/v1/operations", json=live(5, 2))
        assert r.status_code == 422
        r = await c.get(f"/api/v1/machines/{NODE}/track", params={"from_ms": 0, "to_ms": 8 * 86_400_000})
        assert r.status_code == 422 and problem(r)["field"] == "to_ms"
