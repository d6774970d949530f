"""What the planning routes take and give."""

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class OverrideAction(StrEnum):
    SKIP = "skip"  # the planner skips the zone (until `until`, or until resumed)
    HOLD = "hold"  # the zone is frozen: nothing is issued
    WATER_NOW = "water_now"  # the next plan waters now (amount_mm, or a refill), once
    RESUME = "resume"  # ends the override in force


class OverrideIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"action": "skip", "until": "2026-07-12T06:00:00+02:00", "reason": "harvest on Saturday"},
        {"action": "water_now", "amount_mm": 12.0, "reason": "fertigation"},
    ]})

    action: OverrideAction
    until: str | int | None = Field(default=None, description="ISO 8601 or Unix ms; none: until resumed")
    amount_mm: float | None = Field(default=None, gt=0, le=500, description="water_now: net mm (none: refill)")
    reason: str = Field(min_length=1, max_length=400)


class OverrideOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    zone_id: str
    ts_ms: int
    action: OverrideAction
    until_ms: int | None
    amount_mm: float | None
    reason: str
    by: str
    used_by_decision: int | None


class DecisionOut(BaseModel):
    """One recorded planner decision: the rule that fired, its inputs and the commands it made."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    zone_id: str
    ts_ms: int
    rule: str
    action: str = Field(description="irrigate, skip or hold")
    explanation: str = Field(description="in English, for logs and scripts")
    messages: list[dict[str, Any]] | None = Field(default=None, description="the explanation as messages, each "
                                                  "{key, params} of the dashboard's catalogues (the rule's, then "
                                                  "each adjustment's); null on decisions made before keys")
    inputs: dict[str, Any]
    command_ids: list[str]
    origin: str = Field(description="who asked for the plan: person:<user>, or scheduler")
    detail: dict[str, Any] | None = Field(description="adjustments, net and gross mm, runtime, not_before")


class BalanceRowOut(BaseModel):
    """One local day of the zone's water balance (FAO-56 ch. 8), every term in mm."""

    date: str
    et0_mm: float | None
    kc: float | None
    etc_mm: float | None = Field(description="crop ET adjusted for water stress, Ks Kc ET0 (eq. 80)")
    rain_mm: float | None
    effective_rain_mm: float | None
    irrigation_mm: float = Field(description="net mm the completed commands put on the zone")
    depletion_mm: float | None = Field(description="root-zone depletion at the end of the day")
    taw_mm: float
    raw_mm: float | None
    ks: float | None
    gdd_cum: float | None
    stage: str
    probe_correction_mm: float | None = Field(description="what the probes changed the modelled depletion by")
    source: str = Field(description="where the day's terms came from, and what stood in for missing ones")
    cover_pct: float | None = Field(default=None, description="the measured canopy cover Kc came from (FAO-56 "
                                    "ch. 9); null when Kc is the crop curve's")


class AgronomyOut(BaseModel):
    """The zone's crop and pest picture; see docs/agronomy.md for each field."""

    stage: str | None
    gdd_cum: float | None
    kc: float | None
    next_decision: DecisionOut | None
    pests: list[dict[str, Any]]
    disease_risk: list[dict[str, Any]]
