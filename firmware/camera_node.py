"""Camera node core: a photo on a schedule, kept in flash, sent in chunks until the gateway has it.

Sans-I/O like every core: the board loop calls ``tick(now_ms)`` (which takes
the photo when it is due and returns ``(acks, uplinks)``, both empty, as
every core's tick does), then, while the broker is connected, publishes
``next_chunk(now_ms)`` at QoS 1 and calls ``sent()`` once its PUBACK is in,
and hands every message on the node's ``image_ack`` topic to
``on_image_ack(data, now_ms)``. ``link_lost()`` says the connection broke.

The delivery rules (contract 1.3, edge/image.py):

* photos go oldest first, one at a time, chunk by chunk in order; the last
  chunk of a round carries "ask", and the gateway answers with the image's
  state;
* a cut link: the chunk whose PUBACK did not come is sent again after the
  reconnect, and the round goes on from there;
* a photo found in flash at boot (a reset cut its sending) starts with its
  last chunk alone, with "ask": the gateway answers which chunks it lacks and
  only those go;
* ``missing``: those ranges go, the last with "ask"; ``stored``: the photo
  leaves the flash; ``refused`` (the gateway quarantined it): it leaves the
  flash and is counted, since sending it again would not help;
* no answer within `ack_wait_ms` of a round's end: the last chunk goes again
  with "ask".

The camera is hardware (drivers/camera.py): a capture that fails is counted
and tried again `retry_ms` later, at most `CAPTURE_TRIES` times per photo.
"""

from furrow.edge.errors import ContractError
from furrow.edge.image import (
    ACK_MISSING,
    ACK_REFUSED,
    ACK_STORED,
    DEFAULT_CHUNK_BYTES,
    KINDS,
    MAX_IMAGE_BYTES,
    chunk_count,
    chunk_span,
    decode_image_ack,
    encode_chunk,
)

DEFAULT_INTERVAL_MS = 3 * 3600 * 1000  # canopy cover changes over days; a few photos a day follow it
ACK_WAIT_MS = 30000
RETRY_MS = 10000
CAPTURE_TRIES = 3
NOTHING = ((), ())  # what every core's tick returns when it made nothing: no acks, no reports


