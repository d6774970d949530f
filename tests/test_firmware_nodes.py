"""Soil and weather node cores: when they report, what the report holds, and the register image."""

from typing import Any

import pytest

from furrow.edge import modbus_map, payload
from furrow.firmware.drivers.ds18b20 import DS18B20
from furrow.firmware.drivers.soil_moisture import CapacitiveMoisture
from furrow.firmware.soil_node import SoilNode
from furrow.firmware.weather_node import WeatherNode
from tests.firmware_fakes import FakeADC, FakeDS18B20, FakeOneWire, MemorySeq

T0 = 1_767_225_600_000
MIN = 60_000
DRY, WET = 52000, 22000


def _by(up: dict[str, Any], name: str, depth: int | None = None) -> dict[str, Any]:
    return next(r for r in up["readings"] if r["name"] == name and r.get("depth_cm") == depth)


def _soil(temps: bool = True, **kw: Any) -> tuple[SoilNode, FakeOneWire]:
    rom10, rom30 = bytes([0x28, 0, 0, 0, 0, 0, 0, 10]), bytes([0x28, 0, 0, 0, 0, 0, 0, 30])
    bus = FakeOneWire(FakeDS18B20(18.5, rom=rom10), FakeDS18B20(16.25, rom=rom30))
    probes = [
        (30, CapacitiveMoisture(FakeADC(37000), DRY, WET), DS18B20(bus, rom30) if temps else None),
        (10, CapacitiveMoisture(FakeADC(45000), DRY, WET), DS18B20(bus, rom10) if temps else None),
    ]
    return SoilNode("soil-01", MemorySeq(), probes, interval_ms=15 * MIN, **kw), bus


def test_soil_node_without_temperature_reports_at_first_tick() -> None:
    """With moisture probes only, the first tick returns a report at once."""
    node, _ = _soil(temps=False)
    [up] = node.tick(T0)
    assert up == payload.validate_uplink(up)
    assert up["seq"] == 0 and up["ts_ms"] == T0
    assert _by(up, "vwc_pct", 30)["value"] == 22.5
    assert _by(up, "soil_raw", 10)["value"] == 45000


def test_soil_node_waits_one_conversion_for_temperatures() -> None:
    """With DS18B20s the report waits for the conversion it started, then carries real temperatures."""
    node, bus = _soil()
    assert node.tick(T0) == []
    assert node.tick(T0 + 700) == []
    [up] = node.tick(T0 + 750)
    assert _by(up, "soil_temp_c", 10)["value"] == 18.5
    assert _by(up, "soil_temp_c", 30)["value"] == 16.25
    assert all(d.conversions == 1 for d in bus.devices)


def test_soil_node_reports_every_interval_on_a_fixed_grid() -> None:
    """Reports come once per interval, ticking every second, with seq growing by one."""
    node, _ = _soil()
    ups = []
    for s in range(0, 46 * 60 + 1):
        ups += node.tick(T0 + s * 1000)
    assert [u["seq"] for u in ups] == [0, 1, 2, 3]
    # The first report waits one conversion after the first tick; later ones
    # start converting ahead and land on the grid, within a tick of it.
    assert ups[0]["ts_ms"] == T0 + 1000
    assert [u["ts_ms"] - T0 for u in ups[1:]] == [15 * MIN + 1000, 30 * MIN + 1000, 45 * MIN + 1000]


def test_soil_node_after_a_long_stall_reports_once_not_a_burst() -> None:
    """A node that missed several intervals sends one report, then resumes the interval."""
    node, _ = _soil(temps=False)
    node.tick(T0)
    assert len(node.tick(T0 + 100 * MIN)) == 1
    assert node.tick(T0 + 100 * MIN + 1) == []


