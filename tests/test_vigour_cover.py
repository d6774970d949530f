"""Measured canopy cover per zone (cloud/vigour/): the daily cover the balance reads, the API that records
it from people and photos, and the planner's decision naming it."""

from datetime import date
from zoneinfo import ZoneInfo

import pytest

from furrow.cloud.vigour.cover import COVER_CARRY_DAYS, CoverPoint, daily_cover
from tests.canopy_images import jpeg, scene
from tests.cloud_support import T0, local_settings, problem, running_app
from tests.test_cloud_planning import CROP, DAY, HOUR, JAN4_23H, _weather_farm

UTC = ZoneInfo("UTC")
DAYS = [date(2026, 1, d) for d in range(1, 21)]


def test_daily_cover_interpolates_carries_and_stops():
    """Between two measurements the cover is interpolated, after the last it is carried COVER_CARRY_DAYS
    days, before the first there is none; two on one day count as their mean."""
    points = [CoverPoint(T0 + 2 * DAY, 20.0, "photo", "image:a"), CoverPoint(T0 + 2 * DAY + HOUR, 30.0, "manual", "m"),
              CoverPoint(T0 + 6 * DAY, 45.0, "photo", "image:b")]
    out = daily_cover(points, DAYS, UTC)
    assert date(2026, 1, 2) not in out
    assert out[date(2026, 1, 3)].fc == pytest.approx(0.25) and "image:a" in out[date(2026, 1, 3)].source
    assert out[date(2026, 1, 5)].fc == pytest.approx(0.25 + 0.20 * 2 / 4)
    assert "between" in out[date(2026, 1, 5)].source
    last = date(2026, 1, 7 + COVER_CARRY_DAYS)
    assert out[last].fc == pytest.approx(0.45) and "carried" in out[last].source
    assert date(2026, 1, 8 + COVER_CARRY_DAYS) not in out


async def test_a_recorded_cover_drives_the_balance_and_the_decision_names_it(tmp_path):
    """A maize zone in its development stage (h 2 m): planned once with the crop curve, then with a
    measured cover of 15 % the balance's Kc falls below the curve's, the depletion (and so the water
    to apply) is less, and the decision's inputs name the measured cover and its source."""
    zone = {"planting_date": "2025-12-18", "crop_coefficients": {**CROP, "height_m": 2.0}}
    async with running_app(local_settings(tmp_path)) as c:
        await _weather_farm(c, zone=zone, vwc=16.0)
        c.app.state.services.vigour.clock = lambda: JAN4_23H
        before = (await c.post("/api/v1/zones/z1/plan")).json()
        assert before["inputs"]["sources"]["cover"].startswith("absent")
        assert before["inputs"]["balance_day"]["cover_pct"] is None

        r = await c.post("/api/v1/zones/z1/cover", json={"cover_pct": 15.0, "at": "2026-01-02T10:00:00Z",
                                                         "method": "Canopeo app"})
        assert r.status_code == 201, r.text
        assert r.json()["source"] == "manual" and r.json()["by"] == "person:bootstrap-admin"
        rows = (await c.get("/api/v1/zones/z1/balance", params={"days": 3})).json()
        assert [x["cover_pct"] for x in rows] == [None, 15.0, 15.0]
        assert rows[1]["kc"] < 0.35 + (16 - 10) / 15 * (1.15 - 0.35)  # the curve on day 16 after planting
        assert "from canopy cover measured 15% on 2026-01-02 (manual" in rows[1]["source"]

        after = (await c.post("/api/v1/zones/z1/plan")).json()
        assert after["inputs"]["sources"]["cover"].startswith("1 canopy cover measurement(s)")
        assert after["inputs"]["balance_day"]["cover_pct"] == 15.0
        assert after["inputs"]["depletion_mm"] < before["inputs"]["depletion_mm"]


