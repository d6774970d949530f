"""The node listener: MQTT messages from the nodes, persisted before they are acknowledged.

Why paho and not aiomqtt here: aiomqtt acknowledges a QoS 1 message before
the application sees it, so a crash between the PUBACK and the commit would
lose a reading the node has already deleted from its flash. paho's
``manual_ack`` lets us send the PUBACK after the commit. The session is
persistent (``clean_session=False``) so the broker keeps queueing the nodes'
messages while the gateway restarts, and redelivers any it never saw acked.

Messages go from paho's network thread into a queue; one committer thread
takes whatever has arrived as one group (up to `GROUP_MAX` messages: the group
grows with the queue), decodes and checks it, stores it in one transaction,
then acknowledges its messages in the order received (MQTT 3.1.1 section 4.6).
One fsync is paid per group, not per message, and a message is acknowledged
only after the commit that holds it. At a stop, what was received is committed
and acknowledged, and a group the disk refused until then leaves the ones
behind it unacked. (Decoding the next group in a thread of its own while a
commit waits for its fsync was measured and dropped: docs/performance.md.)

A tracker's position messages (contract 1.6, edge/position.py) come on its ``up`` topic, told from
readings by their first byte; each is buffered as one item keyed (node, seq), like a report.

Camera nodes' image chunks (contract 1.3) come on the same connection: a
gateway has one session per broker, since a broker that binds client ids to
logins gives all of a login's connections one id, and two connections with
one id knock each other off. Each chunk is checked (edge/image_rx.py) and
committed to the image store (images.py) with its group, in a transaction
of its own after the readings', the node's answer goes to
``node/{node}/image_ack``, and only then is the chunk acknowledged. A
damaged chunk (its CRC-32 fails) is counted and acknowledged: the node
sends it again when the store's next ``missing`` answer names it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import queue
import struct
import threading
from collections.abc import Callable
from typing import Any, NamedTuple

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from furrow.clock import Clock, system_clock
from furrow.edge.batch import GAP_FLOOD, GAP_QUARANTINE
from furrow.edge.commands import decode_ack, decode_status
from furrow.edge.errors import ContractError
from furrow.edge.image_rx import decode_chunk, encode_image_ack
from furrow.edge.payload import SEQ_MAX, decode
from furrow.edge.position import POSITION_MAGIC, decode_positions, positions_item
from furrow.edge.topics import (
    NODE_ACK,
    NODE_IMAGE,
    NODE_IMAGE_ACK,
    NODE_STATUS,
    NODE_UP,
    node_filter,
    node_topic,
    parse_topic,
)
from furrow.retry import AckAfterHandling, Backoff

from .buffer import DurableBuffer, Item, Quarantined
from .config import GatewayConfig
from .flood import NodeBudget
from .gaps import Drop
from .images import ImageStore
from .quality import correct_clock, quality_flags
from .uplink_decode import decode_uplink

log = logging.getLogger(__name__)

# A group is whatever arrived while the previous commit ran, so it grows with the queue: a broker
# draining a backlog gets fewer, larger commits (one fsync and one transaction per group). The
# bounds keep one transaction (and the PUBACKs it holds back) short and a group of image chunks (up
# to 64 KiB each) small in memory.
GROUP_MAX = 2048
GROUP_BYTES = 4 * 1024 * 1024
# Messages received and not yet decoded. The broker's in-flight window should bound them, but
# Mosquitto 2.0 sends a resumed session's backlog past it once PUBACKs flow (3,408 waiting here
# while 60,000 drained at a window of 20, 2026-12-08; tests/test_gateway_mqtt_pipeline.py): past
# this many, paho's network thread waits for the committer, so the rest stays in the broker (TCP
# holds it back) instead of in the gateway's memory, however long the outage was.
RECEIVED_MAX = 4 * GROUP_MAX
PERSIST_RETRY_MAX_S = 5.0
# A node message past this is refused before it is decoded: the largest valid
# uplink (64 readings in JSON) is under 8 KiB. Only its head is quarantined.
MAX_MESSAGE_BYTES = 64 * 1024
QUARANTINE_HEAD_BYTES = 1024
TOPICS_REMEMBERED = 4096  # parsed topics kept (gateway/mqtt_source.py `_parse_topic`)
_STOP = object()


class MqttSource:
    """Receives node uplinks, statuses and command acks from the farm broker.

    Uplinks are decoded and validated with furrow.edge, then stored in the
    buffer; anything that breaks the contract is stored in the quarantine
    with its reason. Either way the message is acknowledged only after the
    commit. Command acks are handed to `on_ack(ack, raw)` in the asyncio loop.
    With `images`, camera nodes' chunks go to that store (module docstring).
    """

    def __init__(
        self,
        config: GatewayConfig,
        buffer: DurableBuffer,
        *,
        on_ack: Callable[[dict[str, Any], bytes], None] | None = None,
        images: ImageStore | None = None,
        quality: Callable[[dict[str, Any], int], list[str]] = quality_flags,
        clock: Clock = system_clock,
    ) -> None:
        self._clock = clock
        self._quality = quality
        self._config = config
        self._buffer = buffer
        self._on_ack = on_ack
        self._images = images
        self._root = config.topic_root
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._stopping = threading.Event()
        self._took = threading.Event()  # wakes paho's network thread held by RECEIVED_MAX
        self._committer: threading.Thread | None = None
        self.client_id = f"furrow-gw-{config.site}-{config.gateway_id}-farm"
        self.client = self._make_client()
        self.connected = False
        self.subscribed = False  # SUBACK received on the current connection
        # A PUBACK only after the commit, and only on the connection the message came in on.
        self._acks = AckAfterHandling()
        self.counts = {
            "messages": 0,
            "uplinks": 0,
            "quarantined": 0,
            "acks_in": 0,
            "statuses": 0,
            "persist_failures": 0,
            "rate_limited": 0,  # refused by the per-node budget (flood.py)
            "image_chunks": 0,
            "bad_chunks": 0,  # damaged on the way (CRC) or breaking the contract: counted, not stored
            "image_acks": 0,  # answers to camera nodes
            "positions": 0,  # trackers' position messages (contract 1.6), counted in uplinks too
        }
        self._topics: dict[str, tuple[str, str, str, str]] = {}  # topic -> parse_topic's answer
        self.budget = NodeBudget(config.node_burst, config.node_rate_per_s, clock)
        self.nodes: dict[str, dict[str, Any]] = {}
        # Irrigation nodes seen reporting: they get heartbeats.
        self.irrigation_nodes: set[str] = set()

    def _make_client(self) -> mqtt.Client:
        broker = self._config.farm_broker
        client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            clean_session=False,
            manual_ack=True,
        )
        if broker.username is not None:
            client.username_pw_set(broker.username, broker.password)
        ctx = broker.ssl_context()
        if ctx is not None:
            client.tls_set_context(ctx)
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        return client

    # -- lifecycle -----------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Listen until `stop` is set (or the task is cancelled), then shut down
        cleanly: what was received is committed and acknowledged, what was not
        stays with the broker."""
        self._loop = asyncio.get_running_loop()
        self._committer = threading.Thread(target=self._commit_loop, name="furrow-gw-committer", daemon=True)
        self._committer.start()
        broker = self._config.farm_broker
        self.client.connect_async(broker.host, broker.port, keepalive=max(1, int(broker.keepalive.total_seconds())))
        # loop_start retries the first connection too, so a gateway that boots
        # before its broker simply waits for it.
        self.client.loop_start()
        try:
            await stop.wait()
        finally:
            await asyncio.shield(asyncio.to_thread(self._shutdown))

    def _shutdown(self) -> None:
        # New messages are left unacknowledged from here on (the broker keeps
        # them for the next session); the ones already queued are committed and
        # acknowledged before the DISCONNECT goes out behind those PUBACKs.
        self._stopping.set()
        self._queue.put(_STOP)
        if self._committer is not None:
            self._committer.join()
        self.client.disconnect()
        self.client.loop_stop()

    async def publish(self, topic: str, payload: bytes, timeout: float) -> bool:
        """Publish QoS 1 to the farm broker; True once the broker's PUBACK came.

        False means not confirmed in time: paho keeps the message queued and
        sends it when the connection is back.
        """
        info = self.client.publish(topic, payload, qos=1)
        try:
            await asyncio.to_thread(info.wait_for_publish, timeout)
        except (RuntimeError, ValueError):
            return False
        return info.is_published()

    def stats(self) -> dict[str, Any]:
        return {
            "connected": self.connected,
            "subscribed": self.subscribed,
            **self.counts,
            "nodes": dict(self.nodes),
            "flooding": dict(self.budget.limited),  # node -> messages refused while over its budget
        }

    # -- paho callbacks (network thread): never raise, never block ------------

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        if rc.is_failure:
            log.error("farm broker refused the connection: %s", rc)
            return
        self.connected = True
        self._acks.connection_changed()
        site = self._config.site
        # Subscribe on every connect: a broker that lost our session (restarted
        # without persistence) would otherwise send us nothing.
        leaves = (NODE_UP, NODE_STATUS, NODE_ACK) + ((NODE_IMAGE,) if self._images is not None else ())
        client.subscribe([(node_filter(site, leaf, self._root), 1) for leaf in leaves])
        log.info("connected to farm broker (session present: %s)", flags.session_present)

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int, codes: Any, props: Any) -> None:
        failed = [c for c in codes if c.is_failure]
        if failed:
            log.error("farm broker refused our subscriptions: %s", failed)
        else:
            self.subscribed = True

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        if self.connected and not self._stopping.is_set():
            log.warning("farm broker connection lost: %s", rc)
        self.connected = False
        self.subscribed = False
        self._acks.connection_changed()

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        if self._stopping.is_set():
            return  # not acknowledged: the broker redelivers it next session
        self.counts["messages"] += 1
        self._queue.put((self._acks.generation(), msg))
        if self._queue.qsize() >= RECEIVED_MAX:
            self._wait_for_the_committer()

    def _wait_for_the_committer(self) -> None:
        """Hold paho's network thread (it reads no more from the broker) until the committer has
        taken the received messages down below `RECEIVED_MAX`, or the source stops."""
        self._took.clear()
        while self._queue.qsize() >= RECEIVED_MAX and not self._stopping.is_set():
            self._took.wait(0.05)  # the timeout covers a take between the check and the clear
            self._took.clear()

    # -- committer thread ----------------------------------------------------

    def _commit_loop(self) -> None:
        left = False  # a group was left unstored while stopping: so are the ones behind it
        while True:
            group, stop_after = self._gather()
            # Stored after one left behind, a group would be acknowledged before it (PUBACKs go in
            # the order received, MQTT 3.1.1 section 4.6); the broker sends them all again.
            if group and not left:
                try:
                    left = not self._store(self._decode(group))
                except Exception:  # a bug here must not kill the thread
                    log.exception("committer failed on a group of %d messages", len(group))
            if stop_after:
                return

    def _gather(self) -> tuple[list[tuple[int, mqtt.MQTTMessage]], bool]:
        """The next group: everything queued, up to the bounds (waits for the first message);
        and whether the source stops after it."""
        first = self._queue.get()
        if first is _STOP:
            return [], True
        group = [first]
        size = len(first[1].payload)
        while len(group) < GROUP_MAX and size < GROUP_BYTES:
            try:
                msg = self._queue.get_nowait()
            except queue.Empty:
                break
            if msg is _STOP:
                return group, True
            group.append(msg)
            size += len(msg[1].payload)
        self._took.set()
        return group, False

    def _decode(self, group: list[tuple[int, mqtt.MQTTMessage]]) -> _Decoded:
        decoded = _Decoded(group, self._clock(), [], [], [], [], [])
        for _gen, msg in group:
            self._classify(msg, decoded.rx_ms, decoded.items, decoded.bad, decoded.acks, decoded.drops,
                           decoded.chunks)
        return decoded

    def _store(self, d: _Decoded) -> bool:
        """Commit a decoded group, then acknowledge its messages (only then, and in order); False
        when the source stopped before it could be stored (none of it is acknowledged)."""
        if not self._persist(d.items, d.bad, [raw for _, raw in d.acks], d.drops):
            return False  # stopping with nothing stored: leave every message unacked
        if d.chunks and not self._store_chunks(d.chunks, d.rx_ms):
            return False
        self.counts["uplinks"] += len(d.items)
        self.counts["quarantined"] += len(d.bad)
        if d.acks and self._on_ack is not None and self._loop is not None:
            for ack, raw in d.acks:
                self._loop.call_soon_threadsafe(self._on_ack, ack, raw)
        pubacks = Pubacks(self.client)
        self._acks.ack_all(pubacks, d.messages, then=pubacks.send)
        return True

    def _persist(self, items: list[Item], bad: list[Quarantined], acks: list[bytes], drops: list[Drop]) -> bool:
        """Commit, retrying while the disk refuses (full, I/O error); the
        messages stay unacknowledged meanwhile, which also stops the broker
        sending more than its in-flight window."""
        if not items and not bad and not acks and not drops:
            return True
        return self._retrying(lambda: self._buffer.put_many(items, bad, acks, drops), f"{len(items)} readings")

    def _store_chunks(self, chunks: list[dict[str, Any]], rx_ms: int) -> bool:
        """Commit image chunks to the image store (retrying as `_persist` does), then answer their nodes."""
        assert self._images is not None
        images = self._images
        answers: list[dict[str, Any] | None] = []
        if not self._retrying(lambda: answers.extend(images.put_chunks(chunks, rx_ms)), f"{len(chunks)} image chunks"):
            return False
        self.counts["image_chunks"] += len(chunks)
        for answer in answers:
            if answer is not None:
                topic = node_topic(self._config.site, answer["node"], NODE_IMAGE_ACK, self._root)
                self.client.publish(topic, encode_image_ack(answer), qos=1)
                self.counts["image_acks"] += 1
        return True

    def _retrying(self, commit: Callable[[], object], what: str) -> bool:
        """Run `commit` until it succeeds (True) or the source stops (False)."""
        backoff = Backoff(first_s=0.1, max_s=PERSIST_RETRY_MAX_S)
        failed = 0
        while True:
            try:
                commit()
                if failed:
                    log.warning("buffer writable again")
                return True
            except Exception as e:
                self.counts["persist_failures"] += 1
                # Loud once, then quiet until it recovers.
                log.log(logging.DEBUG if failed else logging.ERROR, "cannot store %s, retrying: %s", what, e)
                failed += 1
            # An interruptible wait (a thread, not the loop): stopping cuts it short.
            if self._stopping.wait(backoff.delay(failed - 1)):
                return False

    def _classify(
        self,
        msg: mqtt.MQTTMessage,
        rx_ms: int,
        items: list[Item],
        bad: list[Quarantined],
        acks: list[tuple[dict[str, Any], bytes]],
        drops: list[Drop],
        chunks: list[dict[str, Any]],
    ) -> None:
        raw = bytes(msg.payload)
        try:
            topic = msg.topic
        except UnicodeDecodeError:
            bad.append(Quarantined(raw, repr(msg._topic), "topic is not UTF-8"))
            return
        if len(raw) > MAX_MESSAGE_BYTES:
            reason = (f"payload={len(raw)} bytes: over the {MAX_MESSAGE_BYTES}-byte limit for a node message "
                      f"(only the first {QUARANTINE_HEAD_BYTES} bytes are kept)")
            log.info("quarantined message on %s: %s", topic, reason)
            bad.append(Quarantined(raw[:QUARANTINE_HEAD_BYTES], topic, reason))
            drops.extend(_report_drop(topic, self._root, GAP_QUARANTINE, None))
            return
        try:
            _kind, _site, node, leaf = self._parse_topic(topic)
            if not self.budget.allow(node):
                self.counts["rate_limited"] += 1
                drops.extend(_report_drop(topic, self._root, GAP_FLOOD, raw))
                return
            if leaf == NODE_UP and raw[:1] == bytes((POSITION_MAGIC,)):
                # A tracker's fixes (contract 1.6): kept and forwarded as one item, (node, seq) like a report.
                # GNSS time needs no clock check: the receiver's clock is the satellites'.
                positions = decode_positions(raw)
                _check_node(positions["node"], node, topic)
                items.append(Item(positions_item(positions), rx_ms, ()))
                self.counts["positions"] += 1
            elif leaf == NODE_UP:
                uplink = decode_uplink(raw)
                _check_node(uplink["node"], node, topic)
                if uplink["role"] == "irrigation":
                    self.irrigation_nodes.add(node)
                flags = self._quality(uplink, rx_ms)
                items.append(Item(correct_clock(uplink, flags, rx_ms), rx_ms, flags))
            elif leaf == NODE_ACK:
                ack = decode_ack(raw)
                _check_node(ack["node"], node, topic)
                self.counts["acks_in"] += 1
                acks.append((ack, raw))
            elif leaf == NODE_IMAGE and self._images is not None:
                self._chunk(raw, node, topic, chunks)
            elif leaf == NODE_STATUS and not raw:
                self.nodes.pop(node, None)  # a retained status was cleared
            elif leaf == NODE_STATUS:
                status = decode_status(raw)
                _check_node(status["id"], node, topic)
                self.counts["statuses"] += 1
                self.nodes[node] = {
                    "state": status["state"],
                    "ts_ms": status["ts_ms"],
                    "rx_ms": rx_ms,
                }
            else:
                raise ContractError("topic", topic, f"the gateway does not listen to {leaf!r}")
        except ContractError as e:
            log.info("quarantined message on %s: %s", topic, e)
            bad.append(Quarantined(raw, topic, str(e)))
            drops.extend(_report_drop(topic, self._root, GAP_QUARANTINE, raw))
        except Exception as e:  # a decoder bug is quarantined too, never a crash
            log.exception("unexpected error decoding a message on %s", topic)
            bad.append(Quarantined(raw, topic, f"internal error: {e!r}"))
            drops.extend(_report_drop(topic, self._root, GAP_QUARANTINE, raw))

    def _parse_topic(self, topic: str) -> tuple[str, str, str, str]:
        """`parse_topic` under our root, remembered per topic (it is pure, and a farm's nodes are
        few); a topic outside the tree raises its ContractError each time."""
        parsed = self._topics.get(topic)
        if parsed is None:
            parsed = parse_topic(topic, self._root)
            if len(self._topics) >= TOPICS_REMEMBERED:
                self._topics.clear()
            self._topics[topic] = parsed
        return parsed

    def _chunk(self, raw: bytes, node: str, topic: str, chunks: list[dict[str, Any]]) -> None:
        try:
            chunk = decode_chunk(raw)
            _check_node(chunk["node"], node, topic)
        except ContractError as e:  # damaged on the way, most likely: the node sends it again when asked
            self.counts["bad_chunks"] += 1
            log.info("image chunk on %s dropped: %s", topic, e)
            return
        chunks.append(chunk)