class CameraNode:
    """A camera node taking `kind` ("canopy" or "trap") photos every `interval_ms`."""

    def __init__(
        self,
        node_id,
        camera,
        store,
        seqstore,
        kind="canopy",
        fw="0.1.0",
        interval_ms=DEFAULT_INTERVAL_MS,
        chunk_bytes=DEFAULT_CHUNK_BYTES,
        ack_wait_ms=ACK_WAIT_MS,
        retry_ms=RETRY_MS,
        battery=None,
        rssi=None,
    ):
        if kind not in KINDS:
            raise ValueError("kind must be one of %s, not %r" % (", ".join(sorted(KINDS)), kind))
        if not isinstance(interval_ms, int) or interval_ms < 1000:
            raise ValueError("interval_ms must be at least 1000, not %r" % (interval_ms,))
        encode_chunk(node_id, kind, 0, 0, 1, chunk_bytes, bytes(32), 0, b"x")  # a bad id or chunk size: now
        self.node_id = node_id
        self.camera = camera
        self.store = store
        self.seqstore = seqstore
        self.kind = kind
        self.fw = fw
        self.interval_ms = interval_ms
        self.chunk_bytes = chunk_bytes
        self.ack_wait_ms = ack_wait_ms
        self.retry_ms = retry_ms
        self.battery, self.rssi = battery, rssi  # for the status a board may publish
        self.next_due_ms = None  # when the next capture is tried
        self._slot_ms = None  # the schedule slot it belongs to: first tick + k * interval
        self._tries = 0
        self._fresh = set()  # seqs captured since boot: the gateway has none of their chunks
        self._image = None  # the Image being sent
        self._todo = []  # chunk indexes still to send in this round, in order
        self._waiting_since = None  # the round's last chunk went at this time: waiting for the answer
        self.stats = {"photos": 0, "capture_failures": 0, "chunks_sent": 0, "polls": 0, "refused": 0,
                      "bad_acks": 0}

    # -- taking photos -----------------------------------------------------------

    def tick(self, now_ms):
        """Take the photo when it is due; returns (acks, uplinks), both empty."""
        if self.next_due_ms is None:
            self.next_due_ms = self._slot_ms = now_ms
        if now_ms >= self.next_due_ms:
            self._capture(now_ms)
        return NOTHING

    def _capture(self, now_ms):
        try:
            frame = self.camera.capture()
            if len(frame) > MAX_IMAGE_BYTES:
                raise ValueError("a %d-byte frame is past the contract's %d: lower the quality or the frame size"
                                 % (len(frame), MAX_IMAGE_BYTES))
        except Exception as e:  # noqa: BLE001 - a camera failure must never stop the node
            self.stats["capture_failures"] += 1
            self._tries += 1
            if self._tries < CAPTURE_TRIES:
                self.next_due_ms = now_ms + self.retry_ms
                return
            print("furrow camera: %s; next photo at the next interval" % (e,))
            self._schedule_next(now_ms)
            return
        seq = self.seqstore.next()
        if self.store.put(seq, self.kind, now_ms, frame) is not None:
            self._fresh.add(seq)
            self.stats["photos"] += 1
        self._schedule_next(now_ms)

    def _schedule_next(self, now_ms):
        self._tries = 0
        self._slot_ms += self.interval_ms
        while self._slot_ms <= now_ms:
            self._slot_ms += self.interval_ms  # after a long stall: the grid, not a burst
        self.next_due_ms = self._slot_ms

    # -- sending them --------------------------------------------------------------

    def next_chunk(self, now_ms):
        """The next chunk message to publish, or None when nothing is to go now."""
        if self._image is not None and self.store.get(self._image.seq) is None:
            self._image = None  # dropped by the store meanwhile
        if self._image is None:
            image = self.store.oldest()
            if image is None:
                return None
            self._start(image)
        if not self._todo:
            if self._waiting_since is None or now_ms - self._waiting_since < self.ack_wait_ms:
                return None
            self._todo = [chunk_count(self._image.size, self.chunk_bytes) - 1]  # no answer: ask again
            self.stats["polls"] += 1
        image = self._image
        index = self._todo[0]
        offset, length = chunk_span(image.size, self.chunk_bytes, index)
        data = self.store.read(image.seq, offset, length)
        return encode_chunk(self.node_id, image.kind, image.seq, image.ts_ms, image.size, self.chunk_bytes,
                            image.sha256, index, data, ask=len(self._todo) == 1, fmt=image.format)

    def _start(self, image):
        self._image = image
        last = chunk_count(image.size, self.chunk_bytes) - 1
        if image.seq in self._fresh:
            self._todo = list(range(last + 1))
        else:
            self._todo = [last]  # found at boot: ask what the gateway lacks first
            self.stats["polls"] += 1
        self._waiting_since = None

    def sent(self, now_ms):
        """The chunk `next_chunk` gave was acknowledged by the broker (PUBACK)."""
        if not self._todo:
            return
        self._todo.pop(0)
        self.stats["chunks_sent"] += 1
        if not self._todo:
            self._waiting_since = now_ms

    def link_lost(self):
        """The connection broke: what was not acknowledged goes again after the reconnect."""

    def on_image_ack(self, data, now_ms):
        """A message on the node's image_ack topic."""
        try:
            ack = decode_image_ack(data)
        except ContractError as e:
            self.stats["bad_acks"] += 1
            print("furrow camera: image ack ignored: %s" % (e,))
            return
        seq = ack["image"]
        if ack["node"] != self.node_id or self.store.get(seq) is None:
            return  # another node's, or about a photo already gone: nothing to do
        current = self._image is not None and self._image.seq == seq
        if ack["state"] == ACK_STORED:
            self.store.remove(seq, delivered=True)
        elif ack["state"] == ACK_REFUSED:
            print("furrow camera: gateway refused photo %d: %s" % (seq, ack["reason"]))
            self.store.remove(seq)
            self.stats["refused"] += 1
        elif ack["state"] == ACK_MISSING and current:
            last = chunk_count(self._image.size, self.chunk_bytes) - 1
            todo = []
            for first, end in ack["missing"]:
                for i in range(first, min(end, last) + 1):
                    todo.append(i)
            if todo:
                self._todo = todo
                self._waiting_since = None
            return
        if current:
            self._image = None
            self._todo = []
            self._waiting_since = None
