"""The virtual farm's canopy camera: photos of a zone's canopy whose green cover is known.

A scene is a background of soil (dry, moist or reddish, with blotches and sensor noise), crop
residue (straw and old grey stalks) and cast shadows, under leaves drawn as rotated ellipses in
several greens, some of them shaded. The true cover is the share of pixels a leaf was drawn on,
counted before the photo is saved: the JPEG round trip (Pillow, 4:2:0 chroma) then blurs the edges
as a camera's encoder does. The tests of the Canopeo rule (tests/test_agro_canopy.py) and its bench
use the same scenes.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

SOILS = {"dry": (158, 128, 98), "moist": (84, 64, 50), "red": (142, 92, 62)}
RESIDUE = ((192, 170, 118), (132, 126, 114))
LEAVES = ((52, 112, 36), (78, 138, 50), (100, 158, 60), (42, 92, 30), (118, 150, 52))


def _ellipse(h: int, w: int, cy: float, cx: float, ry: float, rx: float,
             angle: float) -> tuple[tuple[slice, slice], np.ndarray]:
    """A rotated ellipse as (the slices of its bounding box in the image, its mask inside them)."""
    r = max(rx, ry)
    y0, y1 = min(h, max(0, int(cy - r))), min(h, max(0, int(cy + r) + 1))
    x0, x1 = min(w, max(0, int(cx - r))), min(w, max(0, int(cx + r) + 1))
    y, x = np.ogrid[y0:y1, x0:x1]
    c, s = np.cos(angle), np.sin(angle)
    dy, dx = y - cy, x - cx
    u, v = dx * c + dy * s, -dx * s + dy * c
    return (slice(y0, y1), slice(x0, x1)), (u / rx) ** 2 + (v / ry) ** 2 <= 1.0


def _leaf_colour(rng: np.random.Generator) -> np.ndarray:
    return np.array(LEAVES[rng.integers(len(LEAVES))], np.float32) * rng.uniform(0.8, 1.1)


def scene(cover: float, seed: int = 0, size: tuple[int, int] = (600, 800), soil: str = "dry",
          residue: float = 0.1, shadow: float = 0.2) -> tuple[np.ndarray, float]:
    """An (H, W, 3) uint8 photo aiming at `cover` (0..1) and its true cover (the leaf pixels' share).

    The default size and leaf sizes are those of an ESP32-CAM class camera at SVGA, 1.5-2 m over a
    row crop: leaves 20-50 pixels wide and 60-180 long."""
    rng = np.random.default_rng(seed)
    h, w = size
    img = np.broadcast_to(np.array(SOILS[soil], dtype=np.float32), (h, w, 3)).copy()
    # blotches: a coarse random field scaled up, brightening and darkening the soil by ~8 %
    coarse = rng.normal(1.0, 0.08, (h // 40 + 2, w // 40 + 2)).astype(np.float32)
    img *= np.kron(coarse, np.ones((40, 40), np.float32))[:h, :w, None]
    for _ in range(int(residue * 120)):
        box, stalk = _ellipse(h, w, rng.uniform(0, h), rng.uniform(0, w), rng.uniform(3, 8), rng.uniform(40, 110),
                              rng.uniform(0, np.pi))
        img[box][stalk] = RESIDUE[rng.integers(len(RESIDUE))]
    leaves = np.zeros((h, w), dtype=bool)
    target = min(1.0, max(0.0, cover))
    if target >= 0.999:  # a closed canopy: leaves over leaves
        leaves[:] = True
        img[:] = _leaf_colour(rng)
    covered, goal, limit = int(leaves.sum()), int((target - 0.002) * h * w), int((target + 0.004) * h * w)
    for _ in range(200_000):
        if covered >= goal:
            break
        box, leaf = _ellipse(h, w, rng.uniform(-10, h + 10), rng.uniform(-10, w + 10), rng.uniform(10, 25),
                             rng.uniform(30, 90), rng.uniform(0, np.pi))
        new = leaf & ~leaves[box]
        added = int(new.sum())
        if covered + added > limit and target < 0.999:
            continue  # this leaf would overshoot the target: place another
        img[box][leaf] = _leaf_colour(rng)
        leaves[box] |= leaf
        covered += added
    if shadow > 0:  # a cast shadow (a stake, a neighbour plant) darkens soil and leaves alike
        box, dark = _ellipse(h, w, rng.uniform(0, h), rng.uniform(0, w), h * shadow, w * shadow * 1.5,
                             rng.uniform(0, np.pi))
        img[box][dark] *= 0.5
    luminance = rng.normal(0, 6, (h, w, 1)).astype(np.float32)  # sensor noise, mostly shared by the channels
    img += luminance + rng.normal(0, 3, (h, w, 3)).astype(np.float32)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8), float(leaves.mean())


def jpeg(image: np.ndarray, quality: int = 85) -> bytes:
    """The photo as a JPEG, as a camera node stores it."""
    out = io.BytesIO()
    Image.fromarray(image).save(out, format="JPEG", quality=quality)
    return out.getvalue()


def decoded(data: bytes) -> np.ndarray:
    """A JPEG back to an (H, W, 3) uint8 array."""
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def canopy_photo(cover: float, seed: int, soil: str = "dry", quality: int = 85) -> tuple[bytes, float]:
    """What the virtual camera sends: a JPEG of the canopy at `cover` (0..1) and the photo's true cover."""
    image, truth = scene(cover, seed=seed, soil=soil)
    return jpeg(image, quality), truth
