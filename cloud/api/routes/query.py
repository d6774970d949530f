"""Query API: aggregated series, zone summary, node health, export (CSV, line protocol)."""

import csv
import heapq
import io
import re
from datetime import UTC, datetime
from itertools import islice
from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse, Response
from pydantic import BaseModel, Field

from furrow.edge.errors import ContractError
from furrow.edge.measurements import MEASUREMENTS
from furrow.edge.topics import check_id

from ..._time import parse_instant
from ...alerts.models import AlertState
from ...commands import CommandState
from ...errors import NotFound
from ...node_routes import NodeRoutes
from ...planning import zone_water
from ...registry import NODES, Registry
from ...storage import AGGREGATES, Bucket, Reading
from ...storage._table import rows_of
from ...storage.lineprotocol import to_lines
from ...tenancy import org_nodes
from ..deps import AlertsDep, ClockDep, CommandsDep, Reader, RegistryDep, RoutesDep, ServicesDep, StoreDep
from ..json_body import JsonRoute
from ..schemas import NodeOut, ProblemResponse

router = APIRouter(tags=["query"], route_class=JsonRoute)

DAY_MS = 24 * 3600 * 1000
MAX_WINDOWS = 20_000
EXPORT_LIMIT = 200_000
_UNITS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": DAY_MS}


def parse_window(text: str) -> int:
    """Milliseconds from '30s', '15m', '1h', '1d' (ContractError naming `window` otherwise)."""
    m = re.fullmatch(r"(\d{1,6})([smhd])", text.strip())
    if not m or int(m.group(1)) == 0:
        raise ContractError("window", text, "must be a whole number and a unit: 30s, 15m, 1h, 1d")
    return int(m.group(1)) * _UNITS[m.group(2)]


def _range(start: str | None, end: str | None, default_ms: int, now_ms: int) -> tuple[int, int]:
    end_ms = parse_instant("end", end) if end is not None else now_ms
    start_ms = parse_instant("start", start) if start is not None else end_ms - default_ms
    if start_ms >= end_ms:
        raise ContractError("start", start, "must be before end")
    return start_ms, end_ms


class BucketOut(BaseModel):
    node: str
    measurement: str
    depth_cm: int | None
    channel: int | None
    time_ms: int = Field(description="start of the window")
    value: float | None
    count: int


Start = Annotated[str | None, Query(description="ISO 8601 or Unix ms; default end - 7 d",
                                    examples=["2026-06-01T00:00:00Z"])]
End = Annotated[str | None, Query(description="ISO 8601 or Unix ms (exclusive); default now")]


async def _zone_nodes(registry: Registry, zone: str) -> list[str]:
    """The registered nodes of `zone`; NotFound (404) naming it when there is no such zone."""
    await registry.get_zone(check_id("zone", zone))
    return [n.id for n in await registry.nodes_of_zone(zone)]


async def _known_node(routes: NodeRoutes, registry: Registry, node: str) -> str:
    """`node` when it is registered or has been heard; NotFound (404) naming it otherwise."""
    check_id("node", node)
    if await routes.get(node) is None:
        try:
            await registry.get(NODES, node)
        except NotFound:
            raise NotFound("node", node, "neither registered nor heard") from None
    return node


@router.get("/series", response_model=list[BucketOut], responses={404: {"model": ProblemResponse,
                                                                        "description": "no such zone"}})
async def series(
    store: StoreDep,
    registry: RegistryDep,
    clock: ClockDep,
    _: Reader,
    measurement: Annotated[str, Query(examples=["vwc_pct"])],
    node: Annotated[list[str] | None, Query(description="one or more nodes")] = None,
    zone: Annotated[str | None, Query(description="every registered node of this zone")] = None,
    start: Start = None,
    end: End = None,
    window: Annotated[str, Query(description="aggregation window", examples=["1h", "1d"])] = "1h",
    fn: Annotated[Literal["mean", "min", "max", "sum", "count"], Query()] = "mean",
) -> Response:
    """A time series per sensor, aggregated per window (InfluxQL GROUP BY time on
    InfluxDB, SQL on SQLite), for nodes or a zone's nodes. Example: a zone's soil
    moisture by depth, daily means over a season:
    `/series?zone=north-1&measurement=vwc_pct&window=1d&start=2026-04-01`."""
    assert fn in AGGREGATES
    if measurement not in MEASUREMENTS:
        raise ContractError("measurement", measurement, "unknown measurement")
    nodes = [check_id("node", n) for n in (node or [])]
    if zone is not None:
        nodes += await _zone_nodes(registry, zone)
    if not nodes:
        raise ContractError("zone" if zone is not None else "node", zone,
                            "give node (one or more) or a zone with registered nodes" if zone is None
                            else "the zone has no registered nodes")
    window_ms = parse_window(window)
    start_ms, end_ms = _range(start, end, 7 * DAY_MS, clock())
    if (end_ms - start_ms) // window_ms > MAX_WINDOWS:
        raise ContractError("window", window, f"gives more than {MAX_WINDOWS} windows over this range")
    nodes = sorted(set(nodes))
    as_table = getattr(store, "aggregate_table", None)
    if as_table is not None:  # from the arrays of its chart cache, without a Bucket per window
        table = await as_table(nodes, measurement, start_ms, end_ms, window_ms, fn)
        return Response(orjson.dumps(rows_of(table, measurement)), media_type="application/json")
    buckets = await store.aggregate(nodes, measurement, start_ms, end_ms, window_ms, fn)
    return Response(series_json(buckets), media_type="application/json")


