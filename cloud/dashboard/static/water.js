// Water status of a zone from its summary: where root-zone depletion stands against the
// readily available water (RAW = p x TAW, FAO-56 eq. 83) and the total (TAW).

import { t } from "./i18n.js";

export const DEFAULT_P = 0.5; // FAO-56 table 22's typical p when the zone's crop gives none

export function status(summary, p = DEFAULT_P) {
  return { key: statusKey(summary, p), get label() { return t(`water.${this.key}`); } };
}

function statusKey(summary, p) {
  if (!summary || summary.depletion_mm === null || summary.depletion_mm === undefined) return "unknown";
  const taw = summary.total_available_water_mm;
  const raw = p * taw;
  const d = summary.depletion_mm;
  if (d >= taw * 0.9) return "stress";
  if (d >= raw) return "refill";
  if (d >= raw * 0.7) return "watch";
  return "ok";
}

// Volumetric water content at the refill point (FC - p x (FC - WP)).
export function refillPct(fc, wp, p = DEFAULT_P) {
  return fc - p * (fc - wp);
}
