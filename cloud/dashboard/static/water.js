// Water status of a zone from its summary: where root-zone depletion stands against the
// readily available water (RAW = p x TAW, FAO-56 eq. 83) and the total (TAW).

export const DEFAULT_P = 0.5; // FAO-56 table 22's typical p when the zone's crop gives none

export function status(summary, p = DEFAULT_P) {
  if (!summary || summary.depletion_mm === null || summary.depletion_mm === undefined) {
    return { key: "unknown", label: "no probe data" };
  }
  const taw = summary.total_available_water_mm;
  const raw = p * taw;
  const d = summary.depletion_mm;
  if (d >= taw * 0.9) return { key: "stress", label: "near wilting point" };
  if (d >= raw) return { key: "refill", label: "below refill point: irrigate" };
  if (d >= raw * 0.7) return { key: "watch", label: "approaching refill point" };
  return { key: "ok", label: "comfortable" };
}

// Volumetric water content at the refill point (FC - p x (FC - WP)).
export function refillPct(fc, wp, p = DEFAULT_P) {
  return fc - p * (fc - wp);
}
