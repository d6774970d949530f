"""Every role boots its built image and runs 400 report cycles in a fixed heap on the real MicroPython unix port.

The board's own start runs (/main.py, firmware/main.py: config, builder, link) on a LittleFS flash, with the
RS-485 gateway behind the UART polling, draining the report queue and (irrigation) writing commands into the
mailbox (tests/unixboard.py). The heap is fixed with `-X heapsize`, the collector runs: a MemoryError anywhere,
or a Modbus exception answered for lack of memory, fails the test. bench/firmware_heap.py finds the smallest heap.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from furrow.commands.firmware import MODBUS_ROLES
from tests.micropython_unix import FROZEN_KEEP
from tests.unixboard_support import (
    CYCLE_S,
    JOURNAL_ERROR,
    BoardRun,
    _parse,
    board_files,
    board_options,
    build_image,
    node_config,
    run_board,
)

CYCLES = 400
# KiB, stand-ins for machine/network included. Issue 15's line is 80 for every role as .mpy files, the
# irrigation node with its RS-485 command mailbox and report queue included (docs/firmware.md, "Size and heap
# per role"), and the irrigation image with a fertiliser injector holds to it too.
MPY_HEAP_KIB = {"soil": 80, "weather": 80, "irrigation": 80, "pest": 80}
FROZEN_HEAP_KIB = 40
# Each image's smallest heap as .mpy files, measured by bench/firmware_heap.py on 4406f5c (2026-12-08): one KiB
# less must fail (test_one_kib_below_the_smallest_heap_fails), so the harness sees a heap too small for that
# very image, and each line test above can fail.
SMALLEST_KIB = {"soil": 53, "weather": 59, "irrigation": 75, "pest": 51, "irrigation+injector": 78}


# The irrigation example with a fertiliser injector and its EC transmitter (bench/firmware_heap.py's
# "irrigation+injector" row).
INJECTOR = {"injector": {"pin": 5, "rate_l_h": 36, "ec": {"adc": 35, "low_ds_m": 0.5, "high_ds_m": 3.0}}}
INJECTOR_MPY_HEAP_KIB = 80


def _board(unix_port, tmp_path: Path, role: str, frozen: bool, heap: int | None = None, **extra) -> BoardRun:
    role, _, variant = role.partition("+")
    if variant:  # the only one: "irrigation+injector"
        extra = dict(extra, **INJECTOR)
    cfg = node_config(role, **extra)
    build_image(unix_port, role, tmp_path / "image", cfg)
    files = board_files(tmp_path / "image", tmp_path / "board", frozen)
    binary = unix_port.board_binary(tmp_path / "image" / "frozen" / "node.py" if frozen else None)
    opts = board_options(role, cfg, CYCLES * CYCLE_S + CYCLE_S)
    heap = heap or (FROZEN_HEAP_KIB if frozen else MPY_HEAP_KIB[role])
    return run_board(unix_port, heap, opts, image=files, flash=tmp_path / "flash.img", binary=binary)


def _passes(run: BoardRun) -> bool:
    """The pass rule of these tests and of bench/firmware_heap.py: booted, 400 cycles acknowledged, no
    MemoryError (raised or in a journal save) and no Modbus exception."""
    return run.ok and run.result["modbus"]["acked"] >= CYCLES and run.result["modbus"]["exceptions"] == 0


def _run(unix_port, tmp_path: Path, role: str, frozen: bool, heap: int | None = None, **extra) -> dict:
    run = _board(unix_port, tmp_path, role, frozen, heap, **extra)
    assert _passes(run), run.describe()
    return run.result


@pytest.mark.parametrize("role", MODBUS_ROLES)
def test_mpy_image_runs_400_cycles_in_its_heap(unix_port, tmp_path: Path, role: str) -> None:
    """As .mpy files on the flash, each role boots and runs 400 acknowledged report cycles in its fixed heap."""
    _run(unix_port, tmp_path, role, frozen=False)


@pytest.mark.parametrize("role", MODBUS_ROLES)
def test_frozen_image_runs_400_cycles_in_40_kib(unix_port, tmp_path: Path, role: str) -> None:
    """Frozen into the firmware by the image's own manifest (frozen/node.py), each role runs 400 cycles in 40 KiB."""
    _run(unix_port, tmp_path, role, frozen=True)


