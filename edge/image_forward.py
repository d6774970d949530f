"""Images from the field (contract 1.3): a whole image, gateway to cloud, and its receipt.

The gateway forwards an image only once it holds all of it with its SHA-256
checked, never half. On ``gw/{gateway}/image`` (QoS 1) the message is one
line of JSON, a newline, then the image's bytes:

    {"v": "1.3", "site": "farm", "gateway": "gw-1", "node": "cam-01", "image": 17,
     "kind": "canopy", "format": "jpeg", "ts_ms": 1767225600000, "rx_ms": 1767225601000,
     "size": 48213, "sha256": "9f2c...64 hex digits"}\\n<48213 bytes>

Once the cloud has stored it (object and metadata) it answers on
``gw/{gateway}/image_receipt`` (QoS 1):

    {"v": "1.3", "node": "cam-01", "image": 17, "status": "stored", "reason": null}

``refused`` (with a ``reason``) says the image broke the contract or does not
match its checksum: sending it again would not help. The gateway keeps an
image until its receipt. The cloud keeps each (node, image) once, so an image
sent twice is stored once. Over HTTPS the same message is POSTed to
``/api/v1/ingest/image`` and the answer is the receipt.
"""

import json

from . import CONTRACT_VERSION
from .errors import ContractError
from .image import SEQ_MAX, TS_MS_MAX, check_image
from .topics import check_id
from .version import check_version

RECEIPT_STORED = "stored"
RECEIPT_REFUSED = "refused"
MAX_HEADER_BYTES = 1024


def make_image_header(site, gateway, node, seq, kind, fmt, ts_ms, rx_ms, size, sha256_hex):
    return {"v": CONTRACT_VERSION, "site": site, "gateway": gateway, "node": node, "image": seq, "kind": kind,
            "format": fmt, "ts_ms": ts_ms, "rx_ms": rx_ms, "size": size, "sha256": sha256_hex}


def encode_image(header, data):
    """The forwarded message: the header as one JSON line, then the image bytes."""
    return json.dumps(header).encode() + b"\n" + bytes(data)


def decode_image(message):
    """(header, image bytes) from a forwarded message; raise ContractError naming the field.
    The caller checks the bytes against `size` and `sha256` (it holds the hashing library)."""
    message = bytes(message)
    end = message.find(b"\n", 0, MAX_HEADER_BYTES + 1)
    if end < 0:
        raise ContractError("image", message[:40], "must start with a JSON header line of at most %d bytes"
                            % MAX_HEADER_BYTES)
    try:
        h = json.loads(message[:end])
    except (ValueError, UnicodeError, RuntimeError) as e:
        raise ContractError("header", message[:40], "not valid JSON: %s" % e) from None
    if not isinstance(h, dict):
        raise ContractError("header", h, "must be an object")
    check_version(h.get("v"))
    check_id("site", h.get("site"))
    check_id("gateway", h.get("gateway"))
    check_id("node", h.get("node"))
    digest = h.get("sha256")
    if not isinstance(digest, str) or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise ContractError("sha256", digest, "must be 64 lowercase hex digits")
    check_image(h.get("kind"), h.get("format"), h.get("image"), h.get("ts_ms"), h.get("size"))
    rx_ms = h.get("rx_ms")
    if rx_ms is not None and (isinstance(rx_ms, bool) or not isinstance(rx_ms, int) or not 0 <= rx_ms <= TS_MS_MAX):
        raise ContractError("rx_ms", rx_ms, "must be Unix time in milliseconds or null")
    data = message[end + 1:]
    if len(data) != h["size"]:
        raise ContractError("size", h["size"], "the message carries %d bytes of image" % len(data))
    header = make_image_header(h["site"], h["gateway"], h["node"], h["image"], h["kind"], h["format"], h["ts_ms"],
                               rx_ms, h["size"], digest)
    return header, data


def make_image_receipt(node, seq, status, reason=None):
    """The cloud's answer about image `seq` of `node`: `stored`, or `refused` with the `reason`."""
    return {"v": CONTRACT_VERSION, "node": node, "image": seq, "status": status, "reason": reason}


def encode_image_receipt(r):
    return json.dumps(r).encode()


def decode_image_receipt(data):
    """Parse and check an image receipt; raise ContractError naming the field."""
    try:
        r = json.loads(data)
    except (ValueError, UnicodeError, RuntimeError) as e:
        raise ContractError("image_receipt", bytes(data[:40]), "not valid JSON: %s" % e) from None
    if not isinstance(r, dict):
        raise ContractError("image_receipt", r, "must be an object")
    check_version(r.get("v"))
    check_id("node", r.get("node"))
    seq = r.get("image")
    if isinstance(seq, bool) or not isinstance(seq, int) or not 0 <= seq <= SEQ_MAX:
        raise ContractError("image", seq, "must be an image seq")
    if r.get("status") not in (RECEIPT_STORED, RECEIPT_REFUSED):
        raise ContractError("status", r.get("status"), "must be %r or %r" % (RECEIPT_STORED, RECEIPT_REFUSED))
    reason = r.get("reason")
    if reason is not None and not isinstance(reason, str):
        raise ContractError("reason", reason, "must be a string")
    return make_image_receipt(r["node"], seq, r["status"], reason)

