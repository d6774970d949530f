// Times in the farm's time zone (the site's, from the registry), always labelled; units in labels.

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
  return new Intl.DateTimeFormat("en-GB", { timeZone: zone, ...opts });
}

export function dateTime(ms) {
  if (ms === null || ms === undefined) return "—";
  return formatter({ dateStyle: "medium", timeStyle: "short" }).format(new Date(ms));
}

export function time(ms) {
  if (ms === null || ms === undefined) return "—";
  return formatter({ hour: "2-digit", minute: "2-digit", second: "2-digit" }).format(new Date(ms));
}

export function ago(ms, now = Date.now()) {
  if (!ms) return "never";
  const s = Math.round((now - ms) / 1000);
  if (s < 0) return "just now"; // a clock a little ahead of this browser's
  if (s < 90) return `${s} s ago`;
  if (s < 5400) return `${Math.round(s / 60)} min ago`;
  if (s < 172800) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

export function num(v, digits = 1, unit = "") {
  if (v === null || v === undefined || Number.isNaN(v)) return "—";
  return `${Number(v).toFixed(digits)}${unit ? " " + unit : ""}`;
}

export const UNITS = {
  vwc_pct: "%", soil_temp_c: "°C", ec_ds_m: "dS/m", soil_raw: "count", air_temp_c: "°C", rh_pct: "%",
  pressure_kpa: "kPa", rain_mm: "mm", wind_ms: "m/s", wind_dir_deg: "°", leaf_wet_pct: "%", flow_l_min: "L/min",
  volume_l: "L", line_pressure_kpa: "kPa", trap_count: "count", valve_open: "state", solar_w_m2: "W/m²",
};
