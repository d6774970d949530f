"""Gateway backlog drain: a day of readings buffered during a cloud outage, then sent.

Fills the durable buffer with `--nodes` nodes reporting each minute for
`--hours` hours (1,000 nodes x 24 h = 1.44 M reports), then starts the real
gateway process (`furrow gateway run`) against a real Mosquitto and measures,
side by side in the same run:

  drain         reports/s the gateway forwards (compressed batches, QoS 1, rows
                marked only after the PUBACK), from start to empty buffer
  raw publish   batches/s and MB/s a bare aiomqtt client publishes at QoS 1 to
                the same broker with the same payload size (the link's limit here)
  memory        the gateway process's peak RSS while draining
  zlib levels   bytes and CPU per report of zlib at levels 1, 3, 6 and 9 on batches made from this
                buffer as the forwarder makes them (`next_batch_json`, `encode_items`), beside
                the uncompressed JSON (what a link without compression carries)

With --receipts a stand-in for the cloud answers each batch with its receipt at once (storing
nothing), and the buffer is one whose gateway has seen receipts: its readings then leave only with
the receipt (forwarder.py), so the drain includes the receipts' round trip.

    .venv/bin/python bench/gateway_backlog.py [--nodes 1000] [--hours 24] [--receipts] [--compress-level 6]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zlib
from pathlib import Path

import aiomqtt
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.servers

from furrow.edge.batch import (
    RECEIPT_STORED,
    decode_batch,
    encode_batch,
    encode_receipt,
    make_batch,
    make_item,
    make_receipt,
)
from furrow.edge.payload import make_reading, make_uplink
from furrow.edge.topics import GW_BATCH, GW_RECEIPT, gateway_filter, gateway_topic
from furrow.gateway import DurableBuffer, Item
from furrow.gateway.config import GatewayConfig
from furrow.gateway.forwarder import Forwarder
from tests.servers import MosquittoServer

ROOT = Path(__file__).resolve().parents[1]
CLI = "import sys; from furrow.cli import main; sys.exit(main(sys.argv[1:]))"
T0 = 1_767_225_600_000


def uplink(node: int, minute: int) -> dict:
    # Values that change from node to node and minute to minute, as real ones
    # do, so compression is not flattered by identical readings.
    wiggle = (node * 7919 + minute * 104_729) % 1000
    readings = [make_reading("vwc_pct", 15 + d / 10 + wiggle / 100, depth_cm=d) for d in (10, 30, 60)]
    readings.append(make_reading("soil_temp_c", 12 + wiggle / 97, depth_cm=10))
    return make_uplink(f"soil-{node:04d}", "soil", minute, T0 + minute * 60_000, readings, "0.1.0", 3.7, -60)


def fill(path: Path, nodes: int, minutes: int) -> float:
    """Buffer nodes x minutes reports, in minute order, as an outage would."""
    began = time.perf_counter()
    with DurableBuffer(path, max_rows=0, max_bytes=0) as buf:
        batch: list[Item] = []
        for m in range(minutes):
            for n in range(nodes):
                batch.append(Item(uplink(n, m), T0 + m * 60_000 + 500))
            if len(batch) >= 20_000:
                buf.put_many(batch)
                batch = []
        if batch:
            buf.put_many(batch)
    return time.perf_counter() - began


LEVELS = (1, 3, 6, 9)


def zlib_levels(path: Path, batch: int, batches: int = 4) -> dict[int, tuple[float, float]]:
    """{level: (bytes per report, reports per CPU second)} of zlib on `batches` of the buffer's
    oldest readings, each as the forwarder builds it; level 0 is the JSON itself (no CPU)."""
    broker = {"host": "127.0.0.1", "port": 1}  # not connected: the forwarder only encodes here
    config = GatewayConfig(site="bench", gateway_id="gw", buffer_path=path, farm_broker=broker,
                           cloud_broker=broker, compress=False)
    with DurableBuffer(path, max_rows=0, max_bytes=0) as buf:
        rows = buf.next_batch_json(batch * batches)
        fwd = Forwarder(buf, config)
        payloads = [fwd.encode_items(f"b-{i}", T0, [item for _, item in rows[i * batch:(i + 1) * batch]], [])
                    for i in range(batches)]
    n = len(rows)
    out = {0: (sum(map(len, payloads)) / n, 0.0)}
    for level in LEVELS:
        began = time.process_time()
        size = sum(len(zlib.compress(p, level)) for p in payloads)
        out[level] = (size / n, n / max(time.process_time() - began, 1e-9))
    return out


def forwarded(path: Path) -> int:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        return db.execute("SELECT value FROM counters WHERE name = 'forwarded'").fetchone()[0]
    finally:
        db.close()


def drain(path: Path, broker: MosquittoServer, total: int, batch: int, tmp: Path,
          level: int = 6) -> tuple[float, int, float]:
    """Run the gateway process until the buffer is empty; (reports/s, peak RSS bytes, reports per CPU
    second of the gateway process: what a loaded machine does not shrink)."""
    config = tmp / "gateway.toml"
    config.write_text(
        f'site = "bench"\ngateway_id = "gw-{uuid.uuid4().hex[:6]}"\nbuffer_path = "{path}"\n'
        f"forward_batch_size = {batch}\ncompress_level = {level}\nhttp_port = 0\n"
        "[quota]\nmax_rows = 0\nmax_bytes = 0\n"
        f'[farm_broker]\nhost = "{broker.host}"\nport = {broker.port}\n'
        f'[cloud_broker]\nhost = "{broker.host}"\nport = {broker.port}\n'
    )
    proc = subprocess.Popen([sys.executable, "-c", CLI, "gateway", "run", "--config", str(config)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ps = psutil.Process(proc.pid)
    started = time.perf_counter()
    peak = 0
    began, first, cpu0 = 0.0, 0, 0.0
    try:
        while (done := forwarded(path)) < total:
            peak = max(peak, ps.memory_info().rss)
            if not began and done:  # timed from the first acknowledged batch: startup excluded
                began, first, cpu0 = time.perf_counter(), done, _cpu(ps)
            if proc.poll() is not None:
                raise SystemExit(f"the gateway exited with {proc.returncode}")
            time.sleep(0.1)
        elapsed = time.perf_counter() - began
        cpu = _cpu(ps) - cpu0
        if not began or first >= total or cpu <= 0:
            # A backlog drained before or within the first poll, or in less CPU than the clock's tick (10 ms), cannot be
            # timed from its first batch: time it from the process start instead, startup included, and say so.
            print("note: the backlog drained too fast to time from its first batch; startup is included",
                  file=sys.stderr)
            elapsed, cpu, first = time.perf_counter() - started, _cpu(ps), 0
    finally:
        proc.terminate()
        proc.wait(60)
    return (total - first) / elapsed, peak, (total - first) / cpu


def _cpu(ps: psutil.Process) -> float:
    t = ps.cpu_times()
    return t.user + t.system


class ReceiptEcho:
    """The cloud's receipts without the cloud: every batch on the broker answered at once."""

    def __init__(self, broker: MosquittoServer) -> None:
        self._broker = broker
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    def __enter__(self) -> ReceiptEcho:
        self._thread.start()
        if not self._ready.wait(30):
            raise SystemExit("the receipt echo did not subscribe")
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._task.cancel)
        self._thread.join(30)

    async def _run(self) -> None:
        self._loop, self._task = asyncio.get_running_loop(), asyncio.current_task()
        async with aiomqtt.Client(self._broker.host, self._broker.port, identifier=f"echo-{uuid.uuid4().hex[:6]}") as c:
            await c.subscribe(gateway_filter("+", GW_BATCH), qos=1)
            self._ready.set()
            with contextlib.suppress(asyncio.CancelledError):
                async for m in c.messages:
                    raw = bytes(m.payload)
                    b = decode_batch(zlib.decompress(raw) if raw[:1] == b"\x78" else raw)
                    receipt = make_receipt(b["batch_id"], RECEIPT_STORED, len(b["items"]))
                    await c.publish(gateway_topic(b["site"], b["gateway"], GW_RECEIPT), encode_receipt(receipt), qos=1)


