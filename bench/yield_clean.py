"""Yield-data cleaning (cloud/machinery/yield_map.py `harvest`) of a combine's day, with and without the
overlapping-pass filter, beside the worked-area computation it contains, measured in the same run.

A combine with a --header-m header harvests a field of --passes passes by --length-m at 2 m/s with 20 s
headland turns (the HIL combine of hil/machinery.py: its receiver DGPS, wandering 0.3 m; its yield monitor
12 s late through a 3 s lag, 3 % noise, a spike every 150 s). By default 55 passes of 9 m by 1000 m: 49.5 ha,
7.9 hours at 1 Hz.

  harvest              harvest(points, width, field, 15.5): every filter and the total
  ... overlap off      the same with YieldFilters(max_overlap=1.0), the shares still computed: the
                       difference is the union of the passes before each and the intersections
  raw: worked area     coverage.worked_area of the same track (harvest calls it for the harvested area)

    .venv/bin/python bench/yield_clean.py [--passes 55] [--length-m 1000] [--header-m 9] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from worked_area import best  # noqa: E402  (bench/, the script's own folder, is on sys.path)

from furrow.cloud.machinery.coverage import Fix, worked_area  # noqa: E402
from furrow.cloud.machinery.yield_map import YieldFilters, harvest, read_yield_csv  # noqa: E402
from furrow.cloud.vigour.boundaries import parse_boundary  # noqa: E402
from furrow.hil.machinery import Field, Pattern, Receiver, YieldMonitor  # noqa: E402

T0 = 1_780_000_000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--passes", type=int, default=55)
    ap.add_argument("--length-m", type=float, default=1000.0, help="a whole number of seconds at 2 m/s")
    ap.add_argument("--header-m", type=float, default=9.0)
    ap.add_argument("--repeat", type=int, default=3, help="runs per measure (the fastest counts)")
    args = ap.parse_args()

    field = Field(114.403, 36.0, args.header_m, args.passes, args.length_m)
    pattern = Pattern(field, passes=args.passes, speed_m_s=2.0, turn_s=20)
    monitor = YieldMonitor(pattern, T0, lambda x, _y: 0.75 if x < args.header_m * args.passes / 2 else 1.125, seed=3)
    receiver = Receiver(pattern, T0, noise_m=0.3, correlation_s=30, quality=2, seed=3)
    for s in range(T0, T0 + pattern.duration_s + 40):
        _, pose, lonlat = receiver.epoch(s)
        monitor.on_epoch(s, pose, lonlat)
    points = read_yield_csv(monitor.csv())
    shape = parse_boundary(field.boundary)
    fixes = [Fix(p.t_ms, p.lon, p.lat, p.down) for p in points]

    result = harvest(points, args.header_m, shape, 15.5)
    with_filter = best(lambda: harvest(points, args.header_m, shape, 15.5), args.repeat)
    without = best(lambda: harvest(points, args.header_m, shape, 15.5, YieldFilters(max_overlap=1.0)), args.repeat)
    raw = best(lambda: worked_area(fixes, args.header_m, shape), args.repeat)
    load = os.getloadavg()[0]
    error = 100 * (result.mass_kg - monitor.true_kg) / monitor.true_kg
    print(f"{len(points)} points ({pattern.duration_s / 3600:.1f} h at 1 Hz), {args.passes} passes of "
          f"{args.header_m:g} m, field {field.area_ha():.2f} ha; load average {load:.2f} on {os.cpu_count()} cores")
    print(f"  harvest               {with_filter:8.3f} s   total {result.mass_kg:,.0f} kg of {monitor.true_kg:,.0f} "
          f"cut ({error:+.2f} %), dropped {result.dropped}")
    print(f"  ... overlap off       {without:8.3f} s")
    print(f"  raw: worked area      {raw:8.3f} s")
    print(json.dumps({"bench": "yield_clean", "points": len(points), "passes": args.passes,
                      "harvest_s": round(with_filter, 4), "harvest_overlap_off_s": round(without, 4),
                      "worked_area_s": round(raw, 4), "mass_error_pct": round(error, 3),
                      "dropped": result.dropped, "load_avg_1m": round(load, 2)}))


if __name__ == "__main__":
    main()
