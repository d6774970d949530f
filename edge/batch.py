"""Batches: how a gateway forwards buffered reports to the cloud, and the cloud's receipts.

    {"v": "1.0", "site": "demo", "gateway": "gw-1", "batch_id": "gw-1-000042",
     "sent_ms": 1767225600000,
     "items": [<uplink payload> + {"rx_ms": 1767225599000, "flags": ["clock_corrected"]}, ...],
                 (1.6: or a tracker's positions item, position.py)
     "gaps": [{"id": "gw-1-1767225600000-7", "node": "soil-01", "reason": "quota", "count": 65,
               "seqs": [[0, 64]], "first_ms": 1767225500000, "last_ms": 1767225590000}, ...]}

The envelope is checked as a whole; items are checked one by one by the
receiver so that one bad item never costs the good ones. Each item keeps its
(node, seq) identity, which is the idempotency key the cloud stores once.

Gaps (1.2) are the readings the gateway did not forward, per node and reason
(its buffer quota, a node's flood budget, the quarantine), with the seq ranges
when it knows them; each report has an id the cloud keeps it under once.

Once the cloud has stored a batch it answers with a receipt (1.2) on the
gateway's ``receipt`` topic (over HTTPS, the response):

    {"v": "1.2", "batch_id": "gw-1-000042", "status": "stored", "items": 500, "rejected": 0, "gaps": 1}

``refused`` instead of ``stored`` (with a ``reason``) says the envelope broke
the contract: sending it again would not help.
"""

import json

from . import CONTRACT_VERSION
from .errors import ContractError
from .payload import SEQ_MAX, TS_MS_MAX, validate_uplink
from .position import is_positions, validate_positions_item
from .topics import check_id
from .version import check_version

MAX_ITEMS = 5000
MAX_FLAGS = 8
MAX_GAPS = 1000
MAX_GAP_RANGES = 64
MAX_ID = 80

GAP_QUOTA = "quota"  # the buffer was full: oldest readings of the lowest priority went first
GAP_FLOOD = "flood"  # the node sent past its message budget
GAP_QUARANTINE = "quarantine"  # the report broke the contract and was kept aside
GAP_IMAGE_QUOTA = "image_quota"  # the image store was full: the oldest photo went (seqs: the camera's image seqs)
GAP_REASONS = (GAP_QUOTA, GAP_FLOOD, GAP_QUARANTINE, GAP_IMAGE_QUOTA)

RECEIPT_STORED = "stored"
RECEIPT_REFUSED = "refused"


def make_batch(site, gateway, batch_id, sent_ms, items):
    return {
        "v": CONTRACT_VERSION,
        "site": site,
        "gateway": gateway,
        "batch_id": batch_id,
        "sent_ms": sent_ms,
        "items": items,
    }


