"""The report queue of a Modbus node (contract 1.1): nothing lost while no master reads.

A Modbus node cannot push: it serves its latest report and the master polls.
Reports made while the bus is dead, the gateway is down or between two
distant polls would be overwritten, so the node also keeps every report in
a flash ring (firmware/outbox.py, as an MQTT node does) until a master
acknowledges it.

This is a layer between the RtuSlave and the node's tables, so every core
gets it unchanged (the board loop and the HIL bus wire it alike):

    queue = ReportQueue(path, node.registers(), node.holding, node.on_holding_write)
    slave = RtuSlave(unit, queue, node.holding, on_write=queue.on_write)
    ...  # after each tick that made a report:
    queue.on_report()

Rules (edge/modbus_queue.py; docs/contract.md, "Report queue"):

* Newest first (the 1.0 behaviour, and the mode at boot): the image is the
  latest report, so a master that knows nothing of the queue (mbpoll, an
  older gateway) reads what it always read.
* A write to holding register 2 (1: oldest first) or an ack to 3-4 switches
  to oldest first: the image is the oldest unacknowledged report. Writing
  its seq to 3-4 (one request) drops it from the ring and serves the next.
  An ack of any other seq (repeated, or stale) changes nothing more.
* After QUEUE_HOLD_REPORTS reports with no write to 2-4 the node goes back
  to newest first: the master that drained it is gone, and whoever reads
  next should see the latest report. A returning master asks again.
* Input register 15 (status ok): reports waiting, and bit 15 when the image
  is the oldest of them, i.e. the one an ack removes.
* Full ring: the oldest report is dropped and counted (``stats["dropped"]``);
  the gateway sees the gap in seq. The ring survives a reboot; the read
  pointer is synced every 8 acks, so a reset may serve a few acknowledged
  reports again, which the gateway stores once (it keys on node and seq).
  Not also when the ring drains: it does at nearly every ack, and the node
  answers an ack after the write (``sync()`` writes it at once).
"""

from furrow.edge import modbus_map, modbus_queue
from furrow.firmware.outbox import Outbox

IMAGE_BYTES = 2 * modbus_map.INPUT_COUNT
RECORD_BYTES = 1 + IMAGE_BYTES  # topic length 0, the image
SLOT_SIZE = 256  # slot header 9 + topic length 1 + the image 224
_TOPIC = b""  # the ring's records carry no topic here


def _seq(image):
    return (image[2] << 16) | image[3]


class _Stored:
    """A queued report's image as the ring keeps it (big-endian registers, after the record's
    topic length byte), read in place: no list of 112 numbers per report, which a fragmented heap
    may not have room for."""

    def __init__(self, data):
        self.data = data

    def __getitem__(self, i):
        return (self.data[2 * i + 1] << 8) | self.data[2 * i + 2]


