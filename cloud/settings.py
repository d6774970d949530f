"""One place for the cloud service's configuration, read from ``FURROW_*`` variables."""

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

StorageKind = Literal["sqlite", "influxdb1", "influxdb2"]


class Settings(BaseSettings):
    """Cloud service settings; every field can be set as ``FURROW_<NAME>``.

    Nothing here has a default secret: InfluxDB credentials and tokens are
    unset unless given, and the InfluxDB 2.x backend refuses to start without
    its token.
    """

    model_config = SettingsConfigDict(env_prefix="FURROW_", extra="ignore")

    # --- readings storage -------------------------------------------------
    storage: StorageKind = "sqlite"
    data_dir: Path = Field(default=Path(".furrow"), description="SQLite files live here")
    influx_url: str = "http://127.0.0.1:8086"
    influx_database: str = "furrow"  # InfluxDB 1.x
    influx_username: str | None = None  # InfluxDB 1.x
    influx_password: str | None = None  # InfluxDB 1.x
    influx_token: str | None = None  # InfluxDB 2.x
    influx_org: str | None = None  # InfluxDB 2.x
    influx_bucket: str | None = None  # InfluxDB 2.x
    influx_timeout_s: float = Field(default=10.0, gt=0)
    influx_write_retries: int = Field(
        default=3, ge=0, description="retries after the first attempt"
    )
    influx_retry_backoff_s: float = Field(default=0.5, ge=0)
    influx_lines_per_request: int = Field(default=5000, ge=1)

    # --- relational data (node routes, commands) ---------------------------
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default sqlite:///<data_dir>/furrow.db"
    )

    # --- cloud MQTT broker ------------------------------------------------
    mqtt_enabled: bool = True
    mqtt_host: str = "127.0.0.1"
    mqtt_port: int = Field(default=1883, ge=1, le=65535)
    mqtt_client_id: str | None = Field(
        default=None,
        description="set to keep a persistent session: the broker then queues QoS 1 "
        "messages while this worker is away",
    )
    mqtt_reconnect_max_s: float = Field(default=30.0, gt=0)
    topic_root: str = "furrow"
    ingest_shared_group: str | None = Field(
        default=None,
        description="subscribe to batches as $share/<group>/... so several workers split "
        "the stream (Mosquitto supports it; the embedded demo broker does not)",
    )

    # --- irrigation commands ------------------------------------------------
    command_default_max_runtime_s: int = Field(default=3600, ge=1, le=24 * 3600)
    command_default_ttl_s: int = Field(default=900, ge=1)

    @model_validator(mode="after")
    def _check_backend(self) -> "Settings":
        if self.storage == "influxdb2":
            missing = [
                "FURROW_INFLUX_" + name.upper()
                for name in ("token", "org", "bucket")
                if not getattr(self, "influx_" + name)
            ]
            if missing:
                raise ValueError("storage=influxdb2 needs " + ", ".join(missing))
        return self

    def resolved_database_url(self) -> str:
        """The relational database URL, defaulting to SQLite inside data_dir."""
        if self.database_url:
            return self.database_url
        return "sqlite:///" + str(self.data_dir / "furrow.db")
