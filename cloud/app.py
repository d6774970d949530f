"""The cloud service: ``create_app(settings)`` returns the FastAPI application.

Run it with ``uvicorn --factory furrow.cloud.app:create_app``. The lifespan
opens the readings store and the relational database and, when MQTT is
enabled, supervises the MQTT worker as a background task.
"""

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI

from furrow.edge.errors import ContractError

from . import dashboard, docs
from ._time import Clock, now_ms
from .alerts import AlertService
from .alerts.wiring import build_alert_service
from .api import api_router, errors, login_router, public_router
from .api.deps import Services
from .audit import AuditLog
from .auth import Role, TokenStore
from .auth.ratelimit import LoginLimiter
from .chart_warmup import warm_zone_charts
from .cluster import JobLeases, open_cluster
from .commands import AckFromOtherGateway, CommandService
from .commands.plans import PlanPublisher
from .commands.signing import signer_from_settings
from .db import Database
from .events import EventBus
from .fertility import FertigationService, FertilityService
from .fields.spatial import spatial_for
from .gaps import GapStore
from .gateway_status import StatusBook, record_mqtt_status
from .identity import CredentialStore
from .images import ImageService, objects_from_settings
from .ingest import ingest_batch, receipt, refusal
from .limits import BodyLimits
from .machinery import OperationService, TrackStore
from .machinery.eta import EtaPublisher
from .mqtt_worker import MqttWorker
from .node_routes import NodeRoutes
from .pests import PestService
from .planning import PlanningService
from .planning.expected import ExpectedYieldService
from .planning.forecasts import forecasts_from_settings
from .regional import RegionalService
from .regional.opendata import OpenData
from .registry import Registry
from .settings import Settings
from .storage import (
    Influx1ReadingStore,
    MergedWrites,
    SqliteReadingStore,
    StorageError,
    StorageRejected,
    open_store,
)
from .tenancy import TenantFilter, ingest_guard
from .trace import TraceService
from .vigour import VigourService

log = logging.getLogger(__name__)