def test_soil_node_faults_instead_of_values() -> None:
    """A disconnected probe and a missing DS18B20 give faults; the raw count still goes along."""
    bus = FakeOneWire(FakeDS18B20(18.5))
    bus.absent = True
    node = SoilNode("soil-01", MemorySeq(), [(10, CapacitiveMoisture(FakeADC(0), DRY, WET), DS18B20(bus))])
    node.tick(T0)
    [up] = node.tick(T0 + 750)
    assert _by(up, "vwc_pct", 10) == {
        "name": "vwc_pct",
        "unit": "%",
        "depth_cm": 10,
        "value": None,
        "fault": "disconnected",
    }
    assert _by(up, "soil_temp_c", 10)["fault"] == "disconnected"
    assert _by(up, "soil_raw", 10)["value"] == 0


def test_soil_node_a_raising_driver_is_a_sensor_error() -> None:
    """A driver that raises (I/O error) costs its reading, never the report."""

    class Broken:
        def read(self) -> None:
            raise OSError(5, "EIO")

    node = SoilNode("soil-01", MemorySeq(), [(10, Broken(), None)])
    [up] = node.tick(T0)
    assert _by(up, "vwc_pct", 10)["fault"] == "sensor_error"
    assert [r["name"] for r in up["readings"]] == ["vwc_pct"]


def test_a_battery_monitor_out_of_heap_is_no_missing_battery() -> None:
    """A battery monitor that fails (OSError) leaves bat_v out of the report; one whose read runs out of
    heap raises its MemoryError to the board loop (which resets the board) instead of hiding it as
    "not measured" (firmware/reporting.py, call_or_none)."""

    def failing(error: BaseException) -> Any:
        def read() -> float:
            raise error

        return read

    node = SoilNode("soil-01", MemorySeq(), [(10, CapacitiveMoisture(FakeADC(40000), DRY, WET), None)],
                    battery=failing(OSError(5, "EIO")))
    [up] = node.tick(T0)
    assert up.get("bat_v") is None
    node = SoilNode("soil-01", MemorySeq(), [(10, CapacitiveMoisture(FakeADC(40000), DRY, WET), None)],
                    battery=failing(MemoryError("memory allocation failed, allocating 64 bytes")))
    with pytest.raises(MemoryError):
        node.tick(T0)


def test_soil_node_battery_and_out_of_bounds_temperature() -> None:
    """The battery voltage is reported; a temperature beyond the contract's bounds is out_of_range."""
    bus = FakeOneWire(FakeDS18B20(120.0))
    node = SoilNode(
        "soil-01", MemorySeq(), [(10, CapacitiveMoisture(FakeADC(40000), DRY, WET), DS18B20(bus))], battery=lambda: 3.71
    )
    node.tick(T0)
    [up] = node.tick(T0 + 1000)
    assert up["bat_v"] == 3.71
    assert _by(up, "soil_temp_c", 10)["fault"] == "out_of_range"


def test_soil_node_register_image_decodes_to_the_report() -> None:
    """registers() serves the latest report: decode_inputs gives back its seq and readings."""
    node, _ = _soil()
    assert not modbus_map.has_report(list(node.registers()))  # no report yet: the poller waits
    node.tick(T0)
    [up] = node.tick(T0 + 750)
    regs = node.registers()
    assert len(regs) == modbus_map.INPUT_COUNT and modbus_map.has_report(list(regs))
    back = modbus_map.decode_inputs("soil-01", list(regs))
    assert back["seq"] == up["seq"]
    assert sorted((r["name"], r["depth_cm"], r["value"]) for r in back["readings"]) == sorted(
        (r["name"], r["depth_cm"], r["value"]) for r in up["readings"]
    )


def test_soil_node_holding_writes_set_interval_and_calibration() -> None:
    """A master writing holding registers changes the interval and a depth's calibration."""
    node, _ = _soil(temps=False)
    node.tick(T0)
    node.on_holding_write(modbus_map.HOLD_INTERVAL_S, [60])
    assert node.tick(T0 + MIN - 1) == []
    assert len(node.tick(T0 + MIN)) == 1
    # slot 0 is the shallowest depth (10 cm): dry, wet
    node.on_holding_write(modbus_map.HOLD_CAL_BASE, [45000, 15000])
    assert node.holding[8:10] == [45000, 15000]
    [up] = node.tick(T0 + 2 * MIN)
    assert _by(up, "vwc_pct", 10)["value"] == 0.0
    with pytest.raises(ValueError):
        node.on_holding_write(modbus_map.HOLD_UNIT, [0])
    with pytest.raises(ValueError):
        node.on_holding_write(modbus_map.HOLD_CAL_BASE, [30000, 30000])
    assert node.holding[0] == modbus_map.DEFAULT_UNIT


