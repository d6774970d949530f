"""The farm registry: sites -> fields -> irrigation zones -> nodes and valves."""

from .models import FieldIn, NodeIn, SiteIn, SoilTexture, ValveIn, ZoneIn, ZoneOut
from .service import FIELDS, KINDS, NODES, SITES, VALVES, ZONES, Conflict, Kind, NotFound, Registry

__all__ = [
    "FIELDS",
    "KINDS",
    "NODES",
    "SITES",
    "VALVES",
    "ZONES",
    "Conflict",
    "FieldIn",
    "Kind",
    "NodeIn",
    "NotFound",
    "Registry",
    "SiteIn",
    "SoilTexture",
    "ValveIn",
    "ZoneIn",
    "ZoneOut",
]
