"""The forwarder: buffered readings to the cloud in batches, kept until the cloud has stored them.

A batch's readings leave the buffer only when the cloud's receipt for it
arrives (edge/batch.py): on ``gw/{gateway}/receipt`` over MQTT, or as the
answer to the POST over HTTPS. The cloud broker's PUBACK only says the
broker has the batch; a broker that crashes before its next save loses what
it queued, so that cannot stand for storage. Until its receipt, a sent row
carries its batch id and when it went (buffer.py).

When does a batch go again? When the cloud has answered a batch sent later
(by `receipt_wait` or more): the cloud handles a gateway's batches in order,
with `receipt_wait` of slack for several workers, so an earlier batch still
without a receipt was lost on the way. When the cloud is down nothing comes
back and nothing is sent again (the broker queues what it has). When nothing
new is left to send and batches wait for receipts, an empty batch goes every
`receipt_wait`: its receipt says the cloud is back and lets the lost ones go
again. The cloud stores each (node, seq) and each gap report once, so a
batch sent twice costs bandwidth, never a double reading.

A cloud from before receipts sends none: until the first receipt ever (the
buffer remembers it), a batch leaves at the broker's PUBACK as it used to,
unless the config says receipts are `required` (what `furrow gateway add`
writes: then no PUBACK ever stands for storage, not even on the first day).

Payloads are zlib-compressed when ``compress`` is on: the receiver tells a
compressed batch by its first byte, the zlib header 0x78 (JSON starts with
"{"). The readings the gateway did not forward go as gap reports
(gaps.py) in the batches, and leave the gap log with the batch's receipt.

The same batches can go by HTTPS POST instead (`HttpsForwarder`): the answer
must be the batch's receipt; 503, 429, network errors and any other answer
back off and go again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import zlib
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

import aiomqtt
import httpx
import orjson

from furrow.clock import Clock, system_clock
from furrow.edge.batch import (
    RECEIPT_REFUSED,
    RECEIPT_STORED,
    decode_receipt,
    make_batch,
    make_receipt,
)
from furrow.edge.errors import ContractError
from furrow.edge.topics import GW_BATCH, GW_RECEIPT, gateway_topic

from .buffer import DurableBuffer
from .cloud_link import backoff_delay
from .config import GatewayConfig, HttpsSinkConfig

log = logging.getLogger(__name__)

Send = Callable[[bytes], Awaitable[dict[str, Any] | None]]
"""Send a batch; return its receipt when the transport answers with one (HTTPS), else None.
Raises when the batch did not get through."""
SENT_REMEMBERED = 4096  # batch ids kept with when they went (for receipts that come back)
RECEIPT_POLL_S = 0.05  # how often a stopping gateway looks whether the last receipts came
# Receipts over MQTT are stored in groups: one transaction and one fsync for up to RECEIPT_GROUP of
# them, the first waiting up to RECEIPT_LINGER_S for others (a backlog drain's receipts come a batch
# apart), no longer once the group is full. A receipt's commit was a fifth of the drain's CPU
# (docs/performance.md). A receipt waits at most the linger and the store of the groups before it;
# one lost before its commit (a crash, a power cut) costs a resend of its batch, which the cloud
# stores once (tests/test_gateway_receipts.py).
RECEIPT_GROUP = 16
RECEIPT_LINGER_S = 0.2


class Forwarder:
    """Cloud stage: drains the durable buffer into batches on the cloud topic and takes the
    cloud's receipts for them."""

    name = "forwarder"

    def __init__(self, buffer: DurableBuffer, config: GatewayConfig, clock: Clock = system_clock) -> None:
        self._buffer = buffer
        self._clock = clock
        self._config = config
        self._gw = config.gateway_id
        self.topic = gateway_topic(config.site, config.gateway_id, GW_BATCH, config.topic_root)
        self.receipt_topic = gateway_topic(config.site, config.gateway_id, GW_RECEIPT, config.topic_root)
        self._wait_ms = int(config.receipt_wait.total_seconds() * 1000)
        # Batch ids sort in sending order: process start time, then a counter,
        # both zero-padded. Unique across restarts unless the clock steps back.
        self._epoch_ms = clock()
        self._counter = 0
        self._sent: OrderedDict[str, int] = OrderedDict()  # batch id -> sent at (Unix ms), newest last
        self._answered_ms: int | None = None  # when the newest batch the cloud answered was sent
        self._probed_ms: int | None = None
        self.receipts = config.receipts == "required" or buffer.receipts_seen()
        self._https = config.forward_via == "https"  # the answer to a POST is always its receipt
        self.counts = {"batches": 0, "items": 0, "bytes": 0, "buffer_errors": 0, "receipts": 0, "stored": 0,
                       "refused": 0, "receipts_invalid": 0, "probes": 0, "receipt_commits": 0}
        self.last_batch_id: str | None = None
        self._stored_due: list[tuple[str, int | None]] = []  # receipts (batch, sent_ms) to store in groups
        self._group_full: asyncio.Event | None = None  # set when RECEIPT_GROUP receipts wait: the linger ends
        self._storing: asyncio.Task[None] | None = None
        self.subscribed = False  # SUBACK for the receipt topic on the current cloud connection

    def next_batch_id(self) -> str:
        self._counter += 1
        return f"{self._gw}-{self._epoch_ms:013d}-{self._counter:08d}"

    @property
    def topics(self) -> tuple[str, ...]:
        """What the cloud link hands the forwarder (`on_message`): its receipts."""
        return (self.receipt_topic,)

    async def session(self, client: aiomqtt.Client) -> None:
        """Forward until cancelled; an MqttError means the link broke."""
        await client.subscribe(self.receipt_topic, qos=1)
        self.subscribed = True
        try:
            await self.run_sender(self._mqtt_sender(client))
        finally:
            self.subscribed = False

    async def on_message(self, message: aiomqtt.Message) -> None:
        """A receipt on ``gw/{gateway}/receipt`` (the cloud link routes it here): queued to be stored
        with the others that come within RECEIPT_LINGER_S, not awaited (the cloud link reads the next
        message meanwhile)."""
        payload = message.payload
        await self.on_receipt(payload if isinstance(payload, bytes) else str(payload).encode(), linger=True)

    def _mqtt_sender(self, client: aiomqtt.Client) -> Send:
        async def send(payload: bytes) -> None:
            await client.publish(self.topic, payload, qos=1)

        return send

    async def run_sender(self, send: Send) -> None:
        interval = self._config.forward_interval.total_seconds()
        limit = self._config.forward_batch_size
        while True:
            sent = await self.forward_once(send)
            # A full batch means more is waiting: go again at once. Otherwise
            # wait a little so readings arriving one by one travel together.
            if sent < limit:
                await asyncio.sleep(interval)

    async def close(self, client: aiomqtt.Client) -> None:
        """Final flush at shutdown: send what is buffered while the link is up, then wait for
        the receipts of what went (the cloud link bounds how long this may take; what is still
        waiting at the end waits on disk, and goes again after the restart if it must)."""
        send = self._mqtt_sender(client)
        while await self.forward_once(send, probe=False):
            pass
        while self.receipts and await asyncio.to_thread(self._buffer.waiting):
            # A batch whose receipt was lost (the gateway killed or the broker restarted after the
            # cloud stored it) goes again once a later batch is answered, and a probe asks for one:
            # without this a stop waited out its timeout for a receipt that was never coming.
            await self.forward_once(send)
            await asyncio.sleep(RECEIPT_POLL_S)

    def encode(self, batch: dict[str, Any]) -> bytes:
        """The batch's JSON, compressed when configured. orjson (CPython only, as the buffer's rows)
        rather than edge's `encode_batch`: the same JSON values, compact, and 9-11 times less CPU,
        which was a tenth of a backlog drain (docs/performance.md)."""
        return self._compressed(orjson.dumps(batch))

    def encode_items(self, batch_id: str, sent_ms: int, items: list[bytes], gaps: list[dict[str, Any]]) -> bytes:
        """`encode` of the batch holding `items` (each an item's JSON, buffer.py `next_batch_json`) and
        `gaps`, without parsing the items: the envelope's JSON with the items joined into its list.
        The same bytes as `encode` of the parsed items (tests/test_gateway_forwarder.py)."""
        head = orjson.dumps(make_batch(self._config.site, self._gw, batch_id, sent_ms, []))  # ..."items":[]}
        tail = b"]," + b'"gaps":' + orjson.dumps(gaps) + b"}" if gaps else b"]}"
        return self._compressed(b"".join((head[:-2], b",".join(items), tail)))

    def _compressed(self, data: bytes) -> bytes:
        return zlib.compress(data, self._config.compress_level) if self._config.compress else data

    def resend_before(self) -> int | None:
        """Batches sent before this (Unix ms) that have no receipt go again: the cloud has answered
        one sent `receipt_wait` or more after them. None until the cloud has answered any."""
        return None if self._answered_ms is None else self._answered_ms - self._wait_ms

    async def forward_once(self, send: Send | aiomqtt.Client, probe: bool = True) -> int:
        """Send one batch (readings due again first, then fresh ones, then the oldest, and the
        gap reports); returns how many readings went. `send` raises when the batch did not get
        through; then its readings go with the next batch. With nothing to send while batches
        wait for receipts, an empty batch goes every `receipt_wait` (`probe`)."""
        if isinstance(send, aiomqtt.Client):
            send = self._mqtt_sender(send)
        now = self._clock()
        fresh_since = now - int(self._config.fresh_window.total_seconds() * 1000)
        again = self.resend_before()
        try:
            rows = await asyncio.to_thread(self._buffer.next_batch_json, self._config.forward_batch_size,
                                           fresh_since, again)
            gaps = await asyncio.to_thread(self._buffer.next_gaps, again)
        except Exception as e:  # a disk error is logged and retried, never fatal
            self._buffer_error("read", e)
            return 0
        if not rows and not gaps:
            if probe and await self._should_probe(now):
                await self._send(send, [], [], now)
                self._probed_ms = now
                self.counts["probes"] += 1
            return 0
        await self._send(send, rows, gaps, now)
        return len(rows)

    async def _should_probe(self, now: int) -> bool:
        if not self.receipts or (self._probed_ms is not None and now - self._probed_ms < self._wait_ms):
            return False
        return await asyncio.to_thread(self._buffer.waiting)

    async def _send(self, send: Send, rows: list[tuple[int, bytes]], gaps: list, now: int) -> None:
        batch_id = self.next_batch_id()
        payload = self.encode_items(batch_id, now, [item for _, item in rows], [gap for _, gap in gaps])
        rowids = [rowid for rowid, _ in rows]
        # The rows say which batch they went in while they wait for its receipt (a cloud without
        # receipts has them dropped at the PUBACK below, so there they need not).
        waits = self.receipts or self._https
        try:
            if (waits and rows) or gaps:
                await asyncio.to_thread(self._buffer.sent, batch_id, rowids if waits else [], [i for i, _ in gaps],
                                        now)
        except Exception as e:
            self._buffer_error("mark", e)
            return
        try:
            answer = await send(payload)
        except BaseException:
            # Not through (or not known to be): its readings go with the next batch.
            self._buffer.unsent(batch_id)
            raise
        self._remember(batch_id, now)
        self.counts["batches"] += 1
        self.counts["items"] += len(rows)
        self.counts["bytes"] += len(payload)
        self.last_batch_id = batch_id
        if answer is not None:
            await self.receipt(answer, batch_id)
        elif not self.receipts:
            # A cloud that sends no receipts: its broker's PUBACK is all there is.
            try:
                await asyncio.to_thread(self._buffer.mark_forwarded, rowids, batch_id)
            except Exception as e:  # they stay and go again later: a duplicate, not a loss
                self._buffer_error("mark", e)

    def _remember(self, batch_id: str, sent_ms: int) -> None:
        self._sent[batch_id] = sent_ms
        while len(self._sent) > SENT_REMEMBERED:
            self._sent.popitem(last=False)

    async def on_receipt(self, raw: bytes, linger: bool = False) -> None:
        """A receipt from the cloud's receipt topic (`linger`: see `receipt`)."""
        try:
            receipt = decode_receipt(raw)
        except ContractError as e:
            self.counts["receipts_invalid"] += 1
            log.warning("ignored a receipt that breaks the contract: %s", e)
            return
        await self.receipt(receipt, linger=linger)

    async def receipt(self, receipt: dict[str, Any], expected: str | None = None, linger: bool = False) -> None:
        """The cloud answered batch `receipt["batch_id"]`: stored, its readings and gap reports
        leave the buffer; refused, they stay and go again with the batches due (said loudly). With
        `linger`, a stored receipt is queued for a group's transaction and this returns at once;
        without, it returns when the readings have left."""
        batch_id = receipt["batch_id"]
        if expected is not None and batch_id != expected:
            raise SinkUnavailable(f"the answer is the receipt of {batch_id!r}, not of {expected!r}")
        self.counts["receipts"] += 1
        sent_ms = self._sent.pop(batch_id, None)
        if receipt["status"] == RECEIPT_REFUSED:
            self.counts["refused"] += 1
            log.error("the cloud refused batch %s: %s; its readings stay in the buffer and go again",
                      batch_id, receipt.get("reason"))
        elif not linger:  # the caller waits for this receipt alone, never for others' groups
            await self._store_group([(batch_id, sent_ms)])
            return
        else:
            self._stored_due.append((batch_id, sent_ms))
            if len(self._stored_due) >= RECEIPT_GROUP and self._group_full is not None:
                self._group_full.set()
            if self._storing is None or self._storing.done():
                self._storing = asyncio.get_running_loop().create_task(self._store_due())
            return
        self._answered(sent_ms)

    def _answered(self, sent_ms: int | None) -> None:
        if sent_ms is not None and (self._answered_ms is None or sent_ms > self._answered_ms):
            self._answered_ms = sent_ms

    async def _store_due(self) -> None:
        """Store the queued receipts until none is left: each group waits up to RECEIPT_LINGER_S for
        RECEIPT_GROUP receipts, then goes in one transaction."""
        full = self._group_full = asyncio.Event()  # made here: bound to the loop that runs this
        while self._stored_due:
            if len(self._stored_due) < RECEIPT_GROUP:
                full.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(full.wait(), RECEIPT_LINGER_S)
            group, self._stored_due = self._stored_due[:RECEIPT_GROUP], self._stored_due[RECEIPT_GROUP:]
            await self._store_group(group)

    async def _store_group(self, group: list[tuple[str, int | None]]) -> None:
        """The cloud stored the batches of `group` ((batch, sent_ms)): their readings leave, in one
        transaction. Only then do they count as answered: a batch answered but still here must not
        look lost (`resend_before`)."""
        try:
            results = await asyncio.to_thread(self._buffer.stored_many, [b for b, _ in group])
        except Exception as e:  # the rows stay: sent again, stored once
            self._buffer_error("receipt", e)
            return
        self.counts["receipt_commits"] += 1
        for (_, sent_ms), (n, stored_sent_ms) in zip(group, results, strict=True):
            self.counts["stored"] += n
            self._answered(sent_ms if sent_ms is not None else stored_sent_ms)
        if not self.receipts:
            log.info("the cloud sends receipts: batches now stay until the cloud has stored them")
        self.receipts = True

    def _buffer_error(self, what: str, e: Exception) -> None:
        self.counts["buffer_errors"] += 1
        log.error("buffer %s failed: %s", what, e)

    def stats(self) -> dict[str, Any]:
        return {**self.counts, "last_batch_id": self.last_batch_id, "receipts_expected": self.receipts}


