"""End-to-end throughput of the Furrow pipeline on real servers, beside the raw limits.

Starts its own Mosquitto and InfluxDB 1.x on free loopback ports (as the test
fixtures do), then measures, in the same run:

  raw broker     one paho client publishing the same reports at QoS 1 (no subscriber): the
                 most this bench's node side can send; the gateway cannot receive more
  raw database   InfluxDB /write of line protocol, 5000 lines per request
  gateway        reports published by nodes (QoS 1) until committed in the gateway buffer
  end to end     the same reports until every reading is stored in InfluxDB by the cloud

    .venv/bin/python bench/pipeline.py [--reports 5000] [--nodes 20]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import timedelta
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from furrow.cloud.app import create_app  # noqa: E402
from furrow.cloud.settings import Settings  # noqa: E402
from furrow.edge import payload, topics  # noqa: E402
from furrow.edge.payload import make_reading as R  # noqa: E402
from furrow.gateway.app import Gateway  # noqa: E402
from furrow.gateway.config import BrokerConfig, GatewayConfig  # noqa: E402
from tests.servers import InfluxDB1Server, MosquittoServer, free_port  # noqa: E402

SITE, GW, T0 = "bench", "gw-bench", 1_767_225_600_000
# The broker as docs/gateway.md says a farm configures it: with Mosquitto's default (1,000 queued QoS 1
# messages per client) a gateway behind a burst loses what the broker drops (19 of 3,000 here, 2026-12-07).
BROKER = ["max_queued_messages 0", "max_queued_bytes 256000000", "max_inflight_messages 100"]


def reports(n: int, nodes: int) -> list[tuple[str, bytes]]:
    out = []
    for i in range(n):
        node = f"soil-{i % nodes:03d}"
        readings = [R("vwc_pct", 20 + (i % 50) / 10, depth_cm=d) for d in (10, 30, 60)]
        readings += [R("soil_temp_c", 15 + (i % 30) / 10, depth_cm=d) for d in (10, 30, 60)]
        up = payload.make_uplink(node, "soil", i // nodes, T0 + (i // nodes) * 60_000, readings, "0.1.0", 3.7, -70)
        out.append((topics.node_topic(SITE, node, "up"), payload.encode_json(up)))
    return out


def publish_all(host: str, port: int, msgs: list[tuple[str, bytes]]) -> None:
    """Publish at QoS 1 with a bounded in-flight window; return when all are acknowledged."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{time.time_ns()}")
    client.max_inflight_messages_set(100)
    client.connect(host, port)
    client.loop_start()
    infos = [client.publish(t, p, qos=1) for t, p in msgs]
    for info in infos:
        info.wait_for_publish(timeout=60)
    client.loop_stop()
    client.disconnect()


def raw_broker_rate(host: str, port: int, msgs: list[tuple[str, bytes]]) -> float:
    """The same reports published by one Python client at QoS 1 until every PUBACK is in:
    the rate the nodes' side of this bench can feed the broker at all."""
    start = time.perf_counter()
    publish_all(host, port, [("raw/" + t, p) for t, p in msgs])
    return len(msgs) / (time.perf_counter() - start)


def raw_influx_rate(influx: InfluxDB1Server, lines: int) -> float:
    influx.create_database("raw")
    body = "\n".join(f"vwc_pct,node=n{i % 20},depth_cm=10 value={i % 40}.5,seq={i}i {T0 + i}" for i in range(lines))
    chunks = [body.split("\n")[i:i + 5000] for i in range(0, lines, 5000)]
    start = time.perf_counter()
    with httpx.Client() as c:
        for chunk in chunks:
            r = c.post(f"{influx.url}/write", params={"db": "raw", "precision": "ms"}, content="\n".join(chunk))
            r.raise_for_status()
    return lines / (time.perf_counter() - start)


