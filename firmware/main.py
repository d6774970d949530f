"""The board's start: reads /config.json, validates it, builds the role's core
on real hardware and hands it to its link, RS-485 (firmware/modbus_link.py)
or Wi-Fi and MQTT (firmware/mqtt_link.py; a camera's photos: camera_link.py).

On the board this file is copied to /main.py with the library under
/lib/furrow/ (or frozen into the firmware). It only glues: every decision
lives in the cores, which the tests drive on CPython and on MicroPython.

A board's heap is small, so boot-only code is loaded, run and freed again
(``release``): the config validator and the node builder hold no heap while
the node runs, and a node loads only its own link's code.

* An invalid config never starts a core and never reboots: the node stays up
  in fault mode and says why (firmware/fault_mode.py) until a technician
  fixes the file.
* The hardware watchdog (``watchdog_s``, default 30, 0 = off) is fed once
  per loop; a hung loop resets the board, and an irrigation node's journal
  then ends the interrupted run "aborted" with the reset's cause.
* An exception that ends the loop (a MemoryError included, with the heap
  full) first turns off every valve and an injector's pump, then goes on:
  with the watchdog off the board stops with its outputs off, not open.
"""

import gc
import json
import sys

from furrow.firmware import board

CONFIG_PATH = "/config.json"
# Collect after every 2 KiB allocated rather than only when the heap is full: the allocator then
# refills the lowest holes, long-lived objects stay packed together, and a report's buffers
# still find room after weeks of running (docs/firmware.md, "Heap").
GC_EVERY_BYTES = 2048


def release(names):
    """Forget the modules `names` so their code can be freed (imported again if needed later)."""
    for name in names:
        del sys.modules[name]
        package, _, leaf = name.rpartition(".")
        parent = sys.modules.get(package)
        if parent is not None and leaf in parent.__dict__:
            delattr(parent, leaf)
    gc.collect()


def read_config(path=CONFIG_PATH):
    """(cfg with defaults, errors); an unreadable file is an error too. The validator (and what
    it imports) is freed again: it runs once, at boot."""
    try:
        with open(path) as f:
            cfg = json.load(f)
    except OSError as e:
        return {}, [(path, None, "cannot be read: %s" % e)]
    except ValueError as e:
        return {}, [(path, None, "is not valid JSON: %s" % e)]
    before = set(sys.modules)
    from furrow.firmware.config import validate

    try:
        return validate(cfg)
    finally:
        release([n for n in sys.modules if n not in before])  # with what only it imported


def build_node(cfg, clock):
    """The role's core on this board (firmware/builders/, freed afterwards)."""
    from furrow.firmware.builders import build_node as build

    try:
        return build(cfg, clock)
    finally:
        release([n for n in sys.modules if n.startswith("furrow.firmware.builders")])


def main(config_path=CONFIG_PATH):
    gc.threshold(GC_EVERY_BYTES)
    cfg, errors = read_config(config_path)
    if errors:
        from furrow.firmware.fault_mode import run_fault

        run_fault(cfg, errors)
        return
    wdt = board.Watchdog(cfg.get("watchdog_s", 30))
    if cfg["link"] == "mqtt" and cfg["role"] == "tracker":
        # A GNSS receiver's positions instead of reports; no waiting for the network: the satellites give
        # the time, and a machine must be tracked from boot even out of coverage (the Link joins later).
        from furrow.firmware.tracker_link import run
    elif cfg["link"] == "mqtt":
        from furrow.firmware.mqtt_link import join_network, run

        join_network(cfg, wdt)  # Wi-Fi and true time before the clock starts
        if cfg["role"] == "camera":
            from furrow.firmware.camera_link import run  # photos in chunks instead of reports
    else:
        from furrow.firmware.modbus_link import run
    clock = board.Clock()
    node = build_node(cfg, clock)
    # Bound now, while there is heap: what the guard below calls to turn each output off.
    stops = [valve.set for valve in getattr(node, "valves", ())]
    injector = getattr(node, "injector", None)
    if injector is not None:
        stops.append(injector.pump.set)
    try:
        run(cfg, node, clock, wdt)
    except BaseException:
        # Whatever ends the loop (a MemoryError in a full heap, a bug, Ctrl-C at the console) must not
        # leave a valve open or a dosing pump running until someone resets the board: everything the
        # node drives is turned off first, each on its own (one that fails stops none of the others),
        # then the exception goes on as before (the watchdog, if on, resets the board). The heap may be
        # full here, so nothing below allocates: bound methods made at boot, no strings, no formatting.
        for stop in stops:
            try:
                stop(False)
            except BaseException:  # noqa: S110 - the next output must still be turned off
                pass
        raise


# MicroPython runs /main.py at boot as __main__; importing it (tests) does not start the loop.
if __name__ == "__main__":
    main()
