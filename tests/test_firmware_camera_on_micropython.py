"""The camera node on the real MicroPython runtime: a photo in flash, read back whole on CPython; its heap."""

import hashlib
from pathlib import Path

import pytest

from furrow.edge.image_rx import decode_chunk
from tests.image_support import field_jpeg
from tests.mplib import board_lib

pytestmark = pytest.mark.micropython

CAMERA = r"""
import gc
import firmware_fakes as ff  # the fake hardware is not part of the node's footprint
with open("/lib/frame.jpg", "rb") as f:
    frame = f.read()
cam = ff.FakeCameraModule({(640, 480): [frame]})
gc.collect()
base = gc.mem_alloc()
from furrow.firmware.camera_node import CameraNode
from furrow.firmware.drivers.camera import Camera
from furrow.firmware.image_store import ImageStore
from furrow.firmware.seqstore import SeqStore
from furrow.edge.image import ACK_STORED, make_image_ack
import json

T0 = 1767225600000
node = CameraNode("cam-01", Camera(cam, "vga"), ImageStore("/images"), SeqStore("/imgseq"), kind="trap",
                  chunk_bytes=4096)
gc.collect()
before = gc.mem_alloc()
gc.disable()
node.tick(T0)  # the capture, its SHA-256 and the flash write
first = node.next_chunk(T0)
node.sent(T0)
peak = gc.mem_alloc() - before
gc.enable()
gc.collect()
print("HEAP", gc.mem_alloc() - base, peak)
print("CHUNK", first.hex())
while True:
    chunk = node.next_chunk(T0)
    if chunk is None:
        break
    print("CHUNK", chunk.hex())
    node.sent(T0)
node.on_image_ack(json.dumps(make_image_ack("cam-01", 0, ACK_STORED)).encode(), T0)
assert len(node.store) == 0 and node.store.stats["delivered"] == 1
print("OK")
"""


def test_camera_node_on_micropython_sends_a_photo_cpython_reads_whole(micropython, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """MicroPython captures, stores and chunks a VGA JPEG; CPython's decoder checks every CRC-32 and the SHA-256."""
    lib = board_lib(tmp_path / "lib", "firmware_fakes.py")
    image = field_jpeg(640, 480, seed=3)
    (lib / "frame.jpg").write_bytes(image)
    result = micropython.run(CAMERA, lib_dir=lib, timeout=120)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr
    lines = result.stdout.splitlines()
    assert lines[-1] == "OK"
    chunks = [decode_chunk(bytes.fromhex(line.split()[1])) for line in lines if line.startswith("CHUNK")]
    assert [c["index"] for c in chunks] == list(range(chunks[0]["count"])) and chunks[-1]["ask"]
    assert b"".join(c["data"] for c in chunks) == image
    assert chunks[0]["sha256"] == hashlib.sha256(image).digest() and chunks[0]["kind"] == "trap"
    [heap] = [line.split() for line in lines if line.startswith("HEAP")]
    live, peak = int(heap[1]), int(heap[2])
    print(f"camera: heap retained {live} B, capture + store + first chunk allocates {peak} B ({len(image)} B JPEG)")
    assert peak < 32 * 1024 and live < 96 * 1024  # the other roles' lines (test_firmware_build.py)
