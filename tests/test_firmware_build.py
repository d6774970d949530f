"""`furrow firmware build` and `flash`: a node image compiled by the real mpy-cross, run by the real MicroPython."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from furrow.commands.firmware import ROLES, flash_command

ROOT = Path(__file__).resolve().parent.parent


def furrow(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "furrow.cli", *args], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One built image per role, from the command line."""
    out = {}
    for role in ROLES:
        d = tmp_path_factory.mktemp(f"fw-{role}")
        result = furrow("firmware", "build", "--role", role, "--out", str(d))
        assert result.returncode == 0, result.stderr
        out[role] = d
    return out


@pytest.mark.parametrize("role", ROLES)
def test_build_writes_mpy_main_and_validated_config(images: dict[str, Path], role: str) -> None:
    """The image holds only .mpy modules (mpy v6), a main.py that starts the compiled loop, and a valid config."""
    d = images[role]
    manifest = json.loads((d / "manifest.json").read_text())
    mpys = sorted(p.relative_to(d).as_posix() for p in (d / "lib").rglob("*.mpy"))
    assert mpys == sorted(f for f in manifest["files"] if f.endswith(".mpy"))
    assert f"lib/furrow/firmware/{role}_node.mpy" in mpys and "lib/furrow/edge/payload.mpy" in mpys
    for path in mpys:
        head = (d / path).read_bytes()[:2]
        assert head[0] == ord("M") and head[1] == 6, path  # MicroPython .mpy, format version 6
    assert "from furrow.firmware.main import main" in (d / "main.py").read_text()
    cfg = json.loads((d / "config.json").read_text())
    assert cfg["role"] == role and cfg["watchdog_s"] == 30


def test_build_refuses_a_bad_config_naming_field_and_value(tmp_path: Path) -> None:
    """A config error stops the build with the field, the value and what is wrong; nothing is written."""
    bad = tmp_path / "node.json"
    bad.write_text(json.dumps({"node": "soil-01", "role": "soil", "modbus": {"tx": 17, "rx": 16, "de": 4},
                               "probes": [{"depth_cm": 10, "adc": 32, "dry_raw": 50000, "wet_raw": 50000}]}))
    result = furrow("firmware", "build", "--role", "soil", "--out", str(tmp_path / "img"), "--config", str(bad))
    assert result.returncode == 2
    assert "probes[0].wet_raw=50000: must differ from dry_raw" in result.stderr
    assert not (tmp_path / "img").exists()


def test_flash_dry_run_prints_the_mpremote_command(images: dict[str, Path]) -> None:
    """flash builds one chained mpremote line: copy lib/, main.py and config.json, then reset (no board here)."""
    d = images["soil"]
    result = furrow("firmware", "flash", "--port", "/dev/ttyUSB0", "--dir", str(d), "--dry-run")
    assert result.returncode == 0, result.stderr
    words = result.stdout.split()
    assert words[0].endswith("mpremote")
    assert words[1:] == flash_command("/dev/ttyUSB0", d)[1:]
    assert words[1:4] == ["connect", "/dev/ttyUSB0", "fs"]
    assert [str(d / "lib"), ":", "+"] == words[6:9] and words[-1] == "reset"


def test_flash_refuses_a_directory_without_an_image(tmp_path: Path) -> None:
    """flash on a directory that was never built says what to do instead of copying half an image."""
    result = furrow("firmware", "flash", "--port", "/dev/ttyUSB0", "--dir", str(tmp_path), "--dry-run")
    assert result.returncode == 2 and "furrow firmware build" in result.stderr


