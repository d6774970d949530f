"""Photos from camera nodes reach the cloud's object store intact, each exactly once, through the real gateway
process and a real Mosquitto, across a gateway SIGKILL with chunks in flight and a WAN cut (issue 17's "done when")."""

from __future__ import annotations

import asyncio
import hashlib
import time

import pytest

from furrow.firmware.camera_node import CameraNode
from furrow.gateway.images import ImageStore as GatewayImages
from furrow.hil.faults import GatewayProcess, LinkCut
from furrow.hil.mosquitto import HOST
from furrow.hil.mqtt_camera import MqttCameraRunner
from furrow.hil.scenarios import RunOptions
from furrow.hil.scenarios._fault_rig import SITE, Rig, wait_until
from tests.image_support import camera_core, field_jpeg

pytestmark = pytest.mark.mosquitto

CAMERAS = 3
INTERVAL_MS = 1500  # a photo every 1.5 s per camera: several in each phase of the run
CHUNK_BYTES = 1024  # about 20 chunks per photo, so a kill lands inside one


def mid_photo(core: CameraNode) -> bool:
    """The core has sent some chunks of a photo and not yet all: chunks are in flight."""
    image = core._image
    if image is None or not core._todo:
        return False
    count = -(-image.size // core.chunk_bytes)
    return 0 < len(core._todo) < count


async def test_photos_reach_the_object_store_intact_once_across_a_gateway_sigkill_and_a_wan_cut(tmp_path):
    """Three camera nodes photograph through `furrow gateway run` (a real process) and Mosquitto; the gateway is
    SIGKILLed while chunks are in flight and restarted, then its cloud link is cut and restored. Every photo the
    cameras took is in the cloud's object store with the same bytes and SHA-256, listed once; nothing is left in
    any flash, in the gateway's store or its quarantine."""
    taken: dict[tuple[str, int], bytes] = {}
    async with Rig(RunOptions(workdir=tmp_path), "images") as rig:
        assert rig.cloud is not None and rig.broker is not None
        images = rig.cloud.services.images
        cut = LinkCut(HOST, rig.broker.port)
        await cut.start()
        gateway = GatewayProcess(rig.gateway_raw(cloud_port=cut.port, image_receipt_wait=2.0),
                                 rig.folder / "gateway")
        runners = []
        for i in range(1, CAMERAS + 1):
            frames = [field_jpeg(640, 480, seed=100 * i + k) for k in range(12)]
            core = camera_core(rig.folder / "nodes", f"cam-{i:02d}", frames, taken, interval_ms=INTERVAL_MS,
                               chunk_bytes=CHUNK_BYTES, ack_wait_ms=3000)
            runners.append(MqttCameraRunner(core, SITE, HOST, rig.broker.port, drain_s=60.0))
        stop = asyncio.Event()
        tasks = []
        gateway.start()
        try:
            tasks = [asyncio.create_task(r.run(stop), name=r.node_id) for r in runners]

            async def stored() -> int:
                return len(await images.list(limit=500))

            await wait_until(lambda: _at_least(stored, 1), "the first photo in the cloud", 60)
            # SIGKILL while a camera is inside a photo: some of its chunks at the gateway, the rest to come
            await wait_until(lambda: any(mid_photo(r.core) for r in runners), "a camera in the middle of a photo")
            in_flight = [(r.node_id, r.core._image.seq) for r in runners if mid_photo(r.core)]
            await gateway.kill()
            await asyncio.sleep(1.0)  # chunks keep coming: the broker queues them for the gateway's session
            gateway.start()
            before_cut = await stored()
            await wait_until(lambda: _at_least(stored, before_cut + 1), "photos after the restart", 60)
            # the WAN goes for 4 s: photos pile up at the gateway and go once it is back
            cut.down()
            cut_at = time.time() * 1000
            await asyncio.sleep(4.0)
            await cut.up()
            up_at = time.time() * 1000
            during_cut = [(r.node_id, seq) for r in runners for seq, ts in r.core.store.times.items()
                          if cut_at <= ts <= up_at]
            await asyncio.sleep(2.0)
            stop.set()  # no more photos; the cameras deliver what their flash holds
            await asyncio.gather(*tasks)
            await wait_until(lambda: _at_least(stored, len(taken)), f"all {len(taken)} photos in the cloud", 90)
            # the last receipts may still be on their way to the gateway: it forgets each photo at its receipt
            await wait_until(lambda: _gateway_images(rig)["pending"] == 0, "the gateway's last receipts", 60)
            assert await gateway.stop() == 0, gateway.log_tail()
        finally:
            stop.set()
            for task in tasks:
                task.cancel()
            if gateway.running:
                await gateway.kill()
            await cut.close()
        listed = await images.list(limit=500)
        keys = [(i.node, i.seq) for i in listed]
        assert sorted(keys) == sorted(taken) and len(keys) == len(set(keys))  # none lost, none twice
        for image in listed:
            data = await images.content(image.node, image.seq)
            assert data == taken[(image.node, image.seq)]
            assert image.sha256 == hashlib.sha256(data).hexdigest() and image.size == len(data)
        files = sorted(p.name for p in (rig.folder / "cloud" / "images").rglob("*") if p.is_file())
        assert len(files) == 2 * len(taken) and not [f for f in files if f.endswith(".tmp")]  # image + thumbnail
        assert in_flight and gateway.kills == 1 and cut.outages == 1 and during_cut, (in_flight, during_cut)
        assert all(r.holding == 0 for r in runners)
        stats = _gateway_images(rig)
        assert (stats["pending"], stats["partial"], stats["quarantined"]) == (0, 0, 0), stats


async def _at_least(count, n: int) -> bool:  # type: ignore[no-untyped-def]
    return await count() >= n


def _gateway_images(rig: Rig) -> dict:
    """The gateway's image store's counters, read from its file (SQLite WAL: beside the running process)."""
    store = GatewayImages(rig.folder / "gateway" / "buffer.images.db")
    try:
        return store.stats()
    finally:
        store.close()
