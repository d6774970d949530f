// Numbers, dates and units in the reader's language (Intl), times in the farm's time zone (the
// site's, from the registry), always labelled.

import { intlLocale, number, t, useInstantFormat } from "./i18n.js";

let zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";

export function setTimeZone(tz) {
  try {
    new Intl.DateTimeFormat("en-GB", { timeZone: tz });
    zone = tz;
  } catch {
    // an unknown zone name: keep the browser's
  }
}

export function timeZone() {
  return zone;
}

function formatter(opts) {
  return new Intl.DateTimeFormat(intlLocale(), { timeZone: zone, ...opts });
}

export function dateTime(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return "—";
  return formatter({ dateStyle: "medium", timeStyle: "short" }).format(new Date(ms));
}

useInstantFormat(dateTime);

export function time(ms) {
  if (ms === null || ms === undefined) return "—";
  return formatter({ hour: "2-digit", minute: "2-digit", second: "2-digit" }).format(new Date(ms));
}

// A day or a time of day for chart axes: `withDay` false gives hours and minutes only.
export function axisDate(ms, withDay) {
  return formatter(withDay ? { month: "short", day: "numeric" } : { hour: "2-digit", minute: "2-digit" })
    .format(new Date(ms));
}

export function ago(ms, now = Date.now()) {
  if (!ms) return t("time.never");
  const s = Math.round((now - ms) / 1000);
  if (s < 5) return t("time.just-now"); // or a clock a little ahead of this browser's
  const rtf = new Intl.RelativeTimeFormat(intlLocale(), { style: "short" });
  if (s < 90) return rtf.format(-s, "second");
  if (s < 5400) return rtf.format(-Math.round(s / 60), "minute");
  if (s < 172800) return rtf.format(-Math.round(s / 3600), "hour");
  return rtf.format(-Math.round(s / 86400), "day");
}

// A number with `digits` decimals in the reader's notation, and its unit.
export function num(v, digits = 1, unit = "") {
  if (v === null || v === undefined || Number.isNaN(v)) return "—";
  const n = number(Number(v), digits);
  return unit ? t("unit.value", { value: n, unit }) : n;
}

// A measurement's unit: an SI symbol as it is, a word from the catalogue.
export function unitOf(measurement) {
  const u = UNITS[measurement];
  return WORDS.includes(u) ? t(`unit.${u}`) : u || "";
}

const WORDS = ["count", "state", "day"];
const UNITS = { // edge/measurements.py
  vwc_pct: "%", soil_temp_c: "°C", ec_ds_m: "dS/m", soil_raw: "count", air_temp_c: "°C", rh_pct: "%",
  pressure_kpa: "kPa", rain_mm: "mm", wind_ms: "m/s", wind_dir_deg: "°", rs_w_m2: "W/m²", leaf_wet_pct: "%",
  valve_open: "state", flow_l_min: "L/min", volume_l: "L", line_pressure_kpa: "kPa", leak_l_min: "L/min",
  trap_count: "count", lure_age_d: "day", trap_total: "count",
};
