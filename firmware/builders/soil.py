"""A soil node: capacitive probes (two-point or polynomial calibration), DS18B20s on 1-Wire buses."""

from furrow.firmware import board


def build(cfg, clock, seq, common):
    from furrow.firmware.drivers.ds18b20 import DS18B20
    from furrow.firmware.drivers.soil_moisture import CapacitiveMoisture, PolyMoisture
    from furrow.firmware.soil_node import SoilNode

    probes = []
    buses = {}
    for p in cfg["probes"]:
        if p.get("poly"):
            moisture = PolyMoisture(board.adc(p["adc"]), p["poly"])
        else:
            moisture = CapacitiveMoisture(
                board.adc(p["adc"]), p["dry_raw"], p["wet_raw"], vwc_wet_pct=p.get("vwc_wet_pct", 45.0)
            )
        temperature = None
        if "onewire" in p:
            pin = p["onewire"]
            if pin not in buses:
                buses[pin] = board.onewire_bus(pin)
            rom = bytes.fromhex(p["rom"]) if p.get("rom") else None
            temperature = DS18B20(buses[pin], rom)
        probes.append((p["depth_cm"], moisture, temperature))
    return SoilNode(cfg["node"], seq, probes, **common)
