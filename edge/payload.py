"""Uplink payloads: one report from one node, in JSON or compact binary.

A payload is a dict:

    {"v": "1.0", "node": "soil-01", "role": "soil", "seq": 42,
     "ts_ms": 1767225600000, "fw": "0.1.0", "bat_v": 3.71, "rssi_dbm": -67,
     "readings": [{"name": "vwc_pct", "value": 23.4, "unit": "%", "depth_cm": 10},
                  {"name": "soil_temp_c", "value": None, "unit": "degC",
                   "depth_cm": 10, "fault": "disconnected"}]}

(node, seq) identifies a report everywhere: seq grows by one per report and
survives reboots, so the gateway and cloud store each report once and can
see gaps. A reading without a valid value has value None and a fault code.
"""

import json
import struct

from . import CONTRACT_MAJOR, CONTRACT_MINOR, CONTRACT_VERSION
from .crc import crc16_modbus
from .errors import ContractError
from .measurements import (
    FAULT_BY_CODE,
    FAULTS,
    MEASUREMENT_BY_CODE,
    MEASUREMENTS,
    ROLE_BY_CODE,
    ROLES,
    quantise,
)
from .topics import check_id
from .version import check_version

SEQ_MAX = 0xFFFFFFFF
# Timestamps stop before the year 2255: InfluxDB keeps nanoseconds in an
# int64, which ends in 2262, and a time past that fails a whole write.
TS_MS_MAX = 9000000000000
MAX_READINGS = 64
DEPTH_MAX_CM = 1000
CHANNEL_MAX = 254

BINARY_MAGIC = 0xF7
_HEADER = "<BBBBIQHbBBBB"  # magic ver role flags seq ts_ms bat_mv rssi fw(3) node_len
_HEADER_SIZE = struct.calcsize(_HEADER)
_READING = "<BHBBi"  # code depth_cm channel fault value*10^decimals
_READING_SIZE = struct.calcsize(_READING)
_NO_DEPTH = 0xFFFF
_NO_CHANNEL = 0xFF
_FLAG_BAT = 1
_FLAG_RSSI = 2


def _is_int(x):
    return isinstance(x, int) and not isinstance(x, bool)


def _is_number(x):
    return (isinstance(x, int) or isinstance(x, float)) and not isinstance(x, bool)


def make_reading(name, value=None, depth_cm=None, channel=None, fault=None):
    """Build one reading; exactly one of `value` and `fault` is given."""
    reading = {"name": name, "value": value}
    if depth_cm is not None:
        reading["depth_cm"] = depth_cm
    if channel is not None:
        reading["channel"] = channel
    if fault is not None:
        reading["fault"] = fault
    return validate_reading(reading, "reading")


def validate_reading(r, path):
    """Return the canonical form of one reading or raise ContractError."""
    if not isinstance(r, dict):
        raise ContractError(path, r, "must be an object")
    name = r.get("name")
    if not isinstance(name, str) or name not in MEASUREMENTS:  # a list or dict is unhashable
        raise ContractError(path + ".name", name, "unknown measurement")
    code, unit, lo, hi, decimals, role = MEASUREMENTS[name]
    out = {"name": name, "unit": unit}
    if "unit" in r and r["unit"] != unit:
        raise ContractError(path + ".unit", r["unit"], "%s is measured in %s" % (name, unit))
    depth = r.get("depth_cm")
    if depth is not None:
        if not _is_int(depth) or not 0 <= depth <= DEPTH_MAX_CM:
            raise ContractError(path + ".depth_cm", depth, "must be an integer 0..%d" % DEPTH_MAX_CM)
        out["depth_cm"] = depth
    channel = r.get("channel")
    if channel is not None:
        if not _is_int(channel) or not 1 <= channel <= CHANNEL_MAX:
            raise ContractError(path + ".channel", channel, "must be an integer 1..%d" % CHANNEL_MAX)
        out["channel"] = channel
    fault = r.get("fault")
    value = r.get("value")
    if fault is not None:
        if not isinstance(fault, str) or fault not in FAULTS:
            raise ContractError(path + ".fault", fault, "unknown fault code; one of %s" % sorted(FAULTS))
        if value is not None:
            raise ContractError(path + ".value", value, "a reading with a fault carries no value")
        out["value"] = None
        out["fault"] = fault
        return out
    if not _is_number(value) or value != value:
        raise ContractError(path + ".value", value, "must be a number, or null with a fault code")
    if not lo <= value <= hi:
        raise ContractError(path + ".value", value, "outside %s's physical range %s..%s %s" % (name, lo, hi, unit))
    out["value"] = quantise(name, value)
    return out


