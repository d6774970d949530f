"""Authenticated commands (contract 1.1): the bytes the cloud signs, the node MAC.

A 1.1 command may carry these keys beside the 1.0 ones (a 1.0 reader drops
them and loses nothing):

    issued_ms  when the cloud signed it, Unix ms
    site, gateway  the gateway the command is routed through
    kid        id of the cloud key that signed it
    sig        Ed25519 signature over signed_bytes(cmd), 128 hex characters
    nmac       HMAC-SHA256 over node_mac_bytes(cmd) with the node's own key,
               its first NMAC_BYTES bytes, 32 hex characters

The gateway checks `sig` with the cloud's public keys (gateway/command_auth.py);
an irrigation node configured with a key checks `nmac` (Ed25519 costs a small
node too much; a SHA-256 HMAC it can afford). Both sides build the bytes with
the functions here, so they cannot disagree on them.

The encodings are sequences of netstrings (``<byte length>:<bytes>,``) after
a domain string, so no choice of field values can make two commands encode
alike, and a MAC for one purpose never verifies for another. A missing value
(``None``) is the empty string; integers are decimal.

The node MAC covers the times in whole seconds (not-before rounded up, expiry
down), exactly what the Modbus command mailbox carries, so a node checks the
same MAC whether the command came over MQTT or RS-485.

Plain Python that MicroPython runs: only ``hashlib.sha256`` (no binascii,
which costs a board kilobytes of heap on some ports).
"""

import hashlib

from .errors import ContractError
from .topics import check_id

SIG_DOMAIN = b"furrow-cmd-sig/1"
NMAC_DOMAIN = b"furrow-cmd-nmac/1"
SIG_BYTES = 64
NMAC_BYTES = 16
NODE_KEY_MIN = 16  # bytes of a node key, at least
NODE_KEY_MAX = 64
AUTH_FIELDS = ("issued_ms", "site", "gateway", "kid", "sig", "nmac")

# Refusal reasons start with one of these words and a colon, so a reader
# (the cloud, a dashboard) tells them apart without parsing the rest.
REFUSED_UNSIGNED = "unsigned"
REFUSED_SIGNATURE = "bad signature"
REFUSED_UNKNOWN_KEY = "unknown key"
REFUSED_REPLAYED = "replayed"
REFUSED_EXPIRED = "expired"
REFUSED_WRONG_GATEWAY = "wrong gateway"
REFUSED_NODE_MAC = "node mac"

_HEX = "0123456789abcdef"
_BLOCK = 64  # SHA-256 block size


def _netstring(value):
    if value is None:
        raw = b""
    elif isinstance(value, int):
        raw = str(value).encode()
    else:
        raw = value.encode()
    return str(len(raw)).encode() + b":" + raw + b","


def _encode(domain, values):
    parts = [_netstring(domain.decode())]
    for v in values:
        parts.append(_netstring(v))
    return b"".join(parts)


def _inject(cmd):
    # 1.5: a fertigate's dose and window, appended, so every other action's bytes stay as they were
    if cmd["action"] != "fertigate":
        return ()
    return (cmd["inject_ml"], cmd["inject_from_s"], cmd["inject_until_s"])


def signed_bytes(cmd):
    """What the cloud's Ed25519 signature covers: every field but `v` and `sig`."""
    return _encode(
        SIG_DOMAIN,
        (
            cmd["id"],
            cmd["node"],
            cmd["valve"],
            cmd["action"],
            cmd.get("duration_s"),
            cmd["max_runtime_s"],
            cmd["not_before_ms"],
            cmd["expires_ms"],
            cmd.get("issued_ms"),
            cmd.get("site"),
            cmd.get("gateway"),
            cmd.get("kid"),
            cmd.get("nmac"),
        ) + _inject(cmd),
    )


def node_mac_bytes(cmd):
    """What the node MAC covers: the command as the Modbus mailbox carries it."""
    duration = cmd.get("duration_s") if cmd["action"] in ("open", "fertigate") else None
    return _encode(
        NMAC_DOMAIN,
        (
            cmd["id"],
            cmd["node"],
            cmd["valve"],
            cmd["action"],
            duration,
            cmd["max_runtime_s"],
            (cmd["not_before_ms"] + 999) // 1000,
            cmd["expires_ms"] // 1000,
        ) + _inject(cmd),
    )


_last = [None]  # (key, inner pad, outer pad) of the last key, swapped whole


