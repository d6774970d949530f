"""`furrow firmware`: build a node's image and flash it.

`build` compiles the contract (edge/) and the firmware modules the role needs
with the real `mpy-cross` into DIR/lib/furrow/..., writes DIR/main.py (two
lines that start the compiled board loop) and DIR/config.json, validated by
the same `firmware/config.py` the board runs at boot. `flash` copies DIR to a
board with `mpremote`, after asking the board what it holds: an older MicroPython
is refused, files no longer part of the image are removed, and the image's
manifest is recorded on the board (furrow/commands/_firmware_flash.py).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from ._firmware_flash import flash_command, parse_probe, plan, probe_script
from ._firmware_image import BOARDS, ROLES, BuildError, write_image
from ._firmware_image import MODBUS_ROLES as MODBUS_ROLES  # the roles an RS-485 image is built for, for callers

# What `build` writes when no --config is given: a node on RS-485 with the
# role's usual sensors (pins of an ESP32 DevKitC). Edit config.json, or pass
# your own with --config.
EXAMPLES: dict[str, dict[str, Any]] = {
    "soil": {"probes": [
        {"depth_cm": 10, "adc": 32, "dry_raw": 52000, "wet_raw": 22000, "onewire": 15},
        {"depth_cm": 30, "adc": 33, "dry_raw": 51500, "wet_raw": 21800},
    ]},
    "weather": {"air": {"sensor": "bme280", "scl": 22, "sda": 21}, "rain": {"pin": 27, "mm_per_tip": 0.2},
                "wind": {"pin": 26, "vane_adc": 34}, "solar": {"adc": 35, "w_m2_per_mv": 5.0},
                "leaf": {"adc": 39}},
    "irrigation": {"interval_s": 60, "valves": [{"pin": 25}, {"latch": {"open_pin": 26, "close_pin": 27}}],
                   "flow": {"pin": 14, "l_per_pulse": 0.5}, "pressure": {"adc": 34, "kind": "4-20ma"},
                   "heartbeat_timeout_s": 600},
    "pest": {"interval_s": 3600, "traps": [{"pin": 12}, {"pin": 13}]},
    # An ESP32-CAM on the farm's Wi-Fi: images go over MQTT only; its camera's pins are the board's own.
    "camera": {"link": "mqtt", "wifi": {"ssid": "farm", "password": "change-me"},
               "mqtt": {"host": "gateway.local", "port": 1883},
               "camera": {"framesize": "uxga", "quality": 12, "kind": "canopy"}},
    # A machine's tracker: a u-blox class receiver on UART2 (RX on GPIO 16), the implement's switch to
    # ground on GPIO 14, the ignition line through an opto-isolator on GPIO 27; a cellular modem's Wi-Fi.
    "tracker": {"link": "mqtt", "wifi": {"ssid": "tractor-4g", "password": "change-me"},
                "mqtt": {"host": "gateway.farm.example", "port": 1883},
                "gnss": {"uart": 2, "rx": 16, "baud": 9600},
                "tracker": {"implement_pin": 14, "implement_active": 0, "engine_pin": 27, "engine_active": 1}},
}


def example_config(role: str) -> dict[str, Any]:
    cfg: dict[str, Any] = {"node": f"{role}-01", "site": "farm", "role": role, "link": "modbus",
                           "modbus": {"uart": 1, "tx": 17, "rx": 16, "de": 4, "baud": 9600, "parity": "E", "unit": 1},
                           "battery": {"adc": 36, "divider": 2.0, "vref": 3.3}, "watchdog_s": 30}
    cfg.update(json.loads(json.dumps(EXAMPLES[role])))
    if cfg["link"] == "mqtt":
        del cfg["modbus"], cfg["battery"]  # a Wi-Fi board on mains or its own charger
    return cfg


def build(role: str, out: Path, config: dict[str, Any] | None = None, board: str = "ESP32_GENERIC",
          micropython: Path | None = None) -> dict[str, Any]:
    """Build the image of a `role` node for `board` into `out`; returns its manifest (manifest.json).
    `micropython` is a MicroPython source tree, needed for umqtt.simple on a board that lacks it."""
    from furrow.firmware.config import validate

    if board not in BOARDS:
        raise BuildError(f"board {board!r} is not one of {', '.join(BOARDS)}")
    cfg = example_config(role) if config is None else config
    cfg, errors = validate(cfg)
    if errors:
        raise BuildError(f"config has {len(errors)} error(s):\n" + "\n".join(f"  {f}={v!r}: {m}" for f, v, m in errors))
    if cfg["role"] != role:
        raise BuildError(f"config is for role {cfg['role']!r}, not {role!r}")
    return write_image(role, out, cfg, BOARDS[board], micropython)


def register(sub: argparse._SubParsersAction) -> None:
    fw = sub.add_parser("firmware", help="build and flash node firmware (MicroPython)")
    fw_sub = fw.add_subparsers(dest="firmware_command", required=True, metavar="COMMAND")
    b = fw_sub.add_parser("build", help="compile a node's image with mpy-cross",
                          description="Compile edge/ and the role's firmware modules with mpy-cross into "
                          "DIR/lib/furrow/, and write DIR/main.py and a validated DIR/config.json.")
    b.add_argument("--role", choices=ROLES, required=True)
    b.add_argument("--out", type=Path, required=True, metavar="DIR")
    b.add_argument("--config", type=Path, default=None, metavar="FILE",
                   help="the node's config.json (default: an example for the role, to edit)")
    b.add_argument("--board", choices=sorted(BOARDS), default="ESP32_GENERIC",
                   help="the board's MicroPython build (default ESP32_GENERIC)")
    b.add_argument("--micropython", type=Path, default=None, metavar="SRC",
                   help="a MicroPython source tree: umqtt.simple comes from it when the board lacks it "
                   "(an MQTT node on RPI_PICO_W)")
    b.set_defaults(func=_build)
    f = fw_sub.add_parser("flash", help="copy a built image onto a board with mpremote")
    f.add_argument("--port", required=True, help="serial port of the board, e.g. /dev/ttyUSB0")
    f.add_argument("--dir", type=Path, required=True, metavar="DIR", help="what `furrow firmware build` wrote")
    f.add_argument("--dry-run", action="store_true",
                   help="print the mpremote command instead of running it (the board is not asked, so no "
                   "stale file is listed)")
    f.add_argument("--force", action="store_true",
                   help="flash even onto a MicroPython older than the image needs")
    f.set_defaults(func=_flash)


def _build(args: argparse.Namespace) -> int:
    config = None
    if args.config is not None:
        try:
            config = json.loads(args.config.read_text())
        except (OSError, ValueError) as e:
            print(f"furrow firmware build: cannot read {args.config}: {e}", file=sys.stderr)
            return 2
    try:
        manifest = build(args.role, args.out, config, args.board, args.micropython)
    except BuildError as e:
        print(f"furrow firmware build: {e}", file=sys.stderr)
        return 2
    print(f"built {args.role} node {manifest['node']} (fw {manifest['fw']}) in {args.out}: "
          f"{len(manifest['files'])} modules, {manifest['mpy_bytes']} bytes of .mpy")
    return 0


def _flash(args: argparse.Namespace) -> int:
    for name in ("lib", "main.py", "config.json", "manifest.json"):
        if not (args.dir / name).exists():
            print(f"furrow firmware flash: {args.dir / name} is missing; run `furrow firmware build` first",
                  file=sys.stderr)
            return 2
    manifest = json.loads((args.dir / "manifest.json").read_text())
    mpremote = shutil.which("mpremote") or str(Path(sys.executable).parent / "mpremote")
    if args.dry_run:
        print(" ".join(flash_command(args.port, args.dir, mpremote=mpremote)))
        return 0
    probe = subprocess.run([mpremote, "connect", args.port, "exec", probe_script()], capture_output=True,
                           text=True, timeout=120)
    try:
        if probe.returncode != 0:
            raise ValueError(probe.stderr.strip() or probe.stdout.strip())
        board = parse_probe(probe.stdout)
    except ValueError as e:
        print(f"furrow firmware flash: cannot read the board on {args.port}: {e}", file=sys.stderr)
        return 1
    steps = plan(manifest, board)
    for warning in steps.warnings:
        print(f"furrow firmware flash: warning: {warning}", file=sys.stderr)
    if steps.refusals:
        for refusal in steps.refusals:
            print(f"furrow firmware flash: {refusal}{' (--force: flashing anyway)' if args.force else ''}",
                  file=sys.stderr)
        if not args.force:
            return 2
    for path in steps.remove:
        print(f"removing {path}: not part of this image")
    print(f"flashing {manifest['role']} node {manifest['node']} (fw {manifest['fw']}) onto MicroPython "
          f"{board['micropython']}")
    return subprocess.call(flash_command(args.port, args.dir, steps.remove, mpremote))
