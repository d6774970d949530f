// The zone page's crop vigour: measured canopy cover against the crop's expected cover, NDVI from
// rasters (zone means) and from the zone's reflectance sensor, and whether the zone lags its neighbours
// (GET /zones/{zone}/vigour; the rule and the curve are cloud/vigour/season.py's).

import { api } from "../api.js";
import { chartBox, lineChart } from "../charts.js";
import { h, notice } from "../dom.js";
import { number, t } from "../i18n.js";

const DAY = 86400;

function dayOf(ms) {
  return Math.floor(ms / 1000 / DAY) * DAY + DAY / 2; // the UTC day's noon, as the balance charts draw days
}

function noon(date) {
  const [y, m, d] = date.split("-").map(Number);
  return Date.UTC(y, m - 1, d, 12) / 1000;
}

// One value per day on the shared axis: the series' points placed on their days, null elsewhere.
function onDays(xs, points) {
  const at = new Map(points.map(([x, v]) => [x, v]));
  return xs.map((x) => (at.has(x) ? at.get(x) : null));
}

function lagNote(lag) {
  const params = { cover: number(lag.measured_pct, 0), expected: number(lag.expected_pct, 0), date: lag.date,
    ratio: number(lag.ratio, 2), median: number(lag.neighbours_median, 2) };
  if (lag.lagging) return notice(t("zone.vigour.lagging", params), "warn");
  if (lag.ratio !== null && lag.neighbours_median !== null) return notice(t("zone.vigour.keeping-up", params));
  return h("p", { class: "muted small" }, t("zone.vigour.no-comparison"));
}

// The section, filled once its data is in; `days` the zone page's range.
export function vigourSection(zoneId, days) {
  const section = h("section", { class: "card", "data-testid": "vigour" }, h("h3", {}, t("zone.vigour")));
  const end = Date.now();
  api(`/zones/${encodeURIComponent(zoneId)}/vigour?start=${end - Math.max(days, 30) * DAY * 1000}&end=${end + 1}`)
    .then((v) => fill(section, v)).catch((e) => section.append(notice(e.message, "warn")));
  return section;
}

function fill(section, v) {
  const cover = v.cover.map((c) => [dayOf(c.ts_ms), c.cover_pct]);
  const raster = v.ndvi_rasters.map((r) => [dayOf(r.ts_ms), r.mean]);
  const sensor = v.ndvi_sensor.map((s) => [dayOf(s.ts_ms), s.ndvi]);
  const expected = v.expected.map((e) => [noon(e.date), e.cover_pct]);
  section.dataset.lagging = v.lagging.lagging ? "1" : "0";
  section.append(lagNote(v.lagging));
  if (!cover.length && !raster.length && !sensor.length) {
    section.append(h("p", { class: "muted" }, t("zone.vigour.no-data")));
  }
  const xs = [...new Set([...expected, ...cover, ...raster, ...sensor].map(([x]) => x))].sort((a, b) => a - b);
  if (!xs.length) return finish(section);
  const coverBox = chartBox(t("zone.vigour.cover-chart"), expected.length ? t("zone.vigour.expected-source")
    : t("zone.vigour.no-curve"));
  coverBox.dataset.testid = "cover-chart";
  const ndviBox = chartBox(t("zone.vigour.ndvi-chart"));
  ndviBox.dataset.testid = "ndvi-chart";
  section.append(h("div", { class: "grid two" }, coverBox, ndviBox));
  lineChart(coverBox, { xs, yLabel: t("unit.pct"), height: 220, series: [
    { label: t("zone.series.expected-cover"), values: onDays(xs, expected), colour: "#8d99ae", dash: [6, 4] },
    { label: t("zone.series.cover"), values: onDays(xs, cover), colour: "#2a9d8f", width: 2 }] });
  lineChart(ndviBox, { xs, yLabel: t("unit.ndvi"), height: 220, series: [
    { label: t("zone.series.ndvi-raster"), values: onDays(xs, raster), colour: "#588157", width: 2 },
    { label: t("zone.series.ndvi-sensor"), values: onDays(xs, sensor), colour: "#bc6c25" }] });
  finish(section, { cover: cover.length, raster: raster.length, sensor: sensor.length, expected: expected.length });
}

function finish(section, counts = {}) {
  Object.assign(section.dataset, Object.fromEntries(Object.entries(counts).map(([k, n]) => [k, String(n)])));
  section.dataset.ready = "1";
}
