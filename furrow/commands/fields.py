"""`furrow fields`: field boundaries and machine operations from the files a farm already has.

    furrow fields boundaries FILE [--key ATTR] [--zones] [--layer NAME]
    furrow fields operation --field F --kind K --machine M --implement I --width-m W [...] TRACK.gpx|.csv|.geojson

`boundaries` reads a GeoJSON, KML or Shapefile (a .shp with its .dbf and .prj beside it, or a zip) with
pyogrio, reprojects each polygon to WGS 84 and sets it as the boundary of the field (or zone) its
attribute names (`id` or `name` by default): the cloud checks it there as it checks any boundary.
`operation` records a machine's work on a field from its track; the cloud answers with the worked area.
A bad file is reported naming the feature or line, with exit code 2; an API refusal with exit code 1.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ._api import Api, ApiError, add_api_arguments

EXIT_BAD_INPUT = 2
KINDS = ("tillage", "sowing", "spraying", "fertilising", "harvest")
TRACK_FORMATS = {".gpx": "gpx", ".csv": "csv", ".geojson": "geojson", ".json": "geojson"}


def register(sub: argparse._SubParsersAction) -> None:
    fields = sub.add_parser("fields", help="field boundaries from GIS files; machine operations from tracks")
    fields_sub = fields.add_subparsers(dest="fields_command", required=True, metavar="COMMAND")

    b = fields_sub.add_parser("boundaries", help="set field (or zone) boundaries from a GeoJSON, KML or Shapefile")
    b.add_argument("file", type=Path, help="GeoJSON, KML, .shp (with .dbf/.prj beside it) or a zipped Shapefile")
    b.add_argument("--key", default=None, help="the attribute holding the field's id (default: id, else name)")
    b.add_argument("--zones", action="store_true", help="the polygons are zones, not fields")
    b.add_argument("--layer", default=None, help="the layer to read (default the first)")
    add_api_arguments(b)
    b.set_defaults(func=_boundaries)

    o = fields_sub.add_parser("operation", help="record a machine's work on a field from its GPX, CSV or GeoJSON track")
    o.add_argument("track", type=Path, help="GPX; CSV with time, lat, lon[, implement]; or GeoJSON points")
    o.add_argument("--field", required=True)
    o.add_argument("--kind", required=True, choices=KINDS)
    o.add_argument("--machine", required=True)
    o.add_argument("--implement", required=True)
    o.add_argument("--width-m", type=float, required=True, help="the implement's working width, m")
    o.add_argument("--operator", default=None)
    o.add_argument("--product", default=None)
    o.add_argument("--rate", type=float, default=None)
    o.add_argument("--rate-unit", default=None)
    add_api_arguments(o)
    o.set_defaults(func=_operation)


def _boundaries(args: argparse.Namespace) -> int:
    from furrow.cloud.fields.geofiles import read_boundaries
    from furrow.edge.errors import ContractError

    try:
        features = read_boundaries(str(args.file), key=args.key, layer=args.layer)
    except ContractError as e:
        print(f"error: {args.file}: {e.field}={e.value!r}: {e.reason}", file=sys.stderr)
        return EXIT_BAD_INPUT
    kind = "zones" if args.zones else "fields"
    try:
        api = Api(args)
    except ApiError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    failed = 0
    try:
        for f in features:
            try:
                out = api.call("PUT", f"/registry/{kind}/{f.key}/boundary", json=f.boundary).json()
                print(f"{kind[:-1]} {f.key}: {out['boundary_area_ha']:.4f} ha")
            except ApiError as e:
                failed += 1  # one field's refusal does not stop the others
                print(f"error: feature {f.index} ({kind[:-1]} {f.key}): {e}", file=sys.stderr)
    finally:
        api.close()
    return 1 if failed else 0


def _operation(args: argparse.Namespace) -> int:
    fmt = TRACK_FORMATS.get(args.track.suffix.lower())
    if fmt is None:
        print(f"error: {args.track}: a track is a .gpx, .csv or .geojson file", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        text = args.track.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        print(f"error: {args.track}: cannot read: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    body = {"field": args.field, "kind": args.kind, "machine": args.machine, "implement": args.implement,
            "width_m": args.width_m, "operator": args.operator, "product": args.product, "rate": args.rate,
            "rate_unit": args.rate_unit, "track_format": fmt, "track": text}
    try:
        api = Api(args)
    except ApiError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        out = api.call("POST", "/operations", json=body, ok=(200, 201)).json()
    except ApiError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    finally:
        api.close()
    speed = "-" if out["speed_kmh"] is None else f"{out['speed_kmh']:.1f} km/h"
    print(f"operation {out['id']} ({out['kind']} of field {out['field_id']}): covered {out['covered_ha']:.4f} ha "
          f"({out['covered_pct']:.1f}%), overlap {out['overlap_ha']:.4f} ha, skipped {out['skipped_ha']:.4f} ha, "
          f"{out['work_s'] / 3600:.2f} h at work, {speed}")
    return 0
