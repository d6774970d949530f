"""The virtual farm's weather forecast, with a skill the scenario sets, written as the file provider's JSON.

Each day the oracle looks at the farm's true weather of the next days and forecasts it as a
provider would, right or wrong by `skill` (0..1), drawn from the scenario's seed:

* rain: a day with rain is forecast with its true amount (and probability 0.9) with chance `skill`,
  else as dry (a miss); a dry day is forecast dry with chance `skill`, else with a false rain of
  `false_rain_mm` (probability 0.7);
* min/max temperature: the truth plus noise whose spread grows as skill falls (2.5 °C at skill 0).

`write(path, site, now)` writes the days ahead in the format of cloud/planning/forecast.py's
FileForecast, so the cloud reads the farm's forecast through the production file provider.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from .weather import FarmDay


@dataclass
class ForecastOracle:
    days: list[FarmDay]
    skill: float = 1.0
    seed: int = 1
    false_rain_mm: float = 15.0
    ahead: int = 3
    _said: dict[date, dict[str, object]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 0.0 <= self.skill <= 1.0:
            raise ValueError(f"skill must be within 0..1, got {self.skill}")
        self._rng = random.Random(self.seed)

    def said(self, day: date) -> dict[str, object]:
        """The forecast for `day` (drawn once, then the same whenever it is asked again)."""
        if day not in self._said:
            truth = next((d for d in self.days if d.day == day), None)
            rng = self._rng
            if truth is None:
                self._said[day] = {"date": day.isoformat()}
            else:
                right = rng.random() < self.skill
                rainy = truth.rain_mm > 0.5
                rain, prob = (truth.rain_mm, 0.9) if rainy and right else (0.0, 0.1) if rainy or right else \
                    (self.false_rain_mm, 0.7)
                spread = 2.5 * (1.0 - self.skill)
                w = truth.weather
                self._said[day] = {"date": day.isoformat(), "rain_mm": round(rain, 1), "rain_probability": prob,
                                   "tmin_c": round(w.tmin_c + rng.gauss(0, spread), 1),
                                   "tmax_c": round(w.tmax_c + rng.gauss(0, spread), 1),
                                   "et0_mm": round(truth.et0_mm, 2)}
        return self._said[day]

    def write(self, path: Path, site: str, now: datetime) -> None:
        """The days from today on, issued now, as the file provider's JSON (written whole, then renamed)."""
        today = now.date()
        entry = {"issued_ms": int(now.timestamp() * 1000),
                 "days": [self.said(today + timedelta(days=i)) for i in range(self.ahead)]}
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"sites": {site: entry}}))
        tmp.replace(path)
