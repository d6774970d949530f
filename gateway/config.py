"""Gateway configuration: pydantic models read from one TOML file.

Validation touches no network: a config that loads is well formed, and an
error names the field (as a dotted path) and the value that broke it.
"""

from __future__ import annotations

import logging
import ssl
import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from furrow.edge.batch import MAX_ITEMS
from furrow.edge.errors import ContractError
from furrow.edge.topics import check_id

log = logging.getLogger(__name__)

Framing = Literal["rtu", "tcp"]
"""How Modbus frames travel over TCP: raw RTU frames (a serial-to-Ethernet converter, the emulated
bus) or Modbus/TCP with its MBAP header. One name for it in the gateway's config, `furrow modbus
scan --framing` and `furrow hil node --framing`."""
OLD_FRAMER = {"rtu": "rtu", "socket": "tcp"}  # the config's spelling before 1.2: framer = "rtu" | "socket"


def _contract_id(value: str) -> str:
    # check_id raises ContractError; pydantic only turns ValueError/AssertionError
    # into a field error, and ContractError is a ValueError, but its message
    # repeats the field name pydantic already prints, so give only the reason.
    try:
        return check_id("id", value)
    except ContractError as e:
        raise ValueError(e.reason) from None


Id = Annotated[str, AfterValidator(_contract_id)]
"""A site, node or gateway id: 1-32 of [a-z0-9_-] (see furrow.edge.topics)."""


def _not_negative(value: timedelta) -> timedelta:
    if value < timedelta(0):
        raise ValueError("must not be negative")
    return value


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be a positive duration")
    return value


Duration = Annotated[timedelta, AfterValidator(_positive)]
"""A positive duration; TOML gives it as seconds (``5``, ``0.5``) or ISO 8601 (``"PT5S"``)."""
Delay = Annotated[timedelta, AfterValidator(_not_negative)]
"""A duration that may be zero."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BrokerConfig(_Model):
    """One MQTT broker: the farm broker the nodes talk to, or the cloud broker."""

    host: str = Field(min_length=1)
    port: int = Field(default=1883, ge=1, le=65535)
    username: str | None = None
    password: str | None = None
    keepalive: Duration = timedelta(seconds=30)
    # How long a CONNACK or PUBACK may take before the link counts as down.
    timeout: Duration = timedelta(seconds=10)
    # TLS: set `tls = true` (system CAs) or give `ca_file`; `cert_file` and
    # `key_file` add a client certificate (mutual TLS).
    tls: bool = False
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    # The broker's own mosquitto.conf when it runs on this box (the farm broker): the gateway
    # reads its persistence settings at start and warns about any that lose readings
    # (broker_check.py). Read for [farm_broker] only.
    mosquitto_conf: Path | None = None

    @model_validator(mode="after")
    def _password_needs_user(self) -> BrokerConfig:
        if self.password is not None and self.username is None:
            raise ValueError("password given without username")
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together")
        return self

    @property
    def uses_tls(self) -> bool:
        return self.tls or self.ca_file is not None or self.cert_file is not None

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context for this broker, or None for plain TCP."""
        if not self.uses_tls:
            return None
        ctx = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
        if self.cert_file is not None and self.key_file is not None:
            ctx.load_cert_chain(str(self.cert_file), str(self.key_file))
        return ctx


