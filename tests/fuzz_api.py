"""The cloud's HTTP API as a fuzz target: every operation of its OpenAPI schema, hostile
parameters and bodies, against a real uvicorn serving the app as `furrow cloud run` does.

An input is one request: ``(method, path, query, body, content_type, token, hostile)``, the path
and query already percent-encoded (so bytes that are not UTF-8 reach the server as sent), the
body bytes or None, and `hostile` naming what was planted in the body (``nonfinite``,
``surrogate``, ``int64``) or the query (``int64-query``), or "". The answer is classified:

* 2xx and 3xx: ``accepted``;
* 4xx: ``rejected:<status> <hostile>``, once the answer is checked to be the API's one error
  shape, naming a field; a body with something planted must be refused 422 (401 without a
  token, on the routes that read their body after the token);
* 5xx, a closed connection or an error in another shape: a crash.

The server (SQLite, MQTT off, a small registered farm that has reported, a random admin token)
starts on first use and stops at exit. It keeps its state across inputs, as a real service
does, so a crash that depends on earlier requests may need its neighbours to replay.

``hostile_json`` and ``HOSTILE_QUERY`` are shared with the schemathesis run
(tests/test_api_schemathesis.py), which plants the same things in its generated requests.
"""

from __future__ import annotations

import atexit
import json
import random
import re
import secrets
import shutil
import tempfile
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import httpx

from furrow.cloud import create_app
from furrow.edge.batch import make_batch, make_item
from furrow.edge.payload import make_reading, make_uplink
from tests.cloud_support import T0, local_settings
from tests.fuzz_support import Target, mutate_bytes, mutate_structure, nasty_value

# What a hostile client plants in a JSON body, raw (json.dumps cannot write all of them), by kind:
# the three that answered 500 in issue 14 (a non-finite float, invalid UTF-8 as an encoded lone
# surrogate, an integer past 64 bits), and their neighbours.
HOSTILE_TOKENS: dict[str, tuple[bytes, ...]] = {
    "nonfinite": (b"NaN", b"Infinity", b"-Infinity", b"1e999999", b"-1e999999"),
    "surrogate": (b'"\xed\xa0\x80"', b'"a\xed\xb0\x80b"', b'"\\ud800"', b'"\\udfff x"', b'"\xff\xfe"'),
    "int64": (b"123456789012345678901", b"-9223372036854775809", b"9223372036854775808",
              b"18446744073709551616", b"9" * 400),
}
# Query values past 64 bits, and their neighbours; ASCII, as every HTTP client sends them.
HOSTILE_QUERY = ("-9223372036854775809", "9223372036854775808", str(2**64), "9" * 25, "-" + "9" * 400,
                 "1e999999", "NaN", "-Infinity", "9223372036854775807", "-9223372036854775808")
QUERY_VALUES = ("", "0", "-1", "1", "10", "1h", "1d", "0s", "vwc_pct", "rain_mm", "csv", "lp", "mean", "open",
                "z1", "soil-01", "irr-01", "2026-01-01T00:00:00Z", "99999-01-01", "a" * 300, "%", "\x00", "é",
                "../../etc/passwd")
PATH_VALUES = ("z1", "soil-01", "irr-01", "wx-01", "s1", "f1", "1", "2", "c-1", "demo", "gw-1", "nosuch", "0",
               "-1", "9223372036854775808", str(2**70), "..", "a" * 300, "é", "%00")
# The fuzz farm's own ids by path parameter name: as routes multiply, a path filled only from
# PATH_VALUES lands on a 404 ever more often and the valid branch of each route goes unreached.
KNOWN_IDS = {"zone_id": "z1", "zone": "z1", "node": "soil-01", "node_id": "irr-01", "site": "s1",
             "gateway": "gw-1", "lab": "lab-1", "crop": "maize", "product": "urea",
             "field_id": "f1", "key": "helicoverpa-armigera"}
INGEST = "/api/v1/ingest/batch"  # a bad item there is refused alone, in a 200 (the batch's good items are kept)
_MARK = "\x00planted\x00"  # stands for the raw token until the body is encoded


