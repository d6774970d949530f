"""`furrow demo`: a small farm on embedded defaults, with weeks of history."""

from __future__ import annotations

import argparse
from pathlib import Path

from furrow.commands._args import positive_seconds


def _days(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number of days, got {text!r}") from None
    if not 0 <= value <= 120:
        raise argparse.ArgumentTypeError(f"must be 0 to 120 days (a maize season), got {value}")
    return value


def _speed(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number (farm seconds per second), got {text!r}") from None
    if not 1 <= value <= 3600:
        raise argparse.ArgumentTypeError(f"must be 1 (real time) to 3600 (an hour a second), got {text}")
    return value


def register(sub: argparse._SubParsersAction) -> None:
    demo = sub.add_parser(
        "demo",
        help="run a demo farm on embedded defaults (no servers to install), with weeks of history",
        description="Lay down a small maize farm in the registry, simulate the last weeks of its season "
        "through the gateway, the cloud and its planner in seconds, then run it live: emulated soil, weather, "
        "pest and irrigation nodes, the gateway, an in-process MQTT broker and the cloud service with its API "
        "and dashboard, all in one process. With --duration it stops by itself and prints a JSON summary as "
        "its last line.",
    )
    demo.add_argument("--duration", type=positive_seconds, default=None, metavar="SECONDS",
                      help="stop after this many seconds live (default: run until Ctrl-C)")
    demo.add_argument("--days", type=_days, default=45,
                      help="days of the season simulated before going live (default 45; 0: none)")
    demo.add_argument("--speed", type=_speed, default=1.0,
                      help="once live, farm seconds per second (default 1: real time)")
    demo.add_argument("--seed", type=int, default=7, help="weather, soils and sensor noise (default 7)")
    demo.add_argument("--data-dir", type=Path, default=Path(".furrow/demo"),
                      help="where the demo keeps its SQLite files (default: .furrow/demo); wiped at every "
                      "start, so it must be new, empty, or made by an earlier demo")
    demo.add_argument("--port", type=int, default=8000, help="cloud API port on 127.0.0.1 (default 8000)")
    demo.add_argument("--mqtt-port", type=int, default=1883, help="embedded MQTT broker port (default 1883)")
    demo.add_argument("--modbus-port", type=int, default=5020,
                      help="TCP port of the emulated RS-485 bus, Modbus RTU framing (default 5020)")
    demo.add_argument("--report-interval", type=positive_seconds, default=2.0, metavar="SECONDS",
                      help="once live, how often each emulated node reports, in seconds of wall time (default 2)")
    demo.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from furrow.hil.demo import DemoOptions, run_demo

    return run_demo(DemoOptions(duration_s=args.duration, data_dir=args.data_dir, api_port=args.port,
                                mqtt_port=args.mqtt_port, modbus_port=args.modbus_port,
                                report_interval_s=args.report_interval, days=args.days, speed=args.speed,
                                seed=args.seed))
