"""`furrow cloud`: the cloud service."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    cloud = sub.add_parser("cloud", help="the cloud service")
    cloud_sub = cloud.add_subparsers(dest="cloud_command", required=True, metavar="COMMAND")
    run = cloud_sub.add_parser("run", help="serve the API and ingest (settings from FURROW_* variables)")
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, default=8000)
    run.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import uvicorn

    from furrow.cloud.app import create_app
    from furrow.cloud.settings import Settings

    uvicorn.run(create_app(Settings()), host=args.host, port=args.port, log_level="info")
    return 0
