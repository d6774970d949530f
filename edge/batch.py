"""Batches: how a gateway forwards buffered reports to the cloud.

    {"v": "1.0", "site": "demo", "gateway": "gw-1", "batch_id": "gw-1-000042",
     "sent_ms": 1767225600000,
     "items": [<uplink payload> + {"rx_ms": 1767225599000, "flags": ["clock_corrected"]}, ...]}

The envelope is checked as a whole; items are checked one by one by the
receiver so that one bad item never costs the good ones. Each item keeps its
(node, seq) identity, which is the idempotency key the cloud stores once.
"""

import json

from . import CONTRACT_VERSION
from .errors import ContractError
from .payload import TS_MS_MAX, validate_uplink
from .topics import check_id
from .version import check_version

MAX_ITEMS = 5000
MAX_FLAGS = 8


def make_batch(site, gateway, batch_id, sent_ms, items):
    return {
        "v": CONTRACT_VERSION,
        "site": site,
        "gateway": gateway,
        "batch_id": batch_id,
        "sent_ms": sent_ms,
        "items": items,
    }


def make_item(uplink, rx_ms, flags=None):
    """An uplink as the gateway forwards it: with when it arrived and the
    quality flags the gateway set on it."""
    item = dict(uplink)
    item["rx_ms"] = rx_ms
    item["flags"] = list(flags or [])
    return item


def validate_envelope(b):
    """Check everything but the items; return (site, gateway, batch_id, items)."""
    if not isinstance(b, dict):
        raise ContractError("batch", b, "must be an object")
    check_version(b.get("v"))
    site = check_id("site", b.get("site"))
    gateway = check_id("gateway", b.get("gateway"))
    batch_id = b.get("batch_id")
    if not isinstance(batch_id, str) or not 1 <= len(batch_id) <= 80:
        raise ContractError("batch_id", batch_id, "must be a string of 1 to 80 characters")
    sent_ms = b.get("sent_ms")
    if isinstance(sent_ms, bool) or not isinstance(sent_ms, int) or not 0 <= sent_ms <= TS_MS_MAX:
        raise ContractError("sent_ms", sent_ms, "must be Unix time in milliseconds")
    items = b.get("items")
    if not isinstance(items, list) or len(items) > MAX_ITEMS:
        raise ContractError("items", items if not isinstance(items, list) else len(items),
                            "must be a list of at most %d items" % MAX_ITEMS)
    return site, gateway, batch_id, items


def validate_item(item, index):
    """Return (uplink, rx_ms, flags) for item `index`, or raise ContractError
    with the field path prefixed by items.<index>."""
    try:
        uplink = validate_uplink(item)
        rx_ms = item.get("rx_ms")
        if rx_ms is not None and (isinstance(rx_ms, bool) or not isinstance(rx_ms, int) or rx_ms < 0):
            raise ContractError("rx_ms", rx_ms, "must be Unix time in milliseconds or null")
        flags = item.get("flags") or []
        if not isinstance(flags, list) or len(flags) > MAX_FLAGS or not all(isinstance(f, str) for f in flags):
            raise ContractError("flags", flags, "must be a list of at most %d strings" % MAX_FLAGS)
    except ContractError as e:
        raise ContractError("items.%d.%s" % (index, e.field), e.value, e.reason) from None
    return uplink, rx_ms, flags


def encode_batch(b):
    return json.dumps(b).encode()


def decode_batch(data):
    """Parse JSON bytes and check the envelope; items are left to validate_item."""
    try:
        b = json.loads(data)
    except (ValueError, UnicodeError, RuntimeError) as e:
        # RuntimeError: nesting too deep for the parser (RecursionError on CPython)
        raise ContractError("batch", data[:40], "not valid JSON: %s" % e) from None
    validate_envelope(b)
    return b
