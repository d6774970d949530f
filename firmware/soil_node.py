"""Soil node core: moisture and temperature at up to four depths.

Sans-I/O: the board loop calls ``tick(now_ms)`` often (every 100 ms or so)
and publishes what it returns; the Modbus slave serves ``registers()``. The
core never reads a clock or touches a pin, so CPython tests, the HIL
emulator and MicroPython run the same code.
"""

from furrow.edge import modbus_map
from furrow.edge.measurements import ROLE_SOIL
from furrow.firmware.reporting import Reporter, reading

DEFAULT_INTERVAL_MS = 15 * 60 * 1000


class SoilNode:
    """A soil node: one report of every probe per interval.

    `probes` is a list of ``(depth_cm, moisture, temperature)``:
    `moisture` has ``read()`` -> (vwc_pct or None, fault or None, raw count)
    (drivers.soil_moisture), `temperature` is None or has ``convert()``,
    ``read()`` -> (degC or None, fault or None) and ``conversion_ms``
    (drivers.ds18b20). `battery` is an optional callable giving volts.

    With temperature probes, conversions start `conversion_ms` before a
    report is due and the report waits for them, so the first report comes
    one conversion (750 ms) after the first tick; without, at the first tick.
    """

    def __init__(self, node_id, seqstore, probes, fw="0.1.0", interval_ms=DEFAULT_INTERVAL_MS, battery=None, rssi=None):
        depths = [p[0] for p in probes]
        if not probes or len(probes) > modbus_map.DEPTH_SLOTS or len(set(depths)) != len(depths):
            slots = modbus_map.DEPTH_SLOTS
            raise ValueError("a soil node has 1..%d probes at distinct depths, not %r" % (slots, depths))
        self.node_id = node_id
        # Slot order is depth order, as in the register map.
        self.probes = sorted(probes, key=lambda p: p[0])
        self._rep = Reporter(node_id, ROLE_SOIL, seqstore, fw, interval_ms, battery, rssi)
        self.holding = self._rep.holding
        for i, p in enumerate(self.probes):
            self.holding[modbus_map.HOLD_CAL_BASE + 2 * i] = getattr(p[1], "dry_raw", 0)
            self.holding[modbus_map.HOLD_CAL_BASE + 2 * i + 1] = getattr(p[1], "wet_raw", 0)
        self._temps = [p[2] for p in self.probes if p[2] is not None]
        self._lead_ms = 0
        for t in self._temps:
            self._lead_ms = max(self._lead_ms, t.conversion_ms)
        self._ready_ms = None  # when the running conversions are done

    def tick(self, now_ms):
        """Advance to `now_ms`; returns a list of uplink dicts (0 or 1)."""
        if self._temps and self._ready_ms is None and self._rep.ms_until_due(now_ms) <= self._lead_ms:
            for t in self._temps:
                try:
                    t.convert()
                except Exception:  # noqa: BLE001 - read() will report the fault
                    pass
            self._ready_ms = now_ms + self._lead_ms
        if not self._rep.due(now_ms):
            return []
        if self._temps and (self._ready_ms is None or now_ms < self._ready_ms):
            return []
        self._ready_ms = None
        return [self._rep.report(now_ms, self._readings())]

    def _readings(self):
        out = []
        for depth, moisture, temperature in self.probes:
            try:
                vwc, fault, raw = moisture.read()
            except Exception:  # noqa: BLE001 - a failing probe faults, the rest report
                vwc, fault, raw = None, "sensor_error", None
            out.append(reading("vwc_pct", fault or vwc, depth_cm=depth))
            # The raw count goes along even when the VWC faults: it is what a
            # technician needs to calibrate or diagnose the probe.
            out.append(reading("soil_raw", raw, depth_cm=depth))
            if temperature is not None:
                try:
                    temp_c, fault = temperature.read()
                except Exception:  # noqa: BLE001
                    temp_c, fault = None, "sensor_error"
                out.append(reading("soil_temp_c", fault or temp_c, depth_cm=depth))
        return out

    def registers(self):
        """Live input-register view of the latest report (for RtuSlave)."""
        return self._rep.registers

    @property
    def last(self):
        """The latest uplink dict, or None before the first report."""
        return self._rep.last

    def on_holding_write(self, address, values):
        """RtuSlave's `on_write`: unit, interval and per-depth calibration
        (dry then wet raw count, registers 8-15). Raises ValueError on a bad
        value, which the slave answers with exception 03."""
        new = self._rep.new_holding(address, values)
        changed = []
        for i, p in enumerate(self.probes):
            a = modbus_map.HOLD_CAL_BASE + 2 * i
            if (new[a], new[a + 1]) != (self.holding[a], self.holding[a + 1]):
                if new[a] == new[a + 1]:
                    raise ValueError("depth %d cm: dry and wet counts must differ" % p[0])
                if not hasattr(p[1], "calibrate"):
                    raise ValueError("depth %d cm: probe cannot be calibrated" % p[0])
                changed.append((p[1], new[a], new[a + 1]))
        self._rep.apply_holding(new)
        for probe, dry, wet in changed:
            probe.calibrate(dry, wet)
