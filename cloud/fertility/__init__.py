"""Soil fertility (测土配方施肥): soil tests and lab CSV imports, the farm's products and crop coefficients,
recommendations that explain themselves (agronomy/fertility*.py), and the record of every application.

* `units`: results and their units, converted once; `models`: what the routes take and give
* `lab_csv`: a lab's CSV through its stored column mapping (pure)
* `records`: the tables; `service`: FertilityService, what the API calls
* `fertigation`: FertigationService, top-dress through the irrigation (fertigate commands and their records)
"""

from .fertigation import FertigationService
from .service import FertilityService

__all__ = ["FertigationService", "FertilityService"]
