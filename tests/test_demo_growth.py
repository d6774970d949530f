"""The demo farm shows its crop growing (hil/demo_farm.py `growth_nodes`): a few days of the demo's season
through the production services (hil/demo_season.py, as `furrow demo` runs its backfill), then the cloud the
live demo opens on those files holds each zone's canopy photos, their cover, and the north block's NDVI.
The whole demo in a browser: tests/test_demo_browser.py (full tier)."""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path

from furrow.cloud.alerts.models import AlertState
from furrow.cloud.app import close_services, open_services
from furrow.cloud.settings import Settings
from furrow.hil import demo_farm, demo_season
from furrow.hil.clock import SimClock
from furrow.hil.fleet import CPythonFleet

START = date(2026, 6, 1)
DAYS = 3


async def test_the_demo_season_leaves_photos_cover_and_ndvi_for_the_zone_page(tmp_path: Path):
    """Three days of the demo farm, its maize well into development: each zone's camera sends a photo at noon
    each day through the gateway's image store to the cloud's object store (whole: its sha256 matches); each
    photo's cover is recorded for its zone within 2 points of the truth the virtual camera photographed, and
    the cover grows with the crop; the weather station's reflectance pair gives the north block a daily NDVI
    between bare soil's and a full canopy's; and no alert says a camera or the pair is at fault."""
    place = demo_farm.WUWEI
    farm = demo_farm.build_farm(place, START, DAYS + 1, seed=7)
    for zone in farm.zones.values():
        zone.crop.gdd_total = 300.0  # into the development stage: the canopy is closing
    sim = SimClock(demo_farm.local_midnight(START, place))
    fleet = CPythonFleet(demo_farm.nodes(demo_farm.SEASON_INTERVALS_S), farm, sim, tmp_path / "nodes")
    season = await demo_season.simulate(tmp_path / "season", farm, sim, fleet, place, START, DAYS, lambda _: None)

    services = await open_services(Settings(storage="sqlite", data_dir=season.cloud_dir, mqtt_enabled=False,
                                            demo_mode=True),
                                   sim.ms)
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
