// The zone's soil map: its boundary and each located soil sample drawn where it was taken, coloured and
// labelled by the chosen result (GET /zones/{zone}/soil-map?result=...). Points only: values between the
// points are not interpolated (docs/fertility.md).

import { api } from "../api.js";
import { rings } from "../geo.js";
import { h, notice, svg } from "../dom.js";
import { number, t } from "../i18n.js";
import { RESULTS } from "./fertility_forms.js";

const W = 360;
const H = 240;
const PAD = 24;

// Longitude and latitude to the drawing's x and y: equirectangular about the middle latitude, which is true
// enough over a field.
function projection(coords) {
  const lons = coords.map((c) => c[0]);
  const lats = coords.map((c) => c[1]);
  const [x0, x1, y0, y1] = [Math.min(...lons), Math.max(...lons), Math.min(...lats), Math.max(...lats)];
  const k = Math.cos(((y0 + y1) / 2) * Math.PI / 180);
  const span = Math.max((x1 - x0) * k, y1 - y0) || 1e-4;
  const scale = Math.min(W - 2 * PAD, H - 2 * PAD) / span;
  return ([lon, lat]) => [PAD + (lon - x0) * k * scale, H - PAD - (lat - y0) * scale];
}

// A sample's dot. Coloured through its style object: the map's stylesheet colours circles (.map circle) over
// attributes, and the content security policy refuses a style attribute.
function dot(x, y, fill, stroke) {
  const c = svg("circle", { cx: x, cy: y, r: 7 });
  c.style.fill = fill;
  c.style.stroke = stroke;
  return c;
}

// Low values pale yellow, high values deep green.
const colour = (f) => `hsl(${60 + 80 * f}, 60%, ${85 - 50 * f}%)`;

function draw(map) {
  const shape = rings(map.boundary);
  const coords = [...shape.flat(), ...map.points.map((p) => [p.lon, p.lat])];
  if (!map.points.length) return h("p", { class: "muted", "data-testid": "soil-map-empty" }, t("fert.map.no-points"));
  const at = projection(coords);
  const values = map.points.map((p) => p.value);
  const [lo, hi] = [Math.min(...values), Math.max(...values)];
  const drawing = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "map soil-map", role: "img",
    "aria-label": t("fert.map.label", { result: t(`fert.result.${map.result}`) }), "data-testid": "soil-map-svg" });
  for (const ring of shape) {
    drawing.append(svg("polygon", { points: ring.map((c) => at(c).join(",")).join(" "), class: "zone-boundary" }));
  }
  for (const p of map.points) {
    const [x, y] = at([p.lon, p.lat]);
    const f = hi > lo ? (p.value - lo) / (hi - lo) : 0.5;
    drawing.append(svg("g", { class: "sample", "data-point": p.point || String(p.sample_id),
      "data-value": String(p.value), "data-inside": String(p.inside) },
    dot(x, y, colour(f), p.inside === false ? "#b00" : "#333"),
    svg("text", { x: x + 9, y: y + 4, class: "small" }, `${p.point || ""} ${number(p.value, 1)}`.trim()),
    svg("title", {}, `${p.point || p.sample_id}: ${number(p.value, 1)} (${p.sampled_on})`)));
  }
  return h("div", {}, drawing, h("p", { class: "small muted", "data-testid": "soil-map-legend" },
    t("fert.map.legend", { lo: number(lo, 1), hi: number(hi, 1), n: map.points.length })));
}

export function soilMap(zoneId) {
  const box = h("div", { "data-testid": "soil-map" }, h("h4", {}, t("fert.map.title")));
  const pick = h("select", { "data-testid": "soil-map-result" },
    RESULTS.map((r) => h("option", { value: r }, t(`fert.result.${r}`))));
  pick.value = "olsen_p_mg_kg";
  const body = h("div", {});
  const load = () => {
    box.dataset.ready = "";
    return api(`/zones/${encodeURIComponent(zoneId)}/soil-map?result=${pick.value}`)
      .then((map) => {
        body.replaceChildren(draw(map));
        box.dataset.points = String(map.points.length);
      })
      .catch((e) => body.replaceChildren(notice(e.message, "warn")))
      .finally(() => { box.dataset.ready = "1"; });
  };
  pick.addEventListener("change", load);
  box.append(h("label", {}, t("fert.map.result"), pick), body);
  load();
  return box;
}
