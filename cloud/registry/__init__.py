"""The farm registry: sites -> fields -> irrigation zones -> nodes and valves; the machines, implements,
dispatch tasks and regions of the farm (issue 20)."""

from .fleet import ImplementIn, MachineIn, MachineStatus, RegionIn, TaskIn, TaskStatus
from .models import FieldIn, NodeIn, SiteIn, SoilTexture, ValveIn, ZoneIn, ZoneOut
from .service import FIELDS, IMPLEMENTS, KINDS, MACHINES, NODES, REGIONS, SITES, TASKS, VALVES, ZONES, Kind, Registry

__all__ = [
    "FIELDS",
    "IMPLEMENTS",
    "KINDS",
    "MACHINES",
    "NODES",
    "REGIONS",
    "SITES",
    "TASKS",
    "VALVES",
    "ZONES",
    "FieldIn",
    "ImplementIn",
    "Kind",
    "MachineIn",
    "MachineStatus",
    "NodeIn",
    "RegionIn",
    "Registry",
    "SiteIn",
    "SoilTexture",
    "TaskIn",
    "TaskStatus",
    "ValveIn",
    "ZoneIn",
    "ZoneOut",
]
