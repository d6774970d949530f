"""The gateway's image store: camera nodes' chunks kept durably, reassembled, checked, held until the cloud has them.

Beside the readings buffer, in its own SQLite file (``<buffer>.images.db``, WAL, fsync on commit) and
within its own quota (`image_quota_bytes`), so images never take the readings' room: a full image
store drops its oldest image (counted, ``dropped``), never a reading. Each dropped image is noted in
the same transaction and handed to `gaps` (the readings buffer's gap log, gaps.py) after it: the cloud
hears of it as an ``image_quota`` gap of that camera, with the image seqs, as it hears of readings
dropped. A note leaves only once `gaps` took it, so a crash in between reports it again at the next
chunk, never loses it.

``put_chunks`` stores checked chunks (edge/image_rx.py) in one transaction and says, for each, what
to answer the node (edge/image.py's image ack), or None:

* the chunk that completes an image: the image is assembled and its SHA-256 checked; it matches:
  ``stored`` (the chunks become one image, waiting to be forwarded); it does not: the image is
  quarantined with the reason and the node hears ``refused``;
* any chunk of an image already complete: ``stored`` again (the node missed the first answer);
* a chunk of an image quarantined, or one whose (size, chunk size, SHA-256) contradict a complete
  image under the same seq (the node's image seq went back): ``refused``;
* a chunk with "ask" of an image still partial: ``missing`` with the ranges it lacks;
* a partial image whose description changed (the node's chunk size changed over a reset) starts over.

The caller acknowledges the chunk to the broker only after this returned: nothing acknowledged is
lost. ``next_image`` gives the oldest complete image to forward; it leaves with ``forwarded`` (the
cloud's receipt said stored) or ``refused`` (the cloud refused it for good: quarantined).
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from furrow.edge.batch import GAP_IMAGE_QUOTA
from furrow.edge.image import ACK_MISSING, ACK_REFUSED, ACK_STORED, make_image_ack
from furrow.edge.image_rx import missing_ranges

from .gaps import Drop

PARTIAL, COMPLETE = "partial", "complete"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS images (
  node TEXT NOT NULL, seq INTEGER NOT NULL, kind TEXT NOT NULL, format TEXT NOT NULL, ts_ms INTEGER NOT NULL,
  size INTEGER NOT NULL, chunk_size INTEGER NOT NULL, sha256 BLOB NOT NULL, state TEXT NOT NULL,
  first_rx_ms INTEGER NOT NULL, rx_ms INTEGER, data BLOB, PRIMARY KEY (node, seq));
CREATE TABLE IF NOT EXISTS chunks (
  node TEXT NOT NULL, seq INTEGER NOT NULL, idx INTEGER NOT NULL, data BLOB NOT NULL,
  PRIMARY KEY (node, seq, idx));
CREATE TABLE IF NOT EXISTS quarantine (
  node TEXT NOT NULL, seq INTEGER NOT NULL, reason TEXT NOT NULL, rx_ms INTEGER NOT NULL,
  PRIMARY KEY (node, seq));
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS drops (node TEXT NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (node, seq));
"""


@dataclass(frozen=True, slots=True)
class ReadyImage:
    """A complete, checked image waiting to be forwarded."""

    node: str
    seq: int
    kind: str
    format: str
    ts_ms: int
    rx_ms: int
    size: int
    sha256: str
    data: bytes