async def raw_publish(broker: MosquittoServer, payload: bytes, count: int) -> float:
    """Seconds a bare aiomqtt client takes to publish `count` payloads at QoS 1, one after the other."""
    async with aiomqtt.Client(broker.host, broker.port, identifier=f"raw-{uuid.uuid4().hex[:6]}") as client:
        began = time.perf_counter()
        for _ in range(count):
            await client.publish("bench/raw", payload, qos=1)
        return time.perf_counter() - began


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nodes", type=int, default=1000)
    ap.add_argument("--hours", type=float, default=24)
    ap.add_argument("--batch", type=int, default=5000)
    ap.add_argument("--receipts", action="store_true", help="readings leave the buffer with the cloud's receipt")
    ap.add_argument("--compress-level", type=int, default=6, help="the gateway's zlib level (compress_level)")
    o = ap.parse_args()
    minutes = int(o.hours * 60)
    total = o.nodes * minutes
    with tempfile.TemporaryDirectory(prefix="furrow-bench-") as d:  # the buffer is 713 MB at full size
        tmp = Path(d)
        path = tmp / "buffer.sqlite"
        fill_s = fill(path, o.nodes, minutes)
        if o.receipts:  # a gateway that has had receipts from this cloud before
            with contextlib.closing(sqlite3.connect(path)) as db, db:
                db.execute("UPDATE counters SET value = 1 WHERE name = 'receipts_seen'")
        size = path.stat().st_size
        levels = zlib_levels(path, o.batch)
        items = [make_item(uplink(i % o.nodes, i // o.nodes), T0) for i in range(o.batch)]
        sample = encode_batch(make_batch("bench", "gw", "b-1", T0, items))
        compressed = zlib.compress(sample, o.compress_level)
        size_6 = len(zlib.compress(sample, 6))
        with MosquittoServer() as broker:
            raw_s = asyncio.run(raw_publish(broker, compressed, 50))
            with ReceiptEcho(broker) if o.receipts else contextlib.nullcontext():
                rate, rss, per_cpu = drain(path, broker, total, o.batch, tmp, o.compress_level)
    raw_rate = 50 * o.batch / raw_s
    print("readings leave with the cloud's receipt (a stand-in cloud answers each batch)" if o.receipts
          else "readings leave at the broker's PUBACK (no receipts seen yet)")
    print(f"backlog: {o.nodes} nodes x {minutes} minutes = {total:,} reports, {size / 1e6:.0f} MB on disk, "
          f"filled in {fill_s:.0f} s ({total / fill_s:,.0f} /s)")
    print(f"batch of {o.batch}: {len(sample) / 1e6:.2f} MB JSON, {len(compressed) / 1e6:.3f} MB compressed at level "
          f"{o.compress_level} ({len(compressed) / size_6:.0%} of level 6)")
    print("zlib on this buffer's batches (bytes per report; reports per CPU second of zlib):",
          f"JSON {levels[0][0]:.0f} B;", "; ".join(f"level {lv} {levels[lv][0]:.1f} B, {levels[lv][1]:,.0f}/CPU s"
                                                  for lv in LEVELS))
    print("| measure | gateway | raw limit |")
    print("|---|---:|---:|")
    print(f"| drain, reports/s | {rate:,.0f} ({total / rate:,.0f} s for the backlog) | "
          f"{raw_rate:,.0f} (bare aiomqtt, QoS 1, same compressed batches, no buffer) |")
    print(f"| drain, reports per CPU second of the gateway | {per_cpu:,.0f} ({total / per_cpu:,.0f} CPU s) | |")
    print(f"| gateway peak RSS while draining | {rss / 1e6:.0f} MB | |")
    print(json.dumps({"receipts": o.receipts, "compress_level": o.compress_level, "reports": total,
                      "buffer_mb": round(size / 1e6, 1),
                      "fill_reports_s": round(total / fill_s),
                      "drain_reports_s": round(rate), "drain_s": round(total / rate, 1),
                      "drain_reports_per_cpu_s": round(per_cpu), "drain_cpu_s": round(total / per_cpu, 1),
                      "raw_publish_reports_s": round(raw_rate), "share": round(rate / raw_rate, 4),
                      "peak_rss_mb": round(rss / 1e6, 1), "batch_json_mb": round(len(sample) / 1e6, 3),
                      "batch_compressed_mb": round(len(compressed) / 1e6, 3),
                      "batch_bytes_vs_level_6": round(len(compressed) / size_6, 3),
                      "zlib_bytes_per_report": {lv: round(b, 2) for lv, (b, _) in levels.items()},
                      "zlib_reports_per_cpu_s": {lv: round(r) for lv, (_, r) in levels.items() if lv}}))


if __name__ == "__main__":
    main()
