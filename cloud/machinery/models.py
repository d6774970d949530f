"""What the field-operation routes take and give."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..registry.fleet import OperationKind  # the registry's tasks and implements name them too
from .tracks import MAX_FIXES


class OperationIn(BaseModel):
    """A machine's work on a field: who and what, and its track: the file the farm has (GPX, CSV, GeoJSON),
    or the live track its tracker sent through the gateway (`node`, `from_ms`, `to_ms`)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "field": "f1", "kind": "sowing", "machine": "tractor-2", "implement": "drill-6m", "width_m": 6.0,
        "operator": "Li Wei", "product": "maize DK 159", "rate": 75000, "rate_unit": "seeds/ha",
        "track_format": "csv", "track": "time,lat,lon,implement\n2026-04-20T06:00:00Z,36.0001,115.2001,down\n..."}]})

    field: str = Field(min_length=1, max_length=32, description="the registry's field, which needs a boundary")
    kind: OperationKind
    machine: str = Field(min_length=1, max_length=64)
    implement: str = Field(min_length=1, max_length=64)
    width_m: float = Field(gt=0, le=60, description="the implement's working width, m")
    operator: str | None = Field(default=None, max_length=80)
    product: str | None = Field(default=None, max_length=120, description="seed, chemical or fertiliser")
    rate: float | None = Field(default=None, ge=0, description="the product's rate, in rate_unit")
    rate_unit: str | None = Field(default=None, max_length=16, description="kg/ha, L/ha, seeds/ha ...")
    track_format: Literal["gpx", "csv", "geojson"] | None = Field(default=None, description="with `track`")
    track: str | None = Field(default=None, min_length=1,
                              description=f"the track file's text, at most {MAX_FIXES:,} positions "
                              "(docs/machinery.md: the columns a CSV needs)")
    node: str | None = Field(default=None, min_length=1, max_length=32,
                             description="instead of a file: the tracker node whose live track this is")
    from_ms: int | None = Field(default=None, ge=0, le=9_000_000_000_000,
                                description="with `node`: the live track from this time (Unix ms)")
    to_ms: int | None = Field(default=None, ge=0, le=9_000_000_000_000,
                              description="with `node`: to this time (Unix ms), at most 7 days after from_ms")

    @model_validator(mode="after")
    def _one_source(self) -> OperationIn:
        live = (self.node, self.from_ms, self.to_ms)
        if self.track is not None or self.track_format is not None:
            if self.track is None or self.track_format is None:
                raise ValueError("track and track_format go together")
            if any(v is not None for v in live):
                raise ValueError("a track file or a live track (node, from_ms, to_ms), not both")
        elif any(v is None for v in live):
            raise ValueError("give a track file (track_format, track) or a live track (node, from_ms, to_ms)")
        elif self.to_ms <= self.from_ms or self.to_ms - self.from_ms > 7 * 86_400_000:  # type: ignore[operator]
            raise ValueError(f"to_ms {self.to_ms} must be after from_ms {self.from_ms}, by at most 7 days")
        return self


class OperationOut(BaseModel):
    """An operation as stored, with the worked area of its track (docs/machinery.md says how it is found)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    field_id: str
    kind: OperationKind
    machine: str
    implement: str
    width_m: float
    operator: str | None
    product: str | None
    rate: float | None
    rate_unit: str | None
    started_ms: int
    ended_ms: int
    fixes: int
    node: str | None = Field(default=None, description="the tracker, for an operation from its live track")
    covered_ha: float = Field(description="union of the swaths inside the field")
    gross_ha: float = Field(description="the swaths' areas inside the field, summed")
    overlap_ha: float = Field(description="gross - covered: ground worked again")
    skipped_ha: float = Field(description="strips missed between swaths (narrower than two widths)")
    field_ha: float
    covered_pct: float
    work_s: float = Field(description="time with the implement down")
    work_distance_m: float
    speed_kmh: float | None = Field(description="mean speed at work")
    by: str
    created_ms: int
    covered: dict | None = Field(default=None, description="the covered ground (GeoJSON, WGS 84), on GET of one")
    skipped: dict | None = Field(default=None, description="the strips missed between swaths (GeoJSON, WGS 84), on "
                                 "GET of one; null for an operation recorded before they were kept")


class MachineOut(BaseModel):
    """A tracker as its newest stored fix places it."""

    node: str
    site: str
    t_ms: int
    lat: float
    lon: float
    speed_kmh: float
    course_deg: float | None
    quality: int | None = Field(description="GGA fix quality 0..8 (4 RTK fixed), None if unknown")
    sats: int | None
    implement_down: bool
    engine_on: bool
    fixes: int = Field(description="fixes stored of this tracker")


class KindProgress(BaseModel):
    """How much of a field one kind of operation has worked, all its operations together."""

    kind: OperationKind
    covered_ha: float
    covered_pct: float
    operations: int
    last_ms: int = Field(description="when the latest of them ended")


class FieldProgress(BaseModel):
    """A field's progress per operation kind (kinds with no operation are left out)."""

    field_id: str
    field_ha: float
    kinds: list[KindProgress]


