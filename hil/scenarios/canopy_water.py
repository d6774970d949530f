"""canopy-water: on zones without probes, the measured cover of a thin stand lowers the water applied.

The farm of `canopy-cover` (two maize zones on one controller, a weather station, a canopy camera over
each zone photographing it at noon; z02 half a stand) with no soil probes: the cloud's balance is its
model alone (ET0 from the station x Kc, rain from its gauge, the irrigation the controller completed),
as on a farm that has a weather station and cameras but no probe string in every zone. The soil is at
field capacity at sowing (a pre-sowing irrigation), where a balance without probes starts.

Without the cameras the planner counts the crop curve's water use for z02, twice what half a stand
uses, and orders water the crop does not use; with them it counts the use
of the cover it measures (FAO-56 ch. 9, eqs. 97-98) and orders less. The same farm, seed and weather
run twice; the result is the run with the cameras, its extras put both side by side for z02 (water,
stress, the true depletion's least margin under RAW, the Kc counted) and for z01, the full stand, whose
water should hardly move.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from furrow.hil.scenarios import RunOptions, Scenario, ScenarioResult
from furrow.hil.scenarios._farmplan import build_run
from furrow.hil.scenarios.canopy_cover import PLAN as COVER_PLAN
from furrow.hil.scenarios.canopy_cover import THIN, thin_zone

FULL = "z01"
PLAN = replace(COVER_PLAN, soil_nodes_per_zone=0, start_fraction=0.0)


async def _one(cameras: bool, options: RunOptions) -> tuple[ScenarioResult, dict[str, Any]]:
    r = await build_run(replace(PLAN, cameras=cameras), options)
    try:
        result = await r.run(options)
        seen = await thin_zone(r)
        thin, full = r.farm.zones[THIN], r.farm.zones[FULL]
        seen["full_irrigation_mm"] = round(full.irrigated_mm, 1)
        seen["full_stress_days"] = sum(d.stressed for d in full.days)
        seen["raw_margin_min_mm"] = min(round(d.raw_mm - d.depletion_max_mm, 1) for d in thin.days)
        return result, seen
    finally:
        await r.close()


async def run(options: RunOptions) -> ScenarioResult:
    options.progress(f"canopy-water: 2 zones without probes ({THIN} half a stand), {PLAN.days} days, with and "
                     f"without cameras, policy {options.policy}, seed {options.seed}")
    result, seen = await _one(True, options)
    _, blind = await _one(False, replace(options, workdir=options.workdir / "without-cameras"))
    result.extra.update({
        "thin_zone": THIN,
        "thin_photos": seen["photos"], "thin_images_stored": seen["images_stored"],
        "thin_cover_error_max_pct": seen["cover_error_max_pct"],
        "thin_true_cover_pct": seen["true_cover_pct"], "thin_true_kc_last": seen["true_kc"],
        "thin_nights_kc_from_measured_cover": sum(seen["measured"]),
        "thin_kc_last_with_cameras": seen["kc"][-1], "thin_kc_last_without": blind["kc"][-1],
        "thin_irrigation_mm_with_cameras": seen["irrigation_mm"], "thin_irrigation_mm_without": blind["irrigation_mm"],
        "thin_stress_days_with_cameras": seen["stress_days"], "thin_stress_days_without": blind["stress_days"],
        "thin_raw_margin_min_mm_with_cameras": seen["raw_margin_min_mm"],
        "thin_raw_margin_min_mm_without": blind["raw_margin_min_mm"],
        "full_irrigation_mm_with_cameras": seen["full_irrigation_mm"],
        "full_irrigation_mm_without": blind["full_irrigation_mm"],
        "full_stress_days_with_cameras": seen["full_stress_days"],
        "full_stress_days_without": blind["full_stress_days"],
    })
    return result


SCENARIO = Scenario("canopy-water", "zones without probes: a thin stand's measured cover lowers the water the "
                    "planner orders (FAO-56 ch. 9), the crop unstressed; the same farm without cameras beside it", run)
