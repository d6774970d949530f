"""What the fertility routes take and give: soil samples, lab column mappings, products, coefficients,
recommendations, applications and harvests. Units are converted here, once (units.py)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from furrow.edge.errors import ContractError

from .units import RESULTS, convert

Season = Annotated[str, Field(pattern=r"^\d{4}(-[a-z0-9-]{1,20})?$", description="a season: 2026 or 2026-summer")]
METHODS = ("broadcast", "band", "fertigation", "foliar", "side-dress", "other")
GradeName = Literal["very_low", "low", "medium", "fairly_high", "high"]
"""An index table's grade: cloud.agronomy.fertility.Grade's values (fairly_high, 较高, for five-grade tables)."""


class ResultIn(BaseModel):
    """A value and the unit the lab gave it in (default the stored unit)."""

    model_config = ConfigDict(extra="forbid")
    value: float | str
    unit: str | None = Field(default=None, max_length=16)


class SampleIn(BaseModel):
    """One soil sample of a zone: where and how deep it was taken, when, by which lab, and its results
    (each converted to its stored unit, e.g. organic matter given in % is kept in g/kg)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "season": "2026", "sampled_on": "2026-03-10", "point": "P1", "lat": 41.651, "lon": -0.880,
        "depth_top_cm": 0, "depth_bottom_cm": 20, "lab": "county-lab", "lab_sample_id": "S-0412",
        "results": {"ph": {"value": 7.9}, "organic_matter_g_kg": {"value": 1.8, "unit": "%"},
                    "alkali_n_mg_kg": {"value": 82}, "olsen_p_mg_kg": {"value": 14.5},
                    "available_k_mg_kg": {"value": 0.35, "unit": "cmol/kg"}}}]})

    season: Season | None = Field(default=None, description="default: the sampling date's year")
    sampled_on: date
    point: str | None = Field(default=None, max_length=40, description="the sample point's name")
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    depth_top_cm: float = Field(default=0, ge=0, le=300)
    depth_bottom_cm: float = Field(default=20, gt=0, le=300)
    lab: str = Field(min_length=1, max_length=64)
    lab_sample_id: str | None = Field(default=None, max_length=64, description="kept once per lab and zone")
    results: dict[str, ResultIn] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> SampleIn:
        if self.depth_bottom_cm <= self.depth_top_cm:
            raise ValueError(f"depth_bottom_cm {self.depth_bottom_cm} must be below depth_top_cm {self.depth_top_cm}")
        if (self.lat is None) != (self.lon is None):
            raise ValueError("give both lat and lon, or neither")
        if self.season is None:
            self.season = str(self.sampled_on.year)
        return self

    def converted(self) -> dict[str, float]:
        """The results in their stored units; ContractError naming results.<name> otherwise."""
        return {k: convert(k, r.value, r.unit, f"results.{k}") for k, r in self.results.items()}


class SampleOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    zone_id: str
    season: str
    sampled_on: str
    point: str | None
    lat: float | None
    lon: float | None
    depth_top_cm: float
    depth_bottom_cm: float
    lab: str
    lab_sample_id: str | None
    results: dict[str, float] = Field(description="stored units: pH, g/kg (organic matter, total N), mg/kg, dS/m")
    given: dict = Field(description="the values and units as the lab gave them")
    source: str
    by: str


class ColumnIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    column: str = Field(min_length=1, max_length=80)
    unit: str | None = Field(default=None, max_length=16, description="the unit of the whole column")


