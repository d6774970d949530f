"""Images from the field (contract 1.3): what a camera node sends and reads.

One photo is one image, identified everywhere by (node, image seq): the seq
grows by one per photo and survives reboots, as a report's does, so the
gateway and the cloud store each image once and a gap in it is a photo that
never arrived. A photo travels in numbered chunks on ``node/{node}/image``
(QoS 1), each self-describing (binary, little-endian):

    bytes  field
    1      magic 0xF8
    1      contract version, major << 4 | minor
    1      flags: bit 0 "ask" (answer with this image's status, below)
    1      kind: 1 canopy (nadir over the canopy), 2 trap (a trap card)
    1      format: 1 JPEG
    4      image seq (u32)
    8      capture time, Unix ms (u64)
    4      image size, bytes (u32), 1 .. MAX_IMAGE_BYTES
    2      chunk size, bytes (u16): every chunk but the last holds exactly this
    2      chunk index (u16), from 0
    32     SHA-256 of the whole image
    1 + n  node id length, then the id
    2 + n  data length (u16), then the data
    4      CRC-32 (IEEE, as zlib's) of everything before

The gateway answers on ``node/{node}/image_ack`` (QoS 1, JSON):

    {"v": "1.3", "node": "cam-01", "image": 17, "state": "missing",
     "missing": [[0, 3], [7, 7]], "reason": null}

``stored``: the gateway holds the whole image, its SHA-256 checked: the node
may forget it. ``missing``: the chunk index ranges it still lacks (resume
after a cut: send those, the last with "ask"). ``refused``: the image was
quarantined (``reason``): sending it again would not help, the node forgets
it. The gateway answers a chunk with "ask", the chunk that completes an
image, and any chunk of an image it already has.

This module is what a node runs; receivers decode with image_rx.py.
"""

import json
import struct

from . import CONTRACT_MAJOR, CONTRACT_MINOR, CONTRACT_VERSION
from .errors import ContractError
from .topics import check_id
from .version import check_version

ROLE_CAMERA = "camera"  # a node that sends images and no readings (so not in measurements.ROLES)
KIND_CANOPY = "canopy"
KIND_TRAP = "trap"
KINDS = {KIND_CANOPY: 1, KIND_TRAP: 2}
FORMAT_JPEG = "jpeg"
FORMATS = {FORMAT_JPEG: 1}

# An OV2640 UXGA (1600 x 1200) JPEG at high quality is 200-400 KB, an OV5640
# 5 MP at moderate quality under 1 MB: 1 MiB bounds what a gateway keeps per image.
MAX_IMAGE_BYTES = 1048576
MIN_CHUNK_BYTES = 256
MAX_CHUNK_BYTES = 16384
DEFAULT_CHUNK_BYTES = 4096  # a umqtt publish of 4 KB fits an ESP32's heap between two collections
SEQ_MAX = 0xFFFFFFFF
TS_MS_MAX = 9000000000000

CHUNK_MAGIC = 0xF8
FLAG_ASK = 1
_HEAD = "<BBBBBIQIHH"  # magic ver flags kind fmt seq ts_ms size chunk_size index
HEAD_SIZE = struct.calcsize(_HEAD)
DIGEST_SIZE = 32
CRC_SIZE = 4

ACK_STORED = "stored"
ACK_MISSING = "missing"
ACK_REFUSED = "refused"
ACK_STATES = (ACK_STORED, ACK_MISSING, ACK_REFUSED)
MAX_RANGES = 64  # missing ranges in one ack; more are sent after these arrive


def crc32(data, crc=0):
    """CRC-32 (IEEE 802.3, as zlib.crc32) of `data`; chain with `crc`."""
    import binascii

    return binascii.crc32(data, crc) & 0xFFFFFFFF


def chunk_count(size, chunk_size):
    """How many chunks an image of `size` bytes takes."""
    return (size + chunk_size - 1) // chunk_size


def chunk_span(size, chunk_size, index):
    """(offset, length) of chunk `index` in the image."""
    offset = index * chunk_size
    return offset, min(chunk_size, size - offset)


def check_image(kind, fmt, seq, ts_ms, size):
    """Check an image's description; raise ContractError naming the field."""
    if kind not in KINDS:
        raise ContractError("kind", kind, "must be one of %s" % ", ".join(sorted(KINDS)))
    if fmt not in FORMATS:
        raise ContractError("format", fmt, "must be one of %s" % ", ".join(sorted(FORMATS)))
    if not _int(seq, 0, SEQ_MAX):
        raise ContractError("image", seq, "must be an image seq, 0..%d" % SEQ_MAX)
    if not _int(ts_ms, 0, TS_MS_MAX):
        raise ContractError("ts_ms", ts_ms, "must be Unix time in milliseconds")
    if not _int(size, 1, MAX_IMAGE_BYTES):
        raise ContractError("size", size, "must be 1..%d bytes" % MAX_IMAGE_BYTES)


