"""The contract's checks of a report, in one pass on CPython: the gateway's decode and the cloud's ingest.

`check_uplink(p)` returns exactly what ``furrow.edge.payload.validate_uplink(p)`` returns for a report of
the common, valid shape, and None for anything else: a wrong type or value anywhere, an unknown key
value, a repeated sensor. `check_item(item)` does the same for a batch item against
``furrow.edge.batch.validate_item``. None never means "refused": the caller then asks the contract
itself, so every refusal, its field, its value and its reason are the contract's (edge/ stays the one
definition of a valid report, the same file MicroPython runs).

`p` must be what a JSON parser makes (dict, list, str, int, float, bool, None): the checks compare exact
types (``type(x) is int``), which is how the contract's ``isinstance`` checks read on those.

Why: the contract's checks are plain Python written for MicroPython, a call and a dict per reading;
this pass does the same checks with the contract's tables (MEASUREMENTS, FAULTS, ROLES) and its
quantisation inline, about 2.5 times faster. They were 27 % of the gateway's CPU while it ingested and
a quarter of the cloud worker's (docs/performance.md). tests/test_edge_payload.py and
tests/test_cloud_item_check.py check on generated reports and items that both give the same answer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from furrow.edge import CONTRACT_VERSION
from furrow.edge.batch import MAX_FLAGS
from furrow.edge.errors import ContractError
from furrow.edge.measurements import FAULTS, MEASUREMENTS, ROLES
from furrow.edge.payload import CHANNEL_MAX, DEPTH_MAX_CM, MAX_READINGS, SEQ_MAX, TS_MS_MAX, _check_fw
from furrow.edge.position import POSITIONS_KIND
from furrow.edge.topics import check_id
from furrow.edge.version import check_version

# Strings the contract has accepted, by kind (versions, node ids, firmware versions): its checks are
# pure, so a string that passed once passes again. Bounded: a kind's set is cleared past this size.
_KNOWN_MAX = 4096
_versions: set[str] = set()
_nodes: set[str] = set()
_firmwares: set[str] = set()
# Quantised values by resolution (10 ** decimals): value -> the contract's ``quantise``, which depends on
# the number alone, so values that compare equal (1 and 1.0, -0.0 and 0.0) rightly share an entry.
# Readings repeat their values (a tenth of a percent, of a degree); bounded like the sets above.
_QUANTISED: dict[int, dict[float, float]] = {}
_QUANTISED_MAX = 65_536
# name -> (unit, lo, hi, 10 ** decimals, role, the quantised values at that resolution), from the contract's table
_MEASURES = {name: (unit, lo, hi, 10**decimals, role, _QUANTISED.setdefault(10**decimals, {}))
             for name, (_c, unit, lo, hi, decimals, role) in MEASUREMENTS.items()}


def _check_node(value: str) -> None:
    check_id("node", value)


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


def check_item(item: Any) -> tuple[dict[str, Any], int | None, list[str]] | None:
    """``edge.batch.validate_item(item, index)``'s (uplink, rx_ms, flags) for a valid report item, or None
    when the contract must decide (anything not plainly valid, and every positions item)."""
    if type(item) is not dict:
        return None
    get = item.get
    rx_ms = get("rx_ms")
    if rx_ms is not None and (type(rx_ms) is not int or rx_ms < 0):
        return None
    flags = get("flags")
    if not flags:
        flags = []  # the contract reads any empty or false value as no flags
    elif type(flags) is not list or len(flags) > MAX_FLAGS or any(type(f) is not str for f in flags):
        return None
    if get("kind") == POSITIONS_KIND:
        return None
    uplink = check_uplink(item)
    return None if uplink is None else (uplink, rx_ms, flags)


def check_uplink(p: Any) -> dict[str, Any] | None:
    """``edge.payload.validate_uplink(p)``'s canonical form of `p`, or None when anything in it is not
    plainly valid: the contract decides."""
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
    measures = _MEASURES
    for r in readings:
        if type(r) is not dict:
            return None
        get = r.get
        name = get("name")
        m = measures.get(name) if type(name) is str else None
        if m is None:
            return None
        unit, lo, hi, scale, m_role, quantised = m
        if m_role != role:
            return None
        out = {"name": name, "unit": unit}
        if "unit" in r and r["unit"] != unit:
            return None
        depth = get("depth_cm")
        if depth is not None:
            if type(depth) is not int or not 0 <= depth <= DEPTH_MAX_CM:
                return None
            out["depth_cm"] = depth
        channel = get("channel")
        if channel is not None:
            if type(channel) is not int or not 1 <= channel <= CHANNEL_MAX:
                return None
            out["channel"] = channel
        fault = get("fault")
        value = get("value")
        if fault is not None:
            if type(fault) is not str or fault not in FAULTS or value is not None:
                return None
            out["value"] = None
            out["fault"] = fault
        else:
            if not (type(value) is float or type(value) is int) or not lo <= value <= hi:
                return None  # NaN fails the range too
            q = quantised.get(value)
            if q is None:
                q = int(round(value * scale)) / scale  # edge.measurements.quantise
                if len(quantised) >= _QUANTISED_MAX:
                    quantised.clear()
                quantised[value] = q
            out["value"] = q
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
