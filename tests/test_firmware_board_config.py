"""The board loop's node builder turns config files into working cores (machine faked, nothing else)."""

import importlib
import json
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from furrow.edge import payload
from furrow.firmware.irrigation_node import IrrigationNode
from furrow.firmware.soil_node import SoilNode
from furrow.firmware.weather_node import WeatherNode

ROOT = Path(__file__).resolve().parent.parent
T0 = 1_767_225_600_000


class _Pin:
    OUT, IN, PULL_UP, IRQ_FALLING = 1, 0, 2, 4

    def __init__(self, pin: int, mode: int | None = None, pull: int | None = None) -> None:
        self.pin, self.level, self.handler = pin, 0, None

    def value(self, level: int | None = None) -> int:
        if level is not None:
            self.level = level
        return self.level

    def irq(self, trigger: int, handler: Any) -> None:
        self.handler = handler


class _ADC:
    def __init__(self, pin: _Pin) -> None:
        self.pin = pin

    def read_u16(self) -> int:
        return 37000


class _OneWire:
    """A bus with nobody on it: the probes report 'disconnected'."""

    def __init__(self, pin: _Pin) -> None:
        self.pin = pin

    def reset(self) -> bool:
        return False

    def writebyte(self, value: int) -> None:
        pass

    def readbyte(self) -> int:
        return 0xFF


class _Clock:
    def now_ms(self) -> int:
        return T0


@pytest.fixture
def main(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """furrow.firmware.main imported with `machine` and `onewire` stand-ins."""
    machine = types.ModuleType("machine")
    machine.Pin = _Pin  # type: ignore[attr-defined]
    machine.ADC = _ADC  # type: ignore[attr-defined]
    onewire = types.ModuleType("onewire")
    onewire.OneWire = _OneWire  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "machine", machine)
    monkeypatch.setitem(sys.modules, "onewire", onewire)
    monkeypatch.setattr("time.ticks_ms", lambda: 0, raising=False)
    fresh = ("furrow.firmware.board", "furrow.firmware.main", "furrow.firmware.mqtt_link",
             "furrow.firmware.modbus_link")
    for name in fresh:
        sys.modules.pop(name, None)
    yield importlib.import_module("furrow.firmware.main")
    for name in fresh:
        sys.modules.pop(name, None)


def test_config_example_builds_a_soil_node(main: Any, tmp_path: Path) -> None:
    """firmware/config_example.json builds a two-depth soil node whose first report is valid."""
    cfg = json.loads((ROOT / "firmware" / "config_example.json").read_text())
    cfg["seq_path"] = str(tmp_path / "seq")
    node = main.build_node(cfg, _Clock())
    assert isinstance(node, SoilNode)
    assert [p[0] for p in node.probes] == [10, 30]
    assert node.probes[0][2].rom == bytes.fromhex("28ff641e0f1c0a5e")
    node.tick(T0)
    [up] = node.tick(T0 + 1000)
    assert up == payload.validate_uplink(up)
    assert {r.get("fault") for r in up["readings"] if r["name"] == "soil_temp_c"} == {"disconnected"}
    assert up["bat_v"] == pytest.approx(37000 * 2.0 * 3.3 / 65535, abs=0.001)


def test_irrigation_and_weather_configs_build(main: Any, tmp_path: Path) -> None:
    """Irrigation (valves, flow meter, heartbeat) and weather (rain gauge) configs build their cores."""
    irr = main.build_node(
        {
            "node": "irr-01",
            "role": "irrigation",
            "seq_path": str(tmp_path / "seq-irr"),
            "interval_s": 60,
            "heartbeat_timeout_s": 300,
            "journal_path": str(tmp_path / "journal"),
            "valves": [{"pin": 12}, {"pin": 13, "active_high": False}],
            "flow": {"pin": 14, "l_per_pulse": 0.5},
        },
        _Clock(),
    )
    assert isinstance(irr, IrrigationNode)
    assert irr.heartbeat_timeout_ms == 300_000 and irr.valve_states() == [False, False]
    assert [v._pin.level for v in irr.valves] == [0, 1]  # closed, whatever the polarity
    wx = main.build_node(
        {"node": "wx-01", "role": "weather", "seq_path": str(tmp_path / "seq-wx"), "rain": {"pin": 27}}, _Clock()
    )
    assert isinstance(wx, WeatherNode)
    wx.gauge._pin.handler(wx.gauge._pin)  # one tip of the bucket, through the pin interrupt
    [up] = wx.tick(T0)
    assert up["readings"] == [{"name": "rain_mm", "unit": "mm", "value": 0.2}]


def test_unknown_role_is_refused(main: Any, tmp_path: Path) -> None:
    """A role without firmware is an error naming it, not a silent idle node."""
    with pytest.raises(ValueError, match="drone"):
        main.build_node({"node": "x-01", "role": "drone", "seq_path": str(tmp_path / "s")}, _Clock())


def test_config_validation_names_field_value_and_fills_defaults() -> None:
    """The boot-time validator returns every error with its field and value, and fills defaults for the rest."""
    from furrow.firmware.config import describe, validate

    cfg, errors = validate(json.loads((ROOT / "firmware" / "config_example.json").read_text()))
    assert errors == [] and cfg["watchdog_s"] == 30 and cfg["modbus"]["unit"] == 11
    _, errors = validate({"node": "Soil 1", "role": "soil", "link": "mqtt", "deep_sleep": True, "site": "farm",
                          "wifi": {"ssid": "f"}, "mqtt": {"host": "gw", "port": 70000},
                          "probes": [{"depth_cm": 10, "adc": 32, "dry_raw": 5, "wet_raw": 5, "rom": "xyz"}]})
    fields = {e[0]: e[1] for e in errors}
    assert fields == {"node": "Soil 1", "mqtt.port": 70000, "probes[0].wet_raw": 5, "probes[0].rom": "xyz"}
    assert "mqtt.port=70000: must be 1..65535" in describe(errors)
    _, errors = validate({"node": "irr-01", "role": "irrigation", "deep_sleep": True,
                          "modbus": {"tx": 1, "rx": 2, "de": 3}, "valves": []})
    assert {e[0] for e in errors} == {"deep_sleep", "valves"}


