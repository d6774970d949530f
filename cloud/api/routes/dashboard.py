"""What the dashboard's zone page needs in one compact answer: soil moisture by depth over a
season, as columns.

``/series`` answers one object per sensor and window, which is right for general use but
for a season of 15-minute data (ten sensors x 90 days = 86,400 windows) costs more to
validate and serialise than the query itself. This route gives the same numbers as shared
time columns, the shape a time-series chart draws from, without a per-row model.

``window=auto`` lets the route pick the window: the finest of ``AUTO_WINDOWS`` that gives at
most ``points`` windows over the range. A chart a thousand pixels wide cannot show 8,640
points per sensor, so the zone page asks for about one window per pixel over 90 days (hourly
means, from the store's hourly roll-up) and for a finer window, down to the 15-minute reports,
over the span a person zooms into (``start``, ``end``).
"""

from __future__ import annotations

import time
from typing import Annotated

import orjson
from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field

from furrow.edge.errors import ContractError
from furrow.edge.measurements import MEASUREMENTS
from furrow.edge.topics import check_id

from ..._time import parse_instant
from ...storage import Bucket
from ...storage._table import Table
from ..deps import ClockDep, JobReader, Reader, RegistryDep, ServicesDep, StoreDep
from ..json_body import JsonRoute
from ..schemas import ProblemResponse
from .query import DAY_MS, MAX_WINDOWS, parse_window

router = APIRouter(tags=["dashboard"], route_class=JsonRoute)


# the windows `window=auto` chooses from, finest first: the report interval, then multiples of an
# hour (which the stores answer from their hourly roll-ups)
AUTO_WINDOWS = ("15m", "30m", "1h", "2h", "3h", "6h", "12h", "1d", "7d")


