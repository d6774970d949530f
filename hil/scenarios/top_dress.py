"""top-dress: a maize season's nitrogen top-dress, recommended by the cloud and fertigated by the controller.

One maize zone (1,000 m2) with a probe string, a weather station and a controller whose valve has a
fertigation injector (a 150 l/h dosing pump and an in-line EC sensor, hil/injector.py), on the layered
farm with the production services (hil/runtime.py) and the cloud's planner watering it.

The farm's agronomist has entered a soil test, the farm's products (urea with its 0.3 kg/l stock solution,
DAP, KCl) and the farm's own maize coefficients (a 60 % N top-dress at 450 degree days, an N correction
coefficient and P and K index tables: the HIL farm's values, not agronomy). Every evening after the
irrigation plan the agronomist asks the cloud for the zone's recommendation (through the irrigation), as
its dashboard does:

* on the first evening the basal mix is spread by hand and recorded (broadcast, dated the planting day);
* the top-dress falls due by the zone's degree days (the cloud's water balance counts them from the weather
  station); three days of heavy rain are put on the farm around that day, so the root zone is waterlogged
  then: the cloud holds the top-dress while its probes see water above field capacity;
* the first evening it is due and not held, the agronomist sends it: a fertigate command of the top-dress's
  urea (dose per ha -> stock volume -> the injection window at the pump's rate), for 07:00 the next
  morning, outside the planner's night window. It is signed, relayed by the gateway, run by the
  controller's firmware core on the emulated valve, flow meter, pump and EC sensor, acknowledged with the
  volume injected, and recorded by the cloud as the zone's application.

Measured: the evenings the top-dress was due, held (and why) and sent; the farm's true water above field
capacity in the root zone on each (never shown to the cloud); the command's end; the volume the firmware
reported against what the emulated pump truly delivered; the application recorded; the season's N balance.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from furrow.cloud.agronomy.crop import gdd_average
from furrow.cloud.fertility.models import (
    ApplicationIn,
    CoefficientsIn,
    FertigateIn,
    InjectorIn,
    ProductIn,
    RecommendIn,
    SampleIn,
)
from furrow.hil.engine import Run
from furrow.hil.farm import Climate, FarmDay, FarmZone, generate
from furrow.hil.fleet import EC_BAND_DS_M
from furrow.hil.policies import Policy
from furrow.hil.scenarios import RunOptions, Scenario, ScenarioResult
from furrow.hil.scenarios._farmplan import SITE, FarmPlan, build_run

SEASON = "2026"
ZONE = "z01"
NODE = "irr-01"
AGRONOMIST = "person:agronomist"
TARGET_KG_HA = 9000.0
TOPDRESS_AT_GDD = 450.0
PUMP_L_H = 150.0
FLUSH_S = 600
"""The line fills before the injection and is flushed after it: 10 min each side of the window."""
WET_DAYS = (-1, 0, 1)
"""Heavy rain on these days around the day the top-dress falls due (0), 40 mm each."""
WET_MM = 40.0
DAYS_AFTER = 12

PRODUCTS = [
    ProductIn(id="urea", name="Urea 46-0-0", n_pct=46, p2o5_pct=0, k2o_pct=0, price_per_kg=2.4, stock_kg_per_l=0.3),
    ProductIn(id="dap", name="DAP 18-46-0", n_pct=18, p2o5_pct=46, k2o_pct=0, price_per_kg=3.8),
    ProductIn(id="kcl", name="KCl 0-0-60", n_pct=0, p2o5_pct=0, k2o_pct=60, price_per_kg=3.2),
]
COEFFICIENTS = CoefficientsIn(
    correction={"N": 0.7}, topdress_share={"N": 0.6, "P2O5": 0.0, "K2O": 0.0}, topdress_at=TOPDRESS_AT_GDD,
    index_tables={"P2O5": [(10, "low", 90), (20, "medium", 60), (None, "high", 30)],
                  "K2O": [(100, "low", 90), (150, "medium", 60), (None, "high", 30)]},
    note="the HIL farm's own values for the top-dress scenario, not agronomy")
SOIL_TEST = SampleIn(season=SEASON, sampled_on=date(2026, 4, 20), lab="county lab", lab_sample_id="hil-1",
                     results={"alkali_n_mg_kg": {"value": 90}, "olsen_p_mg_kg": {"value": 16},
                              "available_k_mg_kg": {"value": 120}, "ph": {"value": 7.6}})


def due_day(days: list[FarmDay], at_gdd: float) -> int:
    """The index of the day the crop's degree days (average method, 10..30 °C, as the zone is staged) reach
    `at_gdd`."""
    total = 0.0
    for i, d in enumerate(days):
        total += gdd_average(d.weather.tmin_c, d.weather.tmax_c, 10.0, 30.0)
        if total >= at_gdd:
            return i
    raise ValueError(f"the weather never reaches {at_gdd} degree days")


def wet_weather(seed: int, start: date) -> tuple[list[FarmDay], int]:
    """The season's weather with heavy rain around the day the top-dress falls due; (days, that day)."""
    days = generate(start, 120, seed, Climate())
    due = due_day(days, TOPDRESS_AT_GDD)
    for k in WET_DAYS:
        days[due + k] = dataclasses.replace(days[due + k], rain_mm=WET_MM, rain_start_h=12, rain_hours=4)
    return days[:due + DAYS_AFTER + 1], due


