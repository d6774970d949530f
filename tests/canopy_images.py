"""Generated canopy photos of known green cover, for the Canopeo tests and bench: the virtual farm's own
(hil/farm/canopy_photo.py), and their decoding."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from furrow.hil.farm.canopy_photo import jpeg, scene

__all__ = ["decoded", "jpeg", "scene"]


def decoded(data: bytes) -> np.ndarray:
    """A JPEG back to an (H, W, 3) uint8 array."""
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
