// Machinery and field operations (issue 20, docs/machinery.md): a map (Leaflet, map.js) of the farm's field
// boundaries, each shaded by its progress, its zones, the covered ground of each field's latest kind of work,
// each tracker's position (moved by the live "position" event) and its track of the day, and the yield map of
// each field's latest yield log in classes of t/ha, with a layer switcher; below it a table of each field's
// progress per kind of operation and a table of the machines.

import { api } from "../api.js";
import { card, h, notice, table } from "../dom.js";
import { ago, dateTime, num, timeZone } from "../fmt.js";
import { t } from "../i18n.js";
import { escapeHtml, fieldShape, loadLeaflet, machineMarker, moveMarker, newMap, retag, tag } from "../map.js";

export const KINDS = ["tillage", "sowing", "spraying", "fertilising", "harvest"]; // cloud/machinery/models.py OperationKind
const TRACK_MAX = 50_000; // points kept per track on the map (a day at work at 1 Hz is ~40,000)
const OPS_PER_FIELD = 20; // covered ground drawn per field: its latest kind's newest operations
// Yield classes, low to high (ColorBrewer RdYlGn, 5 classes: red, orange, yellow, light and dark green).
const YIELD_COLOURS = ["#d7191c", "#fdae61", "#ffffbf", "#a6d96a", "#1a9641"];

// Pale (nothing worked) to deep green (all of it).
const shade = (pct) => `hsl(${60 + 0.8 * Math.min(pct, 100)}, 55%, ${88 - 0.5 * Math.min(pct, 100)}%)`;

// The kind whose operation ended last: the field's shade and label follow the work going on now.
function latest(progress) {
  const kinds = progress?.kinds || [];
  return kinds.length ? kinds.reduce((a, b) => (b.last_ms > a.last_ms ? b : a)) : null;
}

// Midnight before `ms` in the farm's time zone: a machine's track "of the day" starts there.
function dayStart(ms) {
  const parts = Object.fromEntries(new Intl.DateTimeFormat("en-GB", { timeZone: timeZone(), hourCycle: "h23",
    hour: "numeric", minute: "numeric", second: "numeric" }).formatToParts(new Date(ms)).map((p) => [p.type, p.value]));
  return ms - ((Number(parts.hour) * 60 + Number(parts.minute)) * 60 + Number(parts.second)) * 1000 - (ms % 1000);
}

// Equal classes from the lowest to the highest yield shown, bounds rounded outwards to 0.1 t/ha.
export function yieldClasses(values, n = YIELD_COLOURS.length) {
  const lo = Math.floor(Math.min(...values) * 10) / 10;
  const hi = Math.max(Math.ceil(Math.max(...values) * 10) / 10, lo + 0.1 * n);
  const step = (hi - lo) / n;
  return YIELD_COLOURS.map((colour, i) => ({ colour, from: lo + i * step, to: i === n - 1 ? hi : lo + (i + 1) * step }));
}

// A field's label on the map: its name and its latest kind of work's share.
const fieldLabel = (f, now, pct) => h("div", { class: "field-label", "data-field": f.id }, h("strong", {}, f.name),
  h("br"), now ? t("machinery.map.progress", { kind: t(`machinery.kind.${now.kind}`), pct: num(pct, 0, "%") })
    : t("machinery.map.no-work"));

const classOf = (classes, v) => classes.find((c) => v < c.to) || classes[classes.length - 1];

function legend(L, classes, count) {
  const box = h("div", { class: "map-legend", "data-testid": "yield-legend", "data-points": String(count) },
    h("strong", {}, t("machinery.map.yield-legend", { unit: t("unit.t-ha") })),
    [...classes].reverse().map((c) => {
      const swatch = h("span", { class: "swatch" });
      swatch.style.background = c.colour; // through CSSOM: the policy refuses style attributes
      return h("div", { "data-class": `${c.from.toFixed(1)}-${c.to.toFixed(1)}` }, swatch,
        t("machinery.map.yield-class", { from: num(c.from, 1), to: num(c.to, 1) }));
    }));
  const control = L.control({ position: "bottomright" });
  control.onAdd = () => box;
  return control;
}

function addAll(group, layers) {
  for (const l of layers) group.addLayer(l);
  return layers;
}

