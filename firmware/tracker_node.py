"""The tracker node's core: a GNSS receiver's NMEA, the implement-down switch and the engine-on input
in; position messages (edge/position.py) out, at 1 Hz at work and sparse when parked.

Sans-I/O like the other roles: the board reads the UART and the two inputs and calls
``on_uart(data, implement_down, engine_on)``; ``next_message(now_ms)`` gives the next message to put
in the outbox, or None. A fix is kept:

* at work (implement down, or the engine on and moving faster than MOVING_CMS): one per
  ``work_interval_ms`` (1 s: a 6 m implement at 10 km/h moves 2.8 m between fixes);
* parked: one per ``parked_interval_ms`` (5 min), and the first fix after work stops, so the track
  shows where the machine stopped.

Fixes without a position (no fix yet) are counted, not sent. Kept fixes leave in one message when
``batch`` of them are waiting, when the oldest has waited ``flush_ms``, or before the message would
span more than the format's 65 s.
"""

from furrow.edge.position import MAX_FIXES, encode_positions
from furrow.firmware.drivers.nmea import NmeaReader

MOVING_CMS = 50  # 1.8 km/h: slower is a stop with GNSS wander, not travel
_MAX_SPAN_MS = 65000  # the positions message's dt_ms is 16 bits


class TrackerNode:
    """Positions of one machine (see the module docstring); `seqs` hands out sequence numbers (SeqStore)."""

    def __init__(self, node_id, seqs, work_interval_ms=1000, parked_interval_ms=300000, batch=10,
                 flush_ms=15000):
        if not 1 <= batch <= MAX_FIXES:
            raise ValueError("batch must be 1..%d" % MAX_FIXES)
        self.node_id = node_id
        self.seqs = seqs
        self.work_interval_ms = work_interval_ms
        self.parked_interval_ms = parked_interval_ms
        self.batch = batch
        self.flush_ms = flush_ms
        self.reader = NmeaReader()
        self.pending = []
        self.last_kept_ms = None
        self.was_working = False
        self.stats = {"fixes": 0, "kept": 0, "no_position": 0, "messages": 0}

    def working(self, fix, implement_down, engine_on):
        """At work: the implement is down, or the engine runs and the machine moves."""
        speed = fix["speed_cms"] or 0
        return bool(implement_down) or (bool(engine_on) and speed >= MOVING_CMS)

    def on_uart(self, data, implement_down, engine_on):
        """Bytes from the receiver's UART, with the inputs as read now."""
        for fix in self.reader.feed(data):
            self.stats["fixes"] += 1
            if fix["lat_e7"] is None or fix["lon_e7"] is None:
                self.stats["no_position"] += 1
                continue
            work = self.working(fix, implement_down, engine_on)
            interval = self.work_interval_ms if work else self.parked_interval_ms
            stopped = self.was_working and not work
            self.was_working = work
            if not stopped and self.last_kept_ms is not None and fix["t_ms"] - self.last_kept_ms < interval:
                continue
            self.last_kept_ms = fix["t_ms"]
            fix["implement_down"] = bool(implement_down)
            fix["engine_on"] = bool(engine_on)
            self.pending.append(fix)
            self.stats["kept"] += 1

    def next_message(self, now_ms):
        """The next positions message (bytes) when one is due, else None. Call until it gives None."""
        if not self.pending:
            return None
        first = self.pending[0]["t_ms"]
        n = 0
        while n < len(self.pending) and n < self.batch and self.pending[n]["t_ms"] - first <= _MAX_SPAN_MS:
            n += 1
        full = n == self.batch or n < len(self.pending)
        if not full and now_ms - first < self.flush_ms:
            return None
        out = self.pending[:n]
        self.pending = self.pending[n:]
        self.stats["messages"] += 1
        return encode_positions(self.node_id, self.seqs.next(), out)