def check_chunking(chunk_size, digest):
    """Check a chunk's nominal size and the image's SHA-256; raise ContractError naming the field."""
    if not _int(chunk_size, MIN_CHUNK_BYTES, MAX_CHUNK_BYTES):
        raise ContractError("chunk_size", chunk_size, "must be %d..%d bytes" % (MIN_CHUNK_BYTES, MAX_CHUNK_BYTES))
    if not isinstance(digest, (bytes, bytearray)) or len(digest) != DIGEST_SIZE:
        raise ContractError("sha256", digest, "must be the image's 32-byte SHA-256")


def encode_chunk(node, kind, seq, ts_ms, size, chunk_size, digest, index, data, ask=False, fmt=FORMAT_JPEG):
    """One chunk message (see the module docstring); `data` is chunk `index` of the image."""
    check_id("node", node)
    check_image(kind, fmt, seq, ts_ms, size)
    check_chunking(chunk_size, digest)
    count = chunk_count(size, chunk_size)
    if not _int(index, 0, count - 1):
        raise ContractError("index", index, "must be 0..%d for %d chunks" % (count - 1, count))
    if len(data) != chunk_span(size, chunk_size, index)[1]:
        raise ContractError("data", len(data), "chunk %d of this image holds %d bytes"
                            % (index, chunk_span(size, chunk_size, index)[1]))
    ident = node.encode()
    n = len(data)
    # One buffer, filled in place: a node builds a chunk without a copy per field.
    buf = bytearray(HEAD_SIZE + DIGEST_SIZE + 1 + len(ident) + 2 + n + CRC_SIZE)
    struct.pack_into(_HEAD, buf, 0, CHUNK_MAGIC, (CONTRACT_MAJOR << 4) | CONTRACT_MINOR, FLAG_ASK if ask else 0,
                     KINDS[kind], FORMATS[fmt], seq, ts_ms, size, chunk_size, index)
    at = HEAD_SIZE
    buf[at:at + DIGEST_SIZE] = digest
    at += DIGEST_SIZE
    buf[at] = len(ident)
    buf[at + 1:at + 1 + len(ident)] = ident
    at += 1 + len(ident)
    struct.pack_into("<H", buf, at, n)
    buf[at + 2:at + 2 + n] = data
    at += 2 + n
    struct.pack_into("<I", buf, at, crc32(memoryview(buf)[:at]))
    return buf


def decode_image_ack(data):
    """Parse and check an image ack from the gateway; raise ContractError naming the field."""
    try:
        a = json.loads(data)
    except (ValueError, UnicodeError, RuntimeError) as e:
        raise ContractError("image_ack", bytes(data[:40]), "not valid JSON: %s" % e) from None
    if not isinstance(a, dict):
        raise ContractError("image_ack", a, "must be an object")
    check_version(a.get("v"))
    check_id("node", a.get("node"))
    if not _int(a.get("image"), 0, SEQ_MAX):
        raise ContractError("image", a.get("image"), "must be an image seq")
    state = a.get("state")
    if state not in ACK_STATES:
        raise ContractError("state", state, "must be one of %s" % ", ".join(ACK_STATES))
    ranges = a.get("missing") or []
    if not isinstance(ranges, list) or len(ranges) > MAX_RANGES:
        raise ContractError("missing", ranges, "must be a list of at most %d [first, last] ranges" % MAX_RANGES)
    for i, r in enumerate(ranges):
        if (not isinstance(r, list) or len(r) != 2 or not _int(r[0], 0, 0xFFFF) or not _int(r[1], r[0], 0xFFFF)):
            raise ContractError("missing.%d" % i, r, "must be [first, last] chunk indexes, first <= last")
    if state == ACK_MISSING and not ranges:
        raise ContractError("missing", ranges, "a 'missing' ack names the chunks it lacks")
    reason = a.get("reason")
    if reason is not None and (not isinstance(reason, str) or len(reason) > 400):
        raise ContractError("reason", reason, "must be a string of at most 400 characters")
    return make_image_ack(a["node"], a["image"], state, ranges, reason)


def make_image_ack(node, seq, state, missing=None, reason=None):
    """The gateway's answer about image `seq` of `node` (see the module docstring)."""
    return {"v": CONTRACT_VERSION, "node": node, "image": seq, "state": state,
            "missing": [[a, b] for a, b in (missing or [])], "reason": reason}


def _int(x, lo, hi):
    return isinstance(x, int) and not isinstance(x, bool) and lo <= x <= hi
