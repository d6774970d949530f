"""Harvest totals per field and per crop at each crop's standard moisture (cloud/machinery/yield_totals.py,
grain.py): the worked example, a harvest posted again counted once, a crop without a built-in standard, and
GET /yield-totals over posted logs."""

from __future__ import annotations

import pytest

from furrow.cloud.machinery.grain import STANDARD_MOISTURE_PCT, standard_moisture
from furrow.cloud.machinery.yield_totals import NEWEST_LOG, LogTotal, totals
from tests.test_machinery_yield import combine_log


def _log(id_: int, field: str, crop: str | None, kg: float, moisture: float, *, machine: str = "c1",
         start: int = 0, end: int = 100, ha: float = 1.0, created: int | None = None) -> LogTotal:
    return LogTotal(id_, field, crop, machine, start, end, kg, moisture, ha, created if created is not None else id_)


def test_the_standard_moistures_are_the_cited_ones():
    """Maize 15.5 %, wheat 13.5 %, soybean 13 %, barley 14.5 % (Devkota and Mulvaney 2020); rice has none built in."""
    assert STANDARD_MOISTURE_PCT == {"maize": 15.5, "wheat": 13.5, "soybean": 13.0, "barley": 14.5}
    assert standard_moisture("rice") is None and standard_moisture(None) is None


def test_wheat_posted_at_15_5_pct_totals_at_13_5_pct():
    """The worked example: 10 000 kg of wheat at 15.5 % is 10 000 x 84.5 / 86.5 = 9768.79 kg at 13.5 %; on 1.25 ha
    that is 7.815 t/ha. A second wheat field adds to the crop, a maize field is its own crop."""
    fields, crops, replaced = totals([_log(1, "f1", "wheat", 10_000, 15.5, ha=1.25),
                                      _log(2, "f2", "wheat", 5_000, 13.5, ha=1.0),
                                      _log(3, "f3", "maize", 8_000, 15.5, ha=1.0)])
    assert replaced == []
    f1 = next(f for f in fields if f["field_id"] == "f1")
    assert f1["mass_kg"] == pytest.approx(9768.79, abs=0.01) and f1["standard_moisture_pct"] == 13.5
    assert f1["mean_yield_t_ha"] == pytest.approx(9768.79 / 1.25 / 1000, abs=1e-4)
    wheat = next(c for c in crops if c["crop"] == "wheat")
    assert wheat["fields"] == 2 and wheat["logs"] == 2
    assert wheat["mass_kg"] == pytest.approx(9768.79 + 5_000, abs=0.01)
    assert wheat["harvested_ha"] == pytest.approx(2.25)
    assert next(c for c in crops if c["crop"] == "maize")["mass_kg"] == 8_000


def test_a_harvest_posted_again_counts_once_and_two_combines_both_count():
    """The same field and machine over the same time posted again (another flow delay): only the newest counts.
    Another combine on the field at the same time, or the same one another day, adds to it."""
    logs = [_log(1, "f1", "maize", 6_000, 15.5, start=0, end=100, created=10),
            _log(2, "f1", "maize", 6_100, 15.5, start=0, end=100, created=20),  # log 1 again, other settings
            _log(3, "f1", "maize", 4_000, 15.5, machine="c2", start=50, end=150, created=30),
            _log(4, "f1", "maize", 1_000, 15.5, start=200, end=300, created=5)]
    fields, crops, replaced = totals(logs)
    assert replaced == [1]
    assert fields[0]["logs"] == 3 and fields[0]["mass_kg"] == pytest.approx(6_100 + 4_000 + 1_000)


def test_a_crop_without_a_standard_totals_at_its_newest_logs_moisture():
    """Rice (none built in): the newest log's 14 %, an older one at 15 % moved there keeping its dry matter."""
    fields, crops, _ = totals([_log(1, "f1", "rice", 1_000, 15.0, start=0, end=10),
                               _log(2, "f2", "rice", 2_000, 14.0, start=20, end=30)])
    rice = crops[0]
    assert rice["standard_moisture_pct"] == 14.0 and rice["moisture_source"] == NEWEST_LOG
    assert rice["mass_kg"] == pytest.approx(1_000 * 85 / 86 + 2_000, abs=0.01)


