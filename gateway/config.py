"""Gateway configuration: pydantic models read from one TOML file.

Validation touches no network: a config that loads is well formed, and an
error names the field (as a dotted path) and the value that broke it.
"""

from __future__ import annotations

import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from furrow.edge.batch import MAX_ITEMS
from furrow.edge.errors import ContractError
from furrow.edge.topics import check_id


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


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be a positive duration")
    return value


Duration = Annotated[timedelta, AfterValidator(_positive)]
"""A positive duration; TOML gives it as seconds (``5``, ``0.5``) or ISO 8601 (``"PT5S"``)."""


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

    @model_validator(mode="after")
    def _password_needs_user(self) -> BrokerConfig:
        if self.password is not None and self.username is None:
            raise ValueError("password given without username")
        return self


class ModbusDeviceConfig(_Model):
    """One Modbus node. Devices sharing host:port share one bus and one master."""

    node_id: Id
    host: str = Field(min_length=1)
    port: int = Field(default=502, ge=1, le=65535)
    unit: int = Field(default=1, ge=1, le=247)
    # RTU framing over TCP is what a serial-to-Ethernet converter (and the
    # emulated bus) speaks; "socket" is Modbus/TCP with the MBAP header.
    framer: Literal["rtu", "socket"] = "rtu"
    poll_interval: Duration = timedelta(seconds=5)
    timeout: Duration = timedelta(seconds=1)
    retries: int = Field(default=1, ge=0, le=5)
    # A device failing this many polls in a row is set aside: its next poll is
    # pushed back exponentially, up to backoff_max, so it never stalls the bus.
    fail_threshold: int = Field(default=3, ge=1)
    backoff_max: Duration = timedelta(minutes=5)


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
    modbus: list[ModbusDeviceConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_modbus(self) -> GatewayConfig:
        seen: dict[str, str] = {}
        for i, dev in enumerate(self.modbus):
            where = f"{dev.host}:{dev.port} unit {dev.unit}"
            if dev.node_id in seen.values():
                raise ValueError(f"modbus.{i}.node_id {dev.node_id!r} is configured twice")
            if where in seen:
                raise ValueError(f"modbus.{i}: {where} is already node {seen[where]!r}")
            seen[where] = dev.node_id
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
