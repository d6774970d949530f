"""The API's errors: one shape everywhere, and hostile input refused by name, not with a 500.

Issue 14 found 67 of 3,159 hostile requests answered 500 and closed the connection: a non-finite
float or invalid UTF-8 in a JSON body (login included, without a token), and integers past 64
bits in query parameters and bodies. Those requests go here to a real uvicorn, as `furrow cloud
run` serves the app; the rest of the shape is checked in-process.
"""

from __future__ import annotations

import json

import httpx
import pytest

from furrow.cloud import create_app
from furrow.cloud.api.json_body import JsonRoute, parse_json_body
from furrow.cloud.auth import Role
from furrow.edge.errors import ContractError
from tests.cloud_support import ADMIN, local_settings, problem, problems, running_app
from tests.http_support import UvicornThread

JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    with UvicornThread(create_app(local_settings(tmp_path_factory.mktemp("hostile")))) as server, \
            httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


@pytest.mark.parametrize(("body", "field", "value"), [
    (b'{"name": NaN, "password": "x"}', "name", "NaN"),
    (b'{"name": "maria", "password": 1e999999}', "password", "Infinity"),
    (b'{"name": "\xed\xa0\x80", "password": "x"}', "name", "\\xed\\xa0\\x80"),  # an encoded lone surrogate
    (b'{"name": "\\ud800", "password": "x"}', "name", "\\ud800"),  # an escaped one
])
def test_login_without_a_token_refuses_hostile_json_by_field(api, body, field, value):
    """POST /auth/login with NaN, 1e999999 or a lone surrogate is a 422 naming the field and the
    connection stays open (each was a 500 that closed it)."""
    r = api.post("/api/v1/auth/login", content=body, headers=JSON)
    assert r.status_code == 422, r.text
    assert (problem(r)["field"], problem(r)["value"]) == (field, value)
    assert r.headers.get("connection") != "close"


@pytest.mark.parametrize(("method", "path", "body", "field"), [
    ("GET", "/api/v1/readings?start=-9223372036854775809", None, "start"),
    ("GET", f"/api/v1/export?end={2**64}", None, "end"),
    ("GET", f"/api/v1/series?measurement=vwc_pct&node=soil-01&start={'9' * 5000}", None, "start"),
    ("POST", "/api/v1/commands", b'{"node": "irr-01", "valve": 123456789012345678901, "duration_s": 60}', "valve"),
    ("POST", "/api/v1/registry/sites", b'{"id": "s1", "name": ' + b"9" * 5000 + b"}", "name"),
])
def test_integers_past_64_bits_are_refused_by_field(api, method, path, body, field):
    """An integer outside 64 bits in a query parameter or a body is a 422 naming it (SQLite's
    OverflowError made each a 500 that closed the connection)."""
    r = api.request(method, path, content=body, headers={**ADMIN, **JSON})
    assert r.status_code == 422, r.text
    assert problem(r)["field"] == field and r.headers.get("connection") != "close"


def test_every_api_route_reads_its_json_body_strictly(tmp_path):
    """Every route under /api/v1 is a JsonRoute, so no route can take NaN, a lone surrogate or a
    64-bit overflow into a model (a route added without it fails here)."""
    app = create_app(local_settings(tmp_path))

    def walk(routes, prefix=""):
        for r in routes:
            if hasattr(r, "original_router"):
                yield from walk(r.original_router.routes, prefix + r.include_context.prefix)
            elif hasattr(r, "methods"):
                yield prefix + r.path, r

    api_routes = [(path, r) for path, r in walk(app.routes) if path.startswith("/api/v1/")]
    assert len(api_routes) > 60 and all(isinstance(r, JsonRoute) for _, r in api_routes), \
        [path for path, r in api_routes if not isinstance(r, JsonRoute)]


@pytest.mark.parametrize(("text", "field", "why"), [
    (b'{"points": [{"raw": 1, "vwc_pct": 2}, {"raw": NaN}]}', "points.1.raw", "finite"),
    (b'{"a": {"b": [1, 2, -Infinity]}}', "a.b.2", "finite"),
    (b'{"\xed\xa0\x80": 1}', "\\xed\\xa0\\x80", "key"),
    (b'{"n": 18446744073709551616}', "n", "64 bits"),
    (b'[' * 100_000 + b']' * 100_000, "body", "nested too deeply"),
    (b'{"a": 1', "body", "not valid JSON"),
    (b'\xef\xbb\xbf{}', "body", "not valid JSON"),
])
def test_parse_json_body_names_the_first_field_that_is_not_plain_json(text, field, why):
    """The strict reader names the dotted path of the bad value (or `body` when the text does not parse)."""
    with pytest.raises(ContractError) as e:
        parse_json_body(text)
    assert e.value.field == field and why in e.value.reason
    json.dumps(e.value.value, allow_nan=False).encode()  # the value can go into an answer


def test_parse_json_body_takes_plain_json_as_json_does():
    """Plain JSON, 64-bit edges and non-ASCII text included, reads as json.loads reads it."""
    text = json.dumps({"a": [1, -(2**63), 2**63 - 1, 1.5e308, None, True], "é🌱": {"x": "ü"}}).encode()
    assert parse_json_body(text) == json.loads(text)


async def test_every_kind_of_error_has_the_one_shape(tmp_path):
    """Unknown route, wrong method, no token, a role that may not, pydantic's field errors, a
    duplicate and an unknown id: each answers {"detail": [{field, value, reason}]} naming what."""
    async with running_app(local_settings(tmp_path), headers=None) as c:
        tokens = c.app.state.services.tokens
        tech = {"Authorization": f"Bearer {(await tokens.issue('tom', Role.TECHNICIAN, 1)).token}"}
        r = await c.get("/api/v1/nosuch", headers=ADMIN)
        assert r.status_code == 404 and (problem(r)["field"], problem(r)["value"]) == ("path", "/api/v1/nosuch")
        r = await c.delete("/api/v1/health", headers=ADMIN)
        assert r.status_code == 405 and problem(r)["field"] == "method"
        r = await c.get("/api/v1/health")
        assert r.status_code == 401 and problem(r)["field"] == "Authorization"
        assert r.headers["www-authenticate"] == "Bearer"
        r = await c.post("/api/v1/commands", json={"node": "irr-01", "valve": 1, "duration_s": 60}, headers=tech)
        assert r.status_code == 403 and (problem(r)["field"], problem(r)["value"]) == ("role", "technician")
        r = await c.post("/api/v1/commands", json={"node": 5, "valve": "one", "ttl_s": 0}, headers=ADMIN)
        assert r.status_code == 422 and {p["field"] for p in problems(r)} == {"node", "valve", "ttl_s"}
        site = {"id": "s1", "name": "Farm"}
        assert (await c.post("/api/v1/registry/sites", json=site, headers=ADMIN)).status_code == 201
        r = await c.post("/api/v1/registry/sites", json=site, headers=ADMIN)
        assert r.status_code == 409 and (problem(r)["field"], problem(r)["value"]) == ("id", "s1")
        r = await c.get("/api/v1/zones/z9/summary", headers=ADMIN)
        assert r.status_code == 404 and (problem(r)["field"], problem(r)["value"]) == ("zone", "z9")
