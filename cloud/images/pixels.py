"""A photo's bytes to its RGB pixels, for the steps that measure photos (canopy cover, trap counts).

Bad input is refused with a ContractError naming the image: not a picture Pillow can read, or more
pixels than MAX_PIXELS (a decompression bomb would otherwise take the service's memory).
"""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image, UnidentifiedImageError

from furrow.edge.errors import ContractError

MAX_PIXELS = 40_000_000
"""Larger than any field camera's frame (a 24 MP drone frame fits); a bomb does not."""


def photo_rgb(data: bytes, field: str = "image") -> np.ndarray:
    """The photo's pixels (H x W x 3 uint8 RGB; JPEG, PNG, any format Pillow reads), or ContractError(field)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                if img.width * img.height > MAX_PIXELS:
                    raise ContractError(field, f"{img.width}x{img.height}", f"more than {MAX_PIXELS:,} pixels")
                return np.asarray(img.convert("RGB"))
    except (UnidentifiedImageError, OSError, Image.DecompressionBombWarning, Image.DecompressionBombError) as e:
        raise ContractError(field, f"{len(data)} bytes", f"not a readable image: {e}"[:200]) from None
