"""Fertigation on the HIL farm's production runtime (hil/scenarios/top_dress.py).

The season (`furrow hil run top-dress`) is long: full tier. Its fast sibling runs two farm days of the same
engine, fleet and services: a fertigate sent in the evening runs the next morning on the controller's
firmware core with its emulated injector, the engine wakes the controller when its pump reaches the dose
(so it stops there, not at the next 5-minute step), the valve's opening is explained by the fertigate, and
the volume the firmware reports is the pump's truth and becomes the zone's application. On the MicroPython
fleet, three mornings: a dose as asked, a stuck pump stopped on its line EC, and the water lost under a running
pump, which stops at once and ends the run on no flow; `top-dress-micropython` is the season there (full tier)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from pathlib import Path

import pytest

from furrow.cloud.fertility.models import FertigateIn
from furrow.hil.engine import EC_SETTLE_MS, Run
from furrow.hil.micropython_fleet import MicroPythonFleet
from furrow.hil.policies import Policy
from furrow.hil.report import scratch_dir
from furrow.hil.scenarios import RunOptions, ScenarioResult
from furrow.hil.scenarios._farmplan import FarmPlan, build_run
from furrow.hil.scenarios.top_dress import AGRONOMIST, NODE, PUMP_L_H, ZONE, commission
from tests.test_hil_scenarios import assert_clean, run


@dataclass
class OneFertigate:
    """The planner; on the first evening, 20 kg/ha of urea for 07:00 the next morning."""

    run: Run
    inner: Policy
    plan_hour: int = 21
    name: str = "furrow"
    command_id: str = ""

    async def plan(self, now: datetime) -> None:
        await self.inner.plan(now)
        if self.command_id:
            return
        fertigation = self.run.runtime.services.fertigation
        assert fertigation is not None
        start = datetime.combine(now.date() + timedelta(days=1), time(7, 0), now.tzinfo)
        # 20 kg/ha on 0.1 ha from 0.3 kg/l is 6,667 ml: 160 s of a 150 l/h pump, in a 300 s window
        out = await fertigation.fertigate(ZONE, FertigateIn(
            season="2026", product_id="urea", dose_kg_ha=20, duration_s=900, inject_from_s=300,
            inject_until_s=600), AGRONOMIST, not_before_ms=int(start.timestamp() * 1000))
        self.command_id = out["command"].id

    def summary(self) -> dict[str, object]:
        return self.inner.summary()


async def _two_days(work: Path) -> tuple[ScenarioResult, dict, float, list]:
    plan = FarmPlan(zones=1, days=2, injector_l_h=PUMP_L_H, soil_interval_s=6 * 3600,
                    irrigation_interval_s=6 * 3600, weather_interval_s=3600)
    r = await build_run(plan, RunOptions(workdir=work))
    try:
        services = r.runtime.services
        assert services.fertility is not None
        await commission(r)
        policy = OneFertigate(r, r.policy)
        r.policy = policy
        result = await r.run(RunOptions(workdir=work))
        cmd = (await services.commands.get(policy.command_id)).model_dump(mode="json")
        apps = await services.fertility.applications(ZONE, "2026")
        return result, cmd, r.fleet.pumps[NODE].delivered_ml, apps  # type: ignore[attr-defined]
    finally:
        await r.close()


def test_a_fertigate_runs_on_the_farm_runtime_and_stops_at_its_dose() -> None:
    with scratch_dir("furrow-test-fertigate-") as work:
        result, cmd, delivered_ml, apps = asyncio.run(_two_days(Path(work)))
    assert_clean(result)
    assert result.extra["unexplained_opens"] == 0  # the fertigate's opening is explained by it
    assert cmd["state"] == "completed" and cmd["action"] == "fertigate", cmd
    assert cmd["inject_ml"] == 6667
    # the engine woke the controller when the pump reached the dose: at most 1 ms of pump over (0.04 ml)
    assert cmd["injected_ml"] == 6667 and delivered_ml == pytest.approx(6667, abs=0.5)
    [app] = apps
    assert app.method == "fertigation" and app.command_id == cmd["id"] and app.rate_kg_ha == pytest.approx(20)
    assert app.nutrients_kg_ha["N"] == pytest.approx(9.2)


@pytest.mark.full
@pytest.mark.parametrize("name", ["top-dress", pytest.param("top-dress-micropython", marks=pytest.mark.micropython)])
def test_top_dress_season_holds_while_waterlogged_then_fertigates_and_records_it(name: str) -> None:
    """`furrow hil run top-dress`, and `top-dress-micropython` with the firmware cores in MicroPython: the
    top-dress falls due amid three days of 40 mm rain; the cloud holds it while its probes see water above field
    capacity (the farm's truth agrees), then the first evening it is not held the agronomist sends it; the
    controller injects the dose, reports what the emulated pump truly delivered, and the cloud records it as the
    zone's fertigation; the season's N applied is the basal plus it."""
    r = run(name)
    assert_clean(r)
    assert r.extra["runtime"] == ("micropython" if name.endswith("micropython") else "cpython")
    x = r.extra
    assert x["evenings_held"]["waterlogged"] >= 1
    for e in x["held_evenings"]:  # the gate reads the newest complete day: it may hold a day after the truth drained
        assert e["held"] == "waterlogged" and e["water"] == "waterlogged" and not e["sent"], e
    first = x["held_evenings"][0]
    assert first["day"] in x["wet_days"] and first["true_excess_mm"] > 0  # held on a rain day, truly waterlogged
    sent = x["sent_evening"]
    assert sent is not None and sent["due"] and sent["held"] is None and x["sent_into_held_water"] == 0
    assert sent["day"] > first["day"] and sent["water"] in ("ok", "dry")
    assert x["fertigate_state"] == "completed", x
    assert x["injected_ml_reported"] == x["inject_ml"] and x["pump_delivered_ml"] == pytest.approx(x["inject_ml"],
                                                                                                     abs=0.5)
    [app] = x["fertigation_applications"]
    assert app["method"] == "fertigation" and app["rate_kg_ha"] == pytest.approx(x["fertigation"]["dose_kg_ha"])


@dataclass
class ThreeMornings:
    """The planner; on each of the first three evenings a urea fertigate for 07:00 the next morning: 20 kg/ha as
    is; 20 kg/ha with the pump stuck (it runs and moves nothing); 100 kg/ha (800 s of pump) whose water is lost
    at the first step after the pump has delivered anything (the valve sticks closed: a burst main, a dry well)."""

    run: Run
    inner: Policy
    plan_hour: int = 21
    name: str = "furrow"
    ids: list[str] = field(default_factory=list)
    lose_water: bool = False
    delivered_before_ml: float = 0.0
    water_lost_ml: float | None = None
    """What the pump had delivered of the third dose at the step before the one that lost the water."""

    async def plan(self, now: datetime) -> None:
        pump, valve = self._parts()
        pump.stuck = len(self.ids) == 1
        if valve.mode != "ok":
            valve.set_mode("ok")  # the water is back before the night's irrigation
        await self.inner.plan(now)
        if len(self.ids) == 3:
            return
        fertigation = self.run.runtime.services.fertigation
        assert fertigation is not None
        start = datetime.combine(now.date() + timedelta(days=1), time(7, 0), now.tzinfo)
        dose = 100 if len(self.ids) == 2 else 20
        out = await fertigation.fertigate(ZONE, FertigateIn(
            season="2026", product_id="urea", dose_kg_ha=dose, duration_s=1500, inject_from_s=300,
            inject_until_s=1200), AGRONOMIST, not_before_ms=int(start.timestamp() * 1000))
        self.ids.append(out["command"].id)
        self.lose_water, self.delivered_before_ml = len(self.ids) == 3, pump.delivered_ml

    def faults(self, _t_s: float) -> None:
        pump, valve = self._parts()
        if self.lose_water and pump.delivered_ml > self.delivered_before_ml:
            valve.set_mode("stuck_closed")
            self.lose_water, self.water_lost_ml = False, pump.delivered_ml - self.delivered_before_ml

    def _parts(self):  # noqa: ANN202
        fleet = self.run.fleet
        assert isinstance(fleet, MicroPythonFleet)
        return fleet.pumps[NODE], fleet.valves[NODE][0]

    def summary(self) -> dict[str, object]:
        return self.inner.summary()


async def _three_mornings(work: Path) -> tuple[ScenarioResult, list[dict], ThreeMornings, float, list]:
    plan = FarmPlan(zones=1, days=4, injector_l_h=PUMP_L_H, soil_interval_s=6 * 3600,
                    irrigation_interval_s=6 * 3600, weather_interval_s=3600)
    r = await build_run(plan, RunOptions(workdir=work), "micropython")
    try:
        services = r.runtime.services
        assert services.fertility is not None
        await commission(r)
        policy = ThreeMornings(r, r.policy)
        r.policy, r.faults = policy, policy.faults
        result = await r.run(RunOptions(workdir=work))
        cmds = [(await services.commands.get(i)).model_dump(mode="json") for i in policy.ids]
        apps = await services.fertility.applications(ZONE, "2026")
        pump = r.fleet.pumps[NODE]  # type: ignore[attr-defined]
        assert not pump.on
        return result, cmds, policy, pump.delivered_ml, apps
    finally:
        await r.close()


@pytest.mark.micropython
def test_on_micropython_the_injector_doses_and_stops_on_line_ec_and_on_lost_water(micropython) -> None:  # noqa: ANN001
    """The controller's core and injector in the MicroPython runtime, on the farm runtime's gateway and cloud:
    20 kg/ha goes in to the millilitre and completes; a stuck pump (the line EC stays at the water's 0.4 dS/m)
    is stopped by the EC check once it has run its settling minute; a lost water supply stops the pump at the
    tick that sees no flow and the run ends "aborted" on no flow; each volume reported is the pump's truth and
    is recorded as the zone's application."""
    with scratch_dir("furrow-test-fertigate-mpy-") as work:
        result, cmds, policy, delivered_ml, apps = asyncio.run(_three_mornings(Path(work)))
    assert result.extra["unexplained_opens"] == 0 and result.readings_lost == result.duplicates_stored == 0
    assert (result.commands_executed_late, result.valve_overruns) == (0, 0)
    done, stuck, dry = cmds
    assert done["state"] == "completed" and done["inject_ml"] == done["injected_ml"] == 6667, done
    # 0.3 kg/l urea: 20 kg/ha on 0.1 ha is 6,667 ml; a stuck pump's strokes are counted for its settling minute
    assert stuck["state"] == "aborted" and "line EC 0.40 dS/m outside 0.50..3.00" in stuck["reason"], stuck
    assert stuck["injected_ml"] == round(PUMP_L_H * EC_SETTLE_MS / 3600)  # 2,500 ml counted, none delivered
    assert dry["state"] == "aborted" and "no flow" in dry["reason"] and dry["inject_ml"] == 33333, dry
    # the pump stopped at the step that lost the water: nothing delivered after it, and the count agrees
    assert policy.water_lost_ml is not None and 0 < policy.water_lost_ml < dry["injected_ml"] < dry["inject_ml"]
    assert delivered_ml == pytest.approx(6667 + dry["injected_ml"], abs=1.0)
    by_command = {a.command_id: a for a in apps}
    assert by_command[done["id"]].rate_kg_ha == pytest.approx(20)
    assert by_command[stuck["id"]].rate_kg_ha == pytest.approx(20 * 2500 / 6667, abs=0.01)
    assert by_command[dry["id"]].rate_kg_ha == pytest.approx(100 * dry["injected_ml"] / 33333, abs=0.01)
