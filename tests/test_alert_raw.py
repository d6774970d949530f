"""The soil-dry alert judges depletion against the planner's RAW: p adjusted for the day's ETc
(FAO-56 table 22, footnote), read from the zone's daily balance, not the table's p alone."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime, timedelta

from furrow.cloud.agronomy.alerts import AlertKind, FarmState, evaluate_alerts
from furrow.cloud.alerts.snapshot import zone_snapshot
from furrow.cloud.registry.models import ZoneOut
from furrow.edge.batch import make_batch
from furrow.edge.payload import make_reading, make_uplink
from tests.cloud_support import item, local_settings, running_app

HOUR = 3_600_000
# TAW = (30 - 15) % of 600 mm = 90 mm; the table's p 0.55 gives RAW 49.5 mm
ZONE = {"id": "z1", "field_id": "f1", "name": "Young maize", "area_ha": 1.0, "soil_texture": "loam",
        "field_capacity_pct": 30.0, "wilting_point_pct": 15.0, "root_depth_cm": 60, "crop": "maize",
        "precip_rate_mm_h": 5.0, "crop_coefficients": {"l_ini": 30, "l_dev": 40, "l_mid": 50, "l_late": 30,
                                                        "kc_ini": 0.3, "kc_mid": 1.2, "kc_end": 0.35, "p": 0.55}}


def test_a_young_crop_past_the_tables_raw_but_within_its_days_raw_is_not_dry():
    """Depletion 55 mm of TAW 90: past the table's RAW (49.5) but within the day's (p 0.69 at ETc
    1.5 mm/day, RAW 62.1): no alert; at 65 mm the alert fires and gives the day's RAW."""
    zone = ZoneOut(**{**ZONE, "planting_date": "2026-05-01"})
    now = datetime(2026, 5, 10, 12, tzinfo=UTC)
    for depletion, dry in ((55.0, False), (65.0, True)):
        snap = zone_snapshot(zone, depletion, 90.0, 30.0 - depletion / 6, raw_mm=62.1)
        alerts = evaluate_alerts(FarmState(now=now, zones=[snap]))
        assert [a.kind for a in alerts] == ([AlertKind.DRY] if dry else []), depletion
    assert "past RAW 62 mm" in alerts[0].message


async def test_the_alert_job_takes_raw_from_the_zones_balance(tmp_path):
    """A zone sown ten days ago, a located weather station with yesterday's 24 hours and a probe at
    55 mm depletion: the alert job reads RAW from the balance (about 62 mm for a 1.5 mm/day crop), so
    no soil-dry alert; on the table's p alone it would have raised one at 49.5 mm."""
    now_ms = int(time.time() * 1000)
    today = datetime.fromtimestamp(now_ms / 1000, UTC).date()
    async with running_app(local_settings(tmp_path, alerts_interval_s=3600.0)) as c:
        for path, body in [("sites", {"id": "s1", "name": "Farm", "timezone": "UTC"}),
                           ("fields", {"id": "f1", "site_id": "s1", "name": "F"}),
                           ("zones", {**ZONE, "planting_date": (today - timedelta(days=10)).isoformat()}),
                           ("nodes", {"id": "soil-01", "role": "soil", "zone_id": "z1", "depths_cm": [30]}),
                           ("nodes", {"id": "wx-01", "role": "weather", "zone_id": "z1", "lat": 40.0, "lon": 0.0})]:
            assert (await c.post(f"/api/v1/registry/{path}", json=body)).status_code == 201
        yesterday = int(datetime.combine(today - timedelta(days=1), datetime.min.time(), UTC).timestamp() * 1000)
        items = []
        for h in range(24):
            sun = max(0.0, math.sin(math.pi * (h - 6) / 12)) if 6 <= h <= 18 else 0.0
            temp = 20 + 7 * math.sin(2 * math.pi * (h - 9) / 24)
            items.append(item(make_uplink("wx-01", "weather", h + 1, yesterday + h * HOUR + 1800_000, [
                make_reading("air_temp_c", round(temp, 2)), make_reading("rh_pct", 50.0),
                make_reading("wind_ms", 2.0), make_reading("rs_w_m2", round(800 * sun, 1)),
                make_reading("rain_mm", 0.0)], "0.1.0")))
        items.append(item(make_uplink("soil-01", "soil", 1, now_ms - 60_000,
                                      [make_reading("vwc_pct", round(30.0 - 55 / 6, 2), depth_cm=30)], "0.1.0")))
        r = await c.post("/api/v1/ingest/batch", json=make_batch("s1", "gw-1", "b1", now_ms, items))
        assert r.status_code == 200 and not r.json()["rejected"], r.text
        (row,) = (await c.get("/api/v1/zones/z1/balance", params={"days": 1})).json()
        assert row["etc_mm"] < 3 and 58 < row["raw_mm"] < 66, row
        assert (await c.post("/api/v1/alerts/evaluate")).status_code == 200
        alerts = (await c.get("/api/v1/alerts")).json()
        assert [a for a in alerts if a["kind"] == "soil-dry"] == [], alerts
