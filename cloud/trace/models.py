"""What the production-record routes take and give."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

Season = Annotated[str, Field(pattern=r"^\d{4}(-[a-z0-9-]{1,20})?$", description="a season: 2026 or 2026-summer")]
Text = Annotated[str, Field(min_length=1, max_length=120)]


class RecordKind(StrEnum):
    """What a production record says happened on the field."""

    SOWING = "sowing"
    IRRIGATION = "irrigation"
    FERTILISATION = "fertilisation"
    SPRAYING = "spraying"
    HARVEST = "harvest"
    TILLAGE = "tillage"
    VOID = "void"  # withdraws the record it corrects: it did not happen


class Sowing(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    kind: Literal["sowing"]
    crop: Text
    variety: Text | None = None
    seed_lot: Text = Field(description="the seed lot as printed on the bag or the supplier's invoice")
    rate: float | None = Field(default=None, gt=0)
    rate_unit: str | None = Field(default=None, max_length=16, description="kg/ha, seeds/ha")


class Irrigation(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    kind: Literal["irrigation"]
    water_mm: float | None = Field(default=None, gt=0, le=500, description="depth of water applied over the zone")
    volume_l: float | None = Field(default=None, gt=0)
    duration_s: int | None = Field(default=None, gt=0, le=7 * 86400)
    method: str | None = Field(default=None, max_length=32, description="drip, sprinkler, furrow ...")

    @model_validator(mode="after")
    def _some_amount(self) -> Irrigation:
        if self.water_mm is None and self.volume_l is None and self.duration_s is None:
            raise ValueError("an irrigation needs water_mm, volume_l or duration_s")
        return self


class Fertilisation(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    kind: Literal["fertilisation"]
    product: Text
    rate: float = Field(gt=0)
    rate_unit: str = Field(min_length=1, max_length=16, description="kg/ha, L/ha")
    method: str | None = Field(default=None, max_length=32)
    product_lot: Text | None = None


class Spraying(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    kind: Literal["spraying"]
    product: Text = Field(description="the plant protection product's name as registered")
    registration: str | None = Field(default=None, max_length=64, description="its registration number")
    active_ingredient: Text | None = None
    rate: float = Field(gt=0)
    rate_unit: str = Field(min_length=1, max_length=16, description="L/ha, kg/ha, ml/ha")
    phi_days: int = Field(ge=0, le=365, description="pre-harvest interval on the label: days from this spraying "
                          "before the crop may be harvested")
    target: Text | None = Field(default=None, description="the pest, disease or weed sprayed against")
    product_lot: Text | None = None
    operator: Text | None = None


class Harvest(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    kind: Literal["harvest"]
    lot_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]*$",
                        description="the lot the crop leaves the field as: what a buyer traces back")
    quantity_kg: float = Field(gt=0)
    moisture_pct: float | None = Field(default=None, ge=0, le=100)


class Tillage(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    kind: Literal["tillage"]
    implement: Text | None = None
    depth_cm: float | None = Field(default=None, gt=0, le=100)


class Void(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    kind: Literal["void"]


Details = Annotated[Sowing | Irrigation | Fertilisation | Spraying | Harvest | Tillage | Void,
                    Field(discriminator="kind")]


class RecordIn(BaseModel):
    """An operation a person records on a field. A correction names the record it corrects (`corrects`, its
    seq in the same chain) and says why; the corrected record stays, and readers take the newest."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, json_schema_extra={"examples": [{
        "field": "f1", "season": "2026", "occurred_at": "2026-06-12T07:30:00+08:00",
        "details": {"kind": "spraying", "product": "Coragen 20SC", "active_ingredient": "chlorantraniliprole",
                    "rate": 0.15, "rate_unit": "L/ha", "phi_days": 14, "target": "Spodoptera frugiperda"}}]})

    field: str = Field(min_length=1, max_length=32)
    season: Season
    occurred_at: AwareDatetime = Field(description="when it was done, with its UTC offset")
    zone: str | None = Field(default=None, max_length=32, description="the zone, when only part of the field")
    details: Details
    note: str | None = Field(default=None, max_length=300)
    corrects: int | None = Field(default=None, ge=1, le=2**31 - 1,
                                 description="the seq of the record this one corrects")
    reason: str | None = Field(default=None, max_length=300, description="why, for a correction (required then)")
    idempotency_key: str | None = Field(default=None, min_length=8, max_length=64,
                                        description="the same key again returns the stored record")

    @model_validator(mode="after")
    def _correction(self) -> RecordIn:
        if self.corrects is not None and not self.reason:
            raise ValueError("a correction needs a reason")
        if self.details.kind == "void" and self.corrects is None:
            raise ValueError("a void record must name the record it withdraws (corrects)")
        return self


class RecordOut(BaseModel):
    """A stored record with its place in the chain."""

    id: int
    field: str
    season: str
    seq: int
    kind: RecordKind
    occurred_ms: int
    zone: str | None
    data: dict[str, Any]
    corrects: int | None
    source: str
    lot: str | None
    by: str
    recorded_ms: int
    prev: str
    hash: str


class ChainOut(BaseModel):
    """One field's chain of one season: how long, its head, and its newest signed head."""

    field: str
    season: str
    records: int
    head: str
    last_recorded_ms: int
    signed_seq: int | None
    signed_ms: int | None


class CheckpointOut(BaseModel):
    id: int
    field: str
    season: str
    seq: int
    head: str
    signed_ms: int
    kid: str
    sig: str


def to_ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)
