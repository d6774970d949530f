"""The camera node on CPython: photos on a schedule, kept in flash, sent in chunks, resumed after a cut or a reset."""

import hashlib
from pathlib import Path

import pytest

from furrow.edge.image import ACK_MISSING, ACK_REFUSED, ACK_STORED, make_image_ack
from furrow.edge.image_rx import decode_chunk, encode_image_ack, missing_ranges
from furrow.firmware.camera_node import CameraNode
from furrow.firmware.drivers.camera import Camera, CameraError, jpeg_size
from furrow.firmware.image_store import ImageStore
from furrow.firmware.seqstore import SeqStore
from tests.firmware_fakes import FakeCameraModule
from tests.image_support import field_jpeg

T0 = 1767225600000
HOUR = 3600000


@pytest.fixture
def frames() -> dict:
    return {(640, 480): [field_jpeg(640, 480, seed=i) for i in range(3)], (320, 240): [field_jpeg(320, 240)]}


def make_node(tmp_path: Path, frames: dict, **kw):  # type: ignore[no-untyped-def]
    cam = FakeCameraModule(frames)
    store = ImageStore(str(tmp_path / "images"), max_images=kw.pop("max_images", 8))
    node = CameraNode("cam-01", Camera(cam, "vga"), store, SeqStore(str(tmp_path / "imgseq"), reserve=10),
                      kind=kw.pop("kind", "canopy"), interval_ms=HOUR, chunk_bytes=4096, **kw)
    return node, cam, store


def drain(node: CameraNode, now: int, limit: int = 1000) -> list[dict]:
    """Publish every chunk the node offers now, each acknowledged by the broker."""
    out = []
    while len(out) < limit:
        message = node.next_chunk(now)
        if message is None:
            break
        out.append(decode_chunk(message))
        node.sent(now)
    return out


def test_camera_driver_gives_jpeg_of_the_configured_size(frames: dict):
    """The driver sets the sensor to VGA and hands back a whole JPEG whose frame header says 640 x 480."""
    cam = FakeCameraModule(frames)
    frame = Camera(cam, "vga", quality=10).capture()
    assert jpeg_size(frame) == (640, 480) and frame[:2] == b"\xff\xd8" and cam.jpeg_quality == 10


def test_camera_driver_refuses_a_timeout_a_truncated_frame_and_a_wrong_size(frames: dict):
    """No frame, half a frame, or a frame at the sensor's default size after a reset is a CameraError, not a photo."""
    cam = FakeCameraModule({**frames, (800, 600): [field_jpeg(800, 600)]})
    camera = Camera(cam, "vga")
    cam.fail_next = 1
    with pytest.raises(CameraError, match="timeout"):
        camera.capture()
    cam.frames[(640, 480)] = [frames[(640, 480)][0][:-100]]
    with pytest.raises(CameraError, match="whole JPEG"):
        camera.capture()
    cam.size = (800, 600)  # the sensor reset itself to its default output
    with pytest.raises(CameraError, match="800, 600"):
        camera.capture()
    with pytest.raises(ValueError, match="framesize"):
        Camera(cam, "8k")


def test_photo_on_schedule_travels_whole_in_numbered_chunks(tmp_path: Path, frames: dict):
    """A photo is taken at the first tick and every interval; its chunks carry it whole, the last one asks."""
    node, cam, store = make_node(tmp_path, frames)
    assert node.tick(T0) == ((), ()) and len(store) == 1
    node.tick(T0 + HOUR - 1)
    assert cam.captures == 1
    chunks = drain(node, T0)
    image = frames[(640, 480)][0]
    assert [c["index"] for c in chunks] == list(range(chunks[0]["count"])) and chunks[0]["count"] > 1
    assert b"".join(c["data"] for c in chunks) == image and chunks[0]["sha256"] == hashlib.sha256(image).digest()
    assert [c["ask"] for c in chunks][-2:] == [False, True]
    assert (chunks[0]["image"], chunks[0]["ts_ms"], chunks[0]["kind"]) == (0, T0, "canopy")
    assert node.next_chunk(T0) is None  # waiting for the gateway's answer
    node.on_image_ack(encode_image_ack(make_image_ack("cam-01", 0, ACK_STORED)), T0)
    assert len(store) == 0 and store.stats["delivered"] == 1
    node.tick(T0 + HOUR)
    assert len(store) == 1 and drain(node, T0 + HOUR)[0]["image"] == 1


def test_a_cut_link_resends_the_unacknowledged_chunk_and_goes_on(tmp_path: Path, frames: dict):
    """A chunk whose PUBACK never came goes again after the reconnect; the round continues from there."""
    node, _, _ = make_node(tmp_path, frames)
    node.tick(T0)
    first = drain(node, T0, limit=2)
    lost = decode_chunk(node.next_chunk(T0))  # published, then the link broke before its PUBACK
    node.link_lost()
    rest = drain(node, T0)
    assert [c["index"] for c in first] == [0, 1] and lost["index"] == 2 and rest[0]["index"] == 2
    assert [c["index"] for c in first + rest] == list(range(first[0]["count"]))


