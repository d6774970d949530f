"""A harvest lot traced back: the fields it came from, the operations on them that season, the inputs
(seed lots, fertilisers, sprays with their pre-harvest intervals), the water applied, and whether each chain
it rests on verifies. Read from the records as they stand (corrections applied)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db import FieldRow, NodeRow, TraceRecordRow, ZoneRow
from ..errors import NotFound
from . import records
from .chain import verify_chain
from .service import effective

DAY_MS = 86_400_000


def _spray(r: Mapping[str, Any], harvest_ms: int) -> dict[str, Any]:
    d = r["data"]
    days = (harvest_ms - r["occurred_ms"]) / DAY_MS
    out = {"seq": r["seq"], "occurred_ms": r["occurred_ms"], "product": d.get("product"),
           "active_ingredient": d.get("active_ingredient"), "rate": d.get("rate"), "rate_unit": d.get("rate_unit"),
           "target": d.get("target"), "phi_days": d.get("phi_days"), "days_before_harvest": round(days, 2)}
    if d.get("phi_days") is not None:
        out["phi_met"] = days >= d["phi_days"]
    return out


def _harvest(session: Session, rec: Mapping[str, Any], chain: list[Mapping[str, Any]],
             public_keys: Mapping[str, Ed25519PublicKey] | None) -> dict[str, Any]:
    field = session.get(FieldRow, rec["field"])
    standing = [r for r in effective(chain) if r["occurred_ms"] <= rec["occurred_ms"] and r["kind"] != "harvest"]
    by_kind = {k: [r for r in standing if r["kind"] == k] for k in
               ("sowing", "fertilisation", "spraying", "irrigation", "tillage")}
    mm_by_zone: dict[str, float] = {}
    volume = 0.0
    for r in by_kind["irrigation"]:
        d = r["data"]
        if d.get("water_mm") is not None:
            key = r["zone"] or "(whole field)"
            mm_by_zone[key] = round(mm_by_zone.get(key, 0.0) + d["water_mm"], 3)
        volume += d.get("volume_l") or 0.0
    report = verify_chain(rec["field"], rec["season"], chain,
                          [records.as_checkpoint(c) for c in records.checkpoints(session, rec["field"],
                                                                                 rec["season"])], public_keys)
    return {
        "field": {"id": rec["field"], "name": field.name if field else None,
                  "area_ha": (field.boundary_area_ha or field.area_ha) if field else None,
                  "site": field.site_id if field else None},
        "season": rec["season"], "record": {"seq": rec["seq"], "hash": rec["hash"]},
        "harvested_ms": rec["occurred_ms"], "quantity_kg": rec["data"].get("quantity_kg"),
        "moisture_pct": rec["data"].get("moisture_pct"),
        "seed": [{"seq": r["seq"], "occurred_ms": r["occurred_ms"], **{k: r["data"].get(k) for k in
                  ("crop", "variety", "seed_lot", "rate", "rate_unit", "product")}} for r in by_kind["sowing"]],
        "fertilisers": [{"seq": r["seq"], "occurred_ms": r["occurred_ms"], "zone": r["zone"],
                         **{k: r["data"].get(k) for k in ("product", "rate", "rate_unit", "method", "nutrients_kg_ha")}}
                        for r in by_kind["fertilisation"]],
        "sprays": [_spray(r, rec["occurred_ms"]) for r in by_kind["spraying"]],
        "water": {"irrigations": len(by_kind["irrigation"]), "volume_l": round(volume, 1),
                  "water_mm_by_zone": mm_by_zone},
        "operations": [{"seq": r["seq"], "kind": r["kind"], "occurred_ms": r["occurred_ms"], "zone": r["zone"],
                        "source": r["source"], "data": r["data"]} for r in standing],
        "verification": report.as_dict(),
        # for the season's sensor summary (service.py fills "sensors" and drops this)
        "_sensors": {"nodes": list(session.scalars(select(NodeRow.id).join(ZoneRow, NodeRow.zone_id == ZoneRow.id)
                                                   .where(ZoneRow.field_id == rec["field"]).order_by(NodeRow.id))),
                     "from_ms": min((r["occurred_ms"] for r in standing), default=rec["occurred_ms"] - 365 * DAY_MS),
                     "to_ms": rec["occurred_ms"] + 1},
    }


def trace_lot(session: Session, lot_id: str, public_keys: Mapping[str, Ed25519PublicKey] | None) -> dict[str, Any]:
    """The lot's trace as JSON-ready data (NotFound when no standing harvest record names it)."""
    keys = sorted(set(session.execute(select(TraceRecordRow.field_id, TraceRecordRow.season)
                                      .where(TraceRecordRow.lot_id == lot_id)).all()))
    harvests = []
    for field_id, season in keys:
        chain = [records.as_record(r) for r in records.chain(session, field_id, season)]
        for rec in effective(chain):
            if rec["kind"] == "harvest" and rec["data"].get("lot_id") == lot_id:
                harvests.append(_harvest(session, rec, chain, public_keys))
    if not harvests:
        raise NotFound("lot", lot_id, "no harvest record names this lot (or it was withdrawn)")
    return {"lot": lot_id, "quantity_kg": round(sum(h["quantity_kg"] or 0 for h in harvests), 3),
            "fields": sorted({h["field"]["id"] for h in harvests}), "harvests": harvests,
            "verified": all(h["verification"]["ok"] for h in harvests)}
