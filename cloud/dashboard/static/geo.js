// GeoJSON helpers shared by the map views (the zone's soil map, the machinery map).

// The outer ring of each polygon of a Polygon or MultiPolygon boundary (none without one).
export function rings(boundary) {
  if (!boundary) return [];
  const polys = boundary.type === "MultiPolygon" ? boundary.coordinates : [boundary.coordinates];
  return polys.map((p) => p[0]);
}

// Longitude and latitude to a drawing's x and y, fitting `points` into w x h less a margin `pad`.
// Equirectangular about their centre: x is the longitude difference times cos(centre latitude), y the
// latitude difference, both scaled alike. Over a farm of a few kilometres this is true to well under 1 %
// (the cosine changes by about 1e-4 per km north or south at mid latitudes), enough to see where things
// are; areas come from the server.
export function projection(points, w, h, pad) {
  const lons = points.map((c) => c[0]);
  const lats = points.map((c) => c[1]);
  const [x0, x1, y0, y1] = [Math.min(...lons), Math.max(...lons), Math.min(...lats), Math.max(...lats)];
  const [lon0, lat0] = [(x0 + x1) / 2, (y0 + y1) / 2];
  const k = Math.cos((lat0 * Math.PI) / 180);
  const span = Math.max(((x1 - x0) * k) / (w - 2 * pad), (y1 - y0) / (h - 2 * pad)) || 1e-6;
  return ([lon, lat]) => [w / 2 + ((lon - lon0) * k) / span, h / 2 - (lat - lat0) / span];
}
