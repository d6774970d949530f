"""Insects on a trap card, found and measured: `count_card(rgb, spec) -> CardCount`.

A pure function of the photo's pixels (numpy, scikit-image), in five steps:

1. **The card's background.** The card's own brightness is estimated with a percentile filter
   much wider than any insect, on a shrunk copy (fast, and insects covering most of a window
   cannot pull its 80th percentile down), and where a glare patch narrower than that window is
   brighter, by a 12 mm one (card_background). Glare adds light towards white, so where the card
   is brighter than its median the excess is undone on each pixel (card_contrast). Each pixel's
   brightness over the card is its *contrast*: about 1 on bare card, whatever the light, so a glare
   patch or a shadow across the card does not move the threshold, nor make an insect under the glare
   look like dust. Pixels darker than `dark_ratio` of their background are insect.
2. **Grid lines** (yellow sticky cards are printed with them) are long and thin: a horizontal or
   vertical dark run of `LINE_RUN_MM` or more is removed where the mask is no thicker across it
   than a line, so an insect lying across a line keeps its body; a thin piece of line that glare
   broke off is dropped by its shape.
3. **Dust and specks**: objects shorter than `min_length_mm`, or pale even in their darkest tenth
   (contrast above `dust_ratio`: dust is grey, an insect has a dark body), are dropped.
4. **Touching insects** are split by the watershed of the distance transform, seeded by its
   h-maxima (h sized to the body: half a millimetre, or a third of a small insect's half-width),
   and parts that meet at no neck are joined again (split_touching). What stays one
   object but is no single insect (its outline is not convex: overlapping insects) is at least two
   insects, counted by its area against the card's single insects like it (clump_sizes). A large
   insect with a part darker than itself and of another hue (CIELAB a*b*, `HUE_DE`) of an insect's
   size has another insect lying on it (riders); a part only darker in its own hue is its own body
   or shading. An object convex enough to
   pass for one insect is still read for *notches* (`notches`): every insect seen on a card
   (folded or spread moth, fly, aphid) has a convex outline, so a notch in it deeper than
   `NOTCH_MM` is where two insects meet, a small one against a larger one (an aphid against a fly
   or a moth) leaving one each side of it: each two notches (rounded up) are one more insect. An
   object of the target's size is not read for them: on liners full of moths that cost more
   (false notches) than it found.
5. **Each object is measured**: length and width (the axes of the ellipse with its second
   moments), area, solidity, mean colour; it gets a size class by length (`SIZE_CLASSES`) and is
   *target* when its length is within the target species' range on the card (a pheromone
   trap's lure is species-specific: what else sticks to it is bycatch). With a species
   classifier (classifier.py), its label decides instead when it is confident enough.

`SIZE_CLASSES` are reporting bins for people reading a yellow card, not agronomic thresholds.
What the counter gets right and wrong on generated cards is measured in tests/test_pest_counting.py
and stated in docs/pests.md ("Counting insects on trap cards").
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage as ndi
from skimage import color, measure, morphology, segmentation, transform

from .classifier import Label, SpeciesClassifier

METHOD = ("furrow-card-4: percentile background with glare undone, contrast < {dark:g}, grid lines out, "
          "dust by its darkest tenth, size-aware h-maxima watershed, non-convex clumps by area (at least two, "
          "target clumps against the mean single moth that fits in them), notches, riders by hue")

SIZE_CLASSES: tuple[tuple[str, float], ...] = (("tiny", 2.0), ("small", 5.0), ("medium", 12.0), ("large", math.inf))
"""(name, upper bound of the length in mm): thrips and whiteflies, aphids and small flies, flies, moths."""

MAX_OUTLINE_POINTS = 40
H_SMALL = 0.35
GLARE_WINDOW_MM = 12.0
CONVEX = 0.88  # solidity of a single insect's outline; a clump of several is below
MIN_SINGLES = 3  # convex single insects needed to measure a clump against
HUE_DE = 12.0
"""A part of a large insect whose CIELAB a*b* (hue and saturation, not lightness) is this far from the
insect's median is another insect on it (riders). A just-noticeable difference is about 2.3 (Mahy et al.
1994, as colour-science's ``JND_CIE1976`` and the "Color difference" literature restate it; the paper itself
not read); JPEG's subsampled chroma on a blurred card moves a uniform moth's a*b* a
few units. Chosen on the accuracy bench's seeds 1 and 2 among 8, 10, 12, 15 and 19 (docs/pests.md)."""
RIDER_MIN_MM2 = 0.5  # a rider has at least the area of the smallest insect drawn (a 1.2 mm aphid: 0.63 mm2)
RIDER_ELONGATION = 3.2  # a rider is at most this many times longer than wide: a longer dark streak is a body
LINE_RUN_MM = 8.0  # a dark run this long and no thicker than a grid line is line, not insect
LINE_ELONGATION = 8.0  # a leftover piece of line (broken by glare): this many times longer than wide
NOTCH_MM = 0.3  # a notch in a convex-looking outline this deep (its inscribed radius) is where two insects meet
NOTCH_MIN_PX = 1.5  # and at least this many pixels: shallower is the outline's pixels and the JPEG


