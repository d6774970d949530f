"""Pest-trap node core: catches per trap since the previous report.

A trap reports catches in one of two ways, and the board picks per trap:

* a counter input (an optical gate or a sticky-board counter pulses once
  per insect): the pin interrupt calls ``on_catch(channel, now_ms)``; a
  pulse within `debounce_ms` of the last accepted one on that channel is a
  bounce and is ignored;
* a trap module that keeps its own running total: the board passes each
  total it reads to ``on_total(channel, total)``. A total that goes down
  means the module restarted (or was emptied and reset), so it counts from 0.

Service visits: ``on_service(channel, event, now_ms)`` with ``"lure_changed"``
or ``"trap_emptied"`` (a button on the trap, or a Modbus write of 1 or 2 to
holding register 8 + trap - 1). Once a lure change is recorded each report
carries the trap's ``lure_age_d`` (a lure loses its pull over weeks, so a
falling count on an old lure is no fall in pest pressure); once an emptying
is recorded, ``trap_total``, the catches since (a full sticky board stops
catching). Visits live in RAM: after a reset neither is reported until the
next visit, rather than a made-up age.
"""

from furrow.edge import modbus_map
from furrow.edge.measurements import ROLE_PEST
from furrow.firmware.reporting import Reporter, reading

DEFAULT_INTERVAL_MS = 60 * 60 * 1000
DEBOUNCE_MS = 20
MAX_TRAPS = 4
SERVICE_EVENTS = ("lure_changed", "trap_emptied")
DAY_MS = 86400000


class PestNode:
    """A pest-trap node with traps 1..`traps` (at most 4)."""

    def __init__(
        self,
        node_id,
        seqstore,
        traps=1,
        fw="0.1.0",
        interval_ms=DEFAULT_INTERVAL_MS,
        battery=None,
        rssi=None,
        debounce_ms=DEBOUNCE_MS,
    ):
        if not 1 <= traps <= MAX_TRAPS:
            raise ValueError("a pest node serves 1..%d traps, not %r" % (MAX_TRAPS, traps))
        self.node_id = node_id
        self.traps = traps
        self.debounce_ms = debounce_ms
        self._rep = Reporter(node_id, ROLE_PEST, seqstore, fw, interval_ms, battery, rssi)
        self.holding = self._rep.holding
        self.counts = [0] * traps  # since the previous report
        self._last_pulse = [None] * traps
        self._totals = [None] * traps
        self.service = {}  # (channel, event) -> ms of the latest visit
        self.totals = [None] * traps  # catches since emptied, once an emptying is recorded
        self._now_ms = 0
        self.stats = {"catches": 0, "bounces": 0, "module_resets": 0, "services": 0}

    def _index(self, channel):
        if not 1 <= channel <= self.traps:
            raise ValueError("no trap %r: this node has %d" % (channel, self.traps))
        return channel - 1

    def on_catch(self, channel, now_ms):
        """One pulse from trap `channel`'s counter input."""
        i = self._index(channel)
        last = self._last_pulse[i]
        if last is not None and now_ms - last < self.debounce_ms:
            self.stats["bounces"] += 1
            return
        self._last_pulse[i] = now_ms
        self._count(i, 1)

    def _count(self, i, n):
        self.counts[i] += n
        self.stats["catches"] += n
        if self.totals[i] is not None:
            self.totals[i] += n

    def on_total(self, channel, total):
        """A trap module's running total for trap `channel`."""
        i = self._index(channel)
        before = self._totals[i]
        self._totals[i] = total
        if before is None:
            return  # the first total read is the baseline
        if total < before:
            self.stats["module_resets"] += 1
            before = 0
        self._count(i, total - before)

    def on_service(self, channel, event, now_ms):
        """A technician's visit to trap `channel`."""
        i = self._index(channel)
        if event not in SERVICE_EVENTS:
            raise ValueError("service event must be one of %s, not %r" % (", ".join(SERVICE_EVENTS), event))
        self.service[(channel, event)] = now_ms
        self.stats["services"] += 1
        if event == "trap_emptied":
            self.totals[i] = 0

    def tick(self, now_ms):
        """Advance to `now_ms`; returns a list of uplink dicts (0 or 1)."""
        self._now_ms = now_ms
        if not self._rep.due(now_ms):
            return []
        taken = list(self.counts)
        readings = [reading("trap_count", n, channel=i + 1) for i, n in enumerate(taken)]
        for i in range(self.traps):
            changed = self.service.get((i + 1, "lure_changed"))
            if changed is not None:
                readings.append(reading("lure_age_d", max(0, now_ms - changed) / DAY_MS, channel=i + 1))
            if self.totals[i] is not None:
                readings.append(reading("trap_total", self.totals[i], channel=i + 1))
        up = self._rep.report(now_ms, readings)
        for i, n in enumerate(taken):
            self.counts[i] -= n  # catches during the report stay counted
        return [up]

    def registers(self):
        """Live input-register view of the latest report (for RtuSlave)."""
        return self._rep.registers

    @property
    def last(self):
        """The latest uplink dict, or None before the first report."""
        return self._rep.last

    def on_holding_write(self, address, values):
        """RtuSlave's `on_write`: unit address, report interval, and trap
        service (registers 8-11: 1 lure changed, 2 trap emptied; read 0)."""
        base = modbus_map.HOLD_SERVICE_BASE
        events = {modbus_map.SERVICE_LURE_CHANGED: "lure_changed", modbus_map.SERVICE_TRAP_EMPTIED: "trap_emptied"}
        plain = []
        for i, v in enumerate(values):
            reg = address + i
            if base <= reg < base + MAX_TRAPS:
                if v == 0:
                    continue
                if reg - base >= self.traps or v not in events:
                    raise ValueError("register %d: no trap %d or no service code %d" % (reg, reg - base + 1, v))
            else:
                plain.append((reg, v))
        new = self._rep.new_holding(0, [])
        for reg, v in plain:
            new[reg] = v
        new = self._rep.new_holding(0, new)
        for i, v in enumerate(values):  # checked above: apply only now, all or nothing
            reg = address + i
            if base <= reg < base + MAX_TRAPS and v:
                self.on_service(reg - base + 1, events[v], self._now_ms)
        self._rep.apply_holding(new)