// An operation's covered ground (and the strips it skipped), tagged with its id, field and kind.
function coveredShapes(L, op) {
  const out = [];
  if (!op.covered?.coordinates?.length) return out;
  const shape = L.geoJSON(op.covered, { style: { className: "covered", color: "#1f5fa8", weight: 0.5,
    fillColor: "#1f5fa8", fillOpacity: 0.25 } });
  shape.eachLayer((l) => tag(l, { operation: String(op.id), field: op.field_id, kind: op.kind,
    ha: String(op.covered_ha) }));
  shape.bindTooltip(h("span", {}, t("machinery.map.covered-tip", { kind: t(`machinery.kind.${op.kind}`),
    machine: op.machine, when: dateTime(op.ended_ms), ha: num(op.covered_ha, 2, t("unit.ha")) })), { sticky: true });
  out.push(shape);
  if (op.skipped?.coordinates?.length) { // strips missed between its swaths (narrower than two widths)
    const strips = L.geoJSON(op.skipped, { style: { className: "skipped", color: "#b3261e", weight: 1,
      dashArray: "3 2", fillColor: "#b3261e", fillOpacity: 0.45 } });
    strips.eachLayer((l) => tag(l, { operation: String(op.id), field: op.field_id }));
    strips.bindTooltip(h("span", {}, t("machinery.map.skipped-tip", { kind: t(`machinery.kind.${op.kind}`),
      ha: num(op.skipped_ha, 2, t("unit.ha")) })), { sticky: true });
    out.push(strips);
  }
  return out;
}

function drawMap(L, map, tiles, data) {
  const { fields, zones, progress, machines, tracks, covered, yields } = data;
  const fieldLayer = L.layerGroup();
  const fieldShapes = {};
  const bounds = L.latLngBounds([]);
  for (const f of fields.filter((x) => x.boundary)) {
    const now = latest(progress[f.id]);
    const pct = now?.covered_pct ?? 0;
    const shape = fieldShape(L, f, { fill: shade(pct), data: { kind: now?.kind || "", pct: String(pct) } });
    shape.bindTooltip(fieldLabel(f, now, pct), { permanent: true, direction: "center", className: "field-tip" });
    fieldShapes[f.id] = shape;
    fieldLayer.addLayer(shape);
    bounds.extend(shape.getBounds());
  }
  const zoneLayer = L.layerGroup();
  for (const z of zones.filter((x) => x.boundary)) {
    const shape = L.geoJSON(z.boundary, { style: { className: "zone-boundary", color: "#8a6d1f", weight: 1,
      dashArray: "4 3", fill: false } });
    shape.eachLayer((l) => tag(l, { zone: z.id }));
    shape.bindTooltip(h("span", {}, z.name || z.id), { sticky: true });
    zoneLayer.addLayer(shape);
  }
  const coveredLayer = L.layerGroup();
  const shapes = {}; // operation id -> its layers in coveredLayer (a live window recorded again replaces them)
  for (const op of covered) shapes[op.id] = addAll(coveredLayer, coveredShapes(L, op));
  const trackLayer = L.layerGroup();
  const lines = {};
  for (const [node, points] of Object.entries(tracks)) {
    const line = L.polyline(points.map(([lon, lat]) => [lat, lon]), { className: "track", color: "#1f5fa8",
      weight: 2, opacity: 0.7 });
    lines[node] = tag(line, { track: node, points: String(points.length) });
    trackLayer.addLayer(line);
    if (points.length) bounds.extend(line.getBounds());
  }
  const machineLayer = L.layerGroup();
  const markers = {};
  for (const m of Object.values(machines)) {
    markers[m.node] = machineMarker(L, m);
    machineLayer.addLayer(markers[m.node]);
    bounds.extend([m.lat, m.lon]);
  }
  // the yield map: each kept point of each field's latest log, drawn on a canvas (thousands of points)
  const yieldLayer = L.layerGroup();
  const values = yields.flatMap((y) => y.yields.map((p) => p[2]));
  let yieldLegend = null;
  if (values.length) {
    const classes = yieldClasses(values);
    const canvas = L.canvas({ padding: 0.5 });
    for (const y of yields) {
      for (const [lon, lat, v] of y.yields) {
        const c = classOf(classes, v).colour;
        yieldLayer.addLayer(L.circleMarker([lat, lon], { renderer: canvas, radius: 3, stroke: false, fillColor: c,
          fillOpacity: 0.9, interactive: false }));
      }
    }
    yieldLegend = legend(L, classes, values.length);
  }
  const label = (key, name) => `<span data-layer="${key}">${escapeHtml(t(`machinery.layer.${name || key}`))}</span>`;
  const overlays = {
    [label("fields")]: fieldLayer, [label("zones")]: zoneLayer, [label("covered")]: coveredLayer,
    [label("tracks")]: trackLayer, [label("machines")]: machineLayer,
  };
  if (values.length) overlays[label("yield")] = yieldLayer;
  for (const layer of [fieldLayer, zoneLayer, coveredLayer, trackLayer, machineLayer]) layer.addTo(map);
  L.control.layers(tiles ? { [label("basemap")]: tiles } : {}, overlays, { collapsed: false }).addTo(map);
  map.on("overlayadd", (e) => e.layer === yieldLayer && yieldLegend?.addTo(map));
  map.on("overlayremove", (e) => e.layer === yieldLayer && yieldLegend?.remove());
  if (bounds.isValid()) map.fitBounds(bounds, { padding: [24, 24], maxZoom: 18 });
  return { lines, markers, machineLayer, trackLayer, coveredLayer, shapes, fields: fieldShapes };
}

