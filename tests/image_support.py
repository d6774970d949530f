"""Photos for the tests: real JPEGs, made with Pillow, of what a camera node sees."""

import io
import random

from PIL import Image, ImageDraw


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