def make_gap(gap_id, node, reason, count, seqs, first_ms, last_ms):
    """A report of `count` readings of `node` (None when the input named none) that the gateway
    did not forward, why, their seq ranges ([[first, last], ...]; [] when unknown) and when."""
    return {"id": gap_id, "node": node, "reason": reason, "count": count,
            "seqs": [[a, b] for a, b in seqs], "first_ms": first_ms, "last_ms": last_ms}


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
    with the field path prefixed by items.<index>. A tracker's positions item (1.6, position.py)
    comes back in its own canonical form (``kind`` "positions"), a report as a checked uplink."""
    try:
        uplink = validate_positions_item(item) if is_positions(item) else validate_uplink(item)
        rx_ms = item.get("rx_ms")
        if rx_ms is not None and (isinstance(rx_ms, bool) or not isinstance(rx_ms, int) or rx_ms < 0):
            raise ContractError("rx_ms", rx_ms, "must be Unix time in milliseconds or null")
        flags = item.get("flags") or []
        if not isinstance(flags, list) or len(flags) > MAX_FLAGS or not all(isinstance(f, str) for f in flags):
            raise ContractError("flags", flags, "must be a list of at most %d strings" % MAX_FLAGS)
    except ContractError as e:
        raise ContractError("items.%d.%s" % (index, e.field), e.value, e.reason) from None
    return uplink, rx_ms, flags


def _int(value, low, high):
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _id(field, value):
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_ID:
        raise ContractError(field, value, "must be a string of 1 to %d characters" % MAX_ID)
    return value


def validate_gap(gap):
    """Return gap report `gap` checked (see make_gap), or raise ContractError naming its field."""
    if not isinstance(gap, dict):
        raise ContractError("gap", gap, "must be an object")
    _id("id", gap.get("id"))
    node = gap.get("node")
    if node is not None:
        check_id("node", node)
    if gap.get("reason") not in GAP_REASONS:
        raise ContractError("reason", gap.get("reason"), "must be one of %s" % ", ".join(GAP_REASONS))
    if not _int(gap.get("count"), 1, SEQ_MAX):
        raise ContractError("count", gap.get("count"), "must be an integer 1..%d" % SEQ_MAX)
    seqs = gap.get("seqs")
    if not isinstance(seqs, list) or len(seqs) > MAX_GAP_RANGES:
        raise ContractError("seqs", seqs if not isinstance(seqs, list) else len(seqs),
                            "must be a list of at most %d [first, last] seq ranges" % MAX_GAP_RANGES)
    for i, r in enumerate(seqs):
        if not (isinstance(r, list) and len(r) == 2 and _int(r[0], 0, SEQ_MAX) and _int(r[1], r[0], SEQ_MAX)):
            raise ContractError("seqs.%d" % i, r, "must be [first, last] with 0 <= first <= last <= %d" % SEQ_MAX)
    first_ms, last_ms = gap.get("first_ms"), gap.get("last_ms")
    if not _int(first_ms, 0, TS_MS_MAX):
        raise ContractError("first_ms", first_ms, "must be Unix time in milliseconds")
    if not _int(last_ms, first_ms, TS_MS_MAX):
        raise ContractError("last_ms", last_ms, "must be Unix time in milliseconds, not before first_ms")
    return make_gap(gap["id"], node, gap["reason"], gap["count"], seqs, first_ms, last_ms)


def validate_gaps(b):
    """The checked gap reports of batch `b` ([] without any), or ContractError naming gaps.<index>."""
    gaps = b.get("gaps")
    if gaps is None:
        return []
    if not isinstance(gaps, list) or len(gaps) > MAX_GAPS:
        raise ContractError("gaps", gaps if not isinstance(gaps, list) else len(gaps),
                            "must be a list of at most %d gap reports" % MAX_GAPS)
    out = []
    for index, gap in enumerate(gaps):
        try:
            out.append(validate_gap(gap))
        except ContractError as e:
            raise ContractError("gaps.%d.%s" % (index, e.field), e.value, e.reason) from None
    return out


def make_receipt(batch_id, status, items=0, rejected=0, gaps=0, reason=None):
    """The cloud's answer to a batch: `stored` (`items` kept, `rejected` refused one by one,
    `gaps` reports kept) or `refused` with the `reason`."""
    r = {"v": CONTRACT_VERSION, "batch_id": batch_id, "status": status, "items": items, "rejected": rejected,
         "gaps": gaps}
    if reason is not None:
        r["reason"] = reason
    return r


def encode_receipt(r):
    return json.dumps(r).encode()


def _parse(field, data):
    try:
        return json.loads(data)
    except (ValueError, UnicodeError, RuntimeError) as e:
        # RuntimeError: nesting too deep for the parser (RecursionError on CPython)
        raise ContractError(field, data[:40], "not valid JSON: %s" % e) from None


def decode_receipt(data):
    """Parse and check a receipt (see make_receipt); raise ContractError naming the field."""
    r = _parse("receipt", data)
    if not isinstance(r, dict):
        raise ContractError("receipt", r, "must be an object")
    check_version(r.get("v"))
    _id("batch_id", r.get("batch_id"))
    if r.get("status") not in (RECEIPT_STORED, RECEIPT_REFUSED):
        raise ContractError("status", r.get("status"), "must be %r or %r" % (RECEIPT_STORED, RECEIPT_REFUSED))
    for key in ("items", "rejected", "gaps"):
        if not _int(r.get(key, 0), 0, MAX_ITEMS + MAX_GAPS):
            raise ContractError(key, r.get(key), "must be a count")
    reason = r.get("reason")
    if reason is not None and not isinstance(reason, str):
        raise ContractError("reason", reason, "must be a string")
    return make_receipt(r["batch_id"], r["status"], r.get("items", 0), r.get("rejected", 0), r.get("gaps", 0),
                        reason)


def encode_batch(b):
    return json.dumps(b).encode()


def decode_batch(data):
    """Parse JSON bytes and check the envelope; items are left to validate_item."""
    b = _parse("batch", data)
    validate_envelope(b)
    return b
