"""Weather, irrigation and soil drivers against fakes that behave as the datasheets say."""

from pathlib import Path

import pytest

from furrow.firmware.drivers import sht3x
from furrow.firmware.drivers.analog import LeafWetness, LinePressure, Pyranometer
from furrow.firmware.drivers.bme280 import BME280
from furrow.firmware.drivers.soil_moisture import PolyMoisture
from furrow.firmware.drivers.valves import FlowMeter, LatchingValve
from furrow.firmware.drivers.wind import LADDER, Anemometer, Wind, WindVane
from furrow.firmware.irrigation_node import IrrigationNode
from furrow.firmware.weather_node import WeatherNode
from tests.firmware_fakes import (
    BME280_TRIM,
    FakeADC,
    FakeBME280,
    FakeCounter,
    FakePin,
    FakeSHT3x,
    FakeValve,
    MemorySeq,
    bme280_float,
    sensirion_crc8,
)
from tests.mplib import board_lib

T0 = 1_767_225_600_000


def test_sht3x_crc_matches_the_datasheet_example() -> None:
    """CRC-8 (0x31, init 0xFF) of 0xBEEF is 0x92, as in the SHT3x datasheet, in the driver and the fake alike."""
    assert sht3x.crc8(b"\xbe\xef") == 0x92 == sensirion_crc8(b"\xbe\xef")


def test_sht3x_reads_temperature_and_humidity() -> None:
    """Periodic mode then Fetch Data gives the temperature and humidity to the chip's 16-bit resolution."""
    chip = FakeSHT3x(temp_c=-7.25, rh_pct=83.4)
    t, rh, p = sht3x.SHT3x(chip).read()
    assert abs(t + 7.25) < 0.003 and abs(rh - 83.4) < 0.002 and p is None
    assert chip.commands == [0x30A2, 0x2130, 0xE000]


def test_sht3x_faults() -> None:
    """No new measurement is not_ready, a flipped bit is crc_error, a missing chip is disconnected; never a number."""
    chip = FakeSHT3x()
    s = sht3x.SHT3x(chip)
    s.read()
    assert s.read() == ("not_ready", "not_ready", None)
    chip.period()
    chip.corrupt = True
    assert s.read() == ("crc_error", "crc_error", None)
    chip.absent = True
    assert s.read() == ("disconnected", "disconnected", None)
    chip.absent = chip.corrupt = False
    assert isinstance(s.read()[0], float)  # restarts periodic mode once the chip is back


def test_bme280_integer_compensation_agrees_with_the_datasheet() -> None:
    """The driver's integer formulas give the datasheet example's 25.08 degC and the float formulas' pressure."""
    b = BME280(FakeBME280())
    assert b.start()
    t_fine, t = b.temperature(519888)
    assert (t_fine, t) == (128422, 2508)
    _, p_float, _ = bme280_float(BME280_TRIM, 519888, 415148, 30000)
    assert abs(b.pressure(415148, t_fine) / 256 - p_float) < 1.0  # 64-bit integer form: within 1 Pa


@pytest.mark.parametrize("t, p_pa, rh", [(22.5, 100800.0, 48.0), (-12.0, 95000.0, 91.0), (38.0, 101325.0, 12.0)])
def test_bme280_reads_what_the_chip_measures(t: float, p_pa: float, rh: float) -> None:
    """Through the register map and trimming, the driver returns the fake chip's temperature, humidity and kPa."""
    got = BME280(FakeBME280(t, p_pa, rh)).read()
    assert abs(got[0] - t) <= 0.02 and abs(got[1] - rh) <= 0.1 and abs(got[2] - p_pa / 1000) <= 0.005


def test_bme280_absent_or_not_measuring() -> None:
    """A chip that does not answer is disconnected; data before the first measurement is not_ready."""
    chip = FakeBME280()
    chip.absent = True
    assert BME280(chip).read() == ("disconnected",) * 3
    chip.absent = False
    b = BME280(chip)
    b.start()
    chip.regs[0xF4] = 0  # back in sleep mode before any conversion
    assert b.read() == ("not_ready",) * 3


def test_wind_vane_maps_all_sixteen_directions_and_open_cable() -> None:
    """Each ladder resistance reads as its direction; a floating input (open cable) is disconnected."""
    for deg, ohm in LADDER:
        assert WindVane(FakeADC(int(65535 * ohm / (ohm + 10000)))).read_deg() == deg
    assert WindVane(FakeADC(65535)).read_deg() == "disconnected"


def test_anemometer_converts_pulses_to_speed() -> None:
    """30 closures in 10 s at 0.667 m/s per Hz is 2.0 m/s; the first read only starts counting."""
    counter = FakeCounter()
    now = [T0]
    wind = Wind(Anemometer(counter), WindVane(FakeADC(int(65535 * 16000 / 26000))), clock_ms=lambda: now[0])
    assert wind.read() == ("not_ready", 225.0)
    counter.count += 30
    now[0] += 10_000
    speed, deg = wind.read()
    assert abs(speed - 2.001) < 1e-9 and deg == 225.0


def test_pyranometer_and_leaf_wetness() -> None:
    """ADC millivolts become W/m2 by the sensor's factor; leaf wetness is the span between dry and wet counts."""
    mv_count = 65535 / 3300  # counts per millivolt at a 3.3 V reference
    assert abs(Pyranometer(FakeADC(round(400 * mv_count)), w_m2_per_mv=2.0).read() - 800) < 0.2
    assert Pyranometer(FakeADC(65535), 2.0).read() == "out_of_range"
    assert LeafWetness(FakeADC(37500), dry_raw=60000, wet_raw=15000).read() == 50.0
    assert LeafWetness(FakeADC(0)).read() == "disconnected"


