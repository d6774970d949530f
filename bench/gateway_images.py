"""Image throughput through the gateway: camera chunks in, whole checked images out, beside the broker's raw rate.

A backlog of camera nodes' photos, in chunks (contract 1.3, 4 KiB each by default), is queued at a
real Mosquitto for the gateway's session while it is away (as after a restart), then drained by the
real gateway (furrow.gateway.Gateway, in process): each chunk checked and committed to the image
store before its PUBACK, each image reassembled and its SHA-256 checked, then forwarded whole on the
cloud link, one at a time, each leaving the store at the cloud's receipt (a bare responder answers
"stored" at once, so the cloud's own work is not in the figure). Timed from the gateway's start to
the last receipt. Measured in the same run, the raw limit for the same bytes:

  raw in     a bare paho subscriber (auto-ack, no decode, no disk) draining the same chunk backlog
  raw out    a bare publisher sending the same whole-image messages at QoS 1 to a bare subscriber
  raw        both, one after the other: what the broker alone needs to move the gateway's traffic

The gateway keeps up to ``--window`` images (its ``image_window``, 4 by default) waiting for their
receipts at once; with 1 it forwards one at a time and its rate is bound by that round trip (and the
fsync when an image leaves the store), not by the broker's bandwidth.
``--tcp-nodelay`` runs the broker with ``set_tcp_nodelay true``: Mosquitto's default leaves Nagle's
algorithm on, which holds a small receipt behind a delayed ACK.

    .venv/bin/python bench/gateway_images.py [--images 60] [--nodes 6] [--width 1280 --height 960]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.servers, tests.image_support

from furrow.edge.image import DEFAULT_CHUNK_BYTES, chunk_count, chunk_span, encode_chunk  # noqa: E402
from furrow.edge.image_forward import (  # noqa: E402
    RECEIPT_STORED,
    decode_image,
    encode_image,
    encode_image_receipt,
    make_image_header,
    make_image_receipt,
)
from furrow.edge.topics import GW_IMAGE, GW_IMAGE_RECEIPT, NODE_IMAGE, gateway_topic, node_filter, node_topic  # noqa: E402
from furrow.gateway import Gateway, GatewayConfig  # noqa: E402
from tests.image_support import field_jpeg  # noqa: E402
from tests.servers import MosquittoServer  # noqa: E402

SITE, T0 = "bench", 1_767_225_600_000


def photos(n: int, nodes: int, width: int, height: int) -> list[tuple[str, int, bytes]]:
    """(node, seq, JPEG) for n photos spread over the nodes; distinct scenes, so distinct bytes."""
    return [(f"cam-{i % nodes:02d}", i // nodes, field_jpeg(width, height, seed=i)) for i in range(n)]


def chunk_messages(shots: list[tuple[str, int, bytes]], root: str, chunk: int) -> list[tuple[str, bytes]]:
    out = []
    for node, seq, data in shots:
        digest, count = hashlib.sha256(data).digest(), chunk_count(len(data), chunk)
        for i in range(count):
            off, length = chunk_span(len(data), chunk, i)
            out.append((node_topic(SITE, node, NODE_IMAGE, root),
                        bytes(encode_chunk(node, "canopy", seq, T0 + seq, len(data), chunk, digest, i,
                                           data[off:off + length], ask=i == count - 1))))
    return out


def image_messages(shots: list[tuple[str, int, bytes]], gw: str) -> list[bytes]:
    return [encode_image(make_image_header(SITE, gw, node, seq, "canopy", "jpeg", T0 + seq, T0, len(data),
                                           hashlib.sha256(data).hexdigest()), data) for node, seq, data in shots]


def client(name: str, clean: bool = True) -> mqtt.Client:
    return mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-{name}-{uuid.uuid4().hex[:8]}",
                       clean_session=clean)


def publish_all(broker: MosquittoServer, msgs: list[tuple[str, bytes]]) -> float:
    """Publish at QoS 1 (100 in flight) and wait for every PUBACK; the seconds it took."""
    pub = client("pub")
    pub.max_inflight_messages_set(100)
    pub.connect(broker.host, broker.port)
    pub.loop_start()
    began = time.perf_counter()
    infos = [pub.publish(topic, data, qos=1) for topic, data in msgs]
    for info in infos:
        info.wait_for_publish(120)
    elapsed = time.perf_counter() - began
    pub.disconnect()
    pub.loop_stop()
    return elapsed


class Counter:
    """A subscriber's arrivals; `done` once `n` have come."""

    def __init__(self, n: int) -> None:
        self.n, self.count, self.done = n, 0, threading.Event()

    def __call__(self, c: mqtt.Client, u: object, m: mqtt.MQTTMessage) -> None:
        self.count += 1
        if self.count >= self.n:
            self.done.set()