class _Decoded(NamedTuple):
    """A group of messages, decoded and sorted for its commit."""

    messages: list[tuple[int, mqtt.MQTTMessage]]  # (connection generation, message), as received
    rx_ms: int
    items: list[Item]
    bad: list[Quarantined]
    acks: list[tuple[dict[str, Any], bytes]]  # command acks, with their bytes
    drops: list[Drop]  # reports not forwarded (flood, quarantine): the cloud hears of them
    chunks: list[dict[str, Any]]


class Pubacks:
    """A committed group's PUBACKs gathered, then handed to paho as one run of packets.

    paho queues each PUBACK on its own (``Client.ack``): a wake-up byte to its network thread and
    a socket write per message, 6% of the gateway's CPU while it ingested (docs/performance.md).
    The run is the same bytes on the wire: MQTT 3.1.1 PUBACKs (0x40, length 2, packet id), one
    after the other, in the order received (section 4.6). paho has no public call for it, so the
    run goes through its packet queue when the installed paho has one, else one `ack` each.
    """

    def __init__(self, client: mqtt.Client) -> None:
        self._client = client
        self._mids: list[int] = []

    def ack(self, mid: int, qos: int) -> None:
        if qos == 1:
            self._mids.append(mid)
        else:
            self._client.ack(mid, qos)

    def send(self) -> None:
        if not self._mids:
            return
        queue = getattr(self._client, "_packet_queue", None)
        if queue is None or not self._client._manual_ack:
            for mid in self._mids:
                self._client.ack(mid, 1)
        else:
            queue(_PUBACK, b"".join([_PUBACK_PACKET.pack(_PUBACK, 2, mid) for mid in self._mids]), 0, 0)
        self._mids = []


