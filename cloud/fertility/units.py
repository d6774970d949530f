"""Soil-test results and their units: every value is converted once, at the boundary, to one unit per result.

Stored units (the names carry them): pH (no unit), organic matter and total N in g/kg, every
available nutrient in mg/kg of the element (P as P, K as K), EC in dS/m.

Conversions: % = 10 g/kg = 10,000 mg/kg; ppm = mg/kg; mS/cm = dS/m, uS/cm = 0.001 dS/m,
mS/m = 0.01 dS/m; P2O5 to P x 0.4364 (2 x 30.974 / 141.944) and K2O to K x 0.8301
(2 x 39.098 / 94.196), from the IUPAC standard atomic weights; exchangeable K in cmol(+)/kg (=
meq/100 g) to mg/kg x 390.98 (K is monovalent: 0.01 mol x 39.098 g/mol). A unit a result does not
take is refused naming the result, the unit and the units it takes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from furrow.edge.errors import ContractError

P_PER_P2O5 = 2 * 30.974 / 141.944
K_PER_K2O = 2 * 39.098 / 94.196
K_MG_PER_CMOL = 390.98

_MASS_G_KG = {"g/kg": 1.0, "%": 10.0, "mg/kg": 0.001, "ppm": 0.001}
_MASS_MG_KG = {"mg/kg": 1.0, "ppm": 1.0, "g/kg": 1000.0, "%": 10_000.0}


@dataclass(frozen=True)
class Result:
    """One soil-test result: its stored name (with unit), the units it takes and the plausible range
    of the stored value (a value outside it is a unit or typing error, refused)."""

    name: str
    units: dict[str, float]
    low: float
    high: float
    label: str


def _mg(extra: dict[str, float] | None = None) -> dict[str, float]:
    return {**_MASS_MG_KG, **(extra or {})}


RESULTS: dict[str, Result] = {r.name: r for r in (
    Result("ph", {"": 1.0, "pH": 1.0}, 2.0, 11.5, "pH"),
    Result("organic_matter_g_kg", dict(_MASS_G_KG), 0.0, 800.0, "organic matter"),
    Result("total_n_g_kg", dict(_MASS_G_KG), 0.0, 50.0, "total N"),
    Result("alkali_n_mg_kg", _mg(), 0.0, 2000.0, "alkali-hydrolysable N"),
    Result("mineral_n_mg_kg", _mg(), 0.0, 2000.0, "mineral N (NO3-N + NH4-N)"),
    Result("olsen_p_mg_kg", _mg({"mg/kg P2O5": P_PER_P2O5}), 0.0, 1000.0, "Olsen P"),
    Result("bray_p_mg_kg", _mg({"mg/kg P2O5": P_PER_P2O5}), 0.0, 1000.0, "Bray P"),
    Result("available_k_mg_kg", _mg({"mg/kg K2O": K_PER_K2O, "cmol/kg": K_MG_PER_CMOL, "meq/100g": K_MG_PER_CMOL}),
           0.0, 5000.0, "available K"),
    Result("ec_ds_m", {"dS/m": 1.0, "mS/cm": 1.0, "uS/cm": 0.001, "µS/cm": 0.001, "mS/m": 0.01}, 0.0, 100.0, "EC"),
    Result("zn_mg_kg", _mg(), 0.0, 1000.0, "available Zn"),
    Result("fe_mg_kg", _mg(), 0.0, 2000.0, "available Fe"),
    Result("mn_mg_kg", _mg(), 0.0, 2000.0, "available Mn"),
    Result("cu_mg_kg", _mg(), 0.0, 1000.0, "available Cu"),
    Result("b_mg_kg", _mg(), 0.0, 200.0, "available B"),
    Result("mo_mg_kg", _mg(), 0.0, 50.0, "available Mo"),
    Result("s_mg_kg", _mg(), 0.0, 2000.0, "available S"),
)}


def stored_unit(name: str) -> str:
    """The unit a result is stored in: the tail of its name (g/kg, mg/kg, dS/m), none for pH."""
    return {"ph": "", "ec_ds_m": "dS/m"}.get(name, "g/kg" if name.endswith("_g_kg") else "mg/kg")


def convert(name: str, value: object, unit: str | None, field: str | None = None) -> float:
    """`value` in `unit` as the stored unit of result `name`, or ContractError naming `field` (default
    the result) and what is wrong. A unit None or "" is the stored unit."""
    where = field or name
    r = RESULTS.get(name)
    if r is None:
        raise ContractError(where, name, f"not a soil-test result; known: {', '.join(RESULTS)}")
    if isinstance(value, str):
        text = value.strip()
        if text.count(",") == 1 and "." not in text:  # a decimal comma, as many labs print
            text = text.replace(",", ".")
        try:
            value = float(text)
        except ValueError:
            raise ContractError(where, value, "not a number") from None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ContractError(where, value, "not a finite number")
    key = (unit or "").strip() or stored_unit(name)
    factor = r.units.get(key)
    if factor is None:
        raise ContractError(where, unit, f"{r.label} takes {', '.join(u or 'no unit' for u in r.units)}")
    out = float(value) * factor
    if not r.low <= out <= r.high:
        raise ContractError(where, value, f"{out:g} {stored_unit(name)} is outside {r.low:g}..{r.high:g} for "
                            f"{r.label}: a unit or typing error?")
    return round(out, 4)
