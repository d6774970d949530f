"""Crop vigour: canopy cover from photos (Canopeo) and people, per zone, feeding the water balance.

* `cover`: stored measurements to the balance's daily cover (pure)
* `photos`: a photo's bytes to its cover; `records`: the canopy_cover table
* `service`: VigourService, what the API and the image store's processing step call
"""

from .models import CoverIn, CoverOut
from .service import VigourService

__all__ = ["CoverIn", "CoverOut", "VigourService"]
