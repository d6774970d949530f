"""The farm link of a camera node in a scenario: its photos' chunks straight into the farm runtime's gateway.

As a camera's board loop does over MQTT (hil/mqtt_camera.py), but on direct calls: each chunk the core
offers goes to the gateway's image store at once (its PUBACK is the call returning), and the gateway's
answer (stored, missing, refused) goes back to the core, until the core has nothing more to send.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def deliver_photos(core: Any, gateway: Callable[[bytes], bytes | None], now_ms: int) -> int:
    """Send `core`'s chunks through `gateway` (FarmRuntime.receive_chunk) until it offers none; the chunks sent."""
    sent = 0
    while (chunk := core.next_chunk(now_ms)) is not None:
        answer = gateway(bytes(chunk))
        core.sent(now_ms)
        sent += 1
        if answer is not None:
            core.on_image_ack(answer, now_ms)
    return sent
