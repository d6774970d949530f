"""Worked area from a track (cloud/machinery/coverage.py), on geometry a person can compute by hand.

The field and the passes are laid out in metres on the ground in the UTM plane of a point 234 km west
of its zone's central meridian (scale factor ~1.0003), then turned into WGS 84 fixes, so each test
also proves that the projection and the scale correction give back ground metres.
"""

from dataclasses import replace

import pytest
from pyproj import Geod
from shapely.geometry import Point, Polygon, box

from furrow.cloud.machinery.coverage import RESOLUTION_M, Fix, LocalPlane, resolution_m, utm_crs, worked_area
from furrow.edge.errors import ContractError

LON0, LAT0 = 114.4, 36.0  # UTM zone 50 (central meridian 117 E), Hebei: 234 km west of it, k = 1.0003
PLANE = LocalPlane(LON0, LAT0)
X0, Y0 = PLANE.points([Fix(0, LON0, LAT0, True)])[0]
T0 = 1_780_000_000_000


def ground(x: float, y: float) -> tuple[float, float]:
    """WGS 84 (lon, lat) of the point x, y metres on the ground east and north of the origin."""
    p = PLANE.to_wgs84(Point(X0 + x * PLANE.scale, Y0 + y * PLANE.scale))
    return p.x, p.y


def field(w: float = 100, h: float = 200) -> Polygon:
    corners = [(0, 0), (w, 0), (w, h), (0, h)]
    return Polygon([ground(x, y) for x, y in corners])


def run(x: float, y0: float, y1: float, t0_s: float = 0, down: bool = True, step_m: float = 2,
        speed_m_s: float = 2) -> list[Fix]:
    """Fixes along x from y0 to y1 every step_m metres at speed_m_s (one fix a second at 2 m/s)."""
    n = round(abs(y1 - y0) / step_m)
    sign = 1 if y1 >= y0 else -1
    out = []
    for i in range(n + 1):
        lon, lat = ground(x, y0 + sign * i * step_m)
        out.append(Fix(T0 + round(1000 * (t0_s + i * step_m / speed_m_s)), lon, lat, down))
    return out


def back_and_forth(xs: list[float], h: float = 200) -> list[Fix]:
    fixes: list[Fix] = []
    t = 0.0
    for k, x in enumerate(xs):
        y0, y1 = (0, h) if k % 2 == 0 else (h, 0)
        fixes += run(x, y0, y1, t0_s=t)
        last = fixes[-1]
        fixes.append(Fix(last.t_ms + 1000, last.lon, last.lat, False))  # lifted for the headland turn
        t += h / 2 + 20  # 20 s turning between passes
    return fixes


def test_adjacent_passes_cover_the_whole_field_once():
    """Ten 10 m passes side by side over a 100 x 200 m field: 2 ha covered, no overlap, no skip, 1000 s at 7.2 km/h."""
    c = worked_area(back_and_forth([5 + 10 * k for k in range(10)]), 10, field())
    assert c.field_ha == pytest.approx(2.0, rel=1e-6)
    assert c.covered_ha == pytest.approx(2.0, rel=1e-6)
    assert c.covered_pct == pytest.approx(100.0, rel=1e-6)
    assert c.overlap_ha == pytest.approx(0, abs=1e-6)
    assert c.skipped_ha == pytest.approx(0, abs=1e-6)
    assert c.passes == 10
    assert c.work_s == pytest.approx(1000)
    assert c.work_distance_m == pytest.approx(2000, rel=1e-6)
    assert c.speed_kmh == pytest.approx(7.2, rel=1e-6)
    assert c.capacity_ha_h == pytest.approx(2.0 / (1000 / 3600), rel=1e-6)


def test_passes_8_m_apart_with_a_10_m_implement_overlap_by_2_m():
    """Passes at x = 5 and 13 with a 10 m implement: 0.36 ha covered, 0.04 ha (2 x 200 m) worked twice."""
    c = worked_area(back_and_forth([5, 13]), 10, field())
    assert c.covered_ha == pytest.approx(0.36, rel=1e-6)
    assert c.gross_ha == pytest.approx(0.40, rel=1e-6)
    assert c.overlap_ha == pytest.approx(0.04, rel=1e-5)
    assert c.skipped_ha == pytest.approx(0, abs=1e-6)


