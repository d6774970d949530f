// GeoJSON helpers shared by the map views (the zone's soil map).

// The outer ring of each polygon of a Polygon or MultiPolygon boundary (none without one).
export function rings(boundary) {
  if (!boundary) return [];
  const polys = boundary.type === "MultiPolygon" ? boundary.coordinates : [boundary.coordinates];
  return polys.map((p) => p[0]);
}
