"""Cloud ingest and query figures on real servers, beside the raw limits measured in the same run.

Starts its own Mosquitto and InfluxDB 1.x (and PostgreSQL for the two-worker case) on free
loopback ports, as the test fixtures do, then measures:

  raw write       InfluxDB /write of the same readings as line protocol, 5000 lines per request
  one worker      batches published to the gateway batch topic (QoS 1, 20 in flight) until the
                  last batch's receipt (sent once its readings are stored; InfluxDB's count is
                  checked then), stored by one cloud instance in its own process (relational
                  data on PostgreSQL), for each batch window (--in-flight) and with and without
                  merged writes (--merge-readings 0 is one InfluxDB write per batch)
  two workers     the same with two instances, two processes, on one $share group and one PostgreSQL
  zone chart      GET /api/v1/series and the dashboard's /zones/{id}/columns for one zone (10 probes,
                  2 depths) over 90 days, daily and hourly windows, on a registry of 1,000 nodes
                  (closed windows come from the roll-ups); beside the same aggregation over the raw
                  points in InfluxQL alone, and the store's own query of the roll-up alone

    .venv/bin/python bench/cloud_ingest.py [--batches 200] [--items 50] [--days 90] [--queries 40]
        [--workers 1,2] [--in-flight 4,16] [--merge-readings 0,20000] [--rounds 2]   (--queries 0: no chart;
        --workers 0: only the charts)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiomqtt
import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from furrow.cloud.app import create_app  # noqa: E402
from furrow.cloud.chart_warmup import warm_zone_charts  # noqa: E402
from furrow.cloud.registry import FIELDS, NODES, SITES, ZONES, FieldIn, NodeIn, SiteIn, ZoneIn  # noqa: E402
from furrow.cloud.settings import Settings  # noqa: E402
from furrow.cloud.storage import Reading  # noqa: E402
from furrow.cloud.storage.influx1 import Answer  # noqa: E402
from furrow.cloud.storage.influx1_cache import ClosedWindows  # noqa: E402
from furrow.cloud.storage.lineprotocol import to_lines  # noqa: E402
from furrow.edge.batch import encode_batch, make_batch, make_item  # noqa: E402
from furrow.edge.payload import make_reading, make_uplink  # noqa: E402
from furrow.edge.topics import GW_RECEIPT, gateway_topic  # noqa: E402
from tests.servers import InfluxDB1Server, MosquittoServer, PostgresServer  # noqa: E402

SITE, GW = "bench", "gw-bench"
# Reports are recent, as a live farm's are (older ones are rolled up as they are written).
NOW_MS = time.time_ns() // 1_000_000
T0 = NOW_MS - 55 * 60_000
TOKEN = "fw_bench_cloud_ingest_admin_token"
HEADERS = {"Authorization": f"Bearer {TOKEN}"}
DEPTHS = (10, 30, 60)
NODES_PER_ZONE = 10
REPORT_EVERY_MS = 15 * 60_000
PUBLISH_WINDOW = 20  # QoS 1 publishes in flight at once (paho's default window)


def uplink(node: str, seq: int, ts_ms: int) -> dict:
    readings = [make_reading("vwc_pct", 20 + (seq % 50) / 10, depth_cm=d) for d in DEPTHS]
    readings += [make_reading("soil_temp_c", 15 + (seq % 30) / 10, depth_cm=d) for d in DEPTHS]
    return make_uplink(node, "soil", seq, ts_ms, readings, "0.1.0", bat_v=3.7, rssi_dbm=-70)


def batches(count: int, items: int, nodes: int = 200) -> list[bytes]:
    out = []
    for b in range(count):
        its = []
        for i in range(items):
            k = b * items + i
            node, seq = f"soil-{k % nodes:04d}", k // nodes
            its.append(make_item(uplink(node, seq, T0 + seq * 60_000), T0 + seq * 60_000 + 500, []))
        out.append(encode_batch(make_batch(SITE, GW, f"{GW}-{b:06d}", T0, its)))
    return out


def readings_of(raw: list[bytes]) -> list[Reading]:
    import json

    out = []
    for body in raw:
        for it in json.loads(body)["items"]:
            for r in it["readings"]:
                out.append(Reading(SITE, GW, it["node"], "soil", r["name"], r["unit"], r.get("depth_cm"), None,
                                   r["value"], None, it["seq"], it["ts_ms"], it["rx_ms"]))
    return out


def settings(tmp: Path, influx: InfluxDB1Server, db: str, mosq: MosquittoServer | None, **kw) -> Settings:
    return Settings(storage="influxdb1", influx_url=influx.url, influx_database=db, data_dir=tmp,
                    mqtt_enabled=mosq is not None, mqtt_host=mosq.host if mosq else "127.0.0.1",
                    mqtt_port=mosq.port if mosq else 1883, secret_key="bench-secret-key-0123456789",
                    bootstrap_admin_token=TOKEN, **kw)


async def raw_write(influx: InfluxDB1Server, db: str, readings: list[Reading]) -> float:
    lines = to_lines(readings)
    async with httpx.AsyncClient(base_url=influx.url, timeout=60) as http:
        began = time.perf_counter()
        for i in range(0, len(lines), 5000):
            r = await http.post("/write", params={"db": db, "precision": "ns"},
                                content="\n".join(lines[i:i + 5000]).encode())
            assert r.status_code == 204, r.text
        return len(lines) / (time.perf_counter() - began)


def _worker_process(kw: dict, ready, stop) -> None:  # noqa: ANN001 - multiprocessing events
    """One cloud instance in its own process (as on a real deployment), until `stop` is set."""

    async def serve() -> None:
        app = create_app(Settings(**kw))
        async with app.router.lifespan_context(app):
            await asyncio.wait_for(app.state.services.worker.ready.wait(), 240)
            ready.set()
            await asyncio.to_thread(stop.wait)

    asyncio.run(serve())


async def _influx_count(http: httpx.AsyncClient, db: str) -> int:
    r = await http.get("/query", params={"db": db, "q": 'SELECT count("seq") FROM "vwc_pct", "soil_temp_c"'})
    total = 0
    for s in (r.json()["results"][0].get("series") or []):
        total += sum(v[1] for v in s["values"])
    return total


async def through_workers(tmp: Path, influx: InfluxDB1Server, db: str, mosq: MosquittoServer, raw: list[bytes],
                          workers: int, database_url: str | None, expected: int, in_flight: int = 4,
                          merge: int = 20_000) -> tuple[float, float | None]:
    """Readings/s from the first publish until InfluxDB holds every reading, with `workers`
    cloud instances, each in its own process, on one shared subscription; and readings per CPU
    second of the workers (psutil), which the machine's other load does not shrink."""
    influx.create_database(db)
    root = f"bench{workers}-{in_flight}-{merge}"
    ctx = multiprocessing.get_context("spawn")
    stop = ctx.Event()
    procs, readies = [], []
    for i in range(workers):
        s = settings(tmp / f"w{workers}-{i}", influx, db, mosq, topic_root=root, database_url=database_url,
                     ingest_shared_group="ingest" if workers > 1 else None, ingest_in_flight=in_flight,
                     # a copy of an older tree (before/after runs) has no merged writes: leave it out there
                     **({"ingest_merge_readings": merge} if "ingest_merge_readings" in Settings.model_fields else {}))
        kw = {k: v for k, v in s.model_dump().items() if v is not None}
        kw["secret_key"] = s.secret_key.get_secret_value()
        kw["bootstrap_admin_token"] = TOKEN
        ready = ctx.Event()
        p = ctx.Process(target=_worker_process, args=(kw, ready, stop), daemon=True)
        p.start()
        procs.append(p)
        readies.append(ready)
    try:
        for ready in readies:
            assert await asyncio.to_thread(ready.wait, 240), "a worker did not come up within 240 s"
        topic = gateway_topic(SITE, GW, "batch", root)
        # Up to PUBLISH_WINDOW publishes in flight, as a gateway draining a backlog has: one at a
        # time, the publisher's round trips to the broker set the pace instead of the worker.
        quiet = logging.getLogger("bench.publisher")  # aiomqtt warns of every publish waiting past 10
        quiet.setLevel(logging.ERROR)
        async with aiomqtt.Client(mosq.host, mosq.port, max_queued_outgoing_messages=0,
                                  max_inflight_messages=PUBLISH_WINDOW, logger=quiet) as pub, \
                aiomqtt.Client(mosq.host, mosq.port) as receipts, \
                httpx.AsyncClient(base_url=influx.url, timeout=30) as http:
            # A worker sends a batch's receipt only once its readings are stored: the run ends
            # with the last receipt (InfluxDB's count polled every 50 ms instead, as before
            # 2026-12-07 15:45, took InfluxDB CPU from the writes being timed), then the count is
            # checked once.
            await receipts.subscribe(gateway_topic(SITE, GW, GW_RECEIPT, root), qos=1)
            began, cpu = time.perf_counter(), _cpu(procs)
            window = asyncio.Semaphore(PUBLISH_WINDOW)

            async def publish(body: bytes) -> None:
                async with window:
                    await pub.publish(topic, body, qos=1)

            async def stored() -> None:
                ids: set[str] = set()
                async for message in receipts.messages:
                    r = json.loads(message.payload)
                    assert r["status"] == "stored", r
                    ids.add(r["batch_id"])
                    if len(ids) == len(raw):
                        return

            waiting = asyncio.create_task(stored())
            await asyncio.gather(*(publish(body) for body in raw))
            published = time.perf_counter() - began
            await asyncio.wait_for(waiting, 600)
            took, cpu = time.perf_counter() - began, _cpu(procs) - cpu
            n = await _influx_count(http, db)
            assert n == expected, f"{n} of {expected} readings stored after every batch's receipt"
        print(f"  published every batch in {published:.1f} s of the {took:.1f} s", flush=True)
        # psutil counts CPU in clock ticks (10 ms): a tiny run's workers may not have used one
        return expected / took, (expected / cpu if cpu > 0 else None)
    finally:
        stop.set()
        for p in procs:
            p.join(30)