async def commission(r: Run) -> None:
    """The technician registers the controller's injector (its pump's rate, the band its firmware keeps); the
    agronomist enters urea with its stock strength."""
    services = r.runtime.services
    assert services.fertility is not None and services.fertigation is not None
    await services.fertigation.put_injector(NODE, InjectorIn(rate_l_h=PUMP_L_H, ec_band_ds_m=EC_BAND_DS_M),
                                            "person:technician")
    await services.fertility.put_product(SITE, PRODUCTS[0])


def excess_mm(zone: FarmZone) -> float:
    """The farm's truth: water above field capacity in the root zone, mm."""
    soil = zone.soil
    return round(sum(max(0.0, layer.theta - soil.theta_fc) * layer.thickness_mm for layer in soil.root_layers()), 1)


@dataclass
class Evening:
    day: str
    progress_gdd: float | None
    water: str
    due: bool | None
    held: str | None
    true_excess_mm: float
    sent: bool = False


@dataclass
class TopDressPolicy:
    """The planner, then the agronomist's evening look at the zone's recommendation (module docstring)."""

    run: Run
    inner: Policy
    plan_hour: int = 21
    name: str = "furrow"
    evenings: list[Evening] = field(default_factory=list)
    fertigation: dict[str, Any] | None = None
    basal: list[str] = field(default_factory=list)

    async def plan(self, now: datetime) -> None:
        await self.inner.plan(now)
        services = self.run.runtime.services
        assert services.fertility is not None and services.fertigation is not None
        rec = await services.fertility.recommend(ZONE, RecommendIn(season=SEASON, target_yield_kg_ha=TARGET_KG_HA,
                                                                   fertigation=True), AGRONOMIST)
        apps = {a["kind"]: a for a in rec["applications"]}
        if not self.basal:
            planted = datetime.fromtimestamp(self.run.farm.start_s, UTC).date()
            for product, kg_ha in apps["basal"]["products_kg_ha"].items():
                await services.fertility.record_application(ZONE, ApplicationIn(
                    season=SEASON, product_id=product, rate_kg_ha=kg_ha, applied_on=planted, method="broadcast",
                    note=f"basal of recommendation {rec['id']}"), AGRONOMIST)
                self.basal.append(f"{product} {kg_ha} kg/ha")
        top, water = apps["topdress"], rec["inputs"]["water"]
        evening = Evening(now.date().isoformat(), water.get("progress"), str(water["state"]), top["due"], top["held"],
                          excess_mm(self.run.farm.zones[ZONE]))
        self.evenings.append(evening)
        if self.fertigation is None and top["due"] and top["held"] is None:
            evening.sent = True
            self.fertigation = await self._send(rec, top["products_kg_ha"]["urea"], now)

    async def _send(self, rec: dict, dose_kg_ha: float, now: datetime) -> dict[str, Any]:
        """The top-dress's urea as a fertigate command for 07:00 the next morning."""
        services = self.run.runtime.services
        assert services.fertigation is not None
        zone = await services.registry.get_zone(ZONE)
        ml = dose_kg_ha * zone.area_ha / PRODUCTS[0].stock_kg_per_l * 1000  # type: ignore[operator]
        window_s = math.ceil(ml * 3.6 / PUMP_L_H) + 60  # the pump's time for it, and a minute to spare
        start = datetime.combine(now.date() + timedelta(days=1), time(7, 0), now.tzinfo)
        out = await services.fertigation.fertigate(ZONE, FertigateIn(
            season=SEASON, product_id="urea", dose_kg_ha=dose_kg_ha, duration_s=window_s + 2 * FLUSH_S,
            inject_from_s=FLUSH_S, inject_until_s=FLUSH_S + window_s,
            max_runtime_s=window_s + 3 * FLUSH_S,
            reason=f"top-dress of recommendation {rec['id']}"), AGRONOMIST,
            not_before_ms=int(start.timestamp() * 1000))
        return {"command_id": out["command"].id, "sent_on": now.date().isoformat(), **out["fertigation"]}

    def summary(self) -> dict[str, object]:
        return self.inner.summary()


