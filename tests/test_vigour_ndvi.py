"""Zone boundaries in the registry (GeoJSON, shapely, pyproj) and NDVI per zone from rasters written here with
rasterio: a drone GeoTIFF (red and NIR bands, or NDVI) and a Sentinel-2 L2A scene (B04, B08, SCL in a zip)."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
import rasterio
from PIL import Image
from pyproj import Transformer
from rasterio.transform import from_origin

from furrow.cloud.vigour.boundaries import area_ha, parse_boundary
from furrow.cloud.vigour.rasters import boa_offset, geotiff_ndvi, ndvi, sentinel2_ndvi
from furrow.edge.errors import ContractError
from tests.cloud_support import T0, local_settings, problem, running_app
from tests.test_cloud_planning import _weather_farm

UTM = "EPSG:32630"
TO_WGS84 = Transformer.from_crs(UTM, "EPSG:4326", always_xy=True)
E0, N0 = 676_000.0, 4_613_000.0  # a 10 m grid's corner in UTM 30N, near Zaragoza


def square(e: float, n: float, size: float) -> dict:
    """A GeoJSON Polygon in WGS 84 of the UTM square [e, e + size] x [n, n + size]."""
    corners = [(e, n), (e + size, n), (e + size, n + size), (e, n + size), (e, n)]
    return {"type": "Polygon", "coordinates": [[list(TO_WGS84.transform(x, y)) for x, y in corners]]}


# The field: 400 m square from the grid's corner + 100 m; the zone: its 200 m square at +200 m (20 x 20 pixels).
FIELD = square(E0 + 100, N0 - 500, 400)
ZONE = square(E0 + 200, N0 - 400, 200)


def tiff(bands: list[np.ndarray], res: float = 10.0, nodata: float | None = None) -> bytes:
    """A GeoTIFF in UTM 30N whose top-left corner is (E0, N0)."""
    buf = io.BytesIO()
    h, w = bands[0].shape
    with rasterio.open(buf, "w", driver="GTiff", width=w, height=h, count=len(bands), dtype=bands[0].dtype,
                       crs=UTM, transform=from_origin(E0, N0, res, res), nodata=nodata) as dst:
        for i, b in enumerate(bands, start=1):
            dst.write(b, i)
    return buf.getvalue()


def field_rasters() -> tuple[np.ndarray, np.ndarray]:
    """60 x 60 pixels of 10 m: reflectance red 0.05 / NIR 0.45 (NDVI 0.8) in the zone's west half, red 0.2 / NIR
    0.3 (NDVI 0.2) in its east half; bare soil (NDVI ~0.09) everywhere else."""
    red = np.full((60, 60), 0.25, np.float32)
    nir = np.full((60, 60), 0.30, np.float32)
    rows, west, east = slice(20, 40), slice(20, 30), slice(30, 40)  # the zone: rows 20-39, columns 20-39
    red[rows, west], nir[rows, west] = 0.05, 0.45
    red[rows, east], nir[rows, east] = 0.20, 0.30
    return red, nir


def test_boundaries_are_validated_and_measured():
    """A square of 200 m is 4 ha (geodesic); a bow tie, a point, latitude first, and 20,001 positions are refused."""
    assert area_ha(parse_boundary(ZONE)) == pytest.approx(4.0, rel=0.002)  # UTM's scale factor near 0.9997
    bow = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}
    with pytest.raises(ContractError, match="Self-intersection"):
        parse_boundary(bow)
    with pytest.raises(ContractError, match="Polygon or MultiPolygon"):
        parse_boundary({"type": "Point", "coordinates": [0, 0]})
    with pytest.raises(ContractError, match="longitude first"):
        parse_boundary({"type": "Polygon", "coordinates": [[[41.6, -0.9], [41.7, 95.0], [41.7, -0.8], [41.6, -0.9]]]})
    many = [[0.0001 * i, 0.0] for i in range(20_001)] + [[0, 1], [0, 0]]
    with pytest.raises(ContractError, match="at most 20000"):
        parse_boundary({"type": "Polygon", "coordinates": [many]})


def test_ndvi_from_red_and_nir_bands_over_the_zone():
    """The zone's 400 pixels: half at 0.8, half at 0.2; the soil around it is left out; a map comes back."""
    red, nir = field_rasters()
    stats = geotiff_ndvi(tiff([red, nir]), parse_boundary(ZONE), red_band=1, nir_band=2)
    assert stats.pixels == 400 and stats.valid_share == 1.0
    assert stats.mean == pytest.approx(0.5, abs=1e-4)
    assert stats.percentiles[10] == pytest.approx(0.2, abs=1e-4) and stats.percentiles[90] == pytest.approx(0.8)
    img = Image.open(io.BytesIO(stats.map_png))
    assert img.mode == "RGBA" and img.size == (20, 20)


