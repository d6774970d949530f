"""Positions of a machine's GNSS tracker: a batch of fixes in one compact binary message.

The tracker node (firmware/tracker_node.py) builds these messages and publishes them on its
``node/{node}/up`` topic like any report (the first byte, POSITION_MAGIC, tells them apart); the
gateway keeps each in its durable buffer and forwards it in its batches as a positions item (contract
1.6, below), and the cloud stores its fixes once per (node, seq) as the machine's live track.

A tracker reports about once a second at work, so each message carries up to MAX_FIXES fixes of one
node, identified like every uplink by (node, seq): a retried message is the same message, stored
once. Positions travel as integers of 1e-7 degree (``lat_e7``, ``lon_e7``): a measurement value goes
through the board's single-precision float (~7 digits, 0.5 m), a position must not.

Binary layout, little-endian, CRC-16/MODBUS of everything before it at the end::

    header  <BBIQB   magic 0xF9, version (major << 4 | minor), seq u32, t0_ms u64, node_len u8
            node     node_len bytes (ASCII id)
            <B       fix count 1..MAX_FIXES
    fix     <HiiHHBBB dt_ms u16 (from t0_ms), lat_e7 i32, lon_e7 i32, speed_cms u16,
                      course_d10 u16 (0..3599, 0xFFFF none), quality u8 (GGA 0..8, 0xFF unknown),
                      sats u8 (0xFF unknown), flags u8 (FLAG_VALID, FLAG_IMPLEMENT_DOWN, FLAG_ENGINE_ON)

So a message spans at most 65.535 s (dt_ms) and costs 16 + len(node) + 17 per fix + 2 bytes. The
decoded form is a dict: {"node", "seq", "fixes": [{"t_ms", "lat_e7", "lon_e7", "speed_cms",
"course_d10", "quality", "sats", "valid", "implement_down", "engine_on"}]}, None for unknown values.

In a gateway's batch (edge/batch.py, contract 1.6) a message travels as a positions item, its fixes as
arrays to keep a 500-item batch small (about 50 bytes a fix in JSON)::

    {"v": "1.6", "kind": "positions", "node": "trk-1", "seq": 7, "ts_ms": <first fix's t_ms>,
     "fixes": [[t_ms, lat_e7, lon_e7, speed_cms, course_d10|null, quality|null, sats|null, flags], ...],
     "rx_ms": ..., "flags": [...]}

A 1.5 cloud refuses such an item one by one (it has no role): upgrade the cloud before the gateway.
"""

import struct

from . import CONTRACT_MAJOR, CONTRACT_MINOR, CONTRACT_VERSION
from .crc import crc16_modbus
from .errors import ContractError
from .topics import check_id
from .version import check_version

POSITION_MAGIC = 0xF9
MAX_FIXES = 60
FLAG_VALID = 1
FLAG_IMPLEMENT_DOWN = 2
FLAG_ENGINE_ON = 4
_HEAD = "<BBIQB"
_HEAD_SIZE = struct.calcsize(_HEAD)
_FIX = "<HiiHHBBB"
_FIX_SIZE = struct.calcsize(_FIX)
_NONE8 = 0xFF
_NONE16 = 0xFFFF
_SEQ_MAX = 0xFFFFFFFF
_TS_MAX = 9000000000000
POSITIONS_KIND = "positions"
ITEM_FIELDS = ("t_ms", "lat_e7", "lon_e7", "speed_cms", "course_d10", "quality", "sats", "flags")


def _int(value, lo, hi, field):
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise ContractError(field, value, "must be an integer %d..%d" % (lo, hi))
    return value


def _optional(value, lo, hi, field, none):
    return none if value is None else _int(value, lo, hi, field)


def encode_positions(node, seq, fixes):
    """The binary message of `fixes` (dicts as in the module docstring, in time order) from `node`,
    or ContractError naming the fix and field that breaks the contract."""
    check_id("node", node)
    _int(seq, 0, _SEQ_MAX, "seq")
    if not isinstance(fixes, (list, tuple)) or not 1 <= len(fixes) <= MAX_FIXES:
        raise ContractError("fixes", None if not isinstance(fixes, (list, tuple)) else len(fixes),
                            "must hold 1..%d fixes" % MAX_FIXES)
    t0 = _int(fixes[0].get("t_ms"), 0, _TS_MAX, "fixes.0.t_ms")
    node_b = node.encode()
    out = bytearray(struct.pack(_HEAD, POSITION_MAGIC, (CONTRACT_MAJOR << 4) | CONTRACT_MINOR, seq, t0,
                                len(node_b)))
    out.extend(node_b)
    out.append(len(fixes))
    for i, f in enumerate(fixes):
        path = "fixes.%d." % i
        dt = _int(f.get("t_ms"), t0, t0 + _NONE16, path + "t_ms") - t0
        flags = (FLAG_VALID if f.get("valid") else 0) | (FLAG_IMPLEMENT_DOWN if f.get("implement_down") else 0) | (
            FLAG_ENGINE_ON if f.get("engine_on") else 0)
        out.extend(struct.pack(
            _FIX, dt, _int(f.get("lat_e7"), -900000000, 900000000, path + "lat_e7"),
            _int(f.get("lon_e7"), -1800000000, 1800000000, path + "lon_e7"),
            _optional(f.get("speed_cms"), 0, _NONE16 - 1, path + "speed_cms", 0),
            _optional(f.get("course_d10"), 0, 3599, path + "course_d10", _NONE16),
            _optional(f.get("quality"), 0, 8, path + "quality", _NONE8),
            _optional(f.get("sats"), 0, 99, path + "sats", _NONE8), flags))
    out.extend(struct.pack("<H", crc16_modbus(out)))
    return bytes(out)


