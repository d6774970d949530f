"""The `furrow` command: one entry point for every part of Furrow."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from furrow import __version__


def _demo(args: argparse.Namespace) -> int:
    from furrow.hil.demo import DemoOptions, run_demo

    options = DemoOptions(
        duration_s=args.duration,
        data_dir=args.data_dir,
        api_port=args.port,
        mqtt_port=args.mqtt_port,
        modbus_port=args.modbus_port,
        report_interval_s=args.report_interval,
    )
    return run_demo(options)


def _gateway_run(args: argparse.Namespace) -> int:
    from furrow.gateway.app import main as gateway_main

    return gateway_main(args.config)


def _cloud_run(args: argparse.Namespace) -> int:
    import uvicorn

    from furrow.cloud.app import create_app
    from furrow.cloud.settings import Settings

    uvicorn.run(create_app(Settings()), host=args.host, port=args.port, log_level="info")
    return 0


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="furrow", description=__doc__)
    parser.add_argument("--version", action="version", version=f"furrow {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser(
        "demo",
        help="run a small demo farm on embedded defaults (no servers to install)",
        description="Run emulated soil, weather and irrigation nodes, the gateway, an in-process "
        "MQTT broker and the cloud service with its API, all in one process. With --duration it "
        "stops by itself and prints a JSON summary as its last line.",
    )
    demo.add_argument("--duration", type=_positive, default=None, metavar="SECONDS",
                      help="stop after this many seconds (default: run until Ctrl-C)")
    demo.add_argument("--data-dir", type=Path, default=Path(".furrow/demo"),
                      help="where the demo keeps its SQLite files (default: .furrow/demo, wiped at start)")
    demo.add_argument("--port", type=int, default=8000, help="cloud API port on 127.0.0.1 (default 8000)")
    demo.add_argument("--mqtt-port", type=int, default=1883, help="embedded MQTT broker port (default 1883)")
    demo.add_argument("--modbus-port", type=int, default=5020,
                      help="TCP port of the emulated RS-485 bus, Modbus RTU framing (default 5020)")
    demo.add_argument("--report-interval", type=_positive, default=2.0, metavar="SECONDS",
                      help="how often each emulated node reports (default 2)")
    demo.set_defaults(func=_demo)

    gateway = sub.add_parser("gateway", help="the farm gateway")
    gateway_sub = gateway.add_subparsers(dest="gateway_command", required=True, metavar="COMMAND")
    gw_run = gateway_sub.add_parser("run", help="run the gateway from its TOML config file")
    gw_run.add_argument("--config", type=Path, required=True, help="gateway config (see gateway/gateway.example.toml)")
    gw_run.set_defaults(func=_gateway_run)

    cloud = sub.add_parser("cloud", help="the cloud service")
    cloud_sub = cloud.add_subparsers(dest="cloud_command", required=True, metavar="COMMAND")
    cl_run = cloud_sub.add_parser("run", help="serve the API and ingest (settings from FURROW_* variables)")
    cl_run.add_argument("--host", default="127.0.0.1")
    cl_run.add_argument("--port", type=int, default=8000)
    cl_run.set_defaults(func=_cloud_run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
