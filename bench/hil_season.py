"""How fast the `season` scenario runs (50 nodes, 120 simulated days), beside its raw limits.

Measured in the same run, all on the simulated clock, one process:

  farm only        the virtual farm alone (10 zones, weather, crop, pests) stepped hourly for
                   120 days: the ceiling of any scenario on this farm
  farm + cores     the 50 firmware cores ticked on it too (every report made and encoded),
                   no gateway, no cloud, no policy
  season           the whole scenario on the farm's production services (hil/runtime.py): cores ->
                   gateway -> cloud ingest and store; the cloud's planner (or the timer) commanding
                   the controllers through CommandService (signed) and the gateway's relay; the
                   alert job daily

Wall and CPU seconds are printed; on a shared machine the CPU figure is the steadier one.

    .venv/bin/python bench/hil_season.py [--policy furrow|timer|both] [--seed 1]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import UTC, datetime
from datetime import time as dtime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from furrow.hil.clock import HOUR_S, SimClock  # noqa: E402
from furrow.hil.farm import Crop, Farm, FarmZone, SoilColumn, generate  # noqa: E402
from furrow.hil.fleet import CPythonFleet  # noqa: E402
from furrow.hil.report import scratch_dir  # noqa: E402
from furrow.hil.scenarios import RunOptions, all_scenarios  # noqa: E402
from furrow.hil.scenarios._farmplan import nodes_of  # noqa: E402
from furrow.hil.scenarios.season import PLAN  # noqa: E402


def timed(fn):  # type: ignore[no-untyped-def]
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - w, time.process_time() - c, out


def farm_alone(with_cores: bool, work: Path) -> int:
    start = datetime.combine(PLAN.start, dtime(0), UTC)
    days = generate(PLAN.start, PLAN.days + 1, 1, PLAN.climate)
    zones = [FarmZone(f"z{i + 1:02d}", SoilColumn.uniform(0.30, 0.14, 60), Crop()) for i in range(PLAN.zones)]
    farm = Farm(zones, days, start)
    clock = SimClock(start)
    specs = nodes_of(PLAN, [z.name for z in zones])
    fleet = CPythonFleet(specs, farm, clock, work) if with_cores else None
    reports = 0
    everyone = [s.node_id for s in specs]
    for h in range(1, PLAN.days * 24 + 1):
        t = farm.start_s + h * HOUR_S
        farm.advance(t)
        clock.advance_to(t)
        if fleet is not None:
            reports += len(fleet.step(clock.ms(), everyone, [], {}).uplinks)
    return reports


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", choices=("furrow", "timer", "both"), default="both")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rows = []
    with scratch_dir("furrow-bench-hil-") as work:
        w, c, _ = timed(lambda: farm_alone(False, Path(work) / "a"))
        rows.append(("farm only (10 zones, hourly)", w, c, "-"))
        w, c, reports = timed(lambda: farm_alone(True, Path(work) / "b"))
        rows.append(("farm + 50 firmware cores", w, c, f"{reports:,} reports"))
        for policy in (("furrow", "timer") if args.policy == "both" else (args.policy,)):
            options = RunOptions(workdir=Path(work) / policy, policy=policy, seed=args.seed)
            w, c, r = timed(lambda o=options: asyncio.run(all_scenarios()["season"].run(o)))
            detail = (f"{r.extra['reports_sent']:,} reports, {r.readings_stored:,} readings stored, "
                      f"{r.commands_issued} commands, {r.irrigation_mm} mm, {r.stress_days} stress days")
            rows.append((f"season, policy {policy}", w, c, detail))
    print(f"season scenario: {PLAN.zones} zones, 50 nodes, {PLAN.days} simulated days, seed {args.seed}\n")
    print("| run | wall s | CPU s | what it did |")
    print("|---|---:|---:|---|")
    for name, w, c, detail in rows:
        print(f"| {name} | {w:.1f} | {c:.1f} | {detail} |")


if __name__ == "__main__":
    main()