def decode_positions(data):
    """The dict form of a binary positions message, or ContractError saying what is wrong with it."""
    if not isinstance(data, (bytes, bytearray)) or len(data) < _HEAD_SIZE + 3:
        raise ContractError("positions", None, "too short for a positions message")
    if struct.unpack("<H", data[-2:])[0] != crc16_modbus(data[:-2]):
        raise ContractError("positions.crc", None, "does not match: the message was damaged")
    magic, ver, seq, t0, node_len = struct.unpack(_HEAD, data[:_HEAD_SIZE])
    if magic != POSITION_MAGIC:
        raise ContractError("positions.magic", magic, "is not a positions message")
    if ver >> 4 != CONTRACT_MAJOR:
        raise ContractError("positions.v", "%d.%d" % (ver >> 4, ver & 15), "another contract major version")
    at = _HEAD_SIZE + node_len
    if len(data) < at + 3:
        raise ContractError("positions", None, "too short for its node id")
    try:
        node = check_id("node", bytes(data[_HEAD_SIZE:at]).decode())
    except UnicodeError:
        raise ContractError("node", None, "is not ASCII") from None
    count = data[at]
    at += 1
    if not 1 <= count <= MAX_FIXES or len(data) != at + count * _FIX_SIZE + 2:
        raise ContractError("positions.fixes", count, "count does not match the message's length")
    fixes = []
    for i in range(count):
        dt, lat, lon, speed, course, quality, sats, flags = struct.unpack_from(_FIX, data, at + i * _FIX_SIZE)
        if not -900000000 <= lat <= 900000000 or not -1800000000 <= lon <= 1800000000:
            raise ContractError("fixes.%d" % i, (lat, lon), "is not a position on Earth")
        fixes.append({"t_ms": t0 + dt, "lat_e7": lat, "lon_e7": lon, "speed_cms": speed,
                      "course_d10": None if course == _NONE16 else course,
                      "quality": None if quality == _NONE8 else quality, "sats": None if sats == _NONE8 else sats,
                      "valid": bool(flags & FLAG_VALID), "implement_down": bool(flags & FLAG_IMPLEMENT_DOWN),
                      "engine_on": bool(flags & FLAG_ENGINE_ON)})
    return {"node": node, "seq": seq, "fixes": fixes}


def _flags(f):
    return (FLAG_VALID if f.get("valid") else 0) | (FLAG_IMPLEMENT_DOWN if f.get("implement_down") else 0) | (
        FLAG_ENGINE_ON if f.get("engine_on") else 0)


def positions_item(msg):
    """The batch-item form (module docstring) of a decoded positions message."""
    return {"v": CONTRACT_VERSION, "kind": POSITIONS_KIND, "node": msg["node"], "seq": msg["seq"],
            "ts_ms": msg["fixes"][0]["t_ms"],
            "fixes": [[f["t_ms"], f["lat_e7"], f["lon_e7"], f["speed_cms"], f["course_d10"], f["quality"], f["sats"],
                       _flags(f)] for f in msg["fixes"]]}


def is_positions(item):
    """Whether a batch item is a positions item (else it is a report of readings)."""
    return isinstance(item, dict) and item.get("kind") == POSITIONS_KIND


_ITEM_RANGES = ((0, _TS_MAX), (-900000000, 900000000), (-1800000000, 1800000000), (0, _NONE16 - 1), (0, 3599),
                (0, 8), (0, 99), (0, 7))


def validate_positions_item(p):
    """The canonical form of a positions item (module docstring), or ContractError naming the field:
    fixes.<i>.<name> for a fix, whose times must not go backwards."""
    if not isinstance(p, dict):
        raise ContractError("item", p, "must be an object")
    check_version(p.get("v"))
    node = check_id("node", p.get("node"))
    seq = _int(p.get("seq"), 0, _SEQ_MAX, "seq")
    fixes = p.get("fixes")
    if not isinstance(fixes, list) or not 1 <= len(fixes) <= MAX_FIXES:
        raise ContractError("fixes", None if not isinstance(fixes, list) else len(fixes),
                            "must be a list of 1..%d fixes" % MAX_FIXES)
    out = []
    last = 0
    for i, f in enumerate(fixes):
        if not isinstance(f, list) or len(f) != len(ITEM_FIELDS):
            raise ContractError("fixes.%d" % i, f, "must be [%s]" % ", ".join(ITEM_FIELDS))
        row = []
        for k, (lo, hi) in enumerate(_ITEM_RANGES):
            name = "fixes.%d.%s" % (i, ITEM_FIELDS[k])
            row.append(f[k] if f[k] is None and ITEM_FIELDS[k] in ("course_d10", "quality", "sats")
                       else _int(f[k], lo, hi, name))
        if row[0] < last:
            raise ContractError("fixes.%d.t_ms" % i, row[0], "is before the previous fix's time")
        last = row[0]
        out.append(row)
    return {"v": CONTRACT_VERSION, "kind": POSITIONS_KIND, "node": node, "seq": seq, "ts_ms": out[0][0],
            "fixes": out}
