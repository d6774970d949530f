"""A zone's fertiliser recommendation: nutrients by the cited methods, products by least cost, split into
basal and top-dress, the top-dress timed by crop stage and held while the root zone is waterlogged or dry.

Pure: `recommend(...)` takes the soil test, the crop's coefficients (fertility_crops.py), the farm's
products and the zone's water state, and returns a record of its inputs, their sources, the
equation of each nutrient and the result, with a message per step (agronomy/messages.py) as a
planner decision does.

Which method per nutrient: N by the target-yield balance; P2O5 and K2O by the abundance-deficiency
index when the farm has entered an index table for the crop, else by the target-yield balance. The
soil supply comes from a plot without fertiliser when its yield is known (地力差减法), else from
the soil test and the correction coefficient. Legumes get N only for the share they do not fix.

Water gate (FAO-56 ch. 8 terms): a top-dress is held while the root zone is waterlogged (the probes
see water above field capacity, `excess_mm` > 0: nitrogen lost to leaching and denitrification) or
past the refill point (depletion above RAW: granules stay on dry soil and roots take up little). Through
the irrigation (fertigation) a dry root zone is no reason to wait: the water comes with the nutrient.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from .fertility import (
    Nutrient,
    fertiliser_nutrient,
    index_rate,
    soil_supply_from_base_yield,
    soil_supply_from_test,
)
from .fertility_crops import CropFertility
from .fertility_mix import NUTRIENTS, Mix, Product, least_cost_mix
from .messages import Message, Texts

TEXT = Texts({
    "fert.balance": "{nutrient}: ({target_kg_ha:g} kg/ha x {uptake_100kg:g} kg per 100 kg - soil supply "
                    "{supply_kg_ha:.1f}) / efficiency {efficiency_pct:g}% = {rate_kg_ha:.1f} kg/ha (target-yield "
                    "balance, soil supply from {supply_from})",
    "fert.legume": "{nutrient}: {share_pct:.0f}% of the crop's N is fixed, so {rate_kg_ha:.1f} kg/ha is applied",
    "fert.index": "{nutrient}: soil test {test:g} mg/kg is {grade}: {rate_kg_ha:.1f} kg/ha from the farm's index table",
    "fert.surplus": "{nutrient}: the soil supplies more than the crop takes up: none needed",
    "fert.missing": "{nutrient}: not computed: {what}",
    "fert.mix": "{kind}: {products} for {cost:.2f} per ha",
    "fert.no-mix": "{kind}: no product mix: {reason}",
    "fert.no-mix.missing": "no product carries {nutrients}",
    "fert.no-mix.tolerance": "no combination of the products meets every nutrient without exceeding one by more "
                             "than {tolerance_pct:g}% (add a straight product for each nutrient, or widen the "
                             "tolerance)",
    "fert.need.uptake": "the crop's uptake per kg of yield",
    "fert.need.efficiency": "the fertiliser use efficiency",
    "fert.need.supply": "a yield without fertiliser, or a soil test and the correction coefficient",
    "fert.topdress-due": "top-dress due: {progress:g} {unit} since planting, the farm times it at {at:g}",
    "fert.topdress-later": "top-dress at {at:g} {unit} since planting (now {progress:g})",
    "fert.topdress-untimed": "top-dress timing not entered for the crop: the farm sets it",
    "fert.hold-wet": "hold the top-dress: the root zone is waterlogged ({excess_mm:.1f} mm above field capacity)",
    "fert.hold-dry": "hold the spread top-dress: the root zone is past the refill point (depletion {dr_mm:.1f} > "
                     "RAW {raw_mm:.1f} mm); fertigation brings its own water",
    "fert.water-unknown": "no water balance for the zone: check the soil before a top-dress",
})

SOIL_TEST_FOR = {Nutrient.N: "alkali_n_mg_kg", Nutrient.P2O5: "olsen_p_mg_kg", Nutrient.K2O: "available_k_mg_kg"}
"""The soil-test result each nutrient's method reads (cloud/fertility/models.py names)."""


class WaterState(StrEnum):
    OK = "ok"
    WATERLOGGED = "waterlogged"
    DRY = "dry"
    UNKNOWN = "unknown"


