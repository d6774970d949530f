"""schemathesis against the cloud's own OpenAPI schema: no generated request gets a 500.

A real uvicorn serves the app (SQLite store, MQTT off) on a free loopback
port; schemathesis reads /openapi.json from it and, for every operation,
sends generated requests as the bootstrap admin: valid ones and invalid ones
(schemathesis's positive and negative modes), and, through the hooks below,
requests with a query value past 64 bits or a body with a raw NaN, infinity,
invalid UTF-8 or 21-digit integer planted (issue 14's cases, which the run
missed while it generated valid data only). Every answer must be below 500,
declare a content type the schema lists, and match the schema: errors too,
which the schema documents as ProblemResponse for every operation
(cloud/api/errors.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import content_type_conformance, not_a_server_error, response_schema_conformance

from furrow.cloud import create_app
from tests.cloud_support import ADMIN, local_settings
from tests.fuzz_api import HOSTILE_QUERY, HOSTILE_TOKENS, hostile_json
from tests.http_support import UvicornThread

EXAMPLES_PER_OPERATION = 30


@pytest.fixture(scope="module")
def api(tmp_path_factory) -> Iterator[UvicornThread]:
    with UvicornThread(create_app(local_settings(tmp_path_factory.mktemp("schemathesis")))) as server:
        yield server


# The schema as the app generates it (building the app opens nothing); requests go to the real server.
SCHEMA = schemathesis.openapi.from_dict(create_app(local_settings(Path("unused"))).openapi())
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]


@SCHEMA.hook
def flatmap_query(ctx, query):
    """Now and then one query value becomes a hostile one: past 64 bits, 1e999999, NaN."""
    if not query:
        return st.just(query)
    hostile = st.tuples(st.sampled_from(sorted(query)), st.sampled_from(HOSTILE_QUERY)).map(
        lambda pick: {**query, pick[0]: pick[1]})
    return st.one_of(st.just(query), hostile)


@SCHEMA.hook
def flatmap_body(ctx, body):
    """Now and then the JSON body is sent as bytes with a raw NaN, infinity, invalid UTF-8 or an
    integer past 64 bits planted in one value (what json.dumps cannot write)."""
    if not isinstance(body, dict | list):
        return st.just(body)
    planted = st.tuples(st.sampled_from(sorted(HOSTILE_TOKENS)), st.randoms(use_true_random=False)).map(
        lambda pick: hostile_json(body, pick[0], pick[1]))
    return st.one_of(st.just(body), planted)


def streams(operation) -> bool:
    """True for an operation answering with a server-sent event stream."""
    return "text/event-stream" in operation.definition.raw["responses"].get("200", {}).get("content", {})


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.label)
def test_no_generated_request_gets_a_server_error(operation, api):
    """Each operation answers generated requests without a 5xx, in a documented content type and shape."""

    @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=st.one_of(operation.as_strategy(GenerationMode.POSITIVE),
                          operation.as_strategy(GenerationMode.NEGATIVE)))
    def check(case) -> None:
        if streams(operation):  # server-sent events: the answer never ends, so only its status is checked
            with httpx.stream(case.method, api.url + case.formatted_path, params=case.query, headers=ADMIN,
                              timeout=30) as r:
                assert r.status_code < 500, f"{case.method} {case.formatted_path} {case.query}: {r.status_code}"
            return
        response = case.call(base_url=api.url, headers=ADMIN, timeout=30)
        # every answer, errors included, matches the schema: errors are ProblemResponse everywhere
        case.validate_response(response, checks=[not_a_server_error, content_type_conformance,
                                                 response_schema_conformance])

    check()