class LabMappingIn(BaseModel):
    """How one lab's CSV reads: which column holds each field, and the unit of each result column.
    Mapped once per lab; every import from that lab uses it."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "zone": "地块编号", "sampled_on": "采样日期", "lab_sample_id": "样品编号", "point": "采样点",
        "lat": "纬度", "lon": "经度", "depth": "采样深度(cm)",
        "results": {"ph": {"column": "pH"}, "organic_matter_g_kg": {"column": "有机质", "unit": "g/kg"},
                    "alkali_n_mg_kg": {"column": "碱解氮"}, "olsen_p_mg_kg": {"column": "有效磷"},
                    "available_k_mg_kg": {"column": "速效钾"}}, "date_format": "%Y-%m-%d"}]})

    zone: str | None = Field(default=None, max_length=80,
                             description="column of the zone id (else one zone per import)")
    sampled_on: str = Field(max_length=80)
    lab_sample_id: str | None = Field(default=None, max_length=80)
    point: str | None = Field(default=None, max_length=80)
    lat: str | None = Field(default=None, max_length=80)
    lon: str | None = Field(default=None, max_length=80)
    depth: str | None = Field(default=None, max_length=80, description="a column like 0-20 (cm); default 0-20")
    results: dict[str, ColumnIn] = Field(min_length=1)
    date_format: str = Field(default="%Y-%m-%d", max_length=40)
    delimiter: Literal[",", ";", "\t"] = ","

    @field_validator("results")
    @classmethod
    def _known(cls, v: dict[str, ColumnIn]) -> dict[str, ColumnIn]:
        for name, col in v.items():
            if name not in RESULTS:
                raise ValueError(f"{name!r} is not a soil-test result; known: {', '.join(RESULTS)}")
            if col.unit is not None and col.unit not in RESULTS[name].units:
                raise ContractError(f"results.{name}.unit", col.unit,
                                    f"takes {', '.join(u or 'no unit' for u in RESULTS[name].units)}")
        return v


class CellError(BaseModel):
    """A bad cell of an imported CSV: the row as a spreadsheet numbers it (header = 1), the column, why."""

    row: int
    column: str
    value: str | None
    reason: str


class ImportOut(BaseModel):
    imported: int = Field(description="new samples stored")
    duplicates: int = Field(description="rows already stored (same lab, zone and sample id)")
    rejected_rows: int
    errors: list[CellError]
    samples: list[int] = Field(description="ids of the samples stored")


class ProductIn(BaseModel):
    """A fertiliser the farm has: its analysis (% N, P2O5, K2O) and price per kg; for fertigation, the
    concentration of its stock solution."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "id": "urea", "name": "Urea 46-0-0", "n_pct": 46, "p2o5_pct": 0, "k2o_pct": 0, "price_per_kg": 2.4,
        "stock_kg_per_l": 0.3}]})

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,31}$")
    name: str = Field(min_length=1, max_length=80)
    n_pct: float = Field(ge=0, le=82.3, description="N % (anhydrous ammonia, the richest, is 82.3)")
    p2o5_pct: float = Field(ge=0, le=100)
    k2o_pct: float = Field(ge=0, le=100)
    price_per_kg: float = Field(ge=0, le=10_000)
    stock_kg_per_l: float | None = Field(default=None, gt=0, le=2, description="kg of product per litre of "
                                         "the stock solution the injector draws (fertigation)")

    @model_validator(mode="after")
    def _some_nutrient(self) -> ProductIn:
        if self.n_pct + self.p2o5_pct + self.k2o_pct <= 0:
            raise ValueError("a product must carry some N, P2O5 or K2O")
        if self.n_pct + self.p2o5_pct + self.k2o_pct > 100:
            raise ValueError("N + P2O5 + K2O cannot exceed 100 %")
        return self


class ProductOut(ProductIn):
    model_config = ConfigDict(from_attributes=True, extra="ignore")
    site_id: str


class CoefficientsIn(BaseModel):
    """A farm's own coefficients for one crop; each replaces the built-in one and is recorded as entered
    by the person (agronomy/fertility_crops.py). Fractions are 0..1; uptake is kg per kg of yield."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "efficiency": {"N": 0.35}, "correction": {"N": 0.6, "P2O5": 0.5, "K2O": 0.4},
        "topdress_share": {"N": 0.6}, "topdress_at": 700, "note": "county 3414 trials 2024-2025"}]})

    uptake: dict[Literal["N", "P2O5", "K2O"], Annotated[float, Field(gt=0, le=0.2)]] | None = None
    efficiency: dict[Literal["N", "P2O5", "K2O"], Annotated[float, Field(gt=0, le=1)]] | None = None
    correction: dict[Literal["N", "P2O5", "K2O"], Annotated[float, Field(gt=0, le=5)]] | None = None
    topdress_share: dict[Literal["N", "P2O5", "K2O"], Annotated[float, Field(ge=0, le=1)]] | None = None
    n_fixed_share: float | None = Field(default=None, ge=0, lt=1)
    topdress_at: float | None = Field(default=None, gt=0, le=5000, description="degree days (a crop staged by "
                                      "degree days) or days after planting")
    index_tables: dict[Literal["P2O5", "K2O"], list[tuple[float | None, GradeName,
                                                         Annotated[float, Field(ge=0, le=1000)]]]] | None = None
    note: str | None = Field(default=None, max_length=300, description="where the values come from")


class RecommendIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "season": "2026", "target_yield_kg_ha": 9000}]})

    season: Season
    target_yield_kg_ha: float = Field(gt=0, le=100_000)
    base_yield_kg_ha: dict[Literal["N", "P2O5", "K2O"], Annotated[float, Field(ge=0, le=100_000)]] | None = Field(
        default=None, description="yield of a plot without that nutrient: the base-yield form of the balance")
    tolerance: float = Field(default=0.05, ge=0, lt=1, description="how far a mix may miss each nutrient")
    fertigation: bool = Field(default=False, description="the top-dress goes through the irrigation")


class ApplicationIn(BaseModel):
    """A fertiliser applied to a zone, as the person who spread it enters it (fertigation records itself)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "season": "2026", "product_id": "urea", "rate_kg_ha": 150, "applied_on": "2026-05-02", "method": "broadcast"}]})

    season: Season
    product_id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,31}$")
    rate_kg_ha: float = Field(gt=0, le=5000)
    area_ha: float | None = Field(default=None, gt=0, le=10_000, description="default: the zone's area")
    applied_on: date
    method: Literal["broadcast", "band", "fertigation", "foliar", "side-dress", "other"]
    note: str | None = Field(default=None, max_length=300)


class ApplicationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    zone_id: str
    season: str
    product_id: str
    product_name: str
    rate_kg_ha: float
    area_ha: float
    applied_on: str
    method: str
    nutrients_kg_ha: dict[str, float]
    by: str
    recorded_ms: int
    command_id: str | None
    note: str | None
    volume_flag: str | None = None
    """A fertigation whose reported volume is beyond its dose plus one tick of its pump: why it is suspect."""


class HarvestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    season: Season
    yield_kg_ha: float = Field(ge=0, le=100_000)
    harvested_on: date
    residues_removed: bool = Field(default=True, description="straw taken off the field with the grain")


class FertigateIn(BaseModel):
    """A top-dress through the irrigation (fertility/fertigation.py): the product, its dose per ha (or its
    concentration in the water while the injector runs), the water run, and the injection window in it."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "season": "2026", "product_id": "urea", "dose_kg_ha": 60, "duration_s": 3600, "inject_from_s": 600,
        "inject_until_s": 2700}]})

    season: Season
    product_id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,31}$")
    dose_kg_ha: float | None = Field(default=None, gt=0, le=1000, description="kg of product per ha")
    concentration_mg_l: float | None = Field(default=None, gt=0, le=20_000, description="mg of product per litre "
                                             "of the water that flows while the injector runs")
    duration_s: int | None = Field(default=None, ge=1, le=86_400, description="the water run; or amount_min, "
                                   "or amount_mm")
    amount_min: float | None = Field(default=None, gt=0, le=1440)
    amount_mm: float | None = Field(default=None, gt=0, le=500)
    inject_from_s: int = Field(ge=0, le=86_400, description="seconds after the valve opens (the line fills first)")
    inject_until_s: int = Field(ge=1, le=86_400, description="seconds after the valve opens; the rest of the run "
                                "flushes the line with water")
    injector_l_h: float | None = Field(default=None, gt=0, le=10_000, description="the controller's dosing pump "
                                       "rate; default and only accepted value: its injector's registered rate")
    node: str | None = None
    valve: int | None = Field(default=None, ge=1, le=16)
    not_before: str | int | None = Field(default=None, description="ISO 8601 or Unix ms; default: now")
    ttl_s: int | None = Field(default=None, ge=1, le=7 * 86_400)
    max_runtime_s: int | None = Field(default=None, ge=1, le=86_400)
    reason: str | None = Field(default=None, max_length=400)
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=128)

    @model_validator(mode="after")
    def _one_dose(self) -> FertigateIn:
        if (self.dose_kg_ha is None) == (self.concentration_mg_l is None):
            raise ValueError("give one of dose_kg_ha or concentration_mg_l")
        return self


class InjectorIn(BaseModel):
    """A controller's fertigation injector, as its technician commissions it: the dosing pump's calibrated
    rate (the firmware's ``injector.rate_l_h``) and the line-EC band its firmware keeps (``injector.ec_band``)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "rate_l_h": 120, "ec_band_ds_m": [0.5, 3.0], "calibrated_on": "2026-04-02",
        "note": "bucket test: 2.00 l in 60 s"}]})

    rate_l_h: float = Field(gt=0, le=10_000, description="litres of stock solution per hour, as calibrated")
    ec_band_ds_m: tuple[Annotated[float, Field(ge=0, le=50)], Annotated[float, Field(ge=0, le=50)]] | None = Field(
        default=None, description="[low, high] dS/m of the line after the injection point; none: not checked")
    calibrated_on: date | None = None
    note: str | None = Field(default=None, max_length=300)

    @field_validator("ec_band_ds_m")
    @classmethod
    def _band(cls, v: tuple[float, float] | None) -> tuple[float, float] | None:
        if v is not None and not v[0] < v[1]:
            raise ContractError("ec_band_ds_m", list(v), "must be [low, high] with low < high (dS/m)")
        return v


class InjectorOut(InjectorIn):
    node_id: str
    by: str
    updated_ms: int
