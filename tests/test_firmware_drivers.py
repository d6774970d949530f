"""Drivers against datasheet-faithful fakes: capacitive moisture on an ADC, DS18B20 on 1-Wire."""

import pytest

from furrow.firmware.drivers.ds18b20 import DS18B20, crc8
from furrow.firmware.drivers.soil_moisture import CapacitiveMoisture
from tests.firmware_fakes import POWER_ON_SCRATCHPAD, FakeADC, FakeDS18B20, FakeOneWire, dallas_crc8

DRY, WET = 52000, 22000


def test_moisture_two_point_calibration() -> None:
    """The dry count reads vwc_dry_pct, the wet count vwc_wet_pct, halfway is linear."""
    assert CapacitiveMoisture(FakeADC(DRY), DRY, WET).read() == (0.0, None, DRY)
    assert CapacitiveMoisture(FakeADC(WET), DRY, WET).read() == (45.0, None, WET)
    vwc, fault, raw = CapacitiveMoisture(FakeADC(37000), DRY, WET, vwc_wet_pct=40.0).read()
    assert (vwc, fault, raw) == (pytest.approx(20.0), None, 37000)


def test_moisture_averages_samples() -> None:
    """read() averages `samples` ADC reads, so one noisy read moves the value little."""
    adc = FakeADC(37000, 37100, 36900, 37000)
    probe = CapacitiveMoisture(adc, DRY, WET, samples=4)
    assert probe.read()[2] == 37000
    assert adc.reads == 4


@pytest.mark.parametrize("count", [0, 100, 65535, 65400])
def test_moisture_rail_reads_disconnected(count: int) -> None:
    """A count pinned near 0 or full scale is a broken wire: fault, no value."""
    assert CapacitiveMoisture(FakeADC(count), DRY, WET).read() == (None, "disconnected", count)


def test_moisture_outside_calibration_is_out_of_range() -> None:
    """Far beyond the calibrated span is a fault; just beyond it clamps to the end point."""
    span = DRY - WET
    assert CapacitiveMoisture(FakeADC(WET - span // 5), DRY, WET).read()[1] == "out_of_range"
    assert CapacitiveMoisture(FakeADC(DRY + span // 5), DRY, WET).read()[1] == "out_of_range"
    assert CapacitiveMoisture(FakeADC(WET - span // 20), DRY, WET).read()[:2] == (45.0, None)


def test_moisture_works_when_counts_rise_with_water() -> None:
    """A probe whose count rises when wet calibrates the same way."""
    assert CapacitiveMoisture(FakeADC(30000), 10000, 50000, vwc_wet_pct=40.0).read()[0] == 20.0


def test_moisture_refuses_a_degenerate_calibration() -> None:
    """Equal dry and wet counts would divide by zero; refused at once."""
    with pytest.raises(ValueError):
        CapacitiveMoisture(FakeADC(1000), 30000, 30000)


def test_crc8_matches_the_datasheet_examples() -> None:
    """CRC-8 gives the documented values: Maxim AN27's ROM example and the power-on scratchpad."""
    rom = bytes([0x02, 0x1C, 0xB8, 0x01, 0x00, 0x00, 0x00])
    assert crc8(rom) == dallas_crc8(rom) == 0xA2
    assert crc8(POWER_ON_SCRATCHPAD) == 0x1C


@pytest.mark.parametrize("temp", [21.5, 0.0, -10.125, -0.5, 84.9375, 125.0, -55.0])
def test_ds18b20_converts_and_reads(temp: float) -> None:
    """Convert T then Read Scratchpad returns the temperature, sign and fraction included."""
    bus = FakeOneWire(FakeDS18B20(temp))
    sensor = DS18B20(bus)
    assert sensor.convert() is True
    assert sensor.read() == (temp, None)


def test_ds18b20_uses_skip_rom_then_the_function_commands() -> None:
    """On a single-drop bus the driver sends reset, 0xCC, 0x44 and reset, 0xCC, 0xBE."""
    bus = FakeOneWire(FakeDS18B20(20.0))
    sensor = DS18B20(bus)
    sensor.convert()
    sensor.read()
    assert bus.log == ["reset", 0xCC, 0x44, "reset", 0xCC, 0xBE]


def test_ds18b20_match_rom_addresses_one_of_several() -> None:
    """With a ROM code the driver reads exactly that device on a shared bus."""
    a = FakeDS18B20(10.0, rom=bytes([0x28, 1, 1, 1, 1, 1, 1, 0x11]))
    b = FakeDS18B20(30.0, rom=bytes([0x28, 2, 2, 2, 2, 2, 2, 0x22]))
    bus = FakeOneWire(a, b)
    sensor_b = DS18B20(bus, rom=b.rom)
    sensor_b.convert()
    assert sensor_b.read() == (30.0, None)
    assert a.conversions == 0


def test_ds18b20_power_on_value_is_not_ready() -> None:
    """Reading before any conversion gives the 85.0 degC reset value: not_ready, not a reading."""
    assert DS18B20(FakeOneWire(FakeDS18B20(20.0))).read() == (None, "not_ready")


def test_ds18b20_absent_device_is_disconnected() -> None:
    """No presence pulse: convert() says so and read() reports disconnected."""
    bus = FakeOneWire(FakeDS18B20(20.0))
    bus.absent = True
    sensor = DS18B20(bus)
    assert sensor.convert() is False
    assert sensor.read() == (None, "disconnected")


def test_ds18b20_device_dropping_off_is_disconnected() -> None:
    """Presence, then all-ones (the pull-up) from the scratchpad: disconnected."""
    bus = FakeOneWire(FakeDS18B20(20.0))
    sensor = DS18B20(bus)
    sensor.convert()
    bus.vanish_after_reset = True
    assert sensor.read() == (None, "disconnected")


@pytest.mark.parametrize("index", range(9))
def test_ds18b20_corrupted_byte_is_a_crc_error(index: int) -> None:
    """A bit flipped in any scratchpad byte, CRC included, is caught by the CRC-8."""
    bus = FakeOneWire(FakeDS18B20(20.0))
    sensor = DS18B20(bus)
    sensor.convert()
    bus.corrupt_byte = index
    assert sensor.read() == (None, "crc_error")


def test_ds18b20_shorted_line_is_a_sensor_error() -> None:
    """All zeros passes CRC-8 (crc of zeros is 0) but is a shorted line, not 0 degC."""
    bus = FakeOneWire(FakeDS18B20(20.0))
    bus.shorted = True
    assert DS18B20(bus).read() == (None, "sensor_error")


@pytest.mark.parametrize(("bits", "expected"), [(9, 21.5), (10, 21.5), (11, 21.5), (12, 21.5625)])
def test_ds18b20_masks_undefined_bits_at_lower_resolution(bits: int, expected: float) -> None:
    """At 9-11 bit resolution the undefined low bits are ignored, as the datasheet says."""
    bus = FakeOneWire(FakeDS18B20(21.5625, resolution_bits=bits))
    sensor = DS18B20(bus)
    sensor.convert()
    assert sensor.read() == (expected, None)
