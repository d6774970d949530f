"""A report sequence number that survives reboots and barely wears the flash.

(node, seq) identifies a report everywhere, so a node must never hand out the
same seq twice, not even after a power cut. Writing the counter on every
report would wear a flash sector out in a few years, so the store persists a
high-water *mark* ahead of use: every seq below the mark may have been used,
none at or above it has. `next()` reserves a block of `reserve` numbers at a
time (one flash write per block); after a reboot counting resumes at the mark,
skipping whatever was left of the old block. Gaps are fine (the gateway reports
them); repeats are not.

On flash the mark lives in two copies, ``<path>`` and ``<path>.bak``, each one
line ``furrow-seq <mark> <crc16 hex>``. A copy is replaced by writing
``<copy>.tmp`` and renaming it over the copy, and the two copies are never
rewritten at the same time, so a power cut at any instant leaves at least one
intact copy holding a mark at or above every seq handed out. On boot the larger
of the valid copies wins.

What happens with damaged files (the choice made here):

* no copy exists at all: a brand-new node, counting starts at 0;
* one copy is damaged or missing: the other one is used and both are
  rewritten at the next reservation;
* every copy that exists is damaged: `SeqStoreError` is raised. Starting
  again from 0 would reuse seqs the gateway and cloud already hold, which
  silently drops new reports as duplicates. A technician clears it with
  ``SeqStore.restore(path, at_least)`` using a seq above the last one the
  gateway has seen for the node.

Only ``open``, ``os.stat``, ``os.rename`` and ``os.remove`` are used, which
MicroPython has on littlefs, FAT and the posix VFS alike. Closing a file
commits it on littlefs and FAT, so no sync call is needed.
"""

import os

from furrow.edge.crc import crc16_modbus

SEQ_MAX = 0xFFFFFFFF  # the contract's seq is a u32
_MAGIC = "furrow-seq"


class SeqStoreError(ValueError):
    """Every stored copy of the mark is unreadable; `path` names the store."""

    def __init__(self, path, reason):
        self.path = path
        self.reason = reason
        super().__init__("%s: %s" % (path, reason))


def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def _line(mark):
    body = "%s %d" % (_MAGIC, mark)
    return "%s %04x\n" % (body, crc16_modbus(body.encode()))


def _parse(text):
    """Return the mark stored in `text`, or None if the line is damaged."""
    parts = text.strip().split(" ")
    if len(parts) != 3 or parts[0] != _MAGIC or not parts[1].isdigit():
        return None
    body = "%s %s" % (parts[0], parts[1])
    try:
        crc = int(parts[2], 16)
    except ValueError:
        return None
    if crc != crc16_modbus(body.encode()):
        return None
    return int(parts[1])


def _read_copy(path):
    """(exists, mark-or-None) for one copy of the mark."""
    if not _exists(path):
        return False, None
    try:
        with open(path, "rb") as f:
            data = f.read(64)
        return True, _parse(data.decode())
    except (OSError, UnicodeError, ValueError):
        return True, None


def _write_copy(path, mark):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(_line(mark).encode())
    # MicroPython's FAT driver replaces an existing target itself (unlink then
    # rename); the other copy covers the instant in between.
    os.rename(tmp, path)


class SeqStore:
    """Per-node sequence numbers, monotonic across reboots (see module doc).

    `path` is the primary copy; `reserve` how many seqs one flash write
    covers (a reboot skips at most that many).
    """

    def __init__(self, path, reserve=100):
        if not isinstance(reserve, int) or reserve < 1:
            raise ValueError("reserve must be a positive integer, not %r" % (reserve,))
        self.path = path
        self.reserve = reserve
        self.writes = 0  # reservations written since boot; wear is 2 file writes each
        self._next = self._load()
        self._limit = self._next  # nothing of the new run is reserved yet

    def _paths(self):
        return (self.path, self.path + ".bak")

    def _load(self):
        found = False
        best = None
        for p in self._paths():
            exists, mark = _read_copy(p)
            found = found or exists
            if mark is not None and (best is None or mark > best):
                best = mark
        if best is not None:
            return best
        if found:
            raise SeqStoreError(self.path, "every copy of the seq mark is damaged; see SeqStore.restore")
        return 0

    def _persist(self, mark):
        # Primary first, then the backup: at every instant one copy is whole.
        for p in self._paths():
            _write_copy(p, mark)
        self.writes += 1

    def next(self):
        """Return the next seq; reserves a new block on flash when needed."""
        seq = self._next
        if seq > SEQ_MAX:
            raise SeqStoreError(self.path, "seq space exhausted")
        if seq >= self._limit:
            limit = min(seq + self.reserve, SEQ_MAX + 1)
            self._persist(limit)  # persisted before the seq is handed out
            self._limit = limit
        self._next = seq + 1
        return seq

    def peek(self):
        """The seq `next()` will return (no flash write)."""
        return self._next

    @staticmethod
    def restore(path, at_least):
        """Commissioning repair: write a fresh mark of `at_least` to both
        copies, e.g. after `SeqStoreError`, with a seq above the last one the
        gateway holds for this node."""
        if not isinstance(at_least, int) or not 0 <= at_least <= SEQ_MAX:
            raise ValueError("at_least must be a seq 0..%d, not %r" % (SEQ_MAX, at_least))
        _write_copy(path, at_least)
        _write_copy(path + ".bak", at_least)
