"""Commissioning: a node's checklist and live values, its soil calibration, and the Modbus bus
health each gateway reports. The judging is in ``cloud/commissioning.py``; these routes only
fetch and store."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from furrow.edge.errors import ContractError
from furrow.edge.topics import check_id

from ...commissioning import (
    PHOTO_DAYS,
    Live,
    Method,
    Point,
    apply_calibration,
    bus_health,
    checklist,
    depth_key,
    fit_calibration,
    plausible_vwc_range,
)
from ...errors import Forbidden, NotFound
from ...gateway_status import StatusBook
from ...registry import NODES
from ...registry.models import NodeIn
from ..deps import (
    AuditDep,
    ClockDep,
    Ingester,
    Reader,
    RegistryDep,
    RegistryWriter,
    RoutesDep,
    ServicesDep,
    StoreDep,
    get_services,
)
from ..json_body import JsonRoute
from ..schemas import ProblemResponse
from .ingest import gateway_origin

router = APIRouter(tags=["commissioning"], route_class=JsonRoute)


class CheckItem(BaseModel):
    name: str
    ok: bool
    pending: bool = Field(False, description="not judged yet: the node has not been heard (the detail says so)")
    detail: str = Field(description="in English")
    detail_key: str = Field(description="the detail as a key of the dashboard's catalogues (docs/cloud.md)")
    detail_params: dict[str, Any] = Field(description="the values the detail shows, by name")


class LiveValue(BaseModel):
    measurement: str
    depth_cm: int | None
    channel: int | None
    value: float | None
    fault: str | None
    ts_ms: int
    calibrated_vwc_pct: float | None = Field(None, description="soil_raw through the stored calibration")


class Commissioning(BaseModel):
    node: str
    role: str | None = Field(description="the registered role; None for a node heard but not registered")
    zone_id: str | None = Field(description="the registered zone, if any")
    registered: bool
    first_good_reading: bool
    plausible: bool
    ready: bool = Field(description="every item is ok")
    items: list[CheckItem]
    live: list[LiveValue]
    last_seen_ms: int | None
    gateway: str | None
    calibration: dict[str, float] | None
    plausible_range_pct: dict[str, list[float]] = Field(description="depth (cm) -> [low, high] vwc_pct")


@router.get("/nodes/{node}/commissioning", response_model=Commissioning, responses={404: {"model": ProblemResponse}})
async def commissioning(node: str, routes: RoutesDep, registry: RegistryDep, store: StoreDep,
                        services: ServicesDep, clock: ClockDep, _: Reader) -> Commissioning:
    """The checklist (registered, heard, first good reading, depths, values plausible for this
    depth and soil, faults, calibration) and the newest raw and calibrated values."""
    check_id("node", node)
    route = await routes.get(node)
    try:
        reg = (await registry.get(NODES, node)).model_dump()
    except NotFound:
        reg = None
    if route is None and reg is None:
        raise NotFound("node", node, "neither registered nor heard")
    zone = None
    if reg and reg.get("zone_id"):
        try:
            zone = (await registry.get_zone(reg["zone_id"])).model_dump()
        except NotFound:
            zone = None
    calibration = (reg or {}).get("calibration")
    latest = await store.latest(node)
    raw_by_depth = {r.depth_cm: r.value for r in latest if r.measurement == "soil_raw"}
    live = [Live(r.measurement, r.depth_cm, r.channel, r.value, r.fault, r.ts_ms,
                 apply_calibration(calibration, raw_by_depth.get(r.depth_cm), r.depth_cm)
                 if r.measurement == "vwc_pct" else None)
            for r in latest]
    now = clock()
    photos = None
    if reg and reg.get("role") == "camera" and services.images is not None:  # a camera is judged on its photos
        photos = len(await services.images.list(node=node, start_ms=now - PHOTO_DAYS * 86_400_000, limit=500))
    result = checklist(registered=reg, zone=zone, last_seen_ms=route.last_seen_ms if route else None,
                       faults=route.faults if route else (), live=live, now_ms=now, photos=photos)
    depths = sorted({x.depth_cm for x in live if x.measurement == "vwc_pct"} | set((reg or {}).get("depths_cm") or []),
                    key=lambda d: -1 if d is None else d)
    ranges = ({str(d): list(plausible_vwc_range(zone["field_capacity_pct"], zone["wilting_point_pct"], d))
               for d in depths} if zone else {})
    return Commissioning(node=node, role=(reg or {}).get("role"), zone_id=(reg or {}).get("zone_id"), **result,
                         live=[LiveValue(**x.__dict__) for x in live],
                         last_seen_ms=route.last_seen_ms if route else None,
                         gateway=f"{route.site}/{route.gateway}" if route else None,
                         calibration=calibration, plausible_range_pct=ranges)


class PointIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    raw: float = Field(ge=0, le=65535, description="the probe's raw ADC count")
    vwc_pct: float = Field(ge=0, le=100, description="water content measured another way (e.g. gravimetric)")


class CalibrationIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"method": "two-point", "points": [{"raw": 41000, "vwc_pct": 4.0}, {"raw": 18500, "vwc_pct": 42.0}]}]})
    method: Method
    points: list[PointIn] = Field(min_length=2, max_length=20)
    depth_cm: int | None = Field(default=None, ge=0, le=400, description="the probe calibrated: the fit is "
                                 "stored for it alone (keys '<depth>cm:c0', ...); without: for every probe")
    store: bool = Field(default=True, description="false: fit and show only, store nothing")


class CalibrationOut(BaseModel):
    node: str
    depth_cm: int | None = None
    method: Method
    coefficients: dict[str, float] = Field(description="vwc_pct = c0 + c1*raw + c2*raw^2")
    residuals_pct: list[float] = Field(description="measured - fitted, per point")
    rmse_pct: float
    warnings: list[str] = Field(description="in English")
    warning_messages: list[dict[str, Any]] = Field(description="the warnings as {key, params} of the dashboard's "
                                                   "catalogues")
    stored: bool
    calibration: dict[str, float] = Field(description="what is (or would be) stored on the registry node")


@router.post("/nodes/{node}/calibration", response_model=CalibrationOut,
             responses={404: {"model": ProblemResponse}, 422: {"model": ProblemResponse}})
async def calibrate(node: str, body: CalibrationIn, registry: RegistryDep, who: RegistryWriter,
                    audit: AuditDep) -> CalibrationOut:
    """Fit a soil sensor's calibration from (raw, vwc_pct) points and store it on the registry
    node (its `calibration`). 422 names the field of a point that cannot give the fit."""
    check_id("node", node)
    reg = await registry.get(NODES, node)  # 404 for a node not registered: calibrate after registering
    depths = reg.depths_cm or []
    if body.depth_cm is not None and depths and body.depth_cm not in depths:
        raise ContractError("depth_cm", body.depth_cm, f"node {node} has probes at {sorted(depths)} cm only")
    points = [Point(p.raw, p.vwc_pct) for p in body.points]
    fit = fit_calibration(points, body.method)
    calibration = fit.as_calibration(points)
    if body.store:
        values = reg.model_dump(include=set(NodeIn.model_fields))
        if body.depth_cm is None:
            values["calibration"] = calibration
        else:  # this probe's fit replaces its previous one; the other probes' fits stay
            prefix = depth_key(body.depth_cm, "")
            kept = {k: v for k, v in (reg.calibration or {}).items() if not k.startswith(prefix)}
            values["calibration"] = kept | {depth_key(body.depth_cm, k): v for k, v in calibration.items()}
        await registry.replace(NODES, node, NodeIn(**values))
        await audit(who.name, "registry.calibrate_node", f"node:{node}", depth_cm=body.depth_cm,
                    method=str(fit.method), calibration=values["calibration"])
    return CalibrationOut(node=node, depth_cm=body.depth_cm, method=fit.method,
                          coefficients={"c0": fit.c0, "c1": fit.c1, "c2": fit.c2},
                          residuals_pct=fit.residuals_pct, rmse_pct=fit.rmse_pct,
                          warnings=[w.text for w in fit.warnings], warning_messages=[w.record() for w in fit.warnings],
                          stored=body.store, calibration=calibration)


# --- gateway status and Modbus bus health -----------------------------------------------------

class DeviceCounters(BaseModel):
    """A gateway's per-device Modbus counters (gateway/modbus/poller.py DeviceHealth)."""

    model_config = ConfigDict(extra="allow")
    port: str
    unit: int | None = None
    role: str | None = None
    polls: int = Field(0, ge=0)
    requests: int = Field(0, ge=0)
    errors: int = Field(0, ge=0)
    consecutive_failures: int = Field(0, ge=0)
    backed_off: bool = False
    last_good_ms: int | None = None
    last_error: str | None = None


