"""`furrow gateway --config FILE`: the farm gateway (`furrow gateway run --config FILE` too)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

CONFIG_HELP = "gateway config (see gateway/gateway.example.toml and docs/gateway.md)"


def register(sub: argparse._SubParsersAction) -> None:
    gateway = sub.add_parser("gateway", help="run the farm gateway from its TOML config file",
                             description="Run the farm gateway until SIGINT or SIGTERM.")
    gateway.add_argument("--config", type=Path, help=CONFIG_HELP)
    gateway.set_defaults(func=_run)
    gateway_sub = gateway.add_subparsers(dest="gateway_command", metavar="COMMAND")
    run = gateway_sub.add_parser("run", help="the same as `furrow gateway --config FILE`")
    run.add_argument("--config", type=Path, required=True, help=CONFIG_HELP)
    run.set_defaults(func=_run)
    from ._gateway_add import register_add

    register_add(gateway_sub)


def _run(args: argparse.Namespace) -> int:
    if args.config is None:
        print("furrow gateway: give the config file: furrow gateway --config FILE", file=sys.stderr)
        return 2
    from furrow.gateway.app import main

    return main(args.config)
