"""What the crop-vigour routes take and give."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class CoverIn(BaseModel):
    """A canopy cover a person measured (a Canopeo app, a transect): it drives the balance as a photo's does."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"cover_pct": 42.5, "at": "2026-06-12T10:00:00+02:00", "method": "Canopeo app, 5 photos along row 12"}]})

    cover_pct: float = Field(ge=0, le=100, description="green canopy cover, % of the ground")
    at: str | int | None = Field(default=None, description="when it was measured, ISO 8601 or Unix ms; default now")
    method: str = Field(default="manual", min_length=1, max_length=40, description="how it was measured")


class CoverOut(BaseModel):
    """One measured cover of a zone."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    zone_id: str
    ts_ms: int
    cover_pct: float
    source: str = Field(description="photo (a canopy photo, Canopeo) or manual")
    ref: str = Field(description="image:<id> for a photo; what it was measured from")
    node: str | None = Field(description="the camera node, for a photo")
    pixels: int | None
    method: str
    by: str


class BoundaryOut(BaseModel):
    """A field's or zone's boundary as stored: GeoJSON (WGS 84) and its geodesic area."""

    id: str
    boundary: dict
    boundary_area_ha: float


class NdviOut(BaseModel):
    """A zone's NDVI from one raster: statistics of its valid pixels (the map at .../ndvi/{id}/map)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    zone_id: str
    ts_ms: int = Field(description="when the scene was acquired")
    source: str = Field(description="sentinel2-l2a or geotiff")
    ref: str
    mean: float | None
    p10: float | None
    p25: float | None
    p50: float | None
    p75: float | None
    p90: float | None
    pixels: int = Field(description="the zone's valid pixels")
    valid_share: float = Field(description="valid pixels over the zone's pixels (clouds, shadow, no data left out)")
    detail: dict = Field(description="CRS, scaling and offset, bands, mask classes: how the numbers were made")
    by: str