def test_soil_node_refuses_more_depths_than_the_register_map_holds() -> None:
    """Five probes, or two at one depth, are refused at construction."""
    probe = CapacitiveMoisture(FakeADC(40000), DRY, WET)
    with pytest.raises(ValueError):
        SoilNode("soil-01", MemorySeq(), [(d, probe, None) for d in (5, 10, 20, 40, 80)])
    with pytest.raises(ValueError):
        SoilNode("soil-01", MemorySeq(), [(10, probe, None), (10, probe, None)])


class Air:
    """An air sensor object as WeatherNode expects it."""

    def __init__(self, result: Any) -> None:
        self.result = result
        self.has_pressure = True

    def read(self) -> Any:
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


def test_weather_node_reports_what_is_fitted() -> None:
    """Air and rain are reported; wind and solar, not fitted, are left out."""
    node = WeatherNode("wx-01", MemorySeq(), air=Air((21.3, 64.0, 101.325)))
    [up] = node.tick(T0)
    assert [(r["name"], r["value"]) for r in up["readings"]] == [
        ("air_temp_c", 21.3),
        ("rh_pct", 64.0),
        ("pressure_kpa", 101.325),
        ("rain_mm", 0.0),
    ]


def test_weather_node_sensor_faults() -> None:
    """A sensor fault string and a sensor without pressure are reported honestly."""
    node = WeatherNode("wx-01", MemorySeq(), air=Air(("crc_error", 55.0, None)), rain_mm_per_tip=None)
    [up] = node.tick(T0)
    assert [(r["name"], r.get("fault")) for r in up["readings"]] == [("air_temp_c", "crc_error"), ("rh_pct", None)]


def test_weather_node_raising_sensor_is_a_sensor_error() -> None:
    """An air sensor that raises reports sensor_error, pressure only if it has a barometer."""
    air = Air(OSError(19, "ENODEV"))
    air.has_pressure = False
    node = WeatherNode("wx-01", MemorySeq(), air=air, rain_mm_per_tip=None)
    [up] = node.tick(T0)
    assert [(r["name"], r["fault"]) for r in up["readings"]] == [
        ("air_temp_c", "sensor_error"),
        ("rh_pct", "sensor_error"),
    ]


def test_weather_node_rain_is_debounced_and_per_interval() -> None:
    """Reed-switch bounce within 50 ms is ignored; each report carries the rain since the last."""
    node = WeatherNode("wx-01", MemorySeq(), interval_ms=10 * MIN)
    node.tick(T0)
    for t in [1000, 1003, 1010, 1049, 1050, 5000, 5020, 9000]:
        node.on_pulse(T0 + t)
    [up] = node.tick(T0 + 10 * MIN)
    assert _by(up, "rain_mm")["value"] == 0.8  # 1000, 1050, 5000, 9000
    assert node.stats == {"tips": 4, "bounces": 4}
    [up] = node.tick(T0 + 20 * MIN)
    assert _by(up, "rain_mm")["value"] == 0.0


def test_weather_node_wind_and_solar_providers() -> None:
    """Optional wind and solar providers are read into their measurements."""

    class Wind:
        def read(self) -> tuple[float, float]:
            return 3.4, 270.0

    class Solar:
        def read(self) -> str:
            return "not_ready"

    node = WeatherNode("wx-01", MemorySeq(), wind=Wind(), solar=Solar(), rain_mm_per_tip=None)
    [up] = node.tick(T0)
    assert [(r["name"], r["value"], r.get("fault")) for r in up["readings"]] == [
        ("wind_ms", 3.4, None),
        ("wind_dir_deg", 270.0, None),
        ("rs_w_m2", None, "not_ready"),
    ]
    regs = node.registers()
    assert modbus_map.decode_inputs("wx-01", list(regs))["readings"][0]["value"] == 3.4
