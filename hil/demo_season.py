"""The demo's backfill: the last weeks of the season through the farm's production services.

The farm runtime (hil/runtime.py) wires the cloud and the gateway a farm runs (registry, store,
planner, signed commands, alerts, the gateway's buffer, forwarder and relay) on the simulated
clock, and the HIL engine (hil/engine.py) steps the virtual farm and its firmware cores through
them, as in a scenario. The demo adds only what a farm adds: the registry entries a technician
makes (hil/demo_farm.py: the registry, the traps' lures) and the hour of the planner's evening run. The services'
files are those the live cloud then opens, so the dashboard shows these weeks as history.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from furrow.cloud.commands.signing import PUBLIC_SUFFIX
from furrow.cloud.pests import TrapIn
from furrow.cloud.registry.models import FieldIn, NodeIn, SiteIn, ValveIn, ZoneIn
from furrow.hil import demo_farm, demo_fertility, demo_machines
from furrow.hil.clock import SimClock
from furrow.hil.engine import Run
from furrow.hil.farm import Farm
from furrow.hil.fleet import CPythonFleet
from furrow.hil.policies import FurrowPolicy
from furrow.hil.runtime import FarmRuntime
from furrow.hil.scenarios import RunOptions, ScenarioResult

log = logging.getLogger("furrow.demo")

_MODELS = {"sites": SiteIn, "fields": FieldIn, "zones": ZoneIn, "nodes": NodeIn, "valves": ValveIn}
PLAN_LOCAL_HOUR = 21
"""The planner's evening run, local time: the day's weather is in, the night window is ahead."""
FORWARD_EVERY_H = 6  # the gateway forwards every 6 h (and before each plan), as the HIL scenarios do
CHATTY = ("furrow.cloud.commands.plans", "furrow.gateway.autonomy", "furrow.cloud.alerts.service")


@dataclass(frozen=True)
class Season:
    """Where the backfill left its files, for the live services to open."""

    cloud_dir: Path
    keys_dir: Path
    trusted_keys: dict[str, Path]
    result: ScenarioResult
    machines: dict[str, Any] | None = None
    """What the demo's machines did (hil/demo_machines.py): the operations and the yield log."""
    fertility: dict[str, Any] | None = None
    """The basal dressings recorded (hil/demo_fertility.py)."""


def planner_hour_utc(place: demo_farm.Place, day: date) -> int:
    """The engine plans on a UTC hour: the one that is PLAN_LOCAL_HOUR at the farm on `day`."""
    local = datetime.combine(day, datetime.min.time(), ZoneInfo(place.timezone)) + timedelta(hours=PLAN_LOCAL_HOUR)
    return local.astimezone(ZoneInfo("UTC")).hour


async def simulate(folder: Path, farm: Farm, sim: SimClock, fleet: CPythonFleet, place: demo_farm.Place,
                   start: date, days: float, progress: Any, **settings: Any) -> Season:
    """Register the farm, then run `days` days of it through the production services on `sim`;
    the cloud's files and the signing key end in `folder`. `settings`: further cloud settings."""
    # The services work on a RAM disk, as the HIL scenarios do (docs/hil.md): the gateway's buffer
    # fsyncs every commit to survive power cuts, which a simulation has none of. What the live
    # cloud needs is copied to `folder` at the end.
    with tempfile.TemporaryDirectory(prefix="furrow-demo-", dir=_ram_disk()) as work:
        runtime = await FarmRuntime.open(
            Path(work), sim.ms, site=demo_farm.SITE, gateway=demo_farm.GATEWAY,
            # a plan a day, each valid a day and a half, so the gateway never runs without one
            plan_validity_s=36 * 3600,
            # a node silent for three of its reports is offline; the SQLite roll-up every 6 h
            alerts_report_interval_s=max(demo_farm.SEASON_INTERVALS_S.values()), rollup_interval_s=6 * 3600,
            **settings)
        try:
            await runtime.register(*(_MODELS[kind].model_validate(body)
                                     for kind, body in demo_farm.registry_entries(place, start)))
            for node, channel, body in demo_farm.pest_traps():
                await runtime.services.pests.put_trap(node, channel, TrapIn.model_validate(body), "technician")
            # the site's climate normals, for the pest forecast after the weather forecast's week
            await runtime.services.pests.put_normals(demo_farm.SITE, *demo_farm.climate_normals(place), "agronomist")
            # the soil tests and the season's fertiliser recommendation, before sowing (hil/demo_fertility.py)
            blocks = demo_machines.layout(place).blocks
            recommendations = await demo_fertility.plan(runtime.services, blocks, start)
            # the cloud's planner each evening (the engine runs the alert job after it)
            policy = FurrowPolicy(runtime, plan_hour=planner_hour_utc(place, start))
            run = Run(farm=farm, clock=sim, fleet=fleet, runtime=runtime, policy=policy, days=days,
                      forward_every_h=FORWARD_EVERY_H)
            with _quiet(*CHATTY):
                result = await run.run(RunOptions(workdir=Path(work), progress=progress))
            # the machines' season, through the same gateway and cloud: sowing, then a harvest near its end
            # (with fewer simulated days than the blocks' sowing takes, no machine has worked yet)
            machines = (await demo_machines.work(runtime, place, start, start + timedelta(days=int(days)),
                                                 folder / "trackers")  # kept: the live tractor goes on
                        if days >= demo_machines.MIN_DAYS else None)
            # the basal dressings as spread on the sowing days, once those days have passed
            fertility = (await demo_fertility.spread(runtime.services, recommendations, start)
                         if days >= demo_machines.MIN_DAYS else None)
        finally:
            await runtime.close()
        folder.mkdir(parents=True, exist_ok=True)
        for part in ("cloud", "command-keys"):
            shutil.copytree(Path(work) / part, folder / part)
    # The engine closes the farm's valves at the end of a scenario; the demo goes on, so each
    # valve is as its controller holds it.
    for node_id, spec in fleet.specs.items():
        if spec.role == "irrigation":
            for channel, is_open in enumerate(fleet.cores[node_id].valve_states(), start=1):
                farm.set_valve(node_id, channel, is_open)
    keys_dir = folder / "command-keys"
    trusted = {p.name.removesuffix(PUBLIC_SUFFIX): p for p in keys_dir.glob("*" + PUBLIC_SUFFIX)}
    return Season(folder / "cloud", keys_dir, trusted, result, machines, fertility)


def _ram_disk() -> str | None:
    return "/dev/shm" if Path("/dev/shm").is_dir() else None


@contextlib.contextmanager
def _quiet(*loggers: str) -> Iterator[None]:
    """Each day's plan and alert pass logs at INFO: 45 days of them would bury the demo's log."""
    saved = [(logging.getLogger(name), logging.getLogger(name).level) for name in loggers]
    for logger, _ in saved:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for logger, level in saved:
            logger.setLevel(level)
