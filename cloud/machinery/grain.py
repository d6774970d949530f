"""Standard moisture per crop: the moisture a crop's grain is traded and its yield reported at.

A yield at standard moisture keeps the grain's dry matter and adds the water the traded grain holds
(yield_map.standard_mass). The figures are the United States industry standards as tabled in Devkota, P.
and Mulvaney, M.J. (2020) "Adjusting crop yield to a standard moisture content", UF/IFAS Extension EDIS
SS-AGR-443/AG442 (read here through its text, which gives corn 15.5 %, and its table as the Juniper
HarvestMaster GrainGage H2 manual, appendix A, reproduces it: wheat 13.5 %, soybean 13 %, barley 14.5 %).
The Chinese grain standards (GB 1353-2018 maize, GB 1351-2008 wheat, GB 1350-2009 paddy, GB 1352-2009
soybean) set a highest moisture for each grade (their quality table) rather than a reporting moisture, and
their tables could not be read here (December 2026: the copies reached show the scope, references and terms,
not the quality table). Secondary pages restating GB 1353-2018's table give maize "水分含量 ≤14.0%" for every
grade; nothing read gives wheat's, soybean's or paddy's figure from its standard's text. So none is built in:
a farm that reports at them enters its own figure per crop with its source (PUT /standard-moistures/{crop},
the grain_moistures table), which its totals and its logs posted without a moisture take over these. A crop
in neither has no standard: its logs need one.
"""

from __future__ import annotations

from ..agronomy.expected_yield import crop_key

STANDARD_MOISTURE_SOURCE = ("Devkota and Mulvaney (2020), Adjusting crop yield to a standard moisture content, "
                            "UF/IFAS EDIS AG442: US industry standard moistures")
STANDARD_MOISTURE_PCT: dict[str, float] = {"maize": 15.5, "wheat": 13.5, "soybean": 13.0, "barley": 14.5}


# The table's "wheat" is the traded grain whatever its sowing season.
_SAME_GRAIN = {"winter wheat": "wheat", "spring wheat": "wheat"}


def standard_moisture(crop: str | None) -> float | None:
    """The crop's built-in standard moisture (%), or None when it has none. The crop is named as the farm
    names it: 玉米, Corn and maize are one crop (expected_yield.crop_key's aliases)."""
    if not crop:
        return None
    key = crop_key(crop)
    return STANDARD_MOISTURE_PCT.get(_SAME_GRAIN.get(key, key))
