"""What `furrow firmware flash` does to a board, decided from what is on it.

Before copying, flash runs ``probe_script()`` on the board (``mpremote exec``): it prints one line
``FURROW {json}`` with the board's MicroPython version, the files under /lib/furrow and /lib/umqtt,
and the record the last flash left in /furrow.json (the image's manifest.json: role, node, fw
version, files). ``plan()`` turns that into the mpremote command:

* a MicroPython older than the image's ``micropython_min`` (its .mpy files and the tested release)
  is refused, naming both versions, unless forced;
* files the image no longer carries are removed, and so is every .py under /lib/furrow, which would
  shadow the .mpy of the same name (MicroPython imports a .py before a .mpy);
* a board that held another node (its record names another node id) or another role is said
  loudly: the config on it is about to change identity;
* the manifest is copied to /furrow.json last, so the record names the fw version now on the board.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RECORD = "furrow.json"  # on the board's file system root: what the last flash put there
PROBED = ("lib/furrow", "lib/umqtt")  # the folders an image owns on the board


def probe_script() -> str:
    """MicroPython source printing ``FURROW {json}``: version, the image's folders' files, the record."""
    return f"""
import os, sys, json
def _walk(d, out):
    try:
        names = os.listdir("/" + d)
    except OSError:
        return out
    for n in names:
        p = d + "/" + n
        if os.stat("/" + p)[0] & 0x4000:
            _walk(p, out)
        else:
            out.append(p)
    return out
_files = []
for _d in {list(PROBED)!r}:
    _walk(_d, _files)
try:
    with open("/{RECORD}") as _f:
        _rec = json.load(_f)
except (OSError, ValueError):
    _rec = None
print("FURROW " + json.dumps({{"micropython": ".".join(str(v) for v in sys.implementation.version[:3]),
                               "files": _files, "record": _rec}}))
"""


def parse_probe(output: str) -> dict[str, Any]:
    """The probe's JSON from the board's output; ValueError when the board printed none."""
    for line in output.splitlines():
        if line.startswith("FURROW "):
            return json.loads(line[len("FURROW "):])
    raise ValueError(f"the board did not answer the probe: {output.strip()[-300:]!r}")


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".")[:3])


@dataclass
class Plan:
    """What flashing an image onto a probed board means: refusals, warnings, files to remove."""

    refusals: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    remove: list[str] = field(default_factory=list)


def plan(manifest: dict[str, Any], board: dict[str, Any]) -> Plan:
    """Compare the image's `manifest` (manifest.json) with the `board` the probe described."""
    out = Plan()
    have, need = board.get("micropython", "0"), manifest["micropython_min"]
    if _version(have) < _version(need):
        out.refusals.append(f"the board runs MicroPython {have}; this image needs {need} or newer "
                            f"(flash MicroPython first: docs/firmware.md)")
    record = board.get("record") or {}
    if record.get("node") not in (None, manifest["node"]):
        out.warnings.append(f"the board was node {record['node']!r}; it becomes node {manifest['node']!r}")
    if record.get("role") not in (None, manifest["role"]):
        out.warnings.append(f"the board was a {record['role']} node; it becomes a {manifest['role']} node")
    if record.get("fw") not in (None, manifest["fw"]):
        out.warnings.append(f"fw {record['fw']} on the board is replaced by fw {manifest['fw']}")
    wanted = set(manifest["files"])
    out.remove = sorted(f for f in board.get("files", ()) if f not in wanted)
    return out


def flash_command(port: str, directory: Path, remove: Sequence[str] = (), mpremote: str = "mpremote") -> list[str]:
    """The one mpremote command line that removes `remove`, copies an image onto a board, records it and
    resets the board."""
    d = directory
    cmd = [mpremote, "connect", port]
    for path in remove:
        cmd += ["fs", "rm", f":{path}", "+"]
    return cmd + ["fs", "cp", "-r", str(d / "lib"), ":", "+",
                  "fs", "cp", str(d / "main.py"), ":main.py", "+",
                  "fs", "cp", str(d / "config.json"), ":config.json", "+",
                  "fs", "cp", str(d / "manifest.json"), f":{RECORD}", "+",
                  "reset"]
