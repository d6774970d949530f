"""The smallest heap each node image runs in, beside its size on flash.

Each role's image (`furrow firmware build`, its example config reporting every
minute, on RS-485 with the report queue) boots on the real MicroPython 1.27 unix
port, 32-bit, from a LittleFS flash, and runs 400 report cycles that the gateway
behind the UART acknowledges (tests/unixboard.py). The heap is fixed with
``-X heapsize``; the smallest size (KiB) in which the boot and every cycle
succeed, with no MemoryError and no Modbus exception, is found by bisection,
once with the modules as .mpy files on the flash and once frozen into the
firmware by the image's own manifest. The board's clock in the harness is
virtual (it moves only by the sleeps the node asks for, never by compute
time), so a heap passes or fails the same way on a quiet or a busy machine;
each row still says the load average and the minutes it took. The raw figure
beside it: the .mpy bytes on flash, and the heap the stand-ins for `machine` and `network` hold (a board
keeps those in ROM, so the figures are on the safe side). The row
"irrigation+injector" is the irrigation example with a fertiliser injector and
its EC transmitter configured (firmware/injector.py then loads too).

    PYTHONPATH=. .venv/bin/python bench/firmware_heap.py [--roles soil,irrigation] [--cycles 400]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # firmware_fakes, as in the tests

from tests.micropython_unix import UnixPort, smallest  # noqa: E402
from tests.unixboard_support import (  # noqa: E402
    CYCLE_S,
    board_files,
    board_options,
    build_image,
    node_config,
    run_board,
)

ROLES = ("soil", "weather", "irrigation", "irrigation+injector", "pest")
# The variants' config on top of the role's example (docs/firmware.md, "Fertigate").
VARIANTS = {"injector": {"injector": {"pin": 5, "rate_l_h": 36, "ec": {"adc": 35, "low_ds_m": 0.5, "high_ds_m": 3.0}}}}


def measure(port: UnixPort, name: str, cycles: int, folder: Path) -> dict:
    role, _, variant = name.partition("+")
    cfg = node_config(role, **VARIANTS[variant]) if variant else node_config(role)
    manifest = build_image(port, role, folder / "image", cfg)
    opts = board_options(role, cfg, cycles * CYCLE_S + CYCLE_S)
    row = {"role": name, "mpy_bytes": manifest["mpy_bytes"], "modules": len(manifest["files"])}
    for frozen in (False, True):
        files = board_files(folder / "image", folder / ("board-frozen" if frozen else "board"), frozen)
        binary = port.board_binary(folder / "image" / "frozen" / "node.py" if frozen else None)
        runs = {}

        def fits(kib: int, files: Path = files, binary: Path = binary, runs: dict = runs) -> bool:
            run = run_board(port, kib, opts, image=files, flash=folder / "flash.img", binary=binary)
            runs[kib] = run
            stats = run.result.get("modbus", {})
            return run.ok and stats.get("acked", 0) >= cycles and not stats.get("exceptions")

        kib = smallest(fits, 16, 160)
        key = "frozen" if frozen else "mpy"
        row[f"{key}_heap_kib"] = kib
        if kib is not None:
            row[f"{key}_live_bytes"] = runs[kib].result["mem_alloc"]
            row["stand_in_bytes"] = runs[kib].result["harness_bytes"]
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--roles", default=",".join(ROLES))
    parser.add_argument("--cycles", type=int, default=400)
    args = parser.parse_args()
    port = UnixPort()
    port.ensure_built()
    rows = []
    print(f"{'role':<19} {'.mpy bytes':>10} {'heap .mpy':>10} {'heap frozen':>12} {'live .mpy':>10} "
          f"{'live frozen':>12} {'stand-ins':>10}")
    for role in args.roles.split(","):
        start = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="furrow-heap-") as tmp:
            row = measure(port, role, args.cycles, Path(tmp))
        row["minutes"] = round((time.monotonic() - start) / 60, 1)
        row["load_avg_1m"] = round(os.getloadavg()[0], 1)
        rows.append(row)
        print(f"{role:<19} {row['mpy_bytes']:>10} {row['mpy_heap_kib']!s:>8}Ki {row['frozen_heap_kib']!s:>10}Ki "
              f"{row.get('mpy_live_bytes', '-')!s:>10} {row.get('frozen_live_bytes', '-')!s:>12} "
              f"{row.get('stand_in_bytes', '-')!s:>10}   ({row['minutes']} min, load {row['load_avg_1m']}, "
              f"{os.cpu_count()} cores)", flush=True)
    print(json.dumps({"bench": "firmware_heap", "cycles": args.cycles, "micropython": "1.27.0 unix 32-bit",
                      "cores": os.cpu_count(), "rows": rows}))


if __name__ == "__main__":
    main()
