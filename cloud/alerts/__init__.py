"""Alerts in the service: a farm snapshot from the registry, node routes and readings; the
pure rules of agronomy/alerts.py run on it periodically and on demand; the alerts stored
de-duplicated, acknowledged by a person, and delivered (event bus, MQTT, webhook)."""

from .delivery import Deliveries, Notice, Outlet, WebhookSender, alert_topic, mqtt_sender, sign
from .models import AckIn, AlertOut, AlertState, EvaluationOut, SeverityName
from .service import AlertNotFound, AlertService, AlreadyAcknowledged
from .snapshot import Places, Snapshot, SnapshotOptions, farm_snapshot

__all__ = [
    "AckIn",
    "AlertNotFound",
    "AlertOut",
    "AlertService",
    "AlertState",
    "AlreadyAcknowledged",
    "Deliveries",
    "EvaluationOut",
    "Notice",
    "Outlet",
    "Places",
    "SeverityName",
    "Snapshot",
    "SnapshotOptions",
    "WebhookSender",
    "alert_topic",
    "farm_snapshot",
    "mqtt_sender",
    "sign",
]