async def test_the_api_totals_posted_logs_per_field_and_crop(tmp_path):
    """A combine's log posted for maize without a moisture is at 15.5 %; posted again with another flow delay it
    replaces the first in the totals; rice without a moisture is 422 naming standard_moisture_pct; GET
    /yield-totals?season= gives the field's and the crop's totals (none in another year)."""
    from tests.cloud_support import local_settings, problem, running_app
    from tests.test_machinery_operations import _field

    field, monitor = combine_log()
    body = {"field": "f1", "crop": "maize", "machine": "combine-1", "width_m": 9.0, "log": monitor.csv()}
    async with running_app(local_settings(tmp_path)) as c:
        await _field(c, field.boundary)
        first = (await c.post("/api/v1/yield-logs", json=body)).json()
        assert first["standard_moisture_pct"] == 15.5
        second = (await c.post("/api/v1/yield-logs", json={**body, "flow_delay_s": 11.0})).json()
        assert second["id"] != first["id"]
        r = await c.post("/api/v1/yield-logs", json={**body, "crop": "rice"})
        assert r.status_code == 422 and problem(r)["field"] == "standard_moisture_pct", r.text
        out = (await c.get("/api/v1/yield-totals", params={"season": 2026})).json()
        assert out["replaced"] == [first["id"]]
        [f1] = out["fields"]
        assert (f1["field_id"], f1["crop"], f1["logs"]) == ("f1", "maize", 1)
        assert f1["mass_kg"] == pytest.approx(second["mass_kg"], abs=0.01)
        assert abs(f1["mass_kg"] - monitor.true_kg) / monitor.true_kg < 0.03
        [maize] = out["crops"]
        assert maize["crop"] == "maize" and maize["standard_moisture_pct"] == 15.5 and maize["fields"] == 1
        assert (await c.get("/api/v1/yield-totals", params={"season": 2025})).json()["fields"] == []


async def _two_organisations(c, boundary: dict) -> dict[str, dict[str, str]]:
    """Organisations org-a and org-b, each with an admin, a site and a field ({p}-field) of `boundary`:
    each one's request headers by "a" and "b"."""
    from furrow.cloud.auth import Role
    from furrow.cloud.tenancy.organisations import OrganisationNew, create_organisation

    services = c.app.state.services
    heads = {}
    for p in ("a", "b"):
        await services.db.run(lambda s, p=p: create_organisation(s, OrganisationNew(id=f"org-{p}", name=p)))
        token = (await services.tokens.issue(f"{p}-admin", Role.ADMIN, 1, organisation=f"org-{p}")).token
        h = heads[p] = {"Authorization": f"Bearer {token}"}
        for path, body in (("sites", {"id": f"{p}-site", "name": p}),
                           ("fields", {"id": f"{p}-field", "site_id": f"{p}-site", "name": p})):
            assert (await c.post(f"/api/v1/registry/{path}", json=body, headers=h)).status_code == 201
        r = await c.put(f"/api/v1/registry/fields/{p}-field/boundary", json=boundary, headers=h)
        assert r.status_code == 200, r.text
    return heads


