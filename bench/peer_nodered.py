"""Furrow beside Node-RED doing the same job, at rising offered rates, in the same run.

The job: node reports arrive over MQTT at QoS 1 and every reading must end up in InfluxDB 1.x.

  Node-RED   Node-RED 4 with node-red-contrib-influxdb 0.7, installed from npm into a cache
             folder (FURROW_BENCH_CACHE, default ~/.cache/furrow-bench; never a global install),
             running the flow a user would build: mqtt in (QoS 1, parsed JSON) -> function (one
             point per reading) -> influx batch
  Furrow     the production path in its own processes: node -> Mosquitto -> `furrow gateway run`
             (durable buffer, commit before PUBACK) -> batches over MQTT -> `furrow cloud run`
             (ingest, acknowledged once stored) -> InfluxDB

Both read the same reports (6 readings each) from the same Mosquitto, configured as
docs/gateway.md says a farm's broker must be (no limit on queued QoS 1 messages), and write to the
same InfluxDB. At each offered rate one publisher sends `--messages` reports at that pace (QoS 1,
each acknowledged by the broker), first alone (to a topic tree nobody reads: the raw limit, the
most it offers at that pace), then once to each system, alternating which goes first, for
`--rounds` rounds. For each run: the rate actually offered, the sustained rate (reports stored
over the time from the first publish until the last reading was stored), what was stored within
the run (until `--settle` seconds pass without a new reading), and once every run is over, what
was stored later (held back, not lost) and what was lost (never stored), and the sustained rate's
share of the publisher alone. The systems' CPU
seconds are reported too (psutil), the fairer figure on a loaded machine.

    .venv/bin/python bench/peer_nodered.py [--messages 30000] [--rates 500,1000,2000,0] [--rounds 3]

A rate of 0 means as fast as the publisher can. Node-RED and its nodes stay in the cache for the
next run; everything else (settings, flows, buffers, servers) lives in temporary folders.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.servers

from furrow.edge import payload, topics  # noqa: E402
from furrow.edge.payload import make_reading  # noqa: E402
from tests.servers import InfluxDB1Server, MosquittoServer, free_port, wait_for  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CLI = "import sys; from furrow.cli import main; sys.exit(main(sys.argv[1:]))"
NODE_RED, CONTRIB = "4.1.8", "0.7.0"
SITE, T0 = "bench", 1_767_225_600_000
FUNCTION = """const u = msg.payload;
msg.payload = u.readings.filter(r => r.value !== undefined && r.value !== null).map(r => ({
    measurement: r.name,
    tags: {node: u.node, role: u.role, depth_cm: String(r.depth_cm)},
    fields: {value: r.value, seq: u.seq},
    timestamp: new Date(u.ts_ms),
}));
return msg;"""


def cache_dir() -> Path:
    return Path(os.environ.get("FURROW_BENCH_CACHE", Path.home() / ".cache" / "furrow-bench")) / "node-red"


def ensure_node_red() -> Path:
    """Node-RED and node-red-contrib-influxdb in the cache (npm install on the first run)."""
    cache = cache_dir()
    red = cache / "node_modules" / "node-red" / "red.js"
    contrib = cache / "node_modules" / "node-red-contrib-influxdb" / "package.json"
    if not (red.exists() and contrib.exists() and json.loads(contrib.read_text())["version"] == CONTRIB):
        cache.mkdir(parents=True, exist_ok=True)
        print(f"installing node-red@{NODE_RED} node-red-contrib-influxdb@{CONTRIB} into {cache} (npm)", flush=True)
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix", str(cache),
                        f"node-red@{NODE_RED}", f"node-red-contrib-influxdb@{CONTRIB}"], check=True,
                       stdout=subprocess.DEVNULL)
    return red


def flow(broker: MosquittoServer, influx: InfluxDB1Server, db: str, root: str) -> list[dict]:
    """The flow a user builds in the editor for this job, as Node-RED saves it."""
    return [
        {"id": "tab", "type": "tab", "label": "readings to InfluxDB"},
        {"id": "broker", "type": "mqtt-broker", "name": "farm broker", "broker": broker.host,
         "port": str(broker.port), "clientid": "", "autoConnect": True, "usetls": False, "protocolVersion": "4",
         "keepalive": "60", "cleansession": True},
        {"id": "in", "type": "mqtt in", "z": "tab", "name": "node reports",
         "topic": topics.node_filter("+", "up", root), "qos": "1", "datatype": "json", "broker": "broker",
         "nl": False, "rap": True, "rh": 0, "inputs": 0, "wires": [["fn"]]},
        {"id": "fn", "type": "function", "z": "tab", "name": "readings to points", "func": FUNCTION, "outputs": 1,
         "wires": [["out"]]},
        {"id": "influx-config", "type": "influxdb", "hostname": "127.0.0.1", "port": str(influx.port),
         "protocol": "http", "database": db, "name": "farm InfluxDB", "usetls": False, "influxdbVersion": "1.x"},
        {"id": "out", "type": "influxdb batch", "z": "tab", "influxdb": "influx-config", "precision": "ms",
         "retentionPolicy": "", "name": "store", "wires": []},
    ]


class NodeRed:
    """Node-RED in its own process with the flow above; settings and flows in a temporary folder."""

    def __init__(self, red: Path, work: Path, flows: list[dict]) -> None:
        self.port = free_port()
        work.mkdir()
        (work / "flows.json").write_text(json.dumps(flows))
        contrib = red.parents[1] / "node-red-contrib-influxdb"
        (work / "settings.js").write_text(
            "module.exports = " + json.dumps({
                "uiPort": self.port, "uiHost": "127.0.0.1", "flowFile": "flows.json", "userDir": str(work),
                "nodesDir": [str(contrib)], "credentialSecret": False, "logging": {"console": {"level": "info"}},
                "editorTheme": {"tours": False}, "telemetry": {"enabled": False}}) + ";\n")
        self.log = work / "node-red.log"
        self._out = self.log.open("wb")
        self.proc = subprocess.Popen(
            ["node", str(red), "--settings", str(work / "settings.js"), "--userDir", str(work)],
            stdout=self._out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        up = wait_for(lambda: b"Connected to broker" in self.log.read_bytes() or self.proc.poll() is not None, 120)
        if not up or self.proc.poll() is not None:
            raise SystemExit(f"Node-RED did not connect to the broker:\n{self.log.read_text()[-2000:]}")

    def cpu_s(self) -> float:
        return _cpu(self.proc.pid)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)
        self._out.close()


class Furrow:
    """`furrow cloud run` and `furrow gateway run`, each in its own process, as a farm runs them."""

    def __init__(self, broker: MosquittoServer, influx: InfluxDB1Server, db: str, root: str, work: Path) -> None:
        work.mkdir()
        self.port = free_port()
        env = {**os.environ, "FURROW_STORAGE": "influxdb1", "FURROW_INFLUX_URL": influx.url,
               "FURROW_INFLUX_DATABASE": db, "FURROW_DATA_DIR": str(work / "cloud"), "FURROW_TOPIC_ROOT": root,
               "FURROW_MQTT_HOST": broker.host, "FURROW_MQTT_PORT": str(broker.port),
               "FURROW_MQTT_CLIENT_ID": f"cloud-{uuid.uuid4().hex[:6]}",
               "FURROW_SECRET_KEY": "bench-secret-key-0123456789abcdef", "FURROW_BOOTSTRAP_ADMIN_TOKEN": TOKEN}
        self._logs = [(work / "cloud.log").open("wb"), (work / "gateway.log").open("wb")]
        self.cloud = subprocess.Popen([sys.executable, "-c", CLI, "cloud", "run", "--port", str(self.port)],
                                      cwd=ROOT, env=env, stdout=self._logs[0], stderr=subprocess.STDOUT)
        if not wait_for(self._cloud_ready, 120, 0.2):
            raise SystemExit("the cloud did not connect to the broker within 120 s")
        config = work / "gateway.toml"
        config.write_text(
            f'site = "{SITE}"\ngateway_id = "gw-bench"\ntopic_root = "{root}"\nbuffer_path = "{work / "gw.sqlite"}"\n'
            "forward_batch_size = 2000\nforward_interval = 0.05\nhttp_port = 0\n"
            f'[farm_broker]\nhost = "{broker.host}"\nport = {broker.port}\n'
            f'[cloud_broker]\nhost = "{broker.host}"\nport = {broker.port}\n')
        self.gateway = subprocess.Popen([sys.executable, "-c", CLI, "gateway", "run", "--config", str(config)],
                                        cwd=ROOT, stdout=self._logs[1], stderr=subprocess.STDOUT)
        time.sleep(3)  # the gateway connects and subscribes

    def _cloud_ready(self) -> bool:
        if self.cloud.poll() is not None:
            raise SystemExit(f"the cloud exited with {self.cloud.returncode}")
        try:
            r = httpx.get(f"http://127.0.0.1:{self.port}/api/v1/health", headers={"Authorization": f"Bearer {TOKEN}"},
                          timeout=2)
        except httpx.HTTPError:
            return False
        return r.status_code == 200 and r.json()["mqtt"] == "connected"

    def cpu_s(self) -> float:
        return sum(_cpu(p.pid) for p in (self.cloud, self.gateway))

    def stop(self) -> None:
        for p in (self.gateway, self.cloud):
            p.terminate()
            p.wait(60)
        for f in self._logs:
            f.close()


TOKEN = "fw_bench_peer_admin_token_0123456789"
BROKER = ["max_queued_messages 0", "max_queued_bytes 256000000", "max_inflight_messages 100"]


def _cpu(pid: int) -> float:
    try:
        t = psutil.Process(pid).cpu_times()
    except psutil.NoSuchProcess:
        return 0.0
    return t.user + t.system


def reports(run: str, n: int, nodes: int = 20) -> list[tuple[str, bytes]]:
    out = []
    for i in range(n):
        node, seq = f"{run}n{i % nodes:02d}", i // nodes
        readings = [make_reading("vwc_pct", 20 + (i % 50) / 10, depth_cm=d) for d in (10, 30, 60)]
        readings += [make_reading("soil_temp_c", 15 + (i % 30) / 10, depth_cm=d) for d in (10, 30, 60)]
        up = payload.make_uplink(node, "soil", seq, T0 + seq * 60_000, readings, "0.1.0", 3.7, -70)
        out.append((node, payload.encode_json(up)))
    return out


def offer(broker: MosquittoServer, root: str, msgs: list[tuple[str, bytes]], rate: float) -> tuple[float, float]:
    """Publish at `rate` per second (0: as fast as possible), QoS 1; (start, seconds taken)."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"nodes-{uuid.uuid4().hex[:8]}")
    client.max_inflight_messages_set(100)
    client.connect(broker.host, broker.port)
    client.loop_start()
    began = time.perf_counter()
    infos = []
    for i, (node, data) in enumerate(msgs):
        if rate:
            ahead = began + i / rate - time.perf_counter()
            if ahead > 0:
                time.sleep(ahead)
        infos.append(client.publish(topics.node_topic(SITE, node, "up", root), data, qos=1))
    for info in infos:
        info.wait_for_publish(120)
    took = time.perf_counter() - began
    client.loop_stop()
    client.disconnect()
    return began, took


