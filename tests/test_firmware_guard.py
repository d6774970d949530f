"""An irrigation node whose loop ends in an exception turns its outputs off before the exception goes on.

firmware/main.py's guard: with the watchdog off (`watchdog_s` 0) nothing resets a board whose loop ended, so
without it a MemoryError (or any exception) leaving `main()` leaves an open valve open, and a dosing pump
dosing, until someone comes. On the real MicroPython unix port (tests/unixboard.py) the example irrigation
image runs with a valve open and then its heap runs out: the harness fills it ("heap_full_at_s"), so the
node's next allocation fails with a real MemoryError wherever it comes; with "heap_lock" the heap is also
locked, so the guard finds no room even in what the unwinding frees: it must allocate nothing. The pins are
read at the moment the heap ran out (the valve open, the pump on) and when the board has stopped.
"""

from pathlib import Path

import pytest

from tests.unixboard_support import board_files, board_options, build_image, command_frame, node_config, run_board

HEAP_KIB = 96  # room to spare: the heap runs out when the harness fills it, not before
FULL_AT_S = 150  # the first command (at the 5th poll, some 60 s after boot) has opened valve 1 by then
RUN_S = 600
VALVE_PIN = "25"  # valve 1 of the example config (valve 2 is latching, pins 26 and 27)
PUMP_PIN = "5"
INJECTOR = {"injector": {"pin": 5, "rate_l_h": 36, "ec": {"adc": 35, "low_ds_m": 0.5, "high_ds_m": 3.0}}}


def _run_out_of_heap(unix_port, tmp_path: Path, lock: bool, injector: bool) -> dict:
    cfg = node_config("irrigation", watchdog_s=0, **(INJECTOR if injector else {}))
    build_image(unix_port, "irrigation", tmp_path / "image", cfg)
    files = board_files(tmp_path / "image", tmp_path / "board")
    opts = board_options("irrigation", cfg, RUN_S, out_pins=True, heap_full_at_s=FULL_AT_S, heap_lock=lock,
                         pulse_every=1)
    # An hour's run of valve 1 from the 5th poll on; with the injector a fertigate: 5,000 ml at 10 ml/s from
    # the start, the flow meter pulsing every loop pass (0.5 l a second: the pump doses without a pause), the
    # line's EC 1.5 dS/m (6.4 mA across the 150-ohm shunt), inside the 0.5-3.0 band.
    inject = (5000, 0, 3000) if injector else None
    opts["adc"]["35"] = round(6.4e-3 * 150 / 3.3 * 65535)
    opts["master"].update(cmd_every=5, cmd_frame=command_frame(
        cfg["node"], cfg["modbus"]["unit"], "fertigate" if injector else "open", 3600, 7200, inject))
    run = run_board(unix_port, HEAP_KIB, opts, image=files, flash=tmp_path / "flash.img")
    result = run.result
    assert result, run.describe()
    assert (result["error"] or "").startswith("MemoryError"), run.describe()  # it did leave main()
    if lock:
        assert "heap is locked" in result["error"], run.describe()
    return result


@pytest.mark.parametrize("lock", [False, True], ids=["full", "full-and-locked"])
def test_a_valve_open_when_the_heap_runs_out_is_closed(unix_port, tmp_path: Path, lock: bool) -> None:
    result = _run_out_of_heap(unix_port, tmp_path, lock, injector=False)
    assert result["pins_at_full"][VALVE_PIN] == 1, result
    assert result["pins"][VALVE_PIN] == 0, result
    assert result["pins"]["26"] == result["pins"]["27"] == 0, result  # the latching valve's coils unpowered


@pytest.mark.parametrize("lock", [False, True], ids=["full", "full-and-locked"])
def test_a_dosing_pump_running_when_the_heap_runs_out_is_stopped(unix_port, tmp_path: Path, lock: bool) -> None:
    result = _run_out_of_heap(unix_port, tmp_path, lock, injector=True)
    assert result["pins_at_full"][VALVE_PIN] == 1 and result["pins_at_full"][PUMP_PIN] == 1, result
    assert result["pins"][VALVE_PIN] == 0 and result["pins"][PUMP_PIN] == 0, result
