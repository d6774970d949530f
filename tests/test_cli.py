"""The `furrow` command line as a user meets it."""

import subprocess
import sys

FURROW = [sys.executable, "-m", "furrow.cli"]


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*FURROW, *args], capture_output=True, text=True, timeout=60, check=False)


def test_help_lists_every_part():
    """`furrow --help` names the command of every part."""
    out = _run("--help").stdout
    for command in ("agro", "cloud", "demo", "firmware", "gateway", "hil"):
        assert command in out


def test_gateway_with_a_missing_config_names_the_file_and_exits_2():
    """`furrow gateway --config FILE` (the form the docs give) refuses a missing file by name."""
    result = _run("gateway", "--config", "/nonexistent/furrow-gw.toml")
    assert result.returncode == 2
    assert "/nonexistent/furrow-gw.toml" in result.stderr and "cannot read" in result.stderr


def test_gateway_without_a_config_says_how_to_give_one():
    """`furrow gateway` alone says which option is missing instead of a traceback."""
    result = _run("gateway")
    assert result.returncode == 2 and "--config FILE" in result.stderr