def test_ndvi_band_with_nodata_counts_the_valid_share():
    """A single-band NDVI GeoTIFF (a drone's product) whose north quarter of the zone is nodata: 300 valid
    pixels, a valid share of 0.75, the statistics of the rest."""
    red, nir = field_rasters()
    band = ndvi(red, nir)
    band[20:25, 20:40] = -9999.0
    stats = geotiff_ndvi(tiff([band], nodata=-9999.0), parse_boundary(ZONE), ndvi_band=1)
    assert (stats.pixels, stats.valid_share) == (300, 0.75) and stats.mean == pytest.approx(0.5, abs=1e-4)


def s2_zip(baseline_offset: float, cloud: bool = True) -> bytes:
    """B04 and B08 as L2A digital numbers (reflectance x 10000 - offset) at 10 m, SCL at 20 m: vegetation (4)
    everywhere but a cloud (9) over the zone's 100 m by 200 m east half."""
    red, nir = field_rasters()
    dn = [np.round(b * 10_000 - baseline_offset).astype(np.uint16) for b in (red, nir)]
    scl = np.full((30, 30), 4, np.uint8)
    if cloud:
        scl[10:20, 15:20] = 9
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("IMG_DATA/R10m/T30TXM_20260615T105619_B04_10m.tif", tiff([dn[0]]))
        z.writestr("IMG_DATA/R10m/T30TXM_20260615T105619_B08_10m.tif", tiff([dn[1]]))
        z.writestr("IMG_DATA/R20m/T30TXM_20260615T105619_SCL_20m.tif", tiff([scl], res=20.0))
    return out.getvalue()


def test_sentinel2_scaling_offset_and_cloud_mask():
    """Baseline 05.10 (offset -1000): the cloud (SCL 9) over the east half leaves the west half, NDVI 0.8,
    valid share 0.5, class 9 counted; read as baseline 03.01 (no offset) the same numbers give another NDVI."""
    zone = parse_boundary(ZONE)
    stats = sentinel2_ndvi(s2_zip(-1000), zone, "05.10")
    assert (stats.pixels, stats.valid_share) == (200, 0.5) and stats.mean == pytest.approx(0.8, abs=1e-4)
    assert stats.detail["boa_add_offset"] == -1000.0 and stats.detail["masked_by_scl_class"] == {9: 200}
    wrong = sentinel2_ndvi(s2_zip(-1000), zone, "03.01")
    assert wrong.mean == pytest.approx((5500 - 1500) / (5500 + 1500), abs=1e-3)
    assert boa_offset("04.00") == -1000 and boa_offset("02.14") == 0


def test_a_raster_that_misses_the_zone_or_is_no_raster_is_refused():
    """A raster far from the zone, a body GDAL cannot read and a zip without B08 are refused naming why."""
    red, nir = field_rasters()
    far = square(E0 + 50_000, N0 - 400, 200)
    with pytest.raises(ContractError, match="does not cover"):
        geotiff_ndvi(tiff([red, nir]), parse_boundary(far), red_band=1, nir_band=2)
    with pytest.raises(ContractError, match="not a raster"):
        geotiff_ndvi(b"II*\x00garbage", parse_boundary(ZONE), ndvi_band=1)
    only_red = io.BytesIO()
    with zipfile.ZipFile(only_red, "w") as z:
        z.writestr("T_B04_10m.tif", tiff([red]))
    with pytest.raises(ContractError, match="no B08"):
        sentinel2_ndvi(only_red.getvalue(), parse_boundary(ZONE), "05.10")


