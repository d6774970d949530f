"""Organisations (issue 21): two organisations on one service, each with its farm (site, field, zone,
nodes, valve), readings, commands, production records, a field operation and users; every route of the
API walked as organisation A finds nothing of B, and B's ids are answered as ids that do not exist."""

from __future__ import annotations

import re

import pytest

from furrow.cloud.api.routes.events import stream
from furrow.cloud.auth import Role
from furrow.cloud.auth.passwords import set_password_sync
from furrow.cloud.events import EventBus
from furrow.cloud.tenancy import EventScope
from furrow.cloud.tenancy.organisations import OrganisationNew, create_organisation
from furrow.edge.payload import make_uplink
from tests.cloud_support import T0, batch_of, item, local_settings, problem, running_app, soil_uplink
from tests.test_cloud_auth import LOGIN, OPEN_DATA, PUBLIC, PUBLISHED_LOT, QUERY, _walk
from tests.test_machinery_operations import BOUNDARY, operation
from tests.test_security_audit import PASSWORD, _user_create


def farm(p: str, name: str, seed_lot: str) -> list[tuple[str, dict]]:
    """One organisation's registry: ids all start with `p`-."""
    return [
        ("sites", {"id": f"{p}-site", "name": name, "timezone": "UTC"}),
        ("fields", {"id": f"{p}-field", "site_id": f"{p}-site", "name": f"{name} north"}),
        ("zones", {"id": f"{p}-zone", "field_id": f"{p}-field", "name": f"{name} zone", "area_ha": 2,
                   "soil_texture": "loam", "field_capacity_pct": 31, "wilting_point_pct": 14, "root_depth_cm": 60,
                   "crop": "maize", "planting_date": "2026-04-20", "precip_rate_mm_h": 5}),
        ("nodes", {"id": f"{p}-soil", "role": "soil", "zone_id": f"{p}-zone", "depths_cm": [10]}),
        ("nodes", {"id": f"{p}-irr", "role": "irrigation", "zone_id": f"{p}-zone"}),
        ("valves", {"node_id": f"{p}-irr", "channel": 1, "zone_id": f"{p}-zone"}),
    ]


async def build(c, p: str, name: str, seed_lot: str, vwc: float) -> dict:  # noqa: ANN001
    """Organisation `p`'s farm through the API as its own admin and gateway; its ids for the walk."""
    services = c.app.state.services

    def org(session):  # noqa: ANN001, ANN202
        return create_organisation(session, OrganisationNew(id=f"org-{p}", name=name))

    await services.db.run(org)
    admin = (await services.tokens.issue(f"{p}-admin", Role.ADMIN, 1, organisation=f"org-{p}")).token
    gateway = (await services.tokens.issue(f"{p}-site.gw-1", Role.GATEWAY, 1, organisation=f"org-{p}")).token
    h = {"Authorization": f"Bearer {admin}"}
    for path, body in farm(p, name, seed_lot):
        r = await c.post(f"/api/v1/registry/{path}", json=body, headers=h)
        assert r.status_code == 201, (path, r.text)
    assert (await c.put(f"/api/v1/registry/fields/{p}-field/boundary", json=BOUNDARY, headers=h)).status_code == 200
    irr = make_uplink(f"{p}-irr", "irrigation", 1, T0, [], "0.1.0")
    batch = batch_of([item(soil_uplink(f"{p}-soil", 1, vwc=vwc)), item(irr)], site=f"{p}-site",
                     batch_id=f"gw-1-{p}")
    r = await c.post("/api/v1/ingest/batch", json=batch, headers={"Authorization": f"Bearer {gateway}"})
    assert r.status_code == 200 and r.json()["accepted"] == 2, r.text
    r = await c.post("/api/v1/commands", json={"node": f"{p}-irr", "valve": 1, "duration_s": 600}, headers=h)
    assert r.status_code == 201, r.text
    command = r.json()["id"]
    for details in ({"kind": "sowing", "crop": "maize", "seed_lot": seed_lot},
                    {"kind": "harvest", "lot_id": f"{p.upper()}-LOT-1", "quantity_kg": 9000}):
        r = await c.post("/api/v1/trace/records", headers=h, json={
            "field": f"{p}-field", "season": "2026", "occurred_at": "2026-09-01T06:00:00Z", "details": details})
        assert r.status_code == 201, r.text
    r = await c.post("/api/v1/operations", json=operation([5, 13], field=f"{p}-field", operator=f"{name} driver"),
                     headers=h)
    assert r.status_code == 201, r.text
    operation_id = str(r.json()["id"])
    r = await c.post("/api/v1/dispatch/plan", headers=h, json={
        "machines": [{"id": f"{name} combine", "implements": ["drill"], "width_m": 6, "speed_kmh": 8,
                      "lon": BOUNDARY["coordinates"][0][0][0], "lat": BOUNDARY["coordinates"][0][0][1]}],
        "tasks": [{"id": f"{p}-task", "field": f"{p}-field", "kind": "spraying", "implement": "drill"}],
        "keep": True})
    assert r.status_code == 200, r.text
    # its machinery in the registry (issue 20): an implement, a machine, a dispatch task, a region of the farm
    for path, body in (("implements", {"id": f"{p}-drill", "name": f"{name} drill", "kind": "drill", "width_m": 6,
                                       "operations": ["spraying"]}),
                       ("machines", {"id": f"{p}-tractor", "name": f"{name} tractor", "type": "tractor", "width_m": 6,
                                     "speed_kmh": 8, "implement_ids": [f"{p}-drill"]}),
                       ("tasks", {"id": f"{p}-spray", "field_id": f"{p}-field", "kind": "spraying",
                                  "implement_id": f"{p}-drill"}),
                       ("regions", {"id": f"{p}-east", "name": f"{name} east", "field_ids": [f"{p}-field"]})):
        r = await c.post(f"/api/v1/registry/{path}", json=body, headers=h)
        assert r.status_code == 201, (path, r.text)
    spare = await services.tokens.issue(f"{p}-tech", Role.TECHNICIAN, 1, organisation=f"org-{p}")
    return {"headers": h, "site": f"{p}-site", "node": f"{p}-soil", "node_id": f"{p}-irr", "zone": f"{p}-zone",
            "zone_id": f"{p}-zone", "field": f"{p}-field", "field_id": f"{p}-field", "command_id": command,
            "op_id": operation_id, "lot_id": f"{p.upper()}-LOT-1", "token_id": spare.id,
            "task_id": f"{p}-spray",
            "registry": {"sites": f"{p}-site", "fields": f"{p}-field", "zones": f"{p}-zone", "nodes": f"{p}-soil",
                         "machines": f"{p}-tractor", "implements": f"{p}-drill", "tasks": f"{p}-spray",
                         "regions": f"{p}-east"}}