class ReportQueue:
    """See the module docstring. `table` is the node's input table (its
    ``registers()`` or a CommandMailbox's ``inputs``), `holding` its holding
    list (registers 2-4 read back the mode and the latest ack), `forward` its
    write callback for every other holding register."""

    def __init__(self, path, table, holding, forward, slots=64, hold_reports=modbus_queue.QUEUE_HOLD_REPORTS):
        # The read position is written every 8 acks, not also each time the ring drains: in steady
        # state (one report, one ack) it drains at every ack, and the node answers an ack only after
        # its write (a LittleFS file replaced through rename, the bulk of the ack's time on the node).
        self.ring = Outbox(path, slots, SLOT_SIZE, sync_when_empty=False)
        self.table = table
        self.holding = holding
        self.forward = forward
        self.hold_reports = hold_reports
        self.oldest_first = False  # newest first at boot: a 1.0 master's view
        self.stats = self.ring.stats  # appended, sent (acked), dropped, damaged, ...
        self.stats["lost"] = 0  # reports the flash refused (the newest is still served)
        self._quiet = 0  # reports made since the master last wrote 2-4
        self._head_no = None  # ring record number of the cached head image
        self._head = None
        self._shown = None  # the image served, None: the node's own latest
        self._word = 0  # input register 15
        self._buf = bytearray(IMAGE_BYTES)  # one image on its way into the ring, reused
        # The head record, read from the ring into this one buffer each time (Outbox.peek_into):
        # serving and acknowledging reports then allocates nothing of an image's size.
        self._record = bytearray(RECORD_BYTES)
        self._refresh()

    # -- the slave's input table -------------------------------------------------

    def __len__(self):
        return len(self.table)

    def __getitem__(self, i):
        if i >= modbus_map.INPUT_COUNT:
            return self.table[i]  # the command mailbox's ack block
        image = self._shown if self._shown is not None else self.table
        if i == modbus_queue.QUEUE and image[0] and image[modbus_map.STATUS] == modbus_map.STATUS_OK:
            return self._word
        return image[i]

    # -- events ----------------------------------------------------------------

    def on_report(self):
        """The node just made a report: keep its image until it is acknowledged."""
        buf, table = self._buf, self.table
        for i in range(modbus_map.INPUT_COUNT):
            v = table[i]
            buf[2 * i] = v >> 8
            buf[2 * i + 1] = v & 0xFF
        try:
            self.ring.append(_TOPIC, buf)
        except OSError as e:  # flash full or failing: the report is still served as the latest
            self.stats["lost"] += 1
            print("furrow report queue: %s" % e)
        self._quiet += 1
        if self._quiet > self.hold_reports:
            self.oldest_first = False  # nobody drains: serve the newest again
        self._refresh()

    def on_write(self, address, values):
        """The RtuSlave's write callback: registers 2-4 are the queue's, the
        rest go to the node. Checked before anything is applied; a bad value
        raises ValueError (exception 03)."""
        end = address + len(values)
        if end <= modbus_queue.HOLD_QUEUE_MODE or address >= modbus_queue.HOLD_QUEUE_END:
            self.forward(address, values)
            return
        mode = ack_hi = ack_lo = None
        outside = list(values)
        for i, v in enumerate(values):
            reg = address + i
            if reg == modbus_queue.HOLD_QUEUE_MODE:
                mode = v
            elif reg == modbus_queue.HOLD_QUEUE_ACK:
                ack_hi = v
            elif reg == modbus_queue.HOLD_QUEUE_ACK + 1:
                ack_lo = v
            else:
                continue
            outside[i] = self.holding[reg]  # the node sees these unchanged
        if mode is not None and mode not in (modbus_queue.QUEUE_NEWEST_FIRST, modbus_queue.QUEUE_OLDEST_FIRST):
            raise ValueError("holding register %d: report queue mode must be 0 or 1, not %d"
                             % (modbus_queue.HOLD_QUEUE_MODE, mode))
        if (ack_hi is None) != (ack_lo is None):
            raise ValueError("write the acknowledged seq to holding registers %d-%d in one request"
                             % (modbus_queue.HOLD_QUEUE_ACK, modbus_queue.HOLD_QUEUE_ACK + 1))
        if address < modbus_queue.HOLD_QUEUE_MODE or end > modbus_queue.HOLD_QUEUE_END:
            self.forward(address, outside)  # settings around the queue's registers
        self._quiet = 0
        if ack_hi is not None:
            self.oldest_first = True
            self.holding[modbus_queue.HOLD_QUEUE_ACK] = ack_hi
            self.holding[modbus_queue.HOLD_QUEUE_ACK + 1] = ack_lo
            head = self._head_image()
            if head is not None and _seq(head) == (ack_hi << 16) | ack_lo:
                self.ring.peek_into(self._record)  # the head again: what pop() removes
                self.ring.pop()
        if mode is not None:
            self.oldest_first = mode == modbus_queue.QUEUE_OLDEST_FIRST
        self._refresh()

    def sync(self):
        """Persist the ring's read position now (before a planned reset)."""
        self.ring.sync()

    # -- state -----------------------------------------------------------------

    def __repr__(self):
        return "ReportQueue(waiting=%d, oldest_first=%s)" % (len(self.ring), self.oldest_first)

    def _head_image(self):
        """The oldest unacknowledged image (cached per ring record), or None."""
        if len(self.ring) == 0:
            return None
        while self.ring.head != self._head_no or self._head is None:
            length = self.ring.peek_into(self._record)  # skips slots a power cut damaged
            if length is None:
                return None
            self._head_no = self.ring.head
            if length == RECORD_BYTES and self._record[0] == 0:  # no topic, an image
                self._head = _Stored(self._record)
            else:  # not an image (another program's ring on this path): skip it, never stall on it
                self.stats["damaged"] += 1
                self._head = None
                self.ring.pop()
        return self._head

    def _refresh(self):
        waiting = len(self.ring)
        head = self._head_image()
        self.holding[modbus_queue.HOLD_QUEUE_MODE] = 1 if self.oldest_first else 0
        self._shown = head if self.oldest_first and head is not None else None
        shown = self._shown if self._shown is not None else self.table
        oldest = head is not None and shown[0] != 0 and _seq(shown) == _seq(head)
        self._word = min(waiting, modbus_queue.QUEUE_WAITING) | (modbus_queue.QUEUE_OLDEST if oldest else 0)
