"""The irrigation safety rules, one set of vectors (tests/irrigation_vectors.py), on CPython and on MicroPython."""

from pathlib import Path

import pytest

from tests import irrigation_vectors as iv
from tests.mplib import board_lib


@pytest.mark.parametrize("scenario", iv.SCENARIOS, ids=lambda sc: sc["name"])
def test_safety_vector_on_cpython(scenario: dict, tmp_path: Path) -> None:
    """The scenario's acks, valve states, litres and stats come out as the vector says, on CPython."""
    assert iv.run_scenario(scenario, str(tmp_path / "journal")) == []


def test_vectors_cover_every_rule() -> None:
    """The vector list is not silently thinned: every safety rule has a scenario that expects it."""
    reasons = " | ".join(w[2] for sc in iv.SCENARIOS for w in sc.get("acks", []) if len(w) > 2)
    for rule in ("expired", "max runtime", "heartbeat lost", "watchdog reset", "before it started", "no flow",
                 "coil", "closed by command"):
        assert rule in reasons, rule
    assert any(sc.get("leak") for sc in iv.SCENARIOS) and any(sc.get("leak") is False for sc in iv.SCENARIOS)


SCRIPT = r"""
import sys
assert sys.implementation.name == "micropython"
import irrigation_vectors as iv
failed = iv.run_all(lambda i: "/journal-%d" % i)
for name in failed:
    print("FAIL", name, failed[name])
print("RAN", len(iv.SCENARIOS))
print("OK" if not failed else "FAILED")
"""


@pytest.mark.micropython
def test_safety_vectors_on_micropython(micropython, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Every scenario gives the same acks and valve states inside the real MicroPython runtime."""
    lib = board_lib(tmp_path / "lib", "irrigation_vectors.py")
    result = micropython.run(SCRIPT, lib_dir=lib, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.strip().splitlines()
    assert f"RAN {len(iv.SCENARIOS)}" in lines and lines[-1] == "OK", result.stdout
