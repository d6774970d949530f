"""The zone page's season of vigour (cloud/vigour/season.py, zone_season.py): the expected cover from FAO-56's
stages, the lagging rule, and GET /zones/{zone}/vigour."""

from datetime import date

import pytest

from furrow.cloud.agronomy.crop import CropCoefficients
from furrow.cloud.vigour.season import Standing, expected_cover, lagging
from furrow.edge.batch import make_batch
from furrow.edge.payload import make_reading, make_uplink
from tests.cloud_support import T0, item, local_settings, running_app
from tests.test_cloud_planning import DAY, ZONE, _weather_farm

C = CropCoefficients(l_ini=10, l_dev=15, l_mid=20, l_late=10, kc_ini=0.35, kc_mid=1.15, kc_end=0.45)
D = date(2026, 1, 29)


def test_expected_cover_follows_the_stages():
    """10 % at the end of the initial stage, 80 % (effective full cover) from the end of development through
    mid-season, then down towards the cover of Kc end (0.8 x 0.3/1.0 = 24 %), nothing once harvested."""
    assert expected_cover(10, C) == pytest.approx(0.10)
    assert expected_cover(17.5, C) == pytest.approx(0.45)
    assert expected_cover(25, C) == pytest.approx(0.80) and expected_cover(45, C) == pytest.approx(0.80)
    assert expected_cover(55, C) == pytest.approx(0.24) and expected_cover(56, C) == 0.0


def test_a_zone_lags_only_when_well_behind_its_neighbours():
    """Ratio 0.5 against neighbours at about 0.95: lagging; 10 points behind a median of 0.95 is within the
    method's scatter; one neighbour is not enough; a stale neighbour does not count."""
    n = [Standing("b", D, 76.0, 80.0), Standing("c", D, 78.0, 80.0)]
    lag = lagging(Standing("a", D, 40.0, 80.0), n, D)
    assert lag.lagging and lag.ratio == 0.5 and lag.neighbours_median == pytest.approx(0.9625, abs=0.001)
    assert not lagging(Standing("a", D, 68.0, 80.0), n, D).lagging
    assert not lagging(Standing("a", D, 40.0, 80.0), n[:1], D).lagging
    stale = [Standing("b", date(2026, 1, 10), 76.0, 80.0), n[1]]
    assert "1 neighbour(s)" in lagging(Standing("a", D, 40.0, 80.0), stale, D).reason


async def test_the_zone_vigour_route(tmp_path):
    """Three zones of one field: z1's cover (40 %) lags z2's and z3's (about 95 % of expected): flagged with the
    rule's figures; its expected curve, its covers, and the NDVI its weather node measured, as daily means."""
    async with running_app(local_settings(tmp_path)) as c:
        await _weather_farm(c)
        crop = {"l_ini": 10, "l_dev": 15, "l_mid": 20, "l_late": 10, "kc_ini": 0.35, "kc_mid": 1.15,
                "kc_end": 0.45}
        for zid in ("z2", "z3"):
            r = await c.post("/api/v1/registry/zones", json={**ZONE, "id": zid, "planting_date": "2026-01-01",
                                                             "crop_coefficients": crop})
            assert r.status_code == 201, r.text
        c.app.state.services.vigour.clock = lambda: T0 + 30 * DAY
        for zid, pct in (("z1", 40.0), ("z2", 76.0), ("z3", 78.0)):
            r = await c.post(f"/api/v1/zones/{zid}/cover", json={"cover_pct": pct, "at": T0 + 28 * DAY + 3_600_000})
            assert r.status_code == 201, r.text
        ups = [make_uplink("wx-01", "weather", 500 + i, T0 + 28 * DAY + i * 3_600_000, [make_reading("ndvi", v)],
                           "0.1.0") for i, v in enumerate((0.60, 0.64))]
        r = await c.post("/api/v1/ingest/batch", json=make_batch("demo", "gw-1", "bn", T0, [item(u) for u in ups]))
        assert r.status_code == 200 and not r.json()["rejected"], r.text
        v = (await c.get("/api/v1/zones/z1/vigour", params={"start": T0, "end": T0 + 30 * DAY})).json()
        assert v["lagging"]["lagging"] and v["lagging"]["neighbours"] == ["z2", "z3"]
        assert "cover 40% is 0.50 of the expected 80%" in v["lagging"]["reason"]
        assert [x["cover_pct"] for x in v["cover"]] == [40.0]
        assert v["expected"][9] == {"date": "2026-01-10", "cover_pct": 10.0} and len(v["expected"]) == 31
        assert v["ndvi_sensor"] == [{"ts_ms": T0 + 28 * DAY, "ndvi": 0.62, "node": "wx-01"}]
        assert not (await c.get("/api/v1/zones/z2/vigour", params={"start": T0, "end": T0 + 30 * DAY})).json()[
            "lagging"]["lagging"]


async def test_a_degree_day_crops_expected_cover_follows_its_thermal_time(tmp_path):
    """A zone staged by degree days (the demo's and the HIL farm's maize): its expected cover is placed by the degree
    days its water balance counts from the weather node's temperatures, one point per complete day; with the same
    stage lengths in degree days as days, a day's expected cover is expected_cover(its degree-day sum). Without the
    thermal time (a service built without the planner) the curve is absent and says so."""
    async with running_app(local_settings(tmp_path)) as c:
        await _weather_farm(c)
        crop = {"l_ini": 10, "l_dev": 15, "l_mid": 20, "l_late": 10, "kc_ini": 0.35, "kc_mid": 1.15,
                "kc_end": 0.45, "stages_in": "gdd", "gdd_base_c": 10.0}
        r = await c.post("/api/v1/registry/zones", json={**ZONE, "id": "zg", "planting_date": "2026-01-01",
                                                         "crop_coefficients": crop})
        assert r.status_code == 201, r.text
        services = c.app.state.services
        gdd = await services.planning.gdd_by_day("zg")
        sums = list(gdd.values())
        assert sums and sums[-1] > 0 and all(b >= a for a, b in zip(sums, sums[1:], strict=False))
        v = (await c.get("/api/v1/zones/zg/vigour", params={"start": T0, "end": T0 + 30 * DAY})).json()
        assert v["expected"] and "degree days" in v["expected_source"], v["expected_source"]
        for point in v["expected"]:
            assert point["cover_pct"] == round(100 * expected_cover(gdd[date.fromisoformat(point["date"])], C), 1)
        services.vigour.thermal = None
        v = (await c.get("/api/v1/zones/zg/vigour", params={"start": T0, "end": T0 + 30 * DAY})).json()
        assert v["expected"] == [] and v["expected_source"].startswith("absent")
