// Machinery and field operations (issue 20, docs/machinery.md): a map of the farm's field boundaries, each
// shaded by its progress, with every tracker's newest position and recent track, moved by the live
// "position" event; a table of each field's progress per kind of operation; a table of the machines.
// The map is an SVG drawn here: the content security policy allows no tile server, only this origin.

import { api } from "../api.js";
import { projection, rings } from "../geo.js";
import { card, h, notice, svg, table } from "../dom.js";
import { ago, dateTime, num } from "../fmt.js";
import { t } from "../i18n.js";

const W = 720;
const H = 420;
const PAD = 28;
export const KINDS = ["tillage", "sowing", "spraying", "fertilising", "harvest"]; // cloud/machinery/models.py OperationKind
const TRACK_MS = 2 * 3_600_000; // a machine's recent track: its last two hours of fixes before its newest
const TRACK_MAX = 2_000; // points kept per track on the map (a live track grows by one a second at work)

// Pale (nothing worked) to deep green (all of it).
const shade = (pct) => `hsl(${60 + 0.8 * Math.min(pct, 100)}, 55%, ${88 - 0.5 * Math.min(pct, 100)}%)`;

// The kind whose operation ended last: the field's shade and label follow the work going on now.
function latest(progress) {
  const kinds = progress?.kinds || [];
  return kinds.length ? kinds.reduce((a, b) => (b.last_ms > a.last_ms ? b : a)) : null;
}

const pt = (xy) => xy.map((v) => v.toFixed(1)).join(",");

function drawMap(fields, progress, machines, tracks) {
  const shaped = fields.filter((f) => f.boundary);
  const all = [...shaped.flatMap((f) => rings(f.boundary).flat()), ...Object.values(machines).map((m) => [m.lon, m.lat]),
    ...Object.values(tracks).flat()];
  if (!all.length) return h("p", { class: "muted", "data-testid": "machinery-map-empty" }, t("machinery.map.empty"));
  const at = projection(all, W, H, PAD);
  const drawing = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "map machinery-map", role: "img",
    "aria-label": t("machinery.map.label"), "data-testid": "machinery-map" });
  for (const f of shaped) {
    const now = latest(progress[f.id]);
    const g = svg("g", { class: "field", "data-field": f.id, "data-kind": now?.kind || "", "data-pct": String(now?.covered_pct ?? 0) });
    for (const ring of rings(f.boundary)) {
      const poly = svg("polygon", { points: ring.map((c) => pt(at(c))).join(" "), class: "field-boundary" });
      poly.style.fill = shade(now?.covered_pct ?? 0); // through CSSOM: the policy refuses style attributes
      g.append(poly);
    }
    const xs = rings(f.boundary).flat().map(at);
    const [cx, cy] = [xs.reduce((s, p) => s + p[0], 0) / xs.length, xs.reduce((s, p) => s + p[1], 0) / xs.length];
    g.append(svg("text", { x: cx, y: cy, "text-anchor": "middle", class: "small" }, f.name),
      svg("text", { x: cx, y: cy + 14, "text-anchor": "middle", class: "small" },
        now ? t("machinery.map.progress", { kind: t(`machinery.kind.${now.kind}`), pct: num(now.covered_pct, 0, "%") })
          : t("machinery.map.no-work")));
    drawing.append(g);
  }
  for (const [node, points] of Object.entries(tracks)) {
    if (points.length > 1) {
      drawing.append(svg("polyline", { points: points.map((c) => pt(at(c))).join(" "), class: "track",
        "data-track": node, "data-points": String(points.length) }));
    }
  }
  for (const m of Object.values(machines)) {
    const [x, y] = at([m.lon, m.lat]);
    drawing.append(svg("g", { class: `machine ${m.implement_down ? "working" : "idle"}`, "data-machine": m.node, "data-t": String(m.t_ms) },
      svg("circle", { cx: x, cy: y, r: 6 }),
      svg("text", { x: x + 9, y: y - 6, class: "small" }, m.node),
      svg("title", {}, `${m.node}: ${dateTime(m.t_ms)}`)));
  }
  return h("div", {}, drawing, h("p", { class: "small muted" }, t("machinery.map.legend")));
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

export async function render(root, ctx) {
  root.append(h("h1", {}, t("machinery.title")));
  const [fields, list] = await Promise.all([api("/registry/fields"), api("/machines")]);
  const progress = {};
  await Promise.all(fields.filter((f) => f.boundary).map(async (f) => {
    progress[f.id] = await api(`/fields/${encodeURIComponent(f.id)}/progress`);
  }));
  const machines = Object.fromEntries(list.map((m) => [m.node, m]));
  const tracks = {};
  await Promise.all(list.map(async (m) => {
    const q = `from_ms=${m.t_ms - TRACK_MS}&to_ms=${m.t_ms + 1}`;
    const fc = await api(`/machines/${encodeURIComponent(m.node)}/track?${q}`);
    tracks[m.node] = fc.features.filter((f) => f.properties.valid !== false).map((f) => f.geometry.coordinates);
  }));
  const mapBox = h("div", {});
  const machineBox = h("div", {});
  const draw = () => {
    mapBox.replaceChildren(drawMap(fields, progress, machines, tracks));
    machineBox.replaceChildren(machineTable(machines));
    root.dataset.machines = String(Object.keys(machines).length);
  };
  draw();
  root.append(card(t("machinery.map.title"), mapBox),
    card(t("machinery.fields.title"), fields.length ? fieldTable(fields, progress) : notice(t("machinery.no-fields"))),
    card(t("machinery.machines.title"), machineBox));
  // A batch of fixes stored: each tracker's newest moves its marker and extends its track.
  ctx.on("position", (ev) => {
    for (const m of ev.machines || []) {
      const known = machines[m.node];
      if (known && known.t_ms >= m.t_ms) continue;
      machines[m.node] = { ...known, ...m };
      const track = (tracks[m.node] ||= []);
      track.push([m.lon, m.lat]);
      if (track.length > TRACK_MAX) track.splice(0, track.length - TRACK_MAX);
    }
    draw();
  });
}
