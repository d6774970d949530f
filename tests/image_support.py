"""Photos for the tests: real JPEGs, made with Pillow, of what a camera node sees; camera node cores that take them."""

import io
import random
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from furrow.firmware.camera_node import CameraNode
from furrow.firmware.drivers.camera import Camera
from furrow.firmware.image_store import ImageStore as FlashImages
from furrow.firmware.seqstore import SeqStore
from tests.firmware_fakes import FakeCameraModule


def field_jpeg(width: int = 640, height: int = 480, seed: int = 0, quality: int = 85) -> bytes:
    """A JPEG of the given size: brown soil with green leaves scattered over it (a nadir canopy photo)."""
    rng = random.Random(seed)
    img = Image.new("RGB", (width, height), (120, 90, 60))
    draw = ImageDraw.Draw(img)
    for _ in range(40):
        x, y = rng.randrange(width), rng.randrange(height)
        r = rng.randrange(max(2, width // 40), max(3, width // 8))
        draw.ellipse((x - r, y - r, x + r, y + r), fill=(40 + rng.randrange(40), 140 + rng.randrange(60), 40))
    out = io.BytesIO()
    img.save(out, "JPEG", quality=quality)
    return out.getvalue()


class RecordingFlash(FlashImages):
    """A camera node's flash image store that notes every photo it keeps in `taken` ((node, seq) -> bytes) and its
    capture time in `times` (seq -> Unix ms): what the cloud must end up with."""

    def __init__(self, path: str, node: str, taken: dict[tuple[str, int], bytes]) -> None:
        super().__init__(path, max_images=64, max_bytes=4_000_000)
        self.node, self.taken = node, taken
        self.times: dict[int, int] = {}

    def put(self, seq, kind, ts_ms, data, fmt="jpeg"):  # type: ignore[no-untyped-def]
        image = super().put(seq, kind, ts_ms, data, fmt)
        if image is not None:
            self.taken[(self.node, seq)] = bytes(data)
            self.times[seq] = ts_ms
        return image


def camera_core(folder: Path, node: str, frames: list[bytes], taken: dict[tuple[str, int], bytes],
                **kw: Any) -> CameraNode:
    """A camera node core on the datasheet fake of an OV2640 at VGA, giving `frames` in turn, its flash in
    `folder`/`node`; `kw` go to CameraNode (interval_ms, chunk_bytes, ack_wait_ms, ...)."""
    flash = folder / node
    flash.mkdir(parents=True)
    return CameraNode(node, Camera(FakeCameraModule({(640, 480): frames}), "vga"),
                      RecordingFlash(str(flash / "images"), node, taken), SeqStore(str(flash / "imgseq")), **kw)
