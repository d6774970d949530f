"""Roles and tokens: every route walked with every role, tokens hashed, expiring and revocable,
no default secret, and the `furrow cloud token create` bootstrap."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from pydantic import ValidationError
from sqlalchemy import select

from furrow.cloud import Settings
from furrow.cloud.auth import Role
from furrow.cloud.db import ApiToken
from furrow.cloud.migrations import head
from tests.cloud_support import SECRET_KEY, batch_of, item, local_settings, problem, running_app, soil_uplink

A, T, G, AD, R, OP = Role.AGRONOMIST, Role.TECHNICIAN, Role.GATEWAY, Role.ADMIN, Role.REGIONAL, Role.OPERATOR
READERS = {T, A, AD}
# an operator reads its job only (cloud/tenancy/_job.py): these routes, narrowed to it (tests/test_operator_job.py)
JOB = READERS | {OP}
EVERYONE = {T, A, G, AD, R, OP}

# What each route allows, written out here on its own so the test does not read the
# answer from the code under test. A route missing from this table fails the test.
EXPECTED: dict[tuple[str, str], set[Role]] = {
    ("GET", "/api/v1/auth/me"): EVERYONE,
    ("PUT", "/api/v1/auth/me/locale"): JOB,
    ("POST", "/api/v1/auth/tokens"): {AD},
    ("GET", "/api/v1/auth/tokens"): {AD},
    ("DELETE", "/api/v1/auth/tokens/{token_id}"): {AD},
    ("POST", "/api/v1/ingest/batch"): {G, AD},
    ("GET", "/api/v1/readings"): READERS,
    ("POST", "/api/v1/ingest/image"): {G, AD},
    ("GET", "/api/v1/images"): READERS,
    ("GET", "/api/v1/images/{node}/{seq}"): READERS,
    ("GET", "/api/v1/images/{node}/{seq}/content"): READERS,
    ("GET", "/api/v1/images/{node}/{seq}/thumbnail"): READERS,
    ("GET", "/api/v1/series"): READERS,
    ("GET", "/api/v1/zones/{zone}/summary"): READERS,
    ("GET", "/api/v1/nodes/{node}/health"): READERS,
    ("GET", "/api/v1/export"): READERS,
    ("GET", "/api/v1/nodes"): READERS,
    ("GET", "/api/v1/nodes/{node}/latest"): READERS,
    ("GET", "/api/v1/nodes/{node}/gaps"): READERS,
    ("POST", "/api/v1/commands"): {A, AD},
    ("GET", "/api/v1/commands"): READERS,
    ("GET", "/api/v1/commands/{command_id}"): READERS,
    ("POST", "/api/v1/commands/{command_id}/cancel"): {A, AD},
    ("POST", "/api/v1/commands/acks"): {G, AD},
    ("POST", "/api/v1/zones/{zone_id}/plan"): {A, AD},
    ("GET", "/api/v1/zones/{zone_id}/decisions"): READERS,
    ("GET", "/api/v1/zones/{zone_id}/balance"): READERS,
    ("GET", "/api/v1/zones/{zone_id}/agronomy"): READERS,
    ("POST", "/api/v1/zones/{zone_id}/override"): {A, AD},
    ("GET", "/api/v1/stats"): READERS,
    ("GET", "/api/v1/health"): EVERYONE,
    ("GET", "/api/v1/alerts"): READERS,
    ("POST", "/api/v1/alerts/evaluate"): {A, AD},
    ("POST", "/api/v1/alerts/{alert_id}/ack"): {T, A, AD},
    ("POST", "/api/v1/nodes/{node_id}/credentials"): {T, AD},
    ("DELETE", "/api/v1/nodes/{node_id}/credentials"): {T, AD},
    ("POST", "/api/v1/gateways/{site}/{gateway}/credentials"): {T, AD},
    ("DELETE", "/api/v1/gateways/{site}/{gateway}/credentials"): {T, AD},
    ("GET", "/api/v1/audit"): {AD},
    ("GET", "/api/v1/events"): JOB,
    ("GET", "/api/v1/nodes/{node}/commissioning"): READERS,
    ("POST", "/api/v1/nodes/{node}/calibration"): {T, AD},
    ("POST", "/api/v1/gateways/{site}/{gateway}/status"): {G, AD},
    ("GET", "/api/v1/gateways"): READERS,
    ("GET", "/api/v1/gateways/{site}/{gateway}/bus"): READERS,
    ("GET", "/api/v1/zones/{zone_id}/columns"): READERS,
    ("POST", "/api/v1/zones/{zone_id}/cover"): {A, AD},
    ("POST", "/api/v1/zones/{zone_id}/cover/photo"): {A, AD},
    ("GET", "/api/v1/zones/{zone_id}/cover"): READERS,
    ("PUT", "/api/v1/registry/fields/{key}/boundary"): {T, AD},
    ("PUT", "/api/v1/registry/zones/{key}/boundary"): {T, AD},
    ("POST", "/api/v1/ndvi/geotiff"): {A, AD},
    ("POST", "/api/v1/ndvi/sentinel2"): {A, AD},
    ("GET", "/api/v1/zones/{zone_id}/ndvi"): READERS,
    ("GET", "/api/v1/zones/{zone_id}/ndvi/{stats_id}/map"): READERS,
    ("GET", "/api/v1/zones/{zone_id}/vigour"): READERS,
    ("GET", "/api/v1/pests/species"): READERS,
    ("GET", "/api/v1/pests/species/{key}"): READERS,
    ("PUT", "/api/v1/pests/species/{key}"): {A, AD},
    ("DELETE", "/api/v1/pests/species/{key}"): {A, AD},
    ("GET", "/api/v1/pests/traps"): READERS,
    ("PUT", "/api/v1/pests/traps/{node}/{channel}"): {T, AD},
    ("GET", "/api/v1/pests/counts"): READERS,
    ("GET", "/api/v1/pests/counts/{node}/{seq}"): READERS,
    ("POST", "/api/v1/pests/counts/{node}/{seq}/review"): {T, A, AD},
    ("GET", "/api/v1/pests/accuracy"): READERS,
    ("GET", "/api/v1/sites/{site}/normals"): READERS,
    ("PUT", "/api/v1/sites/{site}/normals"): {A, AD},
    ("DELETE", "/api/v1/sites/{site}/normals"): {A, AD},
    ("GET", "/api/v1/zones/{zone_id}/pests"): READERS,
    ("POST", "/api/v1/zones/{zone_id}/soil-samples"): {A, AD},
    ("GET", "/api/v1/zones/{zone_id}/soil-samples"): READERS,
    ("GET", "/api/v1/zones/{zone_id}/soil-map"): READERS,
    ("PUT", "/api/v1/fertility/labs/{lab}/mapping"): {A, AD},
    ("GET", "/api/v1/fertility/labs/{lab}/mapping"): READERS,
    ("POST", "/api/v1/fertility/labs/{lab}/import"): {A, AD},
    ("PUT", "/api/v1/fertility/sites/{site}/products/{product}"): {A, AD},
    ("PUT", "/api/v1/fertility/injectors/{node_id}"): {T, AD},
    ("GET", "/api/v1/fertility/injectors"): READERS,
    ("GET", "/api/v1/fertility/sites/{site}/products"): READERS,
    ("GET", "/api/v1/fertility/sites/{site}/coefficients/{crop}"): READERS,
    ("PUT", "/api/v1/fertility/sites/{site}/coefficients/{crop}"): {A, AD},
    ("POST", "/api/v1/zones/{zone_id}/fertility/recommend"): {A, AD},
    ("GET", "/api/v1/zones/{zone_id}/fertility/recommendations"): READERS,
    ("POST", "/api/v1/zones/{zone_id}/fertility/applications"): {A, AD},
    ("GET", "/api/v1/zones/{zone_id}/fertility/applications"): READERS,
    ("POST", "/api/v1/zones/{zone_id}/fertility/harvests"): {A, AD},
    ("GET", "/api/v1/zones/{zone_id}/fertility/balance"): READERS,
    ("POST", "/api/v1/zones/{zone_id}/fertility/fertigations"): {A, AD},
    ("POST", "/api/v1/operations"): {T, A, AD},
    ("GET", "/api/v1/operations"): JOB,
    ("GET", "/api/v1/operations/{op_id}"): JOB,
    ("GET", "/api/v1/fields/{field_id}/progress"): JOB,
    ("POST", "/api/v1/trace/records"): {A, AD},
    ("GET", "/api/v1/trace/records"): READERS,
    ("GET", "/api/v1/trace/chains"): READERS,
    ("GET", "/api/v1/trace/checkpoints"): READERS,
    ("POST", "/api/v1/trace/checkpoints"): {AD},
    ("GET", "/api/v1/trace/verify"): READERS,
    ("GET", "/api/v1/trace/lots/{lot_id}"): READERS,
    ("GET", "/api/v1/trace/lots/{lot_id}/report"): READERS,
    ("GET", "/api/v1/trace/lots/{lot_id}/publication"): READERS,
    ("POST", "/api/v1/trace/lots/{lot_id}/publication"): {A, AD},
    ("DELETE", "/api/v1/trace/lots/{lot_id}/publication"): {A, AD},
    ("GET", "/api/v1/trace/publication-default"): READERS,
    ("PUT", "/api/v1/trace/publication-default"): {A, AD},
    ("GET", "/api/v1/machines"): JOB,
    ("GET", "/api/v1/map/basemap"): JOB,
    ("GET", "/api/v1/machines/{node}/track"): JOB,
    ("POST", "/api/v1/dispatch/plan"): {T, A, AD},
    ("GET", "/api/v1/dispatch/current"): JOB,
    ("POST", "/api/v1/yield-logs"): {T, A, AD},
    ("GET", "/api/v1/yield-logs"): READERS,
    ("GET", "/api/v1/yield-logs/{log_id}"): READERS,
    ("GET", "/api/v1/yield-totals"): READERS,
    ("GET", "/api/v1/standard-moistures"): READERS,
    ("PUT", "/api/v1/standard-moistures/{crop}"): {A, AD},
    ("DELETE", "/api/v1/standard-moistures/{crop}"): {A, AD},
    ("GET", "/api/v1/progress/crops"): READERS,
    ("GET", "/api/v1/zones/{zone_id}/expected-yield"): READERS,
    ("PUT", "/api/v1/zones/{zone_id}/expected-yield/potential"): {A, AD},
    ("GET", "/api/v1/sites/{site}/yield-potentials/{crop}"): READERS,
    ("PUT", "/api/v1/sites/{site}/yield-potentials/{crop}"): {A, AD},
    ("GET", "/api/v1/expected-yield"): READERS,
    ("GET", "/api/v1/dispatch/etas"): JOB,
    ("GET", "/api/v1/organisation"): READERS,
    ("PUT", "/api/v1/organisation"): {AD},
    ("GET", "/api/v1/jobs/mine"): JOB,
    ("POST", "/api/v1/tasks/{task_id}/report"): {T, A, AD, OP},
    ("GET", "/api/v1/progress/regions"): READERS,
    ("GET", "/api/v1/regional"): {R},
    ("POST", "/api/v1/regional/datasets"): {R},
    ("GET", "/api/v1/regional/datasets"): {R},
    ("DELETE", "/api/v1/regional/datasets/{dataset}"): {R},
}
# A live stream would never end: these routes are walked with a query that closes it.
QUERY = {("GET", "/api/v1/events"): "?max_events=1"}
for kind in ("sites", "fields", "zones", "nodes", "valves", "machines", "implements", "regions", "tasks"):
    # dispatch tasks are managed by whoever plans the farm's operations; the rest by who keeps the registry
    writers = {T, A, AD} if kind == "tasks" else {T, AD}
    readers = JOB if kind in ("sites", "fields", "zones", "machines", "implements", "tasks") else READERS
    EXPECTED[("GET", f"/api/v1/registry/{kind}")] = readers
    EXPECTED[("GET", f"/api/v1/registry/{kind}/{{key}}")] = readers
    for method in ("POST",):
        EXPECTED[(method, f"/api/v1/registry/{kind}")] = writers
    for method in ("PUT", "DELETE"):
        EXPECTED[(method, f"/api/v1/registry/{kind}/{{key}}")] = writers

# Documentation only (no data): open to all, and nothing else is.
PUBLIC = {("GET", "/openapi.json"), ("GET", "/docs")}  # /docs/assets/: Swagger UI, cloud/docs.py
PUBLIC.add(("GET", "/"))  # redirects to the dashboard's static files (/app/, cloud/dashboard/)
# The one route that takes no token because it hands one out (rate-limited; tests/test_security_audit.py).
LOGIN = ("POST", "/api/v1/auth/login")
# The one route with data and no token: a published lot behind its unguessable token (tests/test_trace_publish.py);
# an unknown token is 404 to anyone.
PUBLISHED_LOT = ("GET", "/lot/{token}")
# Open data, no token: the published regional datasets (aggregates checked at publication, tests/test_opendata.py).
OPEN_DATA = {("GET", "/open-data"), ("GET", "/open-data/{dataset}/{file}")}


def _walk(routes, prefix: str = ""):
    """(method, path) of every route, descending into included routers."""
    for r in routes:
        if hasattr(r, "original_router"):
            yield from _walk(r.original_router.routes, prefix + r.include_context.prefix)
            continue
        for method in sorted(getattr(r, "methods", None) or []):
            if method != "HEAD":
                yield method, prefix + r.path


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", lambda m: "1" if m.group(0) == "{key}" else "x-1", path)


async def test_every_route_answers_every_role_as_the_matrix_says(tmp_path):
    """Each route with no token is 401, with a role it lacks 403, with a role it grants neither."""
    async with running_app(local_settings(tmp_path), headers=None) as client:
        tokens = client.app.state.services.tokens
        # a gateway's user is named <site>.<gateway>: its token speaks for that gateway only
        names = {role: "demo.gw-1" if role is Role.GATEWAY else f"user-{role}" for role in Role}
        bearer = {role: (await tokens.issue(names[role], role, 1, region="65" if role is R else None)).token
                  for role in Role}
        routes = set(_walk(client.app.routes))
        assert routes - PUBLIC - OPEN_DATA - {LOGIN, PUBLISHED_LOT} == set(EXPECTED), \
            "the role table and the app's routes differ"
        checked = 0
        for (method, path), allowed in sorted(EXPECTED.items()):
            url = _concrete(path) + QUERY.get((method, path), "")
            body = {"json": {}} if method in ("POST", "PUT") else {}
            r = await client.request(method, url, **body)
            assert r.status_code == 401, (method, path, "no token", r.status_code)
            assert r.headers["www-authenticate"] == "Bearer"
            r = await client.request(method, url, headers={"Authorization": "Bearer fw_nope_nope"}, **body)
            assert r.status_code == 401, (method, path, "unknown token")
            for role in Role:
                r = await client.request(method, url, headers={"Authorization": f"Bearer {bearer[role]}"}, **body)
                if role in allowed:
                    assert r.status_code not in (401, 403), (method, path, role, r.status_code, r.text)
                else:
                    assert r.status_code == 403, (method, path, role, r.status_code, r.text)
                checked += 1
        assert checked == len(EXPECTED) * len(Role)
        for method, path in PUBLIC:
            assert (await client.request(method, path, follow_redirects=True)).status_code == 200
        r = await client.post(LOGIN[1], json={"name": "user-admin", "password": "not-the-password"})
        assert r.status_code == 401 and "token" not in r.json()
        assert PUBLISHED_LOT in routes and (await client.get(_concrete(PUBLISHED_LOT[1]))).status_code == 404
        assert OPEN_DATA <= routes and (await client.get("/open-data")).json()["dcat:dataset"] == []
        assert (await client.get("/open-data/x-1/data.csv")).status_code == 404


async def test_tokens_are_stored_hashed_expire_and_revoke_at_once(tmp_path):
    """The database holds no token, only its keyed hash; an expired or revoked token is 401."""
    async with running_app(local_settings(tmp_path)) as admin:
        r = await admin.post("/api/v1/auth/tokens", json={"user": "maria", "role": "agronomist"})
        assert r.status_code == 201
        issued = r.json()
        me = await admin.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {issued['token']}"})
        assert (me.json()["name"], me.json()["role"]) == ("maria", "agronomist")

        db = admin.app.state.services.db
        with db.sessions() as s:
            hashes = list(s.scalars(select(ApiToken.token_hash)))
        assert all(issued["token"] not in h and len(h) == 64 for h in hashes)
        listed = (await admin.get("/api/v1/auth/tokens")).json()
        assert issued["token"] not in str(listed)

        assert (await admin.delete(f"/api/v1/auth/tokens/{issued['id']}")).status_code == 204
        r = await admin.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {issued['token']}"})
        assert r.status_code == 401 and "revoked" in problem(r)["reason"]

        tokens = admin.app.state.services.tokens
        old = await tokens.issue("maria", Role.AGRONOMIST, ttl_days=1)
        with pytest.raises(Exception, match="expired"):
            await tokens.verify(old.token, now_ms=old.expires_ms)
        r = await admin.post("/api/v1/auth/tokens", json={"user": "maria", "role": "admin"})
        assert r.status_code == 422 and problem(r)["field"] == "role"


@pytest.mark.parametrize("secret", [None, "", "changeme", "short-secret"])
def test_settings_refuse_a_missing_or_weak_secret_outside_demo_mode(tmp_path, secret):
    """Without demo mode the service will not start on a default, empty or short secret key."""
    with pytest.raises(ValidationError, match="FURROW_SECRET_KEY"):
        Settings(data_dir=tmp_path, secret_key=secret)
    assert Settings(data_dir=tmp_path, demo_mode=True, secret_key=secret).demo_mode


async def test_demo_mode_creates_and_prints_an_admin_token(tmp_path, capsys):
    """In demo mode with no token given, an admin token is made at startup and printed once."""
    async with running_app(Settings(data_dir=tmp_path, mqtt_enabled=False, demo_mode=True), headers=None) as c:
        token = c.app.state.services.demo_token
        assert token in capsys.readouterr().out
        r = await c.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert r.json()["role"] == "admin"


async def test_cli_token_create_bootstraps_a_working_token(tmp_path):
    """`furrow cloud token create --role technician` prints a token the service then accepts;
    `furrow cloud migrate` reports the newest revision."""
    env = {**os.environ, "FURROW_DATA_DIR": str(tmp_path), "FURROW_SECRET_KEY": SECRET_KEY}
    done = subprocess.run([sys.executable, "-m", "furrow.cli", "cloud", "token", "create", "--role", "technician",
                           "--name", "tom"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip()
    migrated = subprocess.run([sys.executable, "-m", "furrow.cli", "cloud", "migrate"], env=env,
                              capture_output=True, text=True, timeout=60)
    assert migrated.returncode == 0 and migrated.stdout.strip() == f"database at revision {head()}"
    assert token.startswith("fw_") and "shown only now" in done.stderr
    async with running_app(local_settings(tmp_path), headers={"Authorization": f"Bearer {token}"}) as c:
        assert (await c.get("/api/v1/auth/me")).json() == {"name": "tom", "role": "technician",
                                                          "token_id": token.split("_")[1], "locale": None}
        assert (await c.post("/api/v1/commands", json={"node": "irr-01", "valve": 1})).status_code == 403


async def test_a_gateway_token_posts_only_its_own_gateways_batches(tmp_path):
    """A token of user demo.gw-1 stores gw-1's batch, is refused gw-2's (422 naming gateway), and a
    gateway token not named <site>.<gateway> may not ingest at all."""
    async with running_app(local_settings(tmp_path), headers=None) as client:
        tokens = client.app.state.services.tokens
        gw1 = {"Authorization": f"Bearer {(await tokens.issue('demo.gw-1', Role.GATEWAY, 1)).token}"}
        vague = {"Authorization": f"Bearer {(await tokens.issue('some-gateway', Role.GATEWAY, 1)).token}"}
        r = await client.post("/api/v1/ingest/batch", json=batch_of([item(soil_uplink())]), headers=gw1)
        assert r.status_code == 200 and r.json()["stored"] == 2
        other = batch_of([item(soil_uplink(seq=2))], gateway="gw-2", batch_id="gw-2-1")
        r = await client.post("/api/v1/ingest/batch", json=other, headers=gw1)
        assert r.status_code == 422 and problem(r)["field"] == "gateway"
        r = await client.post("/api/v1/ingest/batch", json=batch_of([item(soil_uplink(seq=3))]), headers=vague)
        assert r.status_code == 403 and "<site>.<gateway>" in problem(r)["reason"]


async def test_an_operator_reads_its_job_and_nothing_else_of_the_farm(tmp_path):
    """On a farm of one organisation, li drives d1 (tracker trk-1), planned to sow f1; wang drives s1, planned to
    spray f2. li's registry lists hold f1, d1, its drill, the sowing and site s1 only, wang's field, machine and task
    are 404 as ids that do not exist (path and query), the plan li reads has li's machine and task only, the
    operations and machines lists only f1's and trk-1's, and li's live stream carries its own tracker's positions
    and f1's operations but not wang's, nor readings or commands. wang's view is the mirror of it; the admin sees
    both."""
    from tests.test_live_resume import _messages
    from tests.test_machinery_operations import BOUNDARY, _field, operation
    from tests.test_machinery_registry import BOOM, DRILL, _bearer, _post, machine, task

    async with running_app(local_settings(tmp_path)) as c:
        await _field(c)
        await _post(c, "fields", {"id": "f2", "site_id": "s1", "name": "South"})
        assert (await c.put("/api/v1/registry/fields/f2/boundary", json=BOUNDARY)).status_code == 200
        for node in ("trk-1", "trk-2"):
            await _post(c, "nodes", {"id": node, "role": "tracker", "site_id": "s1"})
        for body in (DRILL, BOOM):
            await _post(c, "implements", body)
        li, wang = await _bearer(c, "li", OP), await _bearer(c, "wang", OP)
        await _post(c, "machines", machine("d1", ["drill-6m"], node_id="trk-1", operator="li"))
        await _post(c, "machines", machine("s1", ["boom-24"], type="sprayer", width_m=24, node_id="trk-2",
                                           operator="wang"))
        await _post(c, "tasks", task("sow", "sowing", "drill-6m"))
        await _post(c, "tasks", task("spray", "spraying", "boom-24", field_id="f2"))
        r = await c.post("/api/v1/dispatch/plan", json={"solver": "greedy", "keep": True})
        assert r.status_code == 200 and r.json()["routes"]["s1"][0]["task"] == "spray", r.text
        mine = (await c.post("/api/v1/operations", json=operation([5, 13]))).json()["id"]
        theirs = (await c.post("/api/v1/operations", json=operation([5, 13], field="f2"))).json()["id"]

        async def ids(path: str, who: dict) -> list:
            r = await c.get(f"/api/v1/{path}", headers=who)
            assert r.status_code == 200, (path, r.text)
            return [x.get("id", x.get("node")) for x in r.json()]

        for who, field, m, node, implement, tk in ((li, "f1", "d1", "trk-1", "drill-6m", "sow"),
                                                    (wang, "f2", "s1", "trk-2", "boom-24", "spray")):
            assert await ids("registry/fields", who) == [field]
            assert await ids("registry/sites", who) == ["s1"]
            assert await ids("registry/machines", who) == [m]
            assert [x["node_id"] for x in (await c.get("/api/v1/registry/machines", headers=who)).json()] == [node]
            assert await ids("registry/implements", who) == [implement]
            assert await ids("registry/tasks", who) == [tk]
        assert sorted(await ids("registry/fields", {})) == ["f1", "f2"]  # the admin: the farm
        assert await ids("operations", li) == [mine] and await ids("operations", wang) == [theirs]
        for path in ("registry/fields/f2", "registry/machines/s1", "registry/tasks/spray", "fields/f2/progress",
                     "operations?field=f2", f"operations/{theirs}", "machines/trk-2/track?from_ms=0&to_ms=1000"):
            r = await c.get(f"/api/v1/{path}", headers=li)
            assert r.status_code == 404, (path, r.status_code, r.text)
        assert (await c.get("/api/v1/fields/f1/progress", headers=li)).json()["kinds"][0]["covered_ha"] > 0
        assert (await c.get(f"/api/v1/operations/{mine}", headers=li)).status_code == 200
        current = (await c.get("/api/v1/dispatch/current", headers=li)).json()
        assert [m["id"] for m in current["request"]["machines"]] == ["d1"]
        assert [t["id"] for t in current["request"]["tasks"]] == ["sow"]
        assert list(current["plan"]["routes"]) == ["d1"]
        assert list((await c.get("/api/v1/dispatch/current")).json()["plan"]["routes"]) == ["d1", "s1"]

        bus = c.app.state.services.events
        start = _messages((await c.get("/api/v1/events?max_events=1", headers=li)).text)[0][0]
        fix = {"t_ms": 1, "lat": 0.0, "lon": 0.0, "speed_kmh": 1.0, "course_deg": None, "implement_down": True}
        bus.publish("position", {"site": "s1", "gateway": "gw-1", "machines": [{"node": "trk-1", **fix},
                                                                                 {"node": "trk-2", **fix}]})
        bus.publish("operation", {"id": theirs, "field_id": "f2"})
        bus.publish("operation", {"id": mine, "field_id": "f1"})
        bus.publish("command", {"id": "c-1", "state": "sent", "node": "irr-1", "zone": None})
        bus.publish("reading", {"site": "s1", "gateway": "gw-1", "nodes": [{"node": "soil-1", "ts_ms": 1}]})
        r = await c.get("/api/v1/events?max_events=3", headers={**li, "Last-Event-ID": start})
        got = [(k, d) for _, k, d in _messages(r.text)]
        assert [k for k, _ in got] == ["hello", "position", "operation"], got
        assert [m["node"] for m in got[1][1]["machines"]] == ["trk-1"] and got[2][1]["id"] == mine