async def test_boundaries_and_ndvi_through_the_api(tmp_path):
    """Boundaries are set (field, then zone inside it; a zone outside is 422, a field shrunk past its zone 409);
    NDVI before a boundary is 409; a Sentinel-2 zip and a GeoTIFF become the zone's NDVI series, each once per
    ref, with a PNG map; the zone shows its boundary and area."""
    async with running_app(local_settings(tmp_path)) as c:
        await _weather_farm(c)
        r = await c.post("/api/v1/ndvi/geotiff", content=tiff(list(field_rasters())),
                         params={"zone": "z1", "at": T0, "ref": "drone-1", "red_band": 1, "nir_band": 2},
                         headers={"Content-Type": "image/tiff"})
        assert r.status_code == 409 and "no boundary" in problem(r)["reason"]
        assert (await c.put("/api/v1/registry/fields/f1/boundary", json=FIELD)).status_code == 200
        r = await c.put("/api/v1/registry/zones/z1/boundary", json=square(E0 + 450, N0 - 400, 200))
        assert r.status_code == 422 and "outside field f1" in problem(r)["reason"]
        r = await c.put("/api/v1/registry/zones/z1/boundary", json=ZONE)
        assert r.status_code == 200 and r.json()["boundary_area_ha"] == pytest.approx(4.0, rel=0.002)
        r = await c.put("/api/v1/registry/fields/f1/boundary", json=square(E0 + 100, N0 - 500, 150))
        assert r.status_code == 409 and "zone z1" in problem(r)["reason"]
        zone = (await c.get("/api/v1/registry/zones/z1")).json()
        assert zone["boundary"]["type"] == "Polygon" and zone["boundary_area_ha"] == pytest.approx(4.0, rel=0.002)

        s2 = await c.post("/api/v1/ndvi/sentinel2", content=s2_zip(-1000), headers={"Content-Type": "application/zip"},
                          params={"zone": "z1", "at": T0 + 86_400_000, "ref": "S2B_MSIL2A_x", "baseline": "05.10"})
        assert s2.status_code == 201, s2.text
        assert (s2.json()["mean"], s2.json()["valid_share"], s2.json()["source"]) == (0.8, 0.5, "sentinel2-l2a")
        drone = await c.post("/api/v1/ndvi/geotiff", content=tiff(list(field_rasters())),
                             params={"zone": "z1", "at": T0, "ref": "drone-1", "red_band": 1, "nir_band": 2},
                             headers={"Content-Type": "image/tiff"})
        again = await c.post("/api/v1/ndvi/geotiff", content=tiff(list(field_rasters())),
                             params={"zone": "z1", "at": T0, "ref": "drone-1", "red_band": 1, "nir_band": 2},
                             headers={"Content-Type": "image/tiff"})
        assert drone.status_code == 201 and again.json()["id"] == drone.json()["id"]
        series = (await c.get("/api/v1/zones/z1/ndvi", params={"start": 0, "end": T0 + 10 * 86_400_000})).json()
        assert [(x["ref"], x["mean"]) for x in series] == [("drone-1", 0.5), ("S2B_MSIL2A_x", 0.8)]
        png = await c.get(f"/api/v1/zones/z1/ndvi/{series[0]['id']}/map")
        assert png.headers["content-type"] == "image/png" and png.content.startswith(b"\x89PNG")
        r = await c.post("/api/v1/ndvi/sentinel2", content=b"not a zip", headers={"Content-Type": "application/zip"},
                         params={"zone": "z1", "at": T0, "ref": "bad", "baseline": "05.10"})
        assert r.status_code == 422 and problem(r)["field"] == "scene"