def subscribe(broker: MosquittoServer, topic: str, on_message, name: str, client_id: str | None = None):  # type: ignore[no-untyped-def]
    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id or f"bench-{name}-{uuid.uuid4().hex[:8]}",
                      clean_session=client_id is None)
    subscribed = threading.Event()
    sub.on_message = on_message
    sub.on_subscribe = lambda *a: subscribed.set()
    sub.connect(broker.host, broker.port)
    sub.loop_start()
    sub.subscribe(topic, qos=1)
    subscribed.wait(10)
    return sub


def close(c: mqtt.Client) -> None:
    c.disconnect()
    c.loop_stop()


def raw_in(broker: MosquittoServer, msgs: list[tuple[str, bytes]], root: str) -> float:
    """A persistent-session subscriber draining the chunk backlog queued while it was away."""
    client_id = f"bench-rawin-{uuid.uuid4().hex[:8]}"
    counter = Counter(len(msgs))
    close(subscribe(broker, node_filter(SITE, NODE_IMAGE, root), counter, "rawin", client_id))
    publish_all(broker, msgs)
    began = time.perf_counter()
    sub = subscribe(broker, node_filter(SITE, NODE_IMAGE, root), counter, "rawin", client_id)
    counter.done.wait(300)
    elapsed = time.perf_counter() - began
    close(sub)
    return elapsed


def raw_out(broker: MosquittoServer, images: list[bytes], root: str) -> float:
    """The whole-image messages published at QoS 1 to a live bare subscriber; until the last arrived."""
    topic = f"{root}/raw-out"
    counter = Counter(len(images))
    sub = subscribe(broker, topic, counter, "rawout")
    began = time.perf_counter()
    publish_all(broker, [(topic, m) for m in images])
    counter.done.wait(300)
    elapsed = time.perf_counter() - began
    close(sub)
    return elapsed


class Receipts:
    """The cloud, stripped bare: answers every forwarded image "stored" at once; `done` once all `n` came."""

    def __init__(self, broker: MosquittoServer, gw: str, root: str, n: int) -> None:
        self.receipt_topic = gateway_topic(SITE, gw, GW_IMAGE_RECEIPT, root)
        self.keys: set[tuple[str, int]] = set()
        self.n, self.done = n, threading.Event()
        self.client = subscribe(broker, gateway_topic(SITE, gw, GW_IMAGE, root), self.on_message, "cloud")

    def on_message(self, c: mqtt.Client, u: object, m: mqtt.MQTTMessage) -> None:
        header, _ = decode_image(m.payload)
        c.publish(self.receipt_topic, encode_image_receipt(make_image_receipt(header["node"], header["image"],
                                                                              RECEIPT_STORED)), qos=1)
        self.keys.add((header["node"], header["image"]))
        if len(self.keys) >= self.n:
            self.done.set()