def root_zone_state(depletion_mm: float | None, raw_mm: float | None, excess_mm: float | None) -> WaterState:
    """Waterlogged when the probes see water above field capacity; dry past the refill point (Dr > RAW)."""
    if excess_mm is not None and excess_mm > 0:
        return WaterState.WATERLOGGED
    if depletion_mm is None or raw_mm is None:
        return WaterState.UNKNOWN
    return WaterState.DRY if depletion_mm > raw_mm else WaterState.OK


@dataclass(frozen=True)
class Need:
    """One nutrient's need per ha with how it was found; rate None when an input is missing."""

    nutrient: Nutrient
    rate_kg_ha: float | None
    method: str
    equation: str
    inputs: dict[str, object]
    sources: dict[str, str]
    message: Message


@dataclass(frozen=True)
class Application:
    kind: str  # basal, topdress
    need_kg_ha: dict[Nutrient, float]
    mix: Mix
    message: Message


@dataclass(frozen=True)
class Recommendation:
    needs: list[Need]
    applications: list[Application]
    topdress_due: bool | None
    topdress_held: WaterState | None
    messages: list[Message] = field(default_factory=list)

    @property
    def explanation(self) -> str:
        return "; ".join(m.text for m in self.messages)


def _balance_need(n: Nutrient, c: CropFertility, target: float, test: float | None,
                  base_yield: float | None) -> Need:
    uptake, eff, corr = c.uptake[n], c.efficiency[n], c.correction[n]
    eq = "(target yield x uptake per kg - soil supply) / fertiliser use efficiency"
    inputs: dict[str, object] = {"target_yield_kg_ha": target, "uptake_per_kg": uptake.value,
                                 "efficiency": eff.value, "soil_test_mg_kg": test, "correction": corr.value,
                                 "base_yield_kg_ha": base_yield}
    sources = {"uptake_per_kg": uptake.source, "efficiency": eff.source, "correction": corr.source}
    missing = [TEXT(what) for what, v in (("fert.need.uptake", uptake.value), ("fert.need.efficiency", eff.value))
               if v is None]
    if base_yield is None and (test is None or corr.value is None):
        missing.append(TEXT("fert.need.supply"))
    if missing:  # what to enter, as messages: the reader sees them in her language
        return Need(n, None, "target-yield balance", eq, inputs, sources,
                    TEXT("fert.missing", nutrient=str(n), what=missing))
    assert uptake.value is not None and eff.value is not None
    if base_yield is not None:
        supply, supply_from = soil_supply_from_base_yield(base_yield, uptake.value), "the yield without fertiliser"
        eq += "; soil supply = yield without fertiliser x uptake per kg (地力差减法)"
    else:
        assert test is not None and corr.value is not None
        supply, supply_from = soil_supply_from_test(test, corr.value), "the soil test"
        eq += "; soil supply = soil test x 2.25 (kg/ha per mg/kg, 0-20 cm) x correction coefficient"
    rate = fertiliser_nutrient(target, uptake.value, supply, eff.value)
    inputs["soil_supply_kg_ha"] = round(supply, 2)
    if rate <= 0:
        return Need(n, 0.0, "target-yield balance", eq, inputs, sources, TEXT("fert.surplus", nutrient=str(n)))
    # uptake per 100 kg and efficiency in % as the sources print them (and two decimals show them whole)
    msg = TEXT("fert.balance", nutrient=str(n), target_kg_ha=target, uptake_100kg=round(100 * uptake.value, 4),
               supply_kg_ha=round(supply, 2), efficiency_pct=round(100 * eff.value, 2), rate_kg_ha=round(rate, 2),
               supply_from=supply_from)
    return Need(n, round(rate, 2), "target-yield balance", eq, inputs, sources, msg)