_PUBACK = 0x40
_PUBACK_PACKET = struct.Struct("!BBH")


def _check_node(in_payload: str, in_topic: str, topic: str) -> None:
    if in_payload != in_topic:
        raise ContractError("node", in_payload, f"node id in payload {in_payload} does not match topic {topic}")


def _report_drop(topic: str, root: str, reason: str, raw: bytes | None) -> list[Drop]:
    """The gap-log entry of a message not stored: only node reports (``up``) are readings; the
    node is the topic's (None when the topic names none) and the seq the report's, when `raw`
    can be decoded far enough to read it."""
    try:
        _kind, _site, node, leaf = parse_topic(topic, root)
    except ContractError:
        return [Drop(None, reason)] if topic.endswith("/" + NODE_UP) else []
    if leaf != NODE_UP:
        return []
    return [Drop(node, reason, _seq_of(raw) if raw is not None else None)]


def _seq_of(raw: bytes) -> int | None:
    """The seq of a report the gateway did not store: decoded in full when it can be, else read
    from the JSON it holds; None when neither gives a plausible one."""
    try:
        return int((decode_positions(raw) if raw[:1] == bytes((POSITION_MAGIC,)) else decode(raw))["seq"])
    except Exception:  # noqa: BLE001 - a report that breaks the contract, read as far as it goes
        pass
    try:
        seq = json.loads(raw).get("seq")
    except Exception:  # noqa: BLE001 - not JSON (or not an object)
        return None
    return seq if isinstance(seq, int) and not isinstance(seq, bool) and 0 <= seq <= SEQ_MAX else None