class ImageStore:
    """See the module docstring. Thread-safe: the chunk listener and the forwarder share it."""

    def __init__(self, path: Path | str, quota_bytes: int = 64 * 1024 * 1024,
                 gaps: Callable[[list[Drop]], object] | None = None) -> None:
        self.path = str(path)
        self.quota_bytes = quota_bytes
        self.gaps = gaps
        """Where dropped images are reported: DurableBuffer.record_drops (module docstring)."""
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- counters (kept across restarts) ------------------------------------------------

    def _count(self, name: str, n: int = 1) -> None:
        self._db.execute("INSERT INTO counters VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = value + ?",
                         (name, n, n))

    def stats(self) -> dict[str, Any]:
        with self._lock:
            counts = dict(self._db.execute("SELECT name, value FROM counters"))
            states = dict(self._db.execute("SELECT state, COUNT(*) FROM images GROUP BY state"))
            (quarantined,) = self._db.execute("SELECT COUNT(*) FROM quarantine").fetchone()
        return {"chunks": counts.get("chunks", 0), "duplicate_chunks": counts.get("duplicate_chunks", 0),
                "completed": counts.get("completed", 0), "forwarded": counts.get("forwarded", 0),
                "dropped": counts.get("dropped", 0), "restarted": counts.get("restarted", 0),
                "partial": states.get(PARTIAL, 0), "pending": states.get(COMPLETE, 0),
                "quarantined": quarantined, "bytes": self._bytes()}

    def _bytes(self) -> int:
        (images,) = self._db.execute("SELECT COALESCE(SUM(LENGTH(data)), 0) FROM images").fetchone()
        (chunks,) = self._db.execute("SELECT COALESCE(SUM(LENGTH(data)), 0) FROM chunks").fetchone()
        return images + chunks

    # -- chunks in --------------------------------------------------------------------

    def put_chunk(self, c: dict[str, Any], rx_ms: int) -> dict[str, Any] | None:
        """Store one decoded chunk (edge.image_rx.decode_chunk) durably; the ack to send the node, or None."""
        return self.put_chunks([c], rx_ms)[0]

    def put_chunks(self, chunks: list[dict[str, Any]], rx_ms: int) -> list[dict[str, Any] | None]:
        """Store decoded chunks in one transaction (one fsync); for each, the ack to send its node or None."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                acks = [self._put(c, c["node"], c["image"], rx_ms) for c in chunks]
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._report_drops()
        return acks

    def _report_drops(self) -> None:
        """Hand the noted drops to `gaps`, then forget them (under the lock)."""
        if self.gaps is None:
            return
        noted = self._db.execute("SELECT node, seq FROM drops ORDER BY node, seq").fetchall()
        if noted:
            self.gaps([Drop(node, GAP_IMAGE_QUOTA, seq) for node, seq in noted])
            self._db.executemany("DELETE FROM drops WHERE node = ? AND seq = ?", noted)

    def _put(self, c: dict[str, Any], node: str, seq: int, rx_ms: int) -> dict[str, Any] | None:
        q = self._db.execute("SELECT reason FROM quarantine WHERE node = ? AND seq = ?", (node, seq)).fetchone()
        if q is not None:
            return make_image_ack(node, seq, ACK_REFUSED, reason=q[0])
        row = self._db.execute("SELECT size, chunk_size, sha256, state FROM images WHERE node = ? AND seq = ?",
                               (node, seq)).fetchone()
        same = row is not None and (row[0], row[1], bytes(row[2])) == (c["size"], c["chunk_size"], c["sha256"])
        if row is not None and row[3] == COMPLETE:
            if same or (row[0], bytes(row[2])) == (c["size"], c["sha256"]):
                return make_image_ack(node, seq, ACK_STORED)
            return make_image_ack(node, seq, ACK_REFUSED, reason=f"image seq {seq} already holds another image: "
                                  "the node's image seq went back")
        if row is not None and not same:  # the node's chunk size changed over a reset: start over
            self._db.execute("DELETE FROM chunks WHERE node = ? AND seq = ?", (node, seq))
            self._db.execute("DELETE FROM images WHERE node = ? AND seq = ?", (node, seq))
            self._count("restarted")
            row = None
        if row is None:
            self._make_room(c["size"])
            self._db.execute("INSERT INTO images (node, seq, kind, format, ts_ms, size, chunk_size, sha256, state, "
                             "first_rx_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                             (node, seq, c["kind"], c["format"], c["ts_ms"], c["size"], c["chunk_size"], c["sha256"],
                              PARTIAL, rx_ms))
        cur = self._db.execute("INSERT OR IGNORE INTO chunks VALUES (?, ?, ?, ?)", (node, seq, c["index"], c["data"]))
        self._count("chunks" if cur.rowcount else "duplicate_chunks")
        have = {i for (i,) in self._db.execute("SELECT idx FROM chunks WHERE node = ? AND seq = ?", (node, seq))}
        if len(have) == c["count"]:
            return self._complete(node, seq, c, rx_ms)
        if c["ask"]:
            return make_image_ack(node, seq, ACK_MISSING, missing_ranges(have, c["count"]))
        return None

    def _complete(self, node: str, seq: int, c: dict[str, Any], rx_ms: int) -> dict[str, Any]:
        data = b"".join(d for (d,) in self._db.execute(
            "SELECT data FROM chunks WHERE node = ? AND seq = ? ORDER BY idx", (node, seq)))
        self._db.execute("DELETE FROM chunks WHERE node = ? AND seq = ?", (node, seq))
        if hashlib.sha256(data).digest() != c["sha256"]:
            reason = "sha256 of the reassembled image does not match the node's: damaged in the node's flash"
            self._quarantine(node, seq, reason, rx_ms)
            return make_image_ack(node, seq, ACK_REFUSED, reason=reason)
        self._db.execute("UPDATE images SET state = ?, rx_ms = ?, data = ? WHERE node = ? AND seq = ?",
                         (COMPLETE, rx_ms, data, node, seq))
        self._count("completed")
        return make_image_ack(node, seq, ACK_STORED)

    def _quarantine(self, node: str, seq: int, reason: str, rx_ms: int) -> None:
        self._db.execute("DELETE FROM images WHERE node = ? AND seq = ?", (node, seq))
        self._db.execute("INSERT OR REPLACE INTO quarantine VALUES (?, ?, ?, ?)", (node, seq, reason, rx_ms))

    def _make_room(self, size: int) -> None:
        """Drop the oldest images until `size` more bytes fit the quota (an image larger than the quota
        replaces everything: it still gets its chance)."""
        while self._bytes() + size > self.quota_bytes:
            oldest = self._db.execute("SELECT node, seq FROM images ORDER BY first_rx_ms, node, seq LIMIT 1"
                                      ).fetchone()
            if oldest is None:
                return
            self._db.execute("DELETE FROM chunks WHERE node = ? AND seq = ?", oldest)
            self._db.execute("DELETE FROM images WHERE node = ? AND seq = ?", oldest)
            self._db.execute("INSERT OR IGNORE INTO drops VALUES (?, ?)", oldest)
            self._count("dropped")

    # -- images out --------------------------------------------------------------------

    def next_image(self, skip: Collection[tuple[str, int]] = ()) -> ReadyImage | None:
        """The oldest complete image but those in `skip` ((node, seq): already on their way), or None."""
        with self._lock:
            rows = self._db.execute(
                "SELECT node, seq, kind, format, ts_ms, rx_ms, size, sha256, data FROM images WHERE state = ? "
                "ORDER BY rx_ms, node, seq LIMIT ?", (COMPLETE, len(skip) + 1))
            row = next((r for r in rows if (r[0], r[1]) not in skip), None)
        if row is None:
            return None
        node, seq, kind, fmt, ts_ms, rx_ms, size, sha, data = row
        return ReadyImage(node, seq, kind, fmt, ts_ms, rx_ms, size, bytes(sha).hex(), bytes(data))

    def forwarded(self, node: str, seq: int) -> None:
        """The cloud stored it: it leaves the store."""
        with self._lock:
            cur = self._db.execute("DELETE FROM images WHERE node = ? AND seq = ? AND state = ?", (node, seq, COMPLETE))
            if cur.rowcount:
                self._count("forwarded")

    def refused(self, node: str, seq: int, reason: str, rx_ms: int) -> None:
        """The cloud refused it for good: quarantined with the cloud's reason."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._quarantine(node, seq, f"cloud: {reason}", rx_ms)
            self._db.execute("COMMIT")

    def quarantined(self) -> list[tuple[str, int, str]]:
        with self._lock:
            return [tuple(r) for r in self._db.execute("SELECT node, seq, reason FROM quarantine ORDER BY rx_ms")]