async def run(options: RunOptions, fleet_kind: str = "cpython") -> ScenarioResult:
    """The season on the CPython fleet, or (`fleet_kind="micropython"`, top_dress_micropython.py) with the
    nodes' firmware cores, the injector's among them, in the MicroPython runtime."""
    plan = FarmPlan(zones=1, days=1, valves_per_controller=1, soil_interval_s=6 * 3600,
                    irrigation_interval_s=6 * 3600, weather_interval_s=3600, injector_l_h=PUMP_L_H)
    days, due = wet_weather(options.seed, plan.start)
    plan = dataclasses.replace(plan, days=len(days) - 1)
    r = await build_run(plan, options, fleet_kind, days=days)
    options.progress(f"top-dress ({fleet_kind}): maize on {ZONE}, {plan.days} days, the top-dress due on day {due} "
                     f"({TOPDRESS_AT_GDD:g} degree days) amid {len(WET_DAYS)} days of {WET_MM:g} mm rain, seed "
                     f"{options.seed}")
    try:
        fertility = r.runtime.services.fertility
        assert fertility is not None
        await commission(r)
        for product in PRODUCTS[1:]:
            await fertility.put_product(SITE, product)
        await fertility.put_coefficients(SITE, "maize", COEFFICIENTS, AGRONOMIST)
        await fertility.add_sample(ZONE, SOIL_TEST, AGRONOMIST)
        policy = TopDressPolicy(r, r.policy)
        r.policy = policy
        result = await r.run(options)
        result.extra.update(await _measure(r, policy, due))
        result.extra["runtime"] = fleet_kind
    finally:
        await r.close()
    return result


async def _measure(r: Run, policy: TopDressPolicy, due: int) -> dict[str, object]:
    services = r.runtime.services
    assert services.fertility is not None
    start = datetime.fromtimestamp(r.farm.start_s, UTC).date()
    wet = [(start + timedelta(days=due + k)).isoformat() for k in WET_DAYS]
    evenings = policy.evenings
    extra: dict[str, object] = {
        "topdress_due_day": (start + timedelta(days=due)).isoformat(),
        "wet_days": wet,
        "basal_spread": policy.basal,
        "evenings_due": sum(bool(e.due) for e in evenings),
        "evenings_held": {k: sum(e.held == k for e in evenings if e.due) for k in ("waterlogged", "dry")},
        "held_evenings": [dataclasses.asdict(e) for e in evenings if e.due and e.held],
        "sent_evening": next((dataclasses.asdict(e) for e in evenings if e.sent), None),
        "sent_into_held_water": sum(e.sent and e.held is not None for e in evenings),
    }
    f = policy.fertigation
    if f is not None:
        cmd = await services.commands.get(f["command_id"])
        pump = r.fleet.pumps[NODE]  # type: ignore[attr-defined]
        apps = [a for a in await services.fertility.applications(ZONE, SEASON) if a.command_id == cmd.id]
        extra.update({
            "fertigation": f,
            "fertigate_state": str(cmd.state),
            "fertigate_reason": cmd.reason,
            "inject_ml": cmd.inject_ml,
            "injected_ml_reported": cmd.injected_ml,
            "pump_delivered_ml": round(pump.delivered_ml, 1),
            "fertigation_applications": [a.model_dump(include={"applied_on", "method", "product_id", "rate_kg_ha",
                                                               "nutrients_kg_ha", "note"}) for a in apps],
        })
    balance = await services.fertility.balance(ZONE, SEASON)
    extra["season_n_balance"] = {k: v for k, v in balance.items() if k in ("nutrients", "applied_kg_ha",
                                                                           "recommended_kg_ha")} or balance
    return extra


SCENARIO = Scenario("top-dress", "a maize season's N top-dress: held by the cloud while heavy rain waterlogs the "
                    "root zone, then fertigated by the controller's injector through the real services, the "
                    "volume injected recorded as the zone's application", run)