def _per_cpu(figure: float | None) -> str:
    return "unmeasured (under one 10 ms tick of CPU)" if figure is None else f"{figure:,.0f}"


def _median(figures: list[float | None]) -> int | None:
    measured = [f for f in figures if f is not None]
    return round(statistics.median(measured)) if measured else None


def _cpu(procs: list) -> float:
    """CPU seconds the worker processes have used so far."""
    return sum(sum(psutil.Process(p.pid).cpu_times()[:2]) for p in procs)


async def _copy_rollups(influx: InfluxDB1Server, db: str, zones: int, before_ms: int) -> int:
    """Zone z000's hourly and daily roll-up rows before `before_ms`, written again for every other zone's
    nodes (node tag renamed), as the roll-ups of 90 days of their readings would hold them: a farm of
    `zones` zones with a season each, loaded in a minute instead of the hours its raw points would take."""
    written = 0
    async with httpx.AsyncClient(base_url=influx.url, timeout=300) as http:
        for policy in ("furrow_hourly", "furrow_daily"):
            r = await http.get("/query", params={"db": db, "epoch": "ns", "q": (
                f'SELECT "sum", "n", "min", "max" FROM "{policy}"."vwc_pct" WHERE "node" =~ /^soil-000-/ '
                f"AND time < {before_ms}ms GROUP BY *")})
            series = r.json()["results"][0].get("series") or []
            for z in range(1, zones):
                lines = []
                for s in series:
                    tags = dict(s["tags"])
                    tags["node"] = tags["node"].replace("soil-000-", f"soil-{z:03d}-")
                    key = "vwc_pct," + ",".join(f"{k}={v}" for k, v in sorted(tags.items()) if v)
                    for t, total, n, low, high in s["values"]:
                        lines.append(f"{key} sum={total!r},n={n}i,min={low!r},max={high!r} {t}")
                for i in range(0, len(lines), 20_000):
                    w = await http.post("/write", params={"db": db, "rp": policy, "precision": "ns"},
                                        content="\n".join(lines[i:i + 20_000]).encode())
                    assert w.status_code == 204, w.text
                written += len(lines)
    return written