class DispatchMachineIn(BaseModel):
    """A machine to plan for: what it carries, how fast it works and travels, where it stands."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=64)
    implements: list[str] = Field(min_length=1, max_length=16, description="implements it carries or can take")
    width_m: float = Field(gt=0, le=60, description="its implement's working width")
    speed_kmh: float = Field(gt=0, le=40, description="working speed")
    efficiency: float = Field(default=0.7, gt=0, le=1, description="field efficiency E (ASABE D497.7 Table 3)")
    road_kmh: float = Field(default=20, gt=0, le=80)
    node: str | None = Field(default=None, min_length=1, max_length=32,
                             description="its tracker: where it stands is its newest live fix")
    lon: float | None = Field(default=None, ge=-180, le=180, description="where it stands, without a tracker")
    lat: float | None = Field(default=None, ge=-90, le=90)
    available: bool = Field(default=True, description="false: broken down, planned around")


class DispatchTaskIn(BaseModel):
    """An operation to do on a field: its area left is the field less what this kind has covered already."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=64)
    field: str = Field(min_length=1, max_length=32)
    kind: OperationKind
    implement: str = Field(min_length=1, max_length=64)
    deadline_ms: int | None = Field(default=None, ge=0, le=9_000_000_000_000)
    priority: int = Field(default=3, ge=1, le=5, description="1 most urgent")


class DispatchIn(BaseModel):
    """Machines and tasks to plan (docs/machinery.md section 6): the registry's, or those given here."""

    model_config = ConfigDict(extra="forbid")

    machines: list[DispatchMachineIn] | None = Field(
        default=None, min_length=1, max_length=50,
        description="left out: the registry's machines (GET /registry/machines), available unless broken or in "
        "maintenance; the kept plan stores the machines it was made from")
    tasks: list[DispatchTaskIn] | None = Field(
        default=None, min_length=1, max_length=200,
        description="left out: the registry's tasks not done (GET /registry/tasks)")
    solver: Literal["auto", "greedy"] = "auto"
    time_limit_s: float = Field(default=2.0, ge=0.1, le=10, description="OR-Tools' search time")
    keep: bool = Field(default=False, description="keep the plan as the farm's current one (GET /dispatch/current: "
                       "the dispatch page and each operator's job page show it)")
    registry: bool = Field(default=False, description="plan with the registry's machines and tasks, whatever "
                           "`machines` and `tasks` say; a plan made from them is kept with this true (and the "
                           "machines and tasks as planned), so planning it again plans from the registry again")


class StopOut(BaseModel):
    task: str
    field: str
    area_ha: float = Field(description="the area left to do")
    travel_h: float
    start_ms: int
    end_ms: int
    late: bool = Field(description="ends after the task's deadline")


class DispatchOut(BaseModel):
    """The plan: each machine's tasks in order with when it starts and ends them."""

    solver: Literal["ortools", "greedy"]
    planned_ms: int
    makespan_h: float = Field(description="when the last machine finishes, hours from planned_ms")
    routes: dict[str, list[StopOut]]
    left_out: dict[str, str] = Field(description="tasks no available machine can do, and why")
    kept_id: int | None = Field(default=None, description="the kept plan's id when `keep` was asked")


class DispatchCurrent(BaseModel):
    """The farm's current plan: the newest kept, the request it was made from, who asked for it."""

    id: int
    by: str
    request: DispatchIn
    plan: DispatchOut


class CropKindProgress(BaseModel):
    kind: OperationKind
    covered_ha: float
    covered_pct: float = Field(description="of the crop's zones' area")


class CropProgress(BaseModel):
    """One crop across the farm's zones that grow it: its area, the area sown (planted) and each kind's progress."""

    crop: str
    zones: int
    area_ha: float = Field(description="the zones' boundaries, on the ellipsoid")
    planted_ha: float = Field(description="the sowing operations' covered ground inside those zones, and the whole "
                              "of a zone no sowing was tracked in once its planting_date has come (entered)")
    planted_entered_ha: float = Field(default=0.0, description="the part of planted_ha entered in the registry "
                                      "(zones with a planting_date and no tracked sowing)")
    planted_pct: float
    kinds: list[CropKindProgress]


