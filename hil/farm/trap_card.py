"""Trap cards with known insects, drawn as a trap camera would photograph them.

The virtual farm's traps stick their catches on a card (`TrapCard`), and the virtual camera
photographs it (`render_card`): a yellow sticky card (printed grid) or a white pheromone-trap
liner, lit unevenly, with glare from the glue, dust, the camera's blur and JPEG compression.
The same drawing makes the generated test set of the counter (tests/test_pest_counting.py), so
every photo comes with its truth: how many insects, of which kind, how many the trap's target.

Insects are drawn as what a camera sees of them on glue: a moth with its wings folded (an
elongated body about one forewing long) or spread (about its wingspan across), a fly (a dark body
and two paler wings), a small insect (aphid, thrips: a dark speck of 1 to 3 mm). Whiteflies,
white on a yellow card, are not drawn: the counter looks for dark objects and would miss them
(docs/pests.md says so).
"""

from __future__ import annotations

import io
import math
import random
from dataclasses import dataclass, field

import numpy as np
from PIL import Image
from scipy import ndimage as ndi
from skimage import draw

from furrow.cloud.pests.models import CardKind

__all__ = ["CardInsect", "CardKind", "Look", "TrapCard", "bycatch", "moth", "render_card"]

CARD_RGB = {CardKind.YELLOW_STICKY: (236, 214, 38), CardKind.WHITE_PHEROMONE: (238, 236, 226)}
GRID_RGB = (40, 40, 30)


@dataclass(frozen=True)
class CardInsect:
    """One insect on a card: centre and size in mm, orientation, look, and whether it is the target."""

    x_mm: float
    y_mm: float
    length_mm: float
    kind: str  # "moth", "moth-spread", "fly", "small"
    angle: float
    rgb: tuple[int, int, int]
    target: bool = False


@dataclass(frozen=True)
class Look:
    """How the photo is spoiled: glare patches, dust specks, blur (px), JPEG quality, and the light."""

    glare: int = 0
    dust: int = 0
    blur_px: float = 0.0
    jpeg_quality: int = 85
    light_gradient: float = 0.1
    grid_mm: float | None = None


def moth(rng: random.Random, x: float, y: float, forewing_mm: tuple[float, float], wingspan_mm: tuple[float, float],
         target: bool = True, spread: bool | None = None) -> CardInsect:
    """A moth, folded (one forewing long) or spread (its wingspan across), in the species' size range."""
    spread = rng.random() < 0.3 if spread is None else spread
    length = rng.uniform(*wingspan_mm) if spread else rng.uniform(*forewing_mm)
    brown = (rng.randint(95, 150), rng.randint(70, 105), rng.randint(35, 70))
    return CardInsect(x, y, length, "moth-spread" if spread else "moth", rng.uniform(0, math.pi), brown, target)


def bycatch(rng: random.Random, x: float, y: float) -> CardInsect:
    """A non-target insect: mostly small ones (aphids, thrips), some flies."""
    if rng.random() < 0.7:
        rgb = (rng.randint(30, 90), rng.randint(40, 100), rng.randint(20, 50))
        return CardInsect(x, y, rng.uniform(1.2, 3.0), "small", rng.uniform(0, math.pi), rgb)
    gray = rng.randint(25, 60)
    return CardInsect(x, y, rng.uniform(4.0, 9.0), "fly", rng.uniform(0, math.pi), (gray, gray, gray + 5))


@dataclass
class TrapCard:
    """A card in a trap: what has stuck to it since it was put in, at card positions in mm."""

    kind: CardKind
    width_mm: float = 200.0
    height_mm: float = 150.0
    insects: list[CardInsect] = field(default_factory=list)

    def place(self, rng: random.Random, length_mm: float, touching: float = 0.15) -> tuple[float, float]:
        """Where the next insect (`length_mm` long) lands: anywhere, or (with probability `touching`)
        against one already there, their outlines meeting or overlapping a little."""
        if self.insects and rng.random() < touching:
            other = rng.choice(self.insects)
            a = rng.uniform(0, 2 * math.pi)
            d = rng.uniform(0.6, 1.0) * (other.length_mm + length_mm) / 2
            x, y = other.x_mm + d * math.cos(a), other.y_mm + d * math.sin(a)
        else:
            x, y = rng.uniform(0, self.width_mm), rng.uniform(0, self.height_mm)
        margin = 4.0
        return min(max(x, margin), self.width_mm - margin), min(max(y, margin), self.height_mm - margin)

    def replace(self) -> None:
        """A technician puts in a fresh card."""
        self.insects.clear()


def _polygon(img: np.ndarray, points: list[tuple[float, float]], rgb: tuple[int, int, int],
             alpha: float = 1.0) -> None:
    """Fill a polygon given as (x, y) pixel points."""
    rr, cc = draw.polygon([p[1] for p in points], [p[0] for p in points], shape=img.shape[:2])
    img[rr, cc] = img[rr, cc] * (1 - alpha) + np.asarray(rgb, np.float32) * alpha


