"""Field boundaries from GIS files (cloud/fields/geofiles.py, pyogrio/GDAL): GeoJSON in a projected CRS,
KML with altitudes, a Shapefile on disk and zipped, and the errors that name the feature or attribute;
then `furrow fields boundaries` setting them through the API."""

from __future__ import annotations

import io
import json
import warnings
import zipfile

import numpy as np
import pyogrio
import pytest
import shapely
from pyproj import Geod, Transformer
from shapely.geometry import box

from furrow.cloud.fields.geofiles import read_boundaries
from furrow.edge.errors import ContractError

TO_WGS84 = Transformer.from_crs("EPSG:32650", "EPSG:4326", always_xy=True)
E0, N0 = 500_000.0, 3_985_000.0  # UTM 50N on the central meridian (117 E, ~36 N)
GEOD = Geod(ellps="WGS84")


def utm_box(e: float, n: float, w: float, h: float) -> shapely.Polygon:
    return box(E0 + e, N0 + n, E0 + e + w, N0 + n + h)


def wgs84(geom: shapely.Geometry) -> shapely.Geometry:
    return shapely.transform(geom, lambda xy: np.column_stack(TO_WGS84.transform(xy[:, 0], xy[:, 1])))


def geodesic_ha(boundary: dict) -> float:
    return abs(GEOD.geometry_area_perimeter(shapely.geometry.shape(boundary))[0]) / 10_000


def geojson_in_utm(features: list[tuple[str, shapely.Geometry]]) -> bytes:
    return json.dumps({
        "type": "FeatureCollection", "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::32650"}},
        "features": [{"type": "Feature", "properties": {"id": k, "crop": "maize"},
                      "geometry": shapely.geometry.mapping(g)} for k, g in features]}).encode()


def test_geojson_in_utm_is_reprojected_to_wgs84():
    """Two fields given in UTM 50N metres come back in longitude, latitude with their areas (4 ha, 2 ha)."""
    out = read_boundaries(geojson_in_utm([("north", utm_box(0, 0, 200, 200)), ("south", utm_box(0, -300, 100, 200))]))
    assert [f.key for f in out] == ["north", "south"]
    lon, lat = out[0].boundary["coordinates"][0][0]
    assert 116.9 < lon < 117.1 and 35.9 < lat < 36.1
    assert geodesic_ha(out[0].boundary) == pytest.approx(4.0, rel=1e-3)  # UTM's k = 0.9996 here
    assert geodesic_ha(out[1].boundary) == pytest.approx(2.0, rel=1e-3)


def test_kml_placemarks_are_named_and_lose_their_altitudes():
    """A KML placemark's name is its key; the Z of its coordinates is dropped."""
    ring = wgs84(utm_box(0, 0, 100, 100)).exterior.coords
    coords = " ".join(f"{x},{y},42" for x, y in ring)
    kml = f"""<?xml version="1.0" encoding="UTF-8"?>
<kml xmlns="http://www.opengis.net/kml/2.2"><Document><Placemark><name>east-7</name>
<Polygon><outerBoundaryIs><LinearRing><coordinates>{coords}</coordinates></LinearRing></outerBoundaryIs></Polygon>
</Placemark></Document></kml>"""
    (f,) = read_boundaries(kml.encode())
    assert f.key == "east-7"
    assert all(len(p) == 2 for p in f.boundary["coordinates"][0])
    assert geodesic_ha(f.boundary) == pytest.approx(1.0, rel=1e-3)


def _write_shapefile(path, features: list[tuple[str, shapely.Geometry]], crs: str | None = "EPSG:32650") -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "'crs' was not provided": the point of the no-.prj case
        pyogrio.raw.write(str(path), shapely.to_wkb(np.array([g for _, g in features], dtype=object)),
                          field_data=[np.array([k for k, _ in features], dtype=object)], fields=["FIELD_ID"],
                          geometry_type="Polygon", crs=crs, driver="ESRI Shapefile")


def test_a_shapefile_on_disk_and_zipped_with_a_named_key(tmp_path):
    """A Shapefile with its .prj, read from its path and as a zip's bytes, keyed by --key FIELD_ID."""
    shp = tmp_path / "fields.shp"
    _write_shapefile(shp, [("f-1", utm_box(0, 0, 300, 100))])
    (f,) = read_boundaries(str(shp), key="field_id")
    assert f.key == "f-1" and geodesic_ha(f.boundary) == pytest.approx(3.0, rel=1e-3)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for part in tmp_path.glob("fields.*"):
            z.write(part, part.name)
    (zipped,) = read_boundaries(buf.getvalue(), key="FIELD_ID")
    assert zipped.boundary == f.boundary


def test_a_shapefile_without_its_prj_in_metres_is_refused(tmp_path):
    """No .prj and coordinates that are not degrees: the error says the CRS is missing."""
    shp = tmp_path / "noprj.shp"
    _write_shapefile(shp, [("f-1", utm_box(0, 0, 300, 100))], crs=None)
    (tmp_path / "noprj.prj").unlink(missing_ok=True)
    with pytest.raises(ContractError) as e:
        read_boundaries(str(shp), key="FIELD_ID")
    assert ".prj" in e.value.reason


def test_bad_features_are_named():
    """A bow-tie, a point, a duplicate id, an empty id and a missing key attribute each name what is wrong."""
    bow = shapely.Polygon([(0, 0), (100, 100), (100, 0), (0, 100)])
    cases = [
        ([("a", utm_box(0, 0, 10, 10)), ("b", shapely.affinity.translate(bow, E0, N0))], "features.1.geometry",
         "Self-intersection"),
        ([("a", shapely.Point(E0, N0))], "features.0.geometry", "Polygon"),
        ([("a", utm_box(0, 0, 10, 10)), ("a", utm_box(20, 0, 10, 10))], "features.1.id", "twice"),
        ([(" ", utm_box(0, 0, 10, 10))], "features.0.id", "empty"),
    ]
    for features, field, words in cases:
        with pytest.raises(ContractError) as e:
            read_boundaries(geojson_in_utm(features))
        assert e.value.field == field and words in e.value.reason, (field, e.value)
    with pytest.raises(ContractError) as e:
        read_boundaries(geojson_in_utm([("a", utm_box(0, 0, 10, 10))]), key="parcel")
    assert e.value.field == "key" and "crop" in e.value.reason
    with pytest.raises(ContractError) as e:
        read_boundaries(b"this is no GIS file")
    assert e.value.field == "file"
