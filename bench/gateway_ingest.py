"""Gateway ingest: node uplinks over MQTT into the durable buffer, persist-before-ack.

A backlog of uplinks is queued at a real Mosquitto while the subscriber is
offline (as after a gateway restart), then drained. Measured in the same run:

  raw limit     a bare paho subscriber (auto-ack, no decode, no disk) draining the same backlog
  gateway       furrow.gateway.MqttSource: decode + validate, one SQLite commit
                (synchronous=FULL) per group of messages, PUBACK after the commit
  one commit    the same, had every message paid its own fsync (the naive design)

The broker's in-flight window (max_inflight_messages, 20 by default) bounds how
many unacknowledged messages a group can hold, so the bench runs it at 20 and 100.

    .venv/bin/python bench/gateway_ingest.py [--messages 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.servers

from furrow.edge.payload import encode_json, make_reading, make_uplink
from furrow.edge.topics import node_filter, node_topic
from furrow.gateway import DurableBuffer, GatewayConfig, Item
from furrow.gateway.mqtt_source import MqttSource
from tests.servers import MosquittoServer


class Broker(MosquittoServer):
    """Mosquitto with a given in-flight window and no queue limit (so nothing is dropped)."""

    def __init__(self, inflight: int) -> None:
        super().__init__()
        self.inflight = inflight

    def _prepare(self) -> None:
        super()._prepare()
        assert self.config_path is not None
        with self.config_path.open("a") as f:
            f.write(f"max_inflight_messages {self.inflight}\nmax_queued_messages 0\n")


def payloads(n: int) -> list[tuple[str, bytes]]:
    out = []
    for i in range(n):
        node = f"soil-{i % 50:02d}"
        readings = [make_reading("vwc_pct", 20 + d / 10, depth_cm=d) for d in (10, 30, 60)]
        p = make_uplink(node, "soil", i, 1_767_225_600_000 + i, readings, "0.1.0", 3.7, -60)
        out.append((node, encode_json(p)))
    return out


def publish_all(broker: Broker, root: str, msgs: list[tuple[str, bytes]]) -> None:
    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{uuid.uuid4().hex[:8]}")
    pub.max_inflight_messages_set(200)
    pub.connect(broker.host, broker.port)
    pub.loop_start()
    infos = [pub.publish(node_topic("farm", node, "up", root), data, qos=1) for node, data in msgs]
    for info in infos:
        info.wait_for_publish(60)
    pub.disconnect()
    pub.loop_stop()


def raw_limit(broker: Broker, msgs: list[tuple[str, bytes]]) -> tuple[float, float]:
    """A persistent-session paho subscriber (auto-ack) draining the same backlog: (messages/s,
    messages per CPU second of this process)."""
    root = f"b/{uuid.uuid4().hex[:8]}"
    client_id = f"bench-sub-{uuid.uuid4().hex[:8]}"
    done, subscribed = threading.Event(), threading.Event()
    count = 0

    def on_message(c, u, m) -> None:
        nonlocal count
        count += 1
        if count == len(msgs):
            done.set()

    def session() -> mqtt.Client:
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
        c.on_message = on_message
        c.on_subscribe = lambda *a: subscribed.set()
        c.connect(broker.host, broker.port)
        c.loop_start()
        return c

    sub = session()
    sub.subscribe(node_filter("farm", "up", root), qos=1)
    subscribed.wait(10)
    sub.disconnect()
    sub.loop_stop()
    publish_all(broker, root, msgs)  # queued at the broker for the offline session
    began, cpu = time.perf_counter(), time.process_time()
    sub = session()
    done.wait(120)
    elapsed, cpu = time.perf_counter() - began, time.process_time() - cpu
    sub.disconnect()
    sub.loop_stop()
    return len(msgs) / elapsed, len(msgs) / cpu


async def gateway_rate(broker: Broker, msgs: list[tuple[str, bytes]], tmp: Path) -> tuple[float, int, float]:
    """The gateway's MQTT source draining a backlog queued while it was offline: (messages/s, commits,
    messages per CPU second of this process)."""
    root = f"b/{uuid.uuid4().hex[:8]}"
    cfg = GatewayConfig.model_validate(
        {
            "site": "farm",
            "gateway_id": f"gw-{uuid.uuid4().hex[:8]}",
            "topic_root": root,
            "farm_broker": {"host": broker.host, "port": broker.port},
            "cloud_broker": {"host": broker.host, "port": broker.port},
            "buffer_path": str(tmp / f"{root.replace('/', '-')}.sqlite"),
        }
    )
    buf = DurableBuffer(cfg.buffer_path)
    commits = 0
    real = buf.put_many

    def counting(*args, **kwargs):  # the buffer's own signature, whatever it grows
        nonlocal commits
        commits += 1
        return real(*args, **kwargs)

    buf.put_many = counting  # type: ignore[method-assign]

    async def run_source(until) -> tuple[float, float]:
        source = MqttSource(cfg, buf)
        stop = asyncio.Event()
        task = asyncio.create_task(source.run(stop))
        began, cpu = time.perf_counter(), time.process_time()
        while not until(source):
            await asyncio.sleep(0.01)
        elapsed, cpu = time.perf_counter() - began, time.process_time() - cpu
        stop.set()
        await task
        return elapsed, cpu

    await run_source(lambda s: s.subscribed)  # creates the persistent session
    await asyncio.to_thread(publish_all, broker, root, msgs)
    commits = 0  # the drain's commits only
    elapsed, cpu = await run_source(lambda s: buf.stats()["received"] >= len(msgs))
    buf.close()
    return len(msgs) / elapsed, commits, len(msgs) / cpu


def one_commit_rate(tmp: Path, msgs: list[tuple[str, bytes]], n: int = 300) -> float:
    from furrow.edge.payload import decode

    buf = DurableBuffer(tmp / "single.sqlite")
    began = time.perf_counter()
    for _, data in msgs[:n]:
        buf.put_many([Item(decode(data), 0, [])])
    elapsed = time.perf_counter() - began
    buf.close()
    return n / elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=5000)
    ap.add_argument("--single", type=int, default=300, help="messages for the one-commit-per-message figure")
    o = ap.parse_args()
    n = o.messages
    msgs = payloads(n)
    figures: dict[str, object] = {"messages": n}
    print(f"{n} uplinks, JSON, 3 readings each ({len(msgs[0][1])} bytes), QoS 1, 50 nodes")
    print(f"{'broker in-flight':>16} {'raw limit /s':>13} {'gateway /s':>11} {'share':>6} {'msgs/commit':>12}"
          f" {'raw /CPU s':>11} {'gateway /CPU s':>15} {'CPU share':>9}")
    with tempfile.TemporaryDirectory(prefix="furrow-bench-") as d:
        tmp = Path(d)
        for inflight in (20, 100):
            with Broker(inflight) as broker:
                raw, raw_cpu = raw_limit(broker, msgs)
                ours, commits, ours_cpu = asyncio.run(gateway_rate(broker, msgs, tmp))
            print(f"{inflight:>16} {raw:>13,.0f} {ours:>11,.0f} {ours / raw:>6.0%} {n / commits:>12.1f}"
                  f" {raw_cpu:>11,.0f} {ours_cpu:>15,.0f} {ours_cpu / raw_cpu:>9.0%}")
            figures[f"inflight_{inflight}"] = {"raw_msgs_s": round(raw), "gateway_msgs_s": round(ours),
                                               "share": round(ours / raw, 3), "msgs_per_commit": round(n / commits, 1),
                                               "raw_msgs_per_cpu_s": round(raw_cpu),
                                               "gateway_msgs_per_cpu_s": round(ours_cpu),
                                               "cpu_share": round(ours_cpu / raw_cpu, 3)}
        single = one_commit_rate(tmp, msgs, min(o.single, n))
        print(f"one fsync'd commit per message (no grouping): {single:,.0f} /s")
        figures["one_commit_per_message_s"] = round(single)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