def test_three_passes_over_the_same_ground_count_the_extra_two():
    """Worked three times counts twice in the overlap: 0.2 ha covered, 0.4 ha overlap."""
    c = worked_area(back_and_forth([5, 5, 5]), 10, field())
    assert c.covered_ha == pytest.approx(0.2, rel=1e-6)
    assert c.overlap_ha == pytest.approx(0.4, rel=1e-6)


def test_a_strip_missed_between_passes_is_skipped_and_the_unreached_field_is_not():
    """Passes at x = 5 and 17 leave a 2 m strip: 0.04 ha skipped; the 60 m not reached yet is not skipped."""
    c = worked_area(back_and_forth([5, 17]), 10, field())
    assert c.covered_ha == pytest.approx(0.40, rel=1e-6)
    assert c.skipped_ha == pytest.approx(0.04, rel=1e-5)
    assert c.covered_pct == pytest.approx(20.0, rel=1e-6)
    # its shape (the map draws it, WGS 84) is that strip: x 10..12 m, the field's 200 m, 0.04 ha on the ellipsoid
    strip = Polygon([ground(x, y) for x, y in [(10, 0), (12, 0), (12, 200), (10, 200)]])
    assert abs(Geod(ellps="WGS84").geometry_area_perimeter(c.skipped)[0]) / 1e4 == pytest.approx(0.04, rel=1e-4)
    assert c.skipped.symmetric_difference(strip).area < 1e-4 * strip.area


def test_a_sliver_the_receiver_cannot_resolve_is_closed_and_a_wider_skip_is_still_skipped():
    """10 m passes at x = 5, 15.5 and 28.5: a 0.5 m sliver (10..10.5) and a 3 m strip (20.5..23.5) between them.
    A DGPS track (GGA quality 2, r = 1.06 m: gaps under 2r = 2.12 m closed) reads the sliver as covered:
    30.5 m x 200 m = 0.61 ha covered, the 3 m strip 0.06 ha skipped. An RTK fixed track (r = 0.04 m) and a
    track file without fix quality (not closed) resolve the sliver: 0.60 ha covered, 0.07 ha skipped."""
    track = back_and_forth([5, 15.5, 28.5])
    dgps = worked_area([replace(f, quality=2) for f in track], 10, field())
    assert dgps.resolution_m == RESOLUTION_M[2] == 1.06
    # the sliver's two mouths on the field's edge keep a corner the 1.06 m disc does not reach: under 1 m2
    assert dgps.covered_ha == pytest.approx(0.61, abs=1e-4)
    assert dgps.skipped_ha == pytest.approx(0.06, abs=1e-4)
    assert dgps.overlap_ha == pytest.approx(0, abs=1e-6)
    for fixes, r in (([replace(f, quality=4) for f in track], 0.04), (track, 0.0)):
        c = worked_area(fixes, 10, field())
        assert c.resolution_m == r
        assert c.covered_ha == pytest.approx(0.60, rel=1e-6)
        assert c.skipped_ha == pytest.approx(0.07, rel=1e-4)


def test_the_resolution_is_the_median_over_the_fixes_at_work_of_known_quality():
    """Three RTK fixed fixes and two DGPS at work give r = 0.04 m; the implement-up fixes (autonomous GPS, 8 m)
    and those of unknown quality (None, 0 no fix, 6 dead reckoning) do not count; two and two give the lower
    median; none known gives 0."""
    def fix(quality, down=True):
        return Fix(T0, LON0, LAT0, down, quality)

    at_work = [fix(4), fix(4), fix(4), fix(2), fix(2)]
    assert resolution_m(at_work + [fix(1, down=False)] * 9 + [fix(None), fix(0), fix(6)]) == 0.04
    assert resolution_m([fix(2), fix(2), fix(4), fix(4)]) == 0.04
    assert resolution_m([fix(1), fix(1), fix(5)]) == 8.0
    assert resolution_m([fix(None), fix(0)]) == 0.0


