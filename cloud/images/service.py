"""Images in the cloud: ingest once, thumbnails, retention, and the hook processing steps subscribe to.

``ImageService.ingest`` takes a gateway's whole-image message (edge/image_forward.py) from the MQTT
worker or ``POST /api/v1/ingest/image`` and returns the receipt to send back:

* the header is checked, then the bytes against its `size` and SHA-256, then Pillow must read them
  as an image: anything else is ``refused`` with the reason (sending it again would not help);
* (node, seq) is stored once: the same image again is ``stored`` at once and changes nothing; another
  image under a seq that is taken is ``refused`` (a node whose image seq went back);
* the image and its thumbnail go to the object store first, then the row (node, zone, time, kind,
  size, checksum, size in pixels) to the database, so a row always has its bytes. A crash between
  the two leaves an object that the resent image overwrites;
* an object store that cannot be reached raises ``ObjectsUnavailable`` (a ``StorageUnavailable``):
  the caller keeps the image and tries again; no receipt goes out.

Processing steps (canopy cover per canopy photo, insect counts per trap photo) subscribe with
``subscribe(kind, step)``: ``step(image, data)`` runs after an image of that kind is stored, once per
image, in the order images arrive. A step that fails is logged and counted and never costs the image
or the other steps; the step can find what it missed with ``list``.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any

from PIL import Image, UnidentifiedImageError
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from furrow.edge.errors import ContractError
from furrow.edge.image_forward import RECEIPT_REFUSED, RECEIPT_STORED, decode_image, make_image_receipt

from .._time import Clock, now_ms
from ..db import Database, ImageRow, NodeRow
from ..events import EventBus
from ..node_routes import NodeRoutes
from .objects import ObjectStore

log = logging.getLogger(__name__)

THUMB_PX = 320  # the longer side of a thumbnail: a timeline row of them loads fast on a farm's uplink
LIST_MAX = 500
DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class StoredImage:
    """An image's metadata as the API gives it and processing steps receive it."""

    node: str
    seq: int
    site: str
    gateway: str
    zone_id: str | None
    kind: str
    format: str
    ts_ms: int
    received_ms: int
    size: int
    sha256: str
    width: int
    height: int

    @classmethod
    def of(cls, row: ImageRow) -> StoredImage:
        return cls(row.node, row.seq, row.site, row.gateway, row.zone_id, row.kind, row.format, row.ts_ms,
                   row.received_ms, row.size, row.sha256, row.width, row.height)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


Step = Callable[[StoredImage, bytes], Awaitable[object]]


def object_key(site: str, node: str, seq: int, thumb: bool = False) -> str:
    return f"{site}/{node}/{seq:010d}{'.thumb' if thumb else ''}.jpg"


