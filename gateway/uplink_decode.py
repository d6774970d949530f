"""The gateway's decoder of node reports: the contract's answer, at a third of its CPU.

`decode_uplink(raw)` returns exactly what ``furrow.edge.payload.decode(raw)`` returns, or raises the
same ContractError. The contract (edge/payload.py) is plain Python that MicroPython runs too, and it
stays the one definition of a valid report. This module is CPython only: JSON is parsed with orjson,
and a report of the common shape is checked by `_fast` in one pass with the contract's own tables
(MEASUREMENTS, FAULTS, ROLES) and its quantisation. Whatever `_fast` does not accept outright (a
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

from collections.abc import Callable
from typing import Any

import orjson

from furrow.edge import CONTRACT_VERSION
from furrow.edge.errors import ContractError
from furrow.edge.measurements import FAULTS, MEASUREMENTS, ROLES
from furrow.edge.payload import (
    BINARY_MAGIC,
    CHANNEL_MAX,
    DEPTH_MAX_CM,
    MAX_READINGS,
    SEQ_MAX,
    TS_MS_MAX,
    _check_fw,
    decode,
)
from furrow.edge.topics import check_id
from furrow.edge.version import check_version

# Strings the contract has accepted, by kind (versions, node ids, firmware versions): its checks are
# pure, so a string that passed once passes again. Bounded: a kind's set is cleared past this size.
_KNOWN_MAX = 4096
_versions: set[str] = set()
_nodes: set[str] = set()
_firmwares: set[str] = set()
# name -> (unit, lo, hi, 10 ** decimals, role), from the contract's table
_MEASURES = {name: (unit, lo, hi, 10**decimals, role) for name, (_c, unit, lo, hi, decimals, role) in
             MEASUREMENTS.items()}


def _check_node(value: str) -> None:
    check_id("node", value)


def decode_uplink(raw: bytes) -> dict[str, Any]:
    """A node's report decoded and checked: the contract's result (edge/payload.py `decode`), or its
    ContractError naming the field and the value."""
    if not raw or raw[0] == BINARY_MAGIC:
        return decode(raw)
    try:
        p = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return decode(raw)  # the contract's error, or what json.loads reads and orjson does not
    checked = _fast(p)
    # Not plainly valid: the contract reads the bytes again itself (orjson reads an integer past
    # 64 bits as a float, so its parse must not reach the contract's error message).
    return checked if checked is not None else decode(raw)


def _passes(known: set[str], value: object, check: Callable[[Any], object]) -> bool:
    """Whether `value` is a string `check` accepts (remembered in `known` once it has)."""
    if type(value) is not str:
        return False
    if value in known:
        return True
    try:
        check(value)
    except ContractError:
        return False
    if len(known) >= _KNOWN_MAX:
        known.clear()
    known.add(value)
    return True


def _fast(p: Any) -> dict[str, Any] | None:
    """The contract's canonical form of `p` (parsed by orjson, so only dict, list, str, int, float,
    bool and None occur), or None when anything in it is not plainly valid: the contract decides."""
    if type(p) is not dict:
        return None
    get = p.get
    role = get("role")
    seq = get("seq")
    ts_ms = get("ts_ms")
    bat_v = get("bat_v")
    rssi = get("rssi_dbm")
    readings = get("readings")
    node = get("node")
    fw = get("fw")
    if not (
        _passes(_versions, get("v"), check_version)
        and _passes(_nodes, node, _check_node)
        and type(role) is str and role in ROLES
        and type(seq) is int and 0 <= seq <= SEQ_MAX
        and type(ts_ms) is int and 0 <= ts_ms <= TS_MS_MAX
        and _passes(_firmwares, fw, _check_fw)
        and (rssi is None or (type(rssi) is int and -128 <= rssi <= 0))
        and type(readings) is list and len(readings) <= MAX_READINGS
    ):
        return None
    if bat_v is not None:
        if not ((type(bat_v) is float or type(bat_v) is int) and 0 <= bat_v <= 65.535):
            return None
        bat_v = int(round(bat_v * 1000)) / 1000
    out_readings = []
    seen = set()
    for r in readings:
        if type(r) is not dict:
            return None
        name = r.get("name")
        m = _MEASURES.get(name) if type(name) is str else None
        if m is None:
            return None
        unit, lo, hi, scale, m_role = m
        if m_role != role:
            return None
        out = {"name": name, "unit": unit}
        if "unit" in r and r["unit"] != unit:
            return None
        depth = r.get("depth_cm")
        if depth is not None:
            if type(depth) is not int or not 0 <= depth <= DEPTH_MAX_CM:
                return None
            out["depth_cm"] = depth
        channel = r.get("channel")
        if channel is not None:
            if type(channel) is not int or not 1 <= channel <= CHANNEL_MAX:
                return None
            out["channel"] = channel
        fault = r.get("fault")
        value = r.get("value")
        if fault is not None:
            if type(fault) is not str or fault not in FAULTS or value is not None:
                return None
            out["value"] = None
            out["fault"] = fault
        else:
            if not (type(value) is float or type(value) is int) or not lo <= value <= hi:
                return None  # NaN fails the range too
            out["value"] = int(round(value * scale)) / scale
        key = (name, depth, channel)
        if key in seen:
            return None
        seen.add(key)
        out_readings.append(out)
    return {
        "v": CONTRACT_VERSION,
        "node": node,
        "role": role,
        "seq": seq,
        "ts_ms": ts_ms,
        "fw": fw,
        "bat_v": bat_v,
        "rssi_dbm": rssi,
        "readings": out_readings,
    }
