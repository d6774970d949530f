"""Machine tracks from the files a farm already has: GPX, and CSV or GeoJSON exports of a machine's telematics.

* **GPX 1.1** (and 1.0): every `trkpt` of every track segment, in file order, with its `time`
  (ISO 8601). GPX has no implement state, so the whole file is taken as worked (`down`) unless the
  caller says otherwise; a segment break (`trkseg`) is kept as a pass break.
* **CSV** with a header row: `time` (ISO 8601 or Unix ms), `lat` and `lon` (or `latitude`,
  `longitude`; WGS 84 degrees), and optionally `implement` (down/up, 1/0, true/false, on/off).
  Without an `implement` column every fix is `down`.
* **GeoJSON**: a FeatureCollection of Point features in time order, each with a `time` property
  and optionally `implement` (as in a CSV), as telematics portals export a machine's positions.

A fix that cannot be read gives a ContractError naming the line (CSV) or point (GPX) and the value;
the import is all or nothing, so a half-read file never becomes half an operation.
"""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from collections.abc import Iterable

from furrow.edge.errors import ContractError

from .._time import parse_instant
from .coverage import Fix

MAX_FIXES = 200_000  # 55 hours at 1 Hz: a season's longest day on one machine, several times over
_DOWN = {"down": True, "1": True, "true": True, "on": True, "up": False, "0": False, "false": False, "off": False}
_COLUMNS = {"time": ("time",), "lat": ("lat", "latitude"), "lon": ("lon", "longitude"), "implement": ("implement",)}


def _number(field: str, text: str | None, lo: float, hi: float) -> float:
    try:
        value = float(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ContractError(field, text, "must be a number of degrees") from None
    if not lo <= value <= hi:
        raise ContractError(field, value, f"must lie within {lo:g}..{hi:g}")
    return value


def _too_many(count: int) -> None:
    if count > MAX_FIXES:
        raise ContractError("track", count, f"holds more than {MAX_FIXES} positions: split it by day")


def _checked(fixes: list[Fix]) -> list[Fix]:
    if not fixes:
        raise ContractError("track", None, "holds no positions")
    return fixes


def read_csv(text: str) -> list[Fix]:
    """The fixes of a CSV track (see the module docstring), or ContractError naming the line and column."""
    reader = csv.DictReader(io.StringIO(text))
    header = {(h or "").strip().lower(): h for h in reader.fieldnames or ()}
    cols: dict[str, str | None] = {}
    for key, names in _COLUMNS.items():
        cols[key] = next((header[n] for n in names if n in header), None)
        if cols[key] is None and key != "implement":
            raise ContractError("track.header", ",".join(header) or None, f"needs a column {' or '.join(names)}")
    fixes: list[Fix] = []
    for row in reader:
        where = f"track.line {reader.line_num}"
        _too_many(len(fixes) + 1)
        time_text = (row.get(cols["time"]) or "").strip()  # type: ignore[arg-type]
        t = parse_instant(f"{where}.time", int(time_text) if time_text.lstrip("-").isdigit() else time_text)
        lat = _number(f"{where}.lat", row.get(cols["lat"]), -90, 90)  # type: ignore[arg-type]
        lon = _number(f"{where}.lon", row.get(cols["lon"]), -180, 180)  # type: ignore[arg-type]
        down = True
        if cols["implement"] is not None:
            state = (row.get(cols["implement"]) or "").strip().lower()
            if state not in _DOWN:
                raise ContractError(f"{where}.implement", state, "must be down or up (1/0, true/false, on/off)")
            down = _DOWN[state]
        fixes.append(Fix(t, lon, lat, down))
    return _checked(fixes)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _children(el: ET.Element, name: str) -> Iterable[ET.Element]:
    return (c for c in el if _local(c.tag) == name)


def read_gpx(text: str, down: bool = True) -> list[Fix]:
    """The fixes of a GPX file's tracks (see the module docstring), or ContractError naming the point."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as e:
        raise ContractError("track", None, f"is not a GPX file: {e}") from None
    if _local(root.tag) != "gpx":
        raise ContractError("track", _local(root.tag), "is not a GPX file (its root element must be gpx)")
    fixes: list[Fix] = []
    n = 0
    for trk in _children(root, "trk"):
        for seg in _children(trk, "trkseg"):
            if fixes and down:  # a new segment: an up fix between breaks the pass
                fixes.append(Fix(fixes[-1].t_ms, fixes[-1].lon, fixes[-1].lat, False))
            for pt in _children(seg, "trkpt"):
                where = f"track.trkpt {n}"
                n += 1
                lat = _number(f"{where}.lat", pt.get("lat"), -90, 90)
                lon = _number(f"{where}.lon", pt.get("lon"), -180, 180)
                time_el = next(_children(pt, "time"), None)
                if time_el is None or not (time_el.text or "").strip():
                    raise ContractError(f"{where}.time", None, "is missing: a worked area needs the time of each point")
                fixes.append(Fix(parse_instant(f"{where}.time", time_el.text.strip()), lon, lat, down))
                _too_many(n)
    return _checked(fixes)


def read_geojson(text: str) -> list[Fix]:
    """The fixes of a GeoJSON FeatureCollection of Point features in time order, each with a `time`
    property (ISO 8601 or Unix ms) and optionally `implement` as in a CSV; ContractError naming the feature."""
    try:
        doc = json.loads(text)
    except ValueError as e:
        raise ContractError("track", None, f"is not JSON: {e}") from None
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection" or not isinstance(doc.get("features"), list):
        raise ContractError("track.type", doc.get("type") if isinstance(doc, dict) else None,
                            "must be a GeoJSON FeatureCollection of Point features")
    _too_many(len(doc["features"]))
    fixes: list[Fix] = []
    for i, feature in enumerate(doc["features"]):
        where = f"track.features.{i}"
        geom = feature.get("geometry") if isinstance(feature, dict) else None
        if not isinstance(geom, dict) or geom.get("type") != "Point" or not isinstance(geom.get("coordinates"), list) \
                or len(geom["coordinates"]) < 2:
            raise ContractError(f"{where}.geometry", None, "must be a Point [longitude, latitude]")
        props = feature.get("properties") or {}
        time_value = props.get("time") if isinstance(props, dict) else None
        if not isinstance(time_value, str | int) or isinstance(time_value, bool):
            raise ContractError(f"{where}.properties.time", time_value, "is missing: each point needs its time")
        state = str(props.get("implement", "down")).strip().lower()
        if state not in _DOWN:
            raise ContractError(f"{where}.properties.implement", state, "must be down or up (1/0, true/false, on/off)")
        lon = _number(f"{where}.geometry.lon", geom["coordinates"][0], -180, 180)  # type: ignore[arg-type]
        lat = _number(f"{where}.geometry.lat", geom["coordinates"][1], -90, 90)  # type: ignore[arg-type]
        fixes.append(Fix(parse_instant(f"{where}.properties.time", time_value), lon, lat, _DOWN[state]))
    return _checked(fixes)


def read_track(fmt: str, text: str) -> list[Fix]:
    """A track in `fmt` ("gpx", "csv" or "geojson"), or ContractError naming what is wrong."""
    if fmt == "gpx":
        return read_gpx(text)
    if fmt == "csv":
        return read_csv(text)
    if fmt == "geojson":
        return read_geojson(text)
    raise ContractError("track_format", fmt, "must be gpx, csv or geojson")
