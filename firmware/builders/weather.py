"""A weather station: an SHT3x or BME280, rain gauge, anemometer and vane, pyranometer, leaf wetness, and a
canopy reflectance pair (red and NIR, for NDVI)."""

from furrow.firmware import board


def build(cfg, clock, seq, common):
    from furrow.firmware.weather_node import WeatherNode

    rain, wind, solar, leaf = cfg.get("rain"), cfg.get("wind"), cfg.get("solar"), cfg.get("leaf")
    if wind:
        from furrow.firmware.drivers.wind import Anemometer, Wind, WindVane

        vane = WindVane(board.adc(wind["vane_adc"])) if "vane_adc" in wind else None
        wind = Wind(Anemometer(board.PulseCounter(wind["pin"]), wind.get("ms_per_hz", 0.667)), vane, clock.now_ms)
    if solar or leaf:
        from furrow.firmware.drivers.analog import LeafWetness, Pyranometer

        if solar:
            solar = Pyranometer(board.adc(solar["adc"]), solar.get("w_m2_per_mv", 5.0), solar.get("gain", 1.0))
        if leaf:
            leaf = LeafWetness(board.adc(leaf["adc"]), leaf.get("dry_raw", 60000), leaf.get("wet_raw", 15000))
    canopy = cfg.get("canopy")
    if canopy:
        from furrow.firmware.drivers.reflectance import ReflectancePair

        canopy = ReflectancePair([board.adc(canopy[k]) for k in ("red_up", "nir_up", "red_down", "nir_down")],
                                 canopy["k_red"], canopy["k_nir"])
    node = WeatherNode(
        cfg["node"],
        seq,
        air=_air(cfg["air"]) if cfg.get("air") else None,
        rain_mm_per_tip=rain and rain.get("mm_per_tip", 0.2),
        wind=wind or None,
        solar=solar or None,
        leaf=leaf or None,
        canopy=canopy or None,
        **common
    )
    if rain:
        node.gauge = board.PulseCounter(rain["pin"], handler=node.on_pulse, clock=clock)
    return node


def _air(cfg):
    bus = board.i2c(cfg)
    if cfg["sensor"] == "sht3x":
        from furrow.firmware.drivers.sht3x import SHT3x

        return SHT3x(bus, cfg.get("address", 0x44))
    from furrow.firmware.drivers.bme280 import BME280

    return BME280(bus, cfg.get("address", 0x76))
