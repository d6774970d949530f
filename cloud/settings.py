"""One place for the cloud service's configuration, read from ``FURROW_*`` variables."""

import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs, urlsplit

from pydantic import AnyHttpUrl, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

StorageKind = Literal["sqlite", "influxdb1", "influxdb2"]

# Secrets that are refused outside demo mode: empty, short, or well known.
WEAK_SECRETS = frozenset({"changeme", "change-me", "secret", "furrow", "password", "default", "demo"})
DEMO_SECRET_KEY = "furrow-demo-mode-only-not-a-secret"
MIN_SECRET_LEN = 16
MIN_ADMIN_TOKEN_LEN = 32
PHONE = re.compile(r"\+?[0-9]{5,15}")  # E.164 allows at most 15 digits; short codes have 5
DEFAULT_SMS_TEMPLATE = '{"to": "{to}", "text": "{text}"}'


def _robot_url(value: SecretStr | None, param: str) -> SecretStr | None:
    """A robot's webhook address as its page gives it: http(s), with its credential `param` in the query."""
    if value is None:
        return None
    parts = urlsplit(value.get_secret_value())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be the robot's webhook address, https://...")
    if not parse_qs(parts.query).get(param, [""])[0]:
        raise ValueError(f"has no {param}=... in its query: paste the whole webhook address the robot's page shows")
    return value


TILE_HOST = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?|[0-9A-Fa-f.]*:[0-9A-Fa-f:.]*")  # a name, or IPv6


def tile_url(value: str | None) -> str | None:
    """A basemap's XYZ tile URL as Leaflet takes it: http(s), one host (the content security policy's one
    image origin), and {z}, {x} and {y} in the path or query and no other placeholder."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an http:// or https:// tile address, such as "
                         "https://tiles.example.org/{z}/{x}/{y}.png")
    if "@" in parts.netloc or not TILE_HOST.fullmatch(parts.hostname or "") or "{" in parts.netloc:
        raise ValueError("must name one tile server host (no {s} subdomains, no user:password@): "
                         "the dashboard allows images from that one origin")
    try:
        parts.port  # noqa: B018 - a port that is not a number in 0..65535 raises
    except ValueError:
        raise ValueError("has a port that is not a number from 0 to 65535") from None
    rest = value[len(f"{parts.scheme}://{parts.netloc}"):]
    missing = [p for p in ("{z}", "{x}", "{y}") if p not in rest]
    if missing:
        raise ValueError(f"has no {', '.join(missing)}: Leaflet fills in the zoom {{z}} and tile {{x}}, {{y}}")
    other = sorted(set(re.findall(r"\{[^}]*\}", rest)) - {"{z}", "{x}", "{y}"})
    if other:
        raise ValueError(f"has the placeholder {other[0]}: only {{z}}, {{x}} and {{y}} are filled in")
    if any(c.isspace() or c in "\"'<>;," for c in value):
        raise ValueError("has a space, quote, angle bracket, comma or semicolon: percent-encode it")
    return value


def tile_origin(url: str) -> str:
    """scheme://host[:port] of a checked tile URL: the one origin the dashboard takes images from."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


