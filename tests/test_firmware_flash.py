"""`furrow firmware flash` asks the board what it holds before copying: stale files go, an older MicroPython is
refused, the image is recorded on the board.

No board can exist here, and mpremote drives a board's raw REPL over a serial line, which the MicroPython unix
port does not serve; so the `mpremote` on PATH is tests/fake_mpremote.py, which acts on a folder standing for
the board's file system and runs the probe (`exec`) on the real unix port with that folder as its "/"."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def board(unix_port, tmp_path: Path) -> dict:
    """A board (a folder) that held an older soil node: a module the image no longer has, a .py shadowing
    a .mpy, and its record; plus the environment that makes `mpremote` the stand-in."""
    files = tmp_path / "board"
    (files / "lib" / "furrow" / "firmware").mkdir(parents=True)
    (files / "lib" / "furrow" / "edge").mkdir(parents=True)
    (files / "lib" / "furrow" / "firmware" / "old_node.mpy").write_bytes(b"M\x06")
    (files / "lib" / "furrow" / "edge" / "payload.py").write_text("raise ImportError('the stale copy ran')\n")
    (files / "furrow.json").write_text(json.dumps({"role": "soil", "node": "soil-07", "fw": "0.0.9"}))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "mpremote"
    fake.write_text(f"#!/bin/sh\nexec {sys.executable} {ROOT / 'tests' / 'fake_mpremote.py'} \"$@\"\n")
    fake.chmod(0o755)
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}", FAKE_BOARD=str(files),
               FAKE_MICROPYTHON=str(unix_port.binary))
    return {"files": files, "env": env, "log": tmp_path / "mpremote.log"}


def _furrow(env: dict, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "furrow.cli", *args], capture_output=True, text=True, timeout=300,
                          env=env)


@pytest.fixture
def image(tmp_path: Path) -> Path:
    out = tmp_path / "image"
    result = _furrow(dict(os.environ), "firmware", "build", "--role", "soil", "--out", str(out))
    assert result.returncode == 0, result.stderr
    return out


def test_flash_removes_stale_files_and_records_the_image(board: dict, image: Path) -> None:
    """The board's stale module and the .py that would shadow a .mpy are removed, the image copied and its
    manifest recorded as /furrow.json; the change of node id and fw version is said on stderr."""
    result = _furrow(board["env"], "firmware", "flash", "--port", "/dev/ttyUSB0", "--dir", str(image))
    assert result.returncode == 0, result.stdout + result.stderr
    files = board["files"]
    manifest = json.loads((image / "manifest.json").read_text())
    on_board = sorted(p.relative_to(files).as_posix() for p in (files / "lib").rglob("*") if p.is_file())
    assert on_board == sorted(manifest["files"])  # nothing stale left, nothing missing
    assert json.loads((files / "furrow.json").read_text()) == manifest
    assert "removing lib/furrow/firmware/old_node.mpy" in result.stdout
    assert "removing lib/furrow/edge/payload.py" in result.stdout
    assert "the board was node 'soil-07'; it becomes node 'soil-01'" in result.stderr
    assert f"fw 0.0.9 on the board is replaced by fw {manifest['fw']}" in result.stderr


def test_flash_refuses_an_older_micropython_and_changes_nothing(board: dict, image: Path) -> None:
    """An image that needs a newer MicroPython than the board runs is refused, naming both versions, and the
    board is left as it was; --force flashes it anyway."""
    manifest = json.loads((image / "manifest.json").read_text())
    manifest["micropython_min"] = "1.99.0"
    (image / "manifest.json").write_text(json.dumps(manifest))
    before = sorted(p.relative_to(board["files"]).as_posix() for p in board["files"].rglob("*"))
    result = _furrow(board["env"], "firmware", "flash", "--port", "/dev/ttyUSB0", "--dir", str(image))
    assert result.returncode == 2
    assert "the board runs MicroPython 1.27.0; this image needs 1.99.0 or newer" in result.stderr
    assert sorted(p.relative_to(board["files"]).as_posix() for p in board["files"].rglob("*")) == before
    assert len(board["log"].read_text().splitlines()) == 1  # the probe only
    forced = _furrow(board["env"], "firmware", "flash", "--port", "/dev/ttyUSB0", "--dir", str(image), "--force")
    assert forced.returncode == 0, forced.stderr
    assert json.loads((board["files"] / "furrow.json").read_text())["micropython_min"] == "1.99.0"


def test_flash_says_so_when_the_board_does_not_answer(board: dict, image: Path) -> None:
    """A board whose probe fails (here: no MicroPython to run it) is named with the error; nothing is copied."""
    board["env"]["FAKE_MICROPYTHON"] = shutil.which("false") or "/bin/false"
    result = _furrow(board["env"], "firmware", "flash", "--port", "/dev/ttyUSB0", "--dir", str(image))
    assert result.returncode == 1
    assert "cannot read the board on /dev/ttyUSB0" in result.stderr
    assert not (board["files"] / "main.py").exists()