class CropsProgress(BaseModel):
    crops: list[CropProgress]
    zones_without_boundary: list[str] = Field(description="zones left out: their crop has no place on the map")


class YieldLogIn(BaseModel):
    """A combine's yield monitor log for one field (docs/machinery.md section 8)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "field": "f1", "crop": "maize", "machine": "combine-1", "width_m": 9.0, "standard_moisture_pct": 15.5,
        "log": "time,lat,lon,flow_kg_s,moisture_pct,header\n1780000000000,36.0001,114.4001,18.2,22.1,down\n..."}]})

    field: str = Field(min_length=1, max_length=32, description="the registry's field, which needs a boundary")
    crop: str | None = Field(default=None, max_length=64)
    machine: str = Field(min_length=1, max_length=64)
    width_m: float = Field(gt=0, le=20, description="the header's working width, m")
    standard_moisture_pct: float | None = Field(
        default=None, ge=0, lt=40, description="the moisture totals are given at; without it the crop's standard: "
        "the farm's own (PUT /standard-moistures/{crop}), else the built-in one (cloud/machinery/grain.py: maize "
        "15.5, wheat 13.5, soybean 13, barley 14.5), which a log of another crop or none needs")
    flow_delay_s: float = Field(default=12.0, ge=0, le=60, description="grain transport time to the sensor")
    max_overlap: float = Field(
        default=0.5, ge=0, le=1, description="the overlapping-pass filter: a point whose swath lies more than this "
        "share over ground an earlier pass harvested leaves the map (1: keep every point). 0.5 is the team's "
        "choice, not a published figure (docs/machinery.md section 8)")
    log: str = Field(min_length=1, description="the monitor's CSV export: time, lat, lon, flow_kg_s, "
                     "moisture_pct, optionally header (down/up)")


class YieldLogOut(BaseModel):
    """A log's totals for its field at standard moisture; `yields` (with `?map=true`) the map's points."""

    id: int
    field_id: str
    crop: str | None
    machine: str
    width_m: float
    standard_moisture_pct: float
    started_ms: int
    ended_ms: int
    mass_kg: float = Field(description="grain through the sensor in the field, at standard moisture")
    harvested_ha: float = Field(description="the header-down track's covered area in the field")
    mean_yield_t_ha: float
    mean_moisture_pct: float
    points: int
    kept: int = Field(description="points on the yield map after the filters")
    dropped: dict[str, int] = Field(description="points each filter dropped")
    yields: list[list[float]] | None = Field(default=None, description="[lon, lat, t/ha] of each kept point")


class YieldTotal(BaseModel):
    """A field's (or a crop's) harvest from its yield logs, at the crop's standard moisture."""

    field_id: str | None = Field(default=None, description="the field (None in the per-crop totals)")
    crop: str | None
    fields: int = Field(description="fields harvested")
    logs: int = Field(description="yield logs counted")
    mass_kg: float = Field(description="grain at standard_moisture_pct")
    harvested_ha: float
    mean_yield_t_ha: float
    standard_moisture_pct: float
    moisture_source: str = Field(description="where standard_moisture_pct comes from")
    first_ms: int
    last_ms: int


class GrainMoistureIn(BaseModel):
    """An organisation's own standard moisture for a crop, with where the figure comes from."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, json_schema_extra={"examples": [
        {"pct": 14.0, "source": "GB 1353-2018 玉米, 表1 (our grain buyer's contract)"}]})

    pct: float = Field(gt=0, lt=40, description="the moisture (% wet basis) the crop's totals are given at")
    source: str = Field(min_length=3, max_length=300, description="where the figure comes from")


class GrainMoistureOut(BaseModel):
    """A crop's standard moisture as the organisation's totals take it."""

    crop: str
    pct: float
    source: str = Field(description="the source the organisation gave for its own figure, or the built-in one's")
    own: bool = Field(description="the organisation's own entry (else the built-in United States figure)")
    by: str | None = Field(default=None, description="who entered the organisation's own figure")
    updated_ms: int | None = Field(default=None, description="when, Unix ms")


class YieldTotals(BaseModel):
    """Totals per field and crop and per crop (docs/machinery.md section 8)."""

    season: int | None = Field(description="the year the harvests started in (UTC), or None: every log")
    fields: list[YieldTotal]
    crops: list[YieldTotal]
    replaced: list[int] = Field(description="logs left out: a newer log of the same field and machine covers "
                                "their time (the same harvest posted again with other settings)")
