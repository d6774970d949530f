"""`furrow modbus scan`: which devices answer on a Modbus bus, and what they are."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import asdict


def _units(text: str) -> list[int]:
    from furrow.gateway.modbus.scan import parse_units

    try:
        return parse_units(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _port(text: str) -> str:
    if text.startswith("/"):
        return text
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(
            f"must be a serial device like /dev/ttyUSB0 or a converter's HOST:PORT, got {text!r}")
    return text


def register(sub: argparse._SubParsersAction) -> None:
    modbus = sub.add_parser("modbus", help="Modbus bus tools for technicians")
    modbus_sub = modbus.add_subparsers(dest="modbus_command", required=True, metavar="COMMAND")
    scan = modbus_sub.add_parser(
        "scan",
        help="find the devices on a bus",
        description="Ask every unit address on a bus for the Furrow header (input registers 0-15) and list "
        "what answers: Furrow nodes with role, contract and firmware version, nodes waiting with an invalid "
        "config, and other devices. Progress goes to stderr; the table (or JSON) to stdout.",
    )
    scan.add_argument("--port", type=_port, required=True, metavar="PORT",
                      help="a serial RS-485 adapter (/dev/ttyUSB0, RTU) or a serial-to-Ethernet converter HOST:PORT")
    scan.add_argument("--baud", type=int, default=19_200, help="the bus's baud rate (default 19200)")
    scan.add_argument("--framing", choices=("rtu", "tcp"), default="rtu",
                      help="over TCP: rtu = raw RTU frames (a converter; default), tcp = Modbus/TCP "
                      "(the gateway config's framing, same names)")
    scan.add_argument("--units", type=_units, default=list(range(1, 248)), metavar="LIST",
                      help="unit addresses to ask, e.g. 1-20,31 (default 1-247)")
    scan.add_argument("--timeout", type=float, default=0.3, metavar="SECONDS",
                      help="how long to wait for each unit's answer (default 0.3)")
    scan.add_argument("--retries", type=int, choices=range(0, 4), default=1, metavar="N",
                      help="ask a silent unit N more times before calling it absent (default 1)")
    out = scan.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    out.add_argument("--gateway-toml", action="store_true",
                     help="print [[modbus]] entries for the gateway config, one per Furrow node found")
    scan.set_defaults(func=_scan)


def _scan(args: argparse.Namespace) -> int:
    from furrow.gateway.modbus.pymodbus_bus import quiet_pymodbus
    from furrow.gateway.modbus.scan import Found, gateway_snippet, make_client, scan

    quiet_pymodbus()  # one line per silent unit otherwise; the scan says what is absent itself

    total = len(args.units)
    tty = sys.stderr.isatty()

    def progress(i: int, n: int, hit: Found | None) -> None:
        if hit is not None:
            print(f"  found unit {hit.unit}", file=sys.stderr, flush=True)
        if tty:
            print(f"\rscanning {i}/{n} ...", end="" if i < n else "\n", file=sys.stderr, flush=True)
        elif i % 25 == 0 or i == n:
            print(f"scanned {i}/{n}", file=sys.stderr, flush=True)

    print(f"scanning {total} unit address(es) on {args.port} at {args.baud} baud, "
          f"{args.timeout:g} s per silent request, {args.retries} retry(ies) "
          f"(about {total * args.timeout * (1 + args.retries):.0f} s at most)", file=sys.stderr)
    gap_s = 3.5 * 11 / args.baud

    async def main() -> list[Found]:  # pymodbus clients belong to a running loop
        client = make_client(args.port, args.baud, args.framing, args.timeout)
        return await scan(client, args.units, gap_s, progress, args.retries)

    try:
        found = asyncio.run(main())
    except (ConnectionError, OSError) as e:
        print(f"error: {args.port}: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({"port": args.port, "baud": args.baud, "units_asked": total,
                          "found": [asdict(f) for f in found]}))
    elif args.gateway_toml:
        print(gateway_snippet(found, args.port, args.baud, args.framing))
    else:
        for f in found:
            print(f.line())
        furrow_nodes = sum(1 for f in found if f.furrow)
        print(f"{len(found)} device(s) answered, {furrow_nodes} of them Furrow node(s), of {total} address(es) asked")
        if not found:
            print("nothing answered: check wiring (A/B swapped?), termination, the baud rate and the port",
                  file=sys.stderr)
    return 0