# Path parameters that name no organisation's thing: the same value for both.
NEUTRAL = {"gateway": "gw-1", "seq": "1", "channel": "1", "stats_id": "1", "lab": "lab-1", "product": "urea",
           "crop": "maize", "alert_id": "1", "dataset": "ds-1"}  # dataset: a regional one, no farm's
MISSING = "zz-none"  # an id nobody has


def concrete(path: str, ids: dict, *, as_missing: bool = False) -> str:
    def value(m: re.Match) -> str:
        name = m.group(1)
        if name == "key":
            kind = path.split("/")[4] if path.startswith("/api/v1/registry/") else None
            if kind == "valves":
                return "999999" if as_missing else ids["valve"]
            return MISSING if as_missing and kind else ids["registry"].get(kind, "maize")
        if name in NEUTRAL:
            return NEUTRAL[name]
        return ("999999" if name in ("op_id", "log_id") else MISSING) if as_missing else ids[name]

    return re.sub(r"\{([^}]+)\}", value, path)


async def test_no_route_shows_one_organisation_anything_of_another(tmp_path):
    """Every route as A's admin (every permission): no answer holds B's ids, names, seed lot, lot or
    readings; a route naming B's site, field, zone, node, command, operation, lot or token (path or
    query) is 404 exactly as an id nobody has; B's ids in a body are the 422 of an unknown id."""
    async with running_app(local_settings(tmp_path)) as c:
        a = await build(c, "a", "Alpha Farm", "A-SEED-1", 21.5)
        a["log_id"] = "999997"  # no yield log in either: B's id answers as an unknown one, checked below
        b = await build(c, "b", "Bravo Hidden Farm", "B-SEED-SECRET", 37.75)
        b["log_id"] = "999998"
        a["valve"] = str((await c.get("/api/v1/registry/valves", headers=a["headers"])).json()[0]["id"])
        b["valve"] = str((await c.get("/api/v1/registry/valves", headers=b["headers"])).json()[0]["id"])
        secrets_of_b = ["b-site", "b-field", "b-zone", "b-soil", "b-irr", "b-drill", "b-tractor", "b-spray", "b-east",
                        "Bravo Hidden", "B-SEED-SECRET",
                        "B-LOT-1", "37.75", "b-admin", b["command_id"], b["token_id"]]
        # B sees its own (the walk below would pass trivially if B's data were not there)
        r = await c.get("/api/v1/readings", params={"node": "b-soil", "start": str(T0 - 1000),
                                                         "end": str(T0 + 1000)}, headers=b["headers"])
        assert "37.75" in r.text
        # each sees its own in the lists the filter goes through
        for who, p in ((a, "a"), (b, "b")):
            h = who["headers"]
            assert [s["id"] for s in (await c.get("/api/v1/registry/sites", headers=h)).json()] == [f"{p}-site"]
            assert [x["id"] for x in (await c.get("/api/v1/commands", headers=h)).json()] == [who["command_id"]]
            assert {n["node"] for n in (await c.get("/api/v1/nodes", headers=h)).json()} == {f"{p}-soil", f"{p}-irr"}
            assert [o["field_id"] for o in (await c.get("/api/v1/operations", headers=h)).json()] == [f"{p}-field"]
            r = await c.get("/api/v1/dispatch/current", headers=h)
            assert [t["field"] for t in r.json()["request"]["tasks"]] == [f"{p}-field"], r.text
            assert {x["field"] for x in (await c.get("/api/v1/trace/chains", headers=h)).json()} == {f"{p}-field"}
            for path, own in (("machines", "tractor"), ("implements", "drill"), ("tasks", "spray"),
                              ("regions", "east")):
                r = await c.get(f"/api/v1/registry/{path}", headers=h)
                assert [x["id"] for x in r.json()] == [f"{p}-{own}"], (path, r.text)
            assert [x["region"] for x in (await c.get("/api/v1/progress/regions", headers=h)).json()] == [f"{p}-east"]
        # deletions last: A's own things stay for the other routes
        routes = sorted(set(_walk(c.app.routes)) - PUBLIC - OPEN_DATA - {LOGIN, PUBLISHED_LOT},
                        key=lambda r: (r[0] == "DELETE", r))
        assert len(routes) > 100
        walked, statuses = 0, {}
        for method, path in routes:
            body = {"json": {}} if method in ("POST", "PUT") else {}
            q = QUERY.get((method, path), "")
            if method == "GET":  # the day of the readings, the season of the records
                q = (q + "&" if q else "?") + f"start={T0 - 86_400_000}&end={T0 + 86_400_000}&season=2026"
            r = await c.request(method, concrete(path, a) + q, headers=a["headers"], **body)
            leaked = [s for s in secrets_of_b if s in r.text]
            statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
            assert not leaked, (method, path, r.status_code, leaked, r.text[:300])
            named = set(re.findall(r"\{([^}]+)\}", path)) - set(NEUTRAL)
            if not path.startswith("/api/v1/registry/"):
                named.discard("key")  # a pest species' key: the shared catalogue
            if named:
                theirs = await c.request(method, concrete(path, b) + q, headers=a["headers"], **body)
                nobodys = await c.request(method, concrete(path, b, as_missing=True) + q, headers=a["headers"],
                                          **body)
                assert theirs.status_code == nobodys.status_code == 404, (method, path, theirs.status_code,
                                                                          nobodys.status_code, theirs.text)
                assert problem(theirs)["reason"] == problem(nobodys)["reason"], (method, path)
            walked += 1
        assert walked == len(routes)
        # most routes answered with data (77 of 139 were 2xx when written): the walk is not a walk of refusals
        assert sum(n for status, n in statuses.items() if status < 300) >= 70, statuses
        # a query naming B's node, zone, field or site is an unknown id
        for path, name in [("/api/v1/readings", "node"), ("/api/v1/series", "zone"), ("/api/v1/export", "node"),
                           ("/api/v1/images", "zone"), ("/api/v1/commands", "node"), ("/api/v1/alerts", "zone"),
                           ("/api/v1/pests/counts", "node"), ("/api/v1/operations", "field"),
                           ("/api/v1/trace/records", "field"), ("/api/v1/trace/verify", "field"),
                           ("/api/v1/registry/zones", "parent")]:
            value = b["field"] if name == "parent" else b[name]
            r = await c.get(path, params={name: value, "measurement": "vwc_pct"}, headers=a["headers"])
            assert r.status_code == 404 and problem(r)["field"] == name, (path, r.status_code, r.text)
        # B's ids as references in a body: refused as unknown ones, and nothing was written
        for path, body in [
                ("/api/v1/registry/zones", {**farm("a", "x", "")[2][1], "id": "a-zone-2", "field_id": "b-field"}),
                ("/api/v1/registry/nodes", {"id": "a-soil-2", "role": "soil", "zone_id": "b-zone"}),
                ("/api/v1/commands", {"node": "b-irr", "valve": 1, "duration_s": 60}),
                ("/api/v1/trace/records", {"field": "b-field", "season": "2026", "occurred_at": "2026-09-01T06:00:00Z",
                                           "details": {"kind": "tillage"}}),
                ("/api/v1/operations", operation([5], field="b-field"))]:
            r = await c.post(path, json=body, headers=a["headers"])
            assert r.status_code == 422, (path, r.status_code, r.text)
        r = await c.put("/api/v1/registry/nodes/a-soil", headers=a["headers"],
                        json={"id": "a-soil", "role": "soil", "zone_id": "b-zone"})
        assert r.status_code == 422
        # a gateway token cannot be issued by A for B's site
        r = await c.post("/api/v1/auth/tokens", json={"user": "b-site.gw-9", "role": "gateway"}, headers=a["headers"])
        assert r.status_code == 422
        # the live stream: B's readings, command and alert are not in A's, A's are
        bus = EventBus()
        messages = stream(bus, None, None, max_s=1.0, scope=EventScope(c.app.state.services.db, "org-a"))
        assert "event: hello" in await anext(messages)
        for p in ("b", "a"):
            bus.publish("reading", {"site": f"{p}-site", "gateway": "gw-1",
                                    "nodes": [{"node": f"{p}-soil", "ts_ms": T0}]})
            bus.publish("command", {"id": f"c-{p}", "node": f"{p}-irr", "zone": f"{p}-zone", "state": "created"})
            bus.publish("alert", {"kind": "dry", "subject": f"{p}-zone", "zone": f"{p}-zone", "site": f"{p}-site"})
        seen = "".join([m async for m in messages])
        assert "a-soil" in seen and "c-a" in seen and "a-zone" in seen
        assert not [s for s in ("b-site", "b-soil", "b-irr", "b-zone", "c-b") if s in seen], seen
        r = await c.get("/api/v1/trace/records", params={"field": "b-field", "season": "2026"}, headers=b["headers"])
        assert r.status_code == 200, r.text
        assert [x["kind"] for x in r.json()] == ["sowing", "harvest", "sowing"], r.text  # the last from its operation