def _ellipse(img: np.ndarray, cx: float, cy: float, half_length: float, half_width: float, angle: float,
             rgb: tuple[int, int, int], alpha: float = 1.0) -> None:
    """An ellipse whose long axis points at `angle` (radians, x towards y)."""
    half_length, half_width = max(half_length, 0.7), max(half_width, 0.7)
    u, v = (math.cos(angle), math.sin(angle)), (-math.sin(angle), math.cos(angle))
    pts = []
    for k in range(24):
        t = 2 * math.pi * k / 24
        a, b = half_length * math.cos(t), half_width * math.sin(t)
        pts.append((cx + a * u[0] + b * v[0], cy + a * u[1] + b * v[1]))
    _polygon(img, pts, rgb, alpha)


def _draw_insect(img: np.ndarray, i: CardInsect, px: float, rng: random.Random) -> None:
    cx, cy, length, a = i.x_mm * px, i.y_mm * px, i.length_mm * px, i.angle
    u, v = (math.cos(a), math.sin(a)), (-math.sin(a), math.cos(a))

    def at(along: float, across: float) -> tuple[float, float]:
        return cx + along * u[0] + across * v[0], cy + along * u[1] + across * v[1]

    if i.kind == "moth":  # wings folded over the body: one forewing long
        _ellipse(img, cx, cy, length / 2, length * 0.19, a, i.rgb)
    elif i.kind == "moth-spread":  # a delta: the wingspan across, the body along the middle
        w = length
        _polygon(img, [at(0.22 * w, 0), at(-0.02 * w, 0.5 * w), at(-0.2 * w, 0.32 * w), at(-0.24 * w, 0),
                       at(-0.2 * w, -0.32 * w), at(-0.02 * w, -0.5 * w)], i.rgb)
        _ellipse(img, *at(0, 0), 0.22 * w, 0.05 * w, a, tuple(max(0, c - 30) for c in i.rgb))
    elif i.kind == "fly":  # a dark body, two pale wings out behind it
        for side in (-1, 1):
            _ellipse(img, *at(-0.25 * length, side * 0.25 * length), length * 0.32, length * 0.13,
                     a + side * 0.7, (150, 150, 150), alpha=0.45)
        _ellipse(img, cx, cy, length / 2, length * 0.2, a, i.rgb)
    else:
        _ellipse(img, cx, cy, length / 2, length * 0.28, a, i.rgb)
    jitter = rng.uniform(-12, 12)  # scales and shading: no two insects the same shade
    rr, cc = draw.disk((cy, cx), max(length * 0.08, 0.8), shape=img.shape[:2])
    img[rr, cc] = np.clip(img[rr, cc] + jitter, 0, 255)


def render_card(card: TrapCard, px_per_mm: float, look: Look, rng: random.Random) -> bytes:
    """The card photographed: a JPEG of (width_mm x height_mm) x px_per_mm pixels."""
    h, w = int(round(card.height_mm * px_per_mm)), int(round(card.width_mm * px_per_mm))
    img = np.empty((h, w, 3), np.float32)
    img[:] = CARD_RGB[card.kind]
    if look.grid_mm:
        line = max(1, int(round(0.5 * px_per_mm)))
        step = look.grid_mm * px_per_mm
        for k in range(1, int(card.width_mm / look.grid_mm) + 1):
            img[:, int(k * step):int(k * step) + line] = GRID_RGB
        for k in range(1, int(card.height_mm / look.grid_mm) + 1):
            img[int(k * step):int(k * step) + line, :] = GRID_RGB
    for _ in range(look.dust):  # grey specks and fluff: paler than any insect
        g = rng.randint(150, 195)
        size = rng.uniform(0.2, 1.6)
        _ellipse(img, rng.uniform(0, w), rng.uniform(0, h), size * px_per_mm / 2, size * px_per_mm / 3,
                 rng.uniform(0, math.pi), (g, g, g - 10), alpha=0.8)
    for insect in card.insects:
        _draw_insect(img, insect, px_per_mm, rng)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    a = rng.uniform(0, 2 * math.pi)  # uneven light: a ramp across the card
    ramp = 1 - look.light_gradient * (0.5 + 0.5 * (np.cos(a) * xx / w + np.sin(a) * yy / h))
    img *= ramp[..., None]
    for _ in range(look.glare):  # the glue's specular patches: bright, soft-edged
        gy, gx = rng.uniform(0, h), rng.uniform(0, w)
        r = rng.uniform(8, 30) * px_per_mm
        glow = rng.uniform(0.25, 0.6) * np.exp(-(((yy - gy) ** 2 + (xx - gx) ** 2) / (2 * r * r)))
        img += (255 - img) * glow[..., None]
    if look.blur_px > 0:
        img = ndi.gaussian_filter(img, sigma=(look.blur_px, look.blur_px, 0))
    out = io.BytesIO()
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(out, "JPEG", quality=look.jpeg_quality)
    return out.getvalue()
