"""Soil-test-based fertilisation (测土配方施肥): the recommendation methods as pure functions.

Two methods, with the names Chinese extension texts give them:

* the target-yield nutrient-balance method (目标产量法, 养分平衡法), in its soil-test correction
  form (土壤有效养分校正系数法) and its base-yield form (地力差减法):

      fertiliser nutrient = (target yield x uptake per unit yield - soil supply) / fertiliser use efficiency
      soil supply         = soil test (mg/kg) x plough-layer factor x correction coefficient   (soil-test form)
      soil supply         = yield without fertiliser x uptake per unit yield                   (base-yield form)
      correction coeff.   = yield without fertiliser x uptake per unit yield / (soil test x plough-layer factor)

  The plough-layer factor turns mg/kg into kg of nutrient per area: the 0-20 cm layer is taken to
  weigh 150,000 kg per mu (667 m2), so 1 mg/kg is 0.15 kg/mu, or 2.25 kg/ha (15 mu to the hectare).
  Source of the equations, the 0.15 and the correction coefficient: "测土配方施肥: 土壤养分校正系数法",
  zhiwuziliao.com/feiliao/a6e25741f4caccb3ac8c69c2c955aca5.html and m.gengzhongbang.com/article-473766-1.html
  (extension texts reproducing the method of the national soil-testing programme, NY/T 1118-2006;
  the standard's own text could not be consulted here). Its worked example (peanut) is reproduced in
  tests/test_agro_fertility.py. A third form states the soil's nutrient per area and a utilisation
  (soil supply = nutrient stock x utilisation, `soil_supply_from_stock`); its maize example,
  suboun.com/baike/zhidao/2303, is reproduced there too (with the page's one misprint named).
  India's soil-test crop-response "targeted yield" equations (STCR, Ramamoorthy's inductive-cum-targeted
  yield approach), FN = NR/CF x T - CS/CF x SN, are this balance with the soil test already in kg/ha
  (plough-layer factor 1), the soil efficiency CS as the correction coefficient and the fertiliser
  contribution CF as the use efficiency; a groundnut thesis's equations (krishikosh.egranth.ac.in/handle/
  1/5810154885) are reproduced from its printed basic data in tests/test_agro_fertility.py.

* the soil-test abundance-deficiency index method (土壤养分丰缺指标法) for P and K: the relative
  yield of a plot without the nutrient (its yield over the fully fertilised plot's, in %) grades
  the soil; a regression of relative yield on the soil test, RY = a + b ln(x), gives the test value
  at each grade's boundary; a farm's index table then maps a soil test to a grade and a rate.
  Grades (relative yield below 50 % very low, 50-70 % low, 70-90 % medium, above 90 % high; the
  "national recommended" grading): guayunfan.com/baike/862270.html (耕地土壤养分评价指标(丰缺指标)).
  Other texts grade at 50/75/95 %, or in five grades (with 较高, fairly high): the boundaries and
  grades are parameters. Worked example (a five-grade table, fluvo-aquic wheat soils, ASI-extracted P:
  relative yield 50/65/75/95 % -> 7, 12, 18, 38 mg/L; P2O5 135, 105, 90, 60 kg/ha and none or little
  above 38): "潮土区麦田土壤有效磷施肥指标及小麦施磷推荐——基于ASI法的土壤养分丰缺指标", 中国土壤与肥料
  (Soil and Fertilizer Sciences in China) 2013(2):72-74, abstract as printed at
  wp.zxtsg.top/Qikan/Article/Detail?id=45845754; reproduced in tests/test_agro_fertility.py.
  Rates per grade from the grades' relative yields, nutrient = (1 - RY) x target yield x removal /
  efficiency, with grades of equal 10-point relative-yield spans below 95 %: Sun Hongren et al., the
  method as printed in 黑龙江畜牧兽医 (abstract at soolun.com/periodical/3bf5ab49ae3f1ae5ed9dd5d5aa0dc742.html);
  their worked K example for wheat, "中国小麦土壤速效钾丰缺指标与适宜施钾量研究", 土壤 (abstract at
  xueshu.com/tur/201905/41627607.html), is reproduced in tests/test_agro_fertility.py.

Everything here is per unit area in whatever unit the caller uses for yield (kg/ha, kg/mu): the
uptake is per kg of yield, so the nutrient comes out per that area.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

MU_PER_HA = 15.0
"""1 ha = 15 mu (1 mu = 666.7 m2)."""
PLOUGH_LAYER_FACTOR_MU = 0.15
"""mg/kg to kg/mu: 150,000 kg of soil in the 0-20 cm layer of a mu (sources in the module docstring)."""
PLOUGH_LAYER_FACTOR_HA = PLOUGH_LAYER_FACTOR_MU * MU_PER_HA
"""mg/kg to kg/ha: 2,250,000 kg of soil in the 0-20 cm layer of a hectare."""


class Nutrient(StrEnum):
    """The three nutrients a recommendation is made for, in the oxide forms fertilisers are labelled in."""

    N = "N"
    P2O5 = "P2O5"
    K2O = "K2O"


def crop_uptake(target_yield: float, uptake_per_unit: float) -> float:
    """Nutrient the crop takes up for `target_yield`: target yield x uptake per unit yield."""
    if target_yield < 0 or uptake_per_unit < 0:
        raise ValueError(f"target yield {target_yield} and uptake {uptake_per_unit} must not be negative")
    return target_yield * uptake_per_unit


def soil_supply_from_test(test_mg_kg: float, correction: float, factor: float = PLOUGH_LAYER_FACTOR_HA) -> float:
    """Soil supply, soil-test form: test value (mg/kg) x plough-layer factor x correction coefficient."""
    if test_mg_kg < 0 or correction < 0:
        raise ValueError(f"soil test {test_mg_kg} and correction {correction} must not be negative")
    return test_mg_kg * factor * correction


def soil_supply_from_base_yield(base_yield: float, uptake_per_unit: float) -> float:
    """Soil supply, base-yield form (地力差减法): the nutrient in the crop of a plot without fertiliser."""
    return crop_uptake(base_yield, uptake_per_unit)


def soil_supply_from_stock(soil_nutrient: float, utilisation: float) -> float:
    """Soil supply, nutrient-stock form: the soil's available nutrient already expressed per area (kg/mu or
    kg/ha, e.g. from a soil survey) x the share of it the crop uses in a season (土壤养分利用率).
    The balance's soil term as a maize example prints it (土壤含氮量每亩17千克 x 利用率50% = 8.5 kg/mu):
    suboun.com/baike/zhidao/2303, reproduced in tests/test_agro_fertility.py. It is the soil-test form with
    the plough-layer factor already applied and the utilisation in place of the correction coefficient."""
    if soil_nutrient < 0:
        raise ValueError(f"soil nutrient {soil_nutrient} must not be negative")
    if not 0 <= utilisation <= 1:
        raise ValueError(f"soil nutrient utilisation {utilisation} must be a fraction in [0, 1]")
    return soil_nutrient * utilisation


def correction_coefficient(base_yield: float, uptake_per_unit: float, test_mg_kg: float,
                           factor: float = PLOUGH_LAYER_FACTOR_HA) -> float:
    """The soil-test correction coefficient (校正系数) from a plot without fertiliser:
    base yield x uptake per unit / (soil test x plough-layer factor)."""
    if test_mg_kg <= 0:
        raise ValueError(f"soil test {test_mg_kg} must be positive to calibrate against")
    return base_yield * uptake_per_unit / (test_mg_kg * factor)


def fertiliser_nutrient(target_yield: float, uptake_per_unit: float, soil_supply: float, efficiency: float) -> float:
    """The target-yield nutrient balance: (target yield x uptake per unit - soil supply) / use efficiency.
    Negative when the soil supplies more than the crop takes up (the caller applies none)."""
    if not 0 < efficiency <= 1:
        raise ValueError(f"fertiliser use efficiency {efficiency} must be a fraction in (0, 1]")
    return (crop_uptake(target_yield, uptake_per_unit) - soil_supply) / efficiency


def product_amount(nutrient: float, content: float) -> float:
    """Product mass that carries `nutrient`: nutrient / the product's content (a fraction, 0.46 for urea N)."""
    if not 0 < content <= 1:
        raise ValueError(f"nutrient content {content} must be a fraction in (0, 1]")
    return nutrient / content


