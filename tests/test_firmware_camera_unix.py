"""The camera node as a board runs it: /main.py, main.read_config, build_node and camera_link's loop, as .mpy files
on the real MicroPython unix port (tests/unixboard.py: the esp32-camera binding's stand-in gives the sensor's JPEG
frames), its photos over a real Mosquitto into the real gateway's image store, each checked by its SHA-256."""

import asyncio
import hashlib
import uuid
from pathlib import Path

import pytest

from furrow.gateway import GatewayConfig
from furrow.gateway.images import ImageStore as GatewayImages
from furrow.hil.mosquitto import HOST
from furrow.hil.scenarios import RunOptions
from furrow.hil.scenarios._fault_rig import SITE, Rig, wait_until
from tests.gateway_support import gateway_config, running_gateway
from tests.image_support import field_jpeg
from tests.unixboard_support import board_files, board_options, build_image, node_config, run_board

pytestmark = pytest.mark.mosquitto

# An ESP32-CAM has 4 MB of PSRAM, so MicroPython's heap is megabytes there; this one is ample for a VGA frame
# (its bytes, the SHA-256 and a chunk) and far below a board's.
HEAP_KIB = 256
INTERVAL_S = 5
RUN_S = 23  # photos at boot and every 5 s: five, the last delivered well before the end
RESUME_RUN_S = 20  # one photo at boot, its link cut halfway, the reconnect and the rest well within it


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
@pytest.mark.parametrize("frozen", [False, True], ids=["mpy-files", "frozen-image"])
async def test_a_camera_board_delivers_every_photo_whole_to_the_real_gateway(unix_port, mosquitto, tmp_path, frozen):
    """Booted from its built image (as .mpy files on the flash, or frozen into the firmware by the image's own
    manifest, as the other roles run), the camera node takes a photo every 5 s and sends each in chunks; the
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
    # frozen: an ESP32's image (an ESP32-CAM's MicroPython has umqtt built in, so the image's manifest does not
    # ask for it: the unix port's trimmed micropython-lib lacks the ssl package its manifest requires); the
    # firmware built here carries umqtt beside it, as the ESP32's does
    build_image(unix_port, "camera", tmp_path / "image", cfg, **({"board": "ESP32_GENERIC"} if frozen else {}))
    files = board_files(tmp_path / "image", tmp_path / "board", frozen)
    binary = None
    if frozen:
        manifest = tmp_path / "image" / "frozen" / "with_umqtt.py"
        manifest.write_text(f"include({str(manifest.parent / 'node.py')!r})\n"
                            f"package('umqtt', base_path={str(unix_port.umqtt_dir)!r})\n")
        binary = unix_port.board_binary(manifest)
    opts = board_options("camera", cfg, RUN_S, speed=0, camera_frames=[str(p) for p in paths],
                         list_dirs=["/images"])
    gw = gateway_config(tmp_path / "gw", mosquitto.host, mosquitto.port, root)
    (tmp_path / "gw").mkdir()
    async with running_gateway(gw):
        run = await asyncio.to_thread(run_board, unix_port, HEAP_KIB, opts, image=files, flash=tmp_path / "flash.img",
                                      binary=binary, timeout=RUN_S + 60)
    assert run.ok, run.describe()
    assert run.result["files"] == {"/images": []}, run.result  # nothing left in the flash: all delivered
    got = _gateway_images(Path(gw.buffer_path).with_suffix(".images.db"))
    assert {n for n, _, _ in got} == {node}
    seqs = [seq for _, seq, _ in got]
    assert len(got) >= 4 and seqs == list(range(seqs[0], seqs[0] + len(seqs))), seqs  # no photo missing
    assert [data for _, _, data in got] == [frames[i % len(frames)] for i in range(len(got))]  # in the order taken


class CutOnce:
    """A TCP hop in front of the broker that drops its first connection once `after_bytes` have come from the
    client (a camera's Wi-Fi lost in the middle of a photo), then passes every later connection whole."""

    def __init__(self, host: str, port: int, after_bytes: int) -> None:
        self.upstream, self.after_bytes = (host, port), after_bytes
        self.cuts = 0
        self.port = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        budget = self.after_bytes if self.cuts == 0 else None

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter, counted: bool) -> None:
            nonlocal budget
            while data := await src.read(4096):
                if counted and budget is not None:
                    if len(data) >= budget:
                        self.cuts += 1
                        raise ConnectionResetError("cut")
                    budget -= len(data)
                dst.write(data)
                await dst.drain()

        try:
            await asyncio.gather(pipe(reader, up_writer, True), pipe(up_reader, writer, False))
        except (ConnectionError, OSError):
            pass
        finally:
            for w in (writer, up_writer):
                w.close()


@pytest.mark.full
async def test_a_photo_cut_mid_transfer_resumes_and_reaches_the_cloud_once_whole(unix_port, tmp_path):
    """The camera board's link drops halfway through its photo's chunks; it reconnects, sends on from the chunk
    whose PUBACK did not come, and the gateway assembles the photo and forwards it: the cloud's object store holds
    exactly that one photo, byte for byte, and the board's flash is empty."""
    frame = field_jpeg(640, 480, seed=11)
    (tmp_path / "frame.jpg").write_bytes(frame)
    async with Rig(RunOptions(workdir=tmp_path), "resume") as rig:
        assert rig.cloud is not None and rig.broker is not None
        cut = CutOnce(HOST, rig.broker.port, after_bytes=len(frame) // 2)
        await cut.start()
        # one photo, at boot: the interval is longer than the run
        cfg = node_config("camera", "mqtt", (HOST, cut.port), node="cam-01", site=SITE, interval_s=3600)
        cfg["camera"].update(framesize="vga", chunk_bytes=1024, ack_wait_s=5)
        build_image(unix_port, "camera", tmp_path / "image", cfg)
        files = board_files(tmp_path / "image", tmp_path / "board")
        opts = board_options("camera", cfg, RESUME_RUN_S, speed=0, camera_frames=[str(tmp_path / "frame.jpg")],
                             list_dirs=["/images"])
        images = rig.cloud.services.images
        try:
            async with running_gateway(GatewayConfig.model_validate(rig.gateway_raw())):
                run = await asyncio.to_thread(run_board, unix_port, HEAP_KIB, opts, image=files,
                                              flash=tmp_path / "flash.img", timeout=RESUME_RUN_S + 60)
                await wait_until(lambda: _listed(images, 1), "the photo in the cloud", 60)
        finally:
            await cut.close()
        listed = await images.list(limit=10)
        data = await images.content("cam-01", listed[0].seq) if listed else None
    assert run.ok, run.describe()
    assert cut.cuts == 1
    assert run.result["files"] == {"/images": []}, run.result
    assert len(listed) == 1 and data == frame and listed[0].sha256 == hashlib.sha256(frame).hexdigest()


async def _listed(images, n: int) -> bool:  # type: ignore[no-untyped-def]
    return len(await images.list(limit=10)) >= n
