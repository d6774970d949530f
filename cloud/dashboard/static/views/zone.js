// Zone page: soil water by depth against field capacity, the refill point and the wilting
// point; depletion against RAW; daily ET0, rain and irrigation; the next irrigation and why;
// degree days, crop stage, pests and disease risk; soil tests, the fertiliser recommendation and the
// applications; the photos from its cameras; the decision log.

import { api, optional } from "../api.js";
import { chartBox, dailyChart, lineChart } from "../charts.js";
import { card, h, notice, table } from "../dom.js";
import { dateTime, num, timeZone } from "../fmt.js";
import { messages, number, t, tr } from "../i18n.js";
import { DEFAULT_P, refillPct, status } from "../water.js";
import { fertilitySection } from "./fertility.js";
import { imageTimeline } from "./images.js";
import { chartPoints, columnsPath, soilChart } from "./soil.js";
import { pestSection } from "./pests.js";
import { vigourSection } from "./vigour.js";

const RANGES = [7, 30, 90];

function utcNoon(date) {
  const [y, m, d] = date.split("-").map(Number);
  return Date.UTC(y, m - 1, d, 12) / 1000;
}

// Per pest node and trap: the newest week's catch per trap and the trend (planning/summary.py).
function pestTable(pests) {
  return table(["trap", "catch", "trend"].map((k) => t(`zone.pests.${k}`)), pests.map((p) => h("tr", {},
    h("td", {}, `${p.node} / ${p.trap}`), h("td", {}, num(p.catch_per_trap_week, 1)), h("td", {}, tr("trend", p.trend)))));
}

// Leaf-wetness periods, with each configured pathogen's infection risk (none configured: why not).
function diseaseTable(periods) {
  const rows = periods.map((d) => h("tr", {},
    h("td", {}, d.pathogen || "—"), h("td", { class: "small" }, dateTime(Date.parse(d.start))),
    h("td", {}, num(d.wet_hours, 0, "h")), h("td", {}, num(d.mean_temp_c, 1, "°C")),
    h("td", {}, d.risk_index == null ? t("zone.disease.no-pathogen") : num(d.risk_index, 2))));
  return table(["pathogen", "start", "wet", "temp", "risk"].map((k) => t(`zone.disease.${k}`)), rows);
}

export function decisionText(d) {
  return messages(d.messages, d.explanation);
}

export function origin(o) {
  return o?.startsWith("person:") ? o.slice(7) : tr("origin", o);
}

// New reports of the zone's probes extend the soil chart as they arrive.
function liveSoil(ctx, soil, chart) {
  let updates = 0;
  ctx.on("reading", (ev) => {
    let changed = false;
    for (const n of ev.nodes || []) {
      for (const r of n.readings || []) {
        if (r.measurement !== "vwc_pct" || r.value === null) continue;
        changed = chart.addReading(`${n.node}@${r.depth_cm}`, n.ts_ms, r.value) || changed;
      }
    }
    if (changed) soil.dataset.liveUpdates = String(++updates);
  });
}

function decisionTable(decisions) {
  return decisions.length ? table(["when", "action", "rule", "explanation", "by"].map((k) => t(`zone.log.${k}`)),
    decisions.map((d) => h("tr", { "data-decision": d.id }, h("td", { class: "small" }, dateTime(d.ts_ms)),
      h("td", {}, tr("action", d.action)), h("td", { class: "small" }, tr("rule", d.rule)),
      h("td", { "data-testid": "decision-text" }, decisionText(d)), h("td", { class: "small" }, origin(d.origin)))))
    : h("p", { class: "muted" }, t("zone.no-decisions"));
}

function windowText(ms) {
  return ms % 3600000 ? t("zone.window.minutes", { n: ms / 60000 }) : ms % 86400000 ? t("zone.window.hours", { n: ms / 3600000 })
    : t("zone.window.days", { n: ms / 86400000 });
}

function placeholder() {
  return h("p", { class: "muted small" }, t("zone.loading"));
}

