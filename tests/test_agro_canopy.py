"""Canopy cover by the Canopeo rule (cloud/agronomy/canopy.py) on photos of known cover."""

import numpy as np
import pytest

from furrow.cloud.agronomy.canopy import CanopeoThresholds, canopy_cover, green_mask
from tests.canopy_images import decoded, jpeg, scene

# (cover aimed at, soil, residue share, shadow size): 0-100 % over the three soils, with residue and shadow
CASES = [(0.0, "dry", 0.3, 0.2), (0.05, "moist", 0.1, 0.3), (0.1, "red", 0.2, 0.2), (0.2, "dry", 0.1, 0.25),
         (0.3, "moist", 0.2, 0.2), (0.4, "red", 0.1, 0.3), (0.5, "dry", 0.2, 0.2), (0.6, "moist", 0.1, 0.2),
         (0.7, "red", 0.2, 0.25), (0.8, "dry", 0.1, 0.3), (0.9, "moist", 0.1, 0.2), (0.95, "red", 0.0, 0.2),
         (1.0, "dry", 0.0, 0.3)]


@pytest.mark.parametrize(("aim", "soil", "residue", "shadow"), CASES)
def test_cover_within_two_points_after_jpeg(aim: float, soil: str, residue: float, shadow: float) -> None:
    """A JPEG photo of soil, residue, shadow and leaves gives its true green cover within 2 percentage points."""
    image, truth = scene(aim, seed=int(aim * 100), soil=soil, residue=residue, shadow=shadow)
    assert abs(truth - aim) < 0.01  # the scene is what was asked for
    measured = canopy_cover(decoded(jpeg(image, quality=85)))
    assert abs(measured - truth) <= 0.02, f"{soil} {aim}: measured {measured:.4f}, truth {truth:.4f}"


def test_each_colour_class() -> None:
    """Leaf greens (lit and shaded) are canopy; soils, straw, grey residue and shadowed soil are not."""
    pixels = np.array([[[52, 112, 36], [26, 56, 18], [118, 150, 52],  # leaf, shaded leaf, yellow-green leaf
                        [158, 128, 98], [84, 64, 50], [192, 170, 118], [132, 126, 114], [42, 32, 25]]], np.uint8)
    assert green_mask(pixels).tolist() == [[True, True, True, False, False, False, False, False]]


def test_each_threshold_binds() -> None:
    """A pixel failing only R/G, only B/G or only the excess green test is not canopy."""
    pixels = np.array([[[100, 104, 40],  # R/G 0.96
                        [40, 104, 100],  # B/G 0.96
                        [30, 34, 30],  # ratios pass, 2G-R-B = 8
                        [40, 104, 40]]], np.uint8)  # passes all three
    assert green_mask(pixels).tolist() == [[False, False, False, True]]
    loose = CanopeoThresholds(rg_max=1.0, bg_max=1.0, exg_min=5.0)
    assert green_mask(pixels, loose).tolist() == [[True, True, True, True]]


def test_no_uint8_overflow() -> None:
    """2G-R-B is worked in floats: in uint8 it wraps (2*240 = 224) and a bright green pixel would be lost."""
    pixel = np.array([[[200, 240, 10]]], np.uint8)
    assert green_mask(pixel).tolist() == [[True]]


def test_black_pixels_are_not_canopy() -> None:
    """G = 0 (and an all-black frame) is no canopy, with no division by zero."""
    with np.errstate(all="raise"):
        assert canopy_cover(np.zeros((4, 5, 3), np.uint8)) == 0.0


def test_large_image_in_blocks_equals_whole() -> None:
    """A photo wider than one block row gives the same mask as its pixels classified one by one."""
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (300, 5000, 3), dtype=np.uint8)
    f = image.astype(np.float64)
    r, g, b = f[..., 0], f[..., 1], f[..., 2]
    expected = (r < 0.95 * g) & (b < 0.95 * g) & (2 * g - r - b > 20)
    assert np.array_equal(green_mask(image), expected)


@pytest.mark.parametrize("shape", [(10, 10), (10, 10, 2), (0, 5, 3)])
def test_bad_shape_is_refused(shape: tuple[int, ...]) -> None:
    """Anything but an (H, W, 3) image with pixels is refused, naming the shape."""
    with pytest.raises(ValueError, match="shape"):
        canopy_cover(np.zeros(shape, np.uint8))
