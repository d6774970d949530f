"""Valve outputs and the flow meter of an irrigation controller.

* `LatchingValve`: a latching (bistable) solenoid needs only a pulse: one
  coil (or one H-bridge direction) for `pulse_ms` opens it, the other closes
  it, and it stays where it was put without power, so a battery controller
  can run it. Pins have ``value(v)``; `sleep_ms` is the board's delay.
* `FlowMeter`: pulses from a flow meter's reed or Hall output (the board's
  PulseCounter ``count``) to litres since power-up and a flow rate averaged
  over at least `window_ms`, so a loop that asks every few milliseconds
  still gets a steady rate from a meter that pulses once a second.
"""


class LatchingValve:
    def __init__(self, open_pin, close_pin, pulse_ms=50, sleep_ms=None):
        self.open_pin, self.close_pin, self.pulse_ms = open_pin, close_pin, pulse_ms
        self.sleep_ms = sleep_ms
        self.is_open = None  # unknown until the first set(); boot sets it closed
        open_pin.value(0)
        close_pin.value(0)

    def set(self, is_open):
        # Pulsed every time, even if it "should" already be there: a latching
        # valve knocked over by a pressure surge is put back where it belongs.
        pin = self.open_pin if is_open else self.close_pin
        pin.value(1)
        try:
            self.sleep_ms(self.pulse_ms)
        finally:
            pin.value(0)  # never leave a coil powered: it would burn
        self.is_open = bool(is_open)


class FlowMeter:
    def __init__(self, counter, l_per_pulse, clock_ms, window_ms=5000):
        if l_per_pulse <= 0:
            raise ValueError("l_per_pulse must be positive, not %r" % (l_per_pulse,))
        self.counter, self.l_per_pulse, self.clock_ms = counter, l_per_pulse, clock_ms
        self.window_ms = window_ms
        self._mark = None  # (ms, count) where the current window began
        self._rate = 0.0

    def total_l(self):
        return self.counter.count * self.l_per_pulse

    def rate_l_min(self):
        now, count = self.clock_ms(), self.counter.count
        if self._mark is None:
            self._mark = (now, count)
            return self._rate
        dt = now - self._mark[0]
        if dt >= self.window_ms:
            self._rate = (count - self._mark[1]) * self.l_per_pulse * 60000 / dt
            self._mark = (now, count)
        return self._rate
