"""canopy-cover: a thin stand photographed daily; the measured cover lowers the planner's Kc for it.

Two maize zones on one two-valve controller, a probe string in each, a weather station, and a
canopy camera over each zone photographing it at noon (the real camera core through the gateway's
image store to the cloud's object store). Zone z01 is a full stand; z02 half of one (a poor
emergence, a hailstorm), so its canopy covers half the ground the crop curve expects and its true
water use is lower (hil/farm/crop.py `Crop.stand`). The cloud measures each photo's green cover
(Canopeo) and the planner adjusts the zone's Kc for the measured cover (FAO-56 ch. 9, eqs. 97-98).

The same farm, seed and weather run twice: with the cameras, and without them (the crop curve for
both zones). The result is the run with the cameras; its extras put both runs side by side for the
thin zone: the Kc the planner counted, the water it ordered, the days the crop was stressed.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

from furrow.hil.engine import Run
from furrow.hil.farm import Climate
from furrow.hil.scenarios import RunOptions, Scenario, ScenarioResult
from furrow.hil.scenarios._farmplan import FarmPlan, build_run

THIN = "z02"
PLAN = FarmPlan(zones=2, days=45, soil_nodes_per_zone=1, weather_nodes=1, valves_per_controller=2,
                soil_interval_s=6 * 3600, irrigation_interval_s=6 * 3600, weather_interval_s=3600,
                start=date(2026, 5, 20), cameras=True, stands=(1.0, 0.5),
                climate=Climate(p_wet_after_dry=0.06, mean_rain_mm=6.0))
"""A dry early summer (rain on about one day in fifteen), so the crop lives on what the planner orders."""


async def thin_zone(r: Run) -> dict[str, Any]:
    """What the run did to the thin zone: each night's Kc and cover source, the water, the stress, the photos."""
    services = r.runtime.services
    decisions = sorted(await services.planning.decisions(THIN, limit=10_000), key=lambda d: d.ts_ms)
    days = [d.inputs.get("balance_day") or {} for d in decisions]
    zone = r.farm.zones[THIN]
    out: dict[str, Any] = {
        "kc": [day.get("kc") for day in days],
        "measured": [day.get("cover_pct") is not None for day in days],
        "irrigation_mm": round(zone.irrigated_mm, 1),
        "stress_days": sum(d.stressed for d in zone.days),
        "true_cover_pct": round(100 * zone.crop.canopy_fraction, 1),
        "true_kc": round(zone.crop.kc, 3),
        "first_watered": next((i for i, d in enumerate(decisions) if d.action == "irrigate"), None),
    }
    camera = next((n for n, s in r.fleet.specs.items() if s.role == "camera" and s.zone == THIN), None)
    if camera is not None:
        covers = await services.vigour.covers(THIN, 0, r.clock.ms() + 1)
        truths = r.fleet.cameras[camera].truths  # type: ignore[attr-defined]
        out["photos"] = len(truths)
        out["covers"] = [round(c.cover_pct, 1) for c in covers]
        errors = [abs(c.cover_pct - 100 * t) for c, t in zip(covers, truths, strict=True)]
        out["cover_error_max_pct"] = round(max(errors, default=0.0), 1)
        out["images_stored"] = len(await services.images.list(node=camera, limit=10_000))
    return out


async def _one(plan: FarmPlan, options: RunOptions) -> tuple[ScenarioResult, dict[str, Any]]:
    r = await build_run(plan, options)
    try:
        result = await r.run(options)
        return result, await thin_zone(r)
    finally:
        await r.close()


async def run(options: RunOptions) -> ScenarioResult:
    options.progress(f"canopy-cover: 2 zones ({THIN} half a stand), {PLAN.days} days, with and without cameras, "
                     f"policy {options.policy}, seed {options.seed}")
    result, seen = await _one(PLAN, options)
    _, blind = await _one(replace(PLAN, cameras=False), replace(options, workdir=options.workdir / "without-cameras"))
    nights = [(m, c) for m, c in zip(seen["kc"], blind["kc"], strict=True) if m is not None and c is not None]
    result.extra.update({
        "thin_zone": THIN,
        "thin_true_cover_pct": seen["true_cover_pct"], "thin_true_kc_last": seen["true_kc"],
        "thin_photos": seen["photos"], "thin_images_stored": seen["images_stored"],
        "thin_measured_cover_pct": seen["covers"][-1] if seen["covers"] else None,
        "thin_cover_error_max_pct": seen["cover_error_max_pct"],
        "thin_nights_kc_from_measured_cover": sum(seen["measured"]),
        "thin_nights_kc_lower_with_cameras": sum(m < c for m, c in nights),
        "thin_kc_last_with_cameras": nights[-1][0] if nights else None,
        "thin_kc_last_without": nights[-1][1] if nights else None,
        "thin_first_watered_night_with_cameras": seen["first_watered"],
        "thin_first_watered_night_without": blind["first_watered"],
        "thin_irrigation_mm_with_cameras": seen["irrigation_mm"], "thin_irrigation_mm_without": blind["irrigation_mm"],
        "thin_stress_days_with_cameras": seen["stress_days"], "thin_stress_days_without": blind["stress_days"],
    })
    return result


SCENARIO = Scenario("canopy-cover", "a half stand photographed daily: measured cover lowers the planner's Kc "
                    "(FAO-56 ch. 9); the same farm without cameras beside it", run)
