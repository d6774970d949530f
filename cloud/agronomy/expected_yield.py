"""Expected yield from the season's water use: FAO Irrigation and Drainage Paper 33 (Doorenbos and Kassam
1979), eq. 1, as FAO-56 restates it (eq. 90, p. 176, with ETc adj for ETa and ETc for ETm; read in FAO-56's text):

    1 - Ya/Ym = Ky (1 - ETa/ETm)

Ya is the yield the crop is heading for, Ym the yield it would give with no water deficit (the farm's
potential yield under its management), ETa the crop's actual evapotranspiration, ETm (FAO-56's ETc under
standard conditions) the evapotranspiration with no water stress, and Ky the crop's yield response factor
over the whole growing period. The zone's balance (planning/balance.py) gives both ET sums: ETm = sum of
Kc ET0 (FAO-56 eq. 58), ETa = sum of Ks Kc ET0 (eq. 80), with the depletion behind Ks corrected by the
probes every day.

Sources of the built-in values, and what could not be confirmed (read December 2026 with the project's
search tool):

* KY: FAO Irrigation and Drainage Paper 56 (Allen, Pereira, Raes & Smith 1998), chapter 8, Table 24
  "Seasonal yield response functions from FAO Irrigation and Drainage Paper No. 33" (p. 181 of the printed
  paper; chapter 8 online: https://www.fao.org/3/x0490e/x0490e0e.htm). Read in FAO-56's own text (a full-text
  copy of the FAO PDF in the public code index), not in FAO-33, which the tool does not reach. FAO-56 restates
  FAO-33's seasonal values for the crops it lists (FAO-56 p. 177: "There are Ky values in FAO Irrigation and
  Drainage paper No33 for only about 23 crops"). Every single value of the table is built in (KY below);
  the two the table gives as ranges (banana 1.2-1.35, citrus 1.1-1.3) and wheat without its season (winter
  1.05, spring 1.15) are not: the farm picks its value, the message says which the table gives. Crops the table
  does not list (rice among them) are not confirmed: the farm enters its Ky (PUT the potential). FAO-56 p. 177
  suggests Ky = 1 for a crop without one, but only inside its salinity equations; it is not taken here.
  Worked examples from the same text are tests (tests/test_expected_yield.py): FAO-56 Example 44 (chapter 9,
  p. 194, https://www.fao.org/3/x0490e/x0490e0f.htm: dry beans, Ky 1.15, 1100 of a potential 1800 kg/ha, so
  ETa/ETm = Ks = 0.66 by eq. 103, eq. 90 solved for Ks) and Example 39 (p. 182: beans, Ky 1.15, a 9.5 % yield
  loss to salinity, Ks 0.92 by eq. 91).
* Ym: no built-in value. Ym is the farm's own high-producing yield (FAO-56 eq. 90: "maximum (expected) yield in
  absence of environmental or water stresses"); a field's Ym is the farm's record. Without one the answer is
  the relative yield Ya/Ym alone, and names the value to enter.

Eq. 1 is taken to hold for water deficits up to about 50 % (1 - ETa/ETm <= 0.5), as FAO-33 ch. 2 is cited for
it; that sentence was not read in FAO's text here (the FAO-56 passages on eq. 90 read here, chapters 8 and 9,
state no such bound), so the limit only flags an estimate (within_range false), it changes no number. Ya is
never below 0.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...edge.errors import ContractError

FAO33 = "FAO Irrigation and Drainage Paper 33 (Doorenbos & Kassam 1979)"
FAO56_TABLE24 = ("FAO Irrigation and Drainage Paper 56 (Allen et al. 1998), Table 24, p. 181: seasonal yield "
                 "response functions from FAO-33")
KY_SOURCE = f"{FAO56_TABLE24}, Ky over the whole growing season (read in FAO-56's text)"
DEFICIT_VALID_UP_TO = 0.5  # cited to FAO-33 ch. 2 (linear up to about 50 % deficit); not read in FAO's text here


@dataclass(frozen=True)
class Sourced:
    """A value and where it comes from; value None: not confirmed, to be entered by the farm."""

    value: float | None
    source: str


# FAO-56 Table 24, every single value as printed (the copy read spells "Groundnet" and "Peas 1,15").
KY: dict[str, float] = {
    "alfalfa": 1.1, "bean": 1.15, "cabbage": 0.95, "cotton": 0.85, "grape": 0.85, "groundnut": 0.70,
    "maize": 1.25, "onion": 1.1, "pea": 1.15, "pepper": 1.1, "potato": 1.1, "safflower": 0.8, "sorghum": 0.9,
    "soybean": 0.85, "spring wheat": 1.15, "sugarbeet": 1.0, "sugarcane": 1.2, "sunflower": 0.95,
    "tomato": 1.05, "watermelon": 1.1, "winter wheat": 1.05,
}
# Listed by the table, but not as one value: the farm chooses (the message quotes the table).
KY_NOT_SINGLE = {"banana": "a range, 1.2-1.35", "citrus": "a range, 1.1-1.3",
                 "wheat": "winter wheat 1.05 and spring wheat 1.15 (name the crop 'winter wheat' or 'spring wheat')"}
ALIASES = {
    "corn": "maize", "玉米": "maize", "beans": "bean", "dry bean": "bean", "菜豆": "bean", "高粱": "sorghum",
    "棉花": "cotton", "soybeans": "soybean", "soya": "soybean", "大豆": "soybean", "小麦": "wheat",
    "冬小麦": "winter wheat", "春小麦": "spring wheat", "peanut": "groundnut", "花生": "groundnut",
    "potatoes": "potato", "马铃薯": "potato", "土豆": "potato", "sugar beet": "sugarbeet", "甜菜": "sugarbeet",
    "sugar cane": "sugarcane", "甘蔗": "sugarcane", "向日葵": "sunflower", "紫花苜蓿": "alfalfa", "苜蓿": "alfalfa",
    "lucerne": "alfalfa", "tomatoes": "tomato", "番茄": "tomato", "西红柿": "tomato", "西瓜": "watermelon",
    "onions": "onion", "洋葱": "onion", "peas": "pea", "豌豆": "pea", "peppers": "pepper", "辣椒": "pepper",
    "红花": "safflower", "grapes": "grape", "葡萄": "grape", "甘蓝": "cabbage", "卷心菜": "cabbage",
    "香蕉": "banana", "柑橘": "citrus", "大麦": "barley",
}


def crop_key(crop: str) -> str:
    c = crop.strip().lower()
    return ALIASES.get(c, c)


def crop_names(key: str) -> list[str]:
    """Every name that crop_key maps to `key`, the key first: entries stored under a name before it became an
    alias (大豆, 小麦 and the others added with FAO-56's table) are still found."""
    return [key] + sorted(a for a, k in ALIASES.items() if k == key and a != key)


def builtin_ky(crop: str) -> Sourced:
    """The crop's built-in Ky, or None with what to enter."""
    key = crop_key(crop)
    if key in KY:
        return Sourced(KY[key], KY_SOURCE)
    if key in KY_NOT_SINGLE:
        return Sourced(None, f"{FAO56_TABLE24} gives {crop!r} {KY_NOT_SINGLE[key]}: enter the farm's seasonal Ky")
    return Sourced(None, f"not confirmed for {crop!r} ({FAO56_TABLE24} does not list it): enter the crop's "
                         "seasonal Ky")


def _check(field: str, value: float, low: float, high: float) -> float:
    if value is None or not isinstance(value, (int, float)) or value != value or not low <= value <= high:
        raise ContractError(field, value, f"must be a number within {low:g}..{high:g}")
    return float(value)


def relative_yield(ky: float, eta_over_etm: float) -> float:
    """Ya/Ym from FAO-33 eq. 1: 1 - Ky (1 - ETa/ETm), never below 0."""
    ky = _check("ky", ky, 0.0, 5.0)
    ratio = _check("eta_over_etm", eta_over_etm, 0.0, 1.0)
    return max(0.0, 1.0 - ky * (1.0 - ratio))


@dataclass(frozen=True)
class ExpectedYield:
    """One zone's expected yield for the season so far (see the module docstring)."""

    crop: str
    eta_mm: float
    etm_mm: float
    eta_over_etm: float
    ky: float
    relative_yield: float
    ym_t_ha: float | None
    ya_t_ha: float | None
    area_ha: float
    total_t: float | None
    within_range: bool
    """Whether the deficit is within the range eq. 1 was fitted over (<= 50 %)."""

    @property
    def deficit(self) -> float:
        return 1.0 - self.eta_over_etm


def expected_yield(crop: str, eta_mm: float, etm_mm: float, ky: float, ym_t_ha: float | None,
                   area_ha: float) -> ExpectedYield:
    """Ya from the season's ETa and ETm sums (mm), Ky, Ym (t/ha; None: the relative yield only) and the
    zone's area (ha). ETa above ETm (rounding, a day of probe correction) counts as no deficit."""
    eta = _check("eta_mm", eta_mm, 0.0, 5000.0)
    etm = _check("etm_mm", etm_mm, 0.0, 5000.0)
    if etm <= 0:
        raise ContractError("etm_mm", etm_mm, "must be above 0: no modelled day of the season yet")
    area = _check("area_ha", area_ha, 0.0, 1e6)
    if ym_t_ha is not None:
        _check("ym_t_ha", ym_t_ha, 0.0, 300.0)
    ratio = min(1.0, eta / etm)
    rel = relative_yield(ky, ratio)
    ya = None if ym_t_ha is None else ym_t_ha * rel
    return ExpectedYield(crop=crop, eta_mm=eta, etm_mm=etm, eta_over_etm=ratio, ky=float(ky), relative_yield=rel,
                         ym_t_ha=ym_t_ha, ya_t_ha=ya, area_ha=area, total_t=None if ya is None else ya * area,
                         within_range=1.0 - ratio <= DEFICIT_VALID_UP_TO + 1e-12)