def test_line_pressure_both_transmitter_kinds() -> None:
    """0.5-4.5 V and 4-20 mA transmitters read mid-scale; a broken loop or wire is disconnected, not 0 kPa."""
    v_count = 65535 / 3.3
    assert abs(LinePressure(FakeADC(round(2.5 / 1.5 * v_count)), "0.5-4.5v", 1000).read() - 500) < 0.5
    assert LinePressure(FakeADC(0), "0.5-4.5v").read() == "disconnected"
    assert abs(LinePressure(FakeADC(round(0.012 * 150 * v_count)), "4-20ma", 1600).read() - 800) < 1
    assert LinePressure(FakeADC(round(0.002 * 150 * v_count)), "4-20ma").read() == "disconnected"
    assert LinePressure(FakeADC(65535), "4-20ma").read() == "out_of_range"


def test_polynomial_soil_calibration() -> None:
    """vwc = c0 + c1 x + c2 x^2 over the ADC fraction; outside 0..100 % is out_of_range."""
    probe = PolyMoisture(FakeADC(32768), [-5.0, 40.0, 20.0])
    vwc, fault, raw = probe.read()
    x = raw / 65535
    assert fault is None and abs(vwc - (-5 + 40 * x + 20 * x * x)) < 1e-9
    assert PolyMoisture(FakeADC(1000), [-5.0, 40.0]).read()[1] == "out_of_range"


def test_latching_valve_pulses_one_coil_and_releases_it() -> None:
    """Opening pulses the open coil for pulse_ms then drops it; closing pulses the other coil; no coil stays on."""
    now = [0]
    op, cl = FakePin(lambda: now[0]), FakePin(lambda: now[0])

    def sleep_ms(ms: int) -> None:
        now[0] += ms

    valve = LatchingValve(op, cl, pulse_ms=40, sleep_ms=sleep_ms)
    valve.set(True)
    valve.set(False)
    assert op.history == [(0, 0), (0, 1), (40, 0)]
    assert cl.history == [(0, 0), (40, 1), (80, 0)]
    assert valve.is_open is False and op.level == cl.level == 0


def test_flow_meter_litres_and_windowed_rate() -> None:
    """Pulses become litres at once and a rate over at least the window, steady whatever the call rate."""
    counter, now = FakeCounter(), [T0]
    meter = FlowMeter(counter, l_per_pulse=0.5, clock_ms=lambda: now[0], window_ms=5000)
    assert meter.rate_l_min() == 0.0
    for _ in range(100):  # 100 ms steps, a pulse every 300 ms: 100 L/min
        now[0] += 100
        if (now[0] - T0) % 300 == 0:
            counter.count += 1
        meter.rate_l_min()
    assert meter.total_l() == 16.5
    assert abs(meter.rate_l_min() - 100.0) <= 6.0  # one pulse per 5 s window is 6 L/min


def test_weather_and_irrigation_cores_report_the_new_sensors() -> None:
    """A weather node reports leaf wetness; an irrigation node reports line pressure."""
    w = WeatherNode("wx-01", MemorySeq(), air=sht3x.SHT3x(FakeSHT3x(20.0, 50.0)), rain_mm_per_tip=None,
                    leaf=LeafWetness(FakeADC(60000)))
    [up] = w.tick(T0)
    names = {r["name"]: r for r in up["readings"]}
    assert names["leaf_wet_pct"]["value"] == 0.0 and "pressure_kpa" not in names
    irr = IrrigationNode("irr-01", MemorySeq(), [FakeValve()],
                         pressure=LinePressure(FakeADC(0), "0.5-4.5v"))
    _, [up] = irr.tick(T0)
    assert [r for r in up["readings"] if r["name"] == "line_pressure_kpa"][0]["fault"] == "disconnected"


SCRIPT = r"""
from firmware_fakes import FakeSHT3x, FakeBME280, FakeADC
from furrow.firmware.drivers.sht3x import SHT3x, crc8
from furrow.firmware.drivers.bme280 import BME280
from furrow.firmware.drivers.wind import WindVane
assert crc8(b"\xbe\xef") == 0x92
t, rh, _ = SHT3x(FakeSHT3x(-7.25, 83.4)).read()
assert abs(t + 7.25) < 0.003 and abs(rh - 83.4) < 0.002
b = BME280(FakeBME280(22.5, 100800.0, 48.0))
t, rh, p = b.read()
assert abs(t - 22.5) <= 0.02 and abs(rh - 48.0) <= 0.1 and abs(p - 100.8) <= 0.005, (t, rh, p)
assert b.temperature(519888) == (128422, 2508)
assert WindVane(FakeADC(int(65535 * 891 / 10891))).read_deg() == 67.5
print("OK")
"""


@pytest.mark.micropython
def test_i2c_drivers_on_micropython(micropython, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """SHT3x CRC, BME280 integer compensation (arbitrary-size ints) and the vane agree inside MicroPython."""
    lib = board_lib(tmp_path / "lib", "firmware_fakes.py")
    result = micropython.run(SCRIPT, lib_dir=lib)
    assert result.returncode == 0 and result.stdout.split()[-1:] == ["OK"], result.stdout + result.stderr
