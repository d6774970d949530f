"""The farm registry as the API takes and gives it: sites -> fields -> zones -> nodes, valves.

Every model validates at the boundary, and an error names the field.
"""

from datetime import date
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from furrow.edge.image import ROLE_CAMERA
from furrow.edge.measurements import ROLES

Id = Annotated[str, Field(pattern=r"^[a-z0-9_-]{1,32}$", description="1-32 of a-z 0-9 - _",
                          examples=["north-1"])]


class SoilTexture(StrEnum):
    SAND = "sand"
    LOAMY_SAND = "loamy_sand"
    SANDY_LOAM = "sandy_loam"
    LOAM = "loam"
    SILT_LOAM = "silt_loam"
    SILT = "silt"
    SANDY_CLAY_LOAM = "sandy_clay_loam"
    CLAY_LOAM = "clay_loam"
    SILTY_CLAY_LOAM = "silty_clay_loam"
    SANDY_CLAY = "sandy_clay"
    SILTY_CLAY = "silty_clay"
    CLAY = "clay"


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class SiteIn(_In):
    id: Id
    name: str = Field(min_length=1, max_length=120)
    timezone: str = Field(default="UTC", max_length=64, examples=["Europe/Madrid"])
    lat: float | None = Field(default=None, ge=-90, le=90, description="where ET0 is computed when no node "
                              "of the zone or site is located (extraterrestrial radiation, FAO-56 eq. 21)")
    lon: float | None = Field(default=None, ge=-180, le=180)
    elevation_m: float | None = Field(default=None, ge=-500, le=9000, description="height above sea level: "
                                      "the atmospheric pressure of ET0 (FAO-56 eq. 7); 0 m when not given")


class SiteOut(SiteIn, _Out):
    pass


class FieldIn(_In):
    id: Id
    site_id: Id
    name: str = Field(min_length=1, max_length=120)
    area_ha: float | None = Field(default=None, gt=0, le=100_000)


class FieldOut(FieldIn, _Out):
    boundary: dict | None = Field(default=None, description="GeoJSON Polygon (WGS 84), set by PUT "
                                  "/fields/{field}/boundary")
    boundary_area_ha: float | None = Field(default=None, description="the boundary's geodesic area")