@dataclass(frozen=True)
class CardSpec:
    """What the counter needs to know about a trap's card and its camera.

    `px_per_mm`: the photo's resolution on the card (image width / the width of card it shows).
    `target_mm`: the target species' length range on a card (None: no target, e.g. a yellow card
    watched for everything). `size_margin`: how far outside it an object still counts as the target:
    an object's length is measured as the long axis of the ellipse of its second moments, which
    for a folded moth's outline comes out a few per cent short of its tip-to-tip length.
    """

    px_per_mm: float
    target_mm: tuple[float, float] | None = None
    size_margin: float = 0.05
    dark_ratio: float = 0.8
    dust_ratio: float = 0.58
    min_length_mm: float = 0.8
    max_insect_mm: float = 50.0
    grid_line_mm: float = 0.6
    min_confidence: float = 0.6

    def __post_init__(self) -> None:
        if not self.px_per_mm > 0:
            raise ValueError(f"px_per_mm must be positive, not {self.px_per_mm}")
        if self.target_mm is not None and not 0 < self.target_mm[0] < self.target_mm[1]:
            raise ValueError(f"target_mm must be (low, high) with 0 < low < high, not {self.target_mm}")

    @property
    def target_range(self) -> tuple[float, float] | None:
        """`target_mm` widened by `size_margin` either side."""
        if self.target_mm is None:
            return None
        return self.target_mm[0] * (1 - self.size_margin), self.target_mm[1] * (1 + self.size_margin)


@dataclass(frozen=True)
class Insect:
    """One object on the card: where, how big, what colour and shape, and how it was judged."""

    x: float
    y: float
    length_mm: float
    width_mm: float
    area_mm2: float
    solidity: float
    colour: tuple[int, int, int]
    size_class: str
    target: bool
    outline: tuple[tuple[int, int], ...]
    """The object's boundary as (x, y) pixels, simplified to at most MAX_OUTLINE_POINTS points."""
    label: Label | None = None
    count: int = 1
    """Insects in the object: more than one for a clump (clump_sizes)."""

    def record(self) -> dict[str, object]:
        return {"x": round(self.x, 1), "y": round(self.y, 1), "length_mm": round(self.length_mm, 2),
                "width_mm": round(self.width_mm, 2), "area_mm2": round(self.area_mm2, 2),
                "solidity": round(self.solidity, 3), "colour": list(self.colour), "size_class": self.size_class,
                "target": self.target, "count": self.count, "outline": [list(p) for p in self.outline],
                "species": self.label.species if self.label else None,
                "confidence": round(self.label.confidence, 3) if self.label else None}


@dataclass(frozen=True)
class CardCount:
    """What the counter found on one card."""

    insects: tuple[Insect, ...]
    width: int
    height: int
    px_per_mm: float
    method: str
    by_class: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(i.count for i in self.insects)

    @property
    def target(self) -> int:
        return sum(i.count for i in self.insects if i.target)

    @property
    def non_target(self) -> int:
        return self.total - self.target


def size_class(length_mm: float) -> str:
    for name, upper in SIZE_CLASSES:
        if length_mm < upper:
            return name
    return SIZE_CLASSES[-1][0]


def _brightness(rgb: np.ndarray) -> np.ndarray:
    """0..1 luma (ITU-R BT.601 weights): insects are dark on a yellow or white card alike."""
    return (rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114) / 255.0


