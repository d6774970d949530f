"""The distribution ships every part: a wheel built from the tree holds every package."""

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PARTS = {"furrow": "furrow", "edge": "furrow.edge", "firmware": "furrow.firmware", "gateway": "furrow.gateway",
         "cloud": "furrow.cloud", "hil": "furrow.hil"}


def _packages_in_tree() -> set[str]:
    found = set()
    for folder, name in PARTS.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            found.add(".".join([name, *rel.parts]))
    return found


def test_every_package_in_the_tree_is_listed_in_pyproject():
    """A new subpackage must be listed, or a non-editable install would miss it."""
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    assert _packages_in_tree() == listed


def test_wheel_contains_every_module_and_the_furrow_command(tmp_path):
    """`pip wheel` of the tree holds every .py of every part and the console script."""
    # build isolation fetches the declared setuptools, as pip does for a user
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
                           capture_output=True, text=True)
    assert build.returncode == 0, build.stderr[-2000:]
    (wheel,) = tmp_path.glob("furrow-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for folder, name in PARTS.items():
        for src in (ROOT / folder).rglob("*.py"):
            rel = src.relative_to(ROOT / folder)
            assert "/".join([*name.split("."), *rel.parts]) in names, src
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "furrow = furrow.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
