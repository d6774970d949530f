"""How fast `furrow demo` simulates its weeks of season, beside the raw limit.

Measured in the same run, all on the simulated clock, one process:

  farm + cores     the demo's virtual farm (2 zones, weather, crop, pests) stepped hourly for the
                   same days, its 6 firmware cores ticked at their season intervals (every report
                   made and encoded): no gateway, no cloud
  season           the demo's backfill (hil/demo_season.py): the same farm and cores through the
                   production services (gateway buffer, forwarder, relay; cloud ingest, store,
                   planner every evening, signed commands, alerts), registry entries first

Wall and CPU seconds are printed; on a shared machine the CPU figure is the steadier one. The
last line is one JSON object.

    .venv/bin/python bench/demo_season.py [--days 45] [--seed 7]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from furrow.hil import demo_farm, demo_season  # noqa: E402
from furrow.hil.clock import HOUR_S, SimClock  # noqa: E402
from furrow.hil.fleet import CPythonFleet  # noqa: E402


def _setup(days: int, seed: int, work: Path) -> tuple:
    place = demo_farm.place_for(datetime.now(UTC).date())
    start = datetime.now(UTC).date() - timedelta(days=days)
    farm = demo_farm.build_farm(place, start, days + 2, seed)
    sim = SimClock(demo_farm.local_midnight(start, place))
    fleet = CPythonFleet(demo_farm.nodes(demo_farm.SEASON_INTERVALS_S), farm, sim, work / "nodes")
    return place, start, farm, sim, fleet


def farm_and_cores(days: int, seed: int, work: Path) -> int:
    _place, _start, farm, sim, fleet = _setup(days, seed, work)
    due = {n: sim.s() for n in fleet.specs}
    reports = 0
    for h in range(1, days * 24 + 1):
        t = farm.start_s + h * HOUR_S
        farm.advance(t)
        sim.advance_to(t)
        now = [n for n, at in due.items() if t >= at]
        for n in now:
            due[n] += fleet.specs[n].interval_s
        reports += len(fleet.step(sim.ms(), now, [], {}).uplinks)
    return reports


def season(days: int, seed: int, work: Path) -> demo_season.Season:
    place, start, farm, sim, fleet = _setup(days, seed, work)
    return asyncio.run(demo_season.simulate(work / "season", farm, sim, fleet, place, start, float(days),
                                            lambda _line: None))


def timed(fn, *args):  # type: ignore[no-untyped-def]
    w, c = time.perf_counter(), time.process_time()
    out = fn(*args)
    return time.perf_counter() - w, time.process_time() - c, out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=int, default=45)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="furrow-bench-demo-") as tmp:
        raw_w, raw_c, reports = timed(farm_and_cores, args.days, args.seed, Path(tmp) / "raw")
        w, c, s = timed(season, args.days, args.seed, Path(tmp) / "demo")
    r = s.result
    print(f"{'run':<16} {'wall s':>7} {'CPU s':>7}  what it did")
    print(f"{'farm + cores':<16} {raw_w:7.1f} {raw_c:7.1f}  {args.days} days, {reports} reports")
    print(f"{'season':<16} {w:7.1f} {c:7.1f}  {r.simulated_days:g} days, {r.extra['reports_sent']} reports, "
          f"{r.readings_stored} readings stored, {r.commands_issued} commands, "
          f"{sum(v for v in r.extra['planner_rules'].values())} decisions")
    print(f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    print(json.dumps({"days": args.days, "raw_wall_s": round(raw_w, 2), "raw_cpu_s": round(raw_c, 2),
                      "raw_reports": reports, "season_wall_s": round(w, 2), "season_cpu_s": round(c, 2),
                      "season_days": r.simulated_days, "readings_stored": r.readings_stored,
                      "readings_lost": r.readings_lost, "commands": r.commands_issued,
                      "seconds_per_simulated_day_cpu": round(c / max(r.simulated_days, 1.0), 3)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
