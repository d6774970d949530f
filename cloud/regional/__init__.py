"""The regional platform's view over many organisations (issue 21): aggregates by region and crop, small
groups withheld."""

from .models import RegionalCell, RegionalView
from .service import ALL, RegionalService, regions_of, within
from .suppression import Withheld, suppress

__all__ = ["ALL", "RegionalCell", "RegionalService", "RegionalView", "Withheld", "regions_of", "suppress", "within"]