def nutrient_needs(c: CropFertility, target_kg_ha: float, soil: Mapping[str, float | None],
                   base_yields: Mapping[Nutrient, float] | None = None) -> list[Need]:
    """Each nutrient's need per ha (module docstring for the method chosen)."""
    out = []
    for n in NUTRIENTS:
        test = soil.get(SOIL_TEST_FOR[n])
        table = c.index_tables.get(n)
        if n is not Nutrient.N and table and test is not None:
            band = index_rate(test, table)
            out.append(Need(n, band.rate_kg_ha, "abundance-deficiency index", "rate of the index band the soil "
                            "test falls in", {"soil_test_mg_kg": test, "grade": str(band.grade)},
                            {"index_table": c.index_source},
                            TEXT("fert.index", nutrient=str(n), test=test, grade=str(band.grade),
                                 rate_kg_ha=band.rate_kg_ha)))
            continue
        need = _balance_need(n, c, target_kg_ha, test, (base_yields or {}).get(n))
        share = c.n_fixed_share.value or 0.0
        if n is Nutrient.N and share > 0 and need.rate_kg_ha:
            rate = need.rate_kg_ha * (1 - share)
            need = Need(n, round(rate, 2), need.method, need.equation + " x (1 - share fixed)",
                        {**need.inputs, "n_fixed_share": share},
                        {**need.sources, "n_fixed_share": c.n_fixed_share.source},
                        TEXT("fert.legume", nutrient=str(n), share_pct=100 * share, rate_kg_ha=rate))
        out.append(need)
    return out


def _mix_message(kind: str, mix: Mix, tolerance: float, labels: Mapping[str, str]) -> Message:
    """The mix in words; each product by the name a person reads (`labels`), as the dashboard's tables show it."""
    if not mix.feasible:
        reason = (TEXT("fert.no-mix.missing", nutrients=", ".join(mix.missing)) if mix.missing
                  else TEXT("fert.no-mix.tolerance", tolerance_pct=round(100 * tolerance, 2)))
        return TEXT("fert.no-mix", kind=kind, reason=reason)
    products = ", ".join(f"{labels.get(name) or name} {kg:.1f} kg/ha"
                         for name, kg in mix.amounts_kg_ha.items()) or "nothing"
    return TEXT("fert.mix", kind=kind, products=products, cost=mix.cost_per_ha)


def recommend(c: CropFertility, target_kg_ha: float, soil: Mapping[str, float | None], products: Sequence[Product],
              *, progress: float | None = None, progress_unit: str = "days", water: WaterState = WaterState.UNKNOWN,
              excess_mm: float | None = None, depletion_mm: float | None = None, raw_mm: float | None = None,
              fertigation: bool = False, base_yields: Mapping[Nutrient, float] | None = None,
              tolerance: float = 0.05) -> Recommendation:
    """The zone's recommendation (module docstring). `progress` is the crop's degree days or days since
    planting (`progress_unit`), None when unknown; `water` the root zone's state now."""
    needs = nutrient_needs(c, target_kg_ha, soil, base_yields)
    labels = {p.name: p.label for p in products}
    messages = [n.message for n in needs]
    total = {n.nutrient: n.rate_kg_ha or 0.0 for n in needs}
    share = {n: c.topdress_share[n].value or 0.0 for n in NUTRIENTS}
    basal = {n: round(total[n] * (1 - share[n]), 2) for n in NUTRIENTS}
    top = {n: round(total[n] * share[n], 2) for n in NUTRIENTS}
    apps = []
    mix = least_cost_mix(basal, products, tolerance)
    apps.append(Application("basal", basal, mix, _mix_message("basal", mix, tolerance, labels)))
    messages.append(apps[-1].message)
    due: bool | None = None
    held: WaterState | None = None
    if any(v > 0 for v in top.values()):
        mix = least_cost_mix(top, products, tolerance)
        apps.append(Application("topdress", top, mix, _mix_message("topdress", mix, tolerance, labels)))
        messages.append(apps[-1].message)
        at = c.topdress_at.value
        if at is None:
            messages.append(TEXT("fert.topdress-untimed"))
        elif progress is not None:
            due = progress >= at
            messages.append(TEXT("fert.topdress-due" if due else "fert.topdress-later", progress=round(progress, 1),
                                 unit=progress_unit, at=at))
        if water is WaterState.WATERLOGGED:
            held = water
            messages.append(TEXT("fert.hold-wet", excess_mm=excess_mm or 0.0))
        elif water is WaterState.DRY and not fertigation:
            held = water
            messages.append(TEXT("fert.hold-dry", dr_mm=depletion_mm or 0.0, raw_mm=raw_mm or 0.0))
        elif water is WaterState.UNKNOWN:
            messages.append(TEXT("fert.water-unknown"))
    return Recommendation(needs, apps, due, held, messages)
