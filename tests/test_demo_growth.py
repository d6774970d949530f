"""The demo farm shows its crop growing (hil/demo_farm.py `growth_nodes`) and its pests (`pest_traps`): a few days of
the demo's season through the production services (hil/demo_season.py, as `furrow demo` runs its backfill), then
the cloud the live demo opens on those files holds each zone's canopy photos, their cover, the north block's NDVI,
the trap camera's counted liner photos and the lured species' biofix and forecast. Both tests read one simulated
season (`season`, a few seconds). The whole demo in a browser: tests/test_demo_browser.py (full tier)."""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from furrow.cloud.agronomy.phenology import Basis
from furrow.cloud.alerts.models import AlertState
from furrow.cloud.app import close_services, open_services
from furrow.cloud.settings import Settings
from furrow.hil import demo_farm, demo_season
from furrow.hil.clock import SimClock
from furrow.hil.fleet import CPythonFleet

START = date(2026, 6, 1)
DAYS = 3
PLACE = demo_farm.WUWEI


@dataclass
class Simulated:
    season: demo_season.Season
    fleet: CPythonFleet
    sim: SimClock


@pytest.fixture(scope="module")
def season(tmp_path_factory: pytest.TempPathFactory) -> Simulated:
    """Three days of the demo farm from 1 June near Wuwei, its maize well into development."""
    tmp = tmp_path_factory.mktemp("demo-season")
    farm = demo_farm.build_farm(PLACE, START, DAYS + 1, seed=7)
    for zone in farm.zones.values():
        zone.crop.gdd_total = 300.0  # into the development stage: the canopy is closing
    sim = SimClock(demo_farm.local_midnight(START, PLACE))
    fleet = CPythonFleet(demo_farm.nodes(demo_farm.SEASON_INTERVALS_S), farm, sim, tmp / "nodes")
    done = asyncio.run(demo_season.simulate(tmp / "season", farm, sim, fleet, PLACE, START, DAYS, lambda _: None))
    return Simulated(done, fleet, sim)


async def _services(s: Simulated):  # noqa: ANN202
    return await open_services(Settings(storage="sqlite", data_dir=s.season.cloud_dir, mqtt_enabled=False,
                                        demo_mode=True), s.sim.ms)


async def test_the_demo_season_leaves_photos_cover_and_ndvi_for_the_zone_page(season: Simulated):
    """Three days of the demo farm, its maize well into development: each zone's camera sends a photo at noon
    each day through the gateway's image store to the cloud's object store (whole: its sha256 matches); each
    photo's cover is recorded for its zone within 2 points of the truth the virtual camera photographed, and
    the cover grows with the crop; the weather station's reflectance pair gives the north block a daily NDVI
    between bare soil's and a full canopy's; and no alert says a camera or the pair is at fault."""
    fleet, sim = season.fleet, season.sim
    services = await _services(season)
    try:
        for zone in ("north", "south"):
            camera = f"cam-{zone}"
            truths = fleet.cameras[camera].truths
            images = await services.images.list(node=camera, limit=100)
            assert len(images) == DAYS == len(truths), (len(images), truths)
            assert {i.zone_id for i in images} == {zone} and {i.kind for i in images} == {"canopy"}
            for image in images:
                data = await services.images.content(camera, image.seq)
                assert data is not None and hashlib.sha256(data).hexdigest() == image.sha256
            covers = await services.vigour.covers(zone, 0, sim.ms() + 1)
            assert [c.source for c in covers] == ["photo"] * DAYS
            measured = [c.cover_pct for c in sorted(covers, key=lambda c: c.ts_ms)]
            assert all(abs(m - 100 * t) <= 2.0 for m, t in zip(measured, truths, strict=True)), (measured, truths)
            assert measured[-1] > measured[0]
        season_page = await services.vigour.season("north", 0, sim.ms() + 1)
        ndvi = [p["ndvi"] for p in season_page["ndvi_sensor"]]
        assert len(ndvi) >= DAYS - 1 and all(0.17 < v < 0.85 for v in ndvi), ndvi
        alerts = await services.alerts.list(AlertState.ALL, limit=1000)
        at_fault = [a for a in alerts if a.subject.startswith(("cam-", "weather-01"))]
        assert at_fault == [], at_fault
    finally:
        await close_services(services)


async def test_the_demo_season_leaves_counted_trap_photos_a_biofix_and_a_forecast(season: Simulated):
    """The same three days: the trap camera's liner is photographed each morning at 06:00 local through the
    gateway's image store and counted for its lure's species, each count within a moth of the moths truly on
    the liner (0, 0, 1 here); pest-01's first counter is lured and its second is not; the north block's season
    of the lured species has its biofix from the traps and its next three stages dated; and no alert but the
    species' own is about the trap camera."""
    fleet, sim = season.fleet, season.sim
    services = await _services(season)
    try:
        camera = demo_farm.TRAP_CAMERA
        truths = fleet.cameras[camera].truths
        images = await services.images.list(node=camera, limit=100)
        assert len(images) == DAYS == len(truths), (len(images), truths)
        assert {i.zone_id for i in images} == {"north"} and {i.kind for i in images} == {"trap"}
        local = ZoneInfo(PLACE.timezone)
        assert {datetime.fromtimestamp(i.ts_ms / 1000, local).hour for i in images} == {6}
        counts = sorted(await services.pests.counts(node=camera), key=lambda c: c.ts_ms)
        assert {c.species for c in counts} == {demo_farm.LURE}
        counted = [c.target for c in counts]
        assert sum(truths) > 0 and all(abs(c - t) <= 1 for c, t in zip(counted, truths, strict=True)), (counted, truths)
        assert await services.pests.lured_counters() == {"pest-01": frozenset({1}), camera: frozenset({1})}
        seasons = {s.species: s for s in await services.pests.zone_seasons("north", sim.ms())}
        s = seasons[demo_farm.LURE]
        assert s.biofix is not None and START <= s.biofix < START + timedelta(days=DAYS), s.biofix
        assert len(s.stages) >= 3 and all(st.day is not None for st in s.stages[:3]), s.stages
        # after the forecast, the virtual farm's own climate normals (30 simulated years), with their range
        assert (s.beyond_forecast, s.normals_kind, s.normals_sd) == ("normals", "imported", True)
        assert "30 simulated years" in s.normals_source and s.weather_basis["recent"] == 0
        later = [st for st in s.stages if st.basis is Basis.NORMAL]
        assert later and all(st.early <= st.day <= (st.late or st.day) for st in later), later
        alerts = await services.alerts.list(AlertState.ALL, limit=1000)
        assert [a for a in alerts if a.subject.startswith(camera) and a.kind != "pest-species"] == []
    finally:
        await close_services(services)