def test_swaths_outside_the_field_are_clipped():
    """A pass running 20 m past both ends of the field covers only its 10 x 200 m inside, and the overlap
    with a second pass outside the field does not count."""
    fixes = run(5, -20, 220) + run(5, 220, 210, t0_s=400)  # back over ground outside the field
    c = worked_area(fixes, 10, field())
    assert c.covered_ha == pytest.approx(0.2, rel=1e-6)
    assert c.overlap_ha == pytest.approx(0, abs=1e-6)


def test_fixes_with_the_implement_up_work_nothing():
    """Down for the first 100 m, up for the next 100 m: 0.1 ha worked, 50 s at work."""
    fixes = run(5, 0, 100) + run(5, 102, 200, t0_s=51, down=False)
    c = worked_area(fixes, 10, field())
    assert c.covered_ha == pytest.approx(0.1, rel=1e-6)
    assert c.work_s == pytest.approx(50)
    assert c.passes == 1


def test_a_short_dropout_is_bridged_and_a_long_one_breaks_the_pass():
    """No fixes between y = 80 and 120: after 20 s the path is taken as straight (0.2 ha); after 60 s it is
    unknown and the 40 m between is not worked (0.16 ha)."""
    short = run(5, 0, 80) + run(5, 120, 200, t0_s=60)
    long = run(5, 0, 80) + run(5, 120, 200, t0_s=100)
    assert worked_area(short, 10, field()).covered_ha == pytest.approx(0.2, rel=1e-6)
    c = worked_area(long, 10, field())
    assert c.covered_ha == pytest.approx(0.16, rel=1e-6)
    assert c.passes == 2


def test_a_gnss_jump_breaks_the_pass_instead_of_painting_a_swath():
    """One fix 500 m away a second after the last sweeps no ground across the field."""
    lon, lat = ground(500, 100)
    jump = Fix(run(5, 0, 100)[-1].t_ms + 1000, lon, lat, True)
    fixes = run(5, 0, 100) + [jump] + run(5, 100, 200, t0_s=52)
    c = worked_area(fixes, 10, field(600, 200))
    assert c.covered_ha == pytest.approx(0.2, rel=1e-4)


def test_the_scale_corrected_plane_area_matches_the_geodesic_area():
    """A 1 x 1 km field's area from the UTM plane (divided by k squared) is the WGS 84 geodesic area to 0.01%."""
    f = field(1000, 1000)
    geodesic_ha = abs(Geod(ellps="WGS84").geometry_area_perimeter(f)[0]) / 10_000
    assert worked_area([], 10, f).field_ha == pytest.approx(geodesic_ha, rel=1e-4)
    assert PLANE.areal_scale == pytest.approx(PLANE.scale**2, rel=1e-9)
    assert PLANE.scale > 1.0002  # off the central meridian: the correction matters


def test_utm_zone_follows_longitude_and_hemisphere():
    """116.4 E, 39.9 N is zone 50 north (EPSG 32650); 147 E, 42 S is zone 55 south (EPSG 32755)."""
    assert utm_crs(116.4, 39.9).to_epsg() == 32650
    assert utm_crs(147.0, -42.0).to_epsg() == 32755
    assert utm_crs(180.0, 0.0).to_epsg() == 32660


def test_the_covered_ground_comes_back_in_wgs84():
    """The covered polygon is in longitude, latitude, inside the field's bounding box."""
    c = worked_area(back_and_forth([5, 15]), 10, field())
    minx, miny, maxx, maxy = field().bounds
    assert box(minx - 1e-9, miny - 1e-9, maxx + 1e-9, maxy + 1e-9).contains(c.covered)


def test_bad_width_and_backward_time_are_named():
    """A zero width names width_m; a fix earlier than the one before names its index."""
    with pytest.raises(ContractError) as e:
        worked_area(run(5, 0, 10), 0, field())
    assert e.value.field == "width_m"
    fixes = run(5, 0, 10)
    fixes[3] = Fix(fixes[1].t_ms - 1, fixes[3].lon, fixes[3].lat, True)
    with pytest.raises(ContractError) as e:
        worked_area(fixes, 10, field())
    assert e.value.field == "track.3.time"
