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


def test_an_mqtt_image_carries_umqtt_when_the_board_lacks_it(unix_port, tmp_path: Path) -> None:
    """RPI_PICO_W's MicroPython has no umqtt.simple: its MQTT image carries it (ESP32_GENERIC's firmware has
    it, so its image does not), its frozen manifest requires it, and without a source tree the build says so."""
    from furrow.commands.firmware import BuildError, build, example_config

    cfg = example_config("soil")
    del cfg["modbus"]
    cfg.update(link="mqtt", wifi={"ssid": "farm"}, mqtt={"host": "gw"})
    pico = build("soil", tmp_path / "pico", cfg, board="RPI_PICO_W", micropython=unix_port.tree)
    esp = build("soil", tmp_path / "esp", cfg, board="ESP32_GENERIC")
    assert "lib/umqtt/simple.mpy" in pico["files"] and "lib/umqtt/simple.mpy" not in esp["files"]
    assert 'require("umqtt.simple")' in (tmp_path / "pico" / "frozen" / "node.py").read_text()
    assert "umqtt" not in (tmp_path / "esp" / "frozen" / "node.py").read_text()
    with pytest.raises(BuildError, match="--micropython"):
        build("soil", tmp_path / "nosrc", cfg, board="RPI_PICO_W")


def _source_name(mpy: bytes) -> str:
    """The source file name compiled into a .mpy (format 6: header, qstr and object counts, then the
    qstr table, whose first entry is that name)."""
    pos = 4

    def varint() -> int:
        nonlocal pos
        value = 0
        while True:
            byte = mpy[pos]
            pos += 1
            value = (value << 7) | (byte & 0x7F)
            if not byte & 0x80:
                return value

    varint(), varint()  # how many qstrs and objects
    length = varint() >> 1
    return mpy[pos:pos + length].decode()


def test_each_module_is_compiled_under_its_path_on_the_board(images: dict[str, Path]) -> None:
    """The name a traceback shows is the file's path on the board, the string MicroPython also keeps as the
    module's __file__, so the board interns one string per module instead of two."""
    lib = images["irrigation"] / "lib"
    for path in lib.rglob("*.mpy"):
        assert _source_name(path.read_bytes()) == "/" + path.relative_to(lib.parent).as_posix()


@pytest.mark.parametrize("role", ["soil", "weather", "irrigation", "pest"])
def test_an_image_holds_only_its_own_roles_tables(images: dict[str, Path], role: str) -> None:
    """The contract's tables in an image keep the node's own role's entries, unchanged, and no other role's:
    MEASUREMENTS and ROLES (edge/measurements.py) and the register layouts (edge/modbus_map.py ROLE_VALUES)."""
    import ast

    from furrow.edge import measurements, modbus_map

    edge = images[role] / "frozen" / "furrow" / "edge"
    sliced: dict = {}
    exec((edge / "measurements.py").read_text(), sliced)  # standard library only, no imports
    assert sliced["ROLES"] == {role: measurements.ROLES[role]}
    assert sliced["MEASUREMENTS"] == {k: v for k, v in measurements.MEASUREMENTS.items() if v[5] == role}
    assert sliced["MEASUREMENTS"] and sliced["FAULTS"] == measurements.FAULTS
    table = next(n for n in ast.parse((edge / "modbus_map.py").read_text()).body
                 if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "ROLE_VALUES")
    assert [k.id for k in table.value.keys] == [f"ROLE_{role.upper()}"]
    layout = eval(ast.unparse(table.value.values[0]))  # noqa: S307 - the image's own source, built above
    assert layout == modbus_map.ROLE_VALUES[role]


def test_an_images_validator_checks_only_its_own_role_and_link(images: dict[str, Path], monkeypatch) -> None:
    """The validator in an irrigation image (RS-485) carries only the irrigation and Modbus checks: the
    example config validates as the whole validator does, and a config for another role or link is an error
    naming it (fault mode on the board), not a node that boots with a builder or link it does not have."""
    import types

    from furrow.commands.firmware import example_config
    from furrow.firmware.config import validate

    # The image is MicroPython's: its folded constants import micropython.const, which is their value here.
    monkeypatch.setitem(sys.modules, "micropython", types.SimpleNamespace(const=lambda value: value))

    sliced: dict = {}
    exec((images["irrigation"] / "frozen" / "furrow" / "firmware" / "config.py").read_text(), sliced)
    assert sorted(sliced["ROLE_CHECKS"]) == ["irrigation"] and sorted(sliced["LINK_CHECKS"]) == ["modbus"]
    assert "_soil" not in sliced and "_mqtt" not in sliced
    cfg = example_config("irrigation")
    assert sliced["validate"](cfg) == validate(cfg) and validate(cfg)[1] == []
    _, errors = sliced["validate"](example_config("soil"))
    assert errors == [("role", "soil", "this image has no soil firmware: build one with furrow firmware build")]
    mqtt = dict(cfg, link="mqtt", site="farm", wifi={"ssid": "f"}, mqtt={"host": "gw"})
    assert sliced["validate"](mqtt)[1] == [("link", "mqtt", "this image has no mqtt link: build one with furrow "
                                                            "firmware build")]
    assert validate(mqtt)[1] == []
