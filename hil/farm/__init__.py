"""The virtual farm of the HIL scenarios: soil, weather, crop and pests (see docs/hil.md)."""

from .crop import MAIZE, Crop
from .model import DayTruth, Farm, FarmZone, ValveRun
from .pests import PestPopulation
from .soil import Layer, SoilColumn
from .weather import Climate, FarmDay, generate, replay

__all__ = ["MAIZE", "Climate", "Crop", "DayTruth", "Farm", "FarmDay", "FarmZone", "Layer", "PestPopulation",
           "SoilColumn", "ValveRun", "generate", "replay"]
