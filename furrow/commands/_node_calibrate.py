"""`furrow node calibrate NODE --depth CM`: calibrate one soil probe in the field.

The technician puts the probe in media of known water content (dry soil or air, saturated
soil, or soil samples measured gravimetrically); for each, this command waits for a fresh raw
count from that depth as the node reports it through the cloud, shows it, and takes it when
the technician confirms. The fit is the cloud's (POST /nodes/{node}/calibration), stored on
the registry node for that probe. The node itself keeps its own calibration (config.json, or
Modbus holding registers 8-15 on a node on RS-485), so the command prints what to set there,
and with --config writes the node's config.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from ._api import Api, ApiError, add_api_arguments
from ._node_check import EXIT_FAILED, EXIT_OK, EXIT_UNUSABLE, POLL_S, Progress, explain, newest_ts, open_api

ADC_FULL = 65535  # the firmware's PolyMoisture takes x = raw / ADC_FULL
HOLD_CAL_BASE = 8  # edge/modbus_map.py: dry then wet raw count per depth slot
DEFAULT_WET_VWC = 45.0  # the firmware's vwc_wet_pct default (a saturated loam)


def _points(text: str) -> list[dict[str, float]]:
    """RAW:VWC,RAW:VWC -> points; an error names the bad part."""
    out = []
    for part in text.split(","):
        raw, sep, vwc = part.strip().partition(":")
        try:
            if not sep:
                raise ValueError
            out.append({"raw": float(raw), "vwc_pct": float(vwc)})
        except ValueError:
            raise argparse.ArgumentTypeError(f"{part.strip()!r} is not RAW:VWC (e.g. 41000:0,18500:45)") from None
    return out


def register_calibrate(node_sub: argparse._SubParsersAction) -> None:
    cal = node_sub.add_parser(
        "calibrate", help="calibrate a soil probe: take raw counts in known media, fit, store, say what the node needs",
        description="Guide a soil probe's calibration: for each point (dry, wet, or --point samples of known water "
        "content) wait for a fresh raw count from the probe at --depth, show it and take it on Enter; then fit "
        "through the cloud API, store the fit for that probe, and print the coefficients, the residuals and what "
        "to set on the node (config.json probe fields, or Modbus holding registers). --points skips the probe "
        "(counts read elsewhere); --yes takes each first fresh count without asking.")
    cal.add_argument("node")
    cal.add_argument("--depth", type=int, required=True, metavar="CM", help="the probe's depth")
    cal.add_argument("--method", choices=("two-point", "linear", "quadratic"),
                     help="the fit (default: two-point for two points, else linear)")
    cal.add_argument("--point", type=float, action="append", metavar="VWC",
                     help="a soil sample of known water content (%%, e.g. gravimetric); repeat for each. "
                     "Without: a dry and a wet point")
    cal.add_argument("--dry-vwc", type=float, default=0.0, metavar="PCT",
                     help="water content of the dry point (default 0: oven-dry soil or air)")
    cal.add_argument("--wet-vwc", type=float, default=DEFAULT_WET_VWC, metavar="PCT",
                     help=f"water content of the wet point, saturated soil of this field "
                     f"(default {DEFAULT_WET_VWC:g}, a loam: measure yours)")
    cal.add_argument("--points", type=_points, metavar="RAW:VWC,...",
                     help="counts already taken: fit these, read nothing from the probe")
    cal.add_argument("--yes", action="store_true", help="take each first fresh count without asking (scripts)")
    cal.add_argument("--wait", type=float, default=300.0, metavar="SECONDS",
                     help="how long to wait for a fresh count at each point (default 300)")
    cal.add_argument("--no-store", action="store_true", help="fit and show only; store nothing")
    cal.add_argument("--config", type=Path, metavar="FILE",
                     help="the node's config.json (from `furrow node add`): write the probe's new calibration into it")
    cal.add_argument("--vwc-wet-pct", type=float, default=None, metavar="PCT",
                     help="the node's vwc_wet_pct for this probe (default: from --config, else 45)")
    add_api_arguments(cal)
    cal.set_defaults(func=_calibrate)


# --- what the node needs (pure) --------------------------------------------------------------

def node_settings(coefficients: dict[str, float], vwc_wet_pct: float, slot: int | None) -> dict[str, Any]:
    """The firmware's own form of a fit: a straight line as the driver's dry and wet counts
    (the counts at 0 % and at `vwc_wet_pct`, which registers 8-15 also take), a curve as
    config.json's `poly` in x = raw / 65535. `slot` is the probe's depth slot (depth order)."""
    c0, c1, c2 = (float(coefficients.get(k, 0.0)) for k in ("c0", "c1", "c2"))
    if abs(c2) < 1e-15 and c1 != 0:
        dry, wet = round(-c0 / c1), round((vwc_wet_pct - c0) / c1)
        if 0 <= dry <= ADC_FULL and 0 <= wet <= ADC_FULL and dry != wet:
            registers = None if slot is None else [(HOLD_CAL_BASE + 2 * slot, dry), (HOLD_CAL_BASE + 2 * slot + 1, wet)]
            return {"config": {"dry_raw": dry, "wet_raw": wet, "vwc_wet_pct": vwc_wet_pct}, "registers": registers,
                    "note": None}
    poly = [round(c0, 6), round(c1 * ADC_FULL, 6), round(c2 * ADC_FULL**2, 6)]
    return {"config": {"poly": poly if abs(c2) >= 1e-15 else poly[:2]}, "registers": None,
            "note": "a Modbus node's registers take only dry and wet counts (a straight line): set `poly` in its "
                    "config.json and flash it, or calibrate with --method linear"}


def update_config(cfg: dict[str, Any], depth_cm: int, settings: dict[str, Any]) -> dict[str, Any]:
    """`cfg` with the probe at `depth_cm` calibrated as `settings` says (a straight line drops
    an older `poly`, which would otherwise win)."""
    probes = cfg.get("probes") or []
    for probe in probes:
        if probe.get("depth_cm") == depth_cm:
            if "poly" not in settings:
                probe.pop("poly", None)
            probe.update(settings)
            return cfg
    raise ValueError(f"probes: no probe at depth_cm={depth_cm} (it has {[p.get('depth_cm') for p in probes]})")


# --- the guided session --------------------------------------------------------------------

def _steps(args: argparse.Namespace) -> list[tuple[str, float]]:
    if args.point:
        return [(f"in soil sample {i} of {len(args.point)}, water content {v:g} % (measured)", v)
                for i, v in enumerate(args.point, 1)]
    return [(f"in dry soil from this field (oven-dry) or in dry air, water content {args.dry_vwc:g} %", args.dry_vwc),
            (f"in saturated soil from this field, water content {args.wet_vwc:g} %", args.wet_vwc)]


def _ask(prompt: str) -> str:
    """A line from the technician ('' at end of input means quit)."""
    print(prompt, end="", file=sys.stderr, flush=True)
    line = sys.stdin.readline()
    if not sys.stdin.isatty():  # a script's answer does not echo: end the prompt's line
        print(file=sys.stderr)
    return line.strip().lower() if line else "q"


def _raw_at(view: dict[str, Any] | None, depth: int) -> dict[str, Any] | None:
    for x in (view or {}).get("live", []):
        if x["measurement"] == "soil_raw" and x["depth_cm"] == depth:
            return x
    return None


def _fresh_raw(api: Api, node: str, depth: int, after_ts: int, wait_s: float) -> dict[str, Any] | None:
    """Wait for a raw count at `depth` newer than `after_ts`, showing the newest as it waits."""
    progress = Progress()
    start = time.monotonic()
    while True:
        view = api.call("GET", f"/nodes/{node}/commissioning").json()
        x = _raw_at(view, depth)
        if x is not None and x["ts_ms"] > after_ts and x["value"] is not None:
            progress.done()
            return x
        elapsed = time.monotonic() - start
        if elapsed >= wait_s:
            progress.done()
            return None
        last = "none yet" if x is None else f"last {x['value']:g}" if x["value"] is not None else f"fault {x['fault']}"
        progress.show(f"  waiting for a fresh raw count at {depth} cm ({last}): {elapsed:.0f}/{wait_s:g} s",
                      key=last)
        time.sleep(POLL_S)


def _take_points(api: Api, args: argparse.Namespace) -> list[dict[str, float]] | int:
    steps = _steps(args)
    points = []
    for n, (where, vwc) in enumerate(steps, 1):
        print(f"point {n}/{len(steps)}: put the probe at {args.depth} cm {where}", file=sys.stderr)
        if not args.yes and _ask("  press Enter when it is in place and has settled (q to quit): ") == "q":
            return EXIT_FAILED
        while True:
            baseline = newest_ts(api.call("GET", f"/nodes/{args.node}/commissioning").json(),
                                 lambda x: x["measurement"] == "soil_raw" and x["depth_cm"] == args.depth)
            x = _fresh_raw(api, args.node, args.depth, baseline, args.wait)
            if x is None:
                print(f"error: no fresh raw count from {args.node} at {args.depth} cm reached {api.base} within "
                      f"{args.wait:g} s: is the node reporting? (furrow node check {args.node})", file=sys.stderr)
                return EXIT_UNUSABLE
            print(f"  raw {x['value']:g} at {time.strftime('%H:%M:%S', time.localtime(x['ts_ms'] / 1000))}",
                  file=sys.stderr)
            answer = "" if args.yes else _ask("  Enter takes it, r reads again, q quits: ")
            if answer == "q":
                return EXIT_FAILED
            if answer != "r":
                points.append({"raw": x["value"], "vwc_pct": vwc})
                break
    return points


def _calibrate(args: argparse.Namespace) -> int:
    api = open_api(args)
    if api is None:
        return EXIT_UNUSABLE
    try:
        return _session(api, args)
    except ApiError as e:
        print(f"error: {explain(e, api, 'a technician')}", file=sys.stderr)
        return EXIT_FAILED if e.status in (404, 409, 422) else EXIT_UNUSABLE
    finally:
        api.close()


def _session(api: Api, args: argparse.Namespace) -> int:
    node = api.call("GET", f"/registry/nodes/{args.node}").json()
    if node["role"] != "soil":
        print(f"error: {args.node} is a {node['role']} node; only soil probes are calibrated here", file=sys.stderr)
        return EXIT_FAILED
    depths = sorted(node.get("depths_cm") or [])
    if depths and args.depth not in depths:
        print(f"error: --depth={args.depth}: {args.node} has probes at {depths} cm", file=sys.stderr)
        return EXIT_FAILED
    points = args.points if args.points else _take_points(api, args)
    if isinstance(points, int):
        return points
    method = args.method or ("two-point" if len(points) == 2 else "linear")
    body = {"method": method, "points": points, "depth_cm": args.depth, "store": not args.no_store}
    result = api.call("POST", f"/nodes/{args.node}/calibration", json=body).json()
    c = result["coefficients"]
    print(f"{args.node} at {args.depth} cm: {method} fit over {len(points)} points "
          + ("stored in the registry" if result["stored"] else "(not stored)"))
    print(f"  vwc_pct = {c['c0']:.6g} + {c['c1']:.6g} * raw + {c['c2']:.6g} * raw^2")
    for p, r in zip(points, result["residuals_pct"], strict=True):
        print(f"  raw {p['raw']:>7g}  measured {p['vwc_pct']:6.2f} %  residual {r:+.3f} %")
    print(f"  rmse {result['rmse_pct']:.3f} %")
    for w in result["warnings"]:
        print(f"  warning: {w}")
    return _tell_node(args, c, depths)


def _tell_node(args: argparse.Namespace, coefficients: dict[str, float], depths: list[int]) -> int:
    cfg = None
    if args.config is not None:
        try:
            cfg = json.loads(args.config.read_text())
        except (OSError, ValueError) as e:
            print(f"error: --config={args.config}: cannot read it as JSON: {e}", file=sys.stderr)
            return EXIT_FAILED
    wet = args.vwc_wet_pct
    if wet is None and cfg is not None:
        wet = next((p.get("vwc_wet_pct") for p in cfg.get("probes") or [] if p.get("depth_cm") == args.depth), None)
    wet = DEFAULT_WET_VWC if wet is None else float(wet)
    slot = depths.index(args.depth) if depths else None
    settings = node_settings(coefficients, wet, slot)
    print("on the node (it keeps its own calibration):")
    fields = ", ".join(f'"{k}": {json.dumps(v)}' for k, v in settings["config"].items())
    print(f"  config.json, the probe with depth_cm {args.depth}: {fields}")
    if settings["registers"]:
        (a_dry, dry), (a_wet, wet_raw) = settings["registers"]
        print(f"  or on RS-485, holding registers {a_dry} and {a_wet} (depth slot {slot}): {dry} {wet_raw}, e.g.")
        print(f"    mbpoll -m rtu -a UNIT -b 19200 -P even -t 4 -r {a_dry + 1} /dev/ttyUSB0 {dry} {wet_raw}")
    if settings["note"]:
        print(f"  note: {settings['note']}")
    if cfg is None:
        return EXIT_OK
    from furrow.firmware.config import validate

    try:
        cfg = update_config(cfg, args.depth, settings["config"])
    except ValueError as e:
        print(f"error: --config={args.config}: {e}", file=sys.stderr)
        return EXIT_FAILED
    cfg, errors = validate(cfg)
    if errors:
        print(f"error: --config={args.config} would not boot:\n" + "\n".join(f"  {f}={v!r}: {m}" for f, v, m in errors),
              file=sys.stderr)
        return EXIT_FAILED
    args.config.write_text(json.dumps(cfg, indent=2) + "\n")
    print(f"  wrote {args.config}: flash it to the node (furrow firmware flash) or copy it to the board")
    return EXIT_OK
