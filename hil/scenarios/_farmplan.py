"""Building a closed-loop scenario (farm, nodes, the farm's services, policy) from a plain plan.

Both `dry-spell` and `season` are a `FarmPlan`: how many zones, which nodes
report how often, how long, and the climate. `build_run` turns it into an
`engine.Run` for a policy: the virtual farm and its firmware cores, and the
production services (hil/runtime.py) with the farm registered as a
technician registers a real one: the site with its time zone, latitude and elevation, a field, each
zone with its soil, crop (maize, planting date, FAO-56 coefficients staged in
degree days), emitters' rate and hydraulic group, each controller's valve with
its maximum runtime, and each node at its place (probes at their depths, the
weather stations located). A new scenario of this kind only writes its plan.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from pydantic import BaseModel

from furrow.cloud.registry.models import CropCoefficientsIn, FieldIn, NodeIn, SiteIn, ValveIn, ZoneIn
from furrow.hil.clock import SimClock
from furrow.hil.engine import Run
from furrow.hil.farm import MAIZE, Climate, Crop, Farm, FarmDay, FarmZone, SoilColumn, generate
from furrow.hil.farm.crop import MAIZE_P
from furrow.hil.fleet import CPythonFleet, Fleet, NodeSpec
from furrow.hil.policies import FurrowPolicy, Policy, TimerPolicy, TimerZone
from furrow.hil.runtime import FarmRuntime
from furrow.hil.scenarios import POLICIES, RunOptions

SITE = "hil"
GATEWAY = "gw-hil"
FIELD = "field-1"
RATE_MM_H = 12.0
ROOT_DEPTH_CM = 60
PROBE_DEPTHS = (10, 30, 50)
VALVE_MAX_RUNTIME_S = 4 * 3600


@dataclass(frozen=True)
class FarmPlan:
    zones: int
    days: int
    soil_nodes_per_zone: int = 1
    weather_nodes: int = 1
    pest_nodes: int = 0
    soil_interval_s: int = 8 * 3600
    weather_interval_s: int = 3600
    """The first station's; the others report every 3 h (a second opinion)."""
    irrigation_interval_s: int = 12 * 3600
    pest_interval_s: int = 12 * 3600
    start: date = date(2026, 5, 1)
    climate: Climate = Climate()
    valves_per_controller: int = 1
    forward_every_h: int = 6
    cameras: bool = False
    """A canopy camera over each zone, photographing it daily at noon (the cloud measures each photo's cover)."""
    injector_l_h: float = 0.0
    """Each controller's fertigation dosing pump (hil/injector.py), l/h; 0: none."""
    stands: tuple[float, ...] = ()
    """Each zone's share of a full stand, first zone first (hil/farm/crop.py `Crop.stand`); missing ones are full."""
    start_fraction: float | None = None
    """The share of TAW depleted at the start, in every zone (None: drawn between 0.1 and 0.3 per zone). 0 is a
    soil watered to field capacity before sowing, where a balance without probes starts (cloud/planning/balance.py)."""


def nodes_of(plan: FarmPlan, zone_ids: list[str]) -> list[NodeSpec]:
    specs = []
    for zi, z in enumerate(zone_ids):
        for k in range(plan.soil_nodes_per_zone):
            specs.append(NodeSpec(f"soil-{zi + 1:02d}{chr(97 + k)}", "soil", plan.soil_interval_s, zone=z,
                                  depths_cm=PROBE_DEPTHS, encoding="binary" if k % 2 else "json"))
    per = plan.valves_per_controller
    for ci in range(0, len(zone_ids), per):
        specs.append(NodeSpec(f"irr-{ci // per + 1:02d}", "irrigation", plan.irrigation_interval_s,
                              valve_zones=tuple(zone_ids[ci:ci + per]), rate_mm_h=RATE_MM_H,
                              injector_l_h=plan.injector_l_h))
    for wi in range(plan.weather_nodes):
        specs.append(NodeSpec(f"weather-{wi + 1:02d}", "weather", plan.weather_interval_s if wi == 0 else 3 * 3600,
                              zone=zone_ids[0]))
    if plan.cameras:  # the engine's first tick is 01:00: the grid 11 h later is noon
        specs += [NodeSpec(f"cam-{zi + 1:02d}", "camera", 24 * 3600, zone=z, offset_s=11 * 3600)
                  for zi, z in enumerate(zone_ids)]
    for pi in range(plan.pest_nodes):
        specs.append(NodeSpec(f"pest-{pi + 1:02d}", "pest", plan.pest_interval_s, traps=2, encoding="binary",
                              zone=zone_ids[pi % len(zone_ids)]))
    return specs


