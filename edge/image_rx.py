"""Images from the field (contract 1.3): the receiving side of image.py.

What a gateway (and a test or tool) uses to read a camera node's chunks and
answer it; a node does not carry this module. See image.py for the layout.
"""

import json
import struct

from . import CONTRACT_MAJOR
from .errors import ContractError
from .image import (
    _HEAD,
    CHUNK_MAGIC,
    CRC_SIZE,
    DIGEST_SIZE,
    FLAG_ASK,
    FORMATS,
    HEAD_SIZE,
    KINDS,
    MAX_RANGES,
    check_chunking,
    check_image,
    chunk_count,
    chunk_span,
    crc32,
)
from .topics import check_id

_KIND_BY_CODE = {}
for _name in KINDS:
    _KIND_BY_CODE[KINDS[_name]] = _name
_FORMAT_BY_CODE = {}
for _name in FORMATS:
    _FORMAT_BY_CODE[FORMATS[_name]] = _name


def decode_chunk(data):
    """Check and unpack one chunk message; raise ContractError naming the field.

    Returns a dict: node, kind, format, image (seq), ts_ms, size, chunk_size,
    count, index, sha256 (32 bytes), ask (bool), data (bytes).
    """
    data = bytes(data)
    least = HEAD_SIZE + DIGEST_SIZE + 1 + 1 + 2 + CRC_SIZE
    if len(data) < least:
        raise ContractError("chunk", len(data), "a chunk is at least %d bytes" % least)
    if data[0] != CHUNK_MAGIC:
        raise ContractError("magic", data[0], "an image chunk starts with 0x%02X" % CHUNK_MAGIC)
    body, crc = data[:-CRC_SIZE], struct.unpack("<I", data[-CRC_SIZE:])[0]
    if crc32(body) != crc:
        raise ContractError("crc", crc, "CRC-32 does not match the chunk (0x%08X): damaged on the way" % crc32(body))
    _, ver, flags, kind, fmt, seq, ts_ms, size, chunk_size, index = struct.unpack(_HEAD, body[:HEAD_SIZE])
    if ver >> 4 != CONTRACT_MAJOR:
        raise ContractError("v", "%d.%d" % (ver >> 4, ver & 15), "unsupported contract major version %d: this "
                            "software speaks %d.x" % (ver >> 4, CONTRACT_MAJOR))
    at = HEAD_SIZE
    digest = body[at:at + DIGEST_SIZE]
    at += DIGEST_SIZE
    n = body[at]
    node = body[at + 1:at + 1 + n]
    at += 1 + n
    if len(body) < at + 2:
        raise ContractError("chunk", len(data), "ends inside its header")
    length = struct.unpack("<H", body[at:at + 2])[0]
    payload = body[at + 2:]
    if len(payload) != length:
        raise ContractError("data", len(payload), "the chunk says it holds %d bytes" % length)
    try:
        node = check_id("node", node.decode())
    except UnicodeError:
        raise ContractError("node", node, "must be ASCII a-z, 0-9, '-' and '_'") from None
    kind_name = _KIND_BY_CODE.get(kind, kind)
    fmt_name = _FORMAT_BY_CODE.get(fmt, fmt)
    check_image(kind_name, fmt_name, seq, ts_ms, size)
    check_chunking(chunk_size, digest)
    count = chunk_count(size, chunk_size)
    if index >= count:
        raise ContractError("index", index, "must be 0..%d for %d chunks" % (count - 1, count))
    if length != chunk_span(size, chunk_size, index)[1]:
        raise ContractError("data", length, "chunk %d of this image holds %d bytes"
                            % (index, chunk_span(size, chunk_size, index)[1]))
    return {"node": node, "kind": kind_name, "format": fmt_name, "image": seq, "ts_ms": ts_ms, "size": size,
            "chunk_size": chunk_size, "count": count, "index": index, "sha256": digest,
            "ask": bool(flags & FLAG_ASK), "data": payload}


def missing_ranges(have, count, limit=MAX_RANGES):
    """The [first, last] ranges of chunk indexes 0..count-1 not in `have` (a set), at most `limit`."""
    out = []
    start = None
    for i in range(count + 1):
        absent = i < count and i not in have
        if absent and start is None:
            start = i
        elif not absent and start is not None:
            out.append([start, i - 1])
            start = None
            if len(out) == limit:
                break
    return out


def encode_image_ack(ack):
    return json.dumps(ack).encode()