class GatewayStatusIn(BaseModel):
    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [{
        "ts_ms": 1767225600000, "modbus": {"soil-07": {"port": "rs485-1", "unit": 7, "polls": 120,
                                                         "requests": 240, "errors": 3}}}]})
    ts_ms: int = Field(gt=0)
    modbus: dict[str, DeviceCounters] = Field(default_factory=dict, description="node id -> counters")


def _book(request: Request) -> StatusBook:
    # one book for the reports of this route and of the MQTT worker (cloud/gateway_status.py)
    return get_services(request).gateway_status


@router.post("/gateways/{site}/{gateway}/status", status_code=204,
             responses={403: {"model": ProblemResponse}, 422: {"model": ProblemResponse}})
async def post_status(site: str, gateway: str, body: GatewayStatusIn, request: Request, who: Ingester) -> None:
    """A gateway's periodic status: its Modbus per-device counters (and whatever else it
    counts). A gateway token may only report for itself. The report is checked as one over
    MQTT is (cloud/gateway_status.check_report): 422 names the field, e.g. a ts_ms ahead of
    the cloud's clock."""
    check_id("site", site)
    check_id("gateway", gateway)
    origin = gateway_origin(who)
    if origin is not None and origin != (site, gateway):
        raise Forbidden("gateway", f"{site}/{gateway}", f"a token of gateway {origin[0]}/{origin[1]} may only "
                        "report for its own gateway")
    # a report not newer than the newest (e.g. sent twice) is left out: no interval for rates
    await _book(request).record(site, gateway, body.model_dump(mode="json"))


