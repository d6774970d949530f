"""What every node core shares: report scheduling, seq, the uplink payload,
the input-register image the Modbus slave serves and the holding registers
a Modbus master may write.
"""

from furrow.edge import modbus_map, payload
from furrow.edge.measurements import FAULTS, bounds_of

MAX_UNIT = 247  # Modbus unit addresses 1..247; 0 is broadcast


def tick(core, now_ms):
    """(acks, uplinks) of one tick of any core: an irrigation core returns both, the others a list
    of uplinks."""
    out = core.tick(now_ms)
    return out if isinstance(out, tuple) else ((), out)


def reading(name, value, depth_cm=None, channel=None):
    """One validated reading from a driver result, or None to leave it out.

    `value` is a number, a fault code string, or None when the sensor does
    not measure this quantity. A number outside the measurement's physical
    bounds becomes the fault "out_of_range": a sensor gone wrong must not
    stop the rest of the report from being valid.
    """
    if value is None:
        return None
    if isinstance(value, str):
        if value not in FAULTS:
            value = "sensor_error"
        return payload.make_reading(name, fault=value, depth_cm=depth_cm, channel=channel)
    lo, hi = bounds_of(name)
    if value != value or not lo <= value <= hi:
        return payload.make_reading(name, fault="out_of_range", depth_cm=depth_cm, channel=channel)
    return payload.make_reading(name, value, depth_cm=depth_cm, channel=channel)


def call_or_none(provider):
    """Value of an optional provider (a callable such as the battery
    monitor); None if there is none or it fails: a broken battery divider
    must not stop the readings. A MemoryError is no broken sensor: it goes up
    to the board loop, as everywhere in the firmware (the board resets), rather
    than being reported as "not measured"."""
    if provider is None:
        return None
    try:
        return provider()
    except MemoryError:
        raise
    except Exception:  # noqa: BLE001 - any driver failure just means "not measured"
        return None


class Reporter:
    """Periodic reports for one node: seq, ts, the payload and the registers.

    `battery` and `rssi` are optional callables giving volts and dBm.
    Reports fall on a fixed grid (first tick + k * interval) so they do not
    drift; after a long stall the grid restarts from now instead of sending a
    burst of catch-up reports.
    """

    def __init__(self, node_id, role, seqstore, fw, interval_ms, battery=None, rssi=None):
        # Refuse a bad node id or fw version at construction (ContractError),
        # not at the first report.
        payload.make_uplink(node_id, role, 0, 0, [], fw)
        self.node_id = node_id
        self.role = role
        self.seqstore = seqstore
        self.fw = fw
        self.battery = battery
        self.rssi = rssi
        self.set_interval_ms(interval_ms)
        self.next_due_ms = None  # set by the first tick
        self.last = None  # the latest uplink dict
        self._registers = None
        self.holding = [0] * modbus_map.HOLDING_COUNT
        self.holding[modbus_map.HOLD_UNIT] = modbus_map.DEFAULT_UNIT
        self.holding[modbus_map.HOLD_INTERVAL_S] = self.interval_ms // 1000

    @property
    def registers(self):
        """The latest report as input registers, for the Modbus slave (firmware/modbus_link.py).

        Made at the first ask: only a Modbus node asks, so an MQTT node's image
        carries no register code."""
        if self._registers is None:
            from furrow.firmware.modbus_link import Registers

            self._registers = Registers()
            if self.last is not None:
                self._registers.show(self.last)
        return self._registers

    def set_interval_ms(self, interval_ms):
        if not isinstance(interval_ms, int) or not 1000 <= interval_ms <= 65535 * 1000:
            raise ValueError("interval_ms must be 1000..65535000, not %r" % (interval_ms,))
        self.interval_ms = interval_ms

    def due(self, now_ms):
        if self.next_due_ms is None:
            self.next_due_ms = now_ms
        return now_ms >= self.next_due_ms

    def ms_until_due(self, now_ms):
        if self.next_due_ms is None:
            return 0
        return self.next_due_ms - now_ms

    def report(self, now_ms, readings, scheduled=True):
        """Build the uplink for `readings` (None entries are dropped), take a
        seq and refresh the register image. A `scheduled` report moves the
        schedule on; an extra one (a valve changed) leaves it alone."""
        readings = [r for r in readings if r is not None]
        bat_v = call_or_none(self.battery)
        rssi = call_or_none(self.rssi)
        if bat_v is not None and not 0 <= bat_v <= 65.535:
            bat_v = None
        if rssi is not None:
            rssi = int(rssi) if -128 <= rssi <= 0 else None
        up = payload.make_uplink(self.node_id, self.role, self.seqstore.next(), now_ms, readings, self.fw, bat_v, rssi)
        if self._registers is not None:
            self._registers.show(up)
        self.last = up
        if self.next_due_ms is None:
            self.next_due_ms = now_ms
        if scheduled:
            self.next_due_ms += self.interval_ms
            if self.next_due_ms <= now_ms:
                self.next_due_ms = now_ms + self.interval_ms
        return up

    def new_holding(self, address, values):
        """The holding image after a master writes `values` at `address`,
        checked but not applied. Raises ValueError (the slave answers
        exception 03, illegal data value)."""
        new = list(self.holding)
        for i, v in enumerate(values):
            new[address + i] = v
        unit = new[modbus_map.HOLD_UNIT]
        if not 1 <= unit <= MAX_UNIT:
            raise ValueError("unit address %d outside 1..%d" % (unit, MAX_UNIT))
        if new[modbus_map.HOLD_INTERVAL_S] < 1:
            raise ValueError("report interval must be at least 1 s")
        return new

    def apply_holding(self, new):
        """Take a checked holding image: a new interval counts from the
        latest report. (Holding writes live in RAM; the node's config file
        is what survives a reboot.)"""
        interval_ms = new[modbus_map.HOLD_INTERVAL_S] * 1000
        if interval_ms != self.interval_ms:
            self.set_interval_ms(interval_ms)
            if self.last is not None:
                self.next_due_ms = self.last["ts_ms"] + interval_ms
        for i, v in enumerate(new):
            self.holding[i] = v