def series_json(buckets: list[Bucket]) -> bytes:
    """`buckets` as the JSON of ``list[BucketOut]``, written by orjson straight from the dataclasses
    (the same keys in the same order; a test checks it against pydantic's). Validating and
    serialising 43,200 hourly buckets of a 90-day zone chart through the response model took
    longer than InfluxDB's query (docs/performance.md, "Zone charts")."""
    return orjson.dumps(buckets)  # rows_of(table) gives the same bytes: a test checks it


class DepthWater(BaseModel):
    node: str
    depth_cm: int | None
    vwc_pct: float | None
    ts_ms: int


class ZoneSummary(BaseModel):
    zone: str
    field_capacity_pct: float
    wilting_point_pct: float
    root_depth_cm: float
    probes: list[DepthWater] = Field(description="newest soil moisture per probe depth within the root zone")
    root_zone_vwc_pct: float | None = Field(description="mean of the probes within the root zone")
    total_available_water_mm: float = Field(description="TAW = (FC - WP) x root depth (FAO-56 eq. 82)")
    depletion_mm: float | None = Field(description="(FC - measured) x root depth, from the probes alone")
    last_irrigation: dict | None
    next_irrigation: dict | None
    alerts: list[dict] = Field(description="the zone's unresolved alerts, most severe first: "
                               "{id, kind, severity, message, acknowledged_by} (details: /alerts?zone=)")
    source: str = Field(description="what the water figures come from")


@router.get("/zones/{zone}/summary", response_model=ZoneSummary,
            responses={404: {"model": ProblemResponse}})
async def zone_summary(zone: str, registry: RegistryDep, store: StoreDep, commands: CommandsDep,
                       alerts: AlertsDep, clock: ClockDep, _: Reader) -> ZoneSummary:
    """Current root-zone water from the zone's probes, last and next irrigation, alerts."""
    z = await registry.get_zone(zone)
    water = await zone_water(z, await registry.nodes_of_zone(zone), store)
    probes = [DepthWater(node=p.node, depth_cm=p.depth_cm, vwc_pct=p.vwc_pct, ts_ms=p.ts_ms) for p in water.probes]
    last = nxt = None
    now = clock()
    for c in await commands.recent(None, limit=1000):
        if c.zone != zone:
            continue
        brief = {"id": c.id, "state": c.state, "not_before_ms": c.not_before_ms, "duration_s": c.duration_s,
                 "amount_mm": c.amount_mm, "origin": c.origin}
        if c.state in (CommandState.COMPLETED, CommandState.ABORTED, CommandState.STARTED) and last is None:
            last = brief
        if c.state in (CommandState.CREATED, CommandState.SENT, CommandState.RECEIVED) and c.expires_ms > now:
            if nxt is None or c.not_before_ms < nxt["not_before_ms"]:
                nxt = brief
    unresolved = [a for state in (AlertState.OPEN, AlertState.ACKNOWLEDGED)
                  for a in await alerts.list(state=state, zone=zone)]
    unresolved.sort(key=lambda a: (-a.severity.level, -a.first_ms))
    zone_alerts = [{"id": a.id, "kind": a.kind, "severity": a.severity.value, "message": a.message,
                    "acknowledged_by": a.acknowledged_by} for a in unresolved]
    return ZoneSummary(zone=zone, field_capacity_pct=z.field_capacity_pct, wilting_point_pct=z.wilting_point_pct,
                       root_depth_cm=z.root_depth_cm, probes=probes, root_zone_vwc_pct=water.root_zone_vwc_pct,
                       total_available_water_mm=water.taw_mm, depletion_mm=water.depletion_mm, last_irrigation=last,
                       next_irrigation=nxt, alerts=zone_alerts,
                       source="probes only (the modelled, probe-corrected balance: /zones/{zone}/balance)")


