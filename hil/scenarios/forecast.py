"""forecast: the planner reads a forecast of the farm's own weather; forecast rain skips a night's water,
and a forecast frost raises the frost alert the evening before the cold night.

Two maize zones on one two-valve controller, a probe string in each, a weather station. Each evening
before the plan, an oracle that knows the farm's weather (hil/farm/forecast.py) writes the next days'
forecast, right with the scenario's `SKILL`, and the cloud reads it through its production file
provider (cloud/planning/forecast.py): the planner skips or trims a run for rain forecast before the
next night, and the alert job looks at the forecast minimum. A late frost is put into the farm's
weather: the dawn of day `FROST_DAY` falls to `FROST_TMIN_C`.

The same farm, seed and weather run twice: with the forecast and without it. The result is the run
with the forecast; its extras put both side by side: water, stress, the nights the forecast skipped
or trimmed, and when the frost alert was raised against when the frost came.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from furrow.cloud.alerts.models import AlertState
from furrow.hil.engine import Run
from furrow.hil.farm import Climate, ForecastOracle, generate
from furrow.hil.policies import Policy
from furrow.hil.scenarios import RunOptions, Scenario, ScenarioResult
from furrow.hil.scenarios._farmplan import SITE, FarmPlan, build_run

SKILL = 1.0
FROST_DAY = 12
FROST_TMIN_C = -2.0
"""A late spring frost: maize seedlings are hurt below about 0 °C (their growing point is still below ground
until V5, so they usually regrow; Nielsen, Purdue Corny News, 'Frost damage to corn')."""
PLAN = FarmPlan(zones=2, days=40, soil_nodes_per_zone=1, weather_nodes=1, valves_per_controller=2,
                soil_interval_s=6 * 3600, irrigation_interval_s=6 * 3600, weather_interval_s=3600,
                start=date(2026, 5, 10), climate=Climate(p_wet_after_dry=0.25, mean_rain_mm=14.0))
"""Rain on about one day in four, 14 mm on average: enough rainy days that some fall on the morning after a
night the planner would water."""


@dataclass
class ForecastingPolicy:
    """The planner, with the forecast file written before each plan as a provider's feed would be refreshed."""

    inner: Policy
    oracle: ForecastOracle
    path: Path

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def plan_hour(self) -> int:
        return self.inner.plan_hour

    async def plan(self, now: datetime) -> None:
        self.oracle.write(self.path, SITE, now)
        await self.inner.plan(now)

    def summary(self) -> dict[str, object]:
        return self.inner.summary()


def farm_weather(options: RunOptions) -> list:
    """The plan's weather with the late frost at dawn of FROST_DAY."""
    days = generate(PLAN.start, PLAN.days + 1, options.seed, PLAN.climate)
    cold = days[FROST_DAY]
    days[FROST_DAY] = replace(cold, weather=replace(cold.weather, tmin_c=FROST_TMIN_C))
    return days


async def _one(options: RunOptions, forecast: bool) -> tuple[ScenarioResult, dict[str, Any]]:
    days = farm_weather(options)
    settings: dict[str, Any] = {}
    path = options.workdir / "forecast.json"
    if forecast:
        options.workdir.mkdir(parents=True, exist_ok=True)
        path.write_text('{"sites": {}}')
        settings["forecast_file"] = path
    r: Run = await build_run(PLAN, options, days=days, **settings)
    if forecast:
        r.policy = ForecastingPolicy(r.policy, ForecastOracle(days, skill=SKILL, seed=options.seed), path)
    try:
        result = await r.run(options)
        services = r.runtime.services
        rules: Counter[str] = Counter()
        for zone in r.farm.zones:
            for d in await services.planning.decisions(zone, limit=10_000):
                rules[d.rule] += 1
                rules.update(a for a in (d.detail or {}).get("adjustments", []) if a == "shrunk-for-forecast")
        assert services.alerts is not None
        frosts = [a for a in await services.alerts.list(AlertState.ALL, limit=100_000) if a.kind == "frost"]
        zones = list(r.farm.zones.values())
        seen = {"rules": rules, "frost_first_ms": min((a.first_ms for a in frosts), default=None),
                "frost_evidence": frosts[0].evidence if frosts else None,
                "irrigation_mm": round(sum(z.irrigated_mm for z in zones) / len(zones), 1),
                "stress_days": sum(d.stressed for z in zones for d in z.days)}
        return result, seen
    finally:
        await r.close()


async def run(options: RunOptions) -> ScenarioResult:
    options.progress(f"forecast: 2 zones, {PLAN.days} days, forecast skill {SKILL}, frost on day {FROST_DAY}, "
                     f"with and without the forecast, policy {options.policy}, seed {options.seed}")
    result, told = await _one(options, True)
    _, blind = await _one(replace(options, workdir=options.workdir / "without-forecast"), False)
    frost_dawn = datetime.combine(PLAN.start + timedelta(days=FROST_DAY), datetime.min.time(), UTC) + timedelta(hours=3)

    def hours_before(first_ms: int | None) -> float | None:
        return None if first_ms is None else round((frost_dawn.timestamp() * 1000 - first_ms) / 3_600_000, 1)

    result.extra.update({
        "forecast_skill": SKILL,
        "rain_forecast_skips": told["rules"]["rain-forecast"],
        "forecast_trims": told["rules"]["shrunk-for-forecast"],
        "irrigation_mm_with_forecast": told["irrigation_mm"], "irrigation_mm_without": blind["irrigation_mm"],
        "stress_days_with_forecast": told["stress_days"], "stress_days_without": blind["stress_days"],
        "frost_dawn": frost_dawn.isoformat(),
        "frost_alert_hours_before_with_forecast": hours_before(told["frost_first_ms"]),
        "frost_alert_hours_before_without": hours_before(blind["frost_first_ms"]),
        "frost_alert_evidence": told["frost_evidence"],
    })
    return result


SCENARIO = Scenario("forecast", "a forecast of the farm's weather: forecast rain skips a night's water, a forecast "
                    "frost is alerted the evening before; the same farm without the forecast beside it", run)