class GatewaySeen(BaseModel):
    site: str
    gateway: str
    reported_ms: int
    devices: int


@router.get("/gateways", response_model=list[GatewaySeen])
async def list_gateways(request: Request, routes: RoutesDep, _: Reader) -> list[GatewaySeen]:
    """Every gateway that forwarded readings or reported its status, with its newest report."""
    book = _book(request)
    seen = {(r.site, r.gateway) for r in await routes.all()} | set(book.reports)
    out = []
    for site, gw in sorted(seen):
        report = book.reports.get((site, gw), ({}, None))[0]
        out.append(GatewaySeen(site=site, gateway=gw, reported_ms=report.get("ts_ms", 0),
                               devices=len(report.get("modbus", {}))))
    return out


class BusHealth(BaseModel):
    site: str
    gateway: str
    reported_ms: int | None = Field(description="the gateway's time of its newest status; null: none yet")
    interval_ms: int | None = Field(description="between the newest two reports, which the rates cover")
    ports: list[dict[str, Any]] = Field(description="port, devices, requests, errors, error_rate, polls_per_min")


@router.get("/gateways/{site}/{gateway}/bus", response_model=BusHealth)
async def bus(site: str, gateway: str, request: Request, _: Reader) -> BusHealth:
    """Each Modbus port of the gateway: its devices, request error rates and poll rate, from
    the gateway's newest status reports (empty until it sends one)."""
    check_id("site", site)
    check_id("gateway", gateway)
    newest, previous = _book(request).reports.get((site, gateway), (None, None))
    if newest is None:
        return BusHealth(site=site, gateway=gateway, reported_ms=None, interval_ms=None, ports=[])
    interval = newest["ts_ms"] - previous["ts_ms"] if previous else None
    ports = bus_health(newest["modbus"], previous["modbus"] if previous else None, interval)
    return BusHealth(site=site, gateway=gateway, reported_ms=newest["ts_ms"], interval_ms=interval, ports=ports)
