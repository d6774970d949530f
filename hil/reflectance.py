"""A two-band canopy reflectance pair on a weather node, over a zone of the virtual farm.

The firmware's own driver (firmware/drivers/reflectance.py) reads four 16-bit ADC channels: red and NIR
heads looking up at the sky and down at the canopy. Here the up channels follow the farm's global
radiation and the down channels what a zone of known green cover reflects, so the NDVI the node
reports grows with the crop, and at night (too little light) the driver says "not_ready" as on a farm.

The zone is a linear mix of bare soil and full canopy, weighted by the crop's green cover (the
nadir photo's, hil/farm/crop.py), band by band. The end members' reflectances give NDVI 0.17 for
the soil and 0.85 for a full canopy, within the bare-soil (0.1-0.2) and full-vegetation
(0.8-0.9) NDVI that Carlson & Ripley (1997, On the relation between NDVI, fractional vegetation
cover, and leaf area index, Remote Sensing of Environment 62:241-252) scale fractional cover between.
"""

from __future__ import annotations

from collections.abc import Callable

from furrow.firmware.drivers.reflectance import ReflectancePair
from furrow.hil.farm import Farm

SOIL_RED, SOIL_NIR = 0.20, 0.28
"""A dry loam's reflectance in the red (~650 nm) and NIR (~810 nm): NDVI 0.17."""
CANOPY_RED, CANOPY_NIR = 0.04, 0.50
"""A closed green canopy's: chlorophyll absorbs the red, leaf cells scatter the NIR; NDVI 0.85."""
COUNTS_PER_W_M2 = 40.0
"""Up-channel counts per W/m2 of global radiation: a clear noon's 1000 W/m2 is 40,000 of 65,535,
clear of the rail; the driver's 2,000-count floor is then 50 W/m2, dusk."""
K = 1.0  # the pair's calibration factor as its certificate would give it: heads matched


class _Channel:
    def __init__(self, read: Callable[[], float]) -> None:
        self._read = read

    def read_u16(self) -> int:
        return max(0, min(65535, round(self._read())))


def canopy_reflectance_pair(farm: Farm, zone: str, clock_s: Callable[[], float],
                            noise_counts: float = 20.0) -> ReflectancePair:
    """The firmware's ReflectancePair on four emulated channels over `zone` (see the module docstring)."""

    def up() -> float:
        return farm.weather(clock_s()).rs_w_m2 * COUNTS_PER_W_M2

    def down(soil: float, canopy: float) -> float:
        cover = farm.zones[zone].crop.canopy_fraction
        return up() * (soil + (canopy - soil) * cover) / K

    def noisy(read: Callable[[], float]) -> _Channel:
        return _Channel(lambda: read() + farm.noise(noise_counts))

    return ReflectancePair([noisy(up), noisy(up), noisy(lambda: down(SOIL_RED, CANOPY_RED)),
                            noisy(lambda: down(SOIL_NIR, CANOPY_NIR))], K, K)
