"""An installation of one organisation skips the tenancy checks (nothing can be another's), and turns
them on as soon as a second organisation exists: in the process that made it at once, and on another
instance sharing the database within ``SingleOrganisation``'s time to live."""

from __future__ import annotations

import pytest

from furrow.cloud.api import deps
from furrow.cloud.auth import Role
from furrow.cloud.db import Database
from furrow.cloud.tenancy import _filter
from furrow.cloud.tenancy.organisations import OrganisationNew, create_organisation
from tests.cloud_support import batch_of, eventually, item, local_settings, problem, running_app, soil_uplink


class Calls:
    """Counts the filter's answer checks and the guard's body reads."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.answers = self.bodies = 0
        foreign_ids, collect_ids = _filter.foreign_ids, deps.collect_ids

        def counted_answers(*args):  # noqa: ANN002, ANN202
            self.answers += 1
            return foreign_ids(*args)

        def counted_bodies(*args):  # noqa: ANN002, ANN202
            self.bodies += 1
            return collect_ids(*args)

        monkeypatch.setattr(_filter, "foreign_ids", counted_answers)
        monkeypatch.setattr(deps, "collect_ids", counted_bodies)


async def _farm_of_default(c) -> None:  # noqa: ANN001
    for path, body in (("sites", {"id": "home", "name": "Home", "timezone": "UTC"}),
                       ("fields", {"id": "home-f", "site_id": "home", "name": "North"})):
        r = await c.post(f"/api/v1/registry/{path}", json=body)
        assert r.status_code == 201, r.text


async def test_one_organisation_is_not_filtered_and_a_second_one_turns_filtering_on(tmp_path, monkeypatch):
    calls = Calls(monkeypatch)
    async with running_app(local_settings(tmp_path)) as c:
        await _farm_of_default(c)
        gateway = (await c.app.state.services.tokens.issue("home.gw-1", Role.GATEWAY, 1)).token
        r = await c.post("/api/v1/ingest/batch", json=batch_of([item(soil_uplink("soil-1", 1))], site="home"),
                         headers={"Authorization": f"Bearer {gateway}"})
        assert r.status_code == 200 and r.json()["accepted"] == 1, r.text
        assert [s["id"] for s in (await c.get("/api/v1/registry/sites")).json()] == ["home"]
        assert [f["id"] for f in (await c.get("/api/v1/registry/fields")).json()] == ["home-f"]
        assert (calls.answers, calls.bodies) == (0, 0)
        # A body naming a field that does not exist is still the route's own 422, not the guard's.
        r = await c.post("/api/v1/registry/zones", json={"id": "z", "field_id": "nowhere", "name": "Z"})
        assert r.status_code == 422, r.text

        await c.app.state.services.db.run(lambda s: create_organisation(s, OrganisationNew(id="org-b", name="B")))
        other = (await c.app.state.services.tokens.issue("b-admin", Role.ADMIN, 1, organisation="org-b")).token
        r = await c.post("/api/v1/registry/sites", json={"id": "b-site", "name": "B", "timezone": "UTC"},
                         headers={"Authorization": f"Bearer {other}"})
        assert r.status_code == 201, r.text
        assert calls.bodies == 1
        assert [s["id"] for s in (await c.get("/api/v1/registry/sites")).json()] == ["home"]
        assert calls.answers >= 1
        r = await c.post("/api/v1/registry/fields", json={"id": "f2", "site_id": "b-site", "name": "Theirs"})
        assert r.status_code == 422 and problem(r)["field"] == "site_id", r.text


@pytest.mark.postgres
async def test_an_organisation_made_elsewhere_turns_filtering_on_in_every_instance(tmp_path, pg_database, monkeypatch):
    """Two instances on one PostgreSQL, and the organisation made by a third process (the CLI's way):
    both instances filter within the time to live, and neither shows the default organisation the
    other's site."""
    calls = Calls(monkeypatch)
    settings = [local_settings(tmp_path / name, database_url=pg_database) for name in ("a", "b")]
    async with running_app(settings[0]) as a, running_app(settings[1]) as b:
        await _farm_of_default(a)
        for c in (a, b):
            assert [s["id"] for s in (await c.get("/api/v1/registry/sites")).json()] == ["home"]
        assert calls.answers == 0
        cli = Database(pg_database)
        try:
            with cli.sessions.begin() as session:
                create_organisation(session, OrganisationNew(id="org-b", name="B"))
        finally:
            cli.dispose()
        for c in (a, b):
            before = calls.answers

            async def filtering(c=c, before=before) -> bool:  # noqa: ANN001
                await c.get("/api/v1/registry/sites")
                return calls.answers > before

            await eventually(filtering, "the filter on once another organisation exists")
        other = (await b.app.state.services.tokens.issue("b-admin", Role.ADMIN, 1, organisation="org-b")).token
        r = await b.post("/api/v1/registry/sites", json={"id": "b-site", "name": "B", "timezone": "UTC"},
                         headers={"Authorization": f"Bearer {other}"})
        assert r.status_code == 201, r.text
        for c in (a, b):
            assert [s["id"] for s in (await c.get("/api/v1/registry/sites")).json()] == ["home"]
        assert [s["id"] for s in (await a.get("/api/v1/registry/sites", headers={
            "Authorization": f"Bearer {other}"})).json()] == ["b-site"]