# --- the abundance-deficiency index method -------------------------------------------------


class Grade(StrEnum):
    """A soil test's abundance grade (丰缺等级)."""

    VERY_LOW = "very_low"  # 极低
    LOW = "low"  # 低 / 缺乏
    MEDIUM = "medium"  # 中
    FAIRLY_HIGH = "fairly_high"  # 较高 (five-grade schemes)
    HIGH = "high"  # 高 / 丰富


RELATIVE_YIELD_BOUNDS_PCT = (50.0, 70.0, 90.0)
"""Relative-yield boundaries very low | low | medium | high (source in the module docstring)."""
FOUR_GRADES = (Grade.VERY_LOW, Grade.LOW, Grade.MEDIUM, Grade.HIGH)
FIVE_GRADES = (Grade.VERY_LOW, Grade.LOW, Grade.MEDIUM, Grade.FAIRLY_HIGH, Grade.HIGH)


def relative_yield_pct(yield_without: float, yield_full: float) -> float:
    """Relative yield (相对产量): the yield without the nutrient over the fully fertilised yield, in %."""
    if yield_full <= 0 or yield_without < 0:
        raise ValueError(f"yields {yield_without}, {yield_full}: the full yield must be positive")
    return 100.0 * yield_without / yield_full


def grade_of_relative_yield(ry_pct: float, bounds: Sequence[float] = RELATIVE_YIELD_BOUNDS_PCT,
                            grades: Sequence[Grade] = FOUR_GRADES) -> Grade:
    """The grade of a relative yield: below bounds[0] grades[0], ..., at or above bounds[-1] grades[-1].
    Four grades by default; a five-grade scheme (with 较高) passes four bounds and FIVE_GRADES."""
    if len(grades) != len(bounds) + 1 or list(bounds) != sorted(bounds):
        raise ValueError(f"bounds {list(bounds)} must be {len(grades) - 1} rising relative yields, one between "
                         f"each of the grades {[str(g) for g in grades]}")
    for bound, grade in zip(bounds, grades, strict=False):
        if ry_pct < bound:
            return grade
    return grades[-1]


