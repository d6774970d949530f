"""The gateway's image forwarder on the MQTT cloud link keeps `image_window` photos waiting for their receipts at
once, against a real Mosquitto (its rate: bench/gateway_images.py)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

import aiomqtt
import pytest

from furrow.edge.image_forward import RECEIPT_STORED, decode_image, encode_image_receipt, make_image_receipt
from furrow.edge.topics import GW_IMAGE, GW_IMAGE_RECEIPT, gateway_topic
from furrow.gateway import Gateway
from tests.gateway_support import SITE, gateway_config, running_gateway, wait_until
from tests.test_gateway_images import T0, chunks

pytestmark = pytest.mark.mosquitto

PHOTOS = 3


async def _cloud_answering_once_it_holds(host: str, port: int, gateway: str, root: str, n: int,
                                         seen: list[tuple[str, int]]) -> None:
    """A cloud that answers "stored" only once it holds `n` different photos, then every one it gets."""
    async with aiomqtt.Client(host, port, identifier=f"cloud-{uuid.uuid4().hex[:6]}") as client:
        await client.subscribe(gateway_topic(SITE, gateway, GW_IMAGE, root), qos=1)
        receipts = gateway_topic(SITE, gateway, GW_IMAGE_RECEIPT, root)
        async for message in client.messages:
            header, _ = decode_image(bytes(message.payload))  # type: ignore[arg-type]
            seen.append((header["node"], header["image"]))
            if len(set(seen)) >= n:
                for node, seq in sorted(set(seen)):
                    await client.publish(receipts, encode_image_receipt(make_image_receipt(node, seq, RECEIPT_STORED)),
                                         qos=1)


async def test_the_gateway_sends_a_window_of_photos_before_their_receipts_come(tmp_path, mosquitto):
    """With image_window 3, three photos go to the cloud before any receipt: a cloud that answers only once it holds
    all three gets each once and stores them, and no receipt was late (with one at a time the first photo would wait
    for a receipt that never comes, and go again and again)."""
    root = f"w{uuid.uuid4().hex[:8]}"
    config = gateway_config(tmp_path, mosquitto.host, mosquitto.port, root, image_window=PHOTOS,
                            image_receipt_wait=60)
    gateway = Gateway(config)
    for seq in range(1, PHOTOS + 1):  # three complete photos in its store, as a camera's chunks leave them
        for c in chunks(bytes([seq]) * 3000, seq=seq):
            gateway.images.put_chunk(c, T0 + seq)
    seen: list[tuple[str, int]] = []
    cloud = asyncio.create_task(_cloud_answering_once_it_holds(mosquitto.host, mosquitto.port, config.gateway_id,
                                                               root, PHOTOS, seen))
    try:
        await asyncio.sleep(0.5)  # the cloud's subscription in place before the gateway forwards
        async with running_gateway(config, gateway=gateway):
            # the store marks a photo forwarded in a worker thread before the forwarder counts it stored: wait for both
            await wait_until(lambda: gateway.images.stats()["forwarded"] == PHOTOS
                             and gateway.image_forwarder.counts["stored"] == PHOTOS, "every photo's receipt", 60)
            counts = dict(gateway.image_forwarder.counts)
    finally:
        cloud.cancel()
        with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
            await cloud
    assert sorted(seen) == [("cam-01", seq) for seq in range(1, PHOTOS + 1)]
    assert (counts["sent"], counts["stored"], counts["resent"]) == (PHOTOS, PHOTOS, 0)
