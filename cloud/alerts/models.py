"""Alerts as the API gives and takes them."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..agronomy.alerts import Severity


class SeverityName(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def level(self) -> Severity:
        return Severity[self.name]

    @classmethod
    def of(cls, level: int) -> SeverityName:
        return cls[Severity(level).name]


class AlertState(StrEnum):
    OPEN = "open"  # unresolved, waiting for a person
    ACKNOWLEDGED = "acknowledged"  # unresolved, a person has seen it
    RESOLVED = "resolved"  # the rule no longer fires
    ALL = "all"


class AlertOut(BaseModel):
    """One alert. `first_ms` is when it was raised, `last_ms` when the rule last fired (or
    resolved it); an escalated alert keeps its first_ms and loses its acknowledgement."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": 12, "kind": "soil-dry", "subject": "north-1", "site": "farm", "zone": "north-1",
        "severity": "warning", "message": "depletion 33 mm is past RAW 26 mm (TAW 51): the crop is under water "
        "stress", "message_key": "alert.soil-dry", "message_params": {"depletion_mm": 33, "raw_mm": 26, "taw_mm": 51},
        "evidence": {"depletion_mm": 33.0, "raw_mm": 25.5, "taw_mm": 51.0},
        "first_ms": 1767225600000, "last_ms": 1767229200000, "resolved_ms": None,
        "acknowledged_by": None, "acknowledged_ms": None, "ack_note": None}]})

    id: int
    kind: str
    subject: str
    site: str | None
    zone: str | None
    severity: SeverityName
    message: str = Field(description="in English, for logs and scripts")
    message_key: str | None = Field(default=None, description="the message's key in the dashboard's catalogues "
                                    "(null on alerts raised before keys)")
    message_params: dict[str, Any] | None = Field(default=None, description="the values the message shows, by name")
    evidence: dict[str, Any]
    first_ms: int
    last_ms: int
    resolved_ms: int | None
    acknowledged_by: str | None
    acknowledged_ms: int | None
    ack_note: str | None = None

    @field_validator("severity", mode="before")
    @classmethod
    def _name(cls, v: object) -> object:
        return SeverityName.of(v) if isinstance(v, int) else v


class AckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str | None = Field(default=None, max_length=400, examples=["valve 2 checked, filter cleaned"])


class EvaluationOut(BaseModel):
    """What one evaluation changed, and how many alerts are unresolved after it."""

    raised: int
    escalated: int
    resolved: int
    open: int