def card_background(gray: np.ndarray, px_per_mm: float, max_insect_mm: float) -> np.ndarray:
    """The bare card's brightness at every pixel: the 80th percentile over a window wider than any
    insect (the card is the bright part, even where insects cover most of it), computed on a copy
    shrunk to a few pixels per insect and scaled back up."""
    shrink = max(1, int(max_insect_mm * px_per_mm / 10))
    small = transform.downscale_local_mean(gray, (shrink, shrink))
    size = max(3, int(math.ceil(2.2 * max_insect_mm * px_per_mm / shrink)) | 1)
    bg_small = ndi.percentile_filter(small, 80, size=size, mode="reflect")
    bg = transform.resize(bg_small, gray.shape, order=1, mode="edge", anti_aliasing=False)
    # A glare patch can be narrower than that window, and its peak brighter than the window's card: the
    # 90th percentile over GLARE_WINDOW_MM (at about 1 px/mm) follows it. Over an insect wider than that
    # window it is the insect's own shade, darker than the wide estimate: the brighter of the two is the card.
    shrink = max(1, int(px_per_mm))
    local_small = ndi.percentile_filter(transform.downscale_local_mean(gray, (shrink, shrink)), 90,
                                        size=max(3, int(GLARE_WINDOW_MM * px_per_mm / shrink) | 1), mode="reflect")
    local = transform.resize(local_small, gray.shape, order=1, mode="edge", anti_aliasing=False)
    return np.maximum(np.maximum(bg, local), 1e-3)


