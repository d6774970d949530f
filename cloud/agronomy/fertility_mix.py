"""The least-cost combination of a farm's products that meets an N-P2O5-K2O need, by linear programming.

Variables: x_i >= 0, kg of product i per ha. Each product carries c_ij kg of nutrient j per kg (its
analysis, 46-0-0 for urea is c = 0.46, 0, 0) and costs p_i per kg. The mix minimises sum p_i x_i
subject to, for each nutrient j with need r_j,

    r_j <= sum_i c_ij x_i <= r_j (1 + tolerance) + excess_kg_ha

so every need is met in full (the cheapest mix would otherwise always sit at the lower end of a
band), and a product carrying a nutrient nobody needs (the N in DAP when only P is short) is
allowed only within the tolerance. Solved by scipy.optimize.linprog (HiGHS). No mix exists when a needed
nutrient is in no product, or when the tolerances cannot all hold at once: the result says which.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linprog

from .fertility import Nutrient

NUTRIENTS = (Nutrient.N, Nutrient.P2O5, Nutrient.K2O)


@dataclass(frozen=True)
class Product:
    """A fertiliser product: its analysis in % of N, P2O5 and K2O (urea 46-0-0), and its price per kg.
    `name` keys the mix (the farm's product id); `label` is what a person reads (the product's name, "Urea
    46-0-0"), the name itself when not given."""

    name: str
    n_pct: float
    p2o5_pct: float
    k2o_pct: float
    price_per_kg: float
    label: str = ""

    def content(self, nutrient: Nutrient) -> float:
        """kg of `nutrient` per kg of product."""
        return {Nutrient.N: self.n_pct, Nutrient.P2O5: self.p2o5_pct, Nutrient.K2O: self.k2o_pct}[nutrient] / 100


@dataclass(frozen=True)
class Mix:
    """A solved mix: kg/ha per product (only those used), the nutrients it supplies and its cost per ha.
    `feasible` False with `reason` when no mix meets the need: `missing` names the needed nutrients no
    product carries; empty, no combination keeps every nutrient within the tolerance."""

    feasible: bool
    amounts_kg_ha: dict[str, float]
    supplied_kg_ha: dict[Nutrient, float]
    cost_per_ha: float
    reason: str = ""
    missing: tuple[str, ...] = ()


def least_cost_mix(need_kg_ha: Mapping[Nutrient, float], products: Sequence[Product], tolerance: float = 0.05,
                   excess_kg_ha: float = 0.0) -> Mix:
    """The cheapest mix of `products` supplying at least `need_kg_ha` and at most `tolerance` more of each
    nutrient, plus `excess_kg_ha` (module docstring)."""
    if not 0 <= tolerance < 1:
        raise ValueError(f"tolerance {tolerance} must be a fraction in [0, 1)")
    need = {n: max(0.0, float(need_kg_ha.get(n, 0.0))) for n in NUTRIENTS}
    if all(v == 0 for v in need.values()):
        return Mix(True, {}, {n: 0.0 for n in NUTRIENTS}, 0.0, "nothing needed")
    missing = [str(n) for n in NUTRIENTS if need[n] > 0 and not any(p.content(n) > 0 for p in products)]
    if missing:
        return Mix(False, {}, {}, 0.0, f"no product carries {', '.join(missing)}", tuple(missing))
    c = np.array([[p.content(n) for p in products] for n in NUTRIENTS])
    lower = np.array([need[n] for n in NUTRIENTS])
    upper = np.array([need[n] * (1 + tolerance) + excess_kg_ha for n in NUTRIENTS])
    # A <= b form: c x <= upper and -c x <= -lower
    res = linprog([p.price_per_kg for p in products], A_ub=np.vstack([c, -c]), b_ub=np.concatenate([upper, -lower]),
                  bounds=[(0, None)] * len(products), method="highs")
    if res.status != 0:
        return Mix(False, {}, {}, 0.0, "no combination of the products meets every nutrient without "
                   f"exceeding one by more than {100 * tolerance:g} % (add a straight product for each nutrient, "
                   "or widen the tolerance)")
    x = res.x
    amounts = {p.name: round(float(v), 2) for p, v in zip(products, x, strict=True) if v > 1e-6}
    supplied = {n: round(float(c[i] @ x), 2) for i, n in enumerate(NUTRIENTS)}
    return Mix(True, amounts, supplied, round(float(res.fun), 2))
