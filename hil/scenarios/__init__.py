"""HIL scenarios: each module in this package names one with `SCENARIO = Scenario(...)`.

A scenario builds a virtual farm, runs emulated nodes on it against the real
gateway and cloud (or the parts of them it exercises), injects its faults, and
returns a `ScenarioResult`. `furrow hil list` lists them and `furrow hil run`
runs one; the tests run each and check its result.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

POLICIES = ("furrow", "timer")


@dataclass(frozen=True)
class RunOptions:
    """How to run a scenario: the irrigation policy, the seed, and where to keep files."""

    workdir: Path
    policy: str = "furrow"
    seed: int = 1
    progress: Callable[[str], None] = lambda _line: None


@dataclass
class ScenarioResult:
    """What a run measured. The first fields are the JSON keys `furrow hil run --json` promises."""

    simulated_days: float
    nodes: int
    readings_sent: int
    readings_stored: int
    readings_lost: int
    duplicates_stored: int
    irrigation_mm: float
    stress_days: int
    commands_issued: int
    commands_executed_late: int
    valve_overruns: int
    # anything else the scenario measured (alarms raised, faults injected, ...), also printed
    extra: dict[str, object] = field(default_factory=dict)
    # time series for the report's plots: name -> (x values, y values)
    series: dict[str, tuple[list[float], list[float]]] = field(default_factory=dict)

    def summary(self) -> dict[str, object]:
        """The JSON object printed by `--json` (no plot series)."""
        out = asdict(self)
        out.pop("series")
        extra = out.pop("extra")
        out.update(extra)
        return out


@dataclass(frozen=True)
class Scenario:
    name: str
    summary: str
    run: Callable[[RunOptions], Awaitable[ScenarioResult]]


def all_scenarios() -> dict[str, Scenario]:
    """Every scenario shipped, by name, in the order of their module names."""
    found: dict[str, Scenario] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        scenario = getattr(module, "SCENARIO", None)
        if isinstance(scenario, Scenario):
            found[scenario.name] = scenario
    return found
