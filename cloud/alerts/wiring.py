"""The alert service as the cloud app builds it from its settings and parts."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from zoneinfo import ZoneInfo

from .._time import Clock, now_ms
from ..db import Database
from ..events import EventBus
from ..mqtt_worker import MqttWorker
from ..node_routes import NodeRoutes
from ..planning import PlanningService
from ..planning.forecast import Extremes, Where
from ..planning.forecasts import ForecastService
from ..planning.inputs import locate
from ..registry import Registry
from ..registry.models import NodeOut, SiteOut
from ..settings import Settings
from ..storage import ReadingStore
from .chat import DingTalkSender, WeComSender
from .delivery import Deliveries, Outlet, WebhookSender, mqtt_sender
from .models import SeverityName
from .raw import BalanceRaw
from .service import AlertService
from .sms import HttpSmsProvider, SmsSender
from .snapshot import ForecastOf, LuredOf, Snapshot, SnapshotOptions, SpeciesOf, farm_snapshot
from .texts import Texts

BACKOFF_MAX_S = 60.0


def forecast_extremes(forecasts: ForecastService) -> ForecastOf:
    """A site's forecast extremes from the planner's forecasts, at the site's (or its nodes') location."""

    async def of(site: SiteOut, nodes: list[NodeOut], tz: ZoneInfo, now_ms: int) -> tuple[Extremes, str] | None:
        where = locate([], [], nodes, site)
        return await forecasts.extremes(Where(site.id, None, where.lat if where else None,
                                              where.lon if where else None, tz), now_ms)

    return of


def build_alert_service(settings: Settings, db: Database, registry: Registry, routes: NodeRoutes,
                        store: ReadingStore, events: EventBus, worker: MqttWorker | None,
                        planning: PlanningService | None = None, clock: Clock = now_ms,
                        species_of: SpeciesOf | None = None, lured_of: LuredOf | None = None) -> AlertService:
    """Snapshot from the registry, routes and store (each zone's RAW from the planner's balance when
    `planning` is given, raw.py); deliveries to the event bus, and to MQTT (when enabled), the
    webhook, the WeCom and DingTalk robots and SMS (each when configured); every evaluation at
    `clock`'s now; pest species from `species_of`, the pest counters they watch from `lured_of`."""
    options = SnapshotOptions(report_interval_s=settings.alerts_report_interval_s,
                              trap_threshold_per_week=settings.alerts_trap_threshold_per_week)
    raw_of = BalanceRaw(planning) if planning is not None else None
    forecast_of = forecast_extremes(planning.forecast) if planning is not None else None

    async def snapshot(now_ms: int) -> Snapshot:
        return await farm_snapshot(registry, routes, store, db, now_ms, options, raw_of, forecast_of, species_of,
                                   lured_of)

    def outlet(name: str, send: Callable, wants: Callable | None = None) -> Outlet:
        return Outlet(name, send, attempts=settings.alert_delivery_attempts,
                      backoff_s=settings.alert_delivery_backoff_s, backoff_max_s=BACKOFF_MAX_S, wants=wants)

    outlets: list[Outlet] = []
    closers: list[Callable[[], Awaitable[None]]] = []
    if worker is not None:
        outlets.append(outlet("mqtt", mqtt_sender(worker, settings.topic_root)))
    if settings.alert_webhook_url:
        secret = settings.alert_webhook_secret.get_secret_value().encode() if settings.alert_webhook_secret else None
        webhook = WebhookSender(str(settings.alert_webhook_url), secret)
        outlets.append(outlet("webhook", webhook))
        closers.append(webhook.close)
    texts = Texts(settings.alert_locale)
    if settings.alert_wecom_webhook_url:
        wecom = WeComSender(settings.alert_wecom_webhook_url.get_secret_value(), texts)
        outlets.append(outlet("wecom", wecom))
        closers.append(wecom.close)
    if settings.alert_dingtalk_webhook_url:
        secret = settings.alert_dingtalk_secret.get_secret_value() if settings.alert_dingtalk_secret else None
        dingtalk = DingTalkSender(settings.alert_dingtalk_webhook_url.get_secret_value(), secret, texts)
        outlets.append(outlet("dingtalk", dingtalk))
        closers.append(dingtalk.close)
    if settings.alert_sms_url:
        token = settings.alert_sms_token.get_secret_value() if settings.alert_sms_token else None
        provider = HttpSmsProvider(str(settings.alert_sms_url), json.loads(settings.alert_sms_template), token)
        sms = SmsSender(provider, settings.alert_sms_to, texts, SeverityName(settings.alert_sms_min_severity))
        outlets.append(outlet("sms", sms, sms.wants))
        closers.append(sms.close)
    return AlertService(db, snapshot, Deliveries(events, outlets, closers), clock)
