"""schemathesis against the cloud's own OpenAPI schema: no generated request gets a 500.

A real uvicorn serves the app (SQLite store, MQTT off) on a free loopback
port; schemathesis reads /openapi.json from it and, for every operation,
sends generated requests (valid and invalid, bounded per operation) as the
bootstrap admin. Every answer must be below 500, declare a content type the
schema lists, and match the schema where the operation documents that status.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import content_type_conformance, not_a_server_error, response_schema_conformance

from furrow.cloud import create_app
from tests.cloud_support import ADMIN, local_settings
from tests.http_support import UvicornThread

EXAMPLES_PER_OPERATION = 15


@pytest.fixture(scope="module")
def api(tmp_path_factory) -> Iterator[UvicornThread]:
    with UvicornThread(create_app(local_settings(tmp_path_factory.mktemp("schemathesis")))) as server:
        yield server


# The schema as the app generates it (building the app opens nothing); requests go to the real server.
SCHEMA = schemathesis.openapi.from_dict(create_app(local_settings(Path("unused"))).openapi())
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]


def streams(operation) -> bool:
    """True for an operation answering with a server-sent event stream."""
    return "text/event-stream" in operation.definition.raw["responses"].get("200", {}).get("content", {})


def assert_named_rejection(body: dict) -> None:
    """A 422 names what is wrong: FastAPI's list of field errors, or the contract's field, value and reason.

    (The generated schema documents only FastAPI's shape for 422; the contract's is ProblemResponse.)
    """
    detail = body["detail"]
    if isinstance(detail, list):
        assert detail and all(e["loc"] and e["msg"] for e in detail), body
    else:
        assert detail["field"] and detail["reason"] and "value" in detail, body


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.label)
def test_no_generated_request_gets_a_server_error(operation, api):
    """Each operation answers generated requests without a 5xx, in a documented content type and shape."""

    @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy())
    def check(case) -> None:
        if streams(operation):  # server-sent events: the answer never ends, so only its status is checked
            with httpx.stream(case.method, api.url + case.formatted_path, params=case.query, headers=ADMIN,
                              timeout=30) as r:
                assert r.status_code < 500, f"{case.method} {case.formatted_path} {case.query}: {r.status_code}"
            return
        response = case.call(base_url=api.url, headers=ADMIN, timeout=30)
        case.validate_response(response, checks=[not_a_server_error, content_type_conformance])
        if response.status_code == 422:
            assert_named_rejection(response.json())
        else:
            case.validate_response(response, checks=[response_schema_conformance])

    check()