export function fieldTable(fields, progress) {
  const kinds = KINDS.filter((k) => Object.values(progress).some((p) => p.kinds.some((x) => x.kind === k)));
  return table([t("machinery.col.field"), t("machinery.col.area"), ...kinds.map((k) => t(`machinery.kind.${k}`))],
    fields.map((f) => {
      const p = progress[f.id];
      const area = p ? num(p.field_ha, 2, t("unit.ha")) : t("machinery.no-boundary");
      return h("tr", { "data-field": f.id },
        h("td", {}, f.name), h("td", {}, area),
        kinds.map((k) => {
          const x = p?.kinds.find((y) => y.kind === k);
          return h("td", { "data-kind": k }, x ? t("machinery.covered", { ha: num(x.covered_ha, 2, t("unit.ha")),
            pct: num(x.covered_pct, 1, "%"), n: x.operations }) : "—");
        }));
    }), { "data-testid": "field-progress" });
}

function machineTable(machines) {
  const rows = Object.values(machines).sort((a, b) => a.node.localeCompare(b.node));
  if (!rows.length) return notice(t("machinery.no-machines"));
  return table(["machine", "last-fix", "speed", "implement", "engine"].map((k) => t(`machinery.col.${k}`)),
    rows.map((m) => h("tr", { "data-machine": m.node },
      h("td", {}, m.node),
      h("td", {}, `${dateTime(m.t_ms)} (${ago(m.t_ms)})`),
      h("td", {}, num(m.speed_kmh, 1, t("unit.km-h"))),
      h("td", { "data-implement": m.implement_down ? "down" : "up" }, t(m.implement_down ? "machinery.implement.down" : "machinery.implement.up")),
      h("td", {}, m.engine_on === undefined ? "—" : t(m.engine_on ? "machinery.engine.on" : "machinery.engine.off")))),
    { "data-testid": "machine-table" });
}

// What the map draws: every field's progress, each machine's track of its day, the covered ground of each
// field's latest kind of work, each field's latest yield log with its points. An operator's map is its job's
// fields, machines and operations (the server's answers, cloud/tenancy/_job.py).
// `withYields`: whether to draw the yield maps (the farm's readers; an operator's map is its job's, without).
async function load(withYields) {
  const [fields, zones, list, ops, logs] = await Promise.all([api("/registry/fields"), api("/registry/zones"),
    api("/machines"), api("/operations"), withYields ? api("/yield-logs") : []]);
  const progress = {};
  await Promise.all(fields.filter((f) => f.boundary).map(async (f) => {
    progress[f.id] = await api(`/fields/${encodeURIComponent(f.id)}/progress`);
  }));
  const machines = Object.fromEntries(list.map((m) => [m.node, m]));
  const tracks = {};
  await Promise.all(list.map(async (m) => {
    const q = `from_ms=${dayStart(m.t_ms)}&to_ms=${m.t_ms + 1}`;
    const fc = await api(`/machines/${encodeURIComponent(m.node)}/track?${q}`);
    tracks[m.node] = fc.features.filter((f) => f.properties.valid !== false).map((f) => f.geometry.coordinates);
  }));
  const wanted = ops.filter((op) => latest(progress[op.field_id])?.kind === op.kind); // newest first
  const perField = {};
  const chosen = wanted.filter((op) => (perField[op.field_id] = (perField[op.field_id] || 0) + 1) <= OPS_PER_FIELD);
  const covered = await Promise.all(chosen.map((op) => api(`/operations/${op.id}`)));
  const newestLog = {};
  for (const log of logs) newestLog[log.field_id] ||= log; // newest first
  const yields = await Promise.all(Object.values(newestLog).map((log) => api(`/yield-logs/${log.id}`)));
  return { fields, zones, progress, machines, tracks, covered, yields: yields.filter((y) => y.yields?.length) };
}