class NodeHealth(NodeOut):
    registered: bool
    zone_id: str | None = None
    firmware_registered: str | None = None
    silent_for_ms: int | None = None


@router.get("/nodes/{node}/health", response_model=NodeHealth, responses={404: {"model": ProblemResponse}})
async def node_health(node: str, routes: RoutesDep, registry: RegistryDep, clock: ClockDep,
                      _: Reader) -> NodeHealth:
    """Last seen, battery, signal, firmware and sensor faults of the newest report."""
    check_id("node", node)
    route = await routes.get(node)
    try:
        reg = await registry.get(NODES, node)
    except NotFound:
        reg = None
    if route is None and reg is None:
        raise NotFound("node", node, "neither registered nor heard")
    base = dict(node=node, site=route.site if route else "", gateway=route.gateway if route else "",
                last_seen_ms=route.last_seen_ms if route else 0)
    if route is not None:
        base.update(seq=route.seq, fw=route.fw, bat_v=route.bat_v, rssi_dbm=route.rssi_dbm, faults=list(route.faults))
    return NodeHealth(**base, registered=reg is not None, zone_id=reg.zone_id if reg else None,
                      firmware_registered=reg.firmware if reg else None,
                      silent_for_ms=(clock() - route.last_seen_ms) if route else None)


# The route's class stays JSON, so its errors are documented as JSON like every other; the
# export itself is text.
@router.get("/export", response_model=None,
            responses={200: {"description": "the readings", "content": {"text/csv": {"schema": {"type": "string"}},
                                                                        "text/plain": {"schema": {"type": "string"}}}},
                       404: {"model": ProblemResponse, "description": "no such node or zone"}})
async def export(
    store: StoreDep,
    routes: RoutesDep,
    registry: RegistryDep,
    clock: ClockDep,
    who: Reader,
    services: ServicesDep,
    node: Annotated[str | None, Query(description="one node (404 if neither registered nor heard)")] = None,
    zone: Annotated[str | None, Query(description="every registered node of this zone (404 if none such)")] = None,
    measurement: str | None = None,
    start: Start = None,
    end: End = None,
    format: Annotated[Literal["csv", "lp"], Query(description="csv, or InfluxDB line protocol")] = "csv",
) -> PlainTextResponse:
    """Raw readings of a node, a zone or the whole farm, oldest first, as CSV (a `time` column
    in ISO 8601 UTC beside `ts_ms`, and the gateway's quality `flags`) or as line protocol (ns
    timestamps, the same points InfluxDB holds); at most 200,000 rows."""
    if node is not None and zone is not None:
        raise ContractError("zone", zone, "give node or zone, not both")
    if measurement is not None and measurement not in MEASUREMENTS:
        raise ContractError("measurement", measurement, "unknown measurement")
    nodes: list[str | None] = sorted(await services.db.run(lambda s: org_nodes(s, who.organisation)))  # the farm
    if node is not None:
        nodes = [await _known_node(routes, registry, node)]
    elif zone is not None:
        nodes = list(await _zone_nodes(registry, zone))
    start_ms, end_ms = _range(start, end, DAY_MS, clock())
    per_node = [await store.query(n, measurement, start_ms, end_ms, EXPORT_LIMIT) for n in nodes]
    rows = list(islice(heapq.merge(*per_node, key=lambda r: r.ts_ms), EXPORT_LIMIT))
    if format == "lp":
        return PlainTextResponse("\n".join(to_lines(rows)) + ("\n" if rows else ""), media_type="text/plain")
    return PlainTextResponse(export_csv(rows), media_type="text/csv")


CSV_COLUMNS = ("time", "ts_ms", "site", "gateway", "node", "role", "measurement", "unit", "depth_cm", "channel",
               "value", "fault", "flags", "seq", "rx_ms")


def iso_time(ms: int) -> str:
    """2026-01-01T06:00:00.000Z: ISO 8601 in UTC, to the millisecond (what spreadsheets read)."""
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def export_csv(rows: list[Reading]) -> str:
    """The CSV export: one row per stored value, `flags` space-separated (clock_corrected ...)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for r in rows:
        w.writerow([iso_time(r.ts_ms), r.ts_ms, r.site, r.gateway, r.node, r.role, r.measurement, r.unit,
                    "" if r.depth_cm is None else r.depth_cm, "" if r.channel is None else r.channel,
                    "" if r.value is None else r.value, r.fault or "", " ".join(r.flags), r.seq,
                    "" if r.rx_ms is None else r.rx_ms])
    return buf.getvalue()
