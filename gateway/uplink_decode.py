"""The gateway's decoder of node reports: the contract's answer, at a third of its CPU.

`decode_uplink(raw)` returns exactly what ``furrow.edge.payload.decode(raw)`` returns, or raises the
same ContractError. The contract (edge/payload.py) is plain Python that MicroPython runs too, and it
stays the one definition of a valid report. This module is CPython only: JSON is parsed with orjson,
and a report of the common shape is checked in one pass with the contract's own tables
(``furrow.uplink_check.check_uplink``, which the cloud's ingest uses too). Whatever that does not accept outright (a
binary report, JSON orjson cannot read, an unknown or bad value anywhere) goes to the contract itself,
which parses the bytes again, so every error, its field and its value are the contract's.
tests/test_edge_payload.py checks the two agree, byte for byte of the stored row, on generated
reports and on broken ones.

Why: decoding was 27 % of the gateway's CPU while it ingested (json.loads 10 %, the contract's
checks 17 %; docs/performance.md). orjson reads JSON in a third of json.loads' time; only a report
orjson reads is checked here, so `json.loads`' extras (NaN and Infinity tokens, UTF-16 input, lone
surrogates, numbers past 64 bits) always take the contract's path.
"""

from __future__ import annotations

from typing import Any

import orjson

from furrow.edge.payload import BINARY_MAGIC, decode
from furrow.uplink_check import check_uplink


def decode_uplink(raw: bytes) -> dict[str, Any]:
    """A node's report decoded and checked: the contract's result (edge/payload.py `decode`), or its
    ContractError naming the field and the value."""
    if not raw or raw[0] == BINARY_MAGIC:
        return decode(raw)
    try:
        p = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return decode(raw)  # the contract's error, or what json.loads reads and orjson does not
    checked = check_uplink(p)
    # Not plainly valid: the contract reads the bytes again itself (orjson reads an integer past
    # 64 bits as a float, so its parse must not reach the contract's error message).
    return checked if checked is not None else decode(raw)
