"""The gateway's image store: chunks kept durably, reassembled and checked, answered, bounded by its own quota."""

import hashlib
from pathlib import Path

from furrow.edge.image import chunk_count, chunk_span, encode_chunk
from furrow.edge.image_rx import decode_chunk
from furrow.gateway.buffer import DurableBuffer
from furrow.gateway.images import ImageStore

T0 = 1767225600000


def chunks(image: bytes, seq: int = 1, chunk_size: int = 256, node: str = "cam-01") -> list[dict]:
    digest = hashlib.sha256(image).digest()
    n = chunk_count(len(image), chunk_size)
    out = []
    for i in range(n):
        off, length = chunk_span(len(image), chunk_size, i)
        out.append(decode_chunk(encode_chunk(node, "canopy", seq, T0, len(image), chunk_size, digest, i,
                                             image[off:off + length], ask=i == n - 1)))
    return out


def test_an_image_completes_checked_and_waits_to_be_forwarded(tmp_path: Path):
    """Chunks in any order complete the image; the node hears 'stored' once it is whole and checked."""
    image = bytes(range(256)) * 5
    store = ImageStore(tmp_path / "img.db")
    cs = chunks(image)
    answers = [store.put_chunk(c, T0) for c in reversed(cs)]
    assert answers[0]["missing"] == [[0, 3]] and answers[1:-1] == [None] * 3  # the last chunk asked first
    assert answers[-1]["state"] == "stored"
    ready = store.next_image()
    assert (ready.node, ready.seq, ready.data, ready.sha256) == ("cam-01", 1, image, hashlib.sha256(image).hexdigest())
    assert store.put_chunk(cs[0], T0)["state"] == "stored"  # a late repeat hears the answer again
    store.forwarded("cam-01", 1)
    assert store.next_image() is None and store.stats()["forwarded"] == 1


def test_ask_names_the_missing_chunks_and_survives_a_restart(tmp_path: Path):
    """A chunk with 'ask' gets the ranges still missing, from what was committed before a restart too."""
    cs = chunks(b"x" * 2000)
    store = ImageStore(tmp_path / "img.db")
    store.put_chunk(cs[0], T0)
    store.put_chunk(cs[3], T0)
    store.close()
    again = ImageStore(tmp_path / "img.db")
    ack = again.put_chunk(cs[-1], T0)
    assert ack["state"] == "missing" and ack["missing"] == [[1, 2], [4, 6]]


def test_an_image_whose_checksum_fails_is_quarantined_never_forwarded(tmp_path: Path):
    """Chunks that pass their CRC but reassemble to other bytes than the node hashed: refused, quarantined."""
    cs = chunks(b"y" * 600)
    cs[1] = {**cs[1], "data": b"z" * len(cs[1]["data"])}  # damaged in the node's flash before the CRC
    store = ImageStore(tmp_path / "img.db")
    answers = [store.put_chunk(c, T0) for c in cs]
    assert answers[-1]["state"] == "refused" and "sha256" in answers[-1]["reason"]
    assert store.next_image() is None and store.quarantined()[0][:2] == ("cam-01", 1)
    assert store.put_chunk(cs[0], T0)["state"] == "refused"


def test_the_quota_drops_the_oldest_image_never_more_than_needed(tmp_path: Path):
    """A full image store drops its oldest image to take a new one, and counts it."""
    store = ImageStore(tmp_path / "img.db", quota_bytes=1024 * 1024)
    big = bytes(400 * 1024)
    for seq in (1, 2, 3):
        for c in chunks(big[:-seq] + bytes([seq]), seq=seq, chunk_size=16384):
            store.put_chunk(c, T0 + seq)
    stats = store.stats()
    assert stats["dropped"] == 1 and stats["pending"] == 2 and store.next_image().seq == 2


def test_a_seq_that_went_back_is_refused(tmp_path: Path):
    """Another image under a seq already complete is refused: the gateway never overwrites a photo."""
    store = ImageStore(tmp_path / "img.db")
    for c in chunks(b"a" * 300):
        store.put_chunk(c, T0)
    ack = store.put_chunk(chunks(b"b" * 300)[0], T0)
    assert ack["state"] == "refused" and "went back" in ack["reason"]


def test_images_the_quota_drops_go_to_the_gap_log_once_as_image_quota_gaps(tmp_path: Path):
    """Each image the quota drops reaches the readings buffer's gap log (what the batches carry to the cloud) as an
    image_quota gap of its camera with its image seq, once, also across a restart of the store."""
    buffer = DurableBuffer(tmp_path / "buffer.db")
    store = ImageStore(tmp_path / "img.db", quota_bytes=1024 * 1024, gaps=buffer.record_drops)
    big = bytes(400 * 1024)
    for seq in (1, 2, 3, 4):
        if seq == 4:  # the store restarts: nothing noted is reported twice
            store.close()
            store = ImageStore(tmp_path / "img.db", quota_bytes=1024 * 1024, gaps=buffer.record_drops)
        for c in chunks(big[:-seq] + bytes([seq]), seq=seq, chunk_size=16384):
            store.put_chunk(c, T0 + seq)
    gaps = [g for _, g in buffer.next_gaps()]
    assert [(g["node"], g["reason"], g["count"], g["seqs"]) for g in gaps] == [("cam-01", "image_quota", 2, [[1, 2]])]
    assert store.stats()["dropped"] == 2
    store.close()
    buffer.close()
