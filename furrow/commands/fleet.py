"""`furrow machine|implement|region ...`: commissioning the farm's machinery through the registry API (issue 20).

    furrow implement add drill-6m --name "Drill 6 m" --kind drill --width-m 6 --operation sowing
    furrow machine add tractor-2 --name "Tractor 2" --type tractor --width-m 6 --speed-kmh 8 \\
        --node trk-02 --implement drill-6m --operator li-wei
    furrow machine add tractor-2 --status broken        # edit: only the options given change
    furrow region add east --name "East block" --field north --field river
    furrow machine list

`add` registers the object, or, when it is registered already, changes the options given and keeps the rest
(GET, then PUT of the whole object): one command to register and to edit, as `furrow node add` is for nodes.
The API checks everything (the error names the field and value) and writes the audit log.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ._api import Api, ApiError, add_api_arguments

KINDS = ("tillage", "sowing", "spraying", "fertilising", "harvest")
MACHINE_TYPES = ("tractor", "combine", "sprayer", "spreader", "other")
STATUSES = ("available", "broken", "maintenance")

# option dest -> body field, per object; the object's path under /registry
_OBJECTS: dict[str, tuple[str, dict[str, str]]] = {
    "machine": ("machines", {"name": "name", "type": "type", "width_m": "width_m", "speed_kmh": "speed_kmh",
                             "road_kmh": "road_kmh", "efficiency": "efficiency", "fuel": "fuel",
                             "fuel_tank_l": "fuel_tank_l", "node": "node_id", "lat": "lat", "lon": "lon",
                             "implement": "implement_ids", "operator": "operator", "status": "status"}),
    "implement": ("implements", {"name": "name", "kind": "kind", "width_m": "width_m", "operation": "operations"}),
    "region": ("regions", {"name": "name", "field": "field_ids"}),
}


def register(sub: argparse._SubParsersAction) -> None:
    m = _object(sub, "machine", "a machine: its type, width, speeds, fuel, tracker, implements, operator, status")
    m.add_argument("--type", choices=MACHINE_TYPES)
    m.add_argument("--width-m", type=float, help="the working width it plans with, m")
    m.add_argument("--speed-kmh", type=float, help="working speed")
    m.add_argument("--road-kmh", type=float, help="speed between fields")
    m.add_argument("--efficiency", type=float, help="field efficiency 0..1 (ASABE D497.7 Table 3)")
    m.add_argument("--fuel", choices=("diesel", "petrol", "electric"))
    m.add_argument("--fuel-tank-l", type=float)
    m.add_argument("--node", help="the tracker node riding on it (registered with role tracker)")
    m.add_argument("--lat", type=float, help="where it stands without a tracker")
    m.add_argument("--lon", type=float)
    m.add_argument("--implement", action="append", help="an implement it carries (repeat; replaces the list)")
    m.add_argument("--operator", help="the user (role operator) who drives it")
    m.add_argument("--status", choices=STATUSES)
    i = _object(sub, "implement", "an implement: its kind, working width and the operations it does")
    i.add_argument("--kind", help="drill, sprayer, plough, spreader, header ...")
    i.add_argument("--width-m", type=float)
    i.add_argument("--operation", action="append", choices=KINDS, help="an operation it does (repeat)")
    r = _object(sub, "region", "a region of the farm: a named group of fields that progress is reported for")
    r.add_argument("--field", action="append", help="a field of the region (repeat; replaces the list)")


def _object(sub: argparse._SubParsersAction, name: str, what: str) -> argparse.ArgumentParser:
    top = sub.add_parser(name, help=f"register and edit {what}")
    top_sub = top.add_subparsers(dest=f"{name}_command", required=True, metavar="COMMAND")
    lst = top_sub.add_parser("list", help=f"every {name} registered, as JSON lines")
    add_api_arguments(lst)
    lst.set_defaults(func=lambda args: _list(args, name))
    rm = top_sub.add_parser("remove", help=f"delete a {name} (refused while others still name it)")
    rm.add_argument("id")
    add_api_arguments(rm)
    rm.set_defaults(func=lambda args: _remove(args, name))
    add = top_sub.add_parser("add", help=f"register a {name}, or change the options given of a registered one")
    add.add_argument("id")
    add.add_argument("--name")
    add_api_arguments(add)
    add.set_defaults(func=lambda args: _add(args, name))
    return add


def _given(args: argparse.Namespace, name: str) -> dict[str, Any]:
    return {field: getattr(args, dest) for dest, field in _OBJECTS[name][1].items()
            if getattr(args, dest, None) is not None}


def _with_api(args: argparse.Namespace, work) -> int:  # noqa: ANN001 - work(api) -> int
    try:
        api = Api(args)
    except ApiError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        return work(api)
    except ApiError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    finally:
        api.close()


def _add(args: argparse.Namespace, name: str) -> int:
    path, _ = _OBJECTS[name]
    given = _given(args, name)

    def work(api: Api) -> int:
        found = api.call("GET", f"/registry/{path}/{args.id}", ok=(200, 404))
        if found.status_code == 404:  # new (another organisation's id is answered as one that does not exist)
            r = api.call("POST", f"/registry/{path}", json={"id": args.id, **given})
            print(f"{name} {args.id} registered", file=sys.stderr)
            print(json.dumps(r.json()))
            return 0
        body = {**found.json(), **given}
        for derived in ("reported_pct", "note", "reported_by", "reported_ms"):  # not the registry's to take
            body.pop(derived, None)
        out = api.call("PUT", f"/registry/{path}/{args.id}", json=body).json()
        changed = ", ".join(sorted(given)) or "nothing"
        print(f"{name} {args.id} was registered: changed {changed}", file=sys.stderr)
        print(json.dumps(out))
        return 0

    return _with_api(args, work)


def _list(args: argparse.Namespace, name: str) -> int:
    def work(api: Api) -> int:
        for item in api.call("GET", f"/registry/{_OBJECTS[name][0]}").json():
            print(json.dumps(item))
        return 0

    return _with_api(args, work)


def _remove(args: argparse.Namespace, name: str) -> int:
    def work(api: Api) -> int:
        api.call("DELETE", f"/registry/{_OBJECTS[name][0]}/{args.id}")
        print(f"{name} {args.id} deleted", file=sys.stderr)
        return 0

    return _with_api(args, work)