def auto_window(span_ms: int, points: int) -> int:
    """The finest of AUTO_WINDOWS giving at most `points` windows over `span_ms` (the coarsest otherwise)."""
    for text in AUTO_WINDOWS:
        window_ms = parse_window(text)
        if -(-span_ms // window_ms) <= points:
            return window_ms
    return parse_window(AUTO_WINDOWS[-1])


class SensorColumn(BaseModel):
    node: str
    depth_cm: int | None
    values: list[float | None] = Field(description="one per entry of times_ms; null: no reading in that window")


class ZoneColumns(BaseModel):
    zone: str
    measurement: str
    window_ms: int
    start_ms: int
    end_ms: int
    times_ms: list[int] = Field(description="window starts, oldest first, shared by every sensor")
    sensors: list[SensorColumn] = Field(description="by depth, then node")


def columns(buckets: list[Bucket]) -> tuple[list[int], list[dict]]:
    """Buckets -> (shared window starts, one value column per (node, depth))."""
    times = sorted({b.time_ms for b in buckets})
    index = {t: i for i, t in enumerate(times)}
    sensors: dict[tuple[str, int | None], list[float | None]] = {}
    for b in buckets:
        col = sensors.get((b.node, b.depth_cm))
        if col is None:
            col = sensors[(b.node, b.depth_cm)] = [None] * len(times)
        col[index[b.time_ms]] = None if b.value is None else round(b.value, 3)
    order = sorted(sensors, key=lambda k: (-1 if k[1] is None else k[1], k[0]))
    return times, [{"node": n, "depth_cm": d, "values": sensors[(n, d)]} for n, d in order]


def table_columns(table: Table) -> tuple[list[int], list[dict]]:
    """``columns`` of the buckets `table` holds, made from its arrays (the same lists: a test compares
    them): a sensor per (node, depth), a later channel's value replacing an earlier one's as a later
    bucket does there."""
    groups: dict[tuple[str, int | None], list[int]] = {}
    for j, (node, depth, _) in enumerate(table.sensors):
        groups.setdefault((node, depth), []).append(j)
    present = (table.count > 0).T.tolist()
    values = table.value.T.tolist()
    sensors: dict[tuple[str, int | None], list[float | None]] = {}
    for key, members in groups.items():
        members.sort(key=lambda j: (table.sensors[j][2] or -1, j))  # their buckets' order within a window
        first, *later = members
        col = [round(v, 3) if has and v == v else None for has, v in zip(present[first], values[first], strict=True)]
        for j in later:  # rare: one node, one depth, several channels
            for i, (has, v) in enumerate(zip(present[j], values[j], strict=True)):
                if has:
                    col[i] = None if v != v else round(v, 3)
        sensors[key] = col
    order = sorted(sensors, key=lambda k: (-1 if k[1] is None else k[1], k[0]))
    return table.times_ms.tolist(), [{"node": n, "depth_cm": d, "values": sensors[(n, d)]} for n, d in order]


@router.get("/zones/{zone_id}/columns", response_class=Response,
            responses={200: {"model": ZoneColumns}, 404: {"model": ProblemResponse}, 422: {"model": ProblemResponse}})
async def zone_columns(
    zone_id: str,
    store: StoreDep,
    registry: RegistryDep,
    clock: ClockDep,
    _: Reader,
    measurement: Annotated[str, Query(examples=["vwc_pct"])] = "vwc_pct",
    days: Annotated[int, Query(ge=1, le=366, description="the last `days`, when `start` is not given")] = 30,
    window: Annotated[str, Query(description="15m, 1h, ... or auto (see `points`)", examples=["15m", "auto"])] = "15m",
    points: Annotated[int, Query(ge=10, le=MAX_WINDOWS, description="window=auto: at most this many windows")] = 1000,
    start: Annotated[str | None, Query(description="ISO 8601 or Unix ms; default end - `days`")] = None,
    end: Annotated[str | None, Query(description="ISO 8601 or Unix ms (exclusive); default now")] = None,
) -> Response:
    """The mean of `measurement` per `window` over the last `days` (or from `start` to `end`),
    for every registered node of the zone, as columns sharing one time axis (the zone page's
    soil chart). `window=auto` picks the finest window giving at most `points` of them."""
    if measurement not in MEASUREMENTS:
        raise ContractError("measurement", measurement, "unknown measurement")
    end_ms = parse_instant("end", end) if end is not None else clock()
    start_ms = parse_instant("start", start) if start is not None else end_ms - days * DAY_MS
    if start_ms >= end_ms:
        raise ContractError("start", start, "must be before end")
    if end_ms - start_ms > 366 * DAY_MS:
        raise ContractError("start", start, "gives a range longer than 366 days")
    window_ms = auto_window(end_ms - start_ms, points) if window.strip() == "auto" else parse_window(window)
    if (end_ms - start_ms) // window_ms > MAX_WINDOWS:
        raise ContractError("window", window, f"gives more than {MAX_WINDOWS} windows over the range")
    await registry.get_zone(check_id("zone", zone_id))  # 404 for an unknown zone
    nodes = sorted(n.id for n in await registry.nodes_of_zone(zone_id))
    start_ms -= start_ms % window_ms  # whole windows, so the first one is not a partial mean
    t0 = time.perf_counter()
    # as columns from the store's arrays where it keeps them (no Bucket per window), else from its buckets
    as_table = getattr(store, "aggregate_table", None)
    if as_table is not None:
        table = await as_table(nodes, measurement, start_ms, end_ms, window_ms, "mean") if nodes else None
        t1 = time.perf_counter()
        times, sensors = table_columns(table) if table is not None else ([], [])
    else:
        buckets = await store.aggregate(nodes, measurement, start_ms, end_ms, window_ms, "mean") if nodes else []
        t1 = time.perf_counter()
        times, sensors = columns(buckets)
    body = {"zone": zone_id, "measurement": measurement, "window_ms": window_ms, "start_ms": start_ms, "end_ms": end_ms,
            "times_ms": times, "sensors": sensors}
    text = orjson.dumps(body)  # a 90-day hourly chart's 43,200 values: orjson takes a fifth of json's time
    # Server-Timing: how long the store's query took and how long this route's shaping, so a
    # browser's timing of the page can tell the storage engine's share from the dashboard's.
    timing = f"store;dur={(t1 - t0) * 1000:.1f}, shape;dur={(time.perf_counter() - t1) * 1000:.1f}"
    return Response(text, media_type="application/json", headers={"Server-Timing": timing})


class MapBasemap(BaseModel):
    """The machinery map's basemap as the service is configured (FURROW_MAP_*, docs/dashboard.md)."""

    tile_url: str | None = Field(description="XYZ raster tiles ({z}, {x}, {y}); null: no basemap, the map draws "
                                 "fields, tracks and machines on a plain background")
    attribution: str = Field(description="the tile provider's attribution, shown as text")
    max_zoom: int


@router.get("/map/basemap", response_model=MapBasemap)
async def map_basemap(services: ServicesDep, _: JobReader) -> MapBasemap:
    """The basemap the dashboard's map draws under the fields: the tile URL (any reader sees it, a key in it
    too), its attribution and deepest zoom."""
    s = services.settings
    return MapBasemap(tile_url=s.map_tile_url, attribution=s.map_tile_attribution, max_zoom=s.map_max_zoom)
