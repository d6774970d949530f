"""Photos kept in flash until the gateway has them: bounded, oldest dropped first.

A camera node keeps every photo it took here until the gateway says it has
stored it (or refused it for good), so a cut link, a gateway restart or a
node reset loses none. Each photo is one file ``<dir>/<seq>.img``:

    bytes  field
    4      magic b"FIMG"
    1      kind code, 1 format code (edge/image.py)
    4      image seq (u32), 8 capture time Unix ms (u64), 4 size (u32)
    32     SHA-256 of the image
    2      CRC-16/MODBUS of the 54 bytes before
    n      the image

It is written as ``<seq>.tmp`` and renamed, so a power cut leaves either the
whole file or a ``.tmp`` that the next boot removes. A file whose header
fails its CRC is removed and counted (``stats["damaged"]``); damage in the
image itself is caught by the gateway's SHA-256 check, which refuses it.

The store is bounded by `max_images` and `max_bytes`: a new photo that does
not fit drops the oldest ones (``stats["dropped"]``; the gateway and the
cloud see a gap in the image seq). A photo larger than `max_bytes` on its
own is refused (``stats["too_big"]``) and drops nothing.
"""

import os
import struct

from furrow.edge.crc import crc16_modbus
from furrow.edge.image import FORMATS, KINDS

MAGIC = b"FIMG"
_HEAD = "<4sBBIQI32s"
HEAD_SIZE = struct.calcsize(_HEAD) + 2
_KIND_BY_CODE = dict((code, name) for name, code in KINDS.items())
_FORMAT_BY_CODE = dict((code, name) for name, code in FORMATS.items())


class Image:
    """One stored photo's description; its bytes stay in flash (`ImageStore.read`)."""

    def __init__(self, seq, kind, fmt, ts_ms, size, digest):
        self.seq, self.kind, self.format, self.ts_ms, self.size, self.sha256 = seq, kind, fmt, ts_ms, size, digest


class ImageStore:
    """See the module docstring. `put`, `oldest`, `read`, `remove`, `len()`, `stats`."""

    def __init__(self, path="/images", max_images=16, max_bytes=1500000):
        if max_images < 1 or max_bytes < 1:
            raise ValueError("an image store keeps at least 1 image of at least 1 byte")
        self.path = path
        self.max_images = max_images
        self.max_bytes = max_bytes
        self.stats = {"stored": 0, "delivered": 0, "dropped": 0, "too_big": 0, "damaged": 0}
        self._images = {}  # seq -> Image
        try:
            names = os.listdir(path)
        except OSError:
            os.mkdir(path)
            names = []
        for name in names:
            full = "%s/%s" % (path, name)
            if not name.endswith(".img"):
                os.remove(full)  # a write cut short by a reset
                continue
            image = self._head(full)
            if image is None:
                os.remove(full)
                self.stats["damaged"] += 1
            else:
                self._images[image.seq] = image

    def _file(self, seq):
        return "%s/%d.img" % (self.path, seq)

    def _head(self, full):
        try:
            with open(full, "rb") as f:
                head = f.read(HEAD_SIZE)
        except OSError:
            return None
        if len(head) != HEAD_SIZE or crc16_modbus(head[:-2]) != struct.unpack("<H", head[-2:])[0]:
            return None
        magic, kind, fmt, seq, ts_ms, size, digest = struct.unpack(_HEAD, head[:-2])
        if magic != MAGIC or kind not in _KIND_BY_CODE or fmt not in _FORMAT_BY_CODE:
            return None
        return Image(seq, _KIND_BY_CODE[kind], _FORMAT_BY_CODE[fmt], ts_ms, size, digest)

    def __len__(self):
        return len(self._images)

    def bytes_used(self):
        total = 0
        for image in self._images.values():
            total += image.size
        return total

    def put(self, seq, kind, ts_ms, data, fmt="jpeg"):
        """Keep photo `seq`; returns its Image, or None when it is larger than the whole store."""
        import hashlib

        size = len(data)
        if size > self.max_bytes:
            self.stats["too_big"] += 1
            return None
        while self._images and (len(self._images) >= self.max_images or self.bytes_used() + size > self.max_bytes):
            self.remove(self.oldest().seq)
            self.stats["dropped"] += 1
        digest = hashlib.sha256(data).digest()
        head = struct.pack(_HEAD, MAGIC, KINDS[kind], FORMATS[fmt], seq, ts_ms, size, digest)
        tmp = "%s/%d.tmp" % (self.path, seq)
        with open(tmp, "wb") as f:
            f.write(head)
            f.write(struct.pack("<H", crc16_modbus(head)))
            f.write(data)
        os.rename(tmp, self._file(seq))
        image = Image(seq, kind, fmt, ts_ms, size, digest)
        self._images[seq] = image
        self.stats["stored"] += 1
        return image

    def oldest(self):
        """The Image with the lowest seq, or None when the store is empty."""
        if not self._images:
            return None
        return self._images[min(self._images)]

    def get(self, seq):
        return self._images.get(seq)

    def read(self, seq, offset, length):
        """`length` bytes of photo `seq` from `offset`."""
        with open(self._file(seq), "rb") as f:
            f.seek(HEAD_SIZE + offset)
            return f.read(length)

    def remove(self, seq, delivered=False):
        """Forget photo `seq` (delivered: the gateway has it)."""
        if self._images.pop(seq, None) is None:
            return
        try:
            os.remove(self._file(seq))
        except OSError:
            pass
        if delivered:
            self.stats["delivered"] += 1
