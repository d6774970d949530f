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
    for name in ("furrow.firmware.board", "furrow.firmware.main"):
        sys.modules.pop(name, None)
    yield importlib.import_module("furrow.firmware.main")
    for name in ("furrow.firmware.board", "furrow.firmware.main"):
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
    with pytest.raises(ValueError, match="pest"):
        main.build_node({"node": "trap-01", "role": "pest", "seq_path": str(tmp_path / "s")}, _Clock())
