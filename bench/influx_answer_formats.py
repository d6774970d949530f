"""The cold-zone chart's InfluxDB read in each answer format InfluxDB 1.x offers, on a real influxd.

A zone the chart cache does not hold yet is read with one query of the hourly roll-up (the store's
``_closed_rows``: sum, n, min, max of 10 probes x 2 depths over 90 days, 43,200 rows), then made into
the cache's numpy columns (``Block.of_series``). This starts its own InfluxDB 1.x as the test fixtures
do, loads that roll-up, and times, interleaved round by round so each format meets the same load:

  query     GET /query until the whole answer is in (InfluxDB's work and the transfer)
  parse     the answer into the store's series lists (orjson, msgpack or csv)
  columns   Block.of_series of every node (the same for each format)

for each format: JSON with epoch=ms (what the store asks today), JSON with epoch=s, JSON chunked
(chunk_size 10,000), MessagePack (Accept: application/x-msgpack) and CSV (Accept: application/csv).
Every format's columns are checked equal to JSON's.

    .venv/bin/python bench/influx_answer_formats.py [--rounds 15] [--days 90]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import os
import statistics
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import orjson
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from furrow.cloud.storage.influx1_cache import Block  # noqa: E402
from tests.servers import InfluxDB1Server  # noqa: E402

try:
    import msgpack
except ImportError:  # the format is then left out
    msgpack = None
try:
    import ormsgpack
except ImportError:
    ormsgpack = None

DB, POLICY, HOUR = "formats", "furrow_hourly", 3_600_000
NODES, DEPTHS = [f"soil-000-{i}" for i in range(10)], (10, 30)


def load(influx: InfluxDB1Server, days: int, end_ms: int) -> None:
    influx.create_database(DB)
    influx.query(DB, f'CREATE RETENTION POLICY "{POLICY}" ON "{DB}" DURATION INF REPLICATION 1')
    lines = []
    for node in NODES:
        for d in DEPTHS:
            for h in range(days * 24):
                t = end_ms - (days * 24 - h) * HOUR
                v = 20 + ((h * 7 + d) % 50) / 10
                lines.append(f"vwc_pct,site=bench,gateway=gw-bench,node={node},depth_cm={d},kind=soil,unit=pct "
                             f"sum={v * 4},n=4i,min={v - 0.3},max={v + 0.25} {t * 1_000_000}")
    for i in range(0, len(lines), 5000):
        with httpx.Client(base_url=influx.url, timeout=60) as c:
            r = c.post("/write", params={"db": DB, "rp": POLICY, "precision": "ns"},
                       content="\n".join(lines[i:i + 5000]).encode())
            assert r.status_code == 204, r.text


def from_json(body: bytes, scale: int) -> list[dict]:
    series = orjson.loads(body)["results"][0].get("series") or []
    if scale != 1:
        for s in series:
            for row in s["values"]:
                row[0] *= scale
    return series


def from_chunks(body: bytes) -> list[dict]:
    """chunked=true: one JSON document a line, a series split over several (``partial``)."""
    out: list[dict] = []
    for line in body.splitlines():
        if not line:
            continue
        for s in orjson.loads(line)["results"][0].get("series") or []:
            if out and out[-1].get("tags") == s.get("tags") and out[-1]["name"] == s["name"]:
                out[-1]["values"] += s["values"]
            else:
                out.append(s)
    return out


async def streamed(http: httpx.AsyncClient, params: dict) -> tuple[list[dict], int, float]:
    """chunked=true read line by line as InfluxDB sends it; (series, bytes, seconds spent parsing)."""
    out: list[dict] = []
    size, parse_s = 0, 0.0
    async with http.stream("GET", "/query", params=params) as resp:
        assert resp.status_code == 200, resp.status_code
        async for line in resp.aiter_lines():
            size += len(line) + 1
            t = time.perf_counter()
            if line:
                for s in orjson.loads(line)["results"][0].get("series") or []:
                    if out and out[-1].get("tags") == s.get("tags") and out[-1]["name"] == s["name"]:
                        out[-1]["values"] += s["values"]
                    else:
                        out.append(s)
            parse_s += time.perf_counter() - t
    return out, size, parse_s


def from_msgpack(body: bytes) -> list[dict]:
    return msgpack.unpackb(body, raw=False)["results"][0].get("series") or []


def from_csv(body: bytes) -> list[dict]:
    out: dict[str, dict] = {}
    reader = csv.reader(io.StringIO(body.decode()))
    header = next(reader)
    at = {c: i for i, c in enumerate(header)}
    for row in reader:
        if not row:
            continue
        tags = row[at["tags"]]
        s = out.get(tags)
        if s is None:
            s = out[tags] = {"tags": dict(kv.split("=", 1) for kv in tags.split(",") if kv), "values": []}
        s["values"].append([int(row[at["time"]]), float(row[at["sum"]]), int(row[at["n"]]), float(row[at["min"]]),
                            float(row[at["max"]])])
    return list(out.values())


def columns(series: list[dict], lo: int, hi: int) -> dict[str, Block]:
    per: dict[str, list] = {}
    for s in series:
        tags = s.get("tags") or {}
        per.setdefault(tags.get("node", ""), []).append(
            (tags.get("depth_cm") or None, tags.get("channel") or None, s.get("values") or []))
    return {node: Block.of_series(lo, hi, HOUR, rows) for node, rows in per.items()}


def _same(a: dict[str, Block], b: dict[str, Block]) -> bool:
    return a.keys() == b.keys() and all(
        a[k].sensors == b[k].sensors and all(np.array_equal(getattr(a[k], f), getattr(b[k], f))
                                             for f in ("total", "n", "low", "high")) for k in a)


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--formats", default="", help="names to time, comma-separated (default: all)")
    args = ap.parse_args()
    end = (time.time_ns() // 1_000_000) // HOUR * HOUR
    lo, hi = end - args.days * 24 * HOUR, end
    which = " OR ".join(f"\"node\" = '{n}'" for n in NODES)
    q = (f'SELECT "sum", "n", "min", "max" FROM "{POLICY}"."vwc_pct" WHERE time >= {lo}ms AND time < {hi}ms '
         f'AND ({which}) GROUP BY "node", "depth_cm", "channel"')
    formats = {  # name: (params, headers, parse)
        "json epoch=ms": ({"epoch": "ms"}, {}, lambda b: from_json(b, 1)),
        "json epoch=s": ({"epoch": "s"}, {}, lambda b: from_json(b, 1000)),
        "json chunked 10000": ({"epoch": "ms", "chunked": "true", "chunk_size": "10000"}, {}, from_chunks),
        "json epoch=h": ({"epoch": "h"}, {}, lambda b: from_json(b, HOUR)),
        "json chunked 10000 streamed": ({"epoch": "ms", "chunked": "true", "chunk_size": "10000"}, {},
                                                 "stream"),
        "json chunked 2000 streamed": ({"epoch": "ms", "chunked": "true", "chunk_size": "2000"}, {},
                                                "stream"),
        "json as two queries of 5 nodes at once": ({"epoch": "ms"}, {}, "halves"),
        "csv": ({"epoch": "ms"}, {"Accept": "application/csv"}, from_csv),
    }
    if msgpack is not None:
        formats["msgpack"] = ({"epoch": "ms"}, {"Accept": "application/x-msgpack"}, from_msgpack)
    if ormsgpack is not None:
        formats["msgpack (ormsgpack)"] = ({"epoch": "ms"}, {"Accept": "application/x-msgpack"},
                                          lambda b: ormsgpack.unpackb(b)["results"][0].get("series") or [])
    # the raw limits, timed in the same rounds (query only): InfluxDB reading the same points and answering
    # 20 rows, and the same rows with two of the four columns
    refs = {"limit: count only (20 rows)": q.replace('"sum", "n", "min", "max"', 'count("sum")'),
            "limit: sum, n only": q.replace('"sum", "n", "min", "max"', '"sum", "n"')}
    if args.formats:
        formats = {f: formats[f] for f in args.formats.split(",")}
    times = {f: {"query": [], "parse": [], "columns": [], "influxd_cpu": [], "bytes": 0} for f in formats}
    with InfluxDB1Server() as influx:
        load(influx, args.days, end)
        server = psutil.Process(influx.pid)  # influxd's CPU time per answer: its work, less moved by load
        async with httpx.AsyncClient(base_url=influx.url, timeout=60) as http:
            expect = None
            for r in range(args.rounds + 1):  # round 0 warms InfluxDB's caches and is not counted
                order = list(formats) if r % 2 == 0 else list(formats)[::-1]
                for name in order + list(refs):
                    if name in refs:
                        t0 = time.perf_counter()
                        resp = await http.get("/query", params={"db": DB, "q": refs[name], "epoch": "ms"})
                        assert resp.status_code == 200 and b'"error"' not in resp.content, resp.content[:200]
                        if r:
                            times.setdefault(name, {"query": [], "bytes": 0})["query"].append(
                                (time.perf_counter() - t0) * 1000)
                            times[name]["bytes"] = len(resp.content)
                        continue
                    params, headers, parse = formats[name]
                    c0 = server.cpu_times()
                    t0 = time.perf_counter()
                    if parse == "halves":  # two queries of five nodes each, at once
                        qs = [q.replace(f"({which})", "(" + " OR ".join(f"\"node\" = '{n}'" for n in part) + ")")
                              for part in (NODES[:5], NODES[5:])]
                        answers = await asyncio.gather(*(http.get("/query", params={"db": DB, "q": x, **params})
                                                         for x in qs))
                        t1 = time.perf_counter()
                        resp, body = answers[0], b"x" * sum(len(a.content) for a in answers)
                        series = [s for a in answers for s in from_json(a.content, 1)]
                        t2 = time.perf_counter()
                    elif parse == "stream":  # each chunk parsed while InfluxDB makes the next
                        series, size, parse_s = await streamed(http, {"db": DB, "q": q, **params})
                        t2 = time.perf_counter()
                        t1 = t2 - parse_s
                        resp, body = None, b"x" * size
                    else:
                        resp = await http.get("/query", params={"db": DB, "q": q, **params}, headers=headers)
                        body = resp.content
                        t1 = time.perf_counter()
                        assert resp.status_code == 200, (name, resp.status_code, body[:200])
                        series = parse(body)
                        t2 = time.perf_counter()
                    c1 = server.cpu_times()
                    blocks = columns(series, lo, hi)
                    t3 = time.perf_counter()
                    if expect is None:
                        expect = blocks
                    assert _same(blocks, expect), f"{name}: the columns differ from JSON's"
                    if r:
                        t = times[name]
                        t["query"].append((t1 - t0) * 1000)
                        t["parse"].append((t2 - t1) * 1000)
                        t["columns"].append((t3 - t2) * 1000)
                        t["influxd_cpu"].append((c1.user + c1.system - c0.user - c0.system) * 1000)
                        t["bytes"] = len(body)
                        t["content_type"] = resp.headers.get("content-type") if resp else "application/json"
    load_avg = os.getloadavg()
    rows = sum(b.n.astype(bool).sum() for b in expect.values())
    print(f"{rows} rows, {args.rounds} interleaved rounds, load {load_avg[0]:.2f} {load_avg[1]:.2f} {load_avg[2]:.2f}")
    print("| format | answer bytes | query ms (median) | parse ms | columns ms | total ms (median, p90) "
          "| influxd CPU ms | total minus the first format's, same round (median) | rounds faster |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    base = None
    out = {"rows": int(rows), "rounds": args.rounds, "load": load_avg, "formats": {}}
    for name, t in times.items():
        if name in refs:
            print(f"| {name} | {t['bytes']:,} | {statistics.median(t['query']):.0f} | | | |")
            out["formats"][name] = {"bytes": t["bytes"], "query_ms": statistics.median(t["query"])}
            continue
        total = [a + b + c for a, b, c in zip(t["query"], t["parse"], t["columns"], strict=True)]
        med = {k: statistics.median(t[k]) for k in ("query", "parse", "columns", "influxd_cpu")}
        p90 = sorted(total)[int(0.9 * (len(total) - 1))]
        base = base or total
        diff = [a - b for a, b in zip(total, base, strict=True)]
        med["paired_diff"] = statistics.median(diff)
        med["rounds_faster"] = sum(d < 0 for d in diff) / len(diff)
        print(f"| {name} | {t['bytes']:,} | {med['query']:.0f} | {med['parse']:.0f} | {med['columns']:.0f} | "
              f"{statistics.median(total):.0f}, {p90:.0f} | {med['influxd_cpu']:.0f} | {med['paired_diff']:+.0f} | "
              f"{med['rounds_faster']:.0%} |")
        out["formats"][name] = {"bytes": t["bytes"], "content_type": t.get("content_type"),
                                **{f"{k}_ms": v for k, v in med.items()}, "total_ms": statistics.median(total),
                                "total_p90_ms": p90}
    print(json.dumps(out))


if __name__ == "__main__":
    asyncio.run(main())