CYCLE = r"""
import gc, json
import firmware_fakes as ff  # the fake hardware is not part of the node's footprint
chip = ff.FakeBME280()
chip.raw()  # the fake's search for raw ADC values is slow and big: done before counting
gc.collect()
base = gc.mem_alloc()
from furrow.edge import payload, modbus_map
from furrow.edge.crc import crc16_modbus
from furrow.firmware.modbus_slave import RtuSlave
from furrow.firmware.outbox import Outbox
from furrow.firmware.seqstore import SeqStore

ROLE = "%(role)s"
T0 = 1767225600000
seq = SeqStore("/seq")
acks = []
if ROLE == "soil":
    from furrow.firmware.soil_node import SoilNode
    from furrow.firmware.drivers.soil_moisture import CapacitiveMoisture
    from furrow.firmware.drivers.ds18b20 import DS18B20
    bus = ff.FakeOneWire(ff.FakeDS18B20(18.5))
    node = SoilNode("soil-01", seq, [(10, CapacitiveMoisture(ff.FakeADC(37000), 52000, 22000), DS18B20(bus)),
                                     (30, CapacitiveMoisture(ff.FakeADC(36000), 52000, 22000), None)])
    node.tick(T0)
    def cycle():
        return node.tick(T0 + 750)
elif ROLE == "weather":
    from furrow.firmware.weather_node import WeatherNode
    from furrow.firmware.drivers.bme280 import BME280
    from furrow.firmware.drivers.analog import Pyranometer, LeafWetness
    from furrow.firmware.drivers.wind import Anemometer, Wind, WindVane
    counter = ff.FakeCounter()
    now = [T0]
    wind = Wind(Anemometer(counter), WindVane(ff.FakeADC(40329)), lambda: now[0])
    wind.read()
    node = WeatherNode("wx-01", seq, air=BME280(chip), wind=wind, solar=Pyranometer(ff.FakeADC(20000), 5.0),
                       leaf=LeafWetness(ff.FakeADC(50000)))
    node.on_pulse(T0)
    counter.count = 30
    now[0] = T0 + 10000
    def cycle():
        return node.tick(T0 + 10000)
elif ROLE == "irrigation":
    from furrow.edge import commands
    from furrow.firmware.irrigation_node import IrrigationNode
    from furrow.firmware.journal import Journal
    node = IrrigationNode("irr-01", seq, [ff.FakeValve(), ff.FakeValve()], flow_meter=ff.FakeFlowMeter(30.0),
                          journal=Journal("/journal"))
    cmd = commands.encode(commands.make_command("c-1", "irr-01", 1, "open", 600, 900, T0, T0 + 3600000))
    def cycle():
        acks.extend(node.on_command(cmd, T0))
        return node.tick(T0)[1]
else:
    from furrow.firmware.pest_node import PestNode
    node = PestNode("trap-01", seq, traps=2)
    def cycle():
        for t in range(5):
            node.on_catch(1 + t %% 2, T0 + 1000 * t)
        return node.tick(T0 + 5000)

box = Outbox("/outbox", slots=8, slot_size=1024)
slave = RtuSlave(1, node.registers(), node.holding)
req = bytes([1, 4, 0, 0, 0, 112])
c = crc16_modbus(req)
req += bytes([c & 0xFF, c >> 8])
gc.collect()
before = gc.mem_alloc()
gc.disable()
ups = cycle()
box.append("furrow/v1/farm/node/x/up", payload.encode_json(ups[0]))
box.append("furrow/v1/farm/node/x/up", payload.encode_binary(ups[0]))
reply = slave.feed(req, 10000000)
peak = gc.mem_alloc() - before
gc.enable()
gc.collect()
assert len(ups) == 1 and len(reply) == 229 and modbus_map.has_report(list(node.registers()))
print("HEAP", ROLE, base, gc.mem_alloc() - base, peak)
from furrow.firmware.config import validate  # the boot-time validator, compiled, on the board's runtime
_, errs = validate({"node": "soil-01", "role": "soil", "modbus": {"tx": 1, "rx": 2, "de": 3},
                    "probes": [{"depth_cm": 10, "adc": 1, "dry_raw": 5, "wet_raw": 5}]})
assert [e[:2] for e in errs] == [("probes[0].wet_raw", 5)], errs
print("OK")
"""


@pytest.mark.micropython
@pytest.mark.parametrize("role", ROLES)
def test_built_image_makes_a_report_on_micropython(micropython, images: dict[str, Path], role: str,  # type: ignore[no-untyped-def]
                                                   tmp_path: Path) -> None:
    """The compiled image runs a report cycle (report, outbox, FC04 reply) and the config validator in MicroPython."""
    lib = tmp_path / "lib"
    import shutil

    shutil.copytree(images[role] / "lib", lib)
    shutil.copy(ROOT / "tests" / "firmware_fakes.py", lib / "firmware_fakes.py")
    result = micropython.run(CYCLE % {"role": role}, lib_dir=lib)
    assert result.returncode == 0, result.stdout + result.stderr
    [heap] = [line.split() for line in result.stdout.splitlines() if line.startswith("HEAP")]
    live, peak = int(heap[3]), int(heap[4])
    print(f"{role}: .mpy {json.loads((images[role] / 'manifest.json').read_text())['mpy_bytes']} B, "
          f"heap retained {live} B, report cycle allocates {peak} B")
    assert peak < 32 * 1024 and live < 96 * 1024  # an ESP32 gives MicroPython code about 100 KB of heap