def registry_of(plan: FarmPlan, zones: list[FarmZone], specs: list[NodeSpec]) -> list[BaseModel]:
    """The farm as a technician registers it (parents first)."""
    c, climate = MAIZE, plan.climate
    crop = CropCoefficientsIn(l_ini=c.l_ini, l_dev=c.l_dev, l_mid=c.l_mid, l_late=c.l_late, kc_ini=c.kc_ini,
                              kc_mid=c.kc_mid, kc_end=c.kc_end, p=MAIZE_P, stages_in="gdd", gdd_base_c=10.0,
                              gdd_upper_c=30.0, height_m=Crop().height_m)  # a measured cover's Kc needs the height
    controller = {z: s for s in specs for z in s.valve_zones}
    items: list[BaseModel] = [
        SiteIn(id=SITE, name="HIL farm", timezone="UTC", lat=climate.latitude_deg, lon=0.0,
               elevation_m=climate.elevation_m),
        FieldIn(id=FIELD, site_id=SITE, name="Field 1", area_ha=sum(z.area_m2 for z in zones) / 10_000)]
    for z in zones:
        soil = z.soil
        items.append(ZoneIn(
            id=z.name, field_id=FIELD, name=f"Zone {z.name}", area_ha=z.area_m2 / 10_000, soil_texture="loam",
            field_capacity_pct=round(soil.theta_fc * 100, 1), wilting_point_pct=round(soil.theta_wp * 100, 1),
            root_depth_cm=ROOT_DEPTH_CM, crop="maize", planting_date=plan.start, precip_rate_mm_h=RATE_MM_H,
            hydraulic_group=f"line-{controller[z.name].node_id}", crop_coefficients=crop))
    for s in specs:
        located = s.role == "weather"
        items.append(NodeIn(id=s.node_id, role=s.role, zone_id=s.zone or s.valve_zones[0],
                            depths_cm=list(s.depths_cm) or None, firmware="0.1.0",
                            lat=climate.latitude_deg if located else None, lon=0.0 if located else None))
    for s in specs:
        for channel, zone in enumerate(s.valve_zones, start=1):
            items.append(ValveIn(node_id=s.node_id, channel=channel, zone_id=zone,
                                 max_runtime_s=VALVE_MAX_RUNTIME_S))
    return items


async def build_run(plan: FarmPlan, options: RunOptions, fleet_kind: str = "cpython",
                    days: list[FarmDay] | None = None, **settings: Any) -> Run:
    """The farm, its nodes, the farm's services (registered) and the chosen policy, seeded by
    options.seed. `days`: the farm's weather (default: generated from the plan's climate);
    `settings`: further cloud settings. Close it with `await run.close()`."""
    if options.policy not in POLICIES:
        raise ValueError(f"policy must be one of {', '.join(POLICIES)}, not {options.policy!r}")
    rng = random.Random(options.seed)
    start = datetime.combine(plan.start, time(0), UTC)
    days = days or generate(plan.start, plan.days + 1, options.seed, plan.climate)
    zone_ids = [f"z{i + 1:02d}" for i in range(plan.zones)]
    farm_zones = []
    for z in zone_ids:
        fc = round(rng.uniform(0.28, 0.32), 3)
        wp = round(fc - rng.uniform(0.15, 0.17), 3)
        drawn = rng.uniform(0.1, 0.3)  # drawn whatever the plan says, so the seed gives the same soils
        soil = SoilColumn.uniform(fc, wp, ROOT_DEPTH_CM,
                                  start_fraction=drawn if plan.start_fraction is None else plan.start_fraction)
        stand = plan.stands[len(farm_zones)] if len(farm_zones) < len(plan.stands) else 1.0
        farm_zones.append(FarmZone(z, soil, Crop(stand=stand)))
    specs = nodes_of(plan, zone_ids)
    farm = Farm(farm_zones, days, start, seed=options.seed)
    clock = SimClock(start)
    workdir = options.workdir
    fleet: Fleet
    if fleet_kind == "micropython":
        from furrow.hil.micropython_fleet import MicroPythonFleet

        fleet = MicroPythonFleet(specs, farm, clock, workdir / "nodes")
    else:
        fleet = CPythonFleet(specs, farm, clock, workdir / "nodes")
    # the alert job judges a node silent after 3 report intervals: the farm's longest one
    runtime = await FarmRuntime.open(workdir / "services", clock.ms, site=SITE, gateway=GATEWAY,
                                     alerts_report_interval_s=max(s.interval_s for s in specs if s.role != "camera"),
                                     **settings)
    try:
        await runtime.register(*registry_of(plan, farm_zones, specs))
    except BaseException:
        await runtime.close()
        fleet.close()
        raise
    policy: Policy
    if options.policy == "timer":
        mean_et0 = sum(d.et0_mm for d in generate(plan.start, plan.days, options.seed + 1000, Climate(
            latitude_deg=plan.climate.latitude_deg, elevation_m=plan.climate.elevation_m))) / plan.days
        valves = [TimerZone(z, s.node_id, s.valve_zones.index(z) + 1, RATE_MM_H, VALVE_MAX_RUNTIME_S)
                  for s in specs for z in s.valve_zones]
        policy = TimerPolicy(runtime, sorted(valves, key=lambda v: v.zone), mean_et0_mm=mean_et0,
                             kc_mid=MAIZE.kc_mid)
    else:
        policy = FurrowPolicy(runtime)
    return Run(farm=farm, clock=clock, fleet=fleet, runtime=runtime, policy=policy, days=plan.days,
               forward_every_h=plan.forward_every_h)
