"""The planner in the service: the zone's daily water balance from the farm's own data, plan a
registry zone (on request or on a schedule), record the decision, issue its commands;
agronomists' overrides; pluggable forecasts. The decisions themselves are agronomy/planner.py's
(pure)."""

from .inputs import MissingInputs, ZoneWater, zone_config, zone_water
from .models import AgronomyOut, BalanceRowOut, DecisionOut, OverrideAction, OverrideIn, OverrideOut
from .service import PlanningService

__all__ = [
    "AgronomyOut",
    "BalanceRowOut",
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