def make_uplink(node, role, seq, ts_ms, readings, fw, bat_v=None, rssi_dbm=None):
    """Build a validated uplink payload (see the module docstring)."""
    return validate_uplink(
        {
            "v": CONTRACT_VERSION,
            "node": node,
            "role": role,
            "seq": seq,
            "ts_ms": ts_ms,
            "fw": fw,
            "bat_v": bat_v,
            "rssi_dbm": rssi_dbm,
            "readings": readings,
        }
    )


def _check_fw(fw):
    parts = fw.split(".") if isinstance(fw, str) else []
    if len(parts) != 3 or not all(p.isdigit() and int(p) < 256 for p in parts):
        raise ContractError("fw", fw, 'must be "MAJOR.MINOR.PATCH" with each part 0..255')
    return fw


def validate_uplink(p):
    """Return the canonical form of an uplink payload or raise ContractError.

    Keys this version does not know are dropped (a newer minor may add some).
    """
    if not isinstance(p, dict):
        raise ContractError("payload", p, "must be an object")
    check_version(p.get("v"))
    node = check_id("node", p.get("node"))
    role = p.get("role")
    if not isinstance(role, str) or role not in ROLES:
        raise ContractError("role", role, "unknown role; one of %s" % sorted(ROLES))
    seq = p.get("seq")
    if not _is_int(seq) or not 0 <= seq <= SEQ_MAX:
        raise ContractError("seq", seq, "must be an integer 0..%d" % SEQ_MAX)
    ts_ms = p.get("ts_ms")
    if not _is_int(ts_ms) or not 0 <= ts_ms <= TS_MS_MAX:
        raise ContractError("ts_ms", ts_ms, "must be Unix time in milliseconds, 0..%d (before 2255)" % TS_MS_MAX)
    fw = _check_fw(p.get("fw"))
    bat_v = p.get("bat_v")
    if bat_v is not None:
        if not _is_number(bat_v) or not 0 <= bat_v <= 65.535:
            raise ContractError("bat_v", bat_v, "must be volts 0..65.535 or null")
        bat_v = int(round(bat_v * 1000)) / 1000
    rssi = p.get("rssi_dbm")
    if rssi is not None and (not _is_int(rssi) or not -128 <= rssi <= 0):
        raise ContractError("rssi_dbm", rssi, "must be an integer -128..0 dBm or null")
    readings = p.get("readings")
    if not isinstance(readings, list) or len(readings) > MAX_READINGS:
        raise ContractError("readings", readings, "must be a list of at most %d readings" % MAX_READINGS)
    out_readings = []
    seen = []
    for i, r in enumerate(readings):
        checked = validate_reading(r, "readings.%d" % i)
        if MEASUREMENTS[checked["name"]][5] != role:
            raise ContractError("readings.%d.name" % i, checked["name"], "not a measurement of a %s node" % role)
        # one value per sensor per report: a repeat would make stores disagree
        key = (checked["name"], checked.get("depth_cm"), checked.get("channel"))
        if key in seen:
            raise ContractError("readings.%d" % i, key, "repeats an earlier reading of the same sensor")
        seen.append(key)
        out_readings.append(checked)
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


def encode_json(p):
    """Encode a payload as UTF-8 JSON bytes (validating it first)."""
    return json.dumps(validate_uplink(p)).encode()


def decode_json(data):
    """Decode and validate JSON bytes; errors name the field and value."""
    try:
        p = json.loads(data)
    except (ValueError, UnicodeError, RuntimeError) as e:
        # RuntimeError: nesting too deep for the parser (RecursionError on CPython)
        raise ContractError("payload", data[:40], "not valid JSON: %s" % e) from None
    return validate_uplink(p)


