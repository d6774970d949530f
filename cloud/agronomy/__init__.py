"""Furrow's agronomy engine: pure functions, no I/O.

* `et0` (with `atmosphere`, `radiation`): FAO-56 Penman-Monteith reference ET, daily and hourly
* `water_balance`: FAO-56 ch. 8 root-zone depletion with probe correction
* `crop`: degree days, stages and the Kc curve
* `planner`: `plan_zone(zone, state, weather, forecast, now) -> Decision`
* `pests`, `alerts`: pest/disease models and alert rules
* `zone`: the validated zone configuration; `tables`: station CSV rows to records

See docs/agronomy.md for every method, its equations, sources and limits.
"""

from .alerts import Alert, AlertKind, FarmState, Severity, evaluate_alerts
from .crop import CropCoefficients, GddMethod, Stage, gdd, kc_single
from .et0 import DailyWeather, Et0Result, HourlyWeather, Reference, Site, et0_daily, et0_hourly, et0_hourly_series
from .planner import Action, Decision, Forecast, Override, OverrideKind, WeatherNow, ZoneState, plan_zone
from .water_balance import DayInput, DayRecord, ProbeReading, run_water_balance
from .zone import ZoneConfig

__all__ = [
    "Action", "Alert", "AlertKind", "CropCoefficients", "DailyWeather", "DayInput", "DayRecord", "Decision",
    "Et0Result", "FarmState", "Forecast", "GddMethod", "HourlyWeather", "Override", "OverrideKind",
    "ProbeReading", "Reference", "Severity", "Site", "Stage", "WeatherNow", "ZoneConfig", "ZoneState",
    "et0_daily", "et0_hourly", "et0_hourly_series", "evaluate_alerts", "gdd", "kc_single", "plan_zone",
    "run_water_balance",
]
