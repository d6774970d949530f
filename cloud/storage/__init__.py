"""Where readings are stored: one protocol, three backends.

``SqliteReadingStore`` (embedded default), ``Influx1ReadingStore`` (InfluxDB
1.x over HTTP, tested against a real influxd) and ``Influx2ReadingStore``
(InfluxDB 2.x through influxdb_client) all implement ``ReadingStore``.
"""

from .._time import Clock, now_ms
from ..settings import Settings
from ._merge import MergedWrites, merges
from ._reading import AGGREGATES, Bucket, Reading, ReadingStore, StorageError, StorageRejected, StorageUnavailable
from ._reports import Reports
from ._retry import RetryPolicy
from .influx1 import Influx1ReadingStore
from .influx1_rollups import Rollups
from .influx2 import Influx2ReadingStore
from .sqlite_store import SqliteReadingStore

__all__ = [
    "AGGREGATES",
    "Bucket",
    "Influx1ReadingStore",
    "Influx2ReadingStore",
    "MergedWrites",
    "Reading",
    "ReadingStore",
    "Reports",
    "RetryPolicy",
    "Rollups",
    "SqliteReadingStore",
    "StorageError",
    "StorageRejected",
    "StorageUnavailable",
    "merges",
    "open_store",
]


def open_store(settings: Settings, clock: Clock = now_ms) -> ReadingStore:
    """The store `settings` asks for (no network is touched here); `clock` tells InfluxDB 1.x which
    points are late and which roll-ups are closed."""
    retry = RetryPolicy(
        retries=settings.influx_write_retries, backoff_s=settings.influx_retry_backoff_s
    )
    if settings.storage == "influxdb1":
        return Influx1ReadingStore(
            settings.influx_url,
            settings.influx_database,
            username=settings.influx_username,
            password=settings.influx_password,
            timeout_s=settings.influx_timeout_s,
            retry=retry,
            lines_per_request=settings.influx_lines_per_request,
            rollups=Rollups(settings.influx_database, settings.influx_raw_retention_days,
                            settings.influx_hourly_retention_days) if settings.influx_rollups else None,
            clock=clock,
            chart_cache_rows=settings.influx_chart_cache_rows,
        )
    if settings.storage == "influxdb2":
        return Influx2ReadingStore(
            settings.influx_url,
            settings.influx_token or "",
            settings.influx_org or "",
            settings.influx_bucket or "",
            timeout_s=settings.influx_timeout_s,
            retry=retry,
            lines_per_request=settings.influx_lines_per_request,
        )
    return SqliteReadingStore(settings.data_dir / "readings.db", settings.sqlite_raw_retention_days, clock)