def thumbnail(data: bytes, px: int = THUMB_PX) -> tuple[bytes, int, int]:
    """(thumbnail JPEG, width, height of the image); ContractError when Pillow cannot read it."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            width, height = img.size
            small = img.convert("RGB")
            small.thumbnail((px, px))
            out = io.BytesIO()
            small.save(out, "JPEG", quality=80)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as e:
        raise ContractError("image", f"{len(data)} bytes", f"not a readable image: {e}") from None
    return out.getvalue(), width, height


class ImageService:
    """Image ingest, reads, retention and the processing hook (see the module docstring)."""

    def __init__(self, db: Database, objects: ObjectStore, *, events: EventBus | None = None,
                 clock: Clock = now_ms, retention_days: int | None = None, routes: NodeRoutes | None = None) -> None:
        self.db = db
        self.routes = routes
        """Where a stored photo says its camera was heard (through which gateway, when), as a report does."""
        self.objects = objects
        self.events = events
        self.clock = clock
        self.retention_days = retention_days
        self._steps: list[tuple[str | None, Step]] = []
        self.stats = {"stored": 0, "duplicates": 0, "refused": 0, "step_failures": 0, "expired": 0}

    def subscribe(self, kind: str | None, step: Step) -> None:
        """Run `step(image, data)` after every stored image of `kind` ("canopy", "trap"; None: all)."""
        self._steps.append((kind, step))

    async def ingest(self, message: bytes) -> dict[str, Any]:
        """Store one forwarded image; return its receipt (edge/image_forward.py)."""
        try:
            header, data = decode_image(message)
        except ContractError as e:
            self.stats["refused"] += 1
            return make_image_receipt(_node_of(message), 0, RECEIPT_REFUSED, str(e)[:400])
        node, seq = header["node"], header["image"]
        try:
            if hashlib.sha256(data).hexdigest() != header["sha256"]:
                raise ContractError("sha256", header["sha256"], "does not match the image's bytes")
            thumb, width, height = await asyncio.to_thread(thumbnail, data)
        except ContractError as e:
            self.stats["refused"] += 1
            log.warning("image %s/%d from %s refused: %s", node, seq, header["gateway"], e)
            return make_image_receipt(node, seq, RECEIPT_REFUSED, str(e)[:400])
        existing = await self.db.run(lambda s: s.scalar(select(ImageRow).where(ImageRow.node == node,
                                                                                ImageRow.seq == seq)))
        if existing is not None:
            return self._again(existing, header)
        site = header["site"]
        key, thumb_key = object_key(site, node, seq), object_key(site, node, seq, thumb=True)
        await asyncio.to_thread(self.objects.put, key, data, "image/jpeg")
        await asyncio.to_thread(self.objects.put, thumb_key, thumb, "image/jpeg")
        received = self.clock()

        def insert(session: Session) -> ImageRow:
            zone = session.scalar(select(NodeRow.zone_id).where(NodeRow.id == node))
            row = ImageRow(node=node, seq=seq, site=site, gateway=header["gateway"], zone_id=zone,
                           kind=header["kind"], format=header["format"], ts_ms=header["ts_ms"], received_ms=received,
                           size=header["size"], sha256=header["sha256"], width=width, height=height, key=key,
                           thumb_key=thumb_key)
            session.add(row)
            session.flush()
            return row

        try:
            row = await self.db.run(insert)
        except IntegrityError:  # the same image through another worker meanwhile
            row = await self.db.run(lambda s: s.scalar(select(ImageRow).where(ImageRow.node == node,
                                                                               ImageRow.seq == seq)))
            return self._again(row, header)
        self.stats["stored"] += 1
        if self.routes is not None:  # a camera sends no readings: its photos are its sign of life
            await self.routes.record(site, header["gateway"], {node: header["ts_ms"]})
        image = StoredImage.of(row)
        if self.events is not None:
            self.events.publish("image", image.as_dict())
        await self._run_steps(image, data)
        return make_image_receipt(node, seq, RECEIPT_STORED)

    def _again(self, row: ImageRow, header: dict[str, Any]) -> dict[str, Any]:
        if row.sha256 == header["sha256"]:
            self.stats["duplicates"] += 1
            return make_image_receipt(row.node, row.seq, RECEIPT_STORED)
        self.stats["refused"] += 1
        return make_image_receipt(row.node, row.seq, RECEIPT_REFUSED,
                                  f"image seq {row.seq} of {row.node} already holds another image "
                                  f"(sha256 {row.sha256[:12]}...): the node's image seq went back")

    async def _run_steps(self, image: StoredImage, data: bytes) -> None:
        for kind, step in self._steps:
            if kind is not None and kind != image.kind:
                continue
            try:
                await step(image, data)
            except Exception:
                self.stats["step_failures"] += 1
                log.exception("processing step %r failed on image %s/%d", step, image.node, image.seq)

    # -- reads --------------------------------------------------------------------

    async def list(self, *, zone: str | None = None, node: str | None = None, kind: str | None = None,
                   start_ms: int | None = None, end_ms: int | None = None, limit: int = 100) -> list[StoredImage]:
        """Images newest first, by zone or node, kind and capture time (`start_ms` <= ts < `end_ms`)."""

        def query(session: Session) -> list[StoredImage]:
            q = select(ImageRow)
            if zone is not None:
                q = q.where(ImageRow.zone_id == zone)
            if node is not None:
                q = q.where(ImageRow.node == node)
            if kind is not None:
                q = q.where(ImageRow.kind == kind)
            if start_ms is not None:
                q = q.where(ImageRow.ts_ms >= start_ms)
            if end_ms is not None:
                q = q.where(ImageRow.ts_ms < end_ms)
            q = q.order_by(ImageRow.ts_ms.desc(), ImageRow.id.desc()).limit(min(limit, LIST_MAX))
            return [StoredImage.of(r) for r in session.scalars(q)]

        return await self.db.run(query)

    async def get(self, node: str, seq: int) -> StoredImage | None:
        row = await self._row(node, seq)
        return None if row is None else StoredImage.of(row)

    async def content(self, node: str, seq: int, thumb: bool = False) -> bytes | None:
        """The image's (or its thumbnail's) bytes; None when there is no such image."""
        row = await self._row(node, seq)
        if row is None:
            return None
        return await asyncio.to_thread(self.objects.get, row.thumb_key if thumb else row.key)

    async def _row(self, node: str, seq: int) -> ImageRow | None:
        return await self.db.run(lambda s: s.scalar(select(ImageRow).where(ImageRow.node == node,
                                                                            ImageRow.seq == seq)))

    # -- retention ------------------------------------------------------------------

    async def expire(self) -> int:
        """Delete images taken more than `retention_days` ago (objects first, then rows); how many."""
        if self.retention_days is None:
            return 0
        cutoff = self.clock() - self.retention_days * DAY_MS
        rows = await self.db.run(lambda s: [(r.id, r.key, r.thumb_key) for r in s.scalars(
            select(ImageRow).where(ImageRow.ts_ms < cutoff).limit(1000))])
        for _, key, thumb_key in rows:
            await asyncio.to_thread(self.objects.delete, key)
            await asyncio.to_thread(self.objects.delete, thumb_key)
        ids = [i for i, _, _ in rows]
        if ids:
            await self.db.run(lambda s: s.execute(delete(ImageRow).where(ImageRow.id.in_(ids))))
        self.stats["expired"] += len(ids)
        return len(ids)


def _node_of(message: bytes) -> str:
    """The node a refused message names, when it names one validly; else "unknown"."""
    import json
    import re

    try:
        node = json.loads(bytes(message).split(b"\n", 1)[0]).get("node")
    except (ValueError, AttributeError):
        return "unknown"
    return node if isinstance(node, str) and re.fullmatch(r"[a-z0-9_-]{1,32}", node) else "unknown"
