"""Pure translations of the agronomy's records into what the fertility routes store and show."""

from __future__ import annotations

from ..agronomy.fertility_crops import CropFertility, Sourced
from ..agronomy.fertility_plan import Recommendation


def _sourced(v: Sourced) -> dict[str, object]:
    return {"value": v.value, "source": v.source}


def coefficients_view(c: CropFertility) -> dict[str, object]:
    """A crop's coefficients, each with its source (None values: not confirmed, for the farm to enter)."""
    return {
        "crop": c.crop,
        "uptake_per_kg": {str(n): _sourced(v) for n, v in c.uptake.items()},
        "efficiency": {str(n): _sourced(v) for n, v in c.efficiency.items()},
        "correction": {str(n): _sourced(v) for n, v in c.correction.items()},
        "topdress_share": {str(n): _sourced(v) for n, v in c.topdress_share.items()},
        "n_fixed_share": _sourced(c.n_fixed_share),
        "topdress_at": _sourced(c.topdress_at),
        "index_tables": {str(n): [[b.below, str(b.grade), b.rate_kg_ha] for b in rows]
                         for n, rows in c.index_tables.items()},
        "index_source": c.index_source,
    }


def recommendation_out(r: Recommendation) -> dict[str, object]:
    """The columns of a stored recommendation (db.RecommendationRow) from the pure record."""
    return {
        "needs": [{"nutrient": str(n.nutrient), "rate_kg_ha": n.rate_kg_ha, "method": n.method,
                   "equation": n.equation, "inputs": n.inputs, "sources": n.sources, "message": n.message.record(),
                   "text": n.message.text} for n in r.needs],
        "applications": [{"kind": a.kind, "need_kg_ha": {str(k): v for k, v in a.need_kg_ha.items()},
                          "feasible": a.mix.feasible, "products_kg_ha": a.mix.amounts_kg_ha,
                          "supplied_kg_ha": {str(k): v for k, v in a.mix.supplied_kg_ha.items()},
                          "cost_per_ha": a.mix.cost_per_ha, "reason": a.mix.reason,
                          "message": a.message.record(), "text": a.message.text,
                          **({"due": r.topdress_due, "held": str(r.topdress_held) if r.topdress_held else None}
                             if a.kind == "topdress" else {})} for a in r.applications],
        "messages": [m.record() for m in r.messages],
        "explanation": r.explanation[:4000],
    }