async def test_an_install_before_organisations_keeps_working_in_the_default_one(tmp_path):
    """The bootstrap admin and what it registers are the default organisation's, as migration 0024 puts
    every existing site, node and user."""
    async with running_app(local_settings(tmp_path)) as c:
        assert (await c.post("/api/v1/registry/sites", json={"id": "demo", "name": "Demo"})).status_code == 201
        assert [s["id"] for s in (await c.get("/api/v1/registry/sites")).json()] == ["demo"]
        assert (await c.get("/api/v1/organisation")).json()["id"] == "default"
        r = await c.put("/api/v1/organisation", json={"name": "Hilltop", "region": "65/01", "shares_regional": True})
        assert r.status_code == 200 and (await c.get("/api/v1/organisation")).json()["name"] == "Hilltop"
        r = await c.put("/api/v1/organisation", json={"name": "Hilltop", "region": "65//01"})
        assert r.status_code == 422 and problem(r)["field"] == "region"


async def test_a_user_made_with_the_cli_in_an_organisation_logs_in_to_it(tmp_path):
    """`furrow cloud user create --org`: the password login's token is that organisation's (GET /organisation
    names it); a regional user's (made with its region) reads its region (none shares there: 404 naming it, not
    403); an unknown organisation, or a regional user without its region, is refused naming it."""
    async with running_app(local_settings(tmp_path), headers=None) as c:
        db = c.app.state.services.db
        body = OrganisationNew(id="coop-1", name="Coop", region="65/01", shares_regional=True)
        await db.run(lambda s: create_organisation(s, body))
        assert _user_create(tmp_path, "li", "agronomist", PASSWORD, "--org", "coop-1").returncode == 0
        # what `user create bureau --role regional --region 66` does (one CLI run is enough: each costs seconds)
        await db.run(lambda s: set_password_sync(s, "bureau", Role.REGIONAL, PASSWORD, now_ms=T0, region="66"))
        for org, role, region, why in (("nope", Role.AGRONOMIST, None, "no organisation 'nope'"),
                                       ("default", Role.REGIONAL, None, "needs a region")):
            with pytest.raises(ValueError, match=why):
                await db.run(lambda s, o=org, r=role, g=region: set_password_sync(
                    s, "wang", r, PASSWORD, now_ms=T0, organisation=o, region=g))

        async def login(name: str) -> dict:
            r = await c.post("/api/v1/auth/login", json={"name": name, "password": PASSWORD})
            assert r.status_code == 200, r.text
            return {"Authorization": f"Bearer {r.json()['token']}"}

        r = await c.get("/api/v1/organisation", headers=await login("li"))
        assert r.status_code == 200 and r.json()["id"] == "coop-1", r.text
        r = await c.get("/api/v1/regional", params={"season": "2026"}, headers=await login("bureau"))
        assert r.status_code == 404 and (problem(r)["field"], problem(r)["value"]) == ("region", "66"), r.text