def count(influx: InfluxDB1Server, db: str, run: str) -> int:
    q = f'SELECT count("value") FROM "vwc_pct", "soil_temp_c" WHERE "node" =~ /^{run}n/'
    series = influx.query(db, q)["results"][0].get("series", [])
    return sum(s["values"][0][1] for s in series)


def measure(system, broker, influx, db, root, run, n, rate, settle_s) -> dict:
    msgs = reports(run, n)
    expected = n * 6
    cpu0 = system.cpu_s()
    began, took = offer(broker, root, msgs, rate)
    stored, last_change, seen = 0, time.perf_counter(), 0
    while time.perf_counter() - last_change < settle_s and seen < expected:
        seen = count(influx, db, run)
        if seen != stored:
            stored, last_change = seen, time.perf_counter()
        time.sleep(0.2)
    elapsed = last_change - began
    return {"run": run, "offered_s": round(n / took), "sustained_s": round(stored / 6 / elapsed) if stored else 0,
            "stored": stored // 6, "cpu_s": round(system.cpu_s() - cpu0, 2)}


def final_counts(influx: InfluxDB1Server, results: dict[str, list[dict]], n: int, quiet_s: float,
                 limit_s: float) -> None:
    """Once every run is over, wait until nothing more arrives for `quiet_s` (at most `limit_s`), then
    count each run again: `late` readings were stored after its window closed (held, not lost), `lost`
    never were."""
    dbs = {"furrow": "furrow", "node-red": "nodered"}

    def total() -> int:
        return sum(count(influx, dbs[name], row["run"]) for name, rows in results.items() for row in rows)

    last, changed, end = -1, time.monotonic(), time.monotonic() + limit_s
    while time.monotonic() - changed < quiet_s and time.monotonic() < end:
        now = total()
        if now != last:
            last, changed = now, time.monotonic()
        time.sleep(1.0)
    for name, rows in results.items():
        for row in rows:
            final = count(influx, dbs[name], row["run"]) // 6
            row["late"] = final - row["stored"]
            row["lost"] = n - final


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=30_000, help="reports per run")
    ap.add_argument("--rates", default="500,1000,2000,0", help="offered reports/s, comma-separated (0: unpaced)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--settle", type=float, default=10.0, help="seconds without a new reading that end a run")
    o = ap.parse_args()
    red = ensure_node_red()
    rates = [float(r) for r in o.rates.split(",")]
    results: dict[str, list[dict]] = {"furrow": [], "node-red": []}
    # The broker as docs/gateway.md says a Furrow farm configures it: Mosquitto's default drops QoS 1
    # messages past 1,000 queued for one client, which a cloud worker behind a burst reaches.
    with tempfile.TemporaryDirectory(prefix="furrow-bench-") as d, MosquittoServer(extra_config=BROKER) as broker, \
            InfluxDB1Server() as influx:
        work = Path(d)
        for db in ("furrow", "nodered"):
            influx.create_database(db)
        furrow = Furrow(broker, influx, "furrow", "fw", work / "furrow")
        nodered = NodeRed(red, work / "node-red", flow(broker, influx, "nodered", "nr"))
        try:
            systems = {"furrow": (furrow, "furrow", "fw"), "node-red": (nodered, "nodered", "nr")}
            for r in range(o.rounds):
                for i, rate in enumerate(rates):
                    # The raw limit of this round: the same publisher alone, on a topic tree nobody reads.
                    _, took = offer(broker, "alone", reports(f"r{r}x{i}a", o.messages), rate)
                    alone = o.messages / took
                    print(f"round {r} offered {rate or 'max'}/s publisher alone: {alone:,.0f}/s", flush=True)
                    order = ["furrow", "node-red"] if (r + i) % 2 == 0 else ["node-red", "furrow"]
                    for name in order:
                        system, db, root = systems[name]
                        run = f"r{r}x{i}{name[0]}"
                        row = {"round": r, "rate": rate, "alone_s": round(alone),
                               **measure(system, broker, influx, db, root, run, o.messages, rate, o.settle)}
                        row["share_of_alone"] = round(row["sustained_s"] / alone, 3)
                        results[name].append(row)
                        print(f"round {r} offered {rate or 'max'}/s {name:9} {row}", flush=True)
            final_counts(influx, results, o.messages, 30.0, 600.0)
        finally:
            nodered.stop()
            furrow.stop()
    print("\n| offered /s | system | publisher alone /s | offered, achieved /s | sustained reports/s | "
          "share of the publisher alone | stored in its window | stored later | lost | CPU s |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, rows in results.items():
        for row in rows:
            rate = f"{row['rate']:,.0f}" if row["rate"] else "max"
            print(f"| {rate} | {name} | {row['alone_s']:,} | {row['offered_s']:,} | "
                  f"{row['sustained_s']:,} | {row['share_of_alone']:.0%} | {row['stored']:,} | {row['late']:,} | "
                  f"{row['lost']:,} | {row['cpu_s']} |")
    print(json.dumps({"messages": o.messages, "node_red": NODE_RED, "contrib": CONTRIB, **results}))


if __name__ == "__main__":
    main()
