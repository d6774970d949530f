"""A canopy photo's bytes to its green cover: decoded with Pillow, classified by Canopeo.

Bad input is refused with a ContractError naming the image (images/pixels.py: not a picture Pillow
can read, or more pixels than MAX_PIXELS).
Runs in a worker thread: a 2-megapixel photo takes about a quarter of a second on this machine
(bench/canopy_cover.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..agronomy.canopy import DEFAULT, CanopeoThresholds, canopy_cover
from ..images.pixels import MAX_PIXELS, photo_rgb

__all__ = ["MAX_PIXELS", "PhotoCover", "photo_cover"]


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
    rgb = photo_rgb(data, field)
    return PhotoCover(canopy_cover(rgb, thresholds), rgb.shape[1], rgb.shape[0], thresholds)
