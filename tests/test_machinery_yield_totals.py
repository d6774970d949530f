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


async def test_each_organisation_totals_only_its_own_harvest(tmp_path):
    """Two organisations, each a field and a maize log (B's 1.3 times the grain): each one's GET /yield-totals holds
    its own field and a maize total of its own grain only (the per-crop sums name no field the tenancy filter could
    take out, so the route scopes them)."""
    from furrow.cloud.auth import Role
    from furrow.cloud.tenancy.organisations import OrganisationNew, create_organisation
    from tests.cloud_support import local_settings, running_app

    field, monitor = combine_log()
    scaled = "\n".join([monitor.csv().splitlines()[0]] + [  # B's crop: every flow x 1.3
        ",".join([*line.split(",")[:3], f"{1.3 * float(line.split(',')[3]):.4f}", *line.split(",")[4:]])
        for line in monitor.csv().splitlines()[1:]]) + "\n"
    async with running_app(local_settings(tmp_path)) as c:
        services = c.app.state.services
        heads, mass = {}, {}
        for p, log in (("a", monitor.csv()), ("b", scaled)):
            await services.db.run(lambda s, p=p: create_organisation(s, OrganisationNew(id=f"org-{p}", name=p)))
            token = (await services.tokens.issue(f"{p}-admin", Role.ADMIN, 1, organisation=f"org-{p}")).token
            h = heads[p] = {"Authorization": f"Bearer {token}"}
            for path, body in (("sites", {"id": f"{p}-site", "name": p}),
                               ("fields", {"id": f"{p}-field", "site_id": f"{p}-site", "name": p})):
                assert (await c.post(f"/api/v1/registry/{path}", json=body, headers=h)).status_code == 201
            r = await c.put(f"/api/v1/registry/fields/{p}-field/boundary", json=field.boundary, headers=h)
            assert r.status_code == 200, r.text
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
