"""The flash ring buffer of an MQTT node (firmware/outbox.py), on CPython and on MicroPython."""

from pathlib import Path

import pytest

from tests import outbox_checks
from tests.mplib import board_lib


@pytest.mark.parametrize("check", outbox_checks.CHECKS, ids=lambda c: c.__name__)
def test_outbox_on_cpython(check, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The check holds on CPython: FIFO, reboot, drop-oldest, wrap, damaged slot or oversize message."""
    check(str(tmp_path / "outbox"))


SCRIPT = r"""
import outbox_checks
for i, check in enumerate(outbox_checks.CHECKS):
    check("/outbox-%d" % i)
    print("PASS", check.__name__)
print("OK")
"""


@pytest.mark.micropython
def test_outbox_on_micropython(micropython, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Every outbox check holds inside the real MicroPython runtime, on its own file system."""
    lib = board_lib(tmp_path / "lib", "outbox_checks.py")
    result = micropython.run(SCRIPT, lib_dir=lib)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.split()
    assert lines[-1] == "OK" and lines.count("PASS") == len(outbox_checks.CHECKS), result.stdout
