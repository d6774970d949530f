"""A gateway forwarding by HTTPS sends its camera nodes' images by HTTPS too, keeping each until the cloud's receipt."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from pathlib import Path

import httpx
import pytest

from furrow.cloud.app import create_app
from furrow.cloud.images import ObjectsUnavailable
from furrow.gateway.image_link import image_url
from furrow.hil.mqtt_camera import MqttCameraRunner
from tests.cloud_support import ADMIN, local_settings
from tests.gateway_support import SITE, WAIT, gateway_config, running_gateway, wait_until
from tests.http_support import UvicornThread
from tests.image_support import camera_core, field_jpeg

pytestmark = pytest.mark.mosquitto

PHOTOS = 3


class ObjectsOutage:
    """The cloud's object store behind a switch: while `down`, every write is ObjectsUnavailable (the API's 503)."""

    def __init__(self, objects) -> None:  # type: ignore[no-untyped-def]
        self.objects, self.down, self.refused = objects, True, 0

    def put(self, key: str, data: bytes, content_type: str) -> None:
        if self.down:
            self.refused += 1
            raise ObjectsUnavailable("the test switched the object store off")
        self.objects.put(key, data, content_type)

    def get(self, key: str) -> bytes:
        return self.objects.get(key)

    def delete(self, key: str) -> None:
        self.objects.delete(key)


async def test_https_gateway_forwards_images_and_keeps_them_while_the_cloud_cannot_store(tmp_path: Path, mosquitto,
                                                                                        mqtt_topic_prefix):
    """With forward_via = "https" a camera's photos go to POST /api/v1/ingest/image with the gateway's token. While
    the cloud's object store is down (503) each photo stays in the gateway's store; once it is back every photo is
    stored once, byte for byte, and the gateway's store is empty."""
    gw_id = f"gw-{uuid.uuid4().hex[:8]}"
    app = create_app(local_settings(tmp_path / "cloud"))
    with UvicornThread(app) as server:
        async with httpx.AsyncClient(base_url=server.url, headers=ADMIN, timeout=WAIT) as client:
            r = await client.post("/api/v1/auth/tokens", json={"user": f"{SITE}.{gw_id}", "role": "gateway"})
            assert r.status_code == 201, r.text
            token = r.json()["token"]
        images = app.state.services.images
        outage = ObjectsOutage(images.objects)
        images.objects = outage
        config = gateway_config(tmp_path, mosquitto.host, mosquitto.port, mqtt_topic_prefix, gateway_id=gw_id,
                                forward_via="https", https={"url": f"{server.url}/api/v1/ingest/batch",
                                                            "token": token})
        assert image_url(config) == f"{server.url}/api/v1/ingest/image"
        taken: dict[tuple[str, int], bytes] = {}
        core = camera_core(tmp_path, "cam-01", [field_jpeg(640, 480, seed=i) for i in range(PHOTOS)], taken,
                           interval_ms=1000, chunk_bytes=4096, ack_wait_ms=2000)
        runner = MqttCameraRunner(core, SITE, mosquitto.host, mosquitto.port, root=mqtt_topic_prefix)
        stop = asyncio.Event()
        async with running_gateway(config) as gw:
            task = asyncio.create_task(runner.run(stop))
            try:
                await wait_until(lambda: len(taken) >= PHOTOS, "the camera's photos", timeout=60)
                stop.set()  # no more photos
                await wait_until(lambda: gw.images.stats()["completed"] >= len(taken), "the photos at the gateway")
                await wait_until(lambda: outage.refused >= 2, "the cloud refusing to store for now")
                held = gw.images.stats()
                assert held["pending"] >= 1 and held["forwarded"] == 0  # kept: no receipt came
                outage.down = False
                await wait_until(lambda: gw.images.stats()["pending"] == 0, "the photos to leave the gateway", 60)
                await task
                forwarder, kept = gw.image_forwarder.stats(), gw.images.stats()
            finally:
                stop.set()
                await asyncio.wait_for(task, WAIT)
        listed = await images.list(node="cam-01")
    assert sorted(("cam-01", i.seq) for i in listed) == sorted(taken)  # each once
    for image in listed:
        data = await images.content("cam-01", image.seq)
        assert data == taken[("cam-01", image.seq)] and hashlib.sha256(data).hexdigest() == image.sha256
    assert forwarder["sink_failures"] >= 1 and "503" in forwarder["last_error"] and kept["forwarded"] == len(taken)
    assert runner.holding == 0
