"""`furrow firmware build` folds an image's private constants into its code (furrow/commands/_const_fold.py):
which constants it folds, which it must leave, and that MicroPython runs the folded module as the original."""

import json
import subprocess
from pathlib import Path

from furrow.commands._const_fold import fold_constants
from furrow.commands._firmware_image import node_sources

MODULE = '''"""A module. HISTORY in a docstring is only a word."""

HISTORY = 32  # ids kept
_NONE = 0
MAGIC = "furrow-seq"
KEYS = ("a", "b")
SHARED = 5


def early():
    return LATE


LATE = 7
TWICE = 1
TWICE = 2
ATTR = 3
BIG = 0xFFFFFFFF
SHOWN = 4


def run(n=HISTORY):
    class Box:
        ATTR = 9

    return [n, _NONE, MAGIC, KEYS, TWICE, Box.ATTR, BIG, early(), "HISTORY", f"{SHOWN}"]
'''
OTHER = '''from mod import SHARED


def use():
    return SHARED
'''


def test_only_constants_that_nothing_else_reads_are_folded() -> None:
    """A module-level literal that no other module of the image uses and that no code reads above its
    definition becomes `_NAME = const(value)`, every use renamed (a word in a string or docstring is left);
    one another module imports, one assigned twice, one read as an attribute, a big int, one an f-string
    reads, and one read by a function above its line stay as they are."""
    out = fold_constants({"mod": MODULE, "other": OTHER})
    folded = out["mod"]
    assert "_HISTORY = const(32)  # ids kept" in folded and "def run(n=_HISTORY):" in folded
    assert "_NONE = const(0)" in folded and '_MAGIC = const("furrow-seq")' in folded
    assert '_KEYS = const(("a", "b"))' in folded
    assert '"""A module. HISTORY in a docstring is only a word."""' in folded and '"HISTORY", f"{SHOWN}"]' in folded
    for kept in ("SHARED = 5", "TWICE = 1", "ATTR = 3", "BIG = 0xFFFFFFFF", "SHOWN = 4", "LATE = 7\n"):
        assert "\n" + kept in folded, kept
    assert folded.count("from micropython import const") == 1
    assert out["other"] == OTHER


def test_micropython_runs_the_folded_module_as_cpython_runs_the_original(unix_port, tmp_path: Path) -> None:
    """The folded module, compiled and run by the real MicroPython, gives what the original gives on CPython,
    and keeps no global for a folded constant."""
    folded = fold_constants({"mod": MODULE, "other": OTHER})["mod"]
    expect: dict = {}
    exec(MODULE, expect)  # noqa: S102 - the test's own module text
    script = tmp_path / "run.py"
    script.write_text(folded + "\nimport json\nprint(json.dumps([run(), sorted(k for k in globals() if k.isupper() "
                      "or k.lstrip('_').isupper())]))\n")
    proc = unix_port.run([str(script)], 256)
    assert proc.returncode == 0, proc.stderr
    got, names = json.loads(proc.stdout)
    assert got == json.loads(json.dumps(expect["run"]()))
    assert not {"HISTORY", "_HISTORY", "_NONE", "MAGIC", "_MAGIC", "KEYS", "_KEYS"} & set(names), names
    assert {"SHARED", "TWICE", "ATTR", "BIG", "SHOWN", "LATE"} <= set(names), names


def test_every_image_compiles_once_folded(unix_port, tmp_path: Path) -> None:
    """Each role's and link's sources, folded, are accepted by the release's mpy-cross (a const() it cannot
    fold is a compile error, so a bad fold cannot ship)."""
    for role, link in (("soil", "modbus"), ("weather", "modbus"), ("irrigation", "modbus"), ("pest", "modbus"),
                       ("irrigation", "mqtt"), ("camera", "mqtt"), ("tracker", "mqtt")):
        for name, text in node_sources(role, link).items():
            source = tmp_path / role / link / f"{name}.py"
            source.parent.mkdir(parents=True, exist_ok=True)
            source.write_text(text)
            result = subprocess.run([str(unix_port.mpy_cross), "-o", str(source.with_suffix(".mpy")), str(source)],
                                    capture_output=True, text=True)
            assert result.returncode == 0, (role, link, name, result.stderr)