def _rss_mb() -> float:
    return psutil.Process().memory_info().rss / 1e6


async def zone_chart(tmp: Path, influx: InfluxDB1Server, days: int, queries: int, zones: int,
                     caches: list[int], farm_cache: int) -> dict[str, tuple]:
    db = "chart"
    influx.create_database(db)
    # loading and rolling up 90 days of a 1,000-node farm takes InfluxDB tens of seconds a statement
    # on a loaded machine: a longer timeout than a service's
    app = create_app(settings(tmp / "chart", influx, db, None, influx_timeout_s=300))
    out: dict[str, tuple] = {}
    async with app.router.lifespan_context(app):
        reg = app.state.services.registry
        await reg.create(SITES, SiteIn(id=SITE, name="Bench farm"))
        await reg.create(FIELDS, FieldIn(id="f1", site_id=SITE, name="Field"))
        for z in range(zones):
            await reg.create(ZONES, ZoneIn(id=f"z{z:03d}", field_id="f1", name=f"Zone {z}", area_ha=5,
                                           soil_texture="loam", field_capacity_pct=31, wilting_point_pct=14,
                                           root_depth_cm=60, crop="maize", precip_rate_mm_h=5))
            for n in range(NODES_PER_ZONE):
                await reg.create(NODES, NodeIn(id=f"soil-{z:03d}-{n}", role="soil", zone_id=f"z{z:03d}"))
        # The charted zone gets `days` of 15-minute reports; every other node one day, so the
        # InfluxDB index holds all 1,000 nodes' series.
        end = NOW_MS - NOW_MS % 3_600_000
        lines: list[str] = []
        store = app.state.services.store
        loaded = 0
        for z in range(zones):
            span = days if z == 0 else 1
            for n in range(NODES_PER_ZONE):
                node = f"soil-{z:03d}-{n}"
                first = end - span * 86_400_000
                for seq, ts in enumerate(range(first, end, REPORT_EVERY_MS)):
                    for d in (10, 30):
                        lines.append(to_lines([Reading(SITE, GW, node, "soil", "vwc_pct", "%", d, None,
                                                       20 + (seq % 97) / 10, None, seq, ts)])[0])
                if len(lines) > 50_000:
                    loaded += len(lines)
                    await store._post_lines("\n".join(lines).encode())
                    lines = []
        loaded += len(lines)
        if lines:
            await store._post_lines("\n".join(lines).encode())
        # loaded around the store, as an import would be: roll the range up once
        began = time.perf_counter()
        await store.backfill_rollups(end - days * 86_400_000, end)
        out["points"] = (loaded, time.perf_counter() - began)
        began = time.perf_counter()
        copied = await _copy_rollups(influx, db, zones, end - 86_400_000)
        out["farm_rows"] = (copied, time.perf_counter() - began)
        # The farm as an instance holds it once its warm-up ran at `farm_cache` rows (the default setting
        # unless named): the "farm" mode asks a different zone each query; "cold zone" asks the same
        # zones of an instance whose cache is empty (the first look at a zone before the warm-up reached it)
        farm = ClosedWindows(farm_cache)
        store.closed = farm
        rss = _rss_mb()
        began = time.perf_counter()
        zones_read = await warm_zone_charts(reg, store, app.state.services.clock, days)
        out["farm_warm_up"] = (zones_read, time.perf_counter() - began, farm.rows, _rss_mb() - rss)
        # what a started instance holds once its warm-up ran (cloud/chart_warmup.py): every zone's last
        # `days` of soil chart, read zone after zone into a cache of the largest size named
        warmed = ClosedWindows(max(caches)) if max(caches) > 0 else None
        if warmed is not None:
            store.closed = warmed
            began = time.perf_counter()
            zones_read = await warm_zone_charts(reg, store, app.state.services.clock, days)
            out["warm_up"] = (zones_read, time.perf_counter() - began, warmed.rows)
        transport = httpx.ASGITransport(app=app)
        start, stop = end - days * 86_400_000, end
        nodes = " OR ".join(f"\"node\" = 'soil-000-{i}'" for i in range(NODES_PER_ZONE))
        async with httpx.AsyncClient(transport=transport, base_url="http://bench", headers=HEADERS,
                                     timeout=120) as api, httpx.AsyncClient(base_url=influx.url, timeout=120) as raw:
            for name, path, window in CHARTS:
                params = ({"zone": "z000", "measurement": "vwc_pct", "window": window, "start": str(start),
                           "end": str(stop)} if path == "/api/v1/series" else
                          {"window": window, "start": str(start), "end": str(stop)})
                # the raw limit: the same aggregation over the raw points, and the store's own query of
                # the roll-up (what the API asks InfluxDB for), each sent alone
                q = (f"SELECT mean(\"value\") AS agg, count(\"value\") AS n FROM \"vwc_pct\" WHERE time >= "
                     f"{start}ms AND time < {stop}ms AND ({nodes}) GROUP BY time({window}), "
                     "\"node\", \"depth_cm\", \"channel\" fill(none)")
                policy = "furrow_daily" if window == "1d" else "furrow_hourly"
                rolled = (f'SELECT sum("sum") / sum("n") AS agg, sum("n") AS n FROM "{policy}"."vwc_pct" WHERE '
                          f"time >= {start}ms AND time < {stop}ms AND ({nodes}) GROUP BY time({window}), "
                          "\"node\", \"depth_cm\", \"channel\" fill(none)")
                # each cache size (0: none) starts cold for each chart and is asked in turn, the order
                # alternating, so both meet the same load; their answers must be the same bytes
                held: dict[str, ClosedWindows | None] = {str(rows): ClosedWindows(rows) if rows else None
                                                         for rows in caches}
                if warmed is not None:
                    held["warmed"] = warmed
                modes = list(held)
                api_ms: dict[str, list[float]] = {mode: [] for mode in modes + ["farm", "cold zone", "cold zone json"]}
                raw_ms, rolled_ms, n = [], [], 0
                for i in range(queries):
                    # another zone each query, spread over the farm; the warmed farm and an empty cache in
                    # turn, the order alternating; both must answer the same bytes
                    zone = f"z{(1 + i * 37) % zones:03d}" if zones > 1 else "z000"
                    zoned = ({**params, "zone": zone} if path == "/api/v1/series" else params)
                    zpath = path.replace("z000", zone)
                    answers = set()
                    # "cold zone json": the cold zone's roll-up rows asked as JSON, as before 2026-12-08
                    cold = ("farm", "cold zone", "cold zone json")
                    for mode in cold if i % 2 == 0 else cold[::-1]:
                        store.closed = farm if mode == "farm" else ClosedWindows(farm_cache)
                        store.cold_answer = Answer.JSON if mode == "cold zone json" else Answer.MSGPACK
                        t = time.perf_counter()
                        r = await api.get(zpath, params=zoned)
                        api_ms[mode].append((time.perf_counter() - t) * 1000)
                        assert r.status_code == 200, r.text
                        answers.add(r.content)
                    assert len(answers) == 1, f"{name} {zone}: the farm's cached answer differs from a cold one"
                    answers = set()
                    for mode in modes if i % 2 == 0 else modes[::-1]:
                        store.closed = held[mode]
                        t = time.perf_counter()
                        r = await api.get(path, params=params)
                        api_ms[mode].append((time.perf_counter() - t) * 1000)
                        assert r.status_code == 200, r.text
                        answers.add(r.content)
                    assert len(answers) == 1, f"{name}: the cached answer differs from the uncached one"
                    body = r.json()
                    n = len(body) if isinstance(body, list) else len(body["times_ms"]) * len(body["sensors"])
                    for query, took in ((q, raw_ms), (rolled, rolled_ms)):
                        t = time.perf_counter()
                        rr = await raw.get("/query", params={"db": db, "q": query, "epoch": "ms"})
                        took.append((time.perf_counter() - t) * 1000)
                        assert rr.status_code == 200 and "error" not in rr.text[:300], rr.text[:300]
                diff = [a - b for a, b in zip(api_ms["cold zone"], api_ms["cold zone json"], strict=True)]
                print(f"  {name}: cold zone as MessagePack minus as JSON, same query: median {_p(diff, 50):+.1f} ms, "
                      f"faster in {sum(d < 0 for d in diff)} of {len(diff)}", flush=True)
                out[name] = (n, {mode: (ms[0], _p(ms, 50), _p(ms, 95)) for mode, ms in api_ms.items()},
                             _p(raw_ms, 50), _p(raw_ms, 95), _p(rolled_ms, 50))
    return out


