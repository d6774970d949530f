"""A bounded ring of outgoing MQTT messages in flash.

An MQTT node puts every report and acknowledgement here first, and the board
loop publishes from the oldest: ``peek()``, publish at QoS 1, and ``pop()``
only once the broker's PUBACK has come back. While the link is down the ring
fills; when it is full the oldest record is dropped (``stats["dropped"]``),
and the gateway sees the drop as a gap in `seq`. A reboot keeps what was not
yet acknowledged: the ring lives in a file.

Layout, wear-aware:

* ``<path>.dat``: `slots` fixed-size slots of `slot_size` bytes, written in
  place, round robin, so every slot wears the same. A slot holds a header
  (magic 0xA5, record number u32, length u16, CRC-16 of the rest) and the
  record: topic length u8, topic, payload. Record numbers grow by one per
  append; record n lives in slot n % slots.
* ``<path>.ptr``: the number of the first record not yet acknowledged, one
  line with a CRC, replaced through ``.tmp`` + rename. It is written when
  the ring drains empty and every `sync_every` pops, not on every PUBACK: a
  reset may then send up to `sync_every` records a second time, which the
  gateway stores once (it keys on node and seq). At-least-once, never lost
  while it fits. ``sync_when_empty=False`` (the Modbus report queue, whose
  ring drains empty at nearly every acknowledgement) writes it only every
  `sync_every` pops and on ``sync()``: a reset still re-sends fewer than
  `sync_every` records, and an acknowledgement's reply no longer waits for a
  flash write.

At boot the slots are scanned: the records numbered from the pointer up to
the highest valid one are pending. A slot whose CRC fails (a power cut
during its write) is skipped and counted in ``stats["damaged"]``.
"""

import os
import struct

from furrow.edge.crc import crc16_modbus

MAGIC = 0xA5
_HEAD = "<BIHH"  # magic, record number, length, crc
HEAD_SIZE = 9
PTR_MAGIC = "furrow-outbox"


def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


