"""dry-spell: three weeks without rain in mid-season; the planner irrigates and the crop does not stress.

Two maize zones, each with a probe string (10, 30, 50 cm) and one valve of a
two-valve controller, and a weather station, for 75 days with a 21-day dry
spell from day 45 (hotter, clear, no rain). Valves open in the emulator and
the soil water recovers. `dry-spell-micropython` runs the same farm with the
nodes' cores in the real MicroPython runtime.
"""

from __future__ import annotations

from furrow.hil.engine import Run
from furrow.hil.farm import Climate
from furrow.hil.scenarios import RunOptions, Scenario, ScenarioResult
from furrow.hil.scenarios._farmplan import FarmPlan, build_run

SPELL = (45, 21)
PLAN = FarmPlan(zones=2, days=75, soil_nodes_per_zone=1, weather_nodes=1, valves_per_controller=2,
                soil_interval_s=6 * 3600, irrigation_interval_s=6 * 3600, weather_interval_s=3600,
                climate=Climate(dry_spell=SPELL))


def spell_extra(r: Run, result: ScenarioResult) -> None:
    """What the dry spell did: rain and irrigation during it, how close the driest zone came to
    RAW (1.0 = stress), and the depletion left at the end as a share of RAW (recovery)."""
    spell = range(SPELL[0], sum(SPELL))
    zones = list(r.farm.zones.values())
    result.extra["dry_spell_days"] = f"{SPELL[0]}-{sum(SPELL) - 1}"
    result.extra["dry_spell_rain_mm"] = round(sum(d.rain_mm for d in zones[0].days if d.day_index in spell), 1)
    result.extra["dry_spell_irrigation_mm"] = round(
        sum(d.irrigation_mm for z in zones for d in z.days if d.day_index in spell) / len(zones), 1)
    result.extra["dry_spell_peak_depletion_of_raw"] = round(
        max(d.depletion_max_mm / d.raw_mm for z in zones for d in z.days if d.day_index in spell), 2)
    result.extra["final_depletion_of_raw"] = round(max(z.days[-1].depletion_end_mm / z.days[-1].raw_mm
                                                       for z in zones), 2)


async def run_plan(name: str, options: RunOptions, runtime: str) -> ScenarioResult:
    r = await build_run(PLAN, options, fleet_kind=runtime)
    options.progress(f"{name}: {len(r.fleet.specs)} nodes ({runtime}), {PLAN.days} days, dry from day {SPELL[0]} "
                     f"for {SPELL[1]} days, policy {options.policy}, seed {options.seed}")
    try:
        result = await r.run(options)
    finally:
        await r.close()
    result.extra["runtime"] = runtime
    spell_extra(r, result)
    return result


async def run(options: RunOptions) -> ScenarioResult:
    return await run_plan("dry-spell", options, "cpython")


SCENARIO = Scenario("dry-spell", "three dry weeks in mid-season: the planner irrigates, valves open in the "
                    "emulator, the soil recovers, no stress", run)
