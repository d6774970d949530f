"""A zone's season nutrient balance: what was applied, what was recommended, what the harvest removed.

Applied: each application's nutrients (its product's analysis x rate) over the area it covered, as
kg/ha of the zone. Recommended: the season's newest recommendation. Removed: yield x the crop's
uptake per kg (agronomy/fertility_crops.py, whose table counts straw and leaves) when the straw left
the field with the grain; with the straw left on the field the grain's share alone is removed, and
grain-only removal coefficients are not confirmed here, so no removal is computed then (it says so).
"""

from __future__ import annotations

from collections.abc import Sequence

from ..agronomy.fertility import Nutrient
from ..agronomy.fertility_crops import CropFertility
from ..db import HarvestRow
from .models import ApplicationOut


def season_balance(zone_area_ha: float, apps: Sequence[ApplicationOut], rec: dict | None,
                   harvest: HarvestRow | None, crop: CropFertility) -> dict:
    """Per nutrient: applied, recommended and removed kg/ha, and applied minus removed (module docstring)."""
    out: dict[str, dict[str, float | None]] = {}
    removed_note = None
    for n in Nutrient:
        applied = sum(a.nutrients_kg_ha.get(str(n), 0.0) * min(a.area_ha, zone_area_ha) / zone_area_ha for a in apps)
        recommended = None
        if rec is not None:
            recommended = next((x["rate_kg_ha"] for x in rec["needs"] if x["nutrient"] == str(n)), None)
        removed = None
        if harvest is not None:
            uptake = crop.uptake[n].value
            if not harvest.residues_removed:
                removed_note = "straw left on the field: grain-only removal coefficients are not confirmed"
            elif uptake is None:
                removed_note = f"no uptake per kg for {n}: {crop.uptake[n].source}"
            else:
                removed = round(harvest.yield_kg_ha * uptake, 2)
        out[str(n)] = {"applied_kg_ha": round(applied, 2), "recommended_kg_ha": recommended,
                       "removed_kg_ha": removed,
                       "surplus_kg_ha": round(applied - removed, 2) if removed is not None else None}
    return {"nutrients": out, "applications": len(apps), "recommendation": rec["id"] if rec else None,
            "harvest": {"yield_kg_ha": harvest.yield_kg_ha, "harvested_on": harvest.harvested_on,
                        "residues_removed": harvest.residues_removed} if harvest else None,
            "removal_source": crop.uptake[Nutrient.N].source if harvest else None, "note": removed_note}
