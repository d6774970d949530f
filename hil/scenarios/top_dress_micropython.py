"""top-dress-micropython: the top-dress season with the nodes' firmware cores in the real MicroPython runtime.

The controller's core, its fertigation injector among its parts, runs in MicroPython's WebAssembly port under
Node.js (hil/micropython_fleet.py); its dosing pump and in-line EC sensor, the virtual farm, the gateway and the
cloud stay in this process, as in `top-dress`.
"""

from __future__ import annotations

from furrow.hil.scenarios import RunOptions, Scenario, ScenarioResult
from furrow.hil.scenarios.top_dress import run as run_top_dress


async def run(options: RunOptions) -> ScenarioResult:
    return await run_top_dress(options, "micropython")


SCENARIO = Scenario("top-dress-micropython", "top-dress with the nodes' firmware cores, the controller's injector "
                    "among them, in the real MicroPython runtime (needs Node.js and the MicroPython npm package)", run)