def encode_binary(p):
    """Encode a payload in the compact binary form (about 30 + 9 bytes per
    reading); the last two bytes are a CRC-16/MODBUS of the rest."""
    p = validate_uplink(p)
    node = p["node"].encode()
    flags = 0
    bat_mv = 0
    rssi = 0
    if p["bat_v"] is not None:
        flags |= _FLAG_BAT
        bat_mv = int(round(p["bat_v"] * 1000))
    if p["rssi_dbm"] is not None:
        flags |= _FLAG_RSSI
        rssi = p["rssi_dbm"]
    fw = [int(x) for x in p["fw"].split(".")]
    out = bytearray(
        struct.pack(
            _HEADER,
            BINARY_MAGIC,
            (CONTRACT_MAJOR << 4) | CONTRACT_MINOR,
            ROLES[p["role"]],
            flags,
            p["seq"],
            p["ts_ms"],
            bat_mv,
            rssi,
            fw[0],
            fw[1],
            fw[2],
            len(node),
        )
    )
    out.extend(node)
    out.append(len(p["readings"]))
    for r in p["readings"]:
        code = MEASUREMENTS[r["name"]][0]
        depth = r.get("depth_cm", _NO_DEPTH)
        channel = r.get("channel", _NO_CHANNEL)
        fault = r.get("fault")
        if fault is None:
            raw = int(round(r["value"] * 10 ** MEASUREMENTS[r["name"]][4]))
            out.extend(struct.pack(_READING, code, depth, channel, 0, raw))
        else:
            out.extend(struct.pack(_READING, code, depth, channel, FAULTS[fault], 0))
    out.extend(struct.pack("<H", crc16_modbus(out)))
    return bytes(out)


def decode_binary(data):
    """Decode and validate the compact binary form."""
    n = len(data)
    if n < _HEADER_SIZE + 3:
        raise ContractError("payload", n, "binary payload too short (%d bytes)" % n)
    (crc,) = struct.unpack("<H", data[n - 2 :])
    if crc16_modbus(data[: n - 2]) != crc:
        raise ContractError("crc", crc, "binary payload CRC mismatch: corrupted in transit")
    magic, ver, role_code, flags, seq, ts_ms, bat_mv, rssi, f0, f1, f2, node_len = struct.unpack(
        _HEADER, data[:_HEADER_SIZE]
    )
    if magic != BINARY_MAGIC:
        raise ContractError("magic", magic, "not a Furrow binary payload")
    version = "%d.%d" % (ver >> 4, ver & 15)
    check_version(version)
    pos = _HEADER_SIZE
    node = bytes(data[pos : pos + node_len])
    pos += node_len
    if pos >= n - 2:
        raise ContractError("payload", n, "binary payload truncated in the node id")
    count = data[pos]
    pos += 1
    if pos + count * _READING_SIZE != n - 2:
        raise ContractError("readings", count, "reading count does not match the payload length")
    readings = []
    for i in range(count):
        code, depth, channel, fault_code, raw = struct.unpack(_READING, data[pos : pos + _READING_SIZE])
        pos += _READING_SIZE
        name = MEASUREMENT_BY_CODE.get(code)
        if name is None:
            raise ContractError("readings.%d.name" % i, code, "unknown measurement code")
        r = {"name": name}
        if depth != _NO_DEPTH:
            r["depth_cm"] = depth
        if channel != _NO_CHANNEL:
            r["channel"] = channel
        if fault_code:
            fault = FAULT_BY_CODE.get(fault_code)
            if fault is None:
                raise ContractError("readings.%d.fault" % i, fault_code, "unknown fault code")
            r["fault"] = fault
            r["value"] = None
        else:
            r["value"] = raw / 10 ** MEASUREMENTS[name][4]
        readings.append(r)
    try:
        node_id = node.decode()
    except UnicodeError:
        raise ContractError("node", node, "node id is not UTF-8") from None
    role = ROLE_BY_CODE.get(role_code)
    if role is None:
        raise ContractError("role", role_code, "unknown role code")
    return validate_uplink(
        {
            "v": version,
            "node": node_id,
            "role": role,
            "seq": seq,
            "ts_ms": ts_ms,
            "fw": "%d.%d.%d" % (f0, f1, f2),
            "bat_v": bat_mv / 1000 if flags & _FLAG_BAT else None,
            "rssi_dbm": rssi if flags & _FLAG_RSSI else None,
            "readings": readings,
        }
    )


def decode(data):
    """Decode either encoding: JSON starts with '{', binary with the magic byte."""
    if not data:
        raise ContractError("payload", data, "empty payload")
    if data[0] == BINARY_MAGIC:
        return decode_binary(data)
    return decode_json(data)