async def pipeline_rate(mosq: MosquittoServer, influx: InfluxDB1Server, msgs, readings_total: int,
                        tmp: Path) -> tuple[float, float]:
    influx.create_database("furrow")
    settings = Settings(storage="influxdb1", influx_url=influx.url, influx_database="furrow", data_dir=tmp / "cloud",
                        mqtt_host=mosq.host, mqtt_port=mosq.port, mqtt_client_id="bench-cloud",
                        demo_mode=True, bootstrap_admin_token="fw_bench_pipeline_admin_token")
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]  # Ctrl-C stays ours
    serving = asyncio.create_task(server.serve())
    broker = BrokerConfig(host=mosq.host, port=mosq.port)
    gateway = Gateway(GatewayConfig(site=SITE, gateway_id=GW, farm_broker=broker, cloud_broker=broker,
                                    buffer_path=tmp / "gw.db", forward_batch_size=2000,
                                    forward_interval=timedelta(seconds=0.05), http_port=0))
    stop = asyncio.Event()
    gw_task = asyncio.create_task(gateway.run(stop))
    api = f"http://127.0.0.1:{port}/api/v1"
    async with httpx.AsyncClient(headers={"Authorization": "Bearer fw_bench_pipeline_admin_token"}) as client:
        for _ in range(200):
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(f"{api}/health")).json().get("mqtt") == "connected":
                    break
            await asyncio.sleep(0.05)
        # The nodes publish from their own process, as real nodes do: in this one their paho thread
        # would take the GIL from the gateway and the cloud it is measuring. Started before the clock.
        loop = asyncio.get_running_loop()
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as nodes:
            await loop.run_in_executor(nodes, int)
            await asyncio.sleep(1.0)  # let the gateway subscribe
            start = time.perf_counter()
            await loop.run_in_executor(nodes, publish_all, mosq.host, mosq.port, msgs)
        gateway_s = stored_s = None
        deadline = time.perf_counter() + 300
        while time.perf_counter() < deadline:
            now = time.perf_counter() - start
            if gateway_s is None and gateway.stats()["received"] >= len(msgs):
                gateway_s = now
            stats = (await client.get(f"{api}/stats")).json()
            if stats["readings_stored"] >= readings_total:
                stored_s = now
                break
            await asyncio.sleep(0.05)
    stop.set()
    await gw_task
    server.should_exit = True
    await serving
    if gateway_s is None or stored_s is None:
        g = gateway.stats()
        raise SystemExit(f"the pipeline did not store every reading within 300 s: the gateway received "
                         f"{g['received']:,} of {len(msgs):,} reports, the cloud stored {stats['readings_stored']:,} "
                         f"of {readings_total:,} readings; gateway {g}")
    return len(msgs) / gateway_s, readings_total / stored_s


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reports", type=int, default=5000)
    ap.add_argument("--nodes", type=int, default=20)
    args = ap.parse_args()
    msgs = reports(args.reports, args.nodes)
    readings_total = args.reports * 6
    with MosquittoServer(extra_config=BROKER) as mosq, InfluxDB1Server() as influx, \
            tempfile.TemporaryDirectory(prefix="furrow-bench-") as tmp:
        print(f"{args.reports} reports from {args.nodes} nodes, 6 readings each, {len(msgs[0][1])} bytes JSON",
              flush=True)
        broker = raw_broker_rate(mosq.host, mosq.port, msgs)
        db = raw_influx_rate(influx, readings_total)
        gw, e2e = asyncio.run(pipeline_rate(mosq, influx, msgs, readings_total, Path(tmp)))
    print(f"{'stage':<44} {'Furrow':>14} {'raw limit':>16}")
    print(f"{'gateway: node -> broker -> committed buffer':<44} {gw:>9,.0f} rep/s {broker:>11,.0f} msg/s"
          "  (one publisher, QoS 1 to Mosquitto)")
    print(f"{'end to end: node -> ... -> InfluxDB':<44} {e2e:>9,.0f} val/s {db:>11,.0f} val/s"
          "  (InfluxDB /write, 5000/request)")
    print(f"{'':<44} {e2e / 6:>9,.0f} rep/s")
    print(json.dumps({"reports": args.reports, "nodes": args.nodes, "raw_publisher_msgs_s": round(broker),
                      "gateway_reports_s": round(gw), "gateway_share": round(gw / broker, 3),
                      "raw_influx_values_s": round(db), "e2e_values_s": round(e2e),
                      "e2e_reports_s": round(e2e / 6), "e2e_share_of_publisher": round(e2e / 6 / broker, 3),
                      "e2e_share_of_influx": round(e2e / db, 3)}))


if __name__ == "__main__":
    main()