class ModbusDeviceConfig(_Model):
    """One Modbus node. Devices sharing host:port share one bus and one master."""

    node_id: Id
    # A serial-to-Ethernet converter (host, port) or a local serial line
    # (serial_port, e.g. "/dev/ttyUSB0", always RTU): one of the two.
    host: str = ""
    port: int = Field(default=502, ge=1, le=65535)
    serial_port: str | None = None
    unit: int = Field(default=1, ge=1, le=247)
    # RTU framing over TCP is what a serial-to-Ethernet converter (and the
    # emulated bus) speaks; "tcp" is Modbus/TCP with the MBAP header.
    framing: Framing = "rtu"
    poll_interval: Duration = timedelta(seconds=5)
    timeout: Duration = timedelta(seconds=1)
    retries: int = Field(default=1, ge=0, le=5)
    # A device failing this many polls in a row is set aside: its next poll is
    # pushed back exponentially, up to backoff_max, so it never stalls the bus.
    fail_threshold: int = Field(default=3, ge=1)
    backoff_max: Duration = timedelta(minutes=5)
    # The bus's baud rate sets the inter-frame gap (3.5 characters of 11
    # bits) the master leaves before every request; all devices on one port
    # must agree on it.
    baud: int = Field(default=19_200, ge=300, le=1_000_000)
    # Silence this device needs after answering before the bus may carry the
    # next request, when longer than the t3.5 inter-frame gap the master
    # always keeps (3.5 characters, 2.0 ms at 19,200 baud; 1.75 ms above).
    # Default 0: t3.5 alone. Modbus over Serial Line V1.02 (Modbus.org, 2006)
    # asks no more of a master after a unicast reply (2.4.1: its "turnaround
    # delay", typically 100-200 ms, follows broadcasts only, and Furrow never
    # broadcasts; 2.5.1.1 and Figure 14: a device is ready to receive t3.5
    # after its last character), and pymodbus keeps the same (the serial
    # client's silent_interval). Set it for a device whose manual asks for a
    # pause between requests (a slow transceiver switching back from
    # transmit). Until 2026-12 this defaulted to 5 ms.
    turnaround: Delay = timedelta(0)
    # The role, when known, lets the poller read only the registers the role
    # uses (merged into as few requests as pay off); unknown, the first poll
    # reads the whole map and learns it from input register 1.
    role: Literal["soil", "weather", "irrigation", "pest"] | None = None
    # An irrigation node serving the command mailbox (holding registers
    # 32-58) and its latest ack (input registers 112-133): commands for it go
    # over Modbus, its acks come back by polling. See docs/contract.md.
    commands: bool = False
    # 1.5: the node has a fertigation injector: its ack block is read with the volume injected
    # (input registers 112-135). A node older than 1.5 refuses that read: leave it off there.
    injector: bool = False

    @model_validator(mode="before")
    @classmethod
    def _old_framer(cls, data: Any) -> Any:
        """`framer = "rtu" | "socket"` is the old spelling of `framing = "rtu" | "tcp"`: taken, with a
        warning that says what to write instead."""
        if not isinstance(data, dict) or "framer" not in data:
            return data
        data = dict(data)
        old = data.pop("framer")
        if "framing" in data:
            raise ValueError(f"framer={old!r} and framing={data['framing']!r}: give framing only (framer is its "
                             "old name)")
        if old not in OLD_FRAMER:
            raise ValueError(f"framer={old!r}: give framing = 'rtu' or 'tcp' (framer is its old name)")
        data["framing"] = OLD_FRAMER[old]
        log.warning("modbus device %s: framer = %r is the old spelling; write framing = %r",
                    data.get("node_id"), old, data["framing"])
        return data

    @model_validator(mode="after")
    def _one_transport(self) -> ModbusDeviceConfig:
        if bool(self.host) == bool(self.serial_port):
            raise ValueError("give either host (Modbus over TCP) or serial_port (RS-485 line), not both")
        return self

    @property
    def bus(self) -> str:
        """The bus this device is on: devices on one bus share one master."""
        return self.serial_port or f"{self.host}:{self.port}"


class BufferQuota(_Model):
    """Bounds on the durable buffer; see docs/gateway.md, "When the buffer is full"."""

    # Pending readings at most (0: no bound).
    max_rows: int = Field(default=2_000_000, ge=0)
    # Bytes of the SQLite file in use at most (0: no bound). Checked after
    # each commit; SQLite reuses freed pages, so the file stops growing here.
    max_bytes: int = Field(default=2_000_000_000, ge=0)
    # Readings of these roles are dropped last (oldest first within a class).
    keep_roles: list[Literal["soil", "weather", "irrigation", "pest"]] = Field(
        default_factory=lambda: ["irrigation"]
    )
    # How long forwarded (node, seq) keys are remembered, so a node's late
    # redelivery of a reading the cloud already has is not sent twice.
    dedup_window: Duration = timedelta(days=2)


