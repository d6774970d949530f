"""A small file in flash that remembers the irrigation controller's commands
across a reset: which runs were open, which commands were waiting, and the
latest acknowledgement of the most recent command ids.

After a watchdog reset (or a power cut) the controller reads it at boot:
a run that was open is reported "aborted" (its valve is closed, whatever the
journal says), and a retried command whose id is in the journal is answered
with its recorded acknowledgement instead of being run again.

Format: one line ``furrow-journal <crc16 hex>`` then the JSON state. It is
replaced by writing ``<path>.tmp`` and renaming it over ``<path>``, so a
power cut leaves either the old or the new journal, never half of one; a
journal whose CRC fails is ignored (`damaged` is set) and the controller
starts with an empty one: valves are closed at boot either way.

Writes happen only when a command changes state (a few per command), so the
flash sees a handful of writes per irrigation, not one per loop.
"""

import io
import json
import os

from furrow.edge.crc import crc16_modbus

MAGIC = "furrow-journal"
_HEAD = b"furrow-journal 0000\n"  # MAGIC and a CRC written over once the body is written


def empty():
    return {"runs": [], "waiting": [], "acks": []}


class _Counted(io.IOBase):
    """A binary file's write() that also counts the CRC-16 of what goes through it. (A stream
    class: MicroPython's json.dump writes only to streams, in small pieces, bytes; CPython's
    writes text.)"""

    def __init__(self, f):
        self.f = f
        self.crc = 0xFFFF

    def write(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.crc = crc16_modbus(data, self.crc)
        return self.f.write(data)


class Journal:
    """`load()` gives the state dict, `save(state)` replaces it."""

    def __init__(self, path):
        self.path = path
        self.damaged = False
        self.writes = 0

    def _read(self, path):
        try:
            with open(path) as f:
                head = f.readline().strip()
                body = f.read()
        except OSError:
            return None
        parts = head.split(" ")
        if len(parts) != 2 or parts[0] != MAGIC:
            self.damaged = True
            return None
        try:
            if int(parts[1], 16) != crc16_modbus(body.encode()):
                self.damaged = True
                return None
            state = json.loads(body)
        except ValueError:
            self.damaged = True
            return None
        for key in ("runs", "waiting", "acks"):
            if not isinstance(state.get(key), list):
                self.damaged = True
                return None
        return state

    def load(self):
        """The saved state, or an empty one (new node, or a damaged file)."""
        state = self._read(self.path)
        if state is None:
            # A cut between writing the .tmp and the rename leaves the new
            # journal whole in the .tmp.
            state = self._read(self.path + ".tmp")
        return state if state is not None else empty()

    def save(self, state):
        """Replace the journal with `state`; its "acks" may be any iterable (the controller passes a
        generator that rebuilds one ack at a time)."""
        # The JSON goes to the file piece by piece, its CRC counted on the way, and the CRC is
        # written into the head line last: the journal (kilobytes with 16 acks) is never one
        # string in the heap, which may have no room that large, and its acks are never all
        # in the heap at once either (16 ack dicts are some 2 KB).
        tmp = self.path + ".tmp"
        with open(tmp, "w+b") as f:
            f.write(_HEAD)
            counted = _Counted(f)
            counted.write('{"runs": ')
            json.dump(state["runs"], counted)
            counted.write(', "waiting": ')
            json.dump(state["waiting"], counted)
            counted.write(', "acks": [')
            sep = ""
            for ack in state["acks"]:
                counted.write(sep)
                json.dump(ack, counted)
                sep = ", "
            counted.write("]}")
            f.seek(len(MAGIC) + 1)
            f.write(("%04x" % counted.crc).encode())
        os.rename(tmp, self.path)
        self.writes += 1


class MemoryJournal:
    """The same interface in RAM (tests, HIL nodes without a state dir)."""

    def __init__(self):
        self.state = empty()
        self.damaged = False
        self.writes = 0

    def load(self):
        return json.loads(json.dumps(self.state))

    def save(self, state):
        self.state = json.loads(json.dumps(dict(state, acks=list(state["acks"]))))
        self.writes += 1
