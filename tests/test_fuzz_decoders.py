"""The short fuzz run: every decoder at a trust boundary, and the HTTP API over every route, against
hypothesis-driven hostile input.

The generators are the ones bench/fuzz.py runs 100,000 times per decoder
(tests/fuzz_targets.py, tests/fuzz_files.py); here hypothesis drives them
through ``st.randoms()`` so a failure is shrunk to a small input.
Derandomized: the same examples on every run, so CI is stable.
"""

from __future__ import annotations

import collections
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from furrow.edge import payload
from furrow.edge.batch import validate_envelope, validate_item
from furrow.edge.errors import ContractError
from tests.fuzz_api import API_TARGET, HOSTILE_QUERY, HOSTILE_TOKENS, clean_reads, server
from tests.fuzz_files import FILE_TARGETS
from tests.fuzz_support import run_one
from tests.fuzz_targets import TARGETS, valid_batch, valid_uplink

EXAMPLES = {name: 250 for name in TARGETS} | {name: 60 for name in FILE_TARGETS}
FUZZ = settings(deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])


def fuzz(examples: int) -> settings:
    return settings(FUZZ, max_examples=examples)


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_decoder_rejects_hostile_input_with_a_reason_and_never_crashes(name):
    """Each decoder accepts its input or raises its documented rejection naming field and value; nothing else."""
    target = {**TARGETS, **FILE_TARGETS}[name]
    outcomes: set[str] = set()

    @fuzz(EXAMPLES[name])
    @given(st.randoms(use_true_random=False))
    def check(rng: random.Random) -> None:
        outcomes.add(run_one(target, target.generate(rng)).split(":")[0])

    check()
    assert outcomes == {"accepted", "rejected"}, f"{name}: the generator reached only {outcomes}"


API_EXAMPLES = 300


def test_the_api_refuses_hostile_requests_over_every_route_and_never_answers_5xx():
    """Requests over every route of the API with hostile parameters and bodies never get a 5xx or a
    closed connection, every error is in the one shape; the run plants each case issue 14 found
    answering 500 (a non-finite float, invalid UTF-8, an integer past 64 bits in a body, one past
    64 bits in a query), and each such body is refused 422 (tests/fuzz_api.py checks it). First, a
    clean read of every GET route over the fuzz farm's ids proves the server answers past its checks
    (the random stream's accepted share is not a floor: it moved from 15 to 43 of 300 between
    machines with the same seed, so it is only reported)."""
    labels: collections.Counter[str] = collections.Counter()

    @fuzz(API_EXAMPLES)
    @given(st.randoms(use_true_random=False))
    def check(rng: random.Random) -> None:
        labels[run_one(API_TARGET, API_TARGET.generate(rng))] += 1

    try:
        reads = {path: run_one(API_TARGET, ("GET", path, "", None, "application/json", True, ""))
                 for path in clean_reads()}
        check()
        # an integer past 64 bits in a query, planted where no path id comes first (the random stream
        # reaches one only by chance, and its reach moves whenever a route is added)
        labels[run_one(API_TARGET, ("GET", "/api/v1/audit", f"since_ms={HOSTILE_QUERY[1]}", None,
                                    "application/json", True, "int64-query"))] += 1
    finally:
        server().stop()
    answered = [p for p, label in reads.items() if label == "accepted"]
    assert len(reads) >= 40 and len(answered) >= 0.8 * len(reads), reads
    planted = {kind: labels[f"rejected:422 {kind}"] for kind in [*HOSTILE_TOKENS, "int64-query"]}
    assert all(planted.values()), f"the run did not reach every case: {planted}"
    assert labels["accepted"], labels.most_common(10)


@fuzz(200)
@given(st.randoms(use_true_random=False))
def test_valid_uplinks_round_trip_through_json_and_binary(rng):
    """A valid uplink decodes to itself from JSON and from the binary form."""
    up = valid_uplink(rng)
    assert payload.decode(payload.encode_json(up)) == up
    assert payload.decode(payload.encode_binary(up)) == up


@fuzz(100)
@given(st.randoms(use_true_random=False))
def test_a_valid_batch_has_no_rejected_item(rng):
    """The generator's valid batches pass the envelope and every item (so mutations are what gets rejected)."""
    b = valid_batch(rng)
    _, _, _, items = validate_envelope(b)
    for i, item in enumerate(items):
        validate_item(item, i)


@fuzz(300)
@given(st.binary(max_size=600))
def test_random_bytes_are_rejected_as_uplinks_with_a_reason(data):
    """Unstructured bytes: decode accepts nothing by accident and names what is wrong."""
    try:
        payload.decode(data)
    except ContractError as e:
        assert e.field and e.reason
