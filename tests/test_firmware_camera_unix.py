"""The camera node as a board runs it: /main.py, main.read_config, build_node and camera_link's loop, as .mpy files
on the real MicroPython unix port (tests/unixboard.py: the esp32-camera binding's stand-in gives the sensor's JPEG
frames), its photos over a real Mosquitto into the real gateway's image store, each checked by its SHA-256."""

import asyncio
import uuid
from pathlib import Path

import pytest

from furrow.gateway.images import ImageStore as GatewayImages
from tests.gateway_support import gateway_config, running_gateway
from tests.image_support import field_jpeg
from tests.unixboard_support import board_files, board_options, build_image, node_config, run_board

pytestmark = pytest.mark.mosquitto

# An ESP32-CAM has 4 MB of PSRAM, so MicroPython's heap is megabytes there; this one is ample for a VGA frame
# (its bytes, the SHA-256 and a chunk) and far below a board's.
HEAP_KIB = 256
INTERVAL_S = 5
RUN_S = 23  # photos at boot and every 5 s: five, the last delivered well before the end


def _gateway_images(db: Path) -> list[tuple[str, int, bytes]]:
    """Every photo the gateway holds whole and checked, oldest first (none forwarded: no cloud is there)."""
    store = GatewayImages(db)
    try:
        out = []
        while (image := store.next_image()) is not None:
            out.append((image.node, image.seq, image.data))
            store.forwarded(image.node, image.seq)
        assert store.stats()["quarantined"] == 0, store.quarantined()
        return out
    finally:
        store.close()


@pytest.mark.full
async def test_a_camera_board_delivers_every_photo_whole_to_the_real_gateway(unix_port, mosquitto, tmp_path):
    """Booted from its built image, the camera node takes a photo every 5 s and sends each in chunks; the
    gateway reassembles them, checks each SHA-256 and answers "stored", and the node's flash is empty at the
    end: every photo it took is at the gateway, in seq order, with the sensor's very bytes."""
    frames = [field_jpeg(640, 480, seed=seed) for seed in range(3)]
    paths = []
    for i, frame in enumerate(frames):
        paths.append(tmp_path / f"frame{i}.jpg")
        paths[-1].write_bytes(frame)
    node, root = f"cam-{uuid.uuid4().hex[:8]}", f"t{uuid.uuid4().hex[:8]}"  # a root of its own on the shared broker
    cfg = node_config("camera", "mqtt", (mosquitto.host, mosquitto.port), node=node, interval_s=INTERVAL_S)
    cfg["mqtt"]["root"] = root
    cfg["camera"].update(framesize="vga", chunk_bytes=2048, ack_wait_s=5)
    build_image(unix_port, "camera", tmp_path / "image", cfg)
    files = board_files(tmp_path / "image", tmp_path / "board")
    opts = board_options("camera", cfg, RUN_S, speed=0, camera_frames=[str(p) for p in paths],
                         list_dirs=["/images"])
    gw = gateway_config(tmp_path / "gw", mosquitto.host, mosquitto.port, root)
    (tmp_path / "gw").mkdir()
    async with running_gateway(gw):
        run = await asyncio.to_thread(run_board, unix_port, HEAP_KIB, opts, image=files, flash=tmp_path / "flash.img",
                                      timeout=RUN_S + 60)
    assert run.ok, run.describe()
    assert run.result["files"] == {"/images": []}, run.result  # nothing left in the flash: all delivered
    got = _gateway_images(Path(gw.buffer_path).with_suffix(".images.db"))
    assert {n for n, _, _ in got} == {node}
    seqs = [seq for _, seq, _ in got]
    assert len(got) >= 4 and seqs == list(range(seqs[0], seqs[0] + len(seqs))), seqs  # no photo missing
    assert [data for _, _, data in got] == [frames[i % len(frames)] for i in range(len(got))]  # in the order taken