class Settings(BaseSettings):
    """Cloud service settings; every field can be set as ``FURROW_<NAME>``.

    Nothing here has a default secret: InfluxDB credentials and tokens are
    unset unless given, and the InfluxDB 2.x backend refuses to start without
    its token. ``secret_key`` (the key API tokens are hashed with) must be set
    to a long random value unless ``demo_mode`` is on.
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
    influx_rollups: bool = Field(default=True, description="InfluxDB 1.x: hourly and daily roll-ups "
                                 "(retention policies + continuous queries) made at startup")
    influx_raw_retention_days: int | None = Field(
        default=None, ge=1, description="InfluxDB 1.x: drop raw points after this many days (None: keep); "
        "older ranges are then answered from the roll-ups")
    influx_hourly_retention_days: int | None = Field(default=5 * 365, ge=1)
    influx_chart_cache_rows: int = Field(
        default=6_000_000, ge=0, description="InfluxDB 1.x: sensor-hours (and sensor-days) of closed roll-up "
        "windows kept in memory for charts, 28 bytes each, and 32 for each node's block (a 90-day zone of 20 "
        "sensors is 43,200; the default, 168 MB when full, holds 100 such zones with the warm-up's 20% to spare); "
        "0: none")
    influx_chart_warm_days: int = Field(
        default=90, ge=0, le=366, description="InfluxDB 1.x: at startup and hourly, read this many days of every "
        "zone's soil chart into the chart cache (new zones while it is under 80% full, the zones held kept "
        "current), so a zone's first chart answers from memory; 0: none")
    sqlite_raw_retention_days: int | None = Field(
        default=None, ge=1, description="SQLite: drop raw readings after this many days (None: keep); "
        "hourly roll-ups are kept and answer hourly and daily series for older ranges")
    rollup_interval_s: float = Field(default=300.0, gt=0, description="SQLite: how often the roll-up "
                                     "and retention job runs")

    # --- relational data (node routes, commands) ---------------------------
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default sqlite:///<data_dir>/furrow.db"
    )

    # --- API authentication ---------------------------------------------
    secret_key: SecretStr | None = Field(
        default=None,
        description="key of the HMAC-SHA256 that API tokens are stored under; at least "
        f"{MIN_SECRET_LEN} characters, required unless demo_mode",
    )
    demo_mode: bool = Field(
        default=False,
        description="one-machine demo: a built-in secret key, and an admin token created and printed "
        "at startup when bootstrap_admin_token is not given. Never on a real farm",
    )
    bootstrap_admin_token: SecretStr | None = Field(
        default=None,
        description="a token the service accepts as admin from startup (stored hashed); for "
        "first setup and automation. `furrow cloud token create` is the other way in",
    )
    secret_key_file: Path | None = Field(
        default=None, description="read secret_key from this file instead (a mounted secret); "
        "one trailing newline is ignored")
    bootstrap_admin_token_file: Path | None = Field(default=None, description="bootstrap_admin_token from a file")
    token_ttl_days: int = Field(default=90, ge=1, le=3650)
    login_token_ttl_hours: float = Field(default=12.0, gt=0, le=24 * 90, description="tokens from password login")
    login_max_failures: int = Field(default=5, ge=1, le=1000, description="failed logins per user name and "
                                    "per client address within login_window_s before 429")
    login_window_s: float = Field(default=60.0, gt=0, le=86400)
    public_max_requests: int = Field(default=120, ge=1, le=100_000, description="requests per client address "
                                     "within public_window_s to the pages open without a token (/lot/{token}, "
                                     "/open-data) before 429: an unguessable address is not guessed by a flood")
    public_window_s: float = Field(default=60.0, gt=0, le=86400)
    gateway_token_ttl_days: int = Field(default=365, ge=1, le=3650)

    # --- cloud MQTT broker ------------------------------------------------
    mqtt_enabled: bool = True
    mqtt_host: str = "127.0.0.1"
    mqtt_port: int = Field(default=1883, ge=1, le=65535)
    mqtt_username: str | None = Field(default=None, description="the cloud's broker login (furrow@cloud from "
                                      "`furrow broker config`)")
    mqtt_password: SecretStr | None = None
    mqtt_password_file: Path | None = Field(default=None, description="mqtt_password from a file "
                                            "(e.g. the service.password `furrow broker config` writes)")
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
    ingest_in_flight: int = Field(
        default=16, ge=1, le=64,
        description="batches one worker handles at once: the next decode while the previous are being "
        "written (with InfluxDB, merged in one write: ingest_merge_readings); each is still acknowledged only "
        "once stored, in the order they came (1: one at a time)",
    )
    ingest_merge_readings: int = Field(
        default=20_000, ge=0, le=1_000_000,
        description="InfluxDB only: the readings of batches in flight together are written in one request of up "
        "to this many (a batch larger than this goes alone); each batch is still acknowledged only once its own "
        "readings are stored, and a write the store refuses is retried batch by batch so only the bad one is "
        "refused (0: one write per batch)",
    )

    # --- irrigation commands ------------------------------------------------
    command_default_max_runtime_s: int = Field(default=3600, ge=1, le=24 * 3600)
    command_default_ttl_s: int = Field(default=900, ge=1)
    command_expiry_interval_s: float = Field(default=5.0, gt=0, description="how often the expiry job runs")
    trace_sign_interval_s: float = Field(default=3600.0, gt=0, description="production records: how often the "
                                         "head of every chain that grew is signed (docs/traceability.md)")
    regional_min_farms: int = Field(default=3, ge=3, le=100, description="the regional view withholds a cell "
                                    "of fewer farms (organisations): 3 is the smallest threshold statistics offices "
                                    "use (OECD glossary, threshold rule); below 3, either of two farms could "
                                    "subtract itself and read the other (docs/regional.md)")
    open_data_license: AnyHttpUrl | None = Field(
        default="https://creativecommons.org/licenses/by/4.0/", description="the licence open datasets are "
        "published under (their DCAT record's dct:license); unset: the record names none (docs/regional.md)")
    public_url: AnyHttpUrl | None = Field(default=None, description="the address the public sees this service "
                                          "at (https://trace.example.farm): what a lot report's QR code points to; "
                                          "default: the address the report was asked at (docs/traceability.md)")
    plan_validity_s: int = Field(default=86400, ge=1, description="how long a gateway may keep to the plan "
                                 "the cloud last sent it (cloud/commands/plans.py) while the cloud is away")
    command_send_ahead_s: float | None = Field(
        default=None, ge=0, description="unset: a command is sent as soon as it is created; set: one whose "
        "not-before is further away than this waits in the cloud (and in its gateway's plan) and is sent "
        "that long before its not-before, so during a WAN outage only the plan's validity lets it run")

    # --- irrigation planner (issue 6) ----------------------------------------
    planning_interval_s: float = Field(default=3600.0, ge=0, description="how often every zone is planned "
                                       "(decisions of origin \"scheduler\"); 0 turns the scheduled job off")
    forecast_file: Path | None = Field(default=None, description="a JSON forecast file (cloud/planning/forecast.py) "
                                       "the planner and alerts read when forecast_provider is \"file\" (setting it "
                                       "alone chooses the file provider)")
    forecast_provider: Literal["none", "file", "open-meteo"] | None = Field(
        default=None, description="where forecasts come from: none, file (forecast_file) or open-meteo "
        "(forecast_url); unset: file when forecast_file is set, else none")
    forecast_url: str = Field(default="https://api.open-meteo.com", max_length=300, description="Open-Meteo's "
                              "base URL, or a self-hosted instance's (same API)")
    forecast_timeout_s: float = Field(default=5.0, gt=0, le=60, description="how long one forecast request may take")
    forecast_refresh_s: float = Field(default=10800.0, ge=0, description="a forecast is asked again after this "
                                      "long; until then the stored one is used (0: at every plan)")
    forecast_max_age_s: float = Field(default=86400.0, gt=0, description="a forecast issued (or, when the provider "
                                      "fails, fetched) longer ago than this is stale and not used")
    command_signing_keys_dir: Path | None = Field(
        default=None, description="directory of Ed25519 command signing keys (<kid>.key, <kid>.pub; "
        "`furrow cloud keys generate`); unset, commands go out unsigned (demo mode makes a key in data_dir)")
    command_signing_kid: str | None = Field(default=None, description="the key that signs (default: the newest)")
    command_node_keys_file: Path | None = Field(
        default=None, description="JSON {node: hex key} of irrigation nodes that check a node MAC "
        "(`furrow cloud keys node-key`)")

    # --- alerts (cloud/alerts/) ---------------------------------------------
    alerts_interval_s: float = Field(default=60.0, gt=0, description="how often the alert rules are evaluated")
    alerts_report_interval_s: float = Field(
        default=300.0, gt=0, description="nodes' report interval: silent for 3 of them is node-offline")
    alerts_trap_threshold_per_week: float | None = Field(
        default=None, gt=0, description="pest action threshold, catch per trap per week, of pest-node counters "
        "with no lure (a lured one has its species' own; None: no such alerts; none is built in)")
    alert_webhook_url: AnyHttpUrl | None = Field(default=None, description="POST every raised, escalated and "
                                          "resolved alert here as JSON")
    alert_webhook_secret: SecretStr | None = Field(
        default=None, description="signs each webhook body: X-Furrow-Signature: sha256=<HMAC-SHA256 hex>")
    alert_delivery_attempts: int = Field(default=5, ge=1, le=100, description="per alert and channel (MQTT, "
                                         "webhook, WeCom, DingTalk, SMS) before it is counted as failed")
    alert_delivery_backoff_s: float = Field(default=1.0, ge=0, description="first retry delay; doubles, "
                                            "up to 60 s")
    alert_locale: Literal["zh-CN", "en"] = Field(default="zh-CN", description="the language of the WeCom, "
                                                 "DingTalk and SMS messages (the dashboard's catalogues)")
    alert_wecom_webhook_url: SecretStr | None = Field(
        default=None, description="a WeCom (企业微信) group robot's webhook address, "
        "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=...: every alert change is posted to its group")
    alert_dingtalk_webhook_url: SecretStr | None = Field(
        default=None, description="a DingTalk (钉钉) custom robot's webhook address, "
        "https://oapi.dingtalk.com/robot/send?access_token=...")
    alert_dingtalk_secret: SecretStr | None = Field(default=None, description="the robot's 加签 secret (SEC...), "
                                                    "when its security setting is signing")
    alert_sms_url: AnyHttpUrl | None = Field(default=None, description="the SMS provider's (or relay's) URL that "
                                             "takes a POST of alert_sms_template")
    alert_sms_token: SecretStr | None = Field(default=None, description="sent as Authorization: Bearer <token>")
    alert_sms_template: str = Field(default=DEFAULT_SMS_TEMPLATE, max_length=2000, description="the JSON object "
                                    "posted: \"{to}\" becomes the list of numbers (inside a longer string, "
                                    "comma-joined), {text} the message")
    alert_sms_to: Annotated[list[str], NoDecode] = Field(default_factory=list, description="phone numbers, "
                                                         "comma-separated (+8613800138000,...)")
    alert_sms_min_severity: Literal["info", "warning", "critical"] = Field(
        default="critical", description="SMS only raised and escalated alerts of at least this severity")
    # --- the dashboard's map (docs/dashboard.md "The map's basemap") ---------
    map_tile_url: str | None = Field(
        default=None, max_length=2000, description="the basemap's raster tiles, http(s)://host[:port]/...{z}...{x}"
        "...{y}... (XYZ, Web Mercator); the dashboard's content security policy allows images from this "
        "origin only; none: the map draws fields, tracks and machines on a plain background")
    map_tile_attribution: str = Field(default="", max_length=300, description="shown in the map's corner as "
                                      "text, as the tile provider's terms ask")
    map_max_zoom: int = Field(default=18, ge=1, le=22, description="the deepest zoom level the tile server has")

    # Images from camera nodes (cloud/images/): files by default, an S3-compatible bucket when named.
    images_dir: Path | None = Field(default=None, description="where image files live (default: "
                                    "<data_dir>/images); unused with images_s3_bucket")
    images_s3_bucket: str | None = Field(default=None, min_length=3, max_length=63,
                                         description="keep images in this S3 bucket instead of files")
    images_s3_endpoint: str | None = Field(default=None, description="the S3-compatible server's URL "
                                           "(SeaweedFS, MinIO, Ceph RGW ...); none: AWS")
    images_s3_access_key: str | None = None
    images_s3_secret_key: SecretStr | None = None
    images_s3_region: str = "us-east-1"
    images_retention_days: int | None = Field(default=None, ge=1, description="delete images taken longer "
                                              "ago than this (None: keep)")
    images_retention_interval_s: float = Field(default=3600.0, gt=0, description="how often retention runs")

    @field_validator("map_tile_url")
    @classmethod
    def _tile_url(cls, v: str | None) -> str | None:
        return tile_url(v)

    @field_validator("open_data_license", mode="before")
    @classmethod
    def _no_licence(cls, v: Any) -> Any:
        return None if isinstance(v, str) and not v.strip() else v

    @field_validator("alert_wecom_webhook_url")
    @classmethod
    def _wecom_url(cls, v: SecretStr | None) -> SecretStr | None:
        return _robot_url(v, "key")

    @field_validator("alert_dingtalk_webhook_url")
    @classmethod
    def _dingtalk_url(cls, v: SecretStr | None) -> SecretStr | None:
        return _robot_url(v, "access_token")

    @field_validator("alert_dingtalk_secret")
    @classmethod
    def _dingtalk_secret(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None and not v.get_secret_value().startswith("SEC"):
            raise ValueError("is not a DingTalk signing secret: the robot's page shows one starting with SEC")
        return v

    @field_validator("alert_sms_to", mode="before")
    @classmethod
    def _split_numbers(cls, v: Any) -> Any:
        return [p.strip() for p in v.split(",") if p.strip()] if isinstance(v, str) else v

    @field_validator("alert_sms_to")
    @classmethod
    def _phone_numbers(cls, v: list[str]) -> list[str]:
        bad = [n for n in v if not PHONE.fullmatch(n)]
        if bad:
            raise ValueError(f"{bad[0]!r} is not a phone number: digits only, with an optional leading + "
                             "and country code (+8613800138000)")
        return v

    @field_validator("alert_sms_template")
    @classmethod
    def _sms_template(cls, v: str) -> str:
        try:
            template = json.loads(v)
        except ValueError as e:
            raise ValueError(f"is not JSON: {e}") from None
        if not isinstance(template, dict) or "{text}" not in v:
            raise ValueError("must be a JSON object with {text} in one of its strings")
        return v

    @model_validator(mode="after")
    def _sms_has_numbers(self) -> "Settings":
        if self.alert_sms_url is not None and not self.alert_sms_to:
            raise ValueError("FURROW_ALERT_SMS_URL is set but FURROW_ALERT_SMS_TO is empty: name the phone numbers "
                             "to send alerts to")
        return self

    @model_validator(mode="before")
    @classmethod
    def _secrets_from_files(cls, data: Any) -> Any:
        # A secret given as a file (Docker/Kubernetes secrets) beats none; the value itself wins.
        if not isinstance(data, dict):
            return data
        for name in ("secret_key", "bootstrap_admin_token", "mqtt_password"):
            path = data.get(f"{name}_file")
            if path and not data.get(name):
                try:
                    data[name] = Path(path).read_text().removesuffix("\n")
                except OSError as e:
                    raise ValueError(f"FURROW_{name.upper()}_FILE={path!s}: cannot read: {e.strerror or e}") from None
        return data

    @model_validator(mode="after")
    def _check_secret(self) -> "Settings":
        if self.demo_mode:
            return self
        key = self.secret_key.get_secret_value() if self.secret_key is not None else ""
        if not key.strip():
            raise ValueError("FURROW_SECRET_KEY is not set: set it to a long random value "
                             "(python -c 'import secrets; print(secrets.token_urlsafe(32))'), "
                             "or set FURROW_DEMO_MODE=true for a one-machine demo")
        if len(key) < MIN_SECRET_LEN or key.lower() in WEAK_SECRETS or key == DEMO_SECRET_KEY:
            raise ValueError(f"FURROW_SECRET_KEY is a default or weak value: use at least "
                             f"{MIN_SECRET_LEN} random characters")
        admin = self.bootstrap_admin_token.get_secret_value() if self.bootstrap_admin_token is not None else None
        if admin is not None and (len(admin) < MIN_ADMIN_TOKEN_LEN or not admin.startswith("fw_")):
            raise ValueError(f"FURROW_BOOTSTRAP_ADMIN_TOKEN is weak: it must start with fw_ and have at least "
                             f"{MIN_ADMIN_TOKEN_LEN} characters (python -c 'import secrets; "
                             f"print(\"fw_admin_\" + secrets.token_urlsafe(32))')")
        return self

    def token_key(self) -> bytes:
        """The key API tokens are hashed with (the built-in one only in demo mode)."""
        if self.secret_key is not None and self.secret_key.get_secret_value():
            return self.secret_key.get_secret_value().encode()
        return DEMO_SECRET_KEY.encode()

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


class SettingsError(ValueError):
    """The ``FURROW_*`` variables do not make valid settings. The message is one line that names
    each variable to set or fix, without pydantic's boilerplate (and never a secret's value)."""


_SECRETS = frozenset({"secret_key", "bootstrap_admin_token", "mqtt_password", "influx_password", "influx_token",
                      "alert_webhook_secret", "alert_wecom_webhook_url", "alert_dingtalk_webhook_url",
                      "alert_dingtalk_secret", "alert_sms_token"})


def load_settings(**values: Any) -> Settings:
    """Settings from the environment (and `values`); SettingsError saying what to set."""
    try:
        return Settings(**values)
    except ValidationError as e:
        raise SettingsError("; ".join(_variable_problem(err) for err in e.errors())) from None


def _variable_problem(err: Any) -> str:
    loc = err.get("loc") or ()
    if not loc:  # a check of the whole: its message names the variable (FURROW_SECRET_KEY is not set ...)
        return str((err.get("ctx") or {}).get("error") or err["msg"])
    name = str(loc[0])
    given = "" if name in _SECRETS else f"={err.get('input')!r}"
    return f"FURROW_{name.upper()}{given}: {err['msg']}"