export async function render(root, ctx) {
  const t0 = performance.now();
  const id = ctx.args[0];
  const days = Math.min(366, Math.max(1, Number(ctx.params.get("days")) || 30));
  const q = encodeURIComponent(id);
  // Everything is asked for at once; the soil chart is drawn as soon as its data is in and
  // the other sections fill in as theirs arrive, so a slow water balance never holds it up.
  // The soil data goes first: the store answers one query at a time, and it is the biggest.
  // The soil chart asks for about one window per pixel (see soil.js), finer ones as it is zoomed.
  const soilP = api(columnsPath(id, { days, points: chartPoints(root) })).catch((error) => ({ error }));
  const zone = await api(`/registry/zones/${q}`);
  const rest = soilP.then(() => [
    api(`/zones/${q}/summary`).catch((error) => ({ error })), optional(`/zones/${q}/balance?days=${days}`),
    optional(`/zones/${q}/agronomy`), api(`/zones/${q}/decisions?limit=20`).catch(() => [])]);
  const photosP = soilP.then(() => imageTimeline(id));
  const fc = zone.field_capacity_pct;
  const wp = zone.wilting_point_pct;
  const p = zone.crop_coefficients?.p ?? DEFAULT_P;
  const refill = refillPct(fc, wp, p);

  const badge = h("span", { class: "badge ws-unknown", "data-testid": "water-status" }, "…");
  const rootCard = card(t("zone.root-zone"), placeholder());
  const nextCard = card(t("zone.next-irrigation"), placeholder());
  const cropCard = card(t("zone.crop"), placeholder());
  const soil = chartBox(t("zone.soil-chart"), t("zone.soil-limits", { fc: number(fc), refill: number(refill, 1), p: number(p), wp: number(wp) }));
  soil.dataset.testid = "soil-chart";
  const dep = chartBox(t("zone.depletion-chart"));
  const daily = chartBox(t("zone.daily-chart"));
  const pests = card(t("zone.pests"), placeholder());
  const disease = card(t("zone.disease"), placeholder());
  const log = card(t("zone.log"), placeholder());
  const photos = card(t("images.title"), placeholder());
  root.append(
    h("h1", {}, zone.name, " ", badge),
    h("p", { class: "muted" }, t("zone.facts", { crop: tr("crop", zone.crop), soil: tr("soil", zone.soil_texture), fc: number(fc),
      wp: number(wp), root: number(zone.root_depth_cm), tz: timeZone() })),
    h("nav", { class: "tabs" }, RANGES.map((d) => h("a", { href: `#/zone/${q}?days=${d}`, class: d === days ? "active" : "" },
      t("zone.days", { n: d }))),
      h("a", { href: `#/irrigation/${q}`, "data-testid": "irrigation-link" }, t("zone.irrigation-link"))),
    h("div", { class: "grid three" }, rootCard, nextCard, cropCard),
    soil, h("div", { class: "grid two" }, dep, daily), vigourSection(id, days), h("div", { class: "grid two" }, pests, disease),
    // pests and fertility after the photos: their thumbnails load lazily, near the fold
    photos, pestSection(id), fertilitySection(zone, ctx), log);
  const fill = (c, ...body) => c.replaceChildren(c.firstChild, ...body.flat().filter((x) => x !== null && x !== undefined));

  const cols = await soilP;
  const fetched = performance.now();
  let chart = null;
  await new Promise((done) => {
    if (cols.error) {
      soil.append(notice(cols.error.message, "warn"));
      return done();
    }
    if (!cols.times_ms.length) {
      soil.append(notice(t("zone.no-soil-data")));
      return done();
    }
    const note = h("p", { class: "muted small", "data-testid": "soil-window" });
    soil.querySelector("h3").after(note);
    const onWindow = (ms, span) => {
      note.dataset.zoomed = span ? "1" : "0";
      note.textContent = span ? t("zone.zoomed", { window: windowText(ms), from: dateTime(span[0]), to: dateTime(span[1]) })
        : t("zone.overview-window", { window: windowText(ms), days });
    };
    chart = soilChart(soil, cols, { zone: id, onDrawn: done, onWindow, limits: [
      { label: t("zone.field-capacity"), value: fc, colour: "#2a9d8f" }, { label: t("zone.refill-point"), value: refill, colour: "#e9a03b" },
      { label: t("zone.wilting-point"), value: wp, colour: "#c0392b" }] });
    if (!window.uPlot) done();
  });
  await new Promise((res) => requestAnimationFrame(() => setTimeout(res, 0)));
  // For the browser test and anyone curious: how long the soil chart took, measured in the page.
  const points = chart ? chart.points() : 0;
  const timing = performance.getEntriesByType("resource").filter((e) => e.name.includes("/columns?")).pop();
  const server = Object.fromEntries((timing?.serverTiming || []).map((s) => [s.name, s.duration]));
  window.__furrowPerf = { zone: id, days, points, windowMs: cols.window_ms, fetchMs: fetched - t0, soilReadyMs: performance.now() - t0,
    sinceNavigationMs: performance.now(), storeMs: server.store, shapeMs: server.shape,
    bytes: timing?.encodedBodySize };
  root.dataset.soilReady = "1";

  if (chart) liveSoil(ctx, soil, chart);
  ctx.on("decision", async (ev) => {
    if (ev.zone_id !== id) return;
    const fresh = await api(`/zones/${q}/decisions?limit=20`).catch(() => null);
    if (fresh) fill(log, decisionTable(fresh));
  });
  const [summary, balance, agro, decisions] = await Promise.all(await rest);
  const ws = status(summary.error ? null : summary, p);
  badge.className = `badge ws-${ws.key}`;
  badge.textContent = ws.label;
  fill(rootCard, ...(summary.error ? [notice(summary.error.message, "warn")] : [
    h("p", { class: "big" }, num(summary.root_zone_vwc_pct, 1, "%")),
    h("p", {}, t("zone.water", { depletion: num(summary.depletion_mm), raw: num(p * summary.total_available_water_mm),
      taw: num(summary.total_available_water_mm) })), h("p", { class: "small muted" }, t("zone.water-source"))]));
  const nextCmd = summary.next_irrigation;
  const latest = decisions[0] || agro.data?.next_decision;
  const amount = nextCmd?.amount_mm ? t("zone.next-amount", { mm: num(nextCmd.amount_mm, 1) }) : null;
  fill(nextCard,
    nextCmd ? h("p", { class: "big" }, dateTime(nextCmd.not_before_ms)) : h("p", {}, t("zone.none-planned")),
    nextCmd ? h("p", {}, [amount, t("zone.next-minutes", { min: Math.round((nextCmd.duration_s || 0) / 60) }),
      tr("command_state", nextCmd.state)].filter(Boolean).join(" · ")) : null,
    // when it was decided: yesterday evening's "irrigate" under "none planned" reads as a contradiction without it
    latest ? h("p", { class: "small", "data-testid": "explanation" }, t(latest.ts_ms ? "zone.latest-decision-at" : "zone.latest-decision",
      { action: tr("action", latest.action), rule: tr("rule", latest.rule), explanation: decisionText(latest),
        at: latest.ts_ms ? dateTime(latest.ts_ms) : "" }))
      : h("p", { class: "muted small" }, t("zone.no-decision-yet")));
  const a = agro.data;
  fill(cropCard, agro.missing ? notice(t("zone.crop-not-available"), "warn")
    : agro.error ? notice(agro.error.message, "warn")
    : h("div", {}, h("p", { class: "big", "data-testid": "crop-stage" }, tr("stage", a.stage)),
      h("p", {}, t("zone.gdd-kc", { gdd: num(a.gdd_cum, 0), kc: num(a.kc, 2) }))));
  fill(pests, !a ? notice(t("zone.not-available"), "warn") : a.pests.length ? pestTable(a.pests) : h("p", { class: "muted" }, t("zone.no-traps")));
  fill(disease, !a ? notice(t("zone.not-available"), "warn") : a.disease_risk.length ? diseaseTable(a.disease_risk)
    : h("p", { class: "muted" }, t("zone.no-risk-periods")));
  fill(log, decisionTable(decisions));

  const rows = balance.data || [];
  if (balance.missing || balance.error) {
    const why = balance.missing ? t("zone.balance-not-available") : balance.error.message;
    dep.append(notice(why, "warn"));
    daily.append(notice(why, "warn"));
  } else if (rows.length) {
    const xs = rows.map((r) => utcNoon(r.date));
    lineChart(dep, { xs, yLabel: t("unit.mm"), height: 220, series: [
      { label: t("zone.series.depletion"), values: rows.map((r) => r.depletion_mm), colour: "#1b6ca8", width: 2 },
      { label: t("zone.series.raw"), values: rows.map((r) => r.raw_mm), colour: "#e9a03b", dash: [6, 4] },
      { label: t("zone.series.taw"), values: rows.map((r) => r.taw_mm), colour: "#c0392b", dash: [6, 4] }] });
    dailyChart(daily, { xs, yLabel: t("unit.mm-day"), series: [
      { label: t("zone.series.rain"), values: rows.map((r) => r.rain_mm), colour: "#457b9d", bar: true, align: -1 },
      { label: t("zone.series.irrigation"), values: rows.map((r) => r.irrigation_mm), colour: "#2a9d8f", bar: true, align: 1 },
      { label: t("zone.series.et0"), values: rows.map((r) => r.et0_mm), colour: "#d1495b" },
      { label: t("zone.series.etc"), values: rows.map((r) => r.etc_mm), colour: "#6a4c93", dash: [4, 3] }] });
  }
  photos.replaceWith(await photosP);
  window.__furrowPerf.completeMs = performance.now() - t0;
  root.dataset.ready = "1";
}
