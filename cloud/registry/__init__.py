"""The farm registry: sites -> fields -> irrigation zones -> nodes and valves."""

from .models import FieldIn, NodeIn, SiteIn, SoilTexture, ValveIn, ZoneIn, ZoneOut
from .service import FIELDS, KINDS, NODES, SITES, VALVES, ZONES, Kind, Registry

__all__ = [
    "FIELDS",
    "KINDS",
    "NODES",
    "SITES",
    "VALVES",
    "ZONES",
    "FieldIn",
    "Kind",
    "NodeIn",
    "Registry",
    "SiteIn",
    "SoilTexture",
    "ValveIn",
    "ZoneIn",
    "ZoneOut",
]
