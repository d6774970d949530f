"""Boundary checks in PostGIS (cloud/fields/spatial.py) agree with shapely and pyproj in the service:
the same areas, the same share outside a field, and an invalid polygon refused with PostGIS's reason."""

from __future__ import annotations

import pytest
import shapely
from shapely.geometry import box

from furrow.cloud.db import Database
from furrow.cloud.fields.spatial import PostgisSpatial, ShapelySpatial, has_postgis, spatial_for
from furrow.edge.errors import ContractError
from tests.test_machinery_coverage import field

pytestmark = pytest.mark.postgres

# A 100 x 200 m field in Shandong, a ring-shaped field with a hole, a 1 x 1 degree square at 60 N.
SHAPES = [field(), field(400, 400).difference(box(*field(200, 200).buffer(-0.0002).bounds)),
          box(10.0, 60.0, 11.0, 61.0)]


@pytest.fixture
def postgis(pg_database):
    db = Database(pg_database)
    db.migrate()  # 0015 creates the extension
    try:
        yield db
    finally:
        db.dispose()


def test_postgis_and_shapely_give_the_same_areas(postgis):
    """Each shape's geodesic area from ST_Area(geography) is pyproj.Geod's to 1e-7."""
    assert has_postgis(postgis) and spatial_for(postgis).engine == "postgis"
    with postgis.sessions() as s:
        for shape in SHAPES:
            assert PostgisSpatial().area_ha(s, shape) == pytest.approx(ShapelySpatial().area_ha(s, shape), rel=1e-7)


def test_postgis_and_shapely_give_the_same_share_outside(postgis):
    """A zone two thirds outside its field and one inside: the same shares both ways (planar and geodesic
    ratios of a 200 m shape differ by less than 1e-5)."""
    big, half_out = field(100, 200), field(200, 100).difference(field(50, 100))
    inside = field(50, 50)
    with postgis.sessions() as s:
        for zone in (half_out, inside):
            assert PostgisSpatial().outside_share(s, zone, big) == pytest.approx(
                ShapelySpatial().outside_share(s, zone, big), abs=1e-5)
        assert PostgisSpatial().outside_share(s, inside, big) == pytest.approx(0, abs=1e-9)


def test_postgis_refuses_an_invalid_polygon_with_its_reason(postgis):
    """A bow-tie that reached PostGIS is refused naming the field and PostGIS's reason."""
    bow = shapely.Polygon([(117.0, 36.0), (117.001, 36.001), (117.001, 36.0), (117.0, 36.001)])
    with postgis.sessions() as s, pytest.raises(ContractError) as e:
        PostgisSpatial().area_ha(s, bow, field="features.3.geometry")
    assert e.value.field == "features.3.geometry" and "Self-intersection" in e.value.reason


def test_sqlite_uses_shapely(tmp_path):
    """SQLite has no PostGIS: the checks stay in the service."""
    db = Database(f"sqlite:///{tmp_path}/f.db")
    try:
        assert spatial_for(db).engine == "shapely"
    finally:
        db.dispose()
