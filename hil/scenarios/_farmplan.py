"""Building a closed-loop scenario (farm, nodes, pipeline, policy) from a plain plan.

Both `dry-spell` and `season` are a `FarmPlan`: how many zones, which nodes
report how often, how long, and the climate. `build_run` turns it into an
`engine.Run` for a policy; a new scenario of this kind only writes its plan.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from furrow.cloud.agronomy import ZoneConfig
from furrow.hil.clock import SimClock
from furrow.hil.engine import Run
from furrow.hil.farm import MAIZE, Climate, Crop, Farm, FarmZone, SoilColumn, generate
from furrow.hil.farm.crop import MAIZE_P
from furrow.hil.fleet import CPythonFleet, Fleet, NodeSpec
from furrow.hil.pipeline import InProcessPipeline
from furrow.hil.policies import FurrowPolicy, Policy, TimerPolicy, ZoneSetup
from furrow.hil.scenarios import POLICIES, RunOptions

RATE_MM_H = 12.0
ROOT_DEPTH_CM = 60
PROBE_DEPTHS = (10, 30, 50)


@dataclass(frozen=True)
class FarmPlan:
    zones: int
    days: int
    soil_nodes_per_zone: int = 1
    weather_nodes: int = 1
    pest_nodes: int = 0
    soil_interval_s: int = 8 * 3600
    weather_interval_s: int = 3600
    """The first station's; the others report every 3 h (a second opinion, not the ET0 source)."""
    irrigation_interval_s: int = 12 * 3600
    pest_interval_s: int = 12 * 3600
    start: date = date(2026, 5, 1)
    climate: Climate = Climate()
    valves_per_controller: int = 1
    forward_every_h: int = 6


def zone_config(zone_id: str, theta_fc: float, theta_wp: float, node: str, valve: int, plan: FarmPlan) -> ZoneConfig:
    """The zone as the cloud would hold it: soil, maize staged in degree days, the valve,
    MAD 0.28 (below RAW: p = 0.55 falls to about 0.43 on a hot day, and the margin must hold
    more than a day of peak ETc, as the planner decides once a day), refill to 5 % of TAW."""
    c = MAIZE
    return ZoneConfig.model_validate({
        "id": zone_id,
        "site": {"latitude_deg": plan.climate.latitude_deg, "elevation_m": plan.climate.elevation_m},
        "soil": {"theta_fc": theta_fc, "theta_wp": theta_wp},
        "crop": {"name": "maize", "planting": plan.start, "l_ini": c.l_ini, "l_dev": c.l_dev, "l_mid": c.l_mid,
                 "l_late": c.l_late, "kc_ini": c.kc_ini, "kc_mid": c.kc_mid, "kc_end": c.kc_end, "p": MAIZE_P,
                 "root_depth_m": ROOT_DEPTH_CM / 100, "stages_in": "gdd", "gdd_base_c": 10.0, "gdd_upper_c": 30.0},
        "irrigation": {"node": node, "valve": valve, "precipitation_rate_mm_h": RATE_MM_H, "max_runtime_s": 4 * 3600,
                       "hydraulic_group": f"line-{node}", "mad_fraction": 0.28, "refill_fraction": 0.05,
                       "min_application_mm": 5.0, "window_start": time(22, 0), "window_end": time(6, 0)},
    })


def nodes_of(plan: FarmPlan, zone_ids: list[str]) -> list[NodeSpec]:
    specs = []
    for zi, z in enumerate(zone_ids):
        for k in range(plan.soil_nodes_per_zone):
            specs.append(NodeSpec(f"soil-{zi + 1:02d}{chr(97 + k)}", "soil", plan.soil_interval_s, zone=z,
                                  depths_cm=PROBE_DEPTHS, encoding="binary" if k % 2 else "json"))
    per = plan.valves_per_controller
    for ci in range(0, len(zone_ids), per):
        specs.append(NodeSpec(f"irr-{ci // per + 1:02d}", "irrigation", plan.irrigation_interval_s,
                              valve_zones=tuple(zone_ids[ci:ci + per]), rate_mm_h=RATE_MM_H))
    for wi in range(plan.weather_nodes):
        specs.append(NodeSpec(f"weather-{wi + 1:02d}", "weather", plan.weather_interval_s if wi == 0 else 3 * 3600))
    for pi in range(plan.pest_nodes):
        specs.append(NodeSpec(f"pest-{pi + 1:02d}", "pest", plan.pest_interval_s, traps=2, encoding="binary"))
    return specs


def build_run(plan: FarmPlan, options: RunOptions, fleet_kind: str = "cpython") -> Run:
    """The farm, its nodes, the in-process pipeline and the chosen policy, seeded by options.seed."""
    if options.policy not in POLICIES:
        raise ValueError(f"policy must be one of {', '.join(POLICIES)}, not {options.policy!r}")
    rng = random.Random(options.seed)
    start = datetime.combine(plan.start, time(0), UTC)
    days = generate(plan.start, plan.days + 1, options.seed, plan.climate)
    zone_ids = [f"z{i + 1:02d}" for i in range(plan.zones)]
    farm_zones, configs = [], []
    specs = nodes_of(plan, zone_ids)
    controller = {z: (s.node_id, s.valve_zones.index(z) + 1) for s in specs for z in s.valve_zones}
    for z in zone_ids:
        fc = round(rng.uniform(0.28, 0.32), 3)
        wp = round(fc - rng.uniform(0.15, 0.17), 3)
        soil = SoilColumn.uniform(fc, wp, ROOT_DEPTH_CM, start_fraction=rng.uniform(0.1, 0.3))
        farm_zones.append(FarmZone(z, soil, Crop()))
        configs.append(zone_config(z, fc, wp, *controller[z], plan))
    farm = Farm(farm_zones, days, start, seed=options.seed)
    clock = SimClock(start)
    workdir = options.workdir
    fleet: Fleet
    if fleet_kind == "micropython":
        from furrow.hil.micropython_fleet import MicroPythonFleet

        fleet = MicroPythonFleet(specs, farm, clock, workdir / "nodes")
    else:
        fleet = CPythonFleet(specs, farm, clock, workdir / "nodes")
    pipeline = InProcessPipeline(workdir / "pipeline")
    weather = next(s.node_id for s in specs if s.role == "weather")
    setups = [ZoneSetup(cfg, tuple(s.node_id for s in specs if s.role == "soil" and s.zone == cfg.id), weather)
              for cfg in configs]
    policy: Policy
    if options.policy == "timer":
        mean_et0 = sum(d.et0_mm for d in generate(plan.start, plan.days, options.seed + 1000, Climate(
            latitude_deg=plan.climate.latitude_deg, elevation_m=plan.climate.elevation_m))) / plan.days
        policy = TimerPolicy(setups, mean_et0_mm=mean_et0, kc_mid=MAIZE.kc_mid)
    else:
        policy = FurrowPolicy(setups, pipeline.store, plan.climate.site)
    return Run(farm=farm, clock=clock, fleet=fleet, pipeline=pipeline, policy=policy, days=plan.days,
               forward_every_h=plan.forward_every_h)