class SinkUnavailable(Exception):
    """The HTTPS sink refused or could not be reached; try again later."""


def sink_client(cfg: HttpsSinkConfig) -> httpx.AsyncClient:
    """An HTTP client for the cloud API: its TLS trust, client certificate and token."""
    verify: ssl.SSLContext = cfg.ssl_context()
    headers = {"content-type": "application/json"}
    if cfg.token:
        headers["authorization"] = f"Bearer {cfg.token}"
    return httpx.AsyncClient(timeout=cfg.timeout.total_seconds(), verify=verify, headers=headers)


def receipt_of(response: httpx.Response) -> dict[str, Any]:
    """The receipt in the cloud's answer to a POSTed batch (its IngestResponse); SinkUnavailable
    when the answer is not one."""
    try:
        body = response.json()
        if body["status"] == RECEIPT_STORED and isinstance(body["batch_id"], str):
            return make_receipt(body["batch_id"], RECEIPT_STORED, int(body["accepted"]), len(body["rejected"]),
                                int(body.get("gaps", 0)))
    except (ValueError, KeyError, TypeError) as e:
        raise SinkUnavailable(f"HTTP {response.status_code} but not a receipt: {type(e).__name__}: {e}") from None
    raise SinkUnavailable(f"HTTP {response.status_code} but not a stored receipt: {response.text[:200]}")


