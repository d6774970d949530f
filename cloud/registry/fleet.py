"""Machines, implements, dispatch tasks and regions of the farm as the registry takes and gives them (issue 20).

Registered, edited, audited and scoped to an organisation exactly as nodes are (service.py's Kinds); what the
models cannot check alone (a node that is a tracker, implements and fields that exist and are the
organisation's, an operator who is a user) ``service.py`` checks against the database, naming the field.
"""

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from .models import Id


class OperationKind(StrEnum):
    """The operations whose progress a farm follows field by field (issue 20): what an implement does and a
    task asks for (here), what a recorded operation was (machinery/models.py)."""

    TILLAGE = "tillage"
    SOWING = "sowing"
    SPRAYING = "spraying"
    FERTILISING = "fertilising"
    HARVEST = "harvest"


class MachineType(StrEnum):
    TRACTOR = "tractor"
    COMBINE = "combine"
    SPRAYER = "sprayer"  # self-propelled
    SPREADER = "spreader"
    OTHER = "other"


class Fuel(StrEnum):
    DIESEL = "diesel"
    PETROL = "petrol"
    ELECTRIC = "electric"


class MachineStatus(StrEnum):
    """What dispatch may count on: only an available machine is planned with."""

    AVAILABLE = "available"
    BROKEN = "broken"  # reported by its operator, or set by the technician: planned around
    MAINTENANCE = "maintenance"  # in the workshop: planned around


class TaskStatus(StrEnum):
    OPEN = "open"  # to plan
    WORKING = "working"  # its operator has started it
    DONE = "done"  # reported done: left out of the next plan


def _distinct(name: str, values: list[str]) -> list[str]:
    twice = sorted({v for v in values if values.count(v) > 1})
    if twice:
        raise ValueError(f"{name} must differ: {', '.join(twice)} given twice")
    return values


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ImplementIn(_In):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "id": "drill-6m", "name": "Pneumatic drill 6 m", "kind": "drill", "width_m": 6.0,
        "operations": ["sowing"]}]})

    id: Id
    name: str = Field(min_length=1, max_length=120)
    kind: str = Field(min_length=1, max_length=32, description="drill, sprayer, plough, spreader, header ...")
    width_m: float = Field(gt=0, le=60, description="its working width, m")
    operations: list[OperationKind] = Field(min_length=1, max_length=5, description="the kinds of work it does")

    @field_validator("operations")
    @classmethod
    def _once(cls, v: list[OperationKind]) -> list[OperationKind]:
        return _distinct("operations", v)  # type: ignore[arg-type]


class ImplementOut(ImplementIn):
    model_config = ConfigDict(from_attributes=True, extra="ignore")


class MachineIn(_In):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "id": "tractor-2", "name": "Tractor 2", "type": "tractor", "width_m": 6.0, "speed_kmh": 8.0,
        "fuel": "diesel", "fuel_tank_l": 280, "node_id": "trk-02", "implement_ids": ["drill-6m"],
        "operator": "li-wei", "status": "available"}]})

    id: Id
    name: str = Field(min_length=1, max_length=120)
    type: MachineType
    width_m: float = Field(gt=0, le=60, description="the working width it plans with (its widest implement's, "
                           "usually)")
    speed_kmh: float = Field(gt=0, le=40, description="working speed")
    road_kmh: float = Field(default=20, gt=0, le=80, description="speed between fields")
    efficiency: float = Field(default=0.7, gt=0, le=1, description="field efficiency E (ASABE D497.7 Table 3)")
    fuel: Fuel = Fuel.DIESEL
    fuel_tank_l: float | None = Field(default=None, gt=0, le=5000)
    node_id: Id | None = Field(default=None, description="the tracker node riding on it (a registered node of role "
                               "tracker): where it stands is its newest fix")
    lat: float | None = Field(default=None, ge=-90, le=90, description="where it stands without a tracker (the "
                              "yard): dispatch plans its first travel from here")
    lon: float | None = Field(default=None, ge=-180, le=180)
    implement_ids: list[Id] = Field(default_factory=list, max_length=16,
                                    description="the registered implements it carries or can take")
    operator: str | None = Field(default=None, min_length=1, max_length=64,
                                 description="the user (role operator) who drives it: their phone shows its job")
    status: MachineStatus = MachineStatus.AVAILABLE

    @field_validator("implement_ids")
    @classmethod
    def _once(cls, v: list[str]) -> list[str]:
        return _distinct("implement_ids", v)

    @field_validator("lon")
    @classmethod
    def _both(cls, v: float | None, info: ValidationInfo) -> float | None:
        if (v is None) != (info.data.get("lat") is None):
            raise ValueError("lat and lon go together")
        return v


class MachineOut(MachineIn):
    model_config = ConfigDict(from_attributes=True, extra="ignore")


class TaskIn(_In):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "id": "sow-north", "field_id": "north", "kind": "sowing", "implement_id": "drill-6m",
        "deadline_ms": 1776700000000, "priority": 2}]})

    id: Id
    field_id: Id
    kind: OperationKind
    implement_id: Id = Field(description="the registered implement it needs (it must do this kind of work)")
    deadline_ms: int | None = Field(default=None, ge=0, le=9_000_000_000_000)
    priority: int = Field(default=3, ge=1, le=5, description="1 most urgent")
    status: TaskStatus = TaskStatus.OPEN


class TaskOut(TaskIn):
    model_config = ConfigDict(from_attributes=True, extra="ignore")

    reported_pct: float | None = Field(default=None, description="the share done its operator last reported")
    note: str | None = None
    reported_by: str | None = None
    reported_ms: int | None = None


class RegionIn(_In):
    """A region of the farm: a named group of the organisation's fields (of one site or several)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "id": "east-block", "name": "East block", "field_ids": ["north", "river"]}]})

    id: Id
    name: str = Field(min_length=1, max_length=120)
    field_ids: list[Id] = Field(min_length=1, max_length=500)

    @field_validator("field_ids")
    @classmethod
    def _once(cls, v: list[str]) -> list[str]:
        return _distinct("field_ids", v)


class RegionOut(RegionIn):
    model_config = ConfigDict(from_attributes=True, extra="ignore")