def hmac_sha256(key, msg):
    """HMAC-SHA256 (RFC 2104) from hashlib.sha256 alone: MicroPython boards
    ship sha256 but seldom an hmac module."""
    pads = _last[0]
    if pads is None or pads[0] != key:
        # A node has one key: its pads are made once, not per command.
        k = hashlib.sha256(key).digest() if len(key) > _BLOCK else key
        k = k + bytes(_BLOCK - len(k))
        pads = (key, bytes(b ^ 0x36 for b in k), bytes(b ^ 0x5C for b in k))
        _last[0] = pads
    inner = hashlib.sha256(pads[1])
    inner.update(msg)
    outer = hashlib.sha256(pads[2])
    outer.update(inner.digest())
    return outer.digest()


def _node_mac_raw(key, cmd):
    return hmac_sha256(key, node_mac_bytes(cmd))[:NMAC_BYTES]


def node_mac(key, cmd):
    """The `nmac` of a command for the node holding `key` (bytes)."""
    raw = _node_mac_raw(key, cmd)
    try:
        return raw.hex()
    except AttributeError:  # a port built without bytes.hex
        return "".join("%02x" % b for b in raw)


def _unhex(text):
    try:
        return bytes.fromhex(text)
    except AttributeError:  # a port built without bytes.fromhex
        return bytes(int(text[i:i + 2], 16) for i in range(0, len(text), 2))


def _same(a, b):
    # Compare without stopping at the first difference, so timing tells an
    # attacker nothing about how much of a guess was right.
    if len(a) != len(b):
        return False
    diff = 0
    for i in range(len(a)):
        diff |= a[i] ^ b[i]
    return diff == 0


def check_node_mac(key, cmd):
    """None when `cmd` carries the right nmac for `key`, else the refusal reason."""
    given = cmd.get("nmac")
    if given is None:
        return "%s: the command carries no nmac and this node requires one" % REFUSED_NODE_MAC
    if not _same(_unhex(given), _node_mac_raw(key, cmd)):
        return "%s: nmac does not match the command (tampered, or made with another key)" % REFUSED_NODE_MAC
    return None


def parse_node_key(field, value):
    """A node key given as hex (32..128 characters) -> bytes; ContractError naming `field`."""
    if not isinstance(value, str) or not NODE_KEY_MIN * 2 <= len(value) <= NODE_KEY_MAX * 2 or len(value) % 2:
        raise ContractError(field, "<hidden>", "must be %d..%d hex digits (an even number)"
                            % (NODE_KEY_MIN * 2, NODE_KEY_MAX * 2))
    for ch in value.lower():
        if ch not in _HEX:
            raise ContractError(field, "<hidden>", "must be hex digits only")
    return _unhex(value.lower())


def _check_hex(field, value, n_bytes):
    if not isinstance(value, str) or len(value) != 2 * n_bytes:
        raise ContractError(field, value, "must be %d lowercase hex digits" % (2 * n_bytes))
    for ch in value:
        if ch not in _HEX:
            raise ContractError(field, value, "must be %d lowercase hex digits" % (2 * n_bytes))
    return value


def validate_auth(c, out):
    """Copy the 1.1 authentication keys present in `c` into `out`, checked."""
    issued = c.get("issued_ms")
    if issued is not None:
        if not isinstance(issued, int) or isinstance(issued, bool) or issued < 0:
            raise ContractError("issued_ms", issued, "must be Unix time in milliseconds")
        out["issued_ms"] = issued
    for key in ("site", "gateway", "kid"):
        value = c.get(key)
        if value is not None:
            out[key] = check_id(key, value)
    if c.get("sig") is not None:
        out["sig"] = _check_hex("sig", c.get("sig"), SIG_BYTES)
    if c.get("nmac") is not None:
        out["nmac"] = _check_hex("nmac", c.get("nmac"), NMAC_BYTES)
    return out


def refusal_kind(reason):
    """The refusal word a rejected ack's reason starts with, or None."""
    if not isinstance(reason, str):
        return None
    for kind in (REFUSED_UNSIGNED, REFUSED_SIGNATURE, REFUSED_UNKNOWN_KEY, REFUSED_REPLAYED, REFUSED_EXPIRED,
                 REFUSED_WRONG_GATEWAY, REFUSED_NODE_MAC):
        if reason.startswith(kind + ":"):
            return kind
    return None
