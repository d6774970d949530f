"""The canopy reflectance pair (firmware/drivers/reflectance.py) on fake ADCs, in the weather node's report,
and NDVI through the contract (contract 1.4)."""

import pytest

from furrow.edge.measurements import MEASUREMENTS, bounds_of
from furrow.edge.payload import make_reading, make_uplink, validate_uplink
from furrow.firmware.config import validate
from furrow.firmware.drivers.reflectance import ReflectancePair
from furrow.firmware.weather_node import WeatherNode
from tests.firmware_fakes import FakeADC, MemorySeq


def pair(red_up, nir_up, red_down, nir_down, k_red=1.0, k_nir=1.0):
    return ReflectancePair([FakeADC(c) for c in (red_up, nir_up, red_down, nir_down)], k_red, k_nir)


def test_reflectance_and_ndvi_from_the_four_channels():
    """A green canopy reflects 5 % of the red and 45 % of the NIR it gets: NDVI 0.8; k scales each band."""
    red, nir, ndvi = pair(40000, 30000, 2000, 13500).read()
    assert (red, nir) == pytest.approx((0.05, 0.45)) and ndvi == pytest.approx(0.8)
    red2, nir2, _ = pair(40000, 30000, 2000, 13500, k_red=2.0, k_nir=1.0).read()
    assert red2 == pytest.approx(0.10) and nir2 == pytest.approx(0.45)


@pytest.mark.parametrize(("counts", "fault"), [
    ((1500, 30000, 100, 1400), "not_ready"),  # dusk: too little light on the up head
    ((65535, 30000, 2000, 13500), "out_of_range"),  # the up head's amplifier saturated
    ((40000, 30000, 0, 13500), "disconnected"),  # the down head's red channel is dead while the sky is bright
    ((20000, 20000, 35000, 20000), "out_of_range"),  # reflectance 1.75: a glint or a wrong k
])
def test_quality_faults_instead_of_values(counts, fault):
    """Low light, saturation, a dead head and an impossible reflectance are fault codes for all three values."""
    assert pair(*counts).read() == (fault, fault, fault)


def test_the_weather_node_reports_ndvi_and_its_faults():
    """With the pair fitted the report holds red_refl, nir_refl and ndvi (quantised), or their faults at night;
    the uplink is valid by the contract."""
    node = WeatherNode("wx-01", MemorySeq(), rain_mm_per_tip=None, canopy=pair(40000, 30000, 2000, 13500))
    (up,) = node.tick(0)
    validate_uplink(up)
    got = {r["name"]: r.get("value") for r in up["readings"]}
    assert got == {"red_refl": 0.05, "nir_refl": 0.45, "ndvi": 0.8}
    night = WeatherNode("wx-01", MemorySeq(), rain_mm_per_tip=None, canopy=pair(10, 10, 5, 5))
    (up,) = night.tick(0)
    assert {r["name"]: r.get("fault") for r in up["readings"]} == dict.fromkeys(("red_refl", "nir_refl", "ndvi"),
                                                                                  "not_ready")


def test_ndvi_is_a_weather_measurement_bounded_by_the_contract():
    """ndvi lies within -1..1 and reflectances within 0..1.5; a value outside is refused naming it."""
    assert bounds_of("ndvi") == (-1.0, 1.0) and bounds_of("red_refl") == (0.0, 1.5)
    assert MEASUREMENTS["ndvi"][5] == "weather"
    up = make_uplink("wx-01", "weather", 1, 1_767_225_600_000, [make_reading("ndvi", 0.71)], "0.1.0")
    validate_uplink(up)
    with pytest.raises(Exception, match="ndvi"):
        make_uplink("wx-01", "weather", 2, 1_767_225_600_000, [make_reading("ndvi", 1.7)], "0.1.0")


def test_config_checks_the_canopy_pins_and_calibration():
    """A weather config with a canopy section needs its four ADC pins and both calibration factors."""
    cfg = {"node": "wx-01", "role": "weather", "link": "mqtt", "canopy": {"red_up": 32, "nir_up": 33,
                                                                          "red_down": 34, "nir_down": 35}}
    _, errors = validate(cfg)
    fields = {field for field, _, _ in errors}
    assert {"canopy.k_red", "canopy.k_nir"} <= fields
    _, errors = validate({**cfg, "canopy": {**cfg["canopy"], "k_red": 1.02, "k_nir": 0.98}})
    assert not {f for f, _, _ in errors if f.startswith("canopy")}
