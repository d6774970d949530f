"""Canopy cover (Canopeo, cloud/agronomy/canopy.py) per megapixel, beside numpy's raw rates in the same run.

A generated 600 x 800 canopy photo (tests/canopy_images.py, 50 % cover, soil, residue, shadow) is
tiled to the asked size, then timed:

  cover           canopy_cover(image): float32 ratios and excess green, block by block
  decode JPEG     Pillow decoding the same photo saved as JPEG (quality 85): what the cloud does first
  raw elementwise one float32 multiply over H x W elements (np.multiply into a preallocated array):
                  numpy's rate for the cheapest pass over one channel
  raw convert     uint8 -> float32 of the whole H x W x 3 image: the memory-bound floor of any float method

The cover costs "raw passes per pixel" = raw elementwise rate / cover rate single-channel passes.

    .venv/bin/python bench/canopy_cover.py [--megapixels 4] [--seconds 2]
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from furrow.cloud.agronomy.canopy import canopy_cover  # noqa: E402
from tests.canopy_images import scene  # noqa: E402


def rate(fn: Callable[[], object], seconds: float) -> float:
    """Calls per second of fn over about `seconds` (at least one call)."""
    n, start = 0, time.perf_counter()
    while True:
        fn()
        n += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return n / elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--megapixels", type=float, default=4.0, help="size of the photo timed")
    ap.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    args = ap.parse_args()

    tile, _truth = scene(0.5, seed=7)
    reps = max(1, round(args.megapixels * 1e6 / tile[:, :, 0].size))
    rows = int(np.ceil(np.sqrt(reps)))
    image = np.tile(tile, (rows, int(np.ceil(reps / rows)), 1))
    mp = image[:, :, 0].size / 1e6
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=85)
    data = buf.getvalue()

    plane = image[:, :, 1].astype(np.float32)
    out = np.empty_like(plane)
    cover = rate(lambda: canopy_cover(image), args.seconds) * mp
    decode = rate(lambda: np.asarray(Image.open(io.BytesIO(data)).convert("RGB")), args.seconds) * mp
    raw_mul = rate(lambda: np.multiply(plane, 0.95, out=out), args.seconds) * mp
    raw_convert = rate(lambda: image.astype(np.float32), args.seconds) * mp

    print(f"photo {image.shape[1]} x {image.shape[0]} ({mp:.1f} MP), JPEG {len(data) / 1e6:.2f} MB, "
          f"cover {canopy_cover(image):.3f}")
    print(f"{'measure':<34}{'MP/s':>10}")
    for name, value in (("cover (Canopeo)", cover), ("decode JPEG (Pillow)", decode),
                        ("raw: float32 multiply, 1 channel", raw_mul), ("raw: uint8 -> float32, RGB", raw_convert)):
        print(f"{name:<34}{value:>10.1f}")
    passes = raw_mul / cover
    print(f"cover costs {passes:.1f} raw single-channel passes per pixel; a 2 MP camera photo is decoded in "
          f"{2 / decode * 1000:.0f} ms and classified in {2 / cover * 1000:.0f} ms")
    print(json.dumps({"megapixels": round(mp, 2), "cover_mp_s": round(cover, 1), "decode_mp_s": round(decode, 1),
                      "raw_multiply_mp_s": round(raw_mul, 1), "raw_convert_mp_s": round(raw_convert, 1),
                      "raw_passes_per_pixel": round(passes, 1)}))


if __name__ == "__main__":
    main()
