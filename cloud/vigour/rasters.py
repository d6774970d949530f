"""NDVI over a zone from the rasters an agronomist brings: a Sentinel-2 L2A scene or a GeoTIFF
(a drone orthomosaic, red and NIR bands or NDVI itself), reduced to the zone's statistics and a map.

NDVI = (NIR - red) / (NIR + red) (Rouse et al. 1974), on reflectances.

Sentinel-2 L2A (ESA's product format): B04 (red) and B08 (NIR) at 10 m hold digital numbers;
reflectance = (DN + BOA_ADD_OFFSET) / 10000 (BOA_QUANTIFICATION_VALUE). From processing baseline
04.00 (scenes from 25 January 2022) the offset is -1000, before it 0; a product's own MTD_MSIL2A.xml
states it per band, and a given offset wins. DN 0 is no data. The scene classification (SCL, 20 m,
read onto the 10 m grid by nearest neighbour) keeps only vegetation (4), bare soil (5), water (6)
and unclassified (7): no data (0), saturated or defective (1), dark area (2), cloud shadow (3),
cloud of medium and high probability (8, 9), thin cirrus (10) and snow (11) are left out.

The zone's boundary (WGS 84) is reprojected to the raster's CRS (pyproj), only the window around it
is read, and a pixel belongs to the zone when its centre is inside (rasterio.features.geometry_mask).
The statistics are over the zone's valid pixels: mean, 10/25/50/75/90th percentiles, their count,
and the valid share of the zone's pixels (what clouds, shadow and no data left).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import rasterio
from PIL import Image
from pyproj import Transformer
from rasterio.enums import Resampling
from rasterio.features import geometry_mask
from rasterio.io import MemoryFile, ZipMemoryFile
from rasterio.windows import Window, from_bounds
from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry

from furrow.edge.errors import ContractError

from .boundaries import reproject

QUANTIFICATION = 10_000.0
SCL_VALID = (4, 5, 6, 7)
MAP_PX = 256


def boa_offset(baseline: str) -> float:
    """BOA_ADD_OFFSET for a processing baseline "NN.NN": -1000 from 04.00 on, else 0 (module docstring)."""
    try:
        major, minor = (int(x) for x in baseline.split("."))
    except ValueError:
        raise ContractError("baseline", baseline, "must be a processing baseline such as 05.10") from None
    return -1000.0 if (major, minor) >= (4, 0) else 0.0


def ndvi(red: np.ndarray, nir: np.ndarray) -> np.ndarray:
    """NDVI of reflectances, float32; NaN where red + NIR is not positive."""
    red, nir = red.astype(np.float32), nir.astype(np.float32)
    total = nir + red
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(total > 0, (nir - red) / total, np.nan)
    return np.clip(out, -1.0, 1.0).astype(np.float32)


@dataclass(frozen=True)
class ZoneNdvi:
    """The zone's NDVI statistics from one raster, and how they were made."""

    mean: float | None
    percentiles: dict[int, float | None]
    pixels: int
    valid_share: float
    map_png: bytes | None
    detail: dict[str, Any] = field(default_factory=dict)


def _window(src: rasterio.DatasetReader, zone: BaseGeometry, label: str) -> tuple[Window, BaseGeometry]:
    if src.crs is None:
        raise ContractError(label, src.name, "the raster has no coordinate reference system")
    to_raster = Transformer.from_crs("EPSG:4326", src.crs, always_xy=True)
    local = reproject(zone, to_raster)
    left, bottom, right, top = local.bounds
    b = src.bounds
    if right <= b.left or left >= b.right or top <= b.bottom or bottom >= b.top:
        raise ContractError(label, src.name, "the raster does not cover the zone's boundary")
    win = from_bounds(left, bottom, right, top, src.transform).round_offsets().round_lengths()
    win = win.intersection(Window(0, 0, src.width, src.height))
    return win, local


def _stats(values: np.ndarray, inside: np.ndarray, detail: dict[str, Any]) -> ZoneNdvi:
    valid = inside & np.isfinite(values)
    n_in, n = int(inside.sum()), int(valid.sum())
    if n_in == 0:
        raise ContractError("boundary", None, "no pixel centre of the raster falls inside the zone")
    picked = values[valid]
    pct = {p: (round(float(np.percentile(picked, p)), 4) if n else None) for p in (10, 25, 50, 75, 90)}
    return ZoneNdvi(mean=round(float(picked.mean()), 4) if n else None, percentiles=pct, pixels=n,
                    valid_share=round(n / n_in, 4), map_png=ndvi_map(values, valid), detail=detail)


def ndvi_map(values: np.ndarray, valid: np.ndarray) -> bytes:
    """A small PNG of NDVI (brown at 0 and below, yellow at 0.4, green at 0.8 and above); transparent
    where there is no valid pixel of the zone."""
    v = np.clip(np.nan_to_num(values, nan=0.0), 0.0, 0.8) / 0.8
    stops = np.array([[140, 100, 60], [230, 210, 90], [30, 130, 40]], np.float32)
    low = np.clip(v * 2, 0, 1)[..., None]
    high = np.clip(v * 2 - 1, 0, 1)[..., None]
    rgb = np.where(v[..., None] < 0.5, stops[0] + (stops[1] - stops[0]) * low, stops[1] + (stops[2] - stops[1]) * high)
    rgba = np.dstack([rgb.astype(np.uint8), np.where(valid, 255, 0).astype(np.uint8)])
    img = Image.fromarray(rgba, "RGBA")
    img.thumbnail((MAP_PX, MAP_PX), Image.Resampling.NEAREST)
    out = io.BytesIO()
    img.save(out, "PNG", optimize=True)
    return out.getvalue()


