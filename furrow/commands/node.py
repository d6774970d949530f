"""`furrow node ...`: commissioning nodes.

`furrow node add NODE --role R --zone Z --out DIR` registers the node through
the cloud API, issues its broker credentials and writes the node's
config.json (checked by firmware/config.py, as `furrow firmware build`
does) with them. A machine's tracker is in no zone: it is registered with its
site (`--role tracker --site S`), which gives its login and topics. Each
subcommand registers itself in `register` below; add more the same way.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ._api import Api, ApiError, add_api_arguments, reachable, step, write_private

# firmware/config.py's; a camera and a tracker link over MQTT only
ROLES = ("soil", "weather", "irrigation", "pest", "camera", "tracker")
TRACKER = "tracker"  # rides a machine: registered with a site, not a zone (cloud/registry/models.py NodeIn.site_id)


def register(sub: argparse._SubParsersAction) -> None:
    node = sub.add_parser("node", help="commission nodes: register, credentials, config")
    node_sub = node.add_subparsers(dest="node_command", required=True, metavar="COMMAND")
    _register_add(node_sub)
    _register_field_tools(node_sub)


def _register_field_tools(node_sub: argparse._SubParsersAction) -> None:
    """`furrow node check` and `furrow node calibrate`, each in its own module."""
    from ._node_calibrate import register_calibrate
    from ._node_check import register_check

    register_check(node_sub)
    register_calibrate(node_sub)


def _register_add(node_sub: argparse._SubParsersAction) -> None:
    add = node_sub.add_parser("add", help="register a node, issue its broker credentials, write its config.json",
                              description="Register NODE in ZONE (a tracker: at SITE) through the cloud API (or find "
                              "it registered), issue (or rotate) its MQTT credentials and write DIR/config.json for "
                              "the board.")
    add.add_argument("node")
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--zone", help="the zone the node is in (every role but tracker)")
    add.add_argument("--site", help="a tracker's site: the farm whose gateway and topics it reports to")
    add.add_argument("--depth", type=int, action="append", metavar="CM",
                     help="probe depth in cm (soil; repeat for each probe)")
    add.add_argument("--out", type=Path, required=True, metavar="DIR")
    add.add_argument("--mqtt-host", default="gateway.local", help="the farm broker (the gateway) the node reaches")
    add.add_argument("--mqtt-port", type=int, default=1883)
    add.add_argument("--wifi-ssid", default="farm", help="the farm Wi-Fi the node joins")
    add_api_arguments(add)
    add.set_defaults(func=_add)


def node_config(node: str, role: str, site: str, creds: dict[str, Any], root: str, depths: list[int] | None,
                mqtt_host: str, mqtt_port: int, wifi_ssid: str) -> dict[str, Any]:
    """The node's config.json: the role's example sensors, linked over MQTT with its own login."""
    from .firmware import example_config

    cfg = example_config(role)
    cfg.pop("modbus", None)
    cfg.update({"node": node, "site": site, "link": "mqtt", "wifi": {"ssid": wifi_ssid, "password": ""},
                "mqtt": {"host": mqtt_host, "port": mqtt_port, "root": root,
                         "user": creds["username"], "password": creds["password"]}})
    if role == "soil" and depths:
        template = cfg["probes"][0]
        cfg["probes"] = [{**template, "depth_cm": d, "adc": 32 + i} for i, d in enumerate(depths)]
    return cfg


def _place(args: argparse.Namespace) -> tuple[str, str] | str:
    """(registry field, value) of where the node is, or what is wrong with the options: a tracker is at a site, every
    other node in a zone (one way each, as the registry takes them)."""
    if args.role == TRACKER:
        if args.zone is not None or args.site is None:
            return ("a tracker rides a machine from field to field, so it is in no zone: give its site "
                    "(--site SITE), not --zone")
        return "site_id", args.site
    if args.site is not None or args.zone is None:
        return f"a {args.role} node is in a zone, which gives its site: give --zone ZONE, not --site"
    return "zone_id", args.zone


def _add(args: argparse.Namespace) -> int:
    from furrow.firmware.config import validate

    total = 4
    place = _place(args)
    if isinstance(place, str):
        print(f"error: {place}", file=sys.stderr)
        return 2
    key, value = place
    where = f"{'site' if key == 'site_id' else 'zone'} {value}"
    try:
        api = Api(args)
    except ApiError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        reachable(api, total)
        body: dict[str, Any] = {"id": args.node, "role": args.role, key: value}
        if args.depth:
            body["depths_cm"] = args.depth
        r = api.call("POST", "/registry/nodes", json=body, ok=(201, 409))
        if r.status_code == 409:
            existing = api.call("GET", f"/registry/nodes/{args.node}").json()
            if existing["role"] == TRACKER == args.role and not existing.get("site_id"):
                # registered before trackers had a site (migration 0032): this gives it one, and with it a login
                fields = ("id", "role", "lat", "lon", "depths_cm", "calibration", "firmware", "credentials_ref")
                api.call("PUT", f"/registry/nodes/{args.node}",
                         json={**{k: existing.get(k) for k in fields}, "site_id": value})
                step(2, total, f"node {args.node} was registered with no site: now at {where}")
            elif existing["role"] != args.role or existing.get(key) != value:
                at = (f"at site {existing.get('site_id')!r}" if existing["role"] == TRACKER
                      else f"in zone {existing['zone_id']!r}")
                raise ApiError(f"node {args.node!r} is registered as a {existing['role']} node {at}, not "
                               f"{args.role} in {where}: fix the registry first")
            else:
                step(2, total, f"node {args.node} already registered in {where}")
        else:
            step(2, total, f"node {args.node} registered in {where}")
        creds = api.call("POST", f"/nodes/{args.node}/credentials").json()
        step(3, total, f"broker credentials issued: user {creds['username']} (site {creds['site']}); "
             "the password goes only into config.json")
    except ApiError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    finally:
        api.close()
    root = creds["topics"]["subscribe"][0].split("/v1/")[0]
    cfg = node_config(args.node, args.role, creds["site"], creds, root, args.depth, args.mqtt_host, args.mqtt_port,
                      args.wifi_ssid)
    cfg, errors = validate(cfg)
    if errors:
        print("error: the config would not boot:\n" + "\n".join(f"  {f}={v!r}: {m}" for f, v, m in errors),
              file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "config.json"
    write_private(path, json.dumps(cfg, indent=2) + "\n")
    step(4, total, f"wrote {path} (it holds the node's password: keep it private); "
         "then `furrow broker config` and SIGHUP the broker")
    return 0
