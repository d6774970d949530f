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
    explanation: str
    inputs: dict[str, Any]
    command_ids: list[str]
    origin: str = Field(description="who asked for the plan: person:<user>")
    detail: dict[str, Any] | None = Field(description="adjustments, net and gross mm, runtime, not_before")