def test_invalid_config_boots_into_a_fault_image_not_a_crash(main: Any, tmp_path: Path) -> None:
    """A broken config.json is read as errors (never raised), and the fault image says so in registers 14-15."""
    from furrow.edge import modbus_map
    from furrow.edge.crc import crc16_modbus
    from furrow.firmware.modbus_slave import RtuSlave

    path = tmp_path / "config.json"
    path.write_text("{not json")
    cfg, errors = main.read_config(str(path))
    assert errors and errors[0][2].startswith("is not valid JSON")
    path.write_text(json.dumps({"node": "soil-01", "role": "soil", "modbus": {"tx": 17, "rx": 16, "de": 4}}))
    cfg, errors = main.read_config(str(path))
    assert [e[0] for e in errors] == ["probes"]
    from furrow.firmware.fault_node import FaultNode

    node = FaultNode(cfg.get("node"), errors)
    slave = RtuSlave(1, node.registers(), node.holding, on_write=node.on_holding_write)
    req = bytes([1, 4, 0, 0, 0, 16])
    c = crc16_modbus(req)
    reply = slave.feed(req + bytes([c & 0xFF, c >> 8]), 10_000_000)
    words = [(reply[3 + 2 * i] << 8) | reply[4 + 2 * i] for i in range(16)]
    assert words[0] == 0 and not modbus_map.has_report(words)  # no report: a poller waits, it does not ingest
    assert (words[modbus_map.STATUS], words[modbus_map.STATUS_ERRORS]) == (modbus_map.STATUS_CONFIG_ERROR, 1)


def test_every_role_example_builds_its_core(main: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The example config of each role (as `furrow firmware build` writes it) validates and builds a core."""
    from furrow.commands.firmware import ROLES, example_config
    from furrow.firmware.config import validate
    from tests.firmware_fakes import FakeCameraModule

    monkeypatch.setattr(main.board.machine, "I2C", lambda *a, **k: object(), raising=False)
    monkeypatch.setattr(main.board.machine, "UART", lambda *a, **k: object(), raising=False)  # a tracker's GNSS
    monkeypatch.setattr("time.sleep_ms", lambda ms: None, raising=False)
    monkeypatch.setitem(sys.modules, "camera", FakeCameraModule({}))  # an ESP32-CAM firmware's binding
    for role in ROLES:
        cfg, errors = validate(example_config(role))
        assert errors == [], (role, errors)
        cfg["seq_path"] = str(tmp_path / f"seq-{role}")
        cfg["journal_path"] = str(tmp_path / f"journal-{role}")
        if role == "camera":
            cfg["camera"]["images_path"] = str(tmp_path / "images")
        node = main.build_node(cfg, _Clock())
        assert node.node_id == f"{role}-01"


def test_fault_status_is_part_of_the_contract() -> None:
    """An online status may carry a fault string (additive); an old-shape status is unchanged."""
    from furrow.edge import commands

    s = commands.make_status("soil-01", "online", T0, "0.1.0", fault="config: probes=None: is required")
    assert commands.decode_status(commands.encode(s))["fault"].startswith("config:")
    assert "fault" not in commands.make_status("soil-01", "online", T0)


def test_deep_sleep_wake_keeps_the_report_in_flash_without_a_seq_gap(main: Any, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A sleeping MQTT node that cannot reach its broker keeps each wake's report in flash, seqs 0 then 1 (no gap)."""
    from furrow.firmware.outbox import Outbox

    slept: list[int] = []
    monkeypatch.setattr(main.board.machine, "deepsleep", slept.append, raising=False)
    monkeypatch.setattr("time.sleep_ms", lambda ms: None, raising=False)

    def unreachable(*args: Any, **kwargs: Any) -> Any:
        raise OSError(113, "EHOSTUNREACH")

    monkeypatch.setattr(main.board, "mqtt_client", unreachable)
    cfg = {"node": "soil-09", "site": "farm", "role": "soil", "link": "mqtt", "deep_sleep": True,
           "interval_s": 1800, "seq_path": str(tmp_path / "seq"), "wifi": {"ssid": "farm"}, "mqtt": {"host": "gw"},
           "outbox": {"path": str(tmp_path / "outbox")},
           "probes": [{"depth_cm": 10, "adc": 32, "dry_raw": 52000, "wet_raw": 22000}]}
    from furrow.firmware import mqtt_link
    from furrow.firmware.config import validate

    cfg, errors = validate(cfg)
    assert errors == []

    class Wdt:
        def feed(self) -> None:
            pass

    for _ in range(2):  # two wakes, each a fresh boot
        mqtt_link.run_once_and_sleep(cfg, main.build_node(cfg, _Clock()), _Clock(), Wdt())
    assert slept == [1_800_000, 1_800_000]
    box = Outbox(str(tmp_path / "outbox"))
    seqs = []
    while (message := box.peek()) is not None:
        seqs.append(payload.decode(message[1])["seq"])
        box.pop()
    assert seqs == [0, 1]
