"""Fertigation on the HIL farm's production runtime (hil/scenarios/top_dress.py).

The season (`furrow hil run top-dress`) is long: full tier. Its fast sibling runs two farm days of the same
engine, fleet and services: a fertigate sent in the evening runs the next morning on the controller's
firmware core with its emulated injector, the engine wakes the controller when its pump reaches the dose
(so it stops there, not at the next 5-minute step), the valve's opening is explained by the fertigate, and
the volume the firmware reports is the pump's truth and becomes the zone's application."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from pathlib import Path

import pytest

from furrow.cloud.fertility.models import FertigateIn
from furrow.hil.engine import Run
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
def test_top_dress_season_holds_while_waterlogged_then_fertigates_and_records_it() -> None:
    """`furrow hil run top-dress`: the top-dress falls due amid three days of 40 mm rain; the cloud holds it
    while its probes see water above field capacity (the farm's truth agrees), then the first evening it is
    not held the agronomist sends it; the controller injects the dose, reports what the emulated pump truly
    delivered, and the cloud records it as the zone's fertigation; the season's N applied is the basal plus it."""
    r = run("top-dress")
    assert_clean(r)
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
