// Farm overview: every zone coloured by water status (on a map where the nodes have
// positions, as a list always), its pest pressure (each lured species' catch against its own
// action threshold, GET /zones/{zone}/pests), and the active alerts.

import { api, optional } from "../api.js";
import { card, h, notice } from "../dom.js";
import { ago, num } from "../fmt.js";
import { number, t, tr } from "../i18n.js";
import { status } from "../water.js";
import { alertList } from "./alerts.js";

function map(zones, nodes, summaries) {
  const pos = {};
  for (const n of nodes) {
    if (n.zone_id && n.lat !== null && n.lon !== null) (pos[n.zone_id] ||= []).push([n.lat, n.lon]);
  }
  const placed = zones.filter((z) => pos[z.id]);
  if (!placed.length) return null;
  const pts = placed.map((z) => {
    const ps = pos[z.id];
    return [z, ps.reduce((a, p) => a + p[0], 0) / ps.length, ps.reduce((a, p) => a + p[1], 0) / ps.length];
  });
  const lats = pts.map((p) => p[1]);
  const lons = pts.map((p) => p[2]);
  const pad = 0.0005;
  const [la0, la1, lo0, lo1] = [Math.min(...lats) - pad, Math.max(...lats) + pad, Math.min(...lons) - pad, Math.max(...lons) + pad];
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 400 240");
  svg.setAttribute("class", "map");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", t("overview.map-label"));
  for (const [z, la, lo] of pts) {
    const x = 20 + ((lo - lo0) / (lo1 - lo0 || 1)) * 360;
    const y = 220 - ((la - la0) / (la1 - la0 || 1)) * 200;
    const a = document.createElementNS(ns, "a");
    a.setAttribute("href", `#/zone/${encodeURIComponent(z.id)}`);
    const c = document.createElementNS(ns, "circle");
    c.setAttribute("cx", x);
    c.setAttribute("cy", y);
    c.setAttribute("r", 14);
    c.setAttribute("class", `ws-${status(summaries[z.id]).key}`);
    const t = document.createElementNS(ns, "text");
    const right = x > 250; // a label near the right edge goes on the circle's left
    t.setAttribute("x", right ? x - 18 : x + 18);
    if (right) t.setAttribute("text-anchor", "end");
    t.setAttribute("y", y + 4);
    t.textContent = z.name;
    a.append(c, t);
    svg.append(a);
  }
  return svg;
}

export async function render(root, ctx) {
  root.append(h("h1", {}, t("overview.title")));
  const [zones, nodes, fields] = await Promise.all([api("/registry/zones"), api("/registry/nodes"), api("/registry/fields")]);
  const summaries = {};
  await Promise.all(zones.map(async (z) => {
    try {
      summaries[z.id] = await api(`/zones/${encodeURIComponent(z.id)}/summary`);
    } catch {
      summaries[z.id] = null;
    }
  }));
  const pests = await pestPressure(zones);
  const fieldName = Object.fromEntries(fields.map((f) => [f.id, f.name]));
  if (!zones.length) root.append(notice(t("overview.no-zones")));
  const m = map(zones, nodes, summaries);
  const list = h("div", { class: "zones" }, zones.map((z) => {
    const s = summaries[z.id];
    const ws = status(s);
    return h("a", { class: `zone-tile ws-${ws.key}`, href: `#/zone/${encodeURIComponent(z.id)}`, "data-zone": z.id },
      h("strong", {}, z.name),
      h("span", { class: "muted small" }, `${fieldName[z.field_id] || z.field_id} · ${tr("crop", z.crop)}`),
      h("span", { class: "ws-label" }, ws.label),
      h("span", { class: "small" }, s?.depletion_mm != null ? t("overview.depletion", { depletion: num(s.depletion_mm), taw: num(s.total_available_water_mm) }) : ""),
      h("span", { class: "small muted" }, s?.probes?.length ? t("overview.probes-heard", { ago: ago(Math.min(...s.probes.map((p) => p.ts_ms))) }) : ""),
      ...pests[z.id]);
  }));
  const legend = h("p", { class: "legend small" }, ["ok", "watch", "refill", "stress", "unknown"].map((k) =>
    h("span", { class: `swatch ws-${k}` }, t(`overview.legend.${k}`))));
  root.append(h("div", { class: "grid two" }, card(t("overview.zones"), m, legend, list), await alertsCard(ctx)));
  ctx.on("alert", async () => {
    const fresh = await alertsCard(ctx);
    root.querySelector("[data-card=alerts]")?.replaceWith(fresh);
  });
}

async function alertsCard(ctx) {
  const r = await optional("/alerts?state=open&limit=20");
  const body = r.missing ? notice(t("alerts.not-available"), "warn")
    : r.error ? notice(r.error.message, "error")
    : alertList(r.data, ctx, { compact: true });
  const c = card(t("overview.active-alerts"), body, h("a", { href: "#/alerts" }, t("overview.all-alerts")));
  c.dataset.card = "alerts";
  return c;
}

// Per zone, one line per lured species with an action threshold: its catch against the threshold,
// marked when at or over it. A zone whose seasons cannot be read shows none (its page says why).
async function pestPressure(zones) {
  let names = {};
  try {
    names = Object.fromEntries((await api("/pests/species")).map((s) => [s.key, s.name]));
  } catch {
    return Object.fromEntries(zones.map((z) => [z.id, []]));
  }
  const out = {};
  await Promise.all(zones.map(async (z) => {
    let seasons = [];
    try {
      seasons = await api(`/zones/${encodeURIComponent(z.id)}/pests`);
    } catch {
      seasons = [];
    }
    out[z.id] = seasons.filter((s) => s.pressure).map((s) => {
      const p = s.pressure;
      return h("span", { class: `small pest-line${p.above ? " over" : ""}`, "data-testid": `pest-pressure-${s.species}`,
        "data-above": p.above ? "1" : "0" },
        h("em", {}, names[s.species] || s.species), " ",
        t(`overview.pest-${p.per}`, { value: number(p.value, 1), threshold: number(p.threshold), trend: tr("trend", p.trend) }));
    });
  }));
  return out;
}
