"""What the organisation checks cost a request, on an installation of one organisation and of several.

One app in this process (SQLite, no MQTT) with N registered nodes, asked over ASGI in turn, the order
rotating each round, in three modes:

  single        one organisation: the cached answer of ``SingleOrganisation`` (one EXISTS a second at most)
  single_query  one organisation, asking the database on every request (time to live 0)
  several       checked as with several organisations (every answer parsed and its ids looked up, every
                JSON body parsed): what every install did before 2026-12-07

for GET /api/v1/registry/nodes (a JSON list of N nodes) and POST /api/v1/ingest/batch (a gateway's batch
of --items soil reports). Per request: CPU microseconds of this process (time.process_time; the app,
the client and SQLite all run here) and the wall median. The raw limit beside them: the same request
routed without the checks' middleware (the app's stack minus TenantFilter), and json.loads of the answer.

    PYTHONPATH=. .venv/bin/python bench/tenancy_filter.py [--nodes 1000] [--items 50] [--requests 200]
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
from furrow.cloud.auth import Role  # noqa: E402
from furrow.cloud.registry import FIELDS, NODES, SITES, ZONES, FieldIn, NodeIn, SiteIn, ZoneIn  # noqa: E402
from furrow.cloud.settings import Settings  # noqa: E402
from furrow.cloud.tenancy._single import single_organisation  # noqa: E402
from furrow.edge.batch import make_batch, make_item  # noqa: E402
from furrow.edge.payload import make_reading, make_uplink  # noqa: E402

TOKEN = "fw_benchadmin_0123456789abcdefghijklmnopqrstuvwxyz"
T0 = 1_767_225_600_000
MODES = ("single", "single_query", "several")


def _mode(single, mode: str) -> None:  # noqa: ANN001
    single._several = mode == "several"
    single._ttl_s = 0.0 if mode == "single_query" else 1.0


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=1000)
    ap.add_argument("--items", type=int, default=50)
    ap.add_argument("--requests", type=int, default=200, help="per mode and request kind")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="furrow-bench-") as tmp:
        app = create_app(Settings(data_dir=Path(tmp), mqtt_enabled=False, secret_key="bench-secret-key-0123456789",
                                  bootstrap_admin_token=TOKEN))
        async with app.router.lifespan_context(app):
            services = app.state.services
            reg = services.registry
            await reg.create(SITES, SiteIn(id="demo", name="Bench farm"))
            await reg.create(FIELDS, FieldIn(id="f1", site_id="demo", name="Field"))
            await reg.create(ZONES, ZoneIn(id="z1", field_id="f1", name="Zone", area_ha=5, soil_texture="loam",
                                           field_capacity_pct=31, wilting_point_pct=14, root_depth_cm=60,
                                           crop="maize", precip_rate_mm_h=5))
            for n in range(args.nodes):
                await reg.create(NODES, NodeIn(id=f"soil-{n:04d}", role="soil", zone_id="z1"))
            gateway = (await services.tokens.issue("demo.gw-1", Role.GATEWAY, 1)).token
            single = single_organisation(services.db)
            plain = app.build_middleware_stack()
            # the raw limit: the same app without TenantFilter (the outermost user middleware is skipped
            # by building the stack from the router's own middleware list minus it)
            app.user_middleware = [m for m in app.user_middleware if m.cls.__name__ != "TenantFilter"]
            unfiltered = app.build_middleware_stack()
            app.middleware_stack = plain
            cpu: dict[tuple[str, str], list[float]] = {}
            wall: dict[tuple[str, str], list[float]] = {}
            seq = 0
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench",
                                         headers={"Authorization": f"Bearer {TOKEN}"}) as c:

                async def one(kind: str, mode: str) -> None:
                    nonlocal seq
                    seq += 1
                    if mode == "raw":
                        app.middleware_stack, m = unfiltered, "single"
                    else:
                        app.middleware_stack, m = plain, mode
                    _mode(single, m)
                    t, p = time.perf_counter(), time.process_time()
                    if kind == "nodes":
                        r = await c.get("/api/v1/registry/nodes")
                    else:
                        items = [make_item(make_uplink(f"soil-{i:04d}", "soil", seq, T0 + seq * 1000,
                                                       [make_reading("vwc_pct", 20.5, depth_cm=10)], "0.1.0"),
                                           T0 + seq * 1000 + 500) for i in range(args.items)]
                        r = await c.post("/api/v1/ingest/batch", json=make_batch("demo", "gw-1", f"gw-1-{seq:08d}",
                                                                                 T0 + seq * 1000 + 900, items),
                                         headers={"Authorization": f"Bearer {gateway}"})
                    cpu.setdefault((kind, mode), []).append((time.process_time() - p) * 1e6)
                    wall.setdefault((kind, mode), []).append((time.perf_counter() - t) * 1e3)
                    assert r.status_code == 200, r.text[:300]

                for kind in ("nodes", "ingest"):
                    order = [*MODES, "raw"]
                    for i in range(args.requests):
                        for mode in order[i % len(order):] + order[:i % len(order)]:
                            await one(kind, mode)
                body = (await c.get("/api/v1/registry/nodes")).content
                p = time.process_time()
                for _ in range(50):
                    json.loads(body)
                loads_us = (time.process_time() - p) / 50 * 1e6
    out: dict = {"nodes": args.nodes, "items": args.items, "requests": args.requests,
                 "json_loads_nodes_answer_us": round(loads_us)}
    print(f"{args.nodes} nodes, batches of {args.items} reports, {args.requests} requests per mode, interleaved\n")
    print("| request | mode | CPU µs per request (median) | wall ms (median) | share of the unchecked request's CPU |")
    print("|---|---|---:|---:|---:|")
    for kind in ("nodes", "ingest"):
        raw = statistics.median(cpu[kind, "raw"])
        for mode in (*MODES, "raw"):
            c50, w50 = statistics.median(cpu[kind, mode]), statistics.median(wall[kind, mode])
            print(f"| {kind} | {mode} | {c50:,.0f} | {w50:.2f} | {raw / c50:.0%} |")
            out[f"{kind}_{mode}"] = {"cpu_us": round(c50), "wall_ms": round(w50, 2), "share": round(raw / c50, 3)}
    print(f"\njson.loads of the nodes answer alone: {loads_us:,.0f} µs")
    print(json.dumps(out))


if __name__ == "__main__":
    asyncio.run(main())