export async function render(root, ctx) {
  root.append(h("h1", {}, t("machinery.title")));
  const [data, L] = await Promise.all([load(ctx.can("read")), loadLeaflet()]);
  const { fields, progress, machines, tracks } = data;
  const mapBox = h("div", {});
  const machineBox = h("div", {});
  const fieldBox = h("div", {}, fields.length ? fieldTable(fields, progress) : notice(t("machinery.no-fields")));
  root.append(card(t("machinery.map.title"), mapBox), card(t("machinery.fields.title"), fieldBox),
    card(t("machinery.machines.title"), machineBox));
  const showMachines = () => {
    machineBox.replaceChildren(machineTable(machines));
    root.dataset.machines = String(Object.keys(machines).length);
  };
  showMachines();
  let drawn = null;
  let map = null;
  let making = null;
  const showMap = async () => {
    const el = h("div", { class: "lmap", "data-testid": "machinery-map", role: "region",
      "aria-label": t("machinery.map.label") });
    mapBox.replaceChildren(el, h("p", { class: "small muted" }, t("machinery.map.legend")));
    const made = await newMap(L, el);
    map = made.map;
    drawn = drawMap(L, map, made.tiles, data); // machines and tracks as they are by now
  };
  if (!L) {
    mapBox.append(notice(t("machinery.map.no-library"), "error"));
  } else if (!fields.some((f) => f.boundary) && !Object.keys(machines).length) {
    // nothing to draw yet: the first fix heard draws the map around its machine
    mapBox.append(h("p", { class: "muted", "data-testid": "machinery-map-empty" }, t("machinery.map.empty")));
  } else {
    await (making = showMap());
  }
  // A batch of fixes stored: each tracker's newest moves its marker and extends its track.
  ctx.on("position", (ev) => {
    for (const m of ev.machines || []) {
      const known = machines[m.node];
      if (known && known.t_ms >= m.t_ms) continue;
      const now = (machines[m.node] = { ...known, ...m });
      if (known && dayStart(known.t_ms) !== dayStart(m.t_ms)) { // a new day: its track starts afresh
        tracks[m.node] = [];
        drawn?.lines[m.node]?.setLatLngs([]);
      }
      const track = (tracks[m.node] ||= []);
      track.push([m.lon, m.lat]);
      if (track.length > TRACK_MAX) track.splice(0, track.length - TRACK_MAX);
      if (!drawn) {
        if (L && !making) making = showMap().then(showMachines);
        continue;
      }
      let line = drawn.lines[m.node];
      if (!line) {
        line = drawn.lines[m.node] = tag(L.polyline([], { className: "track", color: "#1f5fa8", weight: 2,
          opacity: 0.7 }), { track: m.node });
        drawn.trackLayer.addLayer(line);
      }
      line.addLatLng([m.lat, m.lon]);
      retag(line, { points: String(track.length) });
      let marker = drawn.markers[m.node];
      if (!marker) {
        marker = drawn.markers[m.node] = machineMarker(L, now);
        drawn.machineLayer.addLayer(marker);
      }
      moveMarker(marker, now);
    }
    showMachines();
  });
  // An operation recorded, or a live window recorded again with more of its fixes: its covered ground redrawn, the
  // field's shade and label following its progress (a machine at work: the ground it covers grows).
  ctx.on("operation", async (ev) => {
    if (!fields.some((f) => f.id === ev.field_id && f.boundary)) return;
    const [op, now] = await Promise.all([api(`/operations/${ev.id}`),
      api(`/fields/${encodeURIComponent(ev.field_id)}/progress`)]);
    progress[ev.field_id] = now;
    fieldBox.replaceChildren(fieldTable(fields, progress));
    if (!drawn) return;
    for (const l of drawn.shapes[op.id] || []) drawn.coveredLayer.removeLayer(l);
    drawn.shapes[op.id] = addAll(drawn.coveredLayer, coveredShapes(L, op));
    const kind = latest(now);
    const pct = kind?.covered_pct ?? 0;
    const shape = drawn.fields[ev.field_id];
    shape?.eachLayer((l) => {
      l.setStyle({ fillColor: shade(pct) });
      retag(l, { kind: kind?.kind || "", pct: String(pct) });
    });
    shape?.setTooltipContent(fieldLabel(fields.find((f) => f.id === ev.field_id), kind, pct));
    mapBox.dataset.operations = String((Number(mapBox.dataset.operations) || 0) + 1);
  });
  return () => map?.remove();
}