class HttpsForwarder:
    """Batches by HTTPS POST (the cloud's /api/v1/ingest/batch), with capped,
    jittered backoff on 503, 429, network errors and answers that are not the
    batch's receipt. Shares batching, ids and the buffer bookkeeping with `Forwarder`."""

    def __init__(self, forwarder: Forwarder, config: GatewayConfig) -> None:
        assert config.https is not None
        self._fwd = forwarder
        self._cfg = config.https
        self.connected = False
        self.counts = {"posts": 0, "failures": 0}
        self.last_error: str | None = None

    def _client(self) -> httpx.AsyncClient:
        return sink_client(self._cfg)

    async def run(self, stop: asyncio.Event) -> None:
        """POST batches until `stop`; failures back off and retry, never end the loop."""
        self._attempt = 0
        async with self._client() as http:

            async def send(payload: bytes) -> dict[str, Any]:
                headers = {"content-encoding": "deflate"} if payload[:1] == b"\x78" else {}
                try:
                    r = await http.post(self._cfg.url, content=payload, headers=headers)
                except httpx.HTTPError as e:
                    raise SinkUnavailable(f"{type(e).__name__}: {e}") from None
                self.counts["posts"] += 1
                if r.status_code in (429, 503) or r.status_code >= 500:
                    raise SinkUnavailable(f"HTTP {r.status_code}")
                if r.status_code >= 400:
                    # The envelope was refused: a bug on one side. Keep the
                    # readings (never drop silently) and retry slowly.
                    raise SinkUnavailable(f"HTTP {r.status_code}: {r.text[:200]}")
                # The answer is the receipt: a proxy's or portal's 200 is not the cloud's storage.
                receipt = receipt_of(r)
                self.connected = True
                self._attempt = 0
                return receipt

            while not stop.is_set():
                try:
                    await self._fwd.run_sender(send)
                except SinkUnavailable as e:
                    self.connected = False
                    self.counts["failures"] += 1
                    if self._attempt == 0:
                        log.warning("cloud HTTPS sink unavailable: %s", e)
                    self.last_error = str(e)
                    try:
                        await asyncio.wait_for(stop.wait(), backoff_delay(self._attempt))
                    except TimeoutError:
                        pass
                    self._attempt += 1

    def stats(self) -> dict[str, Any]:
        return {"connected": self.connected, **self.counts, "last_error": self.last_error}