async def test_each_organisation_totals_only_its_own_harvest(tmp_path):
    """Two organisations, each a field and a maize log (B's 1.3 times the grain): each one's GET /yield-totals holds
    its own field and a maize total of its own grain only (the per-crop sums name no field the tenancy filter could
    take out, so the route scopes them)."""
    from tests.cloud_support import local_settings, running_app

    field, monitor = combine_log()
    scaled = "\n".join([monitor.csv().splitlines()[0]] + [  # B's crop: every flow x 1.3
        ",".join([*line.split(",")[:3], f"{1.3 * float(line.split(',')[3]):.4f}", *line.split(",")[4:]])
        for line in monitor.csv().splitlines()[1:]]) + "\n"
    async with running_app(local_settings(tmp_path)) as c:
        heads, mass = await _two_organisations(c, field.boundary), {}
        for p, log in (("a", monitor.csv()), ("b", scaled)):
            h = heads[p]
            r = await c.post("/api/v1/yield-logs", headers=h, json={"field": f"{p}-field", "crop": "maize",
                                                                    "machine": "combine-1", "width_m": 9.0, "log": log})
            assert r.status_code == 201, r.text
            mass[p] = r.json()["mass_kg"]
        assert mass["b"] > 1.25 * mass["a"]
        for p in ("a", "b"):
            out = (await c.get("/api/v1/yield-totals", headers=heads[p])).json()
            assert [f["field_id"] for f in out["fields"]] == [f"{p}-field"]
            [maize] = out["crops"]
            assert maize["mass_kg"] == pytest.approx(mass[p], abs=0.01) and maize["fields"] == 1


def test_an_organisations_own_standard_moisture_wins_over_the_built_in_one():
    """A farm that reports maize at 14.0 % (its entry, say GB 1353-2018's figure as it reads it): 10 000 kg posted
    at 15.5 % totals 10 000 x 84.5 / 86 = 9825.58 kg, with the entry's source; wheat keeps the built-in 13.5 %."""
    own = {"maize": (14.0, "entered for organisation o by person:a on 2026-12-08: GB 1353-2018 表1")}
    fields, crops, _ = totals([_log(1, "f1", "maize", 10_000, 15.5), _log(2, "f2", "wheat", 1_000, 13.5)], own)
    maize = next(c for c in crops if c["crop"] == "maize")
    assert maize["standard_moisture_pct"] == 14.0 and "GB 1353-2018" in maize["moisture_source"]
    assert maize["mass_kg"] == pytest.approx(10_000 * 84.5 / 86, abs=0.01)
    wheat = next(c for c in crops if c["crop"] == "wheat")
    assert wheat["standard_moisture_pct"] == 13.5 and "Devkota" in wheat["moisture_source"]


