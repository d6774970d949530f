"""season: a whole season on a 50-node farm, with rain events, under either policy.

10 zones of maize, each with 3 soil probe strings (10, 30 and 50 cm) and a
one-valve controller; 2 weather stations; 8 pest-trap nodes (2 traps each):
50 firmware cores for 120 simulated days, on the farm's production services
(hil/runtime.py): readings through the gateway into the cloud's store, the
cloud's planner (or the timer) commanding the controllers through
CommandService and the gateway's relay. Run it under `furrow` and `timer` to
compare water and stress.
"""

from __future__ import annotations

from furrow.hil.scenarios import RunOptions, Scenario, ScenarioResult
from furrow.hil.scenarios._farmplan import FarmPlan, build_run

PLAN = FarmPlan(zones=10, days=120, soil_nodes_per_zone=3, weather_nodes=2, pest_nodes=8)


async def run(options: RunOptions) -> ScenarioResult:
    r = await build_run(PLAN, options)
    options.progress(f"season: {len(r.fleet.specs)} nodes, {PLAN.zones} zones, {PLAN.days} days, "
                     f"policy {options.policy}, seed {options.seed}")
    try:
        return await r.run(options)
    finally:
        await r.close()


SCENARIO = Scenario("season", "a 120-day season on 50 nodes (10 zones) with rain events; compare furrow and timer",
                    run)