def hostile_json(doc: Any, kind: str, rng: random.Random) -> bytes:
    """`doc` as JSON with one value (or, in an empty document, the whole) replaced by a raw
    token of `kind` (HOSTILE_TOKENS)."""
    token = rng.choice(HOSTILE_TOKENS[kind])
    doc = json.loads(json.dumps(doc))
    leaves = list(_leaves(doc))
    if not leaves:
        return token
    parent, key = rng.choice(leaves)
    parent[key] = _MARK
    return json.dumps(doc).encode().replace(json.dumps(_MARK).encode(), token)


def _leaves(doc: Any):
    stack = [doc]
    while stack:
        node = stack.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, value in items:
            yield node, key
            if isinstance(value, dict | list):
                stack.append(value)


# -- the operations, from the app's own schema (building the app opens nothing) --


@cache
def schema() -> dict:
    return create_app(local_settings(Path("unused"))).openapi()


def _resolve(node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        node = schema()["components"]["schemas"][node["$ref"].rsplit("/", 1)[-1]]
    return node


@cache
def operations() -> list[tuple[str, str, dict]]:
    """(method, path, operation) of every operation but the event stream, which never ends."""
    return [(m.upper(), p, op) for p, ops in schema()["paths"].items() for m, op in ops.items()
            if "text/event-stream" not in op.get("responses", {}).get("200", {}).get("content", {})]


def clean_reads() -> list[str]:
    """The path of every GET operation whose path parameters the fuzz farm has (KNOWN_IDS) and that
    needs no query parameter, the ids filled in."""
    paths = []
    for method, template, op in operations():
        params = op.get("parameters", [])
        if method != "GET" or any(p["in"] == "query" and p.get("required") for p in params):
            continue
        if all(p["name"] in KNOWN_IDS for p in params if p["in"] == "path"):
            paths.append(re.sub(r"\{(\w+)\}", lambda m: _encode(KNOWN_IDS[m.group(1)]), template))
    return paths


def sample(node: Any, rng: random.Random, depth: int = 0) -> Any:
    """A plausible value for a JSON schema: its example, else one built from its type."""
    node = _resolve(node)
    if not isinstance(node, dict) or depth > 6:
        return None
    if node.get("examples") and rng.random() < 0.6:
        return json.loads(json.dumps(rng.choice(node["examples"])))
    for key in ("anyOf", "oneOf"):
        if node.get(key):
            return sample(rng.choice(node[key]), rng, depth + 1)
    if "enum" in node:
        return rng.choice(node["enum"])
    kind = node.get("type")
    if kind == "object" or "properties" in node:
        props = node.get("properties", {})
        required = set(node.get("required", []))
        return {k: sample(v, rng, depth + 1) for k, v in props.items() if k in required or rng.random() < 0.6}
    if kind == "array":
        return [sample(node.get("items", {}), rng, depth + 1) for _ in range(rng.choice((0, 1, 2)))]
    if kind == "integer":
        return rng.choice((0, 1, 2, 10, 60, 600, T0))
    if kind == "number":
        return rng.choice((0.0, 1.5, 12.0, 23.4, 45.0))
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "null":
        return None
    return rng.choice(PATH_VALUES)


def _body_schema(op: dict) -> Any | None:
    content = op.get("requestBody", {}).get("content", {})
    return content["application/json"].get("schema", {}) if "application/json" in content else None


def _param_value(param: dict, rng: random.Random) -> str:
    pick = rng.random()
    if pick < 0.25:
        return rng.choice(HOSTILE_QUERY)
    if pick < 0.6:
        value = sample(param.get("schema", {}), rng)
        return "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
    return rng.choice(QUERY_VALUES + PATH_VALUES)


def _encode(value: str) -> str:
    return quote(value.encode("utf-8", "surrogateescape"), safe="")


def api_request(rng: random.Random) -> tuple[str, str, str, bytes | None, str, bool, str]:
    """One request to a random operation; bodies get a hostile token planted in 4 of 10."""
    ops = operations()
    with_body = [o for o in ops if _body_schema(o[2]) is not None]
    method, template, op = rng.choice(with_body if rng.random() < 0.4 else ops)
    hostile = ""
    path = template
    query: list[str] = []
    for param in op.get("parameters", []):
        if param["in"] == "path":
            pick = rng.random()
            value = (KNOWN_IDS[param["name"]] if pick < 0.5 and param["name"] in KNOWN_IDS
                     else rng.choice(PATH_VALUES) if pick < 0.8 else _param_value(param, rng))
            path = path.replace("{" + param["name"] + "}", _encode(value) or "x")
        elif param["in"] == "query" and rng.random() < 0.6:
            value = _param_value(param, rng)
            hostile = "int64-query" if value in HOSTILE_QUERY[:5] else hostile
            query.append(f"{param['name']}={_encode(value)}")
    if rng.random() < 0.05:
        query.append(f"{rng.choice(('extra', 'start', 'node'))}={_encode(rng.choice(HOSTILE_QUERY))}")
    body: bytes | None = None
    content_type = "application/json"
    body_schema = _body_schema(op)
    if body_schema is not None and rng.random() < 0.95:
        doc = sample(body_schema, rng)
        pick = rng.random()
        if pick < 0.4:
            hostile = rng.choice(sorted(HOSTILE_TOKENS))
            body = hostile_json(doc, hostile, rng)
        elif pick < 0.7:
            body = json.dumps(mutate_structure(doc, rng)).encode()  # NaN and Infinity come out as such
        elif pick < 0.85:
            body = mutate_bytes(json.dumps(doc).encode(), rng)
        else:
            body = json.dumps(doc).encode()
        if rng.random() < 0.03:
            content_type = rng.choice(("", "text/plain", "application/x-www-form-urlencoded", "application/json; x"))
    elif rng.random() < 0.05:  # a body where none is taken
        body = json.dumps(nasty_value(rng)).encode()
    return method, path, "&".join(query), body, content_type, rng.random() < 0.92, hostile


# -- the server and the classification -------------------------------------------


class Refused(Exception):
    """A 4xx answer in the one error shape (checked by `refusal_reason`)."""

    def __init__(self, status: int, body: Any, hostile: str) -> None:
        self.status = status
        self.body = body
        self.hostile = hostile
        super().__init__(f"{status}: {str(body)[:300]}")


_INDEX = re.compile(r"\.\d+(?=\.|$)")


def refusal_reason(e: BaseException) -> str:
    """The reason class of a refusal; AssertionError when the answer is not the one error shape."""
    assert isinstance(e, Refused)
    detail = e.body.get("detail") if isinstance(e.body, dict) else None
    assert isinstance(detail, list) and detail, f"an error answer without a list of problems: {e.body!r:.300}"
    for p in detail:
        assert isinstance(p, dict) and set(p) == {"field", "value", "reason"} and p["reason"], f"{p!r:.300}"
    field = detail[0]["field"]
    assert e.status not in (404, 422) or field, f"a {e.status} that names no field: {e.body!r:.300}"
    return f"{e.status} {e.hostile}".strip() if e.hostile else f"{e.status} {_INDEX.sub('.*', str(field))}"


class _Server:
    """The app on a real uvicorn, with a small farm that has reported (started once)."""

    def __init__(self) -> None:
        from tests.http_support import UvicornThread

        self.dir = Path(tempfile.mkdtemp(prefix="furrow-fuzz-api-"))
        self.token = "fw_fuzz" + secrets.token_hex(8) + "_" + secrets.token_urlsafe(32)
        app = create_app(local_settings(self.dir, bootstrap_admin_token=self.token))
        self.server = UvicornThread(app).__enter__()
        self.client = httpx.Client(base_url=self.server.url, timeout=30)
        self._farm()
        self.stopped = False
        # at exit only the files go: the daemon thread ends with the process (a graceful stop
        # then would find the interpreter's thread pools already shut down)
        atexit.register(shutil.rmtree, self.dir, True)

    def _farm(self) -> None:
        auth = {"Authorization": f"Bearer {self.token}"}
        for path, body in [
            ("sites", {"id": "s1", "name": "Farm", "timezone": "UTC"}), ("fields", {"id": "f1", "site_id": "s1",
                                                                                     "name": "F"}),
            ("zones", {"id": "z1", "field_id": "f1", "name": "Z", "area_ha": 1.0, "soil_texture": "loam",
                       "field_capacity_pct": 31.0, "wilting_point_pct": 14.0, "root_depth_cm": 30, "crop": "maize",
                       "precip_rate_mm_h": 12.0}),
            ("nodes", {"id": "soil-01", "role": "soil", "zone_id": "z1", "depths_cm": [10]}),
            ("nodes", {"id": "irr-01", "role": "irrigation", "zone_id": "z1"}),
            ("valves", {"node_id": "irr-01", "channel": 1, "zone_id": "z1"})]:
            self.client.post(f"/api/v1/registry/{path}", json=body, headers=auth).raise_for_status()
        ups = [make_uplink("soil-01", "soil", 1, T0, [make_reading("vwc_pct", 20.0, depth_cm=10)], "0.1.0"),
               make_uplink("irr-01", "irrigation", 1, T0, [make_reading("valve_open", 0, channel=1)], "0.1.0")]
        batch = make_batch("demo", "gw-1", "fuzz-1", T0, [make_item(u, T0) for u in ups])
        self.client.post("/api/v1/ingest/batch", json=batch, headers=auth).raise_for_status()
        self.client.put("/api/v1/fertility/labs/lab-1/mapping", headers=auth, json={
            "sampled_on": "date", "results": {"olsen_p_mg_kg": {"column": "P"}}}).raise_for_status()
        self.client.put("/api/v1/fertility/sites/s1/products/urea", headers=auth, json={
            "id": "urea", "name": "Urea", "n_pct": 46, "p2o5_pct": 0, "k2o_pct": 0, "price_per_kg": 2.0}
                        ).raise_for_status()
        self.client.post("/api/v1/zones/z1/soil-samples", headers=auth, json={  # a recommendation can be made
            "sampled_on": "2026-03-10", "lab": "lab-1", "results": {"alkali_n_mg_kg": {"value": 80},
                                                                   "olsen_p_mg_kg": {"value": 15}}}).raise_for_status()

    def stop(self) -> None:
        """Stop the server (the short fuzz run does, when it is done)."""
        if not self.stopped:
            self.stopped = True
            self.client.close()
            self.server.__exit__(None, None, None)


@cache
def server() -> _Server:
    return _Server()


def _first_field(answer: Any) -> Any:
    detail = answer.get("detail") if isinstance(answer, dict) else None
    return detail[0].get("field") if isinstance(detail, list) and detail and isinstance(detail[0], dict) else None


def _first_value(answer: Any) -> Any:
    detail = answer.get("detail") if isinstance(answer, dict) else None
    return detail[0].get("value") if isinstance(detail, list) and detail and isinstance(detail[0], dict) else None


def send(request: tuple[str, str, str, bytes | None, str, bool, str]) -> str:
    """Send one request; "accepted", or Refused for a 4xx; AssertionError for what is a bug."""
    method, path, query, body, content_type, token, hostile = request
    s = server()
    headers = {"Content-Type": content_type} if content_type and body is not None else {}
    if token:
        headers["Authorization"] = f"Bearer {s.token}"
    url = httpx.URL(s.server.url + path + (f"?{query}" if query else ""))
    r = s.client.request(method, url, content=body, headers=headers)
    assert r.status_code < 500, f"{method} {path}?{query}: {r.status_code} {r.text[:300]}"
    assert r.headers.get("connection") != "close" or r.status_code in (408, 413), "the server closed the connection"
    try:
        answer = r.json()
    except ValueError:
        answer = r.text
    if hostile in HOSTILE_TOKENS:  # planted in a body: never taken
        kept_apart = path == INGEST and r.status_code == 200 and bool(answer.get("rejected"))  # the item, alone
        no_route = r.status_code in (404, 405) and _first_field(answer) in ("path", "method")  # ".." left the route
        # the id in the path names nothing the caller has: refused (organisations, cloud/api/deps.py `scoped`)
        # before the body is read, so the planted value is not taken either
        no_target = r.status_code == 404 and _first_value(answer) in {unquote(p) for p in path.split("/")}
        assert kept_apart or no_route or no_target or r.status_code == 422 or (r.status_code == 401 and not token), \
            f"{method} {path}: a body with a planted {hostile} value answered {r.status_code}: {r.text[:300]}"
    if r.status_code < 400:
        return "accepted"
    raise Refused(r.status_code, answer, hostile)


API_TARGET = Target("api", api_request, send, (Refused,), refusal_reason,
                    "every operation of the cloud's HTTP API (OpenAPI schema), on a real uvicorn")
