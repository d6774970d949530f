"""Pests in the service: a trap photo from a camera node ends as a count, a person corrects it, the
counter's accuracy is reported, and the zone's species season (biofix, degree days, stage dates,
pressure against the cited threshold) comes from the counts and the farm's own weather node."""

import hashlib
import io
import math
import random
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest
from PIL import Image

from furrow.cloud.agronomy.crop import gdd_single_sine
from furrow.cloud.agronomy.species import shipped
from furrow.cloud.images.pixels import photo_rgb
from furrow.edge.batch import make_batch
from furrow.edge.errors import ContractError
from furrow.edge.image_forward import encode_image, make_image_header
from furrow.edge.payload import make_reading, make_uplink
from furrow.hil.farm.trap_card import CardKind, Look, TrapCard, moth, render_card
from tests.cloud_support import item, local_settings, problem, running_app
from tests.test_cloud_planning import ZONE

HOUR, DAY = 3_600_000, 86_400_000
JUN1 = int(datetime(2026, 6, 1, tzinfo=UTC).timestamp() * 1000)
NOW = JUN1 + 13 * DAY + 23 * HOUR  # 2026-06-14 23:00 UTC
TMIN, TMAX = 17.0, 29.0
CEW = shipped("helicoverpa-zea")
# moths on the card at each day's photo (the card keeps them): none, none, then 1, 3, 5, 8, 8, 12
ON_CARD = {3: 0, 4: 0, 5: 1, 6: 3, 7: 5, 8: 8, 9: 8, 10: 12}


def hour_temp(h: int) -> float:
    """Coldest at 05:00, warmest at 17:00."""
    return (TMIN + TMAX) / 2 - (TMAX - TMIN) / 2 * math.cos(2 * math.pi * (h - 5) / 24)


async def pest_farm(c) -> None:
    """Site s1 (UTC), field f1, zone z1 with weather node wx-01 and trap camera cam-01; wx-01 reports the
    air temperature every hour of June 1-14."""
    for path, body in [("sites", {"id": "s1", "name": "Farm", "timezone": "UTC"}),
                       ("fields", {"id": "f1", "site_id": "s1", "name": "North"}),
                       ("zones", ZONE),
                       ("nodes", {"id": "wx-01", "role": "weather", "zone_id": "z1"}),
                       ("nodes", {"id": "cam-01", "role": "camera", "zone_id": "z1"}),
                       ("nodes", {"id": "soil-01", "role": "soil", "zone_id": "z1", "depths_cm": [10]})]:
        r = await c.post(f"/api/v1/registry/{path}", json=body)
        assert r.status_code == 201, r.text
    items = [item(make_uplink("wx-01", "weather", 1 + d * 24 + h, JUN1 + d * DAY + h * HOUR + 1_800_000,
                              [make_reading("air_temp_c", round(hour_temp(h), 2))], "0.1.0"))
             for d in range(14) for h in range(24)]
    r = await c.post("/api/v1/ingest/batch", json=make_batch("demo", "gw-1", "wx", JUN1, items))
    assert r.status_code == 200 and not r.json()["rejected"], r.text


