"""Worked area (cloud/machinery/coverage.py) of a long track, beside the raw GEOS and PROJ steps it is
built from, measured in the same run.

A square field of --field-ha hectares in Hebei (UTM 50N, 234 km off the central meridian) is worked
back and forth for --hours at 1 Hz: passes along the field at 2.5 m/s (9 km/h) with a --width-m
implement, the implement lifted for a 20 s headland turn, GNSS noise of 0.3 m (1 sigma, seeded), each
fix with GGA fix quality --quality (2, DGPS, by default: the 0.3 m noise is a DGPS receiver's).

  worked area      worked_area(fixes, width, field): everything (passes, swaths, union, the closing by
                   the receiver's resolution r, clip, the skipped strips' closing, areas, the covered
                   polygon back to WGS 84)
  ... unclosed     the same fixes without fix quality (r = 0): the cost of the resolution closing
  raw: project     pyproj transforming the fixes to UTM: the projection floor
  raw: buffer      shapely buffering each pass's line by half the width: the swath floor
  raw: union       shapely.union_all of those swaths: the overlay floor
  raw: closing     the union buffered by +r then -r (round joins): the resolution closing's floor

    .venv/bin/python bench/worked_area.py [--hours 8] [--field-ha 50] [--width-m 6] [--quality 2] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import shapely
from pyproj import Transformer
from shapely.geometry import LineString, Polygon

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from furrow.cloud.machinery.coverage import Fix, LocalPlane, passes, resolution_m, worked_area  # noqa: E402

LON0, LAT0 = 114.4, 36.0
SPEED_M_S = 2.5
TURN_S = 20


def best(fn: Callable[[], object], repeat: int) -> float:
    """The fastest of `repeat` calls, in seconds (the least disturbed by other load)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def scenario(hours: float, field_ha: float, width_m: float, quality: int | None) -> tuple[list[Fix], Polygon]:
    plane = LocalPlane(LON0, LAT0)
    to_wgs84 = Transformer.from_crs(plane.crs, "EPSG:4326", always_xy=True)
    x0, y0 = plane.points([Fix(0, LON0, LAT0, True)])[0]
    side = math.sqrt(field_ha * 10_000)
    k = plane.scale
    rng = np.random.default_rng(20)
    xs, ys, downs, ts = [], [], [], []
    t, lane, n = 0, 0, int(hours * 3600)
    while t < n:
        x = width_m / 2 + lane * width_m
        going_up = lane % 2 == 0
        steps = int(side / SPEED_M_S)
        for i in range(steps + 1):
            y = i * SPEED_M_S if going_up else side - i * SPEED_M_S
            xs.append(x), ys.append(y), downs.append(True), ts.append(t)
            t += 1
        for _ in range(TURN_S):
            xs.append(x + width_m / 2), ys.append(side + 3 if going_up else -3), downs.append(False), ts.append(t)
            t += 1
        lane += 1
    xs_a = x0 + k * (np.array(xs[:n]) + rng.normal(0, 0.3, n))
    ys_a = y0 + k * (np.array(ys[:n]) + rng.normal(0, 0.3, n))
    lon, lat = to_wgs84.transform(xs_a, ys_a)
    fixes = [Fix(1_776_664_800_000 + 1000 * ts[i], float(lon[i]), float(lat[i]), downs[i], quality)
             for i in range(n)]
    corners = [(x0, y0), (x0 + k * side, y0), (x0 + k * side, y0 + k * side), (x0, y0 + k * side)]
    flon, flat = to_wgs84.transform([c[0] for c in corners], [c[1] for c in corners])
    return fixes, Polygon(list(zip(flon, flat, strict=True)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hours", type=float, default=8.0, help="track length at 1 Hz")
    ap.add_argument("--field-ha", type=float, default=50.0, help="the square field's area")
    ap.add_argument("--width-m", type=float, default=6.0, help="the implement's working width")
    ap.add_argument("--quality", type=int, default=2, help="GGA fix quality of every fix (0: none)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per measure (the fastest counts)")
    args = ap.parse_args()

    fixes, field = scenario(args.hours, args.field_ha, args.width_m, args.quality or None)
    unclosed_fixes = [replace(f, quality=None) for f in fixes]
    result = worked_area(fixes, args.width_m, field)
    unclosed = worked_area(unclosed_fixes, args.width_m, field)
    r = resolution_m(fixes) * LocalPlane(field.centroid.x, field.centroid.y).scale
    plane = LocalPlane(field.centroid.x, field.centroid.y)
    xy = plane.points(fixes)
    half = args.width_m / 2 * plane.scale
    runs = [r for r in passes(fixes, xy) if len(r) > 1]
    swaths = [LineString([xy[i] for i in r]).buffer(half, cap_style="flat") for r in runs]
    lon = np.array([f.lon for f in fixes])
    lat = np.array([f.lat for f in fixes])
    fwd = Transformer.from_crs("EPSG:4326", plane.crs, always_xy=True)

    total = best(lambda: worked_area(fixes, args.width_m, field), args.repeat)
    total_unclosed = best(lambda: worked_area(unclosed_fixes, args.width_m, field), args.repeat)
    united = shapely.union_all(swaths)
    closing = best(lambda: united.buffer(r, join_style="round").buffer(-r, join_style="round") if r else united,
                   args.repeat)
    project = best(lambda: fwd.transform(lon, lat), args.repeat)
    buffer = best(lambda: [LineString([xy[i] for i in r]).buffer(half, cap_style="flat") for r in runs], args.repeat)
    union = best(lambda: shapely.union_all(swaths), args.repeat)
    raw = project + buffer + union + closing

    print(f"{len(fixes)} fixes ({args.hours:g} h at 1 Hz), {len(runs)} passes, field {result.field_ha:.2f} ha, "
          f"covered {result.covered_ha:.2f} ha ({result.covered_pct:.1f}%), overlap {result.overlap_ha:.3f} ha, "
          f"skipped {result.skipped_ha:.3f} ha; resolution r {result.resolution_m:g} m (unclosed: covered "
          f"{unclosed.covered_ha:.2f} ha, skipped {unclosed.skipped_ha:.3f} ha)")
    print(f"{'measure':<28}{'s':>10}{'fixes/s':>14}")
    for name, value in (("worked area (everything)", total), ("... unclosed (r = 0)", total_unclosed),
                        ("raw: project (pyproj)", project), ("raw: buffer swaths (GEOS)", buffer),
                        ("raw: union swaths (GEOS)", union), ("raw: closing +-r (GEOS)", closing)):
        print(f"{name:<28}{value:>10.3f}{len(fixes) / value:>14,.0f}")
    print(f"the worked area takes {total / raw:.1f}x the sum of its raw steps")
    print(json.dumps({"fixes": len(fixes), "passes": len(runs), "field_ha": round(result.field_ha, 2),
                      "covered_ha": round(result.covered_ha, 2), "resolution_m": result.resolution_m,
                      "unclosed_covered_ha": round(unclosed.covered_ha, 2), "worked_area_s": round(total, 4),
                      "worked_area_unclosed_s": round(total_unclosed, 4), "raw_closing_s": round(closing, 4),
                      "raw_project_s": round(project, 4), "raw_buffer_s": round(buffer, 4),
                      "raw_union_s": round(union, 4), "share_of_raw": round(total / raw, 2)}))


if __name__ == "__main__":
    main()
