"""The `furrow` command: one entry point for every part of Furrow."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

import furrow.commands
from furrow import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="furrow", description=__doc__)
    parser.add_argument("--version", action="version", version=f"furrow {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(furrow.commands.__path__), key=lambda i: i.name):
        if not info.name.startswith("_"):
            importlib.import_module(f"furrow.commands.{info.name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
