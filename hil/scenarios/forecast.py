"""forecast: the planner reads a forecast of the farm's own weather; forecast rain cuts a night's water,
and a forecast frost raises the frost alert the evening before the cold night.

Two maize zones on one two-valve controller, a probe string in each, a weather station, in a rainless
early summer. Each evening before the plan, an oracle that knows the farm's weather (hil/farm/forecast.py)
writes the next days' forecast, right with the scenario's `SKILL`, and the cloud reads it through its
production file provider (cloud/planning/forecast.py): the planner trims a run for rain forecast
before the next night, never below what keeps the zone within MAD until then should the rain fail,
and the alert job looks at the forecast minimum. A late frost is put into the farm's weather: the
dawn of day `FROST_DAY` falls to `FROST_TMIN_C`.

Five runs of the same farm and seed: a first without the forecast finds the night the planner first
waters; then a storm of `STORM_MM` is put into the next afternoon, and the farm runs with the forecast
and without it; then the storm is forecast but does not come (the oracle is told of it, the farm's
weather is not), and the farm runs with that forecast and without any. The result is the run with the
forecast that came true; its extras put the runs side by side: water, stress, the nights the forecast
cut, the nights a decision said the forecast rain had not fallen, the true root-zone depletion against
RAW after the storm's night, and when the frost alert was raised against when the frost came.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from furrow.cloud.alerts.models import AlertState
from furrow.hil.engine import Run
from furrow.hil.farm import Climate, FarmDay, ForecastOracle, generate
from furrow.hil.policies import Policy
from furrow.hil.scenarios import RunOptions, Scenario, ScenarioResult
from furrow.hil.scenarios._farmplan import SITE, FarmPlan, build_run

SKILL = 1.0
FROST_DAY = 12
FROST_TMIN_C = -2.0
"""A late spring frost: maize seedlings are hurt below about 0 °C (their growing point is still below ground
until V5, so they usually regrow; Nielsen, Purdue Corny News, 'Frost damage to corn')."""
STORM_MM = 80.0
"""The storm the afternoon after the planner's first watering night: a heavy thunderstorm, whose expected rain
(80 mm at 90 %) is more than that night's refill (about 61 mm net: the root zone back to field capacity), so
the forecast covers the whole refill and the planner applies only what keeps the zone within MAD until the
next night."""
PLAN = FarmPlan(zones=2, days=40, soil_nodes_per_zone=1, weather_nodes=1, valves_per_controller=2,
                soil_interval_s=6 * 3600, irrigation_interval_s=6 * 3600, weather_interval_s=3600,
                start=date(2026, 5, 10), climate=Climate(p_wet_after_dry=0.0))
AFTER_STORM_DAYS = 4  # the runs with the storm go on this long after it, to see whether the crop suffered


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


def farm_weather(options: RunOptions, storm_day: int | None) -> list[FarmDay]:
    """The plan's weather with the late frost at dawn of FROST_DAY, and the storm on `storm_day`."""
    days = generate(PLAN.start, PLAN.days + 1, options.seed, PLAN.climate)
    cold = days[FROST_DAY]
    days[FROST_DAY] = replace(cold, weather=replace(cold.weather, tmin_c=FROST_TMIN_C))
    if storm_day is not None:
        days[storm_day] = replace(days[storm_day], rain_mm=STORM_MM)
    return days


