// The dashboard's slippy map: Leaflet (npm package leaflet, pinned in cloud/dashboard/package.json, served
// from /app/vendor/leaflet/ like uPlot, never from a CDN), loaded when a page first draws a map. The basemap's
// tiles come from the one tile server FURROW_MAP_TILE_URL names (GET /map/basemap); with none, or offline,
// the map is the page's own shapes on a plain background with a scale (docs/dashboard.md "The map").

import { api } from "./api.js";
import { h } from "./dom.js";
import { number, t } from "./i18n.js";

const BASE = "/app/vendor/leaflet";
const MAX_ZOOM = 20; // without tiles (or past the tile server's deepest level, its tiles stretched)
let loading = null;

// Leaflet's global L, or null when it is not installed (the page then says so and shows its tables).
export function loadLeaflet() {
  if (window.L) return Promise.resolve(window.L);
  loading ||= new Promise((resolve) => {
    document.head.append(h("link", { rel: "stylesheet", href: `${BASE}/leaflet.css` }));
    const script = h("script", { src: `${BASE}/leaflet.js` });
    script.addEventListener("load", () => resolve(window.L || null));
    script.addEventListener("error", () => {
      loading = null;
      resolve(null);
    });
    document.head.append(script);
  });
  return loading;
}

// Leaflet puts layer names, attributions and scale labels in as HTML: text from the catalogues or the
// service's settings goes in escaped.
export const escapeHtml = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

// Leaflet's metric scale bar, its units in the reader's language (米 and 公里 in Chinese).
function scale(L) {
  const Scale = L.Control.Scale.extend({
    _updateMetric(maxMeters) {
      const m = this._getRoundNum(maxMeters);
      const text = m < 1000 ? t("map.scale.m", { n: number(m) }) : t("map.scale.km", { n: number(m / 1000) });
      this._updateScale(this._mScale, escapeHtml(text), m / maxMeters);
    },
  });
  return new Scale({ metric: true, imperial: false, position: "bottomleft" });
}

// A map in `el` (already in the page, so it has a size): zoom buttons and scale in the reader's language, the
// configured basemap under everything when there is one. Returns { map, tiles } (tiles null without one).
export async function newMap(L, el) {
  const cfg = await api("/map/basemap");
  const map = L.map(el, { zoomControl: false, attributionControl: true, maxZoom: MAX_ZOOM, zoomSnap: 0.5 });
  map.attributionControl.setPrefix(`<a href="https://leafletjs.com">Leaflet</a>`);
  L.control.zoom({ zoomInTitle: t("map.zoom-in"), zoomOutTitle: t("map.zoom-out") }).addTo(map);
  scale(L).addTo(map);
  let tiles = null;
  if (cfg.tile_url) {
    tiles = L.tileLayer(cfg.tile_url, { maxNativeZoom: cfg.max_zoom, maxZoom: MAX_ZOOM, className: "basemap",
      attribution: escapeHtml(cfg.attribution || "") }).addTo(map);
  }
  el.dataset.tiles = tiles ? "on" : "none";
  return { map, tiles };
}

// Set data-* on a vector layer's element each time it is drawn (Leaflet makes a new one when a layer is
// switched off and on again), for the browser tests and the stylesheet; retag() changes them later.
export function tag(layer, data) {
  layer.furrowData = { ...data };
  layer.on("add", () => retag(layer));
  return retag(layer);
}

export function retag(layer, data = {}) {
  Object.assign(layer.furrowData, data);
  const el = layer.getElement?.();
  if (el) Object.assign(el.dataset, layer.furrowData);
  return layer;
}

// One way to draw a field, on every map page: its boundary as a GeoJSON layer with the class field-boundary,
// each part tagged data-field (and `data`); `fill` shades it (the map page: by its progress).
export const FIELD_FILL = "#e4ead2";
export function fieldShape(L, field, { fill = FIELD_FILL, data = {} } = {}) {
  const shape = L.geoJSON(field.boundary, { style: { className: "field-boundary", color: "#556b2f", weight: 1.5,
    fillColor: fill, fillOpacity: 0.75 } });
  shape.eachLayer((l) => tag(l, { field: field.id, ...data }));
  return shape;
}

// A tracker's position: a dot, blue with the implement down (at work), grey with it up, its name beside it.
export const machineData = (m) => ({ machine: m.node, t: String(m.t_ms), lat: String(m.lat), lon: String(m.lon),
  implement: m.implement_down ? "down" : "up" });

export function machineMarker(L, m) {
  const marker = L.circleMarker([m.lat, m.lon], { className: "machine", radius: 7, color: "#fff", weight: 2,
    fillColor: m.implement_down ? "#1f5fa8" : "#888", fillOpacity: 1 });
  marker.bindTooltip(h("span", { class: "machine-label" }, m.node), { permanent: true, direction: "right",
    offset: [8, 0], className: "machine-tip" });
  return tag(marker, machineData(m));
}

// Move a machine's marker to its newest fix (and recolour it for its implement).
export function moveMarker(marker, m) {
  marker.setLatLng([m.lat, m.lon]);
  marker.setStyle({ fillColor: m.implement_down ? "#1f5fa8" : "#888" });
  return retag(marker, machineData(m));
}