class CropCoefficientsIn(_In):
    """The crop's FAO-56 single crop coefficient curve (tables 11, 12) and depletion fraction p
    (table 22). Stage lengths are days from planting, or degree days when `stages_in` is "gdd"."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "l_ini": 30, "l_dev": 40, "l_mid": 50, "l_late": 30, "kc_ini": 0.3, "kc_mid": 1.2, "kc_end": 0.35,
        "p": 0.55}]})

    l_ini: float = Field(gt=0, le=5000)
    l_dev: float = Field(gt=0, le=5000)
    l_mid: float = Field(gt=0, le=5000)
    l_late: float = Field(gt=0, le=5000)
    kc_ini: float = Field(gt=0, le=2)
    kc_mid: float = Field(gt=0, le=2)
    kc_end: float = Field(gt=0, le=2)
    p: float = Field(default=0.5, gt=0, lt=1, description="depletion fraction without stress at ETc 5 mm/day")
    stages_in: Literal["days", "gdd"] = "days"
    gdd_base_c: float = Field(default=10.0, ge=-10, le=40)
    gdd_upper_c: float | None = Field(default=None, ge=0, le=50)
    height_m: float | None = Field(default=None, gt=0, le=30, description="the crop's height in mid-season "
                                   "(FAO-56 table 12): with it, a measured canopy cover sets Kc (FAO-56 ch. 9)")

    @field_validator("gdd_upper_c")
    @classmethod
    def _upper_above_base(cls, v: float | None, info: ValidationInfo) -> float | None:
        base = info.data.get("gdd_base_c")
        if v is not None and base is not None and v <= base:
            raise ValueError(f"must be above gdd_base_c ({base})")
        return v


class PathogenIn(_In):
    """A pathogen watched on the zone, with its parameters of the generic infection model of
    Magarey, Sutton & Thayer (2005): cardinal temperatures, the wetness it needs at its optimum
    (wmin_h) and at most (wmax_h), and the dry spell that ends a wet period. No values are built
    in: they come from the pathogen's published model, and `source` says which."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, json_schema_extra={"examples": [{
        "name": "my-fungus", "tmin_c": 2.0, "topt_c": 20.0, "tmax_c": 30.0, "wmin_h": 6.0, "wmax_h": 48.0,
        "dry_interrupt_h": 4.0, "source": "Author (year), Journal vol:pages, table N, row for the pathogen"}]})

    # <zone (<= 32)>/<name (<= 47)> fits the 80 characters of an alert's subject.
    name: str = Field(min_length=1, max_length=47, description="the alert's subject is <zone>/<name>")
    tmin_c: float = Field(ge=-20, le=50, description="minimum temperature for infection")
    topt_c: float = Field(ge=-20, le=50, description="optimum temperature")
    tmax_c: float = Field(ge=-20, le=60, description="maximum temperature for infection")
    wmin_h: float = Field(gt=0, le=720, description="leaf wetness needed at the optimum temperature")
    wmax_h: float = Field(gt=0, le=720, description="the most wetness that can still lead to infection")
    dry_interrupt_h: float = Field(ge=1, le=240, description="a dry spell this long ends a wet period")
    source: str = Field(min_length=1, max_length=300, description="where the values come from (a citation)")

    @field_validator("topt_c")
    @classmethod
    def _above_tmin(cls, v: float, info: ValidationInfo) -> float:
        low = info.data.get("tmin_c")
        if low is not None and v <= low:
            raise ValueError(f"must be above tmin_c ({low})")
        return v

    @field_validator("tmax_c")
    @classmethod
    def _above_topt(cls, v: float, info: ValidationInfo) -> float:
        opt = info.data.get("topt_c")
        if opt is not None and v <= opt:
            raise ValueError(f"must be above topt_c ({opt})")
        return v

    @field_validator("wmax_h")
    @classmethod
    def _at_least_wmin(cls, v: float, info: ValidationInfo) -> float:
        low = info.data.get("wmin_h")
        if low is not None and v < low:
            raise ValueError(f"must be at least wmin_h ({low})")
        return v


