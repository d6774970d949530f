"""dry-spell-micropython: the dry-spell farm with its node cores in the real MicroPython runtime.

The firmware's soil, weather and irrigation cores (and their drivers, seq
stores, command journal and payload codecs) run in MicroPython's WebAssembly
port under Node.js (hil/micropython_fleet.py); the virtual farm, gateway and
cloud stay in this process.
"""

from __future__ import annotations

from furrow.hil.scenarios import RunOptions, Scenario, ScenarioResult
from furrow.hil.scenarios.dry_spell import run_plan


async def run(options: RunOptions) -> ScenarioResult:
    return await run_plan("dry-spell-micropython", options, "micropython")


SCENARIO = Scenario("dry-spell-micropython", "dry-spell with the nodes' firmware cores running in the real "
                    "MicroPython runtime (needs Node.js and the MicroPython npm package)", run)
