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
import dataclasses
import json
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
from furrow.hil.scenarios import RunOptions, ScenarioResult  # noqa: E402
from furrow.hil.scenarios._farmplan import FarmPlan, build_run, nodes_of  # noqa: E402
from furrow.hil.scenarios.season import PLAN  # noqa: E402


def timed(fn):  # type: ignore[no-untyped-def]
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - w, time.process_time() - c, out


def farm_alone(plan: FarmPlan, with_cores: bool, work: Path) -> int:
    start = datetime.combine(plan.start, dtime(0), UTC)
    days = generate(plan.start, plan.days + 1, 1, plan.climate)
    zones = [FarmZone(f"z{i + 1:02d}", SoilColumn.uniform(0.30, 0.14, 60), Crop()) for i in range(plan.zones)]
    farm = Farm(zones, days, start)
    clock = SimClock(start)
    specs = nodes_of(plan, [z.name for z in zones])
    fleet = CPythonFleet(specs, farm, clock, work) if with_cores else None
    reports = 0
    everyone = [s.node_id for s in specs]
    for h in range(1, plan.days * 24 + 1):
        t = farm.start_s + h * HOUR_S
        farm.advance(t)
        clock.advance_to(t)
        if fleet is not None:
            reports += len(fleet.step(clock.ms(), everyone, [], {}).uplinks)
    return reports


async def season(plan: FarmPlan, options: RunOptions) -> ScenarioResult:
    """The season scenario's run (hil/scenarios/season.py) on `plan`, which may be shorter."""
    r = await build_run(plan, options)
    try:
        return await r.run(options)
    finally:
        await r.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", choices=("furrow", "timer", "both"), default="both")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--days", type=int, default=PLAN.days, help="simulated days (the scenario's 120 by default)")
    args = parser.parse_args()
    plan = dataclasses.replace(PLAN, days=args.days)
    rows = []
    with scratch_dir("furrow-bench-hil-") as work:
        w, c, _ = timed(lambda: farm_alone(plan, False, Path(work) / "a"))
        rows.append(("farm only (10 zones, hourly)", w, c, "-"))
        figures: dict[str, object] = {"days": plan.days, "raw_farm_only": {"wall_s": round(w, 2), "cpu_s": round(c, 2)}}
        w, c, reports = timed(lambda: farm_alone(plan, True, Path(work) / "b"))
        rows.append(("farm + 50 firmware cores", w, c, f"{reports:,} reports"))
        figures["raw_farm_cores"] = {"wall_s": round(w, 2), "cpu_s": round(c, 2), "reports": reports}
        for policy in (("furrow", "timer") if args.policy == "both" else (args.policy,)):
            options = RunOptions(workdir=Path(work) / policy, policy=policy, seed=args.seed)
            w, c, r = timed(lambda o=options: asyncio.run(season(plan, o)))
            detail = (f"{r.extra['reports_sent']:,} reports, {r.readings_stored:,} readings stored, "
                      f"{r.commands_issued} commands, {r.irrigation_mm} mm, {r.stress_days} stress days")
            rows.append((f"season, policy {policy}", w, c, detail))
            figures[f"season_{policy}"] = {"wall_s": round(w, 2), "cpu_s": round(c, 2),
                                           "reports": r.extra["reports_sent"], "readings_stored": r.readings_stored,
                                           "commands": r.commands_issued, "irrigation_mm": r.irrigation_mm,
                                           "stress_days": r.stress_days}
    print(f"season scenario: {plan.zones} zones, 50 nodes, {plan.days} simulated days, seed {args.seed}\n")
    print("| run | wall s | CPU s | what it did |")
    print("|---|---:|---:|---|")
    for name, w, c, detail in rows:
        print(f"| {name} | {w:.1f} | {c:.1f} | {detail} |")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
