"""The planner in the service: plan a registry zone, record the decision, issue its commands;
agronomists' overrides. The decisions themselves are agronomy/planner.py's (pure)."""

from .inputs import MissingInputs, ZoneWater, zone_config, zone_water
from .models import DecisionOut, OverrideAction, OverrideIn, OverrideOut
from .service import PlanningService

__all__ = [
    "DecisionOut",
    "MissingInputs",
    "OverrideAction",
    "OverrideIn",
    "OverrideOut",
    "PlanningService",
    "ZoneWater",
    "zone_config",
    "zone_water",
]
