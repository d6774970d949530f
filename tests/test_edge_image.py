"""Image messages (contract 1.3): chunks, the gateway's image acks, whole images forwarded and their receipts."""

import hashlib
import json
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from furrow.edge import CONTRACT_VERSION, topics
from furrow.edge.errors import ContractError
from furrow.edge.image import (
    ACK_MISSING,
    ACK_STORED,
    MAX_IMAGE_BYTES,
    chunk_count,
    chunk_span,
    crc32,
    decode_image_ack,
    encode_chunk,
    make_image_ack,
)
from furrow.edge.image_forward import (
    decode_image,
    decode_image_receipt,
    encode_image,
    encode_image_receipt,
    make_image_header,
    make_image_receipt,
)
from furrow.edge.image_rx import decode_chunk, encode_image_ack, missing_ranges

T0 = 1767225600000


def chunks_of(image: bytes, chunk_size: int = 1024, node: str = "cam-01", seq: int = 7, kind: str = "canopy"):
    digest = hashlib.sha256(image).digest()
    n = chunk_count(len(image), chunk_size)
    out = []
    for i in range(n):
        off, length = chunk_span(len(image), chunk_size, i)
        out.append(encode_chunk(node, kind, seq, T0, len(image), chunk_size, digest, i, image[off:off + length],
                                ask=i == n - 1))
    return out


def test_contract_has_images_since_1_3():
    """Images are an addition: they came with minor version 1.3 (NDVI made it 1.4), the major stays 1."""
    major, minor = (int(x) for x in CONTRACT_VERSION.split("."))
    assert major == 1 and minor >= 3


def test_crc32_is_zlibs():
    """The chunk checksum is the IEEE CRC-32 every zlib computes, so any tool can check a chunk."""
    assert crc32(b"123456789") == 0xCBF43926 == zlib.crc32(b"123456789")


def test_chunks_reassemble_to_the_image_with_its_checksum():
    """Chunks of an image decode to its bytes in order, each naming the image, its size and SHA-256; the last asks."""
    image = bytes(range(256)) * 20 + b"end"
    decoded = [decode_chunk(c) for c in chunks_of(image)]
    assert [d["index"] for d in decoded] == list(range(6)) and decoded[0]["count"] == 6
    assert b"".join(d["data"] for d in decoded) == image
    assert all(d["sha256"] == hashlib.sha256(image).digest() and d["size"] == len(image) for d in decoded)
    assert [d["ask"] for d in decoded] == [False] * 5 + [True]
    assert decoded[0]["node"] == "cam-01" and decoded[0]["image"] == 7 and decoded[0]["kind"] == "canopy"
    assert decoded[0]["format"] == "jpeg" and decoded[0]["ts_ms"] == T0


@given(st.binary(min_size=1, max_size=5000), st.integers(256, 2048), st.sampled_from(["canopy", "trap"]))
def test_any_image_round_trips_through_its_chunks(image: bytes, chunk_size: int, kind: str):
    """Whatever the bytes and chunk size, the chunks carry the image whole and nothing else."""
    decoded = [decode_chunk(c) for c in chunks_of(image, chunk_size, kind=kind)]
    assert b"".join(d["data"] for d in decoded) == image and {d["kind"] for d in decoded} == {kind}


@pytest.mark.parametrize("flip", [0, 5, 60, 100, -1])
def test_a_damaged_chunk_is_refused(flip: int):
    """One flipped bit anywhere in a chunk (header, data or CRC) is refused, never decoded as another chunk."""
    chunk = bytearray(chunks_of(b"x" * 3000)[1])
    chunk[flip] ^= 0x10
    with pytest.raises(ContractError) as e:
        decode_chunk(bytes(chunk))
    assert e.value.field in ("crc", "magic")


@pytest.mark.parametrize("args,field", [
    ({"kind": "selfie"}, "kind"),
    ({"size": MAX_IMAGE_BYTES + 1}, "size"),
    ({"size": 0}, "size"),
    ({"chunk_size": 100}, "chunk_size"),
    ({"index": 3}, "index"),
    ({"data": b"short"}, "data"),
    ({"digest": b"\x00" * 31}, "sha256"),
    ({"node": "Cam 1"}, "node"),
    ({"seq": -1}, "image"),
])
def test_encoding_a_bad_chunk_names_the_field(args: dict, field: str):
    """A node asked to send a chunk that breaks the contract gets an error naming the field and value."""
    good = {"node": "cam-01", "kind": "trap", "seq": 1, "ts_ms": T0, "size": 600, "chunk_size": 256,
            "digest": b"\x01" * 32, "index": 1, "data": b"y" * 256}
    good.update(args)
    with pytest.raises(ContractError) as e:
        encode_chunk(**good)
    assert e.value.field == field


