"""The fertigation injector of an irrigation controller (contract 1.5, "fertigate").

A fertigate command is a valve run during which a dosing pump pushes
`inject_ml` millilitres of stock solution into the line. IrrigationNode owns
the valve and its run; this object owns the pump, and keeps to these rules:

* the pump runs only while its command's valve is open, only within the
  window [inject_from_s, inject_until_s) after the valve opened, and only
  while the flow meter reads at least the node's `min_flow_l_min`: the pump
  stops at the first tick without flow (the valve's own no-flow rule then
  ends the run after `no_flow_ms`);
* the volume delivered is the pump's calibrated rate x the time it ran (a
  diaphragm dosing pump moves a fixed volume per stroke); the pump stops for
  good at the first tick at or past the dose, so a dose can overshoot by one
  tick's worth (rate_l_h / 3.6 ml per 1 s tick);
* with an in-line EC sensor and its band, once the pump has run
  `ec_settle_ms` a reading outside the band (or a sensor fault) is a fault:
  the tick returns its reason and the node ends the run "aborted" (a pump
  that delivers nothing, an empty or wrongly mixed tank, a stuck injector);
* whenever the run ends (completed, aborted for any reason, cancelled,
  closed), the node calls `stop`, which turns the pump off and says how much
  went in; the pump is off from construction (a reset never leaves it on).

The pump driver has ``set(on)``, like a valve. The EC sensor has ``read()``
-> dS/m, or a fault code (a string).
"""

# The contract checks a fertigate with these (edge/commands.py imports them lazily, which the image
# builder cannot see): imported here, so an image carries them and a node with an injector loads them.
from furrow.edge.fertigate import check_inject, check_injected  # noqa: F401


class Injector:
    """One dosing pump, `rate_l_h` litres of stock solution per hour."""

    def __init__(self, pump, rate_l_h, ec=None, ec_band=None, ec_settle_ms=60000):
        if not rate_l_h > 0:
            raise ValueError("rate_l_h must be positive, not %r" % (rate_l_h,))
        self.pump = pump
        self.ml_per_ms = rate_l_h / 3600.0  # 1 L/h is 1000 ml per 3.6e6 ms
        self.ec = ec
        self.ec_band = ec_band  # (low, high) dS/m, or None: not checked
        self.ec_settle_ms = ec_settle_ms
        self.cmd = None  # the fertigate being dosed
        self.on = False
        self.ml = 0.0
        self._start_ms = 0
        self._mark_ms = 0  # last time the delivered volume was counted
        self._ran_ms = 0
        pump.set(False)

    def start(self, cmd, now_ms):
        """The valve of fertigate `cmd` opened at `now_ms`: dose it from its window on."""
        self.cmd = cmd
        self._start_ms = self._mark_ms = now_ms
        self.ml = 0.0
        self._ran_ms = 0

    def _count(self, now_ms):
        if self.on:
            dt = max(0, now_ms - self._mark_ms)
            self.ml += dt * self.ml_per_ms
            self._ran_ms += dt
        self._mark_ms = now_ms

    def _set(self, on):
        self.pump.set(on)
        self.on = on

    def tick(self, now_ms, flowing):
        """Run or stop the pump at `now_ms` (`flowing`: the meter sees water);
        returns a fault's reason (the run must end) or None."""
        if self.cmd is None:
            return None
        self._count(now_ms)
        cmd = self.cmd
        elapsed = now_ms - self._start_ms
        want = (flowing and self.ml < cmd["inject_ml"]
                and cmd["inject_from_s"] * 1000 <= elapsed < cmd["inject_until_s"] * 1000)
        if want and self.ec_band is not None and self._ran_ms >= self.ec_settle_ms:
            # the line's EC, once the pump has run long enough to reach the sensor: out of band is a fault
            try:
                ec = self.ec.read()
            except MemoryError:  # out of heap is no dead sensor: up to the loop (docs/firmware.md)
                raise
            except Exception:  # noqa: BLE001 - a dead sensor proves nothing: stop
                ec = "sensor_error"
            low, high = self.ec_band
            why = None
            if isinstance(ec, str):
                why = "injection stopped: line EC sensor %s" % ec
            elif not low <= ec <= high:
                why = "injection stopped: line EC %.2f dS/m outside %.2f..%.2f" % (ec, low, high)
            if why is not None:
                self._set(False)
                return why
        self._set(want)
        return None

    def stop(self, now_ms):
        """The run ended at `now_ms`: pump off; the millilitres injected."""
        self._count(now_ms)
        self._set(False)
        self.cmd = None
        return int(round(self.ml))