class HttpsSinkConfig(_Model):
    """Batches (and images) by HTTPS POST to the cloud API instead of MQTT."""

    url: str = Field(min_length=1, pattern=r"^https?://")  # .../api/v1/ingest/batch
    # Where the periodic status goes (default: the status route beside `url`,
    # .../api/v1/gateways/{site}/{gateway}/status).
    status_url: str | None = Field(default=None, min_length=1, pattern=r"^https?://")
    # Where camera nodes' images go (default: the image route beside `url`, .../api/v1/ingest/image).
    image_url: str | None = Field(default=None, min_length=1, pattern=r"^https?://")
    token: str | None = None
    # Trust this CA for the cloud's certificate (default: the system's CAs);
    # cert_file and key_file present a client certificate (mutual TLS).
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    timeout: Duration = timedelta(seconds=10)

    @model_validator(mode="after")
    def _cert_and_key(self) -> HttpsSinkConfig:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together")
        return self

    def ssl_context(self) -> ssl.SSLContext:
        """The TLS context for the sink: verify the cloud, and present our certificate if we have one."""
        ctx = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
        if self.cert_file is not None and self.key_file is not None:
            ctx.load_cert_chain(str(self.cert_file), str(self.key_file))
        return ctx


class CommandAuthConfig(_Model):
    """Signed commands (contract 1.1); see docs/gateway.md, "Signed commands".

    With `keys` set, the relay passes on only commands signed by one of these
    cloud keys, for this gateway, not expired and never seen before. Empty,
    nothing is checked (demo only: the gateway warns at start and /health
    says "commands": "unsigned").
    """

    # key id -> PEM public key file, as `furrow cloud keys generate` writes
    # it; list the old and the new key while the cloud rotates.
    keys: dict[Id, Path] = Field(default_factory=dict)
    # The ids of relayed commands, kept until they expired (default: beside
    # the buffer, <buffer>.cmdids.sqlite).
    seen_path: Path | None = None


