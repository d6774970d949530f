"""A site's location in the registry (latitude, longitude, elevation): ET0 is computed for it when
no node is located, and at its elevation (FAO-56 eq. 7) instead of sea level."""

from __future__ import annotations

from datetime import date

from furrow.cloud.agronomy.et0 import DailyWeather
from furrow.cloud.planning.balance import balance_rows
from furrow.cloud.planning.inputs import locate, zone_config
from furrow.cloud.planning.weather import DayWeather
from furrow.cloud.registry.models import NodeOut, SiteOut, ZoneOut
from tests.cloud_support import local_settings, running_app

SITE = {"id": "wuwei", "name": "Oasis farm", "timezone": "Asia/Shanghai", "lat": 37.93, "lon": 102.64,
        "elevation_m": 1530.0}
ZONE = ZoneOut(id="z1", field_id="f1", name="Z", area_ha=2.0, soil_texture="loam", field_capacity_pct=30.0,
               wilting_point_pct=15.0, root_depth_cm=60, crop="maize", planting_date=date(2026, 5, 1),
               precip_rate_mm_h=5.0)
UNLOCATED = [NodeOut(id="wx-01", role="weather", zone_id="z1")]


def _et0(site: SiteOut) -> tuple[float | None, float]:
    """ET0 of one hot dry day at `site` through the balance, and the elevation the zone config holds."""
    config = zone_config(ZONE, [], locate(["wx-01"], UNLOCATED, [], site), need_valve=False)
    day = DayWeather(date(2026, 7, 1), DailyWeather(day=date(2026, 7, 1), tmin_c=16.0, tmax_c=32.0, rh_min_pct=25.0,
                                                    rh_max_pct=70.0, wind_ms=2.5, rs_mj_m2=27.0), 0.0)
    (row,) = balance_rows(config, False, [day], {}, {}, has_gauge=True)
    return row.et0_mm, config.site.elevation_m


def test_the_site_locates_a_zone_whose_nodes_have_no_fix_and_gives_its_elevation():
    """No node has a latitude: the site's own gives ET0 a location, with the site's elevation."""
    site = SiteOut(**SITE)
    where = locate(["wx-01"], UNLOCATED, [], site)
    assert where is not None and (where.lat, where.elevation_m) == (37.93, 1530.0)
    assert where.source.startswith("site wuwei")
    assert locate(["wx-01"], UNLOCATED, [], SiteOut(id="s", name="S")) is None


def test_et0_is_computed_at_the_sites_elevation():
    """At 1530 m the pressure (84.6 kPa against 101.3, eq. 7), the psychrometric constant (eq. 8) and
    the clear-sky radiation (eq. 37) are the site's: the same day's ET0 is not the sea-level one the
    balance gave before."""
    high, elevation = _et0(SiteOut(**SITE))
    sea, zero = _et0(SiteOut(**{**SITE, "elevation_m": None}))
    assert (elevation, zero) == (1530.0, 0.0)
    assert high is not None and sea is not None and high != sea


async def test_a_site_is_registered_with_its_location(tmp_path):
    """POST a site with latitude, longitude and elevation; GET gives them back; a latitude past 90 is 422."""
    async with running_app(local_settings(tmp_path)) as c:
        assert (await c.post("/api/v1/registry/sites", json=SITE)).status_code == 201
        got = (await c.get("/api/v1/registry/sites/wuwei")).json()
        assert (got["lat"], got["lon"], got["elevation_m"]) == (37.93, 102.64, 1530.0)
        bad = await c.post("/api/v1/registry/sites", json={**SITE, "id": "bad", "lat": 91})
        assert bad.status_code == 422 and "lat" in bad.text
