"""Commands as the API shows them."""

from pydantic import BaseModel, ConfigDict

from .lifecycle import CommandState


class CommandEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    state: CommandState
    ts_ms: int
    reason: str | None = None


class CommandOut(BaseModel):
    """An irrigation command, where it is routed, and its state."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    node: str
    site: str
    gateway: str
    valve: int
    action: str
    duration_s: int | None
    max_runtime_s: int
    not_before_ms: int
    expires_ms: int
    state: CommandState
    created_ms: int
    updated_ms: int
    runtime_s: int | None = None
    volume_l: float | None = None
    reason: str | None = None
    zone: str | None = None
    amount_mm: float | None = None
    amount_min: float | None = None
    origin: str = "unknown"
    request_reason: str | None = None
    idempotency_key: str | None = None
    inject_ml: int | None = None
    inject_from_s: int | None = None
    inject_until_s: int | None = None
    injected_ml: int | None = None
    injected_flag: str | None = None
    """A fertigate whose reported volume is beyond its dose plus one tick of its pump: why the count is suspect."""
    events: list[CommandEventOut] = []