async def test_the_farm_sets_its_own_standard_moisture_per_crop(tmp_path):
    """PUT /standard-moistures/{crop} (agronomist or admin) with a figure and its source: the organisation's
    totals take it (maize at 14.0 %, rice at 14.5 %, the latter's logs then posted without a moisture), GET lists
    it beside the built-in ones, another organisation keeps the built-in 15.5 %, a technician may not set it, a bad
    figure or no source is a 422 naming it, and DELETE goes back to the built-in figure."""
    from furrow.cloud.auth import Role
    from tests.cloud_support import local_settings, problem, running_app

    field, monitor = combine_log()
    async with running_app(local_settings(tmp_path)) as c:
        services = c.app.state.services
        heads = await _two_organisations(c, field.boundary)
        a, b = heads["a"], heads["b"]
        rice_log = {"field": "a-field", "crop": "rice", "machine": "c", "width_m": 9.0, "log": monitor.csv()}
        reader = (await services.tokens.issue("a-tech", Role.TECHNICIAN, 1, organisation="org-a")).token
        r = await c.put("/api/v1/standard-moistures/maize", headers={"Authorization": f"Bearer {reader}"},
                        json={"pct": 14.0, "source": "GB 1353-2018"})
        assert r.status_code == 403, r.text
        for bad, name in (({"pct": 45, "source": "GB 1353-2018"}, "pct"), ({"pct": 14.0}, "source")):
            r = await c.put("/api/v1/standard-moistures/maize", headers=a, json=bad)
            assert r.status_code == 422 and problem(r)["field"] == name, r.text
        r = await c.put("/api/v1/standard-moistures/%20", headers=a, json={"pct": 14.0, "source": "GB 1353-2018"})
        assert r.status_code == 422 and problem(r)["field"] == "crop", r.text
        r = await c.put("/api/v1/standard-moistures/maize", headers=a,
                        json={"pct": 14.0, "source": "GB 1353-2018 玉米, 表1"})
        assert r.status_code == 200, r.text
        listed = {m["crop"]: m for m in r.json()}
        assert listed["maize"]["pct"] == 14.0 and listed["maize"]["own"] and "GB 1353-2018" in listed["maize"]["source"]
        assert listed["wheat"] == {"crop": "wheat", "pct": 13.5, "own": False, "source": listed["wheat"]["source"],
                                   "by": None, "updated_ms": None}
        assert listed["maize"]["by"] == "person:a-admin" and listed["maize"]["source"] == "GB 1353-2018 玉米, 表1"
        rice = await c.post("/api/v1/yield-logs", headers=a, json=rice_log)
        assert rice.status_code == 422 and problem(rice)["field"] == "standard_moisture_pct"
        assert (await c.put("/api/v1/standard-moistures/rice", headers=a,
                            json={"pct": 14.5, "source": "our mill's contract"})).status_code == 200
        rice = await c.post("/api/v1/yield-logs", headers=a, json=rice_log)
        assert rice.status_code == 201 and rice.json()["standard_moisture_pct"] == 14.5, rice.text
        for p, h in (("a", a), ("b", b)):
            r = await c.post("/api/v1/yield-logs", headers=h, json={"field": f"{p}-field", "crop": "maize",
                                                                     "machine": "combine-1", "width_m": 9.0,
                                                                     "log": monitor.csv()})
            assert r.status_code == 201, r.text
        totals_a = {t["crop"]: t for t in (await c.get("/api/v1/yield-totals", headers=a)).json()["crops"]}
        totals_b = {t["crop"]: t for t in (await c.get("/api/v1/yield-totals", headers=b)).json()["crops"]}
        assert totals_a["maize"]["standard_moisture_pct"] == 14.0
        assert "GB 1353-2018" in totals_a["maize"]["moisture_source"]
        assert totals_a["rice"]["standard_moisture_pct"] == 14.5
        assert totals_b["maize"]["standard_moisture_pct"] == 15.5
        # the same grain: A's at 14.0 % is B's at 15.5 % x 84.5 / 86
        assert totals_a["maize"]["mass_kg"] == pytest.approx(totals_b["maize"]["mass_kg"] * 84.5 / 86, abs=0.02)
        assert {m["crop"]: m["pct"] for m in (await c.get("/api/v1/standard-moistures", headers=b)).json()} == (
            STANDARD_MOISTURE_PCT)
        r = await c.delete("/api/v1/standard-moistures/maize", headers=a)
        assert r.status_code == 200 and {m["crop"]: m["pct"] for m in r.json()}["maize"] == 15.5
        assert (await c.delete("/api/v1/standard-moistures/maize", headers=a)).status_code == 404
        maize_a = {t["crop"]: t for t in (await c.get("/api/v1/yield-totals", headers=a)).json()["crops"]}["maize"]
        assert maize_a["standard_moisture_pct"] == 15.5


def test_a_crop_named_as_the_farm_names_it_has_its_standard_moisture():
    """A Chinese farm's 玉米 is maize at 15.5 %, 小麦 and 冬小麦 wheat at 13.5 %, 大豆 soybean, 大麦 barley; a
    name's case and spaces do not matter; a crop with no built-in figure still has none."""
    assert standard_moisture("玉米") == standard_moisture("Corn ") == 15.5
    assert standard_moisture("小麦") == standard_moisture("冬小麦") == standard_moisture("spring wheat") == 13.5
    assert standard_moisture("大豆") == 13.0 and standard_moisture("大麦") == 14.5
    assert standard_moisture("水稻") is None and standard_moisture("") is None
    fields, crops, _ = totals([_log(1, "f1", "玉米", 10_000, 20.0, ha=1.0)])
    assert crops[0]["standard_moisture_pct"] == 15.5 and crops[0]["crop"] == "玉米"
