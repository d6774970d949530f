"""The spatial checks on boundaries, done by the database that stores them when it can.

On PostgreSQL with the PostGIS extension (Debian's `postgresql-15-postgis-3`; migration 0015 creates
the extension where the server has it), the checks run in the same transaction as the write:
validity and its reason (ST_IsValid, ST_IsValidReason), the area on the WGS 84 spheroid
(ST_Area on geography) and the share of a zone outside its field (ST_Difference). On SQLite, or a
PostgreSQL without PostGIS, shapely (GEOS) and pyproj.Geod do the same sums in the service
(vigour/boundaries.py). The two agree: PostGIS uses GEOS for validity and the same geodesic area
algorithm as pyproj (Karney 2013, on the spheroid), which tests/test_fields_spatial.py checks on
one set of shapes.

GeoJSON's structure (types, coordinate ranges, the vertex cap) is checked once by
vigour/boundaries.parse_boundary before either engine sees a shape.
"""

from __future__ import annotations

import json
import logging
from typing import Protocol

from shapely.geometry.base import BaseGeometry
from sqlalchemy import text
from sqlalchemy.orm import Session

from furrow.edge.errors import ContractError

from ..db import Database
from ..vigour.boundaries import area_ha, as_geojson, outside_share

log = logging.getLogger(__name__)


class Spatial(Protocol):
    """Checks and measures of WGS 84 boundaries, inside a database session."""

    engine: str

    def area_ha(self, session: Session, geom: BaseGeometry, field: str = "boundary") -> float:
        """The boundary's geodesic area in hectares; ContractError(field) when it is not a valid polygon."""
        ...

    def outside_share(self, session: Session, zone: BaseGeometry, field: BaseGeometry) -> float:
        """The share of the zone's area outside the field (0: inside)."""
        ...


class ShapelySpatial:
    """shapely and pyproj in the service: SQLite, or PostgreSQL without PostGIS."""

    engine = "shapely"

    def area_ha(self, session: Session, geom: BaseGeometry, field: str = "boundary") -> float:
        return area_ha(geom)  # parse_boundary already refused an invalid polygon

    def outside_share(self, session: Session, zone: BaseGeometry, field: BaseGeometry) -> float:
        return outside_share(zone, field)


_GEOM = "ST_SetSRID(ST_GeomFromGeoJSON(CAST(:{0} AS text)), 4326)"


class PostgisSpatial:
    """PostGIS in the database: the checks run next to the rows they guard."""

    engine = "postgis"

    def area_ha(self, session: Session, geom: BaseGeometry, field: str = "boundary") -> float:
        row = session.execute(text(
            f"SELECT ST_IsValid(g), ST_IsValidReason(g), ST_Area(g::geography, true) FROM (SELECT {_GEOM.format('g')}"
            " AS g) AS s"), {"g": json.dumps(as_geojson(geom))}).one()
        if not row[0]:
            raise ContractError(field, None, f"not a valid polygon: {row[1]}")
        return float(row[2]) / 10_000

    def outside_share(self, session: Session, zone: BaseGeometry, field: BaseGeometry) -> float:
        share = session.execute(text(
            f"SELECT ST_Area(ST_Difference(z, f)::geography, true) / ST_Area(z::geography, true) "
            f"FROM (SELECT {_GEOM.format('z')} AS z, {_GEOM.format('f')} AS f) AS s"),
            {"z": json.dumps(as_geojson(zone)), "f": json.dumps(as_geojson(field))}).scalar_one()
        return float(share)


def has_postgis(db: Database) -> bool:
    """Whether the database is PostgreSQL with the PostGIS extension created in it."""
    if db.engine.dialect.name != "postgresql":
        return False
    with db.engine.connect() as conn:
        return conn.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'postgis'")).first() is not None


def spatial_for(db: Database) -> Spatial:
    """PostGIS where the database has it, shapely otherwise (logged once, so an operator knows which)."""
    if has_postgis(db):
        log.info("boundary checks: PostGIS in the database")
        return PostgisSpatial()
    if db.engine.dialect.name == "postgresql":
        log.warning("boundary checks: PostgreSQL without PostGIS, shapely in the service "
                    "(install postgresql-15-postgis-3 and run `furrow cloud migrate` to use PostGIS)")
    return ShapelySpatial()
