"""What of a harvest lot's trace the farm publishes: the items it may choose, and the public view built from the
lot's trace (lots.py) with only those items in it. Pure: the service passes the trace and the fields' sites in.

Nothing outside the chosen items reaches the view, so the public page (pages.py) cannot show it: the page is
rendered from this view alone, never from the trace.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo


class PublishItem(StrEnum):
    """One thing a lot's public page may show."""

    CROP = "crop"  # the crop and variety sown
    FIELDS = "fields"  # the fields' names (else "field 1", "field 2")
    REGION = "region"  # the farm's site name the fields belong to
    AREA = "area"  # each field's area in hectares
    BOUNDARIES = "boundaries"  # each field's exact outline (GeoJSON): off unless chosen
    SOWING_DATES = "sowing_dates"
    HARVEST_DATES = "harvest_dates"
    QUANTITY = "quantity"  # the lot's and each harvest's kilograms
    SEED_LOTS = "seed_lots"
    INPUTS = "inputs"  # fertilisers and sprays with each pre-harvest interval checked against the harvest
    WATER = "water"  # irrigations, litres and millimetres applied
    VERIFICATION = "verification"  # whether every chain the lot rests on verifies


DEFAULT_ITEMS: tuple[PublishItem, ...] = (
    PublishItem.CROP, PublishItem.FIELDS, PublishItem.REGION, PublishItem.SOWING_DATES, PublishItem.HARVEST_DATES,
    PublishItem.INPUTS, PublishItem.WATER, PublishItem.VERIFICATION)
"""What a lot publishes when neither the lot nor the farm-wide default says otherwise."""


def _day(ms: int, tz: ZoneInfo) -> str:
    return datetime.fromtimestamp(ms / 1000, tz).date().isoformat()


def public_view(lot: Mapping[str, Any], items: Iterable[PublishItem | str], sites: Mapping[str, Mapping[str, Any]],
                boundaries: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The lot as its public page shows it: `lot` is trace_lot's answer, `items` what the farm chose, `sites`
    each field's site ({"name", "timezone"}, by field id), `boundaries` each field's GeoJSON outline."""
    chosen = {PublishItem(i) for i in items}
    out: dict[str, Any] = {"lot": lot["lot"], "items": sorted(chosen)}
    if PublishItem.QUANTITY in chosen:
        out["quantity_kg"] = lot["quantity_kg"]
    if PublishItem.VERIFICATION in chosen:
        out["verified"] = lot["verified"]
    harvests = []
    for n, h in enumerate(lot["harvests"], start=1):
        fid = h["field"]["id"]
        site = sites.get(fid, {})
        tz = ZoneInfo(site.get("timezone") or "UTC")
        named = PublishItem.FIELDS in chosen and h["field"]["name"]
        v: dict[str, Any] = {"label": h["field"]["name"] if named else None, "n": n}
        if PublishItem.REGION in chosen:
            v["region"] = site.get("name")
        if PublishItem.AREA in chosen:
            v["area_ha"] = h["field"]["area_ha"]
        if PublishItem.BOUNDARIES in chosen:
            v["boundary"] = (boundaries or {}).get(fid)
        if PublishItem.CROP in chosen:
            v["crops"] = sorted({" ".join(x for x in (s["crop"], s.get("variety")) if x)
                                 for s in h["seed"] if s.get("crop")})
        if PublishItem.SOWING_DATES in chosen:
            v["sown"] = sorted({_day(s["occurred_ms"], tz) for s in h["seed"]})
        if PublishItem.HARVEST_DATES in chosen:
            v["harvested"] = _day(h["harvested_ms"], tz)
        if PublishItem.QUANTITY in chosen:
            v["quantity_kg"] = h["quantity_kg"]
        if PublishItem.SEED_LOTS in chosen:
            v["seed_lots"] = sorted({s["seed_lot"] for s in h["seed"] if s.get("seed_lot")})
        if PublishItem.INPUTS in chosen:
            v["fertilisers"] = [{"date": _day(f["occurred_ms"], tz), "product": f["product"], "rate": f["rate"],
                                 "rate_unit": f["rate_unit"]} for f in h["fertilisers"]]
            v["sprays"] = [{"date": _day(s["occurred_ms"], tz), "product": s["product"], "rate": s["rate"],
                            "rate_unit": s["rate_unit"], "phi_days": s["phi_days"],
                            "days_before_harvest": s["days_before_harvest"], "phi_met": s.get("phi_met")}
                           for s in h["sprays"]]
        if PublishItem.WATER in chosen:
            mm = list(h["water"]["water_mm_by_zone"].values())
            v["water"] = {"irrigations": h["water"]["irrigations"], "volume_l": h["water"]["volume_l"],
                          "mm_min": min(mm, default=None), "mm_max": max(mm, default=None)}
        if PublishItem.VERIFICATION in chosen:
            v["verified"] = h["verification"]["ok"]
        harvests.append(v)
    out["harvests"] = harvests
    return out
