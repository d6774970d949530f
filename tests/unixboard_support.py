"""Boot a built node image on the MicroPython unix port (tests/unixboard.py) and read what it did.

Shared by the firmware heap and network tests and bench/firmware_heap.py. The
hardware stand-ins get what the datasheets say a real part would answer,
computed here on CPython with the datasheet fakes of tests/firmware_fakes.py
(a BME280's register file, a DS18B20's scratchpad), so the board carries no
sensor model in its heap.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from furrow.commands.firmware import build, example_config
from furrow.edge import commands, modbus_map
from furrow.edge.crc import crc16_modbus
from tests.micropython_unix import UnixPort

T0_MS = 1_767_225_600_000  # unixboard.T0_S: the board's wall clock at boot
FLASH_BYTES = 2 * 1024 * 1024  # an ESP32's usual file system partition
CYCLE_S = 60  # report interval of the heap runs: 400 reports are 400 virtual minutes


@dataclass
class BoardRun:
    """What one boot did: the harness's result line, and the process."""

    returncode: int
    stdout: str
    stderr: str
    result: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """The run ended as planned, with no error, and no journal save failed on the way (the irrigation
        node counts those and goes on, so a MemoryError there is only seen on its console)."""
        return (self.returncode == 0 and bool(self.result) and self.result.get("error") is None
                and not self.result.get("journal_errors"))

    def describe(self) -> str:
        return f"status {self.returncode}, result {self.result}\n{self.stdout[-2000:]}\n{self.stderr[-3000:]}"


def bme280_image(address: int = 0x76) -> str:
    """The 256 registers of a BME280 (trimming, chip id, one measurement), as hex."""
    from firmware_fakes import FakeBME280

    chip = FakeBME280(address=address)
    return bytes(chip.readfrom_mem(address, reg, 1)[0] for reg in range(256)).hex()


def ds18b20_scratchpad(temp_c: float = 18.5) -> str:
    from firmware_fakes import FakeDS18B20

    sensor = FakeDS18B20(temp_c)
    sensor.convert()
    return sensor.scratchpad().hex()


def command_frame(node: str, unit: int = 1, action: str = "open", duration_s: int = 60, max_runtime_s: int = 120,
                  inject: tuple[int, int, int] | None = None) -> str:
    """An FC16 write of a whole command into the mailbox (by default: open valve 1 for a minute), as hex;
    the harness changes the id's second character each time."""
    cmd = commands.make_command("ca", node, 1, action, duration_s, max_runtime_s, 0, T0_MS + 30 * 86_400_000,
                                inject)
    regs = modbus_map.encode_command_regs(cmd)
    body = bytes([unit, 16, 0, modbus_map.CMD_BASE, 0, len(regs), 2 * len(regs)])
    body += b"".join(r.to_bytes(2, "big") for r in regs)
    crc = crc16_modbus(body)
    return (body + bytes([crc & 0xFF, crc >> 8])).hex()


def node_config(role: str, link: str = "modbus", broker: tuple[str, int] | None = None, **extra: Any) -> dict:
    """The role's example config (furrow firmware build's), reporting every CYCLE_S seconds."""
    cfg = example_config(role)
    cfg["interval_s"] = CYCLE_S
    if link == "mqtt":
        assert broker is not None
        cfg.pop("modbus", None)  # a camera's example has none: it is MQTT only
        cfg.update(link="mqtt", wifi={"ssid": "farm", "password": "secret"},
                   mqtt={"host": broker[0], "port": broker[1], "keepalive_s": 60})
    cfg.update(extra)
    return cfg


def build_image(port: UnixPort, role: str, out: Path, cfg: dict, board: str = "RPI_PICO_W") -> dict:
    """`furrow firmware build` of `cfg` into `out`; RPI_PICO_W by default: like the unix port, its
    MicroPython has no umqtt, so an MQTT image carries its own (from the port's source tree)."""
    return build(role, out, cfg, board=board, micropython=port.tree)


