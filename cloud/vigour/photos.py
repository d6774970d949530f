"""A canopy photo's bytes to its green cover: decoded with Pillow, classified by Canopeo.

Bad input is refused with a ContractError naming the image: not a picture Pillow can read, or
more pixels than MAX_PIXELS (a decompression bomb would otherwise take the service's memory).
Runs in a worker thread: a 2-megapixel photo takes about a quarter of a second on this machine
(bench/canopy_cover.py).
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, UnidentifiedImageError

from furrow.edge.errors import ContractError

from ..agronomy.canopy import DEFAULT, CanopeoThresholds, canopy_cover

MAX_PIXELS = 40_000_000
"""Larger than any field camera's frame (a 24 MP drone frame fits); a bomb does not."""


@dataclass(frozen=True)
class PhotoCover:
    fraction: float
    width: int
    height: int
    thresholds: CanopeoThresholds

    @property
    def method(self) -> str:
        t = self.thresholds
        return f"canopeo R/G<{t.rg_max:g} B/G<{t.bg_max:g} 2G-R-B>{t.exg_min:g}"


def photo_cover(data: bytes, field: str = "image", thresholds: CanopeoThresholds = DEFAULT) -> PhotoCover:
    """The green canopy cover of a photo (JPEG, PNG, any format Pillow reads), or ContractError(field)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                if img.width * img.height > MAX_PIXELS:
                    raise ContractError(field, f"{img.width}x{img.height}", f"more than {MAX_PIXELS:,} pixels")
                rgb = np.asarray(img.convert("RGB"))
    except (UnidentifiedImageError, OSError, Image.DecompressionBombWarning, Image.DecompressionBombError) as e:
        raise ContractError(field, f"{len(data)} bytes", f"not a readable image: {e}"[:200]) from None
    return PhotoCover(canopy_cover(rgb, thresholds), rgb.shape[1], rgb.shape[0], thresholds)
