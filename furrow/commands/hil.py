"""`furrow hil`: hardware-in-the-loop tools (emulated nodes on the bench)."""

from __future__ import annotations

import argparse
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


def _node(args: argparse.Namespace) -> int:
    from furrow.hil.bench import BenchOptions, run

    host, port = args.modbus_tcp or ("127.0.0.1", 0)
    return run(BenchOptions(role=args.role, host=host, port=port, unit=args.unit, baud=args.baud,
                            framing=args.framing, node_id=args.node_id, interval_s=args.interval,
                            state_dir=args.state_dir, serial=args.serial, config=args.config))