def card_photo(moths: int) -> bytes:
    """A pheromone liner with `moths` folded corn earworm moths in rows, photographed at 5 px/mm."""
    rng = random.Random(moths)
    card = TrapCard(CardKind.WHITE_PHEROMONE)
    for k in range(moths):
        m = moth(rng, 0, 0, (16.0, 20.0), (32.0, 45.0), spread=False)
        card.insects.append(replace(m, x_mm=20 + 40 * (k % 5), y_mm=20 + 30 * (k // 5), angle=0.0))
    return render_card(card, 5.0, Look(), rng)


async def send_photo(c, seq: int, day: int) -> None:
    data = card_photo(ON_CARD[day])
    ts = JUN1 + (day - 1) * DAY + 6 * HOUR
    header = make_image_header("demo", "gw-1", "cam-01", seq, "trap", "jpeg", ts, ts + 1000, len(data),
                               hashlib.sha256(data).hexdigest())
    r = await c.post("/api/v1/ingest/image", content=encode_image(header, data))
    assert r.status_code == 200 and r.json()["status"] == "stored", r.text


def expected_dd(days: int) -> float:
    """Degree days of `days` days of the hourly curve above (its hourly means' min and max)."""
    temps = [round(hour_temp(h), 2) for h in range(24)]
    return days * gdd_single_sine(min(temps), max(temps), CEW.thresholds.lower_c, CEW.thresholds.upper_c)


async def test_trap_photos_become_counts_reviews_and_a_species_season(tmp_path):
    """End to end through the image store: photos sent before the trap is set up are counted when it is;
    the counts match the moths on the card; the biofix is the first of two checks with moths (June 5);
    degree days and stage dates follow the weather node; a person's correction replaces the counter's
    count in the pressure and the accuracy report says how far the counter was; the alert job raises the
    species' alert on the zone with its threshold's source and the control window: on the maize zone a warning
    that says the threshold is sweet corn's (Purdue's), critical once the zone grows sweet corn."""
    async with running_app(local_settings(tmp_path), clock=lambda: NOW) as c:
        await pest_farm(c)
        for seq, day in enumerate(ON_CARD, start=1):
            if seq == 3:  # the technician sets the trap up after two photos came in
                r = await c.put("/api/v1/pests/traps/cam-01/1", json={
                    "card": "white-pheromone", "lure": "helicoverpa-zea", "view_width_mm": 200})
                assert r.status_code == 200, r.text
            await send_photo(c, seq, day)
        counts = (await c.get("/api/v1/pests/counts", params={"node": "cam-01"})).json()
        assert [x["target"] for x in counts] == list(ON_CARD.values())
        assert all(x["species"] == "helicoverpa-zea" and x["zone_id"] == "z1" for x in counts)
        detail = (await c.get("/api/v1/pests/counts/cam-01/8")).json()
        assert len(detail["objects"]) == 12 and all(len(o["outline"]) > 8 for o in detail["objects"])

        (season,) = (await c.get("/api/v1/zones/z1/pests")).json()
        assert season["species"] == "helicoverpa-zea" and season["traps"] == ["cam-01"]
        assert season["biofix"] == "2026-06-05" and season["missing"] == []
        assert season["degree_days"] == pytest.approx(expected_dd(10), abs=0.2)  # June 5-14
        stages = {(s["name"], s["generation"]): s for s in season["stages"]}
        per_day = expected_dd(1)
        laying = stages[("egg laying", 1)]
        assert laying["day"] == date(2026, 6, 4 + math.ceil(62.6 / per_day)).isoformat()
        assert laying["basis"] == "observed"
        later = stages[("pupation", 1)]
        assert later["basis"] == "recent"  # no forecast provider: beyond today, the last days' mean
        assert season["window"][0]["name"] == "egg laying" and season["window"][1]["name"] == "large larvae"
        pressure = season["pressure"]
        assert (pressure["value"], pressure["threshold"], pressure["per"]) == (4.0, 1.0, "night")
        assert pressure["above"] and pressure["traps_over"] == ["cam-01"] and "Purdue" in pressure["source"]

        r = await c.post("/api/v1/pests/counts/cam-01/8/review", json={"target": 13, "note": "one under the lid"})
        assert r.status_code == 200, r.text
        assert (r.json()["reviewed_target"], r.json()["reviewed_total"]) == (13, 13)
        (season,) = (await c.get("/api/v1/zones/z1/pests")).json()
        assert season["pressure"]["value"] == 5.0
        (acc,) = (await c.get("/api/v1/pests/accuracy")).json()
        assert (acc["node"], acc["reviewed"], acc["mae_target"], acc["bias_target"]) == ("cam-01", 1, 1.0, -1.0)
        detail = (await c.get("/api/v1/pests/counts/cam-01/8")).json()
        assert [(x["target_before"], x["target"], x["note"]) for x in detail["reviews"]] == [
            (12, 13, "one under the lid")]

        # the alert job: the species against its own threshold, on the zone, with the threshold's source;
        # Purdue set it for sweet corn, and z1 grows maize: a warning that says so, however far over it
        assert (season["pressure"]["crops"], season["pressure"]["crop_match"]) == (["sweet corn"], False)
        assert (await c.post("/api/v1/alerts/evaluate")).status_code == 200
        (alert,) = [a for a in (await c.get("/api/v1/alerts")).json() if a["kind"] == "pest-species"]
        assert (alert["subject"], alert["zone"], alert["site"], alert["severity"]) == (
            "z1/helicoverpa-zea", "z1", "s1", "warning")
        ev = alert["evidence"]
        assert (ev["value"], ev["threshold"], ev["traps"], ev["window_start"]) == (5.0, 1.0, ["cam-01"], laying["day"])
        assert (ev["threshold_crops"], ev["crop"]) == (["sweet corn"], "maize")
        assert "Purdue" in ev["source"] and alert["message"].startswith(
            "Helicoverpa zea: 5.0 per trap per night at cam-01 ≥ action threshold 1 set for sweet corn, not maize")

        # the zone grows sweet corn: the threshold is its own, and 5 a night is over twice it
        r = await c.put("/api/v1/registry/zones/z1", json={**ZONE, "crop": "sweet corn"})
        assert r.status_code == 200, r.text
        (season,) = (await c.get("/api/v1/zones/z1/pests")).json()
        assert season["pressure"]["crop_match"] is True
        assert (await c.post("/api/v1/alerts/evaluate")).status_code == 200
        (alert,) = [a for a in (await c.get("/api/v1/alerts")).json() if a["kind"] == "pest-species"]
        assert (alert["subject"], alert["severity"]) == ("z1/helicoverpa-zea", "critical")
        assert "threshold_crops" not in alert["evidence"]
        assert alert["message"].startswith("Helicoverpa zea: 5.0 per trap per night at cam-01 ≥ action threshold 1,")


async def test_bad_pest_input_is_refused_by_field(tmp_path):
    """A trap on a soil node (409), on a camera's channel 2, with an unknown lure or no view width; a review
    above the total; a species value without its source or under another key: each refused naming the
    field; an unknown count is 404; nothing is stored."""
    async with running_app(local_settings(tmp_path), clock=lambda: NOW) as c:
        await pest_farm(c)
        trap = {"card": "white-pheromone", "lure": "helicoverpa-zea", "view_width_mm": 200}
        r = await c.put("/api/v1/pests/traps/soil-01/1", json=trap)
        assert r.status_code == 409 and problem(r)["field"] == "node"
        r = await c.put("/api/v1/pests/traps/cam-01/2", json=trap)
        assert r.status_code == 422 and problem(r)["field"] == "channel"
        r = await c.put("/api/v1/pests/traps/cam-01/1", json={**trap, "lure": "no-such-moth"})
        assert r.status_code == 422 and problem(r) == {"field": "lure", "value": "no-such-moth", "reason": problem(r)[
            "reason"]}
        r = await c.put("/api/v1/pests/traps/cam-01/1", json={**trap, "view_width_mm": None})
        assert r.status_code == 422 and problem(r)["field"] == "view_width_mm"
        r = await c.put("/api/v1/pests/traps/nope/1", json=trap)
        assert r.status_code == 404
        assert (await c.get("/api/v1/pests/traps")).json() == []
        r = await c.post("/api/v1/pests/counts/cam-01/1/review", json={"target": 3})
        assert r.status_code == 404
        r = await c.post("/api/v1/pests/counts/cam-01/1/review", json={"target": 3, "total": 2})
        assert r.status_code == 422 and "target (3) cannot be more than total (2)" in problem(r)["reason"]
        body = shipped("ostrinia-nubilalis").model_dump(mode="json")
        del body["actions"][1]["source"]
        r = await c.put("/api/v1/pests/species/ostrinia-nubilalis", json=body)
        assert r.status_code == 422 and problem(r)["field"] == "actions.1.source"
        r = await c.put("/api/v1/pests/species/other-key", json=shipped("ostrinia-nubilalis").model_dump(mode="json"))
        assert r.status_code == 422 and problem(r)["field"] == "key"


async def test_an_agronomists_species_replaces_the_shipped_one_until_removed(tmp_path):
    """A corrected action threshold (with its source) is what the table gives; deleting it brings the shipped
    value back; a species of her own is listed beside the shipped ones."""
    async with running_app(local_settings(tmp_path), clock=lambda: NOW) as c:
        shipped_ecb = shipped("ostrinia-nubilalis").model_dump(mode="json")
        mine = {**shipped_ecb, "actions": [{"catch": 35, "per": "week", "source": "regional extension note, 2026"}]}
        r = await c.put("/api/v1/pests/species/ostrinia-nubilalis", json=mine)
        assert r.status_code == 200, r.text
        assert [a["catch"] for a in (await c.get("/api/v1/pests/species/ostrinia-nubilalis")).json()["actions"]] == [35]
        own = {"key": "agrotis-ipsilon", "name": "Agrotis ipsilon",
               "thresholds": {"lower_c": 10.4, "source": "UC IPM Phenology Model Database, black cutworm, model 1"}}
        assert (await c.put("/api/v1/pests/species/agrotis-ipsilon", json=own)).status_code == 200
        keys = [s["key"] for s in (await c.get("/api/v1/pests/species")).json()]
        assert keys == sorted(keys) and "agrotis-ipsilon" in keys and keys.count("ostrinia-nubilalis") == 1
        assert (await c.delete("/api/v1/pests/species/ostrinia-nubilalis")).status_code == 204
        assert [a["catch"] for a in (await c.get("/api/v1/pests/species/ostrinia-nubilalis")).json()["actions"]] == [
            60, 5]
        assert (await c.delete("/api/v1/pests/species/ostrinia-nubilalis")).status_code == 404


def test_a_photo_that_is_no_picture_or_too_large_is_refused_naming_the_image():
    """The counter's reader refuses bytes Pillow cannot read and pictures over MAX_PIXELS, field 'image'."""
    with pytest.raises(ContractError, match="not a readable image") as e:
        photo_rgb(b"\xff\xd8 not really a jpeg")
    assert e.value.field == "image"
    big = io.BytesIO()
    Image.new("RGB", (8000, 6000)).save(big, "PNG")
    with pytest.raises(ContractError, match="8000x6000"):
        photo_rgb(big.getvalue())


async def test_a_camera_without_a_trap_set_up_is_not_counted(tmp_path):
    """A trap photo from a camera with no trap set up is kept by the image store but not counted, and said so."""
    async with running_app(local_settings(tmp_path), clock=lambda: NOW) as c:
        await pest_farm(c)
        await send_photo(c, 1, 5)
        assert (await c.get("/api/v1/pests/counts")).json() == []
        stats = c.app.state.services.pests.stats
        assert (stats["counted"], stats["unconfigured"]) == (0, 1)


async def test_a_failing_pest_season_stops_no_other_alert(tmp_path):
    """A zone whose pest season cannot be made is logged and counted; the alert job still evaluates."""
    async with running_app(local_settings(tmp_path), clock=lambda: NOW) as c:
        await pest_farm(c)
        pests = c.app.state.services.pests

        async def broken(zone_id, now_ms=None):
            raise RuntimeError("a broken season")

        pests.zone_seasons = broken
        r = await c.post("/api/v1/alerts/evaluate")
        assert r.status_code == 200 and r.json()["open"] >= 1  # the farm's other alerts (silent nodes) are there
        assert pests.stats["season_failures"] == 1


async def test_the_corn_borer_threshold_follows_the_zones_crop_through_the_service(tmp_path):
    """A pest node's counter channel 1 lured for the European corn borer caught 14 moths a night over the last
    5 nights (70 a week): the zone's season holds it to 60 a week on potato (the Potato IPM's: a warning, under
    twice it), to 5 on sweet corn (Highmoor Farm's: critical); on maize, which neither was set for, to the
    first, 60, in a warning naming both thresholds and their crops."""
    async with running_app(local_settings(tmp_path), clock=lambda: NOW) as c:
        await pest_farm(c)
        assert (await c.post("/api/v1/registry/nodes", json={"id": "pest-01", "role": "pest", "zone_id": "z1"})
                ).status_code == 201
        r = await c.put("/api/v1/pests/traps/pest-01/1", json={"card": "white-pheromone", "lure": "ostrinia-nubilalis"})
        assert r.status_code == 200, r.text
        ups = [item(make_uplink("pest-01", "pest", d, JUN1 + (9 + d) * DAY + 6 * HOUR,
                                [make_reading("trap_count", 14, channel=1)], "0.1.0")) for d in range(5)]
        r = await c.post("/api/v1/ingest/batch", json=make_batch("demo", "gw-1", "pest", NOW, ups))
        assert r.status_code == 200 and not r.json()["rejected"], r.text

        async def ecb(crop: str) -> tuple[dict, dict]:
            r = await c.put("/api/v1/registry/zones/z1", json={**ZONE, "crop": crop})
            assert r.status_code == 200, r.text
            (season,) = (await c.get("/api/v1/zones/z1/pests")).json()
            assert season["species"] == "ostrinia-nubilalis"
            assert (await c.post("/api/v1/alerts/evaluate")).status_code == 200
            alerts = [a for a in (await c.get("/api/v1/alerts")).json() if a["kind"] == "pest-species"]
            return season["pressure"], alerts[0] if alerts else {}

        p, alert = await ecb("potato")
        assert (p["value"], p["threshold"], p["per"], p["crop_match"], p["above"]) == (70, 60, "week", True, True)
        assert "Potato IPM" in p["source"] and alert["severity"] == "warning" and "threshold_crops" not in alert[
            "evidence"] and alert["message"].startswith("Ostrinia nubilalis: 70.0 per trap per week at pest-01/1 ≥ "
                                                        "action threshold 60,")
        p, alert = await ecb("sweet corn")
        assert (p["threshold"], p["crop_match"], p["above"]) == (5, True, True) and "Highmoor" in p["source"]
        assert (alert["subject"], alert["severity"]) == ("z1/ostrinia-nubilalis", "critical")
        assert alert["message"].startswith("Ostrinia nubilalis: 70.0 per trap per week at pest-01/1 ≥ action "
                                           "threshold 5,")
        p, alert = await ecb("maize")
        assert (p["threshold"], p["crop_match"], p["above"]) == (60, False, True)
        assert [(t["catch"], t["crops"]) for t in p["thresholds"]] == [(60, ["potato"]), (5, ["sweet corn"])]
        assert alert["severity"] == "warning" and "(60 per trap per week for potato; 5 per trap per week for sweet " \
            "corn), none set for maize" in alert["message"]
        assert alert["evidence"]["thresholds"] == [{"catch": 60, "per": "week", "crops": ["potato"]},
                                                   {"catch": 5, "per": "week", "crops": ["sweet corn"]}]