async def open_services(settings: Settings, clock: Clock = now_ms) -> Services:
    """Open the store and the database, and build (not start) the MQTT worker. Every service
    that decides by time reads `clock` (the system clock on a farm, a simulated one in
    hil/runtime.py)."""
    store = open_store(settings, clock)
    db = Database(settings.resolved_database_url())
    await asyncio.to_thread(db.migrate)
    tokens = TokenStore(db, settings.token_key(), clock)
    demo_token = await _bootstrap_admin(settings, tokens)
    if isinstance(store, Influx1ReadingStore):
        try:
            await store.ensure_database()
        except StorageError as e:  # it may come up later: writes wait for it then
            log.warning("could not create InfluxDB database %r: %s", store.database, e)
    routes = NodeRoutes(db)
    registry = Registry(db)
    for node, organisation in await registry.trackers_without_site():  # said once at each start, until fixed
        log.warning("tracker %s (organisation %s) has no site, so no broker login and no topics: give it its farm's "
                    "site: furrow node add %s --role tracker --site SITE --out DIR (or PUT /api/v1/registry/nodes/%s "
                    "with site_id)", node, organisation, node, node)
    commands = CommandService(
        db,
        routes,
        default_max_runtime_s=settings.command_default_max_runtime_s,
        default_ttl_s=settings.command_default_ttl_s,
        zones=registry,
        signer=signer_from_settings(settings, clock),
        clock=clock,
    )
    commands.sender.send_ahead_s = settings.command_send_ahead_s
    # Each gateway's plan for a WAN outage; published once the MQTT worker exists (below).
    plans = PlanPublisher(db, routes, validity_s=settings.plan_validity_s, root=settings.topic_root,
                          signer=commands.sender.signer, clock=clock)
    commands.plans = plans
    events = EventBus()
    planning = PlanningService(db, registry, store, commands, clock=clock,
                               forecast=forecasts_from_settings(settings, db, clock), events=events)
    services = Services(settings=settings, store=store, db=db, routes=routes, commands=commands,
                        tokens=tokens, registry=registry, planning=planning, events=events, gaps=GapStore(db),
                        clock=clock, gateway_status=StatusBook(clock))
    services.demo_token = demo_token
    # With PostgreSQL, instances share live events and gateway status, and lease the jobs.
    services.cluster = open_cluster(settings.resolved_database_url(), services.events, services.gateway_status)
    leases = services.cluster.leases
    commands.events = services.events  # command lifecycle changes feed the live views
    services.audit = AuditLog(db, clock)
    services.credentials = CredentialStore(db, settings.topic_root, clock)
    services.login_limiter = LoginLimiter(settings.login_max_failures, settings.login_window_s)
    services.public_limiter = LoginLimiter(settings.public_max_requests, settings.public_window_s)
    objects = objects_from_settings(settings)
    if hasattr(objects, "ensure_bucket"):
        try:
            await asyncio.to_thread(objects.ensure_bucket)
        except StorageError as e:  # it may come up later: images wait for it then
            log.warning("could not reach the images bucket: %s", e)
    services.images = ImageService(db, objects, events=events, clock=clock,
                                   retention_days=settings.images_retention_days, routes=routes)
    services.vigour = VigourService(db, registry, clock=clock, events=events, store=store,
                                    spatial=await asyncio.to_thread(spatial_for, db))
    services.vigour.thermal = planning.gdd_by_day  # a degree-day crop's expected cover needs its thermal time
    services.images.subscribe("canopy", services.vigour.on_canopy_photo)  # canopy cover per canopy photo
    services.pests = PestService(db, registry, store, images=services.images, forecasts=planning.forecast,
                                 clock=clock, events=events)
    services.images.subscribe("trap", services.pests.on_trap_photo)  # insects counted on each trap photo
    services.fertility = FertilityService(db, registry, planning, clock=clock, events=events)
    services.fertigation = FertigationService(db, registry, commands, services.fertility)
    services.expected_yield = ExpectedYieldService(db, registry, planning, clock=clock)
    services.tracks = TrackStore(db)
    services.operations = OperationService(db, clock=clock, events=events, tracks=services.tracks)
    # the kept dispatch plan's finish estimates, recomputed as new fixes arrive (machinery/eta.py)
    services.etas = EtaPublisher(services.operations, events)
    services.tracks.on_new.append(services.etas.poke)
    services.operations.on_record.append(services.etas.on_operation)
    # Production records: fed by what ends or is recorded elsewhere, heads signed with the command key.
    trace = services.trace = TraceService(db, signer=commands.sender.signer, clock=clock, events=events,
                                            store=store)
    services.regional = RegionalService(db, services.operations, services.expected_yield)
    services.open_data = OpenData(db)
    commands.on_end.append(trace.from_command)
    services.fertility.on_application.append(trace.from_application)
    services.operations.on_record.append(trace.from_operation)
    if settings.mqtt_enabled:
        # The batches in flight together reach InfluxDB in one write; each is still answered alone.
        writes = services.ingest_writes = MergedWrites(store, max_readings=settings.ingest_merge_readings)

        async def on_batch(site: str, gateway: str, payload: bytes) -> None:
            try:
                result = await ingest_batch(payload, writes, routes, origin=(site, gateway), events=services.events,
                                            gaps=services.gaps, tracks=services.tracks, clock=clock,
                                            owners=ingest_guard(db))
            except (ContractError, StorageRejected) as e:
                worker.send_receipt(site, gateway, refusal(payload, e))  # refused for good: say so
                raise
            # Stored: the receipt lets the gateway forget the batch (before the broker's PUBACK).
            worker.send_receipt(site, gateway, receipt(result))
            if result.rejected:
                first = result.rejected[0]
                log.warning("batch %s from %s/%s: %d item(s) rejected, first %s=%r: %s",
                            result.batch_id, site, gateway, len(result.rejected),
                            first.field, first.value, first.reason)

        async def on_image(site: str, gateway: str, payload: bytes) -> None:
            # Stored (or refused for good): the receipt lets the gateway forget the image.
            result = await services.images.ingest(payload)
            worker.send_image_receipt(site, gateway, result)

        async def on_ack(site: str, gateway: str, payload: bytes) -> None:
            # An ack counts only from the gateway the command went through.
            try:
                await commands.apply_ack(payload, gateway=(site, gateway))
            except AckFromOtherGateway as e:
                log.warning("ignored an acknowledgement over MQTT: %s", e)

        worker = MqttWorker(
            host=settings.mqtt_host,
            port=settings.mqtt_port,
            root=settings.topic_root,
            on_batch=on_batch,
            on_ack=on_ack,
            on_image=on_image,
            # what waited, the cancels not answered and every gateway's plan, go out from the one instance
            # holding the lease
            on_connect=lambda: leases.run("plans", lambda: on_broker_connect(commands, plans)),
            # gateways' periodic status with their Modbus counters feeds the bus page
            on_status=lambda site, gateway, payload: record_mqtt_status(services.gateway_status, site, gateway,
                                                                        payload),
            shared_group=settings.ingest_shared_group,
            in_flight=settings.ingest_in_flight,
            client_id=settings.mqtt_client_id,
            reconnect_max_s=settings.mqtt_reconnect_max_s,
            username=settings.mqtt_username,
            password=settings.mqtt_password.get_secret_value() if settings.mqtt_password else None,
        )
        commands.sender.publisher = worker
        plans.publish = worker.publish
        services.worker = worker
    services.alerts = build_alert_service(settings, db, registry, routes, store, services.events, services.worker,
                                          planning, clock, species_of=services.pests.alert_pressures,
                                          lured_of=services.pests.lured_counters)
    return services


