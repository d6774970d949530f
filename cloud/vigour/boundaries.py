"""Field and zone boundaries: GeoJSON polygons in WGS 84, checked with shapely, measured with pyproj.

A boundary is a GeoJSON Polygon or MultiPolygon geometry (RFC 7946: longitude, latitude, in that
order). It must be valid (no self-intersection, closed rings: shapely's is_valid, the reason from
explain_validity otherwise), hold at most MAX_VERTICES points, lie within longitude -180..180 and
latitude -90..90, and cover some ground. A zone's boundary must lie inside its field's, allowing
INSIDE_TOLERANCE of the zone's area outside (slivers where two people digitised one edge). The
area stored beside it is geodesic, on the WGS 84 ellipsoid (pyproj.Geod), in hectares.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import shapely
from pyproj import Geod, Transformer
from shapely.geometry import MultiPolygon, Polygon, mapping, shape
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity

from furrow.edge.errors import ContractError

MAX_VERTICES = 20_000
INSIDE_TOLERANCE = 0.005
_GEOD = Geod(ellps="WGS84")


def _points(coords: Any, depth: int) -> list[tuple[float, float]]:
    if depth == 0:
        if not isinstance(coords, list | tuple) or len(coords) < 2:
            raise ValueError(f"a position must be [longitude, latitude], got {coords!r}"[:160])
        lon, lat = coords[0], coords[1]
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (lon, lat)):
            raise ValueError(f"a position must hold numbers, got {coords!r}"[:160])
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise ValueError(f"position {lon}, {lat} is outside longitude -180..180, latitude -90..90 "
                             "(GeoJSON is longitude first)")
        return [(float(lon), float(lat))]
    if not isinstance(coords, list | tuple):
        raise ValueError("coordinates must be nested arrays")
    return [p for c in coords for p in _points(c, depth - 1)]


def parse_boundary(geojson: Any, field: str = "boundary") -> Polygon | MultiPolygon:
    """The shapely geometry of a GeoJSON Polygon or MultiPolygon, or ContractError(field) saying what is wrong."""
    if not isinstance(geojson, dict) or geojson.get("type") not in ("Polygon", "MultiPolygon"):
        kind = geojson.get("type") if isinstance(geojson, dict) else type(geojson).__name__
        raise ContractError(f"{field}.type", kind, "must be a GeoJSON Polygon or MultiPolygon geometry")
    depth = 2 if geojson["type"] == "Polygon" else 3  # rings of positions; polygons of rings
    try:
        points = _points(geojson.get("coordinates"), depth)
        if len(points) > MAX_VERTICES:
            raise ValueError(f"{len(points)} positions: at most {MAX_VERTICES}")
        geom = shape({"type": geojson["type"], "coordinates": geojson["coordinates"]})
    except (ValueError, TypeError, IndexError, AttributeError) as e:
        raise ContractError(f"{field}.coordinates", None, str(e)[:200] or "not a polygon's coordinates") from None
    if not geom.is_valid:
        raise ContractError(field, None, f"not a valid polygon: {explain_validity(geom)}")
    if geom.is_empty or geom.area == 0:
        raise ContractError(field, None, "the polygon covers no ground")
    return geom


def area_ha(geom: BaseGeometry) -> float:
    """The geodesic area on the WGS 84 ellipsoid, in hectares."""
    area_m2, _ = _GEOD.geometry_area_perimeter(geom)
    return abs(area_m2) / 10_000


def outside_share(zone: BaseGeometry, field: BaseGeometry) -> float:
    """The share of the zone's area that lies outside the field (0: inside)."""
    return zone.difference(field).area / zone.area


def check_inside(share: float, zone_id: str, field_id: str) -> None:
    """ContractError naming the zone's boundary when more than INSIDE_TOLERANCE of it (`share`, from
    outside_share or the database's own sum) is outside its field's."""
    if share > INSIDE_TOLERANCE:
        raise ContractError("boundary", zone_id, f"{100 * share:.1f}% of zone {zone_id} lies outside field "
                            f"{field_id}'s boundary (at most {100 * INSIDE_TOLERANCE:g}% may)")


def reproject(geom: BaseGeometry, transformer: Transformer) -> BaseGeometry:
    """The geometry with every vertex through `transformer` (an always_xy pyproj Transformer)."""
    return shapely.transform(geom, lambda xy: np.column_stack(transformer.transform(xy[:, 0], xy[:, 1])))


def as_geojson(geom: BaseGeometry) -> dict[str, Any]:
    """The geometry as GeoJSON (lists, not tuples), as stored."""
    out = mapping(geom)

    def lists(x: Any) -> Any:
        return [lists(v) for v in x] if isinstance(x, list | tuple) else x

    return {"type": out["type"], "coordinates": lists(out["coordinates"])}