def test_after_a_reset_the_node_asks_first_and_sends_only_what_is_missing(tmp_path: Path, frames: dict):
    """A photo found in flash at boot starts with its last chunk asking; the gateway's 'missing' ranges go, no more."""
    node, _, _ = make_node(tmp_path, frames)
    node.tick(T0)
    before = drain(node, T0, limit=3)
    have = {c["index"] for c in before}
    node2, _, store2 = make_node(tmp_path, frames)  # the board reset: same flash
    poll = drain(node2, T0 + 5)
    count = before[0]["count"]
    assert [(c["index"], c["ask"]) for c in poll] == [(count - 1, True)]
    have.add(count - 1)
    ack = make_image_ack("cam-01", 0, ACK_MISSING, missing_ranges(have, count))
    node2.on_image_ack(encode_image_ack(ack), T0 + 6)
    again = drain(node2, T0 + 6)
    assert sorted(c["index"] for c in again) == sorted(set(range(count)) - {0, 1, 2, count - 1})
    assert again[-1]["ask"] and not any(c["ask"] for c in again[:-1])
    node2.on_image_ack(encode_image_ack(make_image_ack("cam-01", 0, ACK_STORED)), T0 + 7)
    assert len(store2) == 0


def test_no_answer_asks_again_after_the_wait(tmp_path: Path, frames: dict):
    """When the gateway's answer does not come within ack_wait_ms, the last chunk goes again with 'ask'."""
    node, _, _ = make_node(tmp_path, frames, ack_wait_ms=30000)
    node.tick(T0)
    chunks = drain(node, T0)
    assert drain(node, T0 + 29999) == []
    [poll] = drain(node, T0 + 30000)
    assert poll["index"] == chunks[-1]["index"] and poll["ask"] and node.stats["polls"] == 1


def test_a_refused_photo_leaves_the_flash_and_is_counted(tmp_path: Path, frames: dict):
    """A photo the gateway quarantined is not sent again: it leaves the flash and the node counts it."""
    node, _, store = make_node(tmp_path, frames)
    node.tick(T0)
    drain(node, T0)
    node.on_image_ack(encode_image_ack(make_image_ack("cam-01", 0, ACK_REFUSED, reason="sha256 mismatch")), T0)
    assert len(store) == 0 and node.stats["refused"] == 1 and node.next_chunk(T0) is None


def test_a_garbled_or_foreign_ack_changes_nothing(tmp_path: Path, frames: dict):
    """An ack that breaks the contract is counted and ignored; another node's ack is ignored."""
    node, _, store = make_node(tmp_path, frames)
    node.tick(T0)
    drain(node, T0)
    node.on_image_ack(b"{garbage", T0)
    node.on_image_ack(encode_image_ack(make_image_ack("cam-02", 0, ACK_STORED)), T0)
    assert len(store) == 1 and node.stats["bad_acks"] == 1


def test_full_flash_drops_the_oldest_photo_and_counts_it(tmp_path: Path, frames: dict):
    """With no gateway, the store keeps the newest photos within its bound; the oldest go and are counted."""
    node, _, store = make_node(tmp_path, frames, max_images=2)
    for k in range(4):
        node.tick(T0 + k * HOUR)
    assert len(store) == 2 and store.stats["dropped"] == 2 and store.oldest().seq == 2
    again = ImageStore(str(tmp_path / "images"), max_images=2)  # after a reset, the same two
    assert sorted([again.oldest().seq, 3]) == [2, 3] and len(again) == 2


def test_a_failed_capture_is_retried_soon_then_waits_for_the_next_interval(tmp_path: Path, frames: dict):
    """A frame-buffer timeout is retried retry_ms later, three tries a photo; the schedule stays on its grid."""
    node, cam, store = make_node(tmp_path, frames, retry_ms=10000)
    cam.fail_next = 5
    node.tick(T0)
    node.tick(T0 + 10000)
    node.tick(T0 + 20000)
    assert len(store) == 0 and node.stats["capture_failures"] == 3 and node.next_due_ms == T0 + HOUR
    node.tick(T0 + HOUR)
    node.tick(T0 + HOUR + 10000)
    node.tick(T0 + HOUR + 20000)  # the third try of this slot: the sensor is back
    assert len(store) == 1 and node.stats["capture_failures"] == 5 and node.next_due_ms == T0 + 2 * HOUR


def test_a_write_cut_by_a_reset_and_a_damaged_header_are_cleaned_at_boot(tmp_path: Path, frames: dict):
    """A half-written .tmp is removed; a photo whose header fails its CRC is removed and counted, the rest kept."""
    node, _, store = make_node(tmp_path, frames)
    node.tick(T0)
    node.tick(T0 + HOUR)
    d = tmp_path / "images"
    (d / "9.tmp").write_bytes(b"half")
    raw = bytearray((d / "0.img").read_bytes())
    raw[10] ^= 0xFF
    (d / "0.img").write_bytes(bytes(raw))
    again = ImageStore(str(d))
    assert len(again) == 1 and again.oldest().seq == 1 and again.stats["damaged"] == 1
    assert sorted(p.name for p in d.iterdir()) == ["1.img"]