async def _bootstrap_admin(settings: Settings, tokens: TokenStore) -> str | None:
    """Accept the configured admin token; in demo mode without one, make one and print it."""
    token = settings.bootstrap_admin_token.get_secret_value() if settings.bootstrap_admin_token else None
    if token is None and settings.demo_mode:
        issued = await tokens.issue("demo-admin", Role.ADMIN, ttl_days=1)
        print(f"Furrow demo mode: admin API token (shown once): {issued.token}", flush=True)
        log.warning("demo mode: an admin token was created; never run a real farm in demo mode")
        return issued.token
    if token is not None:
        await tokens.ensure("bootstrap-admin", Role.ADMIN, token, ttl_days=settings.token_ttl_days)
    return token


async def every(interval_s: float, step: Callable[[], Awaitable[None]], what: str) -> None:
    """Run `step` every `interval_s` until cancelled. A failure is logged in full
    once, then retried quietly until the step works again: one bad run never
    stops the job."""
    failures = 0
    while True:
        try:
            await step()
            failures = 0
        except asyncio.CancelledError:
            raise
        except Exception:
            failures += 1
            if failures == 1:
                log.exception("%s failed; retrying every %g s", what, interval_s)
        await asyncio.sleep(interval_s)


async def on_broker_connect(commands: CommandService, plans: PlanPublisher) -> None:
    """On (re)connecting to the broker: send what waited and the cancels not answered yet, then
    every gateway's current plan."""
    await commands.sender.dispatch_pending()
    await commands.sender.resend_cancels()
    await plans.publish_all()


async def expire_commands(commands: CommandService) -> None:
    """Mark commands expired whose expiry passed before they started; with send-ahead, send
    the held commands whose time has come (while the broker is there)."""
    n = await commands.expire_due()
    if n:
        log.info("%d command(s) expired before they started", n)
    sender = commands.sender
    if sender.send_ahead_s is not None and getattr(sender.publisher, "connected", False):
        await sender.dispatch_pending()


async def maintain_readings(store: SqliteReadingStore, clock: Clock) -> None:
    """The SQLite roll-up and retention job."""
    hours, deleted = await store.maintain(clock())
    if deleted:
        log.info("rolled up %d sensor-hours; %d raw readings past retention dropped", hours, deleted)


async def evaluate_alerts(alerts: AlertService, interval_s: float, leases: JobLeases) -> None:
    """The alert job. Its first run waits one interval: nodes get a chance to report first."""
    await asyncio.sleep(interval_s)
    await every(interval_s, lambda: leases.run("alerts", alerts.evaluate), "alert evaluation")


async def plan_zones(planning: PlanningService) -> None:
    """The scheduled planner: every zone once (one failing zone never stops the others)."""
    results = await planning.plan_all(origin="scheduler")
    failed = {z: r for z, r in results.items() if r.startswith("error")}
    if failed:
        log.warning("scheduled planning: %d of %d zone(s) failed: %s", len(failed), len(results), failed)


async def _after(delay_s: float, job: Callable[[], Awaitable[None]]) -> None:
    """Start `job` after `delay_s`: the first scheduled plan waits one interval after startup."""
    await asyncio.sleep(delay_s)
    await job()