async def through_gateway(broker: MosquittoServer, msgs: list[tuple[str, bytes]], n: int, tmp: Path,
                          root: str, window: int) -> tuple[float, dict]:
    gw = f"gw-{uuid.uuid4().hex[:8]}"
    endpoint = {"host": broker.host, "port": broker.port}
    config = GatewayConfig.model_validate({
        "site": SITE, "gateway_id": gw, "topic_root": root, "farm_broker": endpoint, "cloud_broker": endpoint,
        "buffer_path": str(tmp / f"{gw}.sqlite"), "http_port": 0, "image_quota_bytes": 512 * 1024 * 1024,
        "image_window": window,
        # a camera's backlog arrives at once: the flood budget (gateway/flood.py) must not thin it here
        "node_burst": 1_000_000})

    async def run(until) -> float:  # type: ignore[no-untyped-def]
        with Gateway(config) as gateway:
            stop = asyncio.Event()
            task = asyncio.create_task(gateway.run(stop))
            began = time.perf_counter()
            while not until(gateway):
                if task.done():
                    task.result()
                await asyncio.sleep(0.005)
            elapsed = time.perf_counter() - began
            stop.set()
            await task
            return elapsed

    await run(lambda g: g.source.subscribed)  # the gateway's farm session, so the broker keeps the chunks
    await asyncio.to_thread(publish_all, broker, msgs)
    cloud = Receipts(broker, gw, root, n)
    stats: dict = {}

    def finished(g: Gateway) -> bool:
        if g.images.stats()["forwarded"] < n:
            return False
        stats.update(g.images.stats())
        return True

    elapsed = await run(finished)
    close(cloud.client)
    return elapsed, stats


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=60)
    ap.add_argument("--nodes", type=int, default=6)
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--height", type=int, default=960)
    ap.add_argument("--chunk", type=int, default=DEFAULT_CHUNK_BYTES)
    ap.add_argument("--tcp-nodelay", action="store_true", help="the broker with set_tcp_nodelay true")
    ap.add_argument("--window", type=int, default=GatewayConfig.model_fields["image_window"].default,
                    help="images waiting for their receipts at once (the gateway's image_window)")
    o = ap.parse_args()
    shots = photos(o.images, o.nodes, o.width, o.height)
    image_bytes = sum(len(d) for _, _, d in shots)
    mb = image_bytes / 1e6
    root = f"b{uuid.uuid4().hex[:6]}"
    msgs = chunk_messages(shots, root, o.chunk)
    print(f"{o.images} photos from {o.nodes} camera nodes, {o.width}x{o.height} JPEG, {mb / o.images * 1000:.0f} kB "
          f"each on average ({mb:.1f} MB), {len(msgs)} chunks of {o.chunk} B, QoS 1")
    conf = ["max_queued_messages 0", "max_queued_bytes 0"] + (["set_tcp_nodelay true"] if o.tcp_nodelay else [])
    with tempfile.TemporaryDirectory(prefix="furrow-bench-") as d, MosquittoServer(extra_config=conf) as broker:
        t_in = raw_in(broker, msgs, root)
        t_out = raw_out(broker, image_messages(shots, "gw-raw"), root)
        t_gw, stats = asyncio.run(through_gateway(broker, msgs, o.images, Path(d), root, o.window))
    raw_s = t_in + t_out
    rows = [("raw in: chunks to a bare subscriber", t_in), ("raw out: whole images to a bare subscriber", t_out),
            ("raw: both", raw_s), ("gateway: chunks in, checked images out", t_gw)]
    print(f"{'':44} {'images/s':>9} {'MB/s':>7}")
    for name, t in rows:
        print(f"{name:44} {o.images / t:>9.1f} {mb / t:>7.2f}")
    share = raw_s / t_gw
    print(f"gateway share of the raw rate: {share:.0%} (forwarded {stats['forwarded']}, "
          f"quarantined {stats['quarantined']}, duplicate chunks {stats['duplicate_chunks']})")
    print(json.dumps({
        "images": o.images, "image_mb": round(mb, 2), "chunk_bytes": o.chunk, "chunks": len(msgs),
        "raw_in_images_s": round(o.images / t_in, 1), "raw_out_images_s": round(o.images / t_out, 1),
        "raw_images_s": round(o.images / raw_s, 1), "raw_mb_s": round(mb / raw_s, 2),
        "gateway_images_s": round(o.images / t_gw, 1), "gateway_mb_s": round(mb / t_gw, 2),
        "share": round(share, 3), "tcp_nodelay": o.tcp_nodelay, "window": o.window}))


if __name__ == "__main__":
    main()