class ZoneIn(_In):
    """An irrigation zone. Volumetric water contents are in % (m3/m3 x 100)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "id": "north-1", "field_id": "north", "name": "North pivot, east half", "area_ha": 12.5,
        "soil_texture": "loam", "field_capacity_pct": 31.0, "wilting_point_pct": 14.0,
        "root_depth_cm": 60, "crop": "maize", "planting_date": "2026-04-20",
        "precip_rate_mm_h": 5.0, "hydraulic_group": "pump-1"}]})

    id: Id
    field_id: Id
    name: str = Field(min_length=1, max_length=120)
    area_ha: float = Field(gt=0, le=10_000)
    soil_texture: SoilTexture
    field_capacity_pct: float = Field(gt=0, le=70)
    wilting_point_pct: float = Field(ge=0, le=60)
    root_depth_cm: float = Field(gt=0, le=400)
    crop: str = Field(min_length=1, max_length=64)
    planting_date: date | None = None
    precip_rate_mm_h: float = Field(gt=0, le=200, description="emitters' application rate over the zone")
    hydraulic_group: str | None = Field(default=None, max_length=64, description="pump or valve group: "
                                       "the planner runs one zone of a group at a time")
    week_budget_mm: float | None = Field(default=None, gt=0, le=1000,
                                         description="gross mm the planner may apply per week (Monday-Sunday)")
    season_budget_mm: float | None = Field(default=None, gt=0, le=10_000,
                                           description="gross mm the planner may apply per season (from planting)")
    crop_coefficients: CropCoefficientsIn | None = Field(
        default=None, description="FAO-56 Kc curve and p of the crop; without it the balance uses Kc 1")
    pathogens: list[PathogenIn] | None = Field(
        default=None, max_length=10, description="pathogens whose infection risk is computed and alerted on; "
                                                 "without them the zone has no disease risk")

    @field_validator("wilting_point_pct")
    @classmethod
    def _below_field_capacity(cls, v: float, info: ValidationInfo) -> float:
        fc = info.data.get("field_capacity_pct")
        if fc is not None and v >= fc:
            raise ValueError(f"must be below field_capacity_pct ({fc})")
        return v

    @field_validator("pathogens")
    @classmethod
    def _distinct_names(cls, v: list[PathogenIn] | None) -> list[PathogenIn] | None:
        names = [p.name for p in v or []]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"pathogen names must differ: {', '.join(twice)} given twice")
        return v


class ZoneOut(ZoneIn, _Out):
    model_config = ConfigDict(from_attributes=True, extra="ignore")

    boundary: dict | None = Field(default=None, description="GeoJSON Polygon (WGS 84) inside the field's, set by "
                                  "PUT /zones/{zone}/boundary")
    boundary_area_ha: float | None = Field(default=None, description="the boundary's geodesic area")


class NodeRole(StrEnum):
    SOIL = "soil"
    WEATHER = "weather"
    IRRIGATION = "irrigation"
    PEST = "pest"
    CAMERA = "camera"  # photos only (contract 1.3, edge/image.py): no readings, so not in edge ROLES
    TRACKER = "tracker"  # a machine's GNSS tracker (issue 20, edge/position.py): fixes, not readings; no zone


assert {r.value for r in NodeRole} == set(ROLES) | {ROLE_CAMERA, NodeRole.TRACKER}


class NodeIn(_In):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "id": "soil-01", "role": "soil", "zone_id": "north-1", "lat": 41.65, "lon": -0.88,
        "depths_cm": [10, 30, 60], "calibration": {"dry": 2900, "wet": 1300}, "firmware": "0.1.0"}]})

    id: Id
    role: NodeRole
    zone_id: Id | None = None
    site_id: Id | None = Field(default=None, description="a tracker's site (it rides a machine, in no zone): its "
                               "broker login and topics are the site's; every other node is in its zone's site")
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    depths_cm: list[Annotated[int, Field(ge=0, le=400)]] | None = Field(default=None, max_length=4)
    calibration: dict[str, float] | None = None
    firmware: str | None = Field(default=None, pattern=r"^\d+\.\d+\.\d+$")
    credentials_ref: str | None = Field(default=None, max_length=200,
                                        description="where the node's credentials are kept (never the secret)")


    @field_validator("site_id")
    @classmethod
    def _one_way_to_a_site(cls, v: str | None, info: ValidationInfo) -> str | None:
        # A node's site decides its topics and broker login (cloud/identity/): one place says it. A node in a zone
        # is in its zone's site; only a tracker, which rides a machine from field to field, is given its site.
        role = info.data.get("role")
        if v is not None and role is not None and role is not NodeRole.TRACKER:
            raise ValueError(f"only a tracker is registered with a site; a {role} node is in its zone's site: "
                             "give zone_id")
        if v is not None and info.data.get("zone_id") is not None:
            raise ValueError("a node in a zone is in its zone's site: give zone_id or site_id, not both")
        return v


class NodeOut(NodeIn, _Out):
    model_config = ConfigDict(from_attributes=True, extra="ignore")


class ValveIn(_In):
    node_id: Id
    channel: int = Field(ge=1, le=16)
    zone_id: Id
    max_runtime_s: int | None = Field(default=None, ge=60, le=24 * 3600,
                                      description="longest single run; the planner splits longer irrigations")


class ValveOut(ValveIn, _Out):
    model_config = ConfigDict(from_attributes=True, extra="ignore")
    id: int
