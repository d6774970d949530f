"""A fleet whose firmware cores run in the real MicroPython runtime (WebAssembly port, under Node).

One MicroPython process hosts every node of the scenario (hil/micropython/
host.mjs with hilboard.py): the same `furrow.firmware` cores and drivers a
board runs, on "fed" hardware. Each step this process computes the sensor
inputs from the virtual farm through the emulated hardware of hil/hardware.py
(ADC samples with noise, air, wind, solar, the flow meter), sends one JSON
line, and gets back the wire bytes of the reports the cores made (encoded by
the firmware's own codec, in MicroPython), the acknowledgements, and the
valve states, which it applies to the farm's valves.

A controller with an injector (`NodeSpec.injector_l_h`) runs the firmware's
Injector there too: this process keeps its dosing pump and in-line EC sensor
(hil/injector.py, as the CPython fleet does), feeds the EC the line has at
each step and turns the pump on or off as the firmware left its relay. Its
valves are `hil.faults.FaultyValve`s, so a scenario can lose the water
(`valves[node][i].set_mode("stuck_closed")`) under a running fertigate.

The runtime is the npm package @micropython/micropython-webassembly-pyscript
(the version tests/micropython/package.json pins). It is looked for in
$FURROW_MICROPYTHON (the package folder), then in a development checkout's
tests/micropython/node_modules, then in ~/.cache/furrow/micropython.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from furrow.edge import payload
from furrow.hil.clock import SimClock
from furrow.hil.farm import Farm
from furrow.hil.faults import FaultyValve
from furrow.hil.fleet import EC_BAND_DS_M, NodeSpec, Output
from furrow.hil.hardware import AirSensor, FlowMeter, ProbeADC, Solar, Wind
from furrow.hil.injector import DosingPump, LineEC
from furrow.hil.nodes import DRY_RAW, WET_RAW

PACKAGE = "@micropython/micropython-webassembly-pyscript"
VERSION = "1.27.0"
HERE = Path(__file__).resolve().parent
ADC_SAMPLES = 8  # what the firmware's CapacitiveMoisture averages per read


class RuntimeMissing(RuntimeError):
    """Node.js or the MicroPython npm package is not there; the message says how to install it."""


def find_runtime() -> tuple[str, Path]:
    """(node executable, the package's micropython.mjs)."""
    node = shutil.which("node")
    if node is None:
        raise RuntimeMissing("the MicroPython runtime needs Node.js: apt-get install nodejs npm")
    candidates = []
    if os.environ.get("FURROW_MICROPYTHON"):
        candidates.append(Path(os.environ["FURROW_MICROPYTHON"]))
    candidates.append(HERE.parent / "tests" / "micropython" / "node_modules" / PACKAGE)
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "furrow" / "micropython"
    candidates.append(cache / "node_modules" / PACKAGE)
    for c in candidates:
        if (c / "micropython.mjs").is_file():
            return node, c / "micropython.mjs"
    raise RuntimeMissing(f"MicroPython ({PACKAGE} {VERSION}) not found in {', '.join(map(str, candidates))}; "
                         f"install it with: npm install --prefix {cache} {PACKAGE}@{VERSION} "
                         "(or set FURROW_MICROPYTHON to the package folder)")


def board_lib(dest: Path) -> Path:
    """/lib as a board holds it: furrow/edge and furrow/firmware from this installation, and hilboard.py."""
    import furrow.edge
    import furrow.firmware

    if dest.exists():
        shutil.rmtree(dest)
    (dest / "furrow").mkdir(parents=True)
    (dest / "furrow" / "__init__.py").write_text("")
    skip = shutil.ignore_patterns("__pycache__", "*.pyc", "*.md", "*.json")
    for mod, name in ((furrow.edge, "edge"), (furrow.firmware, "firmware")):
        shutil.copytree(Path(mod.__file__).parent, dest / "furrow" / name, ignore=skip)  # type: ignore[arg-type]
    shutil.copy(HERE / "micropython" / "hilboard.py", dest / "hilboard.py")
    return dest


class MicroPythonFleet:
    """The scenario's cores in one MicroPython process (see the module docstring)."""

    def __init__(self, specs: list[NodeSpec], farm: Farm, clock: SimClock, state_dir: Path) -> None:
        for s in specs:
            if s.role == "camera" or s.canopy_zone:
                raise ValueError(f"node {s.node_id}: cameras and reflectance pairs run on the CPython fleet only")
        self.specs = {s.node_id: s for s in specs}
        self._units = {s.unit: s.node_id for s in specs if s.link == "modbus"}
        self.farm, self.clock = farm, clock
        node, entry = find_runtime()
        state_dir.mkdir(parents=True, exist_ok=True)
        lib = board_lib(state_dir / "mplib")
        board = [{"node_id": s.node_id, "role": s.role, "interval_s": s.interval_s, "depths_cm": list(s.depths_cm),
                  "valve_zones": list(s.valve_zones), "traps": s.traps, "encoding": s.encoding,
                  "link": s.link, "unit": s.unit, "injector_l_h": s.injector_l_h, "ec_band": list(EC_BAND_DS_M),
                  "dry_raw": DRY_RAW, "wet_raw": WET_RAW} for s in specs]
        boot = state_dir / "boot.py"
        boot.write_text("import json\nfrom hilboard import Board\n"
                        f"_board = Board(json.loads({json.dumps(json.dumps(board))}))\n"
                        "def _hil_step(line):\n    _board.step(line)\n")
        self._adcs = {s.node_id: {d: ProbeADC(farm, s.zone, d, DRY_RAW, WET_RAW) for d in s.depths_cm}
                      for s in specs if s.role == "soil"}
        self._air = AirSensor(farm, clock.s)  # type: ignore[arg-type]
        self._wind, self._solar = Wind(farm, clock.s), Solar(farm, clock.s)  # type: ignore[arg-type]
        self._meters: dict[str, FlowMeter] = {}
        self.valves: dict[str, list[FaultyValve]] = {}
        """Each controller's valves, valve 1 first: what the firmware drives, and what passes water."""
        self.pumps: dict[str, DosingPump] = {}
        """Each injector's dosing pump: its `delivered_ml` is what truly went into the line."""
        self._line_ec: dict[str, LineEC] = {}
        for s in specs:
            if s.role == "irrigation":
                for ch, zone in enumerate(s.valve_zones, start=1):
                    farm.connect_valve(s.node_id, ch, zone, s.rate_mm_h)
                self.valves[s.node_id] = [FaultyValve(farm, s.node_id, ch)  # type: ignore[arg-type]
                                          for ch in range(1, len(s.valve_zones) + 1)]
                self._meters[s.node_id] = FlowMeter(farm, s.node_id)  # type: ignore[arg-type]
                if s.injector_l_h:
                    pump = self.pumps[s.node_id] = DosingPump(s.injector_l_h)
                    self._line_ec[s.node_id] = LineEC(farm, s.node_id, pump)  # type: ignore[arg-type]
        self.steps = 0
        # stderr goes to a file: nobody reads it during the run, and a full pipe would stall MicroPython
        self._stderr_path = state_dir / "micropython.stderr"
        with self._stderr_path.open("w") as err:
            self._proc = subprocess.Popen([node, str(HERE / "micropython" / "host.mjs"), str(entry), str(lib),
                                           str(boot)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err,
                                          text=True, bufsize=1)

    def _inputs(self, node_id: str) -> dict[str, Any]:
        spec = self.specs[node_id]
        if spec.role == "soil":
            return {"adc": {str(d): [adc.read_u16() for _ in range(ADC_SAMPLES)]
                            for d, adc in self._adcs[node_id].items()}}
        if spec.role == "weather":
            return {"air": list(self._air.read()), "wind": list(self._wind.read()), "solar": self._solar.read()}
        if spec.role == "irrigation":
            m = self._meters[node_id]
            fed: dict[str, Any] = {"flow": [m.total_l(), m.rate_l_min()]}
            if node_id in self._line_ec:
                fed["ec"] = self._line_ec[node_id].read()
            return fed
        return {}

    def _advance(self, now_ms: int) -> None:
        for part in [*self._meters.values(), *self.pumps.values()]:
            part.advance(now_ms / 1000)

    def step(self, now_ms: int, due: list[str], commands: list[tuple[str, bytes]],
             pulses: dict[str, list[tuple[int, int]]]) -> Output:
        self._advance(now_ms)
        fed = set(due) | {n for n, _ in commands}
        req = {"t": now_ms, "due": due, "cmds": [[n, d.decode()] for n, d in commands],
               "pulses": {n: [list(e) for e in ev] for n, ev in pulses.items()},
               "in": {n: self._inputs(n) for n in fed if self.specs[n].role != "pest"}}
        reply = self._exchange(req)
        out = Output(acks=reply["acks"])
        for _node_id, wire in reply["ups"]:
            data = bytes.fromhex(wire)
            out.uplinks.append((payload.decode(data), data))
        return out

    def answer(self, unit: int, request: bytes) -> bytes | None:
        """The reply of the RS-485 controller at `unit` (`link="modbus"`) to one whole request
        frame, at the clock's now, after ticking it up to now as its board loop would; None if no
        such unit (a `hil.sim_line.Answer`). A write into its mailbox moves the farm's valves."""
        node_id = self._units.get(unit)
        if node_id is None:
            return None
        now_ms = self.clock.ms()
        self._advance(now_ms)
        reply = self._exchange({"t": now_ms, "due": [node_id], "in": {node_id: self._inputs(node_id)},
                                "rtu": [[node_id, request.hex()]]})
        [frame] = reply["rtu"]
        return None if frame is None else bytes.fromhex(frame)

    def open_valves(self) -> list[tuple[str, int]]:
        """(node, valve) of every valve the controllers hold open now, as the farm's valves show."""
        return [(node, ch) for node, valves in self.valves.items()
                for ch, valve in enumerate(valves, start=1) if valve.is_open]

    def _exchange(self, req: dict[str, Any]) -> dict[str, Any]:
        assert self._proc.stdin is not None and self._proc.stdout is not None
        try:
            self._proc.stdin.write(json.dumps(req) + "\n")
            self._proc.stdin.flush()
            line = self._proc.stdout.readline()
        except BrokenPipeError:
            line = ""
        if not line:
            raise RuntimeError(f"MicroPython stopped: {self._stderr()}")
        reply: dict[str, Any] = json.loads(line)
        self.steps += 1
        for node_id, states in reply["valves"].items():
            for valve, state in zip(self.valves[node_id], states, strict=True):
                if valve.is_open != bool(state):
                    valve.set(bool(state))
        for node_id, on in reply["pumps"].items():
            self.pumps[node_id].set(bool(on))
        return reply

    def _stderr(self) -> str:
        self._proc.kill()
        self._proc.wait(timeout=10)
        err = self._stderr_path.read_text(errors="replace").strip()
        return err[-2000:] or f"exit status {self._proc.returncode}"

    def close(self) -> None:
        if self._proc.poll() is None:
            assert self._proc.stdin is not None
            self._proc.stdin.close()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
