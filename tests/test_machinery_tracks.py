"""Machine tracks from GPX and CSV files (cloud/machinery/tracks.py): what is read, and errors that name
the line or point and the value."""

import json

import pytest

from furrow.cloud.machinery import tracks
from furrow.cloud.machinery.tracks import read_csv, read_gpx, read_track
from furrow.edge.errors import ContractError

GPX = """<?xml version="1.0" encoding="UTF-8"?>
<gpx version="1.1" creator="a tractor terminal" xmlns="http://www.topografix.com/GPX/1/1">
  <trk><name>drilling</name>
    <trkseg>
      <trkpt lat="36.00010" lon="115.20010"><ele>41.2</ele><time>2026-04-20T06:00:00Z</time></trkpt>
      <trkpt lat="36.00020" lon="115.20010"><time>2026-04-20T06:00:01Z</time></trkpt>
    </trkseg>
    <trkseg>
      <trkpt lat="36.00030" lon="115.20010"><time>2026-04-20T06:05:00Z</time></trkpt>
      <trkpt lat="36.00040" lon="115.20010"><time>2026-04-20T06:05:01Z</time></trkpt>
    </trkseg>
  </trk>
</gpx>"""
T = 1_776_664_800_000  # 2026-04-20T06:00:00Z


def test_gpx_points_are_read_in_order_with_a_break_between_segments():
    """Four points of two segments: all down, with one up fix between the segments (a pass break)."""
    fixes = read_gpx(GPX)
    assert [(f.t_ms - T, f.lat, f.down) for f in fixes] == [
        (0, 36.0001, True), (1000, 36.0002, True), (1000, 36.0002, False), (300_000, 36.0003, True),
        (301_000, 36.0004, True)]
    assert fixes[0].lon == 115.2001


def test_gpx_errors_name_the_point():
    """A point without a time, a latitude out of range, and a file that is not GPX are named."""
    with pytest.raises(ContractError) as e:
        read_gpx(GPX.replace("<time>2026-04-20T06:00:01Z</time>", ""))
    assert e.value.field == "track.trkpt 1.time"
    with pytest.raises(ContractError) as e:
        read_gpx(GPX.replace('lat="36.00030"', 'lat="96.1"'))
    assert (e.value.field, e.value.value) == ("track.trkpt 2.lat", 96.1)
    with pytest.raises(ContractError) as e:
        read_gpx("<kml/>")
    assert e.value.field == "track" and "gpx" in e.value.reason
    with pytest.raises(ContractError):
        read_gpx("<gpx><trk>")


def test_csv_reads_iso_or_unix_times_and_the_implement_state():
    """ISO 8601 and Unix ms times, latitude/longitude names in any case, implement down/up/1/0."""
    text = ("Time,Latitude,Longitude,Implement\n"
            f"2026-04-20T06:00:00Z,36.0001,115.2001,down\n{T + 1000},36.0002,115.2001,0\n"
            f"{T + 2000},36.0003,115.2001,ON\n")
    fixes = read_csv(text)
    assert [(f.t_ms - T, f.lat, f.down) for f in fixes] == [(0, 36.0001, True), (1000, 36.0002, False),
                                                             (2000, 36.0003, True)]


def test_csv_without_an_implement_column_is_all_worked():
    """No implement column: every fix is down."""
    assert all(f.down for f in read_csv(f"time,lat,lon\n{T},36,115\n{T + 1000},36.0001,115\n"))


def test_csv_errors_name_the_line_and_column():
    """A missing column, a bad number, a bad implement value and a bad time each name the line."""
    with pytest.raises(ContractError) as e:
        read_csv(f"time,lat\n{T},36\n")
    assert e.value.field == "track.header" and "lon" in e.value.reason
    with pytest.raises(ContractError) as e:
        read_csv(f"time,lat,lon\n{T},36,115\n{T},north,115\n")
    assert (e.value.field, e.value.value) == ("track.line 3.lat", "north")
    with pytest.raises(ContractError) as e:
        read_csv(f"time,lat,lon,implement\n{T},36,115,half\n")
    assert (e.value.field, e.value.value) == ("track.line 2.implement", "half")
    with pytest.raises(ContractError) as e:
        read_csv("time,lat,lon\nyesterday,36,115\n")
    assert e.value.field == "track.line 2.time"
    with pytest.raises(ContractError) as e:
        read_csv("time,lat,lon\n")
    assert e.value.reason == "holds no positions"


def test_a_track_longer_than_the_limit_is_refused(monkeypatch):
    """Past MAX_FIXES positions the import stops, naming the count."""
    monkeypatch.setattr(tracks, "MAX_FIXES", 3)
    rows = "".join(f"{T + i * 1000},36,115\n" for i in range(4))
    with pytest.raises(ContractError) as e:
        read_csv("time,lat,lon\n" + rows)
    assert (e.value.field, e.value.value) == ("track", 4)
    with pytest.raises(ContractError):
        read_gpx(GPX)


def test_unknown_format_is_named():
    """Only gpx, csv and geojson are track formats."""
    with pytest.raises(ContractError) as e:
        read_track("kml", "x")
    assert e.value.field == "track_format"


def geojson_points(*points: tuple) -> str:
    return json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]}, "properties": props}
        for lon, lat, props in points]})


def test_geojson_points_with_time_and_implement():
    """Point features in order, ISO or Unix ms times, implement up/down (default down)."""
    fixes = read_track("geojson", geojson_points((115.2, 36.0, {"time": "2026-04-20T06:00:00Z"}),
                                                 (115.2, 36.0001, {"time": T + 1000, "implement": "up"})))
    assert [(f.t_ms - T, f.lon, f.lat, f.down) for f in fixes] == [(0, 115.2, 36.0, True),
                                                                   (1000, 115.2, 36.0001, False)]


def test_geojson_errors_name_the_feature():
    """Not a FeatureCollection, a LineString, a missing time, a bad implement, a latitude past 90."""
    with pytest.raises(ContractError) as e:
        read_track("geojson", '{"type": "Feature"}')
    assert e.value.field == "track.type"
    with pytest.raises(ContractError):
        read_track("geojson", "{not json")
    line = json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "LineString", "coordinates": [[0, 0], [1, 1]]}, "properties": {}}]})
    cases = [(line, "track.features.0.geometry"),
             (geojson_points((115.2, 36.0, {})), "track.features.0.properties.time"),
             (geojson_points((115.2, 36.0, {"time": T, "implement": "half"})), "track.features.0.properties.implement"),
             (geojson_points((115.2, 36.0, {"time": T}), (115.2, 96.0, {"time": T})), "track.features.1.geometry.lat")]
    for text, field in cases:
        with pytest.raises(ContractError) as e:
            read_track("geojson", text)
        assert e.value.field == field, (field, e.value)
