"""The alert job's cost per evaluation against the number of nodes, on a real InfluxDB 1.x.

For each node count N: a fresh database holds `--reports` soil reports (6 readings each, one a
minute over the last hours) of each of N nodes, every node heard (node routes) and registered in
zones of 10; one cloud instance (relational data on SQLite, no MQTT) then runs the alert
evaluation `--rounds` times. Printed per N: wall and CPU (this process: the cloud side) per
evaluation, and the InfluxDB queries each made; beside the raw limit of the same run, one InfluxDB
`SELECT * ... GROUP BY * ORDER BY time DESC LIMIT 1` for one node (what a per-node `latest` costs).

    .venv/bin/python bench/alert_eval.py [--nodes 50,200,800] [--reports 100] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from furrow.cloud.app import create_app  # noqa: E402
from furrow.cloud.registry import FIELDS, NODES, SITES, ZONES, FieldIn, NodeIn, SiteIn, ZoneIn  # noqa: E402
from furrow.cloud.settings import Settings  # noqa: E402
from furrow.cloud.storage import Reading  # noqa: E402
from furrow.cloud.storage.lineprotocol import to_lines  # noqa: E402
from tests.servers import InfluxDB1Server  # noqa: E402

SITE, GW = "bench", "gw-bench"
DEPTHS = (10, 30, 60)
NOW_MS = time.time_ns() // 1_000_000


def readings(nodes: int, reports: int) -> list[Reading]:
    out = []
    for k in range(nodes):
        node = f"soil-{k:04d}"
        for seq in range(reports):
            ts = NOW_MS - (reports - seq) * 60_000
            for d in DEPTHS:
                out.append(Reading(SITE, GW, node, "soil", "vwc_pct", "%", d, None, 20 + (seq % 50) / 10, None,
                                   seq, ts, ts + 500))
                out.append(Reading(SITE, GW, node, "soil", "soil_temp_c", "C", d, None, 15 + (seq % 30) / 10,
                                   None, seq, ts, ts + 500))
    return out


async def load(influx: InfluxDB1Server, db: str, points: list[Reading]) -> None:
    influx.create_database(db)
    lines = to_lines(points)
    async with httpx.AsyncClient(base_url=influx.url, timeout=120) as http:
        for i in range(0, len(lines), 5000):
            r = await http.post("/write", params={"db": db, "precision": "ns"},
                                content="\n".join(lines[i:i + 5000]).encode())
            assert r.status_code == 204, r.text


async def one_latest(influx: InfluxDB1Server, db: str, rounds: int = 20) -> float:
    """Seconds of one per-node `latest` query, InfluxDB alone (the median of `rounds`)."""
    q = ('SELECT * FROM "vwc_pct","soil_temp_c" WHERE "node" = \'soil-0000\' GROUP BY * ORDER BY time DESC LIMIT 1')
    took = []
    async with httpx.AsyncClient(base_url=influx.url, timeout=60) as http:
        for _ in range(rounds):
            began = time.perf_counter()
            r = await http.get("/query", params={"db": db, "q": q, "epoch": "ms"})
            r.raise_for_status()
            took.append(time.perf_counter() - began)
    return statistics.median(took)


async def evaluations(tmp: Path, influx: InfluxDB1Server, db: str, nodes: int, rounds: int) -> dict:
    settings = Settings(storage="influxdb1", influx_url=influx.url, influx_database=db, data_dir=tmp / db,
                        mqtt_enabled=False, secret_key="bench-secret-key-0123456789", alerts_interval_s=86_400)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        services = app.state.services
        reg = services.registry
        await reg.create(SITES, SiteIn(id=SITE, name=SITE, lat=36.0, lon=117.0, timezone="Asia/Shanghai"))
        await reg.create(FIELDS, FieldIn(id="f1", site_id=SITE, name="f1", area_ha=1.0))
        for z in range((nodes + 9) // 10):
            await reg.create(ZONES, ZoneIn(id=f"z{z:03d}", field_id="f1", name=f"z{z}", area_ha=1.0,
                                           soil_texture="loam", field_capacity_pct=31.0, wilting_point_pct=14.0,
                                           root_depth_cm=60,
                                           crop="maize", precip_rate_mm_h=5.0))
        for k in range(nodes):
            await reg.create(NODES, NodeIn(id=f"soil-{k:04d}", zone_id=f"z{k // 10:03d}", role="soil",
                                           depths_cm=list(DEPTHS)))
        await services.routes.record(SITE, GW, {f"soil-{k:04d}": NOW_MS - 60_000 for k in range(nodes)})
        store = services.store
        queries = 0
        ask = store._query

        async def counted(q: str, **kw):  # noqa: ANN202 - the store's own signature
            nonlocal queries
            queries += 1
            return await ask(q, **kw)

        store._query = counted
        walls, cpus, counts = [], [], []
        for _ in range(rounds):
            queries = 0
            began, cpu = time.perf_counter(), time.process_time()
            out = await services.alerts.evaluate()
            walls.append(time.perf_counter() - began)
            cpus.append(time.process_time() - cpu)
            counts.append(queries)
        return {"nodes": nodes, "wall_s": statistics.median(walls), "cpu_s": statistics.median(cpus),
                "queries": statistics.median(counts), "open": out.open}


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", default="50,200,800")
    ap.add_argument("--reports", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    figures = {"reports_per_node": args.reports, "runs": []}
    with tempfile.TemporaryDirectory(prefix="furrow-alert-eval-") as tmp, InfluxDB1Server() as influx:
        for n in (int(x) for x in args.nodes.split(",")):
            db = f"alerts{n}"
            await load(influx, db, readings(n, args.reports))
            raw = await one_latest(influx, db)
            run = await evaluations(Path(tmp), influx, db, n, args.rounds)
            run["one_latest_query_s"] = raw
            figures["runs"].append(run)
            print(f"  {n:5d} nodes: {run['wall_s'] * 1000:8.0f} ms wall, {run['cpu_s'] * 1000:7.0f} ms CPU per "
                  f"evaluation, {run['queries']:5.0f} InfluxDB queries; one per-node latest query alone "
                  f"{raw * 1000:.1f} ms", flush=True)
    print(json.dumps(figures))


if __name__ == "__main__":
    asyncio.run(main())
