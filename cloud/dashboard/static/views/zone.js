// Zone page: soil water by depth against field capacity, the refill point and the wilting
// point; depletion against RAW; daily ET0, rain and irrigation; the next irrigation and why;
// degree days, crop stage, pests and disease risk; the decision log.

import { api, optional } from "../api.js";
import { chartBox, dailyChart, lineChart } from "../charts.js";
import { card, h, notice, table } from "../dom.js";
import { dateTime, num, timeZone } from "../fmt.js";
import { DEFAULT_P, refillPct, status } from "../water.js";
import { chartPoints, columnsPath, soilChart } from "./soil.js";

const RANGES = [7, 30, 90];

function utcNoon(date) {
  const [y, m, d] = date.split("-").map(Number);
  return Date.UTC(y, m - 1, d, 12) / 1000;
}

function kv(obj) {
  return h("dl", { class: "kv" }, Object.entries(obj || {}).flatMap(([k, v]) =>
    [h("dt", {}, k.replaceAll("_", " ")), h("dd", {}, typeof v === "object" && v !== null ? JSON.stringify(v) : String(v))]));
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
  return decisions.length ? table(["when", "action", "rule", "explanation", "by"],
    decisions.map((d) => h("tr", {}, h("td", { class: "small" }, dateTime(d.ts_ms)), h("td", {}, d.action),
      h("td", { class: "small" }, d.rule), h("td", {}, d.explanation), h("td", { class: "small" }, d.origin))))
    : h("p", { class: "muted" }, "No decisions yet.");
}

function windowText(ms) {
  return ms % 3600000 ? `${ms / 60000}-minute` : ms % 86400000 ? `${ms / 3600000}-hour` : `${ms / 86400000}-day`;
}