class GatewayConfig(_Model):
    """Everything one gateway needs; see gateway/gateway.example.toml."""

    site: Id
    gateway_id: Id
    topic_root: str = Field(default="furrow", min_length=1, pattern=r"^[^#+]+$")
    farm_broker: BrokerConfig
    cloud_broker: BrokerConfig
    buffer_path: Path
    forward_batch_size: int = Field(default=500, ge=1, le=MAX_ITEMS)
    forward_interval: Duration = timedelta(seconds=1)
    # A sent batch stays in the buffer until the cloud's receipt for it. One still without a
    # receipt goes again once the cloud has answered a batch sent this much later; with nothing
    # else to send, an empty batch goes this often to ask (forwarder.py).
    receipt_wait: Duration = timedelta(seconds=60)
    # "required": a batch leaves the buffer only with the cloud's receipt, from the first batch on.
    # "auto": until the first receipt ever, a batch leaves at the cloud broker's PUBACK, for a cloud
    # from before receipts (or a bare broker). `furrow gateway add` writes "required": a cloud that
    # issues credentials sends receipts, and a fresh gateway must not trust PUBACKs (a broker that
    # crashes before its next save loses what it acknowledged).
    receipts: Literal["auto", "required"] = "auto"
    # zlib-compress batch payloads (the receiver tells them by the zlib
    # header byte 0x78; JSON starts with "{").
    compress: bool = True
    # zlib's level for those batches: 6 is the smallest for its CPU; 1 and 3 cost about a third of
    # its CPU and send 36% and 19% more bytes (docs/gateway.md: bytes over cellular cost money, a
    # backlog drain's CPU is time).
    compress_level: int = Field(default=6, ge=1, le=9)
    # Batches go over the cloud MQTT link ("mqtt") or by HTTPS POST ("https",
    # needs [https]). Commands and acks always use the cloud MQTT link.
    forward_via: Literal["mqtt", "https"] = "mqtt"
    https: HttpsSinkConfig | None = None
    # After an outage, readings received within this window go before the
    # backlog (half of each batch), so dashboards see the present at once.
    fresh_window: Duration = timedelta(minutes=2)
    quota: BufferQuota = Field(default_factory=BufferQuota)
    # Camera nodes' images (contract 1.3) live beside the readings in <buffer>.images.db, within
    # this quota of their own: a full image store drops its oldest image, never a reading.
    image_quota_bytes: int = Field(default=64 * 1024 * 1024, ge=1024 * 1024)
    # An image forwarded without the cloud's receipt within this time goes again.
    image_receipt_wait: Duration = timedelta(seconds=60)
    # Images on the MQTT cloud link waiting for their receipts at once (1: one at a time).
    image_window: int = Field(default=4, ge=1, le=64)
    # Heartbeats on node/{id}/cmd to every irrigation node the gateway knows
    # (configured here, or seen reporting), so their valves stay allowed open.
    heartbeat_interval: Duration = timedelta(seconds=60)
    irrigation_nodes: list[Id] = Field(default_factory=list)
    # The gateway's status with its Modbus counters goes to the cloud this
    # often (the bus health page's rates are over the newest two reports).
    status_interval: Duration = timedelta(seconds=60)
    # Each node's message budget on the farm broker (gateway/flood.py): a burst
    # (a node replaying its flash outbox after an outage must fit), then a
    # sustained rate. Beyond it the node's messages are counted, not stored.
    node_burst: int = Field(default=2000, ge=1)
    node_rate_per_s: float = Field(default=20.0, gt=0)
    # Prometheus /metrics and /health; 0 turns the HTTP server off.
    http_port: int = Field(default=9108, ge=0, le=65535)
    http_host: str = "127.0.0.1"
    modbus: list[ModbusDeviceConfig] = Field(default_factory=list)
    command_auth: CommandAuthConfig = Field(default_factory=CommandAuthConfig)

    @model_validator(mode="after")
    def _unique_modbus(self) -> GatewayConfig:
        seen: dict[str, str] = {}
        for i, dev in enumerate(self.modbus):
            where = f"{dev.bus} unit {dev.unit}"
            if dev.node_id in seen.values():
                raise ValueError(f"modbus.{i}.node_id {dev.node_id!r} is configured twice")
            if where in seen:
                raise ValueError(f"modbus.{i}: {where} is already node {seen[where]!r}")
            seen[where] = dev.node_id
        bauds: dict[str, int] = {}
        for i, dev in enumerate(self.modbus):
            port = dev.bus
            if bauds.setdefault(port, dev.baud) != dev.baud:
                raise ValueError(f"modbus.{i}.baud={dev.baud}: bus {port} runs at {bauds[port]}")
        if self.forward_via == "https" and self.https is None:
            raise ValueError("forward_via = 'https' needs an [https] table with the url")
        return self


class ConfigError(ValueError):
    """A config file that cannot be used; the message names file, field and value."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        super().__init__(f"{path}: " + "; ".join(problems))


def load_config(path: str | Path) -> GatewayConfig:
    """Read and validate a gateway TOML file.

    Raises ConfigError naming each bad field as a dotted path with its value,
    e.g. ``modbus.0.unit=300: Input should be less than or equal to 247``.
    """
    path = Path(path)
    try:
        with path.open("rb") as f:
            raw = tomllib.load(f)
    except OSError as e:
        raise ConfigError(path, [f"cannot read: {e.strerror or e}"]) from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(path, [f"not valid TOML: {e}"]) from None
    except UnicodeDecodeError as e:  # TOML is UTF-8; tomllib lets the decode error through
        raise ConfigError(path, [f"not valid TOML: not UTF-8 at byte {e.start}: {e.reason}"]) from None
    except RecursionError:  # tomllib parses nested arrays and tables recursively
        raise ConfigError(path, ["not valid TOML: arrays or tables nested too deeply"]) from None
    try:
        return GatewayConfig.model_validate(raw)
    except ValidationError as e:
        problems = []
        for err in e.errors():
            field = ".".join(str(p) for p in err["loc"]) or "(top level)"
            value = err.get("input")
            if err["type"] == "missing":
                problems.append(f"{field}: missing")
            elif isinstance(value, dict) or field.endswith("password"):
                # A whole table (or a secret) is no help in the message.
                problems.append(f"{field}: {err['msg']}")
            else:
                problems.append(f"{field}={value!r}: {err['msg']}")
        raise ConfigError(path, problems) from None
