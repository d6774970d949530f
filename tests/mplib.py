"""The /lib tree the MicroPython tests run against, laid out as the firmware
build lays it out on a board: furrow/edge and furrow/firmware from the source
tree (never a hand copy), plus any test modules written in the MicroPython
subset (datasheet fakes, shared test vectors)."""

from __future__ import annotations

import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", "*.md", "*.json")


def board_lib(dest: Path, *test_modules: str, firmware: bool = True) -> Path:
    """Build the tree at `dest` and return it; `test_modules` are file names in tests/."""
    (dest / "furrow").mkdir(parents=True)
    (dest / "furrow" / "__init__.py").write_text("")
    shutil.copytree(ROOT / "edge", dest / "furrow" / "edge", ignore=_SKIP)
    if firmware:
        shutil.copytree(ROOT / "firmware", dest / "furrow" / "firmware", ignore=_SKIP)
    for name in test_modules:
        shutil.copy(ROOT / "tests" / name, dest / name)
    return dest