function placeholder() {
  return h("p", { class: "muted small" }, "loading…");
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
  const fc = zone.field_capacity_pct;
  const wp = zone.wilting_point_pct;
  const p = zone.crop_coefficients?.p ?? DEFAULT_P;
  const refill = refillPct(fc, wp, p);

  const badge = h("span", { class: "badge ws-unknown", "data-testid": "water-status" }, "…");
  const rootCard = card("Root zone", placeholder());
  const nextCard = card("Next irrigation", placeholder());
  const cropCard = card("Crop", placeholder());
  const soil = chartBox("Soil water by depth (%)", `Dashed: field capacity ${fc} %, ` +
    `refill point ${num(refill)} % (p ${p}), wilting point ${wp} %`);
  soil.dataset.testid = "soil-chart";
  const dep = chartBox("Root-zone depletion vs readily available water (mm)");
  const daily = chartBox("Daily ET0, rain and irrigation (mm)");
  const pests = card("Pests", placeholder());
  const disease = card("Disease risk", placeholder());
  const log = card("Decision log", placeholder());
  root.append(
    h("h1", {}, zone.name, " ", badge),
    h("p", { class: "muted" }, `${zone.crop} · ${zone.soil_texture} · FC ${fc} % · WP ${wp} % · root zone ${zone.root_depth_cm} cm · ` +
      `times in ${timeZone()}`),
    h("nav", { class: "tabs" }, RANGES.map((d) => h("a", { href: `#/zone/${q}?days=${d}`, class: d === days ? "active" : "" }, `${d} days`)),
      h("a", { href: `#/irrigation/${q}`, "data-testid": "irrigation-link" }, "Irrigation and overrides →")),
    h("div", { class: "grid three" }, rootCard, nextCard, cropCard),
    soil, h("div", { class: "grid two" }, dep, daily), h("div", { class: "grid two" }, pests, disease), log);
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
      soil.append(notice("No soil moisture readings from this zone's nodes in this period."));
      return done();
    }
    const note = h("p", { class: "muted small", "data-testid": "soil-window" });
    soil.querySelector("h3").after(note);
    const onWindow = (ms, span) => {
      note.textContent = span ? `Zoomed in: ${windowText(ms)} means from ${dateTime(span[0])} to ${dateTime(span[1])}; ` +
        "double-click to zoom out" : `${windowText(ms)} means over ${days} days (about one per pixel); drag the mouse ` +
        "across the chart to zoom in, down to the 15-minute reports; double-click to zoom out";
    };
    chart = soilChart(soil, cols, { zone: id, onDrawn: done, onWindow, limits: [
      { label: "field capacity", value: fc, colour: "#2a9d8f" }, { label: "refill point", value: refill, colour: "#e9a03b" },
      { label: "wilting point", value: wp, colour: "#c0392b" }] });
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
  const ws = summary.error ? { key: "unknown", label: "no data" } : status(summary, p);
  badge.className = `badge ws-${ws.key}`;
  badge.textContent = ws.label;
  fill(rootCard, ...(summary.error ? [notice(summary.error.message, "warn")] : [
    h("p", { class: "big" }, num(summary.root_zone_vwc_pct, 1, "%")),
    h("p", {}, `depletion ${num(summary.depletion_mm)} mm · RAW ${num(p * summary.total_available_water_mm)} mm · ` +
      `TAW ${num(summary.total_available_water_mm)} mm`), h("p", { class: "small muted" }, summary.source)]));
  const nextCmd = summary.next_irrigation;
  const latest = decisions[0] || agro.data?.next_decision;
  fill(nextCard,
    nextCmd ? h("p", { class: "big" }, dateTime(nextCmd.not_before_ms)) : h("p", {}, "none planned"),
    nextCmd ? h("p", {}, `${nextCmd.amount_mm ? num(nextCmd.amount_mm, 1, "mm") + " · " : ""}${Math.round((nextCmd.duration_s || 0) / 60)} min · ${nextCmd.state}`) : null,
    latest ? h("p", { class: "small", "data-testid": "explanation" }, `${latest.action} (${latest.rule}): ${latest.explanation}`)
      : h("p", { class: "muted small" }, "no planner decision yet"));
  const a = agro.data;
  fill(cropCard, agro.missing ? notice("Crop stage and degree days are not available on this server yet.", "warn")
    : agro.error ? notice(agro.error.message, "warn")
    : h("div", {}, h("p", { class: "big" }, a.stage || "—"), h("p", {}, `GDD ${num(a.gdd_cum, 0, "°C·d")} · Kc ${num(a.kc, 2)}`)));
  fill(pests, !a ? notice("not available", "warn") : a.pests.length ? a.pests.map(kv) : h("p", { class: "muted" }, "no trap data"));
  fill(disease, !a ? notice("not available", "warn") : a.disease_risk.length ? a.disease_risk.map(kv) : h("p", { class: "muted" }, "no risk periods"));
  fill(log, decisionTable(decisions));

  const rows = balance.data || [];
  if (balance.missing || balance.error) {
    const why = balance.missing ? "The daily water balance is not available on this server yet." : balance.error.message;
    dep.append(notice(why, "warn"));
    daily.append(notice(why, "warn"));
  } else if (rows.length) {
    const xs = rows.map((r) => utcNoon(r.date));
    lineChart(dep, { xs, yLabel: "mm", height: 220, series: [
      { label: "depletion", values: rows.map((r) => r.depletion_mm), colour: "#1b6ca8", width: 2 },
      { label: "RAW", values: rows.map((r) => r.raw_mm), colour: "#e9a03b", dash: [6, 4] },
      { label: "TAW", values: rows.map((r) => r.taw_mm), colour: "#c0392b", dash: [6, 4] }] });
    dailyChart(daily, { xs, yLabel: "mm/day", series: [
      { label: "rain", values: rows.map((r) => r.rain_mm), colour: "#457b9d", bar: true, align: -1 },
      { label: "irrigation", values: rows.map((r) => r.irrigation_mm), colour: "#2a9d8f", bar: true, align: 1 },
      { label: "ET0", values: rows.map((r) => r.et0_mm), colour: "#d1495b" },
      { label: "ETc", values: rows.map((r) => r.etc_mm), colour: "#6a4c93", dash: [4, 3] }] });
  }
  window.__furrowPerf.completeMs = performance.now() - t0;
  root.dataset.ready = "1";
}
