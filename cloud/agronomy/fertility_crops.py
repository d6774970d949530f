"""Per-crop fertility coefficients, each with its source; a farm overrides any of them.

A value nobody could confirm is absent (None), never guessed: a recommendation that needs it says
which value to enter (cloud/fertility/, PUT /api/v1/fertility/coefficients/{crop}).

Sources (confirmed with the project's search tool, December 2026):

* UPTAKE: "主要作物单位产量养分吸收量" (nutrient taken up per 100 kg of economic yield, straw and
  leaves included; grain air-dry), the table Chinese fertiliser handbooks reproduce, as printed at
  e7feng.com/hztop-Article-28715: rice 2.25/1.10/2.70, winter wheat 3.00/1.25/2.50, maize
  2.57/0.86/2.14, soybean 7.20/1.80/4.00, peanut (pods) 6.80/1.30/3.80 kg N/P2O5/K2O. The same
  note says legumes take about one third of their N from the soil.
* EFFICIENCY_CN: the national means of fertiliser recovery in China's cereal fields (wheat, maize,
  rice): N 27.5 %, P2O5 11.6 %, K2O 31.3 % (Zhang Fusuo et al. 2008, 土壤学报 45(5), as cited by
  Du, Ru & Ni 2013, "减氮控磷稳钾施肥对水稻产量及养分积累的影响", m.fx361.cc/news/2013/0912/16144005.html).
  Not confirmed for peanut and soybean: the farm enters them.
* PEANUT_FIXATION: the peanut worked example of the soil-test correction method (60 % of peanut N
  from nodule fixation, so 40 % of the computed N is applied): zhiwuziliao.com/feiliao/
  a6e25741f4caccb3ac8c69c2c955aca5.html.

Not confirmed, left for the farm: the soil-test correction coefficients (they come from the
farm's or county's own plots without fertiliser), the P and K index tables (from the province's
3414 trials), and the basal/top-dress split with its timing.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from .fertility import Grade, IndexBand, Nutrient

UPTAKE = "主要作物单位产量养分吸收量 table, as printed at e7feng.com/hztop-Article-28715"
EFFICIENCY_CN = ("China cereal means (Zhang Fusuo et al. 2008, 土壤学报 45(5)), cited by Du, Ru & Ni 2013, "
                 "m.fx361.cc/news/2013/0912/16144005.html")
PEANUT_FIXATION = "peanut worked example, zhiwuziliao.com/feiliao/a6e25741f4caccb3ac8c69c2c955aca5.html"
LEGUME_NOTE = "note 3 of the uptake table, e7feng.com/hztop-Article-28715 (legumes take ~1/3 of their N from soil)"


@dataclass(frozen=True)
class Sourced:
    """A value and where it comes from; value None: not confirmed, to be entered by the farm."""

    value: float | None
    source: str


def _none(what: str) -> Sourced:
    return Sourced(None, f"not confirmed: enter the farm's {what}")


@dataclass(frozen=True)
class CropFertility:
    """What the methods need for one crop. Uptake is kg of nutrient per kg of economic yield."""

    crop: str
    uptake: dict[Nutrient, Sourced]
    efficiency: dict[Nutrient, Sourced]
    n_fixed_share: Sourced = field(default_factory=lambda: Sourced(0.0, "not a legume"))
    correction: dict[Nutrient, Sourced] = field(default_factory=lambda: {n: _none("soil-test correction coefficient")
                                                                         for n in Nutrient})
    index_tables: dict[Nutrient, tuple[IndexBand, ...]] = field(default_factory=dict)
    index_source: str = "not confirmed: enter the province's abundance-deficiency index table"
    topdress_share: dict[Nutrient, Sourced] = field(default_factory=lambda: {
        n: Sourced(0.0, "no split entered: all basal") for n in Nutrient})
    topdress_at: Sourced = field(default_factory=lambda: _none("top-dress timing (degree days or days after planting)"))


def _uptake(n: float, p: float, k: float) -> dict[Nutrient, Sourced]:
    """Per 100 kg in the table, per kg here."""
    return {nutrient: Sourced(round(v / 100, 6), UPTAKE) for nutrient, v in zip(Nutrient, (n, p, k), strict=True)}


_CEREAL_EFFICIENCY = {Nutrient.N: Sourced(0.275, EFFICIENCY_CN), Nutrient.P2O5: Sourced(0.116, EFFICIENCY_CN),
                      Nutrient.K2O: Sourced(0.313, EFFICIENCY_CN)}
_UNKNOWN_EFFICIENCY = {n: _none(f"{n} fertiliser use efficiency for this crop") for n in Nutrient}

CROPS: dict[str, CropFertility] = {
    "wheat": CropFertility("wheat", _uptake(3.00, 1.25, 2.50), dict(_CEREAL_EFFICIENCY)),  # winter wheat row
    "maize": CropFertility("maize", _uptake(2.57, 0.86, 2.14), dict(_CEREAL_EFFICIENCY)),
    "rice": CropFertility("rice", _uptake(2.25, 1.10, 2.70), dict(_CEREAL_EFFICIENCY)),
    "soybean": CropFertility("soybean", _uptake(7.20, 1.80, 4.00), dict(_UNKNOWN_EFFICIENCY),
                             n_fixed_share=Sourced(2 / 3, LEGUME_NOTE)),
    "peanut": CropFertility("peanut", _uptake(6.80, 1.30, 3.80), dict(_UNKNOWN_EFFICIENCY),
                            n_fixed_share=Sourced(0.6, PEANUT_FIXATION)),
}
"""Built-in coefficients by crop name (the registry zone's `crop`)."""


def crop_fertility(crop: str, overrides: dict | None = None, by: str = "farm") -> CropFertility:
    """The crop's coefficients with a farm's overrides applied. `overrides` is the stored form:
    {"uptake": {"N": v}, "efficiency": {...}, "correction": {...}, "topdress_share": {...},
    "n_fixed_share": v, "topdress_at": v, "index_tables": {"P2O5": [[below, grade, rate], ...]}, "note": str};
    each overridden value's source says it was entered by `by`. KeyError for a crop without
    built-in coefficients and no overrides."""
    base = CROPS.get(crop.lower())
    if base is None:
        if not overrides:
            raise KeyError(crop)
        base = CropFertility(crop.lower(), {n: _none(f"{n} uptake per kg of yield") for n in Nutrient},
                             dict(_UNKNOWN_EFFICIENCY))
    if not overrides:
        return base
    src = f"entered by {by}" + (f": {overrides['note']}" if overrides.get("note") else "")
    changes: dict[str, object] = {}
    for name in ("uptake", "efficiency", "correction", "topdress_share"):
        given = overrides.get(name) or {}
        if given:
            merged = dict(getattr(base, name))
            merged.update({Nutrient(k): Sourced(float(v), src) for k, v in given.items() if v is not None})
            changes[name] = merged
    for name in ("n_fixed_share", "topdress_at"):
        if overrides.get(name) is not None:
            changes[name] = Sourced(float(overrides[name]), src)
    tables = overrides.get("index_tables") or {}
    if tables:
        changes["index_tables"] = {**base.index_tables, **{
            Nutrient(k): tuple(IndexBand(None if b[0] is None else float(b[0]), Grade(b[1]), float(b[2]))
                               for b in rows) for k, rows in tables.items()}}
        changes["index_source"] = src
    return replace(base, **changes)  # type: ignore[arg-type]
