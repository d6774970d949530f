"""`furrow demo`: a small farm on embedded defaults."""

from __future__ import annotations

import argparse
from pathlib import Path

from furrow.commands._args import positive_seconds


def register(sub: argparse._SubParsersAction) -> None:
    demo = sub.add_parser(
        "demo",
        help="run a small demo farm on embedded defaults (no servers to install)",
        description="Run emulated soil, weather and irrigation nodes, the gateway, an in-process "
        "MQTT broker and the cloud service with its API, all in one process. With --duration it "
        "stops by itself and prints a JSON summary as its last line.",
    )
    demo.add_argument("--duration", type=positive_seconds, default=None, metavar="SECONDS",
                      help="stop after this many seconds (default: run until Ctrl-C)")
    demo.add_argument("--data-dir", type=Path, default=Path(".furrow/demo"),
                      help="where the demo keeps its SQLite files (default: .furrow/demo); wiped at every "
                      "start, so it must be new, empty, or made by an earlier demo")
    demo.add_argument("--port", type=int, default=8000, help="cloud API port on 127.0.0.1 (default 8000)")
    demo.add_argument("--mqtt-port", type=int, default=1883, help="embedded MQTT broker port (default 1883)")
    demo.add_argument("--modbus-port", type=int, default=5020,
                      help="TCP port of the emulated RS-485 bus, Modbus RTU framing (default 5020)")
    demo.add_argument("--report-interval", type=positive_seconds, default=2.0, metavar="SECONDS",
                      help="how often each emulated node reports (default 2)")
    demo.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from furrow.hil.demo import DemoOptions, run_demo

    return run_demo(DemoOptions(duration_s=args.duration, data_dir=args.data_dir, api_port=args.port,
                                mqtt_port=args.mqtt_port, modbus_port=args.modbus_port,
                                report_interval_s=args.report_interval))
