"""Field and zone boundaries from the GIS files a farm already has: GeoJSON, KML, Shapefile.

The file is read by GDAL/OGR through pyogrio (a zipped Shapefile, or the .shp with its .shx, .dbf and
.prj beside it). Each polygon feature becomes one boundary, named by an attribute (`id`, else `name`,
or the one the caller gives), reprojected to WGS 84 longitude, latitude from the file's CRS with
pyproj, its Z values dropped, then checked as a boundary set through the API is
(vigour/boundaries.py: valid, at most MAX_VERTICES positions, some ground). A file without a CRS
(a Shapefile without its .prj) is read as WGS 84 only when every coordinate is a longitude and
latitude; otherwise the import stops and says the .prj is missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyogrio
import pyogrio.errors
import shapely
from pyproj import CRS, Transformer
from shapely.geometry import MultiPolygon, Polygon

from furrow.edge.errors import ContractError

from ..vigour.boundaries import as_geojson, parse_boundary, reproject

NAME_ATTRIBUTES = ("id", "name")


@dataclass(frozen=True)
class BoundaryFeature:
    """One polygon of a boundary file: the field's or zone's id, its WGS 84 geometry as GeoJSON."""

    key: str
    boundary: dict[str, Any]
    index: int


def _to_wgs84(geoms: Any, crs: str | None, where: str) -> Any:
    if crs is None:
        bounds = shapely.total_bounds(geoms)
        if not (-180 <= bounds[0] and bounds[2] <= 180 and -90 <= bounds[1] and bounds[3] <= 90):
            raise ContractError(where, None, "has no coordinate reference system (a Shapefile's .prj is missing) "
                                "and its coordinates are not longitudes and latitudes")
        return geoms
    source = CRS.from_user_input(crs)
    if source.equals(CRS.from_epsg(4326), ignore_axis_order=True):
        return geoms
    to_wgs84 = Transformer.from_crs(source, "EPSG:4326", always_xy=True)
    return reproject(geoms, to_wgs84)


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def read_boundaries(source: str | Path | bytes, key: str | None = None, layer: str | int | None = None
                    ) -> list[BoundaryFeature]:
    """The polygon features of a GeoJSON, KML or Shapefile (path, or the file's bytes; a Shapefile as a
    zip), each named by attribute `key` (default the first of NAME_ATTRIBUTES, any case). ContractError
    naming the file, the feature or the attribute when one cannot be used: nothing is half-imported."""
    where = "file"
    try:
        meta, _fids, wkb, values = pyogrio.raw.read(source, layer=layer)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as e:
        raise ContractError(where, None, f"cannot be read as GeoJSON, KML or a Shapefile: {e}"[:300]) from None
    names = [str(f) for f in meta["fields"]]
    wanted = [key] if key else list(NAME_ATTRIBUTES)
    present = [i for w in wanted for i, n in enumerate(names) if n.lower() == w.lower()]
    # by default the first candidate every feature fills (a KML has an empty `id` beside its `Name`)
    column = next((i for i in present if all(_text(v) for v in values[i])), present[0] if present else None)
    if column is None:
        raise ContractError("key", key or "/".join(NAME_ATTRIBUTES),
                            f"no such attribute in the file; it has {', '.join(names) or 'none'}")
    if wkb is None or len(wkb) == 0:
        raise ContractError(where, None, "holds no features")
    geoms = shapely.force_2d(shapely.from_wkb(wkb))
    geoms = _to_wgs84(geoms, meta.get("crs"), where)
    out: list[BoundaryFeature] = []
    seen: set[str] = set()
    for i, geom in enumerate(geoms):
        here = f"features.{i}"
        raw_key = values[column][i]
        ident = _text(raw_key)
        if not ident:
            raise ContractError(f"{here}.{names[column]}", raw_key, "is empty: each polygon needs the id it belongs to")
        if ident in seen:
            raise ContractError(f"{here}.{names[column]}", ident, "appears twice in the file")
        seen.add(ident)
        if not isinstance(geom, Polygon | MultiPolygon):
            raise ContractError(f"{here}.geometry", geom.geom_type if geom is not None else None,
                                "must be a Polygon or MultiPolygon")
        checked = parse_boundary(as_geojson(geom), field=f"{here}.geometry")
        out.append(BoundaryFeature(key=ident, boundary=as_geojson(checked), index=i))
    return out