class Outbox:
    """See the module docstring. `append`, `peek`, `pop`, `len()`, `stats`."""

    def __init__(self, path, slots=64, slot_size=1024, sync_every=8, sync_when_empty=True):
        if slots < 2 or slot_size < HEAD_SIZE + 2:
            raise ValueError("an outbox needs at least 2 slots of %d bytes" % (HEAD_SIZE + 2))
        self.path = path
        self.slots = slots
        self.slot_size = slot_size
        self.sync_every = sync_every
        self.sync_when_empty = sync_when_empty
        self.stats = {"appended": 0, "sent": 0, "dropped": 0, "damaged": 0, "slot_writes": 0, "ptr_writes": 0}
        self._dat = path + ".dat"
        self._ptr = path + ".ptr"
        self._unsynced = 0
        self._peeked = None  # record number the last peek() returned
        self._open()

    # -- boot ------------------------------------------------------------------

    def _open(self):
        size = self.slots * self.slot_size
        fresh = True
        if _exists(self._dat) and os.stat(self._dat)[6] == size:
            fresh = False
        if fresh:
            blank = bytes(self.slot_size)
            with open(self._dat, "wb") as f:
                for _ in range(self.slots):
                    f.write(blank)
        self.head = self._read_ptr() if not fresh else 0  # first record not acknowledged
        top = None
        with open(self._dat, "rb") as f:
            for i in range(self.slots):
                record = self._read(f, i)
                no = record[0] if record is not None else None
                if no is not None and no >= self.head and (top is None or no > top):
                    top = no
        self.next = self.head if top is None else top + 1
        if self.next - self.head > self.slots:  # a pointer older than the ring
            self.stats["dropped"] += self.next - self.slots - self.head
            self.head = self.next - self.slots

    def _read_ptr(self):
        for path in (self._ptr, self._ptr + ".tmp"):
            try:
                with open(path) as f:
                    parts = f.read().split()
            except OSError:
                continue
            if len(parts) == 3 and parts[0] == PTR_MAGIC:
                try:
                    if int(parts[2], 16) == crc16_modbus(parts[1].encode()):
                        return int(parts[1])
                except ValueError:
                    pass
        return 0

    def _write_ptr(self):
        text = str(self.head)
        tmp = self._ptr + ".tmp"
        with open(tmp, "w") as f:
            f.write("%s %s %04x\n" % (PTR_MAGIC, text, crc16_modbus(text.encode())))
        os.rename(tmp, self._ptr)
        self.stats["ptr_writes"] += 1
        self._unsynced = 0

    def _read(self, f, i, into=None):
        """(record number, record) of slot `i`, or None if it holds none whole. Reads the header,
        then only the record: no slot-sized buffer, which a fragmented heap may not have. With
        `into` (a bytearray) the record is read into its start and its length given in its place;
        one longer than `into` is not read (nor checked): (record number, its length)."""
        f.seek(i * self.slot_size)
        head = f.read(HEAD_SIZE)
        if len(head) < HEAD_SIZE or head[0] != MAGIC:
            return None
        magic, no, length, crc = struct.unpack(_HEAD, head)
        if HEAD_SIZE + length > self.slot_size:
            return None
        if into is None:
            record = f.read(length)
            got = len(record)
        elif length > len(into):
            return no, length
        else:
            record = memoryview(into)[:length]
            got = f.readinto(record)
        if got != length or crc16_modbus(record, crc16_modbus(head[1:7])) != crc:
            return None
        return no, (record if into is None else length)

    # -- use -------------------------------------------------------------------

    def __len__(self):
        return self.next - self.head

    def append(self, topic, data):
        """Keep one message; drops the oldest when the ring is full. Returns
        its record number. A message larger than a slot raises ValueError."""
        t = topic.encode() if isinstance(topic, str) else topic
        length = 1 + len(t) + len(data)
        if len(t) > 255 or HEAD_SIZE + length > self.slot_size:
            raise ValueError("message of %d bytes does not fit a %d-byte slot" % (length, self.slot_size))
        if self.next - self.head >= self.slots:
            self.head += 1  # its slot is the one written now
            self.stats["dropped"] += 1
        no = self.next
        head = struct.pack("<BIH", MAGIC, no, length)
        size = bytes((len(t),))
        crc = crc16_modbus(data, crc16_modbus(t, crc16_modbus(size, crc16_modbus(head[1:]))))
        with open(self._dat, "r+b") as f:  # LittleFS makes the slot's new content visible whole, at close
            f.seek((no % self.slots) * self.slot_size)
            for part in (head, struct.pack("<H", crc), size, t, data):
                f.write(part)
        self.stats["slot_writes"] += 1
        self.stats["appended"] += 1
        self.next = no + 1
        return no

    def peek(self):
        """(topic, payload bytes) of the oldest message, or None when empty.
        Slots damaged by a power cut are skipped."""
        while self.head < self.next:
            with open(self._dat, "rb") as f:
                record = self._read(f, self.head % self.slots)
            if record is not None and record[0] == self.head:
                self._peeked = self.head
                body = record[1]
                n = body[0]
                return body[1 : 1 + n].decode(), body[1 + n :]
            self.stats["damaged"] += 1
            self.head += 1
        return None

    def peek_into(self, buf):
        """``peek()`` without a new buffer: the oldest record (topic length, topic, payload) is read
        into the start of `buf` (a bytearray) and its length returned; None when the ring is empty.
        A record longer than `buf` is not read: its length is returned and the caller skips it. For
        a ring of fixed-size records (the report queue's images), read again and again, so the heap
        never needs a record's size in one piece for it."""
        while self.head < self.next:
            with open(self._dat, "rb") as f:
                record = self._read(f, self.head % self.slots, buf)
            if record is not None and record[0] == self.head:
                self._peeked = self.head
                return record[1]
            self.stats["damaged"] += 1
            self.head += 1
        return None

    def pop(self):
        """The message the last ``peek()`` gave was acknowledged (PUBACK):
        forget it. If the ring dropped it meanwhile (full while the publish
        waited for its PUBACK) nothing else is removed in its place."""
        peeked, self._peeked = self._peeked, None
        if peeked is not None and peeked < self.head:
            self.stats["sent"] += 1
            return
        if self.head >= self.next:
            return
        self.head += 1
        self.stats["sent"] += 1
        self._unsynced += 1
        if (self.sync_when_empty and self.head == self.next) or self._unsynced >= self.sync_every:
            self._write_ptr()

    def sync(self):
        """Persist the acknowledged position now (before a deep sleep)."""
        if self._unsynced:
            self._write_ptr()
