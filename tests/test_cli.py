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


# Every `furrow cloud` command (and `furrow broker config`, which reads the same settings), with
# the arguments it needs besides its settings.
CLOUD_COMMANDS = [
    ("cloud", "run"), ("cloud", "migrate"), ("cloud", "token", "create", "--role", "admin"),
    ("cloud", "token", "revoke", "fw-1"), ("cloud", "user", "create", "maria", "--role", "agronomist"),
    ("cloud", "keys", "generate"), ("cloud", "keys", "list"), ("cloud", "keys", "node-key", "irr-01"),
    ("cloud", "backup", "--out", "farm.tar"), ("cloud", "restore", "farm.tar"),
    ("broker", "config", "--out", "broker-files"),
]


def test_the_cloud_command_list_is_complete():
    """CLOUD_COMMANDS names every leaf of `furrow cloud`, so the test below covers a new one too."""
    from furrow.cli import build_parser

    def leaves(parser, path):
        subs = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
        if not subs:
            return [path]
        return [leaf for name, p in subs[0].choices.items() for leaf in leaves(p, (*path, name))]

    cloud = build_parser()._subparsers._group_actions[0].choices["cloud"]
    covered = {leaf for leaf in leaves(cloud, ("cloud",)) if any(c[:len(leaf)] == leaf for c in CLOUD_COMMANDS)}
    assert covered == set(leaves(cloud, ("cloud",)))


def test_every_cloud_command_without_settings_says_in_one_line_which_variable_to_set(tmp_path):
    """With no FURROW_* variable each cloud command exits 2 with one line naming the variable to set:
    no traceback, no pydantic boilerplate (token create printed a ValidationError traceback)."""
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("FURROW_")}
    for command in CLOUD_COMMANDS:
        result = subprocess.run([*FURROW, *command], capture_output=True, text=True, timeout=60, check=False,
                                env=env, cwd=tmp_path, input="a-password-of-enough-length\n")
        lines = result.stderr.splitlines()
        assert result.returncode == 2 and len(lines) == 1, (command, result.stderr)
        assert lines[0].startswith("error: ") and "FURROW_" in lines[0], (command, lines)
        assert "validation error" not in lines[0] and "pydantic" not in lines[0], (command, lines)
