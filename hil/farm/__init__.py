"""The virtual farm of the HIL scenarios: soil, weather, crop and pests (see docs/hil.md)."""

from .canopy import canopy_photo
from .crop import MAIZE, Crop
from .forecast import ForecastOracle
from .model import DayTruth, Farm, FarmZone, ValveRun
from .pests import PestPopulation
from .soil import Layer, SoilColumn
from .weather import Climate, FarmDay, generate, replay

__all__ = ["MAIZE", "Climate", "Crop", "DayTruth", "Farm", "FarmDay", "FarmZone", "ForecastOracle", "Layer",
           "PestPopulation", "SoilColumn", "ValveRun", "canopy_photo", "generate", "replay"]
