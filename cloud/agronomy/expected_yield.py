"""Expected yield from the season's water use: FAO Irrigation and Drainage Paper 33 (Doorenbos and Kassam
1979), eq. 1:

    1 - Ya/Ym = Ky (1 - ETa/ETm)

Ya is the yield the crop is heading for, Ym the yield it would give with no water deficit (the farm's
potential yield under its management), ETa the crop's actual evapotranspiration, ETm (FAO-56's ETc under
standard conditions) the evapotranspiration with no water stress, and Ky the crop's yield response factor
over the whole growing period. The zone's balance (planning/balance.py) gives both ET sums: ETm = sum of
Kc ET0 (FAO-56 eq. 58), ETa = sum of Ks Kc ET0 (eq. 80), with the depletion behind Ks corrected by the
probes every day.

Sources of the built-in values, and what could not be confirmed (December 2026, with the project's search
tool, which reaches neither FAO-33 nor FAO-66's tables directly):

* KY: FAO-33 Table 24, total growing period: maize 1.25, bean 1.15, sorghum 0.9, cotton 0.85, as restated
  together in secondary teaching material that cites FAO-33 (found with the search tool); the FAO text
  itself was not reached. Every other crop: not confirmed, the farm enters its Ky (PUT the potential).
* Ym: no built-in value. Ym is the farm's own high-producing yield (FAO-33 defines it for a high-producing
  variety, well adapted, with water, nutrients and pests not limiting); the generic ranges FAO-33 prints
  could not be confirmed, and a field's Ym is the farm's record anyway. Without one the answer is the
  relative yield Ya/Ym alone, and names the value to enter.

Eq. 1 holds for water deficits up to about 50 % (1 - ETa/ETm <= 0.5, FAO-33 ch. 2); beyond it the answer
says the estimate is outside the range the equation was fitted over. Ya is never below 0.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...edge.errors import ContractError

FAO33 = "FAO Irrigation and Drainage Paper 33 (Doorenbos & Kassam 1979)"
KY_SOURCE = (f"{FAO33}, Table 24, Ky over the total growing period (as restated with maize, bean, sorghum and "
             "cotton together in secondary material citing it; the FAO text itself not reached)")
DEFICIT_VALID_UP_TO = 0.5  # FAO-33: eq. 1 is linear for deficits up to about 50 %


@dataclass(frozen=True)
class Sourced:
    """A value and where it comes from; value None: not confirmed, to be entered by the farm."""

    value: float | None
    source: str


KY: dict[str, float] = {"maize": 1.25, "bean": 1.15, "sorghum": 0.9, "cotton": 0.85}
ALIASES = {"corn": "maize", "玉米": "maize", "beans": "bean", "菜豆": "bean", "高粱": "sorghum", "棉花": "cotton"}


def crop_key(crop: str) -> str:
    c = crop.strip().lower()
    return ALIASES.get(c, c)


def builtin_ky(crop: str) -> Sourced:
    """The crop's built-in Ky, or None with what to enter."""
    key = crop_key(crop)
    if key in KY:
        return Sourced(KY[key], KY_SOURCE)
    return Sourced(None, f"not confirmed for {crop!r}: enter the crop's seasonal Ky ({FAO33}, Table 24)")


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