def card_contrast(gray: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Each pixel's brightness over the bare card's, with glare taken out. Glare from the glue adds
    light towards white (a pixel's I = I0 + g (1 - I0), the card's too), which would make an insect
    under it look pale and be taken for dust: where the card is brighter than its median, that excess
    is read as glare g = (B - B_median) / (1 - B_median) and undone on the pixel, (I - g) / (1 - g),
    before it is set against the median card. Elsewhere (shadow, the light's ramp) it is I / B."""
    median = float(np.median(background))
    if median >= 0.999:
        return gray / background
    glare = np.clip((background - median) / (1 - median), 0.0, 0.95)
    return (gray - glare) / (1 - glare) / np.minimum(background, median)


def _long_runs(mask: np.ndarray, run: int, axis: int) -> np.ndarray:
    """Opening by a straight line of `run` pixels along `axis`: the pixels of runs at least that long
    (a running mean and a running maximum, linear in the image whatever the run)."""
    full = ndi.uniform_filter1d(mask.astype(np.float32), run, axis=axis, mode="constant") > 1 - 0.5 / run
    return ndi.maximum_filter1d(full, run, axis=axis, mode="constant")


def insect_mask(contrast: np.ndarray, spec: CardSpec) -> np.ndarray:
    """Dark pixels without the grid lines: long thin runs that a disk of the line's width does not fit."""
    dark = contrast < spec.dark_ratio
    run = max(3, int(LINE_RUN_MM * spec.px_per_mm))
    rows, cols = _long_runs(dark, run, 1), _long_runs(dark, run, 0)
    if rows.any() or cols.any():
        # a line is thin across itself: what is thicker there than a line is an insect lying on it.
        # Where two lines cross, each is thick across the other: thickness across the rows is
        # measured without the thin column lines, and across the columns without the thin row lines.
        across = max(2, int(math.ceil(spec.grid_line_mm * spec.px_per_mm))) + 2
        thin_rows = rows & ~_long_runs(dark, across, 0)
        thin_cols = cols & ~_long_runs(dark, across, 1)
        dark &= (~(rows & ~_long_runs(dark & ~thin_cols, across, 0))
                 & ~(cols & ~_long_runs(dark & ~thin_rows, across, 1)))
        dark = ndi.binary_opening(dark, np.ones((2, 2), bool))  # the lines' frayed edges
    return dark


def _saddles(labels: np.ndarray, distance: np.ndarray) -> dict[tuple[int, int], float]:
    """For each pair of touching labels, the widest point of the neck between them (the highest
    distance-transform value along their shared boundary)."""
    out: dict[tuple[int, int], float] = {}
    for a, b, da, db in ((labels[:, :-1], labels[:, 1:], distance[:, :-1], distance[:, 1:]),
                         (labels[:-1, :], labels[1:, :], distance[:-1, :], distance[1:, :])):
        edge = (a != b) & (a > 0) & (b > 0)
        if not edge.any():
            continue
        lo, hi = np.minimum(a[edge], b[edge]), np.maximum(a[edge], b[edge])
        width = np.minimum(da[edge], db[edge])
        keys = lo.astype(np.int64) * (int(labels.max()) + 1) + hi
        order = np.argsort(keys)
        keys, width = keys[order], width[order]
        starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
        for k, w in zip(keys[starts], np.maximum.reduceat(width, starts), strict=True):
            pair = (int(k // (labels.max() + 1)), int(k % (labels.max() + 1)))
            out[pair] = max(out.get(pair, 0.0), float(w))
    return out


def _split_one(mask: np.ndarray, px_per_mm: float, neck_ratio: float) -> np.ndarray:
    """split_touching on one connected object (its bounding box, padded by one pixel)."""
    distance = ndi.distance_transform_edt(mask)
    # a neck must be half a millimetre narrower than both bodies, or a third of a small body's half-width
    h = max(1.0, min(0.5 * px_per_mm, H_SMALL * float(distance.max())))
    if distance.max() <= h:  # thinner than h everywhere: one body, with no h-maximum of its own
        return mask.astype(np.int32)
    seeds = measure.label(morphology.h_maxima(distance, h) & mask)
    if seeds.max() < 2:
        return mask.astype(np.int32)
    labels = segmentation.watershed(-distance, seeds, mask=mask)
    peak = ndi.maximum(distance, labels, index=np.arange(labels.max() + 1))
    parent = np.arange(labels.max() + 1)

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for (a, b), neck in _saddles(labels, distance).items():
        if neck > neck_ratio * min(peak[a], peak[b]):
            parent[root(a)] = root(b)
    roots = np.array([root(i) for i in range(len(parent))])
    return roots[labels]


def split_touching(mask: np.ndarray, px_per_mm: float, neck_ratio: float = 0.8) -> np.ndarray:
    """Labels with touching bodies apart: watershed of the distance transform from its h-maxima, then
    the parts of one body joined again. Two bodies meet at a neck: where the widest point of the
    boundary between two parts is more than `neck_ratio` of the thinner part's own half-width, the
    boundary is no neck (a moth's spread wings, a bent body) and the parts are one insect. Each
    connected object is split on its own (the card between them costs nothing)."""
    objects, n = ndi.label(mask)
    out = np.zeros(mask.shape, np.int32)
    next_label = 1
    for k, box in enumerate(ndi.find_objects(objects), start=1):
        if box is None:
            continue
        padded = tuple(slice(max(0, sl.start - 1), sl.stop + 1) for sl in box)
        one = objects[padded] == k
        parts = _split_one(one, px_per_mm, neck_ratio)
        ids = np.unique(parts[parts > 0])
        remap = np.zeros(int(parts.max()) + 1, np.int32)
        remap[ids] = np.arange(next_label, next_label + len(ids))
        region = out[padded]
        region[one] = remap[parts[one]]
        next_label += len(ids)
    return out


def _outline(region_mask: np.ndarray, top: int, left: int) -> tuple[tuple[int, int], ...]:
    contours = measure.find_contours(np.pad(region_mask, 1).astype(float), 0.5)
    if not contours:
        return ()
    longest = max(contours, key=len)[:-1]  # a closed contour repeats its first point
    # evenly spaced points along it: enough to draw the outline over the photo
    poly = longest[np.linspace(0, len(longest) - 1, min(len(longest), MAX_OUTLINE_POINTS)).astype(int)]
    return tuple((int(round(c + left - 1)), int(round(r + top - 1))) for r, c in poly)


class _Rider:
    """A dark insect lying on a larger, paler one: the parts of regionprops the counter reads."""

    def __init__(self, region: measure._regionprops.RegionProperties, top: int, left: int) -> None:
        self.area = region.area
        self.solidity = 1.0  # one insect: its own colour outlines it
        self.image = region.image
        r0, c0, r1, c1 = region.bbox
        self.bbox = (r0 + top, c0 + left, r1 + top, c1 + left)
        self.slice = (slice(r0 + top, r1 + top), slice(c0 + left, c1 + left))
        cy, cx = region.centroid
        self.centroid = (cy + top, cx + left)


def riders(kept: list, contrast: np.ndarray, spec: CardSpec, rgb: np.ndarray) -> tuple[list, dict[int, int]]:
    """Insects lying on a larger insect (a fly or an aphid on a moth): in each object of the `large`
    class, the parts darker than the object's median contrast whose colour differs from the object's
    median colour in hue and saturation (CIELAB a*b*) by more than HUE_DE, of an insect's size and
    shape, each one more insect. A part that is only darker in the same hue (a moth's body between
    its spread wings, its own shading) is the same insect; a paler part (glare, a wing) is no body.
    Returns the riders and, by index in `kept`, how many lie on each insect that has any."""
    out: list = []
    hosts: dict[int, int] = {}
    mm = spec.px_per_mm
    for index, (region, length, _) in enumerate(kept):
        if size_class(length) != "large":
            continue
        own = contrast[region.slice]
        ab = color.rgb2lab(rgb[region.slice])[..., 1:]
        hue = np.hypot(*(ab - np.median(ab[region.image], axis=0)).transpose(2, 0, 1))
        inner = region.image & (own < float(np.median(own[region.image]))) & (hue > HUE_DE)
        inner = ndi.binary_opening(inner, np.ones((2, 2), bool))
        for part in measure.regionprops(measure.label(inner)):
            plen = part.axis_major_length / mm
            pwidth = max(part.axis_minor_length / mm, 1.0 / mm)
            if (spec.min_length_mm <= plen < 0.5 * length and RIDER_MIN_MM2 * mm**2 <= part.area < 0.4 * region.area
                    and plen <= RIDER_ELONGATION * pwidth):
                out.append((_Rider(part, region.bbox[0], region.bbox[1]), plen, pwidth))
                hosts[index] = hosts.get(index, 0) + 1
    return out, hosts


def notches(image: np.ndarray, convex_image: np.ndarray, depth_px: float) -> int:
    """The notches in an object's outline (its mask and its convex hull's, one bounding box): the
    parts of the hull outside the object whose inscribed circle is at least `depth_px` in radius.
    A pixelated convex outline leaves only slivers a pixel thick between it and its hull."""
    gap = convex_image & ~image
    if not gap.any():
        return 0
    parts, n = ndi.label(gap)
    depth = ndi.maximum(ndi.distance_transform_edt(np.pad(gap, 1))[1:-1, 1:-1], parts, index=np.arange(1, n + 1))
    return int(np.count_nonzero(np.asarray(depth) >= depth_px))


def _median(values: list[float]) -> float | None:
    return float(np.median(values)) if len(values) >= MIN_SINGLES else None


def _thickness(image: np.ndarray) -> float:
    """The radius in pixels of the largest circle inside an object's mask (one bounding box)."""
    return float(ndi.distance_transform_edt(np.pad(image, 1)).max())


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if len(values) >= MIN_SINGLES else None


def clump_sizes(objects: Sequence[tuple[float, float, float, str, int, float]], target_mm: tuple[float, float] | None,
                convex: float = CONVEX) -> list[tuple[int, bool]]:
    """(insects in it, target?) of each (length mm, area mm2, solidity, size class, notches, thickness mm)
    object, its thickness the radius of the largest circle inside it.

    A single insect's outline is convex (solidity at least `convex`): one insect, and one more for
    each two notches in it (rounded up: a small insect against a larger one leaves a notch each side,
    one side may blur shut), unless it is of the target's size (one moth). A clump
    of overlapping ones is not convex, so it is at least two insects: its area over the median area
    of the convex single insects like it (same size class), rounded, when the card has MIN_SINGLES of
    those. A clump at least as long as the target's shortest is target insects measured against the
    *mean* area of the target-sized singles that fit in it (no thicker than it): the lure's moths lie
    folded (a forewing long) or spread (about five times the area, and thicker), so the median is one
    posture's area, while n moths of the mix that can make up the clump cover about n times its mean
    (the expected sum of n areas drawn from that mix); a clump no thicker than a folded moth holds
    folded moths only."""
    singles = [(length, area, cls, thick) for length, area, solidity, cls, _, thick in objects if solidity >= convex]
    targets = [] if target_mm is None else [(a, t) for length, a, _, t in singles
                                            if target_mm[0] <= length <= target_mm[1]]
    out = []
    for length, area, solidity, cls, notched, thickness in objects:
        is_target = target_mm is not None and target_mm[0] <= length <= target_mm[1]
        if solidity >= convex:
            out.append((1 if is_target else 1 + (notched + 1) // 2, is_target))
            continue
        if target_mm is not None and length >= target_mm[0]:
            ref, is_target = _mean([a for a, t in targets if t <= thickness]), True
        else:
            ref = _median([a for _, a, c, _ in singles if c == cls])
        out.append((max(2, round(area / ref)) if ref else 2, is_target))  # not convex: not one insect
    return out


def count_card(rgb: np.ndarray, spec: CardSpec, classifier: SpeciesClassifier | None = None,
               target_species: str | None = None) -> CardCount:
    """The insects on a card photo (H x W x 3, uint8 RGB); see the module docstring."""
    if rgb.ndim != 3 or rgb.shape[2] < 3:
        raise ValueError(f"an RGB image is H x W x 3, not {rgb.shape}")
    rgb = rgb[..., :3]
    gray = _brightness(rgb.astype(np.float32))
    contrast = card_contrast(gray, card_background(gray, spec.px_per_mm, spec.max_insect_mm))
    labels = split_touching(insect_mask(contrast, spec), spec.px_per_mm)
    mm = spec.px_per_mm
    kept: list[tuple[measure._regionprops.RegionProperties, float, float]] = []
    for region in measure.regionprops(labels):
        length = region.axis_major_length / mm
        if length < spec.min_length_mm:
            continue
        if float(np.percentile(contrast[region.slice][region.image], 10)) > spec.dust_ratio:
            continue  # even its darkest tenth is pale: dust
        width = max(region.axis_minor_length / mm, 1.0 / mm)
        if width <= spec.grid_line_mm * 1.5 and length > LINE_ELONGATION * width and length > 3.0:
            continue  # a piece of grid line the glare broke off the rest
        kept.append((region, length, width))
    depth_px = max(NOTCH_MIN_PX, NOTCH_MM * mm)
    low, high = spec.target_range or (math.inf, math.inf)
    notched = [notches(r.image, r.image_convex, depth_px) if r.solidity >= CONVEX and not low <= length <= high
               else 0 for r, length, _ in kept]  # a target-sized object is one moth (clump_sizes)
    on_top, hosts = riders(kept, contrast, spec, rgb)
    # an insect against a moth's side can be seen twice, as a notch pair and as a part of another hue:
    # the two estimates of the insects on that moth are not added, the larger one counts
    notched = [2 * max(0, (k + 1) // 2 - hosts.get(i, 0)) for i, k in enumerate(notched)]
    kept += on_top
    notched += [0] * (len(kept) - len(notched))  # a rider is one insect, outlined by its own colour
    sizes = clump_sizes([(length, r.area / mm**2, float(r.solidity), size_class(length), k, _thickness(r.image) / mm)
                         for (r, length, _), k in zip(kept, notched, strict=True)], spec.target_range)
    labels_out: Sequence[Label | None] = [None] * len(kept)
    if classifier is not None and kept:
        labels_out = classifier.classify([rgb[r.slice] for r, _, _ in kept])
    insects = []
    for (region, length, width), label, (n, target) in zip(kept, labels_out, sizes, strict=True):
        top, left = region.bbox[0], region.bbox[1]
        colour = tuple(int(v) for v in rgb[region.slice][region.image].mean(axis=0))
        if label is not None and label.confidence >= spec.min_confidence and target_species is not None:
            target = label.species == target_species
        y, x = region.centroid
        insects.append(Insect(x=float(x), y=float(y), length_mm=length, width_mm=width, area_mm2=region.area / mm**2,
                              solidity=float(region.solidity), colour=colour,  # type: ignore[arg-type]
                              size_class=size_class(length), target=target,
                              outline=_outline(region.image, top, left), label=label, count=n))
    by_class = {name: 0 for name, _ in SIZE_CLASSES}
    for i in insects:
        by_class[i.size_class] += i.count
    return CardCount(insects=tuple(insects), width=rgb.shape[1], height=rgb.shape[0], px_per_mm=spec.px_per_mm,
                     method=METHOD.format(dark=spec.dark_ratio), by_class=by_class)
