"""Forecast sources for the planner: an interface, "none" (the default, and what offline means),
and a JSON file a farm's own script or a weather service drop keeps up to date.

The planner only needs rain expected over its horizon (agronomy.planner.Forecast); where it
comes from is pluggable. A source that fails gives no forecast, never an error: the decision
then records the forecast as absent, with the reason.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..agronomy.planner import Forecast


@dataclass(frozen=True)
class ForecastAnswer:
    """A forecast (or None) and a sentence saying where it came from or why there is none."""

    forecast: Forecast | None
    source: str


class ForecastSource(Protocol):
    """Rain expected at a zone from `now_ms` on."""

    async def rain(self, zone_id: str, site_id: str, now_ms: int) -> ForecastAnswer: ...


class NoForecast:
    """No forecast source configured: the planner decides from measured water only."""

    async def rain(self, zone_id: str, site_id: str, now_ms: int) -> ForecastAnswer:
        return ForecastAnswer(None, "absent: no forecast source configured")


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rain_mm: float = Field(ge=0, le=1000)
    probability: float = Field(default=1.0, ge=0, le=1)
    horizon_h: int = Field(default=24, ge=1, le=240)
    issued_ms: int = Field(ge=0, description="when the forecast was made (Unix ms)")


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")

    zones: dict[str, _Entry] = {}
    sites: dict[str, _Entry] = {}


class FileForecast:
    """A JSON file: {"sites": {"s1": {"rain_mm": 12, "probability": 0.7, "horizon_h": 24,
    "issued_ms": ...}}, "zones": {...}}; a zone's entry wins over its site's. An entry is used
    while issued_ms + horizon_h has not passed; the file is re-read on every plan."""

    def __init__(self, path: Path) -> None:
        self.path = path

    async def rain(self, zone_id: str, site_id: str, now_ms: int) -> ForecastAnswer:
        try:
            data = _File.model_validate(json.loads(await asyncio.to_thread(self.path.read_text)))
        except FileNotFoundError:
            return ForecastAnswer(None, f"absent: forecast file {self.path} does not exist")
        except (OSError, ValueError, ValidationError) as e:
            first = str(e).splitlines()[0][:200]
            return ForecastAnswer(None, f"absent: forecast file {self.path} is unreadable: {first}")
        entry, where = (data.zones[zone_id], f"zone {zone_id}") if zone_id in data.zones else \
            (data.sites.get(site_id), f"site {site_id}")
        if entry is None:
            return ForecastAnswer(None, f"absent: forecast file {self.path} has no entry for zone {zone_id} "
                                  f"or site {site_id}")
        if entry.issued_ms > now_ms or entry.issued_ms + entry.horizon_h * 3_600_000 <= now_ms:
            return ForecastAnswer(None, f"absent: the forecast for {where} in {self.path} is out of date")
        source = f"file {self.path.name} ({where})"
        return ForecastAnswer(Forecast(rain_mm=entry.rain_mm, probability=entry.probability,
                                       horizon_h=entry.horizon_h, source=source), source)


def forecast_source(path: Path | None) -> ForecastSource:
    """The configured source: a file when `path` is given, else none."""
    return NoForecast() if path is None else FileForecast(path)