# (name, API path, window): the general series route, and the dashboard zone page's columns
# ("3h": what the zone page's `window=auto` gives for 90 days at its usual width, 720 to 1,080 points)
CHARTS = (("1d", "/api/v1/series", "1d"), ("1h", "/api/v1/series", "1h"), ("3h", "/api/v1/series", "3h"),
          ("columns_1d", "/api/v1/zones/z000/columns", "1d"), ("columns_3h", "/api/v1/zones/z000/columns", "3h"),
          ("columns_1h", "/api/v1/zones/z000/columns", "1h"))


def _p(values: list[float], pct: int) -> float:
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[pct - 1]


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batches", type=int, default=200)
    ap.add_argument("--items", type=int, default=50, help="reports per batch (6 readings each)")
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--queries", type=int, default=40)
    ap.add_argument("--zones", type=int, default=100, help="registered zones of 10 soil nodes each")
    ap.add_argument("--workers", default="1,2", help="worker counts to measure, comma-separated (0: no ingest, "
                                                     "only the zone charts)")
    ap.add_argument("--in-flight", default="4,16", help="batches a worker handles at once (ingest_in_flight), "
                                                        "comma-separated: each is measured with each worker count")
    ap.add_argument("--merge-readings", default="20000",
                    help="ingest_merge_readings, comma-separated (0: one InfluxDB write per batch, as before "
                         "2026-12-07): each is measured with each worker count and window")
    ap.add_argument("--broker-inflight", type=int, default=0,
                    help="Mosquitto's max_inflight_messages (0: its default, 20): QoS 1 messages it sends a "
                         "worker before the first is acknowledged, which caps --in-flight")
    ap.add_argument("--chart-cache", default="0,250000",
                    help="influx_chart_cache_rows to chart with, comma-separated (0: no cache of closed windows); "
                         "each starts cold per chart and they are asked in turn")
    ap.add_argument("--farm-cache", type=int, default=Settings.model_fields["influx_chart_cache_rows"].default,
                    help="influx_chart_cache_rows of the farm's warmed instance (default: the setting's default)")
    ap.add_argument("--rounds", type=int, default=1,
                    help="measure every variant this many times, interleaved, the raw limit again each round")
    args = ap.parse_args()
    raw = batches(args.batches, args.items)
    readings = readings_of(raw)
    variants = [(int(w), int(f), int(m)) for w in args.workers.split(",") if int(w) > 0
                for f in args.in_flight.split(",") for m in args.merge_readings.split(",")]
    broker = [f"max_inflight_messages {args.broker_inflight}"] if args.broker_inflight else []
    # Every batch is published at once and the broker holds for the worker what it has not taken
    # yet: past Mosquitto's default of 1,000 queued messages a client it drops the rest ("Outgoing
    # messages are being dropped"), so a run of more batches would wait for receipts that never come.
    broker.append(f"max_queued_messages {max(1000, args.batches + PUBLISH_WINDOW)}")
    with tempfile.TemporaryDirectory(prefix="furrow-bench-") as t, MosquittoServer(extra_config=broker) as mosq, \
            InfluxDB1Server() as influx, PostgresServer() as pg:
        tmp = Path(t)
        raw_rates: list[float] = []
        rates: dict[tuple, list[float]] = {v: [] for v in variants}
        per_cpu: dict[tuple, list[float | None]] = {v: [] for v in variants}
        for rnd in range(args.rounds if variants else 0):
            influx.create_database(f"raw{rnd}")
            raw_rates.append(await raw_write(influx, f"raw{rnd}", readings))
            print(f"round {rnd + 1}: raw /write {raw_rates[-1]:,.0f} readings/s", flush=True)
            for n, k, m in variants:
                name = f"w{n}k{k}m{m}r{rnd}"
                pg.create_database(name)
                rate, cpu = await through_workers(tmp, influx, name, mosq, raw, n, pg.url(name), len(readings), k, m)
                rates[n, k, m].append(rate)
                per_cpu[n, k, m].append(cpu)
                print(f"round {rnd + 1}: {n} worker(s), {k} in flight, merge {m}: {rate:,.0f} readings/s "
                      f"(raw /write {raw_rates[-1]:,.0f}, {rate / raw_rates[-1]:.0%}); "
                      f"{_per_cpu(cpu)} readings per worker CPU s", flush=True)
        caches = [int(x) for x in args.chart_cache.split(",")]
        chart = (await zone_chart(tmp, influx, args.days, args.queries, args.zones, caches, args.farm_cache)
                 if args.queries else None)
    raw_rate = statistics.median(raw_rates) if raw_rates else 0
    shares = {v: [r / raw_rates[i] for i, r in enumerate(rs)] for v, rs in rates.items()}

    print(f"\n{len(raw)} batches x {args.items} reports x 6 readings = {len(readings):,} readings\n")
    print("| path | readings/s (each round) | raw limit (InfluxDB /write, 5,000 lines/request) | share "
          "| per worker CPU s |")
    print("|---|---|---|---|---|")
    raws = " / ".join(f"{r:,.0f}" for r in raw_rates)
    for (n, k, m), rs in rates.items():
        path = "MQTT -> 1 worker process" if n == 1 else f"MQTT $share -> {n} worker processes"
        merged = f"merged writes up to {m:,} readings" if m else "one write per batch"
        print(f"| {path} ({k} in flight, {merged}) -> InfluxDB | {' / '.join(f'{r:,.0f}' for r in rs)} | {raws} | "
              f"{' / '.join(f'{x:.0%}' for x in shares[n, k, m])} | "
              f"{' / '.join(_per_cpu(c) for c in per_cpu[n, k, m])} |")
    out = {"readings": len(readings), "raw_write_readings_s": round(raw_rate),
           **{f"workers_{n}_in_flight_{k}" + ("" if m else "_unmerged"): {
               "readings_s": round(statistics.median(rs)), "share": round(statistics.median(shares[n, k, m]), 3),
               "readings_per_worker_cpu_s": _median(per_cpu[n, k, m]), "merge_readings": m,
               "rounds": [round(r) for r in rs]} for (n, k, m), rs in rates.items()}}
    if chart is not None:
        print(f"\nzone chart: {args.zones * NODES_PER_ZONE:,} registered nodes, {chart['points'][0]:,} vwc points "
              f"loaded (zone z000: 10 probes x 2 depths x {args.days} days at 15 min; others 1 day); "
              f"{args.queries} queries each; rolling the range up took {chart['points'][1]:.1f} s\n")
        zones_read, took, rows, mb = chart["farm_warm_up"]
        print(f"farm: {args.zones} zones with {args.days} days each ({chart['farm_rows'][0]:,} roll-up rows copied "
              f"from z000 in {chart['farm_rows'][1]:.1f} s); warm-up at {args.farm_cache:,} cache rows "
              f"read {zones_read} zones, {rows:,} rows, in {took:.1f} s, RSS +{mb:.0f} MB. "
              "'farm' asks a different zone each query of that cache; 'cold zone' the same zones of an empty cache "
              "(its roll-up rows as MessagePack); 'cold zone json' the same asked as JSON, as before 2026-12-08\n")
        if "warm_up" in chart:
            zones_read, took, rows = chart["warm_up"]
            print(f"warm-up (cloud/chart_warmup.py, {args.days} days of every zone's soil chart): {zones_read} zones, "
                  f"{rows:,} rows, {took:.1f} s; the 'warmed' rows below chart from that cache (its first query "
                  "is the first after a start)\n")
        print("| chart | window | values | cache rows | API first (cold) ms | API median ms | API p95 ms "
              "| raw InfluxQL over raw points, median ms | p95 ms | the store's roll-up query alone, median ms |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for name, path, window in CHARTS:
            n, modes, r50, r95, q50 = chart[name]
            for mode, (first, a50, a95) in modes.items():
                print(f"| {path} | {window} | {n:,} | {mode} | {first:.1f} | {a50:.1f} | {a95:.1f} | {r50:.1f} "
                      f"| {r95:.1f} | {q50:.1f} |")
        out["chart_points"] = chart["points"][0]
        out["chart_farm"] = dict(zip(("zones", "seconds", "rows", "rss_mb"), chart["farm_warm_up"], strict=True))
        out["chart_farm"]["cache_rows"] = args.farm_cache
        out["chart_farm"]["rollup_rows_copied"] = chart["farm_rows"][0]
        for name, _, _ in CHARTS:
            n, modes, r50, r95, q50 = chart[name]
            last = modes[str(caches[-1])]  # the last cache size named (the default's) at the top level
            out[f"chart_{name}"] = {
                "values": n, "api_median_ms": round(last[1], 1), "api_p95_ms": round(last[2], 1),
                "raw_median_ms": round(r50, 1), "raw_p95_ms": round(r95, 1), "rollup_query_median_ms": round(q50, 1),
                "share": round(r50 / last[1], 3),
                "by_cache_rows": {mode: {"api_first_ms": round(f, 1), "api_median_ms": round(a, 1),
                                         "api_p95_ms": round(p, 1), "share": round(r50 / a, 3)}
                                  for mode, (f, a, p) in modes.items()}}
        if "warm_up" in chart:
            out["chart_warm_up"] = dict(zip(("zones", "seconds", "rows"), chart["warm_up"], strict=True))
    # the machine's load beside the figures (shared: they move with it), and this process's memory, which
    # is the cloud app's (in-process) with every chart cache the run made still referenced
    out["load_avg"] = [round(x, 2) for x in os.getloadavg()]
    out["rss_mb"] = round(psutil.Process().memory_info().rss / 1e6)
    print(json.dumps(out))


if __name__ == "__main__":
    asyncio.run(main())