async def _one(plan: FarmPlan, options: RunOptions, forecast: bool, storm_day: int | None,
               forecast_storm_day: int | None = None) -> tuple[ScenarioResult, dict[str, Any]]:
    """One run; the forecast (when `forecast`) knows of a storm on `forecast_storm_day` (default: `storm_day`, the
    farm's own), so a storm forecast that does not come is `storm_day=None, forecast_storm_day=night`."""
    days = farm_weather(options, storm_day)
    told = days if forecast_storm_day is None else farm_weather(options, forecast_storm_day)
    settings: dict[str, Any] = {}
    path = options.workdir / "forecast.json"
    if forecast:
        options.workdir.mkdir(parents=True, exist_ok=True)
        path.write_text('{"sites": {}}')
        settings["forecast_file"] = path
    r: Run = await build_run(plan, options, days=days, **settings)
    if forecast:
        r.policy = ForecastingPolicy(r.policy, ForecastOracle(told, skill=SKILL, seed=options.seed), path)
    try:
        result = await r.run(options)
        services = r.runtime.services
        rules: Counter[str] = Counter()
        first: int | None = None
        missed: list[str] = []
        for zone in r.farm.zones:
            decisions = sorted(await services.planning.decisions(zone, limit=10_000), key=lambda d: d.ts_ms)
            for night, d in enumerate(decisions):
                rules[d.rule] += 1
                rules.update(a for a in (d.detail or {}).get("adjustments", []) if a == "shrunk-for-forecast")
                if d.action == "irrigate" and (first is None or night < first):
                    first = night
                if d.inputs.get("forecast_missed"):
                    missed.append(f"{zone} night {night} ({d.action}): {d.explanation}")
        assert services.alerts is not None
        frosts = [a for a in await services.alerts.list(AlertState.ALL, limit=100_000) if a.kind == "frost"]
        zones = list(r.farm.zones.values())
        seen = {"rules": rules, "first_watered": first,
                "frost_first_ms": min((a.first_ms for a in frosts), default=None),
                "frost_evidence": frosts[0].evidence if frosts else None,
                "irrigation_mm": round(sum(z.irrigated_mm for z in zones) / len(zones), 1),
                "stress_days": sum(d.stressed for z in zones for d in z.days),
                "stressed": [sum(z.days[i].stressed for z in zones) for i in range(len(zones[0].days))],
                "raw_margin_mm": [min(round(z.days[i].raw_mm - z.days[i].depletion_max_mm, 1) for z in zones)
                                  for i in range(len(zones[0].days))],
                "missed": missed}
        return result, seen
    finally:
        await r.close()


async def run(options: RunOptions) -> ScenarioResult:
    options.progress(f"forecast: 2 zones, {PLAN.days} days, forecast skill {SKILL}, frost on day {FROST_DAY}, "
                     f"with and without the forecast, policy {options.policy}, seed {options.seed}")
    _, dry = await _one(PLAN, replace(options, workdir=options.workdir / "find-night"), False, None)
    night = dry["first_watered"]
    if night is None or night + 1 + AFTER_STORM_DAYS > PLAN.days:
        raise RuntimeError(f"the planner did not water early enough in {PLAN.days} days (first night {night})")
    plan = replace(PLAN, days=night + 1 + AFTER_STORM_DAYS)
    result, told = await _one(plan, options, True, night + 1)
    _, blind = await _one(plan, replace(options, workdir=options.workdir / "without-forecast"), False, night + 1)
    _, failed = await _one(plan, replace(options, workdir=options.workdir / "storm-fails"), True, None, night + 1)
    _, dry = await _one(plan, replace(options, workdir=options.workdir / "storm-fails-without-forecast"), False, None)
    frost_dawn = datetime.combine(PLAN.start + timedelta(days=FROST_DAY), datetime.min.time(), UTC) + timedelta(hours=3)

    def hours_before(first_ms: int | None) -> float | None:
        return None if first_ms is None else round((frost_dawn.timestamp() * 1000 - first_ms) / 3_600_000, 1)

    result.extra.update({
        "forecast_skill": SKILL,
        "first_watering_night": night, "storm_day": night + 1, "storm_mm": STORM_MM,
        "rain_forecast_nights": told["rules"]["rain-forecast"],
        "forecast_trims": told["rules"]["shrunk-for-forecast"],
        "irrigation_mm_with_forecast": told["irrigation_mm"], "irrigation_mm_without": blind["irrigation_mm"],
        "stress_days_with_forecast": told["stress_days"], "stress_days_without": blind["stress_days"],
        "failed_storm_forecast_nights": failed["rules"]["rain-forecast"] + failed["rules"]["shrunk-for-forecast"],
        "failed_irrigation_mm_with_forecast": failed["irrigation_mm"],
        "failed_irrigation_mm_without": dry["irrigation_mm"],
        "failed_stress_days_with_forecast": sum(failed["stressed"][night:]),
        "failed_stress_days_without": sum(dry["stressed"][night:]),
        "failed_raw_margin_min_mm_with_forecast": min(failed["raw_margin_mm"][night:]),
        "failed_raw_margin_min_mm_without": min(dry["raw_margin_mm"][night:]),
        "failed_catch_up_decisions": failed["missed"],
        "frost_dawn": frost_dawn.isoformat(),
        "frost_alert_hours_before_with_forecast": hours_before(told["frost_first_ms"]),
        "frost_alert_hours_before_without": hours_before(blind["frost_first_ms"]),
        "frost_alert_evidence": told["frost_evidence"],
    })
    return result


SCENARIO = Scenario("forecast", "a forecast of the farm's weather: forecast rain cuts a night's water (safely when it "
                    "does not come), a forecast frost is alerted the evening before; the same farm without the "
                    "forecast beside it", run)