def soil_test_at(ry_pct: float, a: float, b: float) -> float:
    """The soil test at which the regression RY = a + b ln(x) reaches `ry_pct`: x = exp((RY - a) / b)."""
    if b <= 0:
        raise ValueError(f"slope b {b} must be positive: relative yield rises with the soil test")
    return math.exp((ry_pct - a) / b)


def index_boundaries(a: float, b: float, bounds: Sequence[float] = RELATIVE_YIELD_BOUNDS_PCT) -> tuple[float, ...]:
    """The soil-test values at each grade boundary from the regression RY = a + b ln(x)."""
    return tuple(soil_test_at(ry, a, b) for ry in bounds)


@dataclass(frozen=True)
class IndexBand:
    """One row of a farm's index table: soil tests below `below` (mg/kg; None: no upper end) are
    `grade`, and get `rate` kg of the nutrient (P2O5 or K2O) per ha."""

    below: float | None
    grade: Grade
    rate_kg_ha: float


def index_rate(test_mg_kg: float, table: Sequence[IndexBand]) -> IndexBand:
    """The band of the index table a soil test falls in (the first whose `below` it is under).
    The table must rise and end with an open band (below None)."""
    if not table or table[-1].below is not None:
        raise ValueError("an index table must end with a band without an upper end (below None)")
    edges = [b.below for b in table[:-1]]
    if edges != sorted(edges):  # type: ignore[type-var]
        raise ValueError(f"index table bands must rise: {edges}")
    for band in table:
        if band.below is None or test_mg_kg < band.below:
            return band
    raise AssertionError("unreachable: the last band is open")


def rate_for_relative_yield(ry_pct: float, target_yield: float, removal_per_unit: float, efficiency: float) -> float:
    """The rate for a grade from its relative yield (养分平衡-地力差减法 applied to 丰缺指标, Sun Hongren et al.):
    nutrient = (1 - relative yield without it) x target yield x removal per unit yield / use efficiency.
    It fills an index table's rates from the grades' relative yields; sources in the module docstring."""
    if not 0 <= ry_pct <= 100:
        raise ValueError(f"relative yield {ry_pct} % must be within 0..100")
    if efficiency <= 0 or efficiency > 1:
        raise ValueError(f"use efficiency {efficiency} must be a fraction in (0, 1]")
    if target_yield < 0 or removal_per_unit < 0:
        raise ValueError(f"target yield {target_yield} and removal {removal_per_unit} must not be negative")
    return (1.0 - ry_pct / 100.0) * target_yield * removal_per_unit / efficiency