async def close_services(services: Services) -> None:
    if services.etas is not None:
        await services.etas.close()
    for task in services.background:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    if services.alerts is not None:
        await services.alerts.deliveries.stop()
    if services.worker is not None:
        await services.worker.stop()
    if services.ingest_writes is not None:
        await services.ingest_writes.close()
    await services.routes.close()  # the sightings written behind (cloud/node_routes.py)
    if services.cluster is not None:
        await services.cluster.close()
    await services.store.close()
    await asyncio.to_thread(services.db.dispose)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    services = await open_services(app.state.settings, app.state.clock)
    assert services.cluster is not None
    services.cluster.start()
    if services.worker is not None:
        services.worker.start()
    settings = app.state.settings
    leases = services.cluster.leases  # each job runs on one instance of a cluster at a time
    services.background.append(asyncio.create_task(
        every(settings.command_expiry_interval_s,
              lambda: leases.run("expiry", lambda: expire_commands(services.commands)), "command expiry"),
        name="furrow-command-expiry"))
    if isinstance(services.store, SqliteReadingStore):
        store = services.store
        services.background.append(asyncio.create_task(
            every(settings.rollup_interval_s, lambda: maintain_readings(store, services.clock),
                  "readings roll-up"),
            name="furrow-rollups"))
    if getattr(services.store, "closed", None) is not None and settings.influx_chart_warm_days > 0:
        days = settings.influx_chart_warm_days  # each instance its own cache: not leased
        services.background.append(asyncio.create_task(
            every(3600.0, lambda: warm_zone_charts(services.registry, services.store, services.clock, days),
                  "zone chart warm-up"), name="furrow-chart-warm-up"))
    if services.alerts is not None:
        services.background.append(asyncio.create_task(
            evaluate_alerts(services.alerts, settings.alerts_interval_s, leases), name="furrow-alerts"))
        services.alerts.deliveries.start()
    if settings.images_retention_days is not None:
        services.background.append(asyncio.create_task(
            every(settings.images_retention_interval_s,
                  lambda: leases.run("image-retention", services.images.expire), "image retention"),
            name="furrow-image-retention"))
    trace = services.trace
    assert trace is not None
    services.background.append(asyncio.create_task(
        every(settings.trace_sign_interval_s, lambda: leases.run("trace", trace.sync_and_sign),
              "production records sync and signing"), name="furrow-trace"))
    if settings.planning_interval_s > 0:
        interval = settings.planning_interval_s
        planner = lambda: leases.run("planner", lambda: plan_zones(services.planning))  # noqa: E731
        services.background.append(asyncio.create_task(
            _after(interval, lambda: every(interval, planner, "scheduled planning")), name="furrow-planner"))
    app.state.services = services
    _freeze_startup_objects()
    try:
        yield
    finally:
        await close_services(services)


_frozen = False


def _freeze_startup_objects() -> None:
    """Once per process, after the first start-up: every object made so far (routes, models,
    mappers, about 300,000) lives as long as the service, so it is moved out of the cyclic
    collector's way (``gc.freeze``). Each full collection walked all of them, 60-250 ms of CPU at
    a time, triggered from whatever a busy ingest worker was allocating (docs/performance.md,
    "Fourth pass"). Only the first start-up's: a test process that starts many apps freezes one."""
    global _frozen
    if not _frozen:
        _frozen = True
        gc.collect()
        gc.freeze()


def create_app(settings: Settings | None = None, clock: Clock = now_ms) -> FastAPI:
    """The Furrow cloud application (settings from FURROW_* when not given), on `clock`."""
    app = FastAPI(
        title="Furrow cloud",
        summary="Ingest, storage and irrigation commands for Furrow farms",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,  # /docs is served offline by cloud/docs.py
        redoc_url=None,
    )
    app.state.settings = settings or Settings()
    app.state.clock = clock
    app.add_middleware(TenantFilter)  # another organisation's items out of every JSON list (cloud/tenancy/)
    app.add_middleware(BodyLimits)  # request bodies bounded in size and time (cloud/limits.py)
    errors.install(app)  # every error in one shape, each kind's status in one table (api/errors.py)
    app.include_router(api_router)
    app.include_router(login_router)
    app.include_router(public_router)
    dashboard.mount(app)
    docs.mount(app)
    return app
