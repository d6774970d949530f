"""`furrow hil`: hardware-in-the-loop tools: emulated nodes on the bench, and closed-loop scenarios."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from furrow.commands._args import positive_seconds

ROLES = ("soil", "weather", "irrigation", "pest")


def host_port(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"must be HOST:PORT (PORT 0 picks a free one), got {text!r}")
    return host, int(port)


def unit_address(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 247:
        raise argparse.ArgumentTypeError(f"a Modbus unit address is 1..247, got {text!r}")
    return int(text)


def register(sub: argparse._SubParsersAction) -> None:
    hil = sub.add_parser("hil", help="hardware-in-the-loop: emulated nodes running the real firmware")
    hil_sub = hil.add_subparsers(dest="hil_command", required=True, metavar="COMMAND")
    node = hil_sub.add_parser(
        "node",
        help="one emulated node serving Modbus (bench testing, technician training)",
        description="Run one node's real firmware core on emulated hardware; its firmware Modbus RTU slave "
        "answers on a TCP port. Prints one line with the address once it listens.",
    )
    node.add_argument("--role", choices=ROLES, required=True)
    where = node.add_mutually_exclusive_group(required=True)
    where.add_argument("--modbus-tcp", type=host_port, metavar="HOST:PORT",
                       help="where to listen (PORT 0: a free port, printed at start)")
    where.add_argument("--serial", action="store_true",
                       help="serve Modbus RTU on a new pseudo-terminal (its /dev/pts/N is printed at start), "
                       "for masters that speak RTU over a serial port, e.g. mbpoll -m rtu")
    node.add_argument("--unit", type=unit_address, default=1, help="Modbus unit address (default 1)")
    node.add_argument("--baud", type=int, default=19_200,
                      help="baud rate of the emulated line: sets frame timing and reply delay (default 19200)")
    node.add_argument("--framing", choices=("tcp", "rtu"), default="tcp",
                      help="tcp: Modbus/TCP (MBAP), e.g. mbpoll -m tcp (default); "
                      "rtu: raw RTU frames over TCP, like a serial-to-Ethernet converter")
    node.add_argument("--node-id", default=None, help="node id (default ROLE-bench)")
    node.add_argument("--interval", type=positive_seconds, default=5.0, metavar="SECONDS",
                      help="report interval (default 5)")
    node.add_argument("--config", type=Path, default=None, metavar="FILE",
                      help="a node config.json to check first, as the board does at boot: if it is invalid the "
                      "node runs in fault mode (register 14 = 1, 15 = number of errors) instead of its role")
    node.add_argument("--state-dir", type=Path, default=Path(".furrow/hil"),
                      help="where the node keeps its seq 'flash' file (default .furrow/hil)")
    node.set_defaults(func=_node)

    listing = hil_sub.add_parser("list", help="the scenarios shipped, one per line with what it shows")
    listing.set_defaults(func=_list)
    run = hil_sub.add_parser(
        "run",
        help="run one scenario on the simulated clock",
        description="Run a scenario: a virtual farm, emulated nodes running the real firmware, the gateway buffer "
        "and the cloud store, and an irrigation policy, on a simulated clock. Progress goes to stderr. With --json "
        "the last line printed is one JSON object of the measured results; without, a report folder (report.md "
        "and PNG plots) is written and its path printed.",
    )
    run.add_argument("scenario", metavar="SCENARIO", help="a name from `furrow hil list`")
    run.add_argument("--policy", choices=("furrow", "timer"), default="furrow",
                     help="furrow: the planner on what the nodes reported (default); timer: a fixed schedule")
    run.add_argument("--seed", type=int, default=1, help="seed of the weather, noise and soils (default 1)")
    run.add_argument("--json", action="store_true", help="print the results as one JSON object on the last line")
    run.add_argument("--out", type=Path, default=None, metavar="DIR",
                     help="report folder (default .furrow/hil/SCENARIO-POLICY-seedN; with --json only if given)")
    run.set_defaults(func=_run)


def _node(args: argparse.Namespace) -> int:
    from furrow.hil.bench import BenchOptions, run

    host, port = args.modbus_tcp or ("127.0.0.1", 0)
    return run(BenchOptions(role=args.role, host=host, port=port, unit=args.unit, baud=args.baud,
                            framing=args.framing, node_id=args.node_id, interval_s=args.interval,
                            state_dir=args.state_dir, serial=args.serial, config=args.config))


def _list(args: argparse.Namespace) -> int:
    from furrow.hil.scenarios import all_scenarios

    for name, scenario in all_scenarios().items():
        print(f"{name:22} {scenario.summary}")
    return 0


def _run(args: argparse.Namespace) -> int:
    from furrow.hil.micropython_fleet import RuntimeMissing
    from furrow.hil.report import scratch_dir, write_report
    from furrow.hil.scenarios import RunOptions, all_scenarios

    scenarios = all_scenarios()
    scenario = scenarios.get(args.scenario)
    if scenario is None:
        print(f"furrow hil run: unknown scenario {args.scenario!r}; the scenarios are: {', '.join(scenarios)}",
              file=sys.stderr)
        return 2

    def progress(line: str) -> None:
        print(f"[{scenario.name}] {line}", file=sys.stderr, flush=True)

    with scratch_dir(f"furrow-hil-{scenario.name}-") as work:
        options = RunOptions(workdir=Path(work), policy=args.policy, seed=args.seed, progress=progress)
        try:
            result = asyncio.run(scenario.run(options))
        except RuntimeMissing as e:
            print(f"furrow hil run {scenario.name}: {e}", file=sys.stderr)
            return 2
        out = args.out
        if out is None and not args.json:
            out = Path(".furrow/hil") / f"{scenario.name}-{args.policy}-seed{args.seed}"
        if out is not None:
            report = write_report(scenario.name, scenario.summary, options, result, out)
            progress(f"report written to {report}")
            if not args.json:
                print(report)
    if args.json:
        print(json.dumps(result.summary()), flush=True)
    return 0