def board_files(image: Path, into: Path, frozen: bool = False) -> Path:
    """What `furrow firmware flash` puts on the board's file system: lib/ (unless the modules are
    frozen into the firmware), main.py and config.json."""
    into.mkdir(parents=True, exist_ok=True)
    if not frozen:
        shutil.copytree(image / "lib", into / "lib")
    for name in ("main.py", "config.json"):
        shutil.copy(image / name, into / name)
    return into


def board_options(role: str, cfg: dict, run_s: int, speed: int = 1000, **extra: Any) -> dict:
    """The harness's options for a node of `role` with config `cfg`."""
    opts: dict[str, Any] = {"run_s": run_s, "speed": speed, "pulse_every": 7,
                            "adc": {"34": 40329}}  # a wind vane pointing somewhere valid
    if role == "weather":
        opts["i2c"] = {str(0x76): bme280_image()}
    if role == "soil":
        opts["ds18b20"] = ds18b20_scratchpad()
    if cfg.get("link", "modbus") == "modbus":
        unit = cfg["modbus"].get("unit", 1)
        opts["master"] = {"unit": unit, "poll_every": 10}
        if role == "irrigation":
            opts["master"].update(cmd_frame=command_frame(cfg["node"], unit), cmd_every=25)
    opts.update(extra)
    return opts


def run_board(port: UnixPort, heap_kib: int, opts: dict, *, image: Path | None, flash: Path,
              binary: Path | None = None, timeout: float = 300) -> BoardRun:
    """Boot the image (copied onto a fresh flash unless `image` is None) and run until opts["run_s"].

    The board is handed its flash and image as links of fixed names in a temporary folder of fixed length:
    the paths stay on the node's heap, and a caller's folder one byte longer would move a run at the edge
    of its heap by a block (240 bytes were measured between two folder names, docs/firmware.md)."""
    binary = binary or port.board_binary()
    with tempfile.TemporaryDirectory(prefix="furrow-unixboard-") as tmp:
        work = Path(tmp)
        if image is not None:
            with open(flash, "wb") as f:
                f.truncate(FLASH_BYTES)
        (work / "f").symlink_to(Path(flash).resolve())
        if image is not None:
            (work / "i").symlink_to(Path(image).resolve(), target_is_directory=True)
        opts = dict(opts, flash=str(work / "f"), image=str(work / "i") if image else None, format=image is not None)
        (work / "opts.json").write_text(json.dumps(opts))
        try:
            proc = port.run(["-c", f"import unixboard; unixboard.run({str(work / 'opts.json')!r})"], heap_kib,
                            binary=binary, path=".frozen", timeout=timeout)
        except subprocess.TimeoutExpired as e:  # a hung node: a failed run that says so
            return BoardRun(-9, _text(e.stdout), _text(e.stderr) + f"\nthe node hung: still running after {timeout} s")
    return _parse(proc)


def _text(out: bytes | str | None) -> str:
    return out.decode(errors="replace") if isinstance(out, bytes) else out or ""


JOURNAL_ERROR = "furrow journal: not saved:"  # what firmware/irrigation_node.py says when a save fails


def _parse(proc: subprocess.CompletedProcess[str]) -> BoardRun:
    run = BoardRun(proc.returncode, proc.stdout, proc.stderr)
    journal_errors = []
    for line in proc.stdout.splitlines():
        if line.startswith("UNIXBOARD "):
            run.result = json.loads(line[len("UNIXBOARD "):])
        elif line.startswith(JOURNAL_ERROR):
            journal_errors.append(line[len(JOURNAL_ERROR):].strip())
    if run.result:
        # The node's console: every journal save that failed (stats["journal_errors"] on the board).
        run.result["journal_errors"] = journal_errors
    return run


def reports_made(role: str, run_s: int) -> int:
    """How many reports a node makes in `run_s` virtual seconds at CYCLE_S (the first at boot)."""
    return run_s // CYCLE_S