@contextmanager
def _open(data: bytes, label: str) -> Iterator[rasterio.DatasetReader]:
    try:
        with MemoryFile(data) as mem, mem.open() as src:
            yield src
    except rasterio.errors.RasterioIOError as e:
        raise ContractError(label, f"{len(data)} bytes", f"not a raster GDAL can read: {e}"[:200]) from None


def geotiff_ndvi(data: bytes, zone: BaseGeometry, red_band: int | None = None, nir_band: int | None = None,
                 ndvi_band: int | None = None) -> ZoneNdvi:
    """A GeoTIFF (a drone orthomosaic): NDVI from its red and NIR bands (1-based; any common scale, as
    NDVI is a ratio), or the band that already holds NDVI; nodata pixels left out."""
    if (ndvi_band is None) == (red_band is None or nir_band is None):
        raise ContractError("bands", [red_band, nir_band, ndvi_band], "give red_band and nir_band, or ndvi_band")
    with _open(data, "raster") as src:
        for name, b in (("red_band", red_band), ("nir_band", nir_band), ("ndvi_band", ndvi_band)):
            if b is not None and not 1 <= b <= src.count:
                raise ContractError(name, b, f"the raster has bands 1..{src.count}")
        win, local = _window(src, zone, "raster")
        inside = geometry_mask([mapping(local)], (int(win.height), int(win.width)), src.window_transform(win),
                               invert=True)
        if ndvi_band is not None:
            values = src.read(ndvi_band, window=win, masked=True).astype(np.float32).filled(np.nan)
            values = np.where((values >= -1) & (values <= 1), values, np.nan).astype(np.float32)
        else:
            red = src.read(red_band, window=win, masked=True).astype(np.float32)
            nir = src.read(nir_band, window=win, masked=True).astype(np.float32)
            values = ndvi(red.filled(np.nan), nir.filled(np.nan))
        detail = {"crs": str(src.crs), "pixel_size": [abs(src.res[0]), abs(src.res[1])],
                  "bands": {"red": red_band, "nir": nir_band, "ndvi": ndvi_band}}
    return _stats(values, inside, detail)


def _band(names: list[str], tag: str) -> str | None:
    hits = [n for n in names if f"_{tag}" in n.upper() or n.upper().startswith(f"{tag}")]
    return hits[0] if hits else None


def sentinel2_ndvi(zip_data: bytes, zone: BaseGeometry, baseline: str, offset: float | None = None) -> ZoneNdvi:
    """A zip of a Sentinel-2 L2A scene's B04 and B08 (10 m) and SCL (20 m) files, as in the SAFE's
    IMG_DATA (JP2 or GeoTIFF; names holding _B04, _B08, _SCL): the zone's NDVI (module docstring)."""
    import zipfile

    try:
        names = [n for n in zipfile.ZipFile(io.BytesIO(zip_data)).namelist() if not n.endswith("/")]
    except zipfile.BadZipFile:
        raise ContractError("scene", f"{len(zip_data)} bytes", "not a zip of the scene's band files") from None
    add = boa_offset(baseline) if offset is None else offset
    with ZipMemoryFile(zip_data) as z:
        paths = {tag: _band(names, tag) for tag in ("B04", "B08", "SCL")}
        for tag in ("B04", "B08"):
            if paths[tag] is None:
                raise ContractError("scene", sorted(names)[:10], f"no {tag} band file in the zip")
        with z.open(paths["B04"]) as red_src, z.open(paths["B08"]) as nir_src:
            if (red_src.transform, red_src.shape) != (nir_src.transform, nir_src.shape):
                raise ContractError("scene", paths["B08"], "B04 and B08 are not on the same 10 m grid")
            win, local = _window(red_src, zone, "scene")
            shape = (int(win.height), int(win.width))
            inside = geometry_mask([mapping(local)], shape, red_src.window_transform(win), invert=True)
            dn_red = red_src.read(1, window=win).astype(np.float32)
            dn_nir = nir_src.read(1, window=win).astype(np.float32)
            nodata = (dn_red == 0) | (dn_nir == 0)
            values = ndvi((dn_red + add) / QUANTIFICATION, (dn_nir + add) / QUANTIFICATION)
            values[nodata] = np.nan
            masked_by = {}
            if paths["SCL"] is not None:
                with z.open(paths["SCL"]) as scl_src:
                    bounds = rasterio.windows.bounds(win, red_src.transform)
                    scl_win = from_bounds(*bounds, scl_src.transform)
                    scl = scl_src.read(1, window=scl_win, out_shape=shape, resampling=Resampling.nearest,
                                       boundless=True, fill_value=0)
                bad = ~np.isin(scl, SCL_VALID)
                masked_by = {int(c): int(((scl == c) & inside).sum()) for c in np.unique(scl[bad & inside])}
                values[bad] = np.nan
            detail = {"crs": str(red_src.crs), "baseline": baseline, "boa_add_offset": add,
                      "quantification": QUANTIFICATION, "scl": paths["SCL"] is not None,
                      "scl_valid": list(SCL_VALID), "masked_by_scl_class": masked_by,
                      "files": {k: v for k, v in paths.items() if v}}
    return _stats(values, inside, detail)
