"""A trap photo from a camera node ends as a reviewed count in the cloud, through the real gateway: the
production farm runtime (hil/runtime.py) with the real camera node core and driver over a virtual trap card."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import timedelta

from furrow.cloud.pests import TrapIn
from furrow.cloud.registry.models import NodeIn
from furrow.edge.image import DEFAULT_CHUNK_BYTES
from furrow.firmware.camera_node import CameraNode
from furrow.firmware.drivers.camera import Camera
from furrow.firmware.image_store import ImageStore
from furrow.firmware.seqstore import SeqStore
from furrow.hil.clock import SimClock
from furrow.hil.farm.trap_card import CardKind, TrapCard, moth
from furrow.hil.trap_camera import TrapCamera
from tests.test_hil_runtime import START, _open

CAUGHT = (0, 2, 3, 4)  # moths caught each night before the morning photo


async def test_trap_photos_travel_the_gateway_and_end_as_counts_a_person_corrects(tmp_path):
    """Four mornings' photos of a corn earworm liner (the real camera core, 640 x 480 JPEG) go chunk by chunk
    through the gateway's image store and forwarder to the cloud, where each is counted on the trap's lure:
    the counts are the moths on the card; a technician's correction is the count the season uses."""
    clock = SimClock(START)
    rt = await _open(tmp_path, clock)
    await rt.register(NodeIn(id="cam-02", role="camera", zone_id="z1"))
    await rt.services.pests.put_trap("cam-02", 1, TrapIn(card=CardKind.WHITE_PHEROMONE, lure="helicoverpa-zea",
                                                         view_width_mm=200), "tech")
    card = TrapCard(CardKind.WHITE_PHEROMONE)
    rng = random.Random(4)
    sensor = TrapCamera(lambda: card)
    flash = tmp_path / "flash"
    flash.mkdir()
    core = CameraNode("cam-02", Camera(sensor, "vga"), ImageStore(str(flash / "cam-02.images")),
                      SeqStore(str(flash / "cam-02.seq")), kind="trap", fw="0.1.0", interval_ms=86_400_000,
                      chunk_bytes=DEFAULT_CHUNK_BYTES)
    try:
        for night, caught in enumerate(CAUGHT):
            for _ in range(caught):  # in rows, as a liner's moths rarely touch at these numbers
                k = len(card.insects)
                m = moth(rng, 0, 0, (16.0, 20.0), (32.0, 45.0), spread=False)
                card.insects.append(replace(m, x_mm=25 + 50 * (k % 4), y_mm=25 + 35 * (k // 4), angle=0.0))
            clock.advance_to((START + timedelta(days=night, hours=6)).timestamp())
            core.tick(clock.ms())
            while (chunk := core.next_chunk(clock.ms())) is not None:
                answer = rt.receive_chunk(bytes(chunk))
                core.sent(clock.ms())
                if answer is not None:
                    core.on_image_ack(answer, clock.ms())
            await rt.forward()
        counts = await rt.services.pests.counts(node="cam-02")
        reviewed = await rt.services.pests.review("cam-02", counts[-1].seq, 10, None, "tech", "a moth under the lid")
    finally:
        await rt.close()
    assert sensor.truths == [0, 2, 5, 9]
    assert [c.target for c in counts] == sensor.truths and {c.zone_id for c in counts} == {"z1"}
    assert all(c.px_per_mm == 3.2 and c.species == "helicoverpa-zea" for c in counts)
    assert (reviewed.reviewed_target, reviewed.reviewed_total, reviewed.reviewed_by) == (10, 10, "tech")
    assert rt.counts.images_to_cloud == 4