def test_a_chunk_of_another_major_version_is_refused_by_name():
    """A chunk from a contract 2.x node is refused naming the version, not misread."""
    chunk = bytearray(chunks_of(b"z" * 300)[0][:-4])
    chunk[1] = 0x20
    chunk += zlib.crc32(bytes(chunk)).to_bytes(4, "little")
    with pytest.raises(ContractError) as e:
        decode_chunk(bytes(chunk))
    assert e.value.field == "v" and "2.0" in str(e.value)


def test_missing_ranges_name_the_holes_up_to_a_limit():
    """The gateway names what it lacks as [first, last] ranges, at most `limit` of them."""
    assert missing_ranges({0, 1, 4, 5, 9}, 10) == [[2, 3], [6, 8]]
    assert missing_ranges(set(), 3) == [[0, 2]]
    assert missing_ranges(set(range(5)), 5) == []
    assert missing_ranges({1, 3, 5}, 7, limit=2) == [[0, 0], [2, 2]]


def test_image_ack_round_trips_and_is_checked():
    """The gateway's ack decodes on the node as sent; a 'missing' ack without ranges is refused by field."""
    ack = make_image_ack("cam-01", 7, ACK_MISSING, [[2, 3], [6, 8]])
    assert decode_image_ack(encode_image_ack(ack)) == ack
    assert decode_image_ack(encode_image_ack(make_image_ack("cam-01", 7, ACK_STORED)))["state"] == "stored"
    for bad, field in [({"state": "maybe"}, "state"), ({"missing": []}, "missing"), ({"missing": [[3, 2]]},
                                                                                      "missing.0"),
                       ({"image": "7"}, "image"), ({"v": "2.0"}, "v")]:
        with pytest.raises(ContractError) as e:
            decode_image_ack(json.dumps({**ack, **bad}).encode())
        assert e.value.field == field
    with pytest.raises(ContractError):
        decode_image_ack(b"{not json")


def test_forwarded_image_round_trips_and_refuses_a_short_body():
    """Gateway to cloud: header line and bytes come back as sent; a body shorter than `size` is refused by name."""
    image = b"\xff\xd8" + b"j" * 1000 + b"\xff\xd9"
    header = make_image_header("farm", "gw-1", "cam-01", 7, "trap", "jpeg", T0, T0 + 5, len(image),
                               hashlib.sha256(image).hexdigest())
    assert decode_image(encode_image(header, image)) == (header, image)
    with pytest.raises(ContractError) as e:
        decode_image(encode_image(header, image[:-1]))
    assert e.value.field == "size"
    with pytest.raises(ContractError) as e:
        decode_image(encode_image({**header, "sha256": "XYZ"}, image))
    assert e.value.field == "sha256"
    with pytest.raises(ContractError):
        decode_image(b"no header line at all")


def test_image_receipt_round_trips_and_is_checked():
    """The cloud's image receipt decodes at the gateway as sent; an unknown status is refused by field."""
    r = make_image_receipt("cam-01", 7, "refused", "sha256 does not match")
    assert decode_image_receipt(encode_image_receipt(r)) == r
    with pytest.raises(ContractError) as e:
        decode_image_receipt(json.dumps({**r, "status": "lost"}).encode())
    assert e.value.field == "status"


def test_image_topics_are_in_the_tree():
    """Image chunks, acks, forwarded images and receipts have their own topics, which parse back."""
    assert topics.node_topic("farm", "cam-01", topics.NODE_IMAGE) == "furrow/v1/farm/node/cam-01/image"
    assert topics.parse_topic("furrow/v1/farm/node/cam-01/image_ack") == ("node", "farm", "cam-01", "image_ack")
    assert topics.parse_topic("furrow/v1/farm/gw/gw-1/image_receipt") == ("gw", "farm", "gw-1", "image_receipt")
    assert topics.gateway_topic("farm", "gw-1", topics.GW_IMAGE).endswith("/gw/gw-1/image")
