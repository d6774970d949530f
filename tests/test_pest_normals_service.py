"""Climate normals in the service: an agronomist imports a site's normals through the API (every bad cell
named by line and column), the zone's pest forecast carries them beyond the weather it has and says so;
the farm's own weather history takes over once it holds ten years, not before."""

from datetime import UTC, datetime

from furrow.cloud.storage import Reading
from furrow.edge.batch import make_batch
from furrow.edge.payload import make_reading, make_uplink
from tests.cloud_support import item, local_settings, problems, running_app
from tests.test_pest_service import DAY, HOUR, JUN1, NOW, hour_temp, pest_farm

CSV = "text/csv"


def normals_csv(tmax=30.0, tmin=18.0, sd=None) -> bytes:
    head = "doy,tmax_c,tmin_c" + (",tmax_sd_c,tmin_sd_c" if sd is not None else "")
    rows = [f"{d},{tmax},{tmin}" + (f",{sd},{sd}" if sd is not None else "") for d in range(1, 366)]
    return ("\n".join([head, *rows]) + "\n").encode()


async def pest_node_catches(c) -> None:
    """A pulse-counting pest node in z1 whose counter 1 is lured for the corn earworm, catching 2 moths a
    day from June 5 (the biofix: the first of two days in a row with a catch)."""
    r = await c.post("/api/v1/registry/nodes", json={"id": "pest-01", "role": "pest", "zone_id": "z1"})
    assert r.status_code == 201, r.text
    r = await c.put("/api/v1/pests/traps/pest-01/1", json={"card": "white-pheromone", "lure": "helicoverpa-zea"})
    assert r.status_code == 200, r.text
    items = [item(make_uplink("pest-01", "pest", 100 + d, JUN1 + d * DAY + 6 * HOUR,
                              [make_reading("trap_count", 2, channel=1)], "0.1.0")) for d in range(4, 14)]
    r = await c.post("/api/v1/ingest/batch", json=make_batch("demo", "gw-1", "pest", JUN1, items))
    assert r.status_code == 200 and not r.json()["rejected"], r.text


async def test_imported_normals_carry_the_forecast_and_bad_cells_are_named(tmp_path):
    """Without normals the stages after today come from recent weather and the season says so; a file with
    a word for a temperature is refused naming rows.3.tmax_c; a good one (source given) is in use, and the
    dates after today come from it with the range its standard deviations give."""
    async with running_app(local_settings(tmp_path), clock=lambda: NOW) as c:
        await pest_farm(c)
        await pest_node_catches(c)
        before = (await c.get("/api/v1/sites/s1/normals")).json()
        assert (before["kind"], before["farm_years"], before["min_years"], before["days"]) == (None, 0, 10, [])
        (season,) = (await c.get("/api/v1/zones/z1/pests")).json()
        assert season["biofix"] == "2026-06-05" and season["beyond_forecast"] == "recent"

        bad = normals_csv().replace(b"\n2,30.0,", b"\n2,hot,", 1)
        r = await c.put("/api/v1/sites/s1/normals", params={"source": "CMA 1991-2020, station 54511"},
                        content=bad, headers={"content-type": CSV})
        assert r.status_code == 422 and problems(r) == [
            {"field": "rows.3.tmax_c", "value": "hot", "reason": "is not a number"}]
        r = await c.put("/api/v1/sites/s1/normals", params={"source": "short"}, content=normals_csv(),
                        headers={"content-type": CSV})
        assert r.status_code == 422 and problems(r)[0]["field"] == "source"
        r = await c.put("/api/v1/sites/s1/normals", params={"source": "CMA 1991-2020, station 54511"},
                        content=normals_csv(sd=2.0), headers={"content-type": CSV})
        assert r.status_code == 200, r.text
        got = r.json()
        assert (got["kind"], got["source"], got["has_sd"], len(got["days"])) == (
            "imported", "CMA 1991-2020, station 54511", True, 366)

        (season,) = (await c.get("/api/v1/zones/z1/pests")).json()
        assert season["beyond_forecast"] == "normals" and season["normals_sd"]
        assert season["normals_source"] == "CMA 1991-2020, station 54511"
        later = [s for s in season["stages"] if s["day"] and s["day"] > "2026-06-14"]
        assert later and all(s["basis"] == "normal" for s in later)
        assert all(s["early"] <= s["day"] <= s["late"] for s in later if s["late"])
        assert season["weather_basis"]["recent"] == 0

        assert (await c.delete("/api/v1/sites/s1/normals")).status_code == 204
        assert (await c.get("/api/v1/sites/s1/normals")).json()["kind"] is None


async def test_the_farm_s_own_history_is_used_from_ten_years(tmp_path):
    """The weather node's hourly temperatures of the ten years before this season (18 hours a day, the
    fewest a day needs; one day a week, so each calendar day's 15-day window holds two or three days of
    every year) make the farm's normals, which win over imported ones; the source names the node
    and the years."""
    async with running_app(local_settings(tmp_path), clock=lambda: NOW) as c:
        await pest_farm(c)
        store = c.app.state.services.store
        start = int(datetime(2016, 1, 1, tzinfo=UTC).timestamp() * 1000)
        end = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp() * 1000)
        points = [Reading("s1", "gw-1", "wx-01", "weather", "air_temp_c", "°C", None, None,
                          round(hour_temp(h), 2), None, 10_000_000 + (t - start) // HOUR + h, t + h * HOUR)
                  for t in range(start, end, 7 * DAY) for h in range(3, 21)]
        await store.write(points)
        r = await c.put("/api/v1/sites/s1/normals", params={"source": "CMA 1991-2020, station 54511"},
                        content=normals_csv(), headers={"content-type": CSV})
        assert r.status_code == 200, r.text
        got = r.json()
        assert (got["kind"], got["farm_years"], got["has_sd"]) == ("farm", 10, True)
        assert got["source"].startswith("the farm's weather node wx-01, 2016-2025")
        assert got["imported_source"] == "CMA 1991-2020, station 54511"
        july = got["days"][196 - 1]  # 14 July
        temps = [round(hour_temp(h), 2) for h in range(3, 21)]
        assert (july["tmax_c"], july["tmin_c"], july["tmax_sd_c"]) == (max(temps), min(temps), 0.0)
