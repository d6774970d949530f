"""Fractional green canopy cover from a downward-looking RGB photo, by the Canopeo method.

Patrignani, A. & Ochsner, T.E. (2015). Canopeo: a powerful new tool for measuring fractional green
canopy cover. Agronomy Journal 107(6):2312-2320, doi:10.2134/agronj15.0150. A pixel is green
canopy when

    R/G < P1,   B/G < P2,   2G - R - B > P3

with R, G, B the pixel's 8-bit digital numbers (0..255). The default thresholds P1 = P2 = 0.95 and
P3 = 20 are those the paper's first author applies with the method in his published exercise
(Patrignani, "Canopy cover", pynotes-agriscience, 2024, which cites the 2015 paper). The paper's
own text, and the fractions it reports for its example images, could not be read offline here:
they are not reproduced in the tests, only images of known cover are. The Matlab app's optional
removal of small connected areas ("noise") is not part of this classification.

Pure numpy: the image is an (H, W, 3) array of 8-bit values (or floats on the same 0..255 scale),
worked in float32 (2G - R - B overflows in uint8), a block of rows at a time so memory stays
bounded for a 12-megapixel photo. The ratios are compared as R < P1 G, which is the same test for
G > 0 and classes a pixel with G = 0 as not green without dividing by zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Rows per block: about 1 megapixel of float32 work arrays at a 4000-pixel width.
_BLOCK_PIXELS = 1 << 20


@dataclass(frozen=True)
class CanopeoThresholds:
    """P1, P2 (ratios to green) and P3 (excess green, on the 0..255 scale); see the module docstring."""

    rg_max: float = 0.95
    bg_max: float = 0.95
    exg_min: float = 20.0


DEFAULT = CanopeoThresholds()


def _rgb(image: np.ndarray) -> np.ndarray:
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        raise ValueError(f"image must be an (H, W, 3) RGB array, got shape {image.shape}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"image has no pixels (shape {image.shape})")
    return image[:, :, :3]


def green_mask(image: np.ndarray, t: CanopeoThresholds = DEFAULT) -> np.ndarray:
    """A boolean (H, W) array, True where the pixel is green canopy by the Canopeo rule."""
    rgb = _rgb(image)
    out = np.empty(rgb.shape[:2], dtype=bool)
    rows = max(1, _BLOCK_PIXELS // rgb.shape[1])
    for top in range(0, rgb.shape[0], rows):
        block = rgb[top:top + rows]
        # each channel as its own contiguous float32 plane: strided views of an RGB block are slower
        r, g, b = (block[:, :, i].astype(np.float32) for i in range(3))
        work = np.multiply(g, t.rg_max)
        mask = np.less(r, work, out=out[top:top + rows])
        np.multiply(g, t.bg_max, out=work)
        mask &= np.less(b, work)
        np.multiply(g, 2.0, out=work)
        work -= r
        work -= b
        mask &= np.greater(work, t.exg_min)
    return out


def canopy_cover(image: np.ndarray, t: CanopeoThresholds = DEFAULT) -> float:
    """Fractional green canopy cover, 0..1: the share of the image's pixels that are green canopy."""
    mask = green_mask(image, t)
    return int(np.count_nonzero(mask)) / mask.size
