"""The demo farm's soil fertility, entered as its agronomist does before sowing (docs/fertility.md): the farm's
three fertilisers, each block's soil test at four points (so the zone page's soil map has points to draw), the
season's recommendation for the maize's target yield from its omission plots' yields and the built-in, cited
coefficients,
and the basal dressing it calls for spread on the block's sowing day (a `fertilisation` production record too).

Without them a new user's zone page said "no soil test", "no recommendation", "no application": the fertility
part of the product was there and the demo never showed it at work.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from furrow.cloud.fertility.models import ApplicationIn, ProductIn, RecommendIn, SampleIn
from furrow.hil import demo_farm

AGRONOMIST = "person:agronomist"
LAB = "county soil lab"
SAMPLED_DAYS_BEFORE = 14  # the soil sampled a fortnight before sowing, the results back before it
TARGET_KG_HA = 12_000.0
"""The maize's target yield: the demo's Ym under full irrigation (hil/demo_machines.py YM_SOURCE, 12 t/ha)."""

# The fertilisers' analyses are their grades (N-P2O5-K2O, %): urea 46-0-0, diammonium phosphate 18-46-0,
# muriate of potash 0-0-60, as sold. The prices are the demo farm's own entries (what it paid, per kg), not
# market data: a farm enters its own, and the recommendation only ranks mixes by them.
PRODUCTS = (
    ProductIn(id="urea", name="Urea 46-0-0", n_pct=46, p2o5_pct=0, k2o_pct=0, price_per_kg=2.4),
    ProductIn(id="dap", name="DAP 18-46-0", n_pct=18, p2o5_pct=46, k2o_pct=0, price_per_kg=3.8),
    ProductIn(id="kcl", name="KCl 0-0-60", n_pct=0, p2o5_pct=0, k2o_pct=60, price_per_kg=3.2),
)

# The lab's results per block (0-20 cm), one row per sample point: alkali-hydrolysable N, Olsen P and
# ammonium-acetate K in mg/kg, pH, organic matter g/kg. The demo's own soil, chosen to be ordinary for an
# irrigated loam (north) and a poorer sandy loam (south) so the two blocks' recommendations differ.
SOIL = {
    "north": ((92, 17.0, 135, 7.8, 14.0), (88, 15.5, 128, 7.9, 13.2), (95, 18.2, 141, 7.7, 14.6),
              (90, 16.1, 132, 7.8, 13.8)),
    "south": ((64, 9.5, 96, 8.0, 9.1), (60, 8.8, 90, 8.1, 8.6), (67, 10.4, 101, 8.0, 9.4),
              (62, 9.1, 94, 8.1, 8.9)),
}
BASE_YIELD_KG_HA = {"north": {"N": 9500, "P2O5": 11_000, "K2O": 11_500},
                    "south": {"N": 9000, "P2O5": 10_500, "K2O": 11_000}}
"""The maize yield of each block's omission plots last season (a plot without N, one without P, one without K):
the base-yield form of the balance (地力差减法, docs/fertility.md), as a farm without its own soil-test correction
coefficients recommends. The demo farm's own figures, like its soil tests; not agronomy to reuse elsewhere."""
POINTS = ((0.25, 0.125), (0.75, 0.375), (0.25, 0.625), (0.75, 0.875))
"""Where in the block each sample was taken: shares of its width and length, a zig-zag walk down the block (on a
grid, two points shared each row of the narrow block and the soil map drew their labels over each other)."""


def samples(blocks: dict[str, Any], start: date) -> list[tuple[str, SampleIn]]:
    """Each block's soil test: (zone id, sample) at its points, located inside the block's outline."""
    sampled = start - timedelta(days=SAMPLED_DAYS_BEFORE)
    out = []
    for z in demo_farm.ZONES:
        block = blocks[z.id]
        width = block.passes * block.width_m
        for i, ((fx, fy), (n, p, k, ph, om)) in enumerate(zip(POINTS, SOIL[z.id], strict=True), start=1):
            lon, lat = block.lonlat(fx * width, fy * block.length_m)
            out.append((z.id, SampleIn(
                season=str(start.year), sampled_on=sampled, point=f"P{i}", lat=round(lat, 6), lon=round(lon, 6),
                lab=LAB, lab_sample_id=f"{z.id}-{start.year}-{i}",
                results={"alkali_n_mg_kg": {"value": n}, "olsen_p_mg_kg": {"value": p},
                         "available_k_mg_kg": {"value": k}, "ph": {"value": ph},
                         "organic_matter_g_kg": {"value": om}})))
    return out


async def plan(services: Any, blocks: dict[str, Any], start: date) -> dict[str, dict[str, Any]]:
    """Before the season: the products, the soil tests and each block's recommendation (zone id -> it)."""
    fertility = services.fertility
    season = str(start.year)
    for product in PRODUCTS:
        await fertility.put_product(demo_farm.SITE, product)
    for zone_id, sample in samples(blocks, start):
        await fertility.add_sample(zone_id, sample, AGRONOMIST)
    return {z.id: await fertility.recommend(z.id, RecommendIn(season=season, target_yield_kg_ha=TARGET_KG_HA,
                                                              base_yield_kg_ha=BASE_YIELD_KG_HA[z.id]), AGRONOMIST)
            for z in demo_farm.ZONES}


async def spread(services: Any, recommendations: dict[str, dict[str, Any]], start: date) -> dict[str, Any]:
    """Once the blocks are sown: the basal dressing each recommendation called for, recorded as spread on the
    block's sowing day (entered afterwards, as the machines' work is). What was recorded, for the demo's log."""
    fertility = services.fertility
    done: dict[str, Any] = {}
    for z in demo_farm.ZONES:
        rec = recommendations[z.id]
        sown = start + timedelta(days=z.sown_day)
        spread = []
        for app in rec["applications"]:
            if app["kind"] != "basal" or not app["feasible"]:
                continue
            for product_id, kg_ha in app["products_kg_ha"].items():
                if kg_ha > 0:
                    await fertility.record_application(z.id, ApplicationIn(
                        season=rec["season"], product_id=product_id, rate_kg_ha=round(kg_ha, 1), applied_on=sown,
                        method="broadcast", note="basal dressing, as recommended"), AGRONOMIST)
                    spread.append((product_id, round(kg_ha, 1)))
        done[z.id] = {"recommendation": rec["id"], "basal": spread}
    return done