@pytest.mark.full
@pytest.mark.parametrize("frozen", [False, True], ids=["mpy", "frozen"])
def test_an_irrigation_image_with_an_injector_runs_400_cycles(unix_port, tmp_path: Path, frozen: bool) -> None:
    """With a fertiliser injector configured (injector.py and the fertigate checks load too) the irrigation
    image runs its 400 cycles in INJECTOR_MPY_HEAP_KIB as .mpy and in 40 KiB frozen. (Full tier: the fast tier runs the
    example irrigation image, the same code but the injector's.)"""
    _run(unix_port, tmp_path, "irrigation", frozen, None if frozen else INJECTOR_MPY_HEAP_KIB, **INJECTOR)


@pytest.mark.parametrize("role", [
    "irrigation",  # the fast tier's: the largest image, the one nearest its line
    *(pytest.param(role, marks=pytest.mark.full) for role in ("soil", "weather", "pest", "irrigation+injector")),
])
def test_one_kib_below_the_smallest_heap_fails(unix_port, tmp_path: Path, role: str) -> None:
    """One KiB below an image's measured smallest heap the same run runs out of heap (a MemoryError raised or
    in a journal save, or a Modbus request answered with an exception) and fails the pass rule: the harness
    sees a heap too small for that image, so its line test can fail. (If this passes, the image got smaller:
    measure it again with bench/firmware_heap.py and update SMALLEST_KIB and the docs.)"""
    below = SMALLEST_KIB[role] - 1
    run = _board(unix_port, tmp_path, role, frozen=False, heap=below)
    assert not _passes(run), f"the {role} image now runs in {below} KiB: measure its smallest heap again"
    result = run.result
    lost_save = any("MemoryError" in e for e in result.get("journal_errors", ()))
    raised = "MemoryError" in (result.get("error") or "")
    assert lost_save or raised or result.get("modbus", {}).get("exceptions"), run.describe()


@pytest.mark.full
def test_a_heap_run_is_the_same_on_a_busy_machine(unix_port, tmp_path: Path) -> None:
    """The board's clock in the harness is virtual: it moves only by the sleeps the node asks for, never by
    compute time. So the same heap run gives the same result, to the byte and to the lost journal save, with
    every core kept busy by a loop of its own as without them. Run one KiB below the irrigation image's
    smallest heap, where the result is most sensitive (which allocation fails, and where, depends on every
    allocation before it)."""
    heap = SMALLEST_KIB["irrigation"] - 1

    def result(name: str) -> dict:
        (tmp_path / name).mkdir()
        run = _board(unix_port, tmp_path / name, "irrigation", frozen=False, heap=heap)
        assert run.result, run.describe()
        return {k: v for k, v in run.result.items() if k != "longest_awake_ms"}  # real time, by design

    # The folders' names may differ in length: run_board hands the board links of fixed names (the flash path
    # is a string on the node's heap; before, folders "quiet" and "busy" gave 70,384 and 70,144 live bytes).
    quiet = result("quiet")
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(os.cpu_count() or 2)]
    try:
        busy = result("busy")
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    assert quiet["journal_errors"] or quiet["error"], quiet  # the run is at the edge: it does run out
    assert busy == quiet


def test_a_frozen_build_keeps_only_its_binary(unix_port) -> None:
    """The cache keeps a frozen build's binary alone (frozen/<digest>, about 0.5 MB), the newest FROZEN_KEEP of
    them; the build folder it was linked in (some 43 MB of objects) is removed once it has linked."""
    binary = unix_port.board_binary()
    assert binary.is_file() and binary.parent == unix_port.home / "frozen"
    assert binary.stat().st_size < 2_000_000
    assert not list(unix_port.port_dir.glob("build-fz-*"))
    assert len(list(binary.parent.iterdir())) <= FROZEN_KEEP


def test_a_journal_save_that_failed_fails_the_run() -> None:
    """The irrigation node counts a failed journal save and goes on (firmware/irrigation_node.py, _save), so
    the harness reads the node's console: a run whose journal was not saved, a MemoryError most likely, is
    not ok, and its result lists why."""
    result = {"error": None, "modbus": {"acked": 400, "exceptions": 0}}
    line = "UNIXBOARD " + json.dumps(result)
    clean = _parse(subprocess.CompletedProcess([], 0, "booted\n" + line + "\n", ""))
    assert clean.ok and clean.result["journal_errors"] == []
    failed = _parse(subprocess.CompletedProcess(
        [], 0, f"{JOURNAL_ERROR} MemoryError memory allocation failed, allocating 252 bytes\n{line}\n", ""))
    assert not failed.ok
    assert failed.result["journal_errors"] == ["MemoryError memory allocation failed, allocating 252 bytes"]