async def test_a_canopy_photo_upload_records_its_cover_once(tmp_path):
    """A JPEG of known cover posted to /cover/photo is classified (Canopeo) within 2 points and
    recorded with its pixels and method; the same bytes again are the same record."""
    image, truth = scene(0.4, seed=11, size=(300, 400))
    data = jpeg(image)
    async with running_app(local_settings(tmp_path)) as c:
        await _weather_farm(c)
        c.app.state.services.vigour.clock = lambda: JAN4_23H
        post = lambda: c.post("/api/v1/zones/z1/cover/photo", content=data,  # noqa: E731
                              headers={"Content-Type": "image/jpeg"}, params={"at": T0 + DAY})
        first = (await post()).json()
        assert first["source"] == "photo" and first["pixels"] == 120_000 and first["method"].startswith("canopeo")
        assert abs(first["cover_pct"] - 100 * truth) <= 2.0
        again = await post()
        assert again.status_code == 201 and again.json()["id"] == first["id"]
        listed = (await c.get("/api/v1/zones/z1/cover", params={"start": T0, "end": T0 + 9 * DAY})).json()
        assert [x["id"] for x in listed] == [first["id"]]


async def test_bad_cover_input_is_refused_by_field(tmp_path):
    """A cover above 100 %, a cover in the future, a photo that is not an image, a wrong content type and an
    unknown zone are each refused naming the field (or the zone), and nothing is recorded."""
    async with running_app(local_settings(tmp_path)) as c:
        await _weather_farm(c)
        c.app.state.services.vigour.clock = lambda: JAN4_23H
        r = await c.post("/api/v1/zones/z1/cover", json={"cover_pct": 120})
        assert r.status_code == 422 and problem(r)["field"] == "cover_pct"
        r = await c.post("/api/v1/zones/z1/cover", json={"cover_pct": 20, "at": JAN4_23H + DAY})
        assert r.status_code == 422 and problem(r)["field"] == "at"
        r = await c.post("/api/v1/zones/z1/cover/photo", content=b"not a jpeg", headers={"Content-Type": "image/jpeg"})
        assert r.status_code == 422 and problem(r)["field"] == "image"
        r = await c.post("/api/v1/zones/z1/cover/photo", content=b"{}", headers={"Content-Type": "application/json"})
        assert r.status_code == 422 and problem(r)["field"] == "content-type"
        r = await c.post("/api/v1/zones/nope/cover", json={"cover_pct": 20})
        assert r.status_code == 404
        assert (await c.get("/api/v1/zones/z1/cover", params={"start": 0})).json() == []


async def test_a_camera_nodes_canopy_photo_gets_its_cover_through_the_image_store(tmp_path):
    """A canopy photo ingested from the camera's gateway (the image store's processing hook) is classified and
    recorded for the camera's zone once per image, named image:<node>/<seq>; a trap photo is not."""
    import hashlib

    from furrow.edge.image_forward import encode_image, make_image_header

    image, truth = scene(0.55, seed=5, size=(300, 400))
    data = jpeg(image)

    def message(seq: int, kind: str) -> bytes:
        header = make_image_header("demo", "gw-1", "cam-01", seq, kind, "jpeg", T0 + DAY, T0 + DAY + 1000, len(data),
                                   hashlib.sha256(data).hexdigest())
        return encode_image(header, data)

    async with running_app(local_settings(tmp_path)) as c:
        await _weather_farm(c)
        r = await c.post("/api/v1/registry/nodes", json={"id": "cam-01", "role": "camera", "zone_id": "z1"})
        assert r.status_code == 201, r.text
        for seq, kind in ((1, "canopy"), (1, "canopy"), (2, "trap")):
            r = await c.post("/api/v1/ingest/image", content=message(seq, kind))
            assert r.status_code == 200 and r.json()["status"] == "stored", r.text
        (cover,) = (await c.get("/api/v1/zones/z1/cover", params={"start": 0})).json()
        assert (cover["ref"], cover["node"], cover["source"], cover["ts_ms"]) == ("image:cam-01/1", "cam-01", "photo",
                                                                                   T0 + DAY)
        assert abs(cover["cover_pct"] - 100 * truth) <= 2.0 and cover["by"] == "node:cam-01"
