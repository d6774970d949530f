"""Generated canopy photos of known green cover for the Canopeo tests and bench: the virtual farm's camera
(hil/farm/canopy.py)."""

from furrow.hil.farm.canopy import LEAVES, RESIDUE, SOILS, decoded, jpeg, scene

__all__ = ["LEAVES", "RESIDUE", "SOILS", "decoded", "jpeg", "scene"]
