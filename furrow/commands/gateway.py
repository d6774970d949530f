"""`furrow gateway`: the farm gateway."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    gateway = sub.add_parser("gateway", help="the farm gateway")
    gateway_sub = gateway.add_subparsers(dest="gateway_command", required=True, metavar="COMMAND")
    run = gateway_sub.add_parser("run", help="run the gateway from its TOML config file")
    run.add_argument("--config", type=Path, required=True, help="gateway config (see gateway/gateway.example.toml)")
    run.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from furrow.gateway.app import main

    return main(args.config)
