"""What the pest routes take and give."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


class CardKind(StrEnum):
    """The card in a trap: a yellow sticky card (printed grid) or a pheromone trap's white liner."""

    YELLOW_STICKY = "yellow-sticky"
    WHITE_PHEROMONE = "white-pheromone"


class TrapIn(BaseModel):
    """A trap a technician set up: its card, its lure (a species of the table, or none: a yellow card
    watched for everything) and the width of card its camera's photo shows."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"card": "white-pheromone", "lure": "helicoverpa-zea", "view_width_mm": 200}]})

    card: CardKind
    lure: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9-]{1,47}$")
    view_width_mm: float | None = Field(default=None, gt=10, le=2000, description="a camera's photo spans this "
                                        "much card, left to right: it sets the size of every insect")


class TrapOut(TrapIn):
    model_config = ConfigDict(from_attributes=True)

    node: str
    channel: int
    updated_ms: int
    by: str


class CountOut(BaseModel):
    """One trap photo's count: the counter's, and a person's where reviewed (the one the models use)."""

    model_config = ConfigDict(from_attributes=True)

    node: str
    seq: int
    channel: int
    zone_id: str | None
    ts_ms: int
    species: str | None
    total: int
    target: int
    by_class: dict[str, int]
    method: str
    px_per_mm: float
    reviewed_total: int | None
    reviewed_target: int | None
    reviewed_by: str | None
    reviewed_ms: int | None


class ReviewOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    by: str
    at_ms: int
    total_before: int
    target_before: int
    total: int
    target: int
    note: str | None


class CountDetail(CountOut):
    """A count with the objects found (outlines for the review page) and its corrections."""

    objects: list[dict[str, Any]]
    reviews: list[ReviewOut]


class ReviewIn(BaseModel):
    """A person's count of a trap photo."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"target": 12, "total": 30,
                                                                                "note": "two moths overlap"}]})

    target: int = Field(ge=0, le=100_000, description="insects of the trap's target species")
    total: int | None = Field(default=None, ge=0, le=100_000, description="every insect; default: the counter's "
                              "non-target count plus `target`")
    note: str | None = Field(default=None, max_length=300)

    @model_validator(mode="after")
    def _target_within_total(self) -> ReviewIn:
        if self.total is not None and self.target > self.total:
            raise ValueError(f"target ({self.target}) cannot be more than total ({self.total})")
        return self


class AccuracyOut(BaseModel):
    """How far the counter is from the people who reviewed a trap's photos."""

    node: str
    reviewed: int
    mae_target: float = Field(description="mean absolute error of the target count, insects per photo")
    mae_total: float
    mean_reviewed_target: float
    bias_target: float = Field(description="mean of counter minus person: positive when it counts too many")


class NormalDayOut(BaseModel):
    doy: int = Field(description="day of a leap-year calendar, 1-366 (1 March is 61 in every year)")
    tmax_c: float
    tmin_c: float
    tmax_sd_c: float | None = None
    tmin_sd_c: float | None = None


class NormalsOut(BaseModel):
    """A site's climate normals for the pest forecast: the ones in use (`kind` farm or imported, or none),
    how many years the farm's own history holds per calendar day (at least 10 make farm normals), and the
    imported file's source, who imported it and when."""

    site: str
    kind: str | None = Field(description="'farm', 'imported' or null when the site has none")
    source: str | None
    min_years: int
    farm_years: int = Field(description="the fewest years of the farm's measurements any calendar day's window has")
    has_sd: bool
    imported_source: str | None = None
    imported_by: str | None = None
    imported_ms: int | None = None
    days: list[NormalDayOut] = Field(default_factory=list)
