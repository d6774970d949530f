"""Request and response models of the HTTP API (the OpenAPI docs show their examples)."""

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

EXAMPLE_BATCH = {
    "v": "1.0",
    "site": "demo",
    "gateway": "gw-1",
    "batch_id": "gw-1-000042",
    "sent_ms": 1767225600000,
    "items": [
        {
            "v": "1.0", "node": "soil-01", "role": "soil", "seq": 42,
            "ts_ms": 1767225590000, "fw": "0.1.0", "bat_v": 3.71, "rssi_dbm": -67,
            "readings": [
                {"name": "vwc_pct", "value": 23.4, "unit": "%", "depth_cm": 10},
                {"name": "soil_temp_c", "value": None, "unit": "degC", "depth_cm": 10,
                 "fault": "disconnected"},
            ],
            "rx_ms": 1767225591000, "flags": [],
        }
    ],
}


class Problem(BaseModel):
    """One thing wrong with a request: the field at fault, its value as given, and why."""

    field: str | None = Field(description="the input at fault as the caller named it: a query or path "
                              "parameter, a dotted path into the body (readings.0.value); null when no input "
                              "is (the store is down, a bug)")
    value: Any = Field(default=None, description="that input as given (shortened; never a token or password)")
    reason: str = Field(description="what is wrong and, where it helps, what to do")


class ProblemResponse(BaseModel):
    """Every error the API answers has this shape, whatever its status (cloud/api/errors.py)."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"detail": [{"field": "start", "value": "-9223372036854775809",
                     "reason": "must be an instant within years 1677-2262 (Unix ms or ISO 8601)"}]},
        {"detail": [{"field": "zone", "value": "north-9", "reason": "no zone with this id in the registry"}]},
    ]})

    detail: list[Problem] = Field(min_length=1)


class Rejected(BaseModel):
    """One batch item refused by the contract; the others were kept."""

    index: int
    field: str
    value: Any = None
    reason: str


class IngestResponse(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "batch_id": "gw-1-000042", "status": "stored", "accepted": 1, "readings": 2, "stored": 2,
        "rejected": [{"index": 1, "field": "items.1.readings.0.value", "value": 140.0,
                      "reason": "outside vwc_pct's physical range 0.0..100.0 %"}], "gaps": 0,
    }]})

    batch_id: str
    status: str = Field(description='"stored": the receipt the gateway waits for before it forgets the batch')
    accepted: int = Field(description="items that passed the contract and were stored")
    readings: int = Field(description="values in the accepted items")
    stored: int = Field(description="values the store reports as newly taken (see README)")
    rejected: list[Rejected]
    gaps: int = Field(default=0, description="gap reports (readings the gateway did not forward) the batch carried")
    fixes: int = Field(default=0, description="trackers' fixes in its positions items (contract 1.6)")


class GapReportOut(BaseModel):
    """Readings a gateway reported it did not forward, and why."""

    site: str
    gateway: str
    reason: str = Field(description="quota (its buffer was full), flood (the node sent past its budget), "
                        "quarantine (the report broke the contract)")
    count: int
    seqs: list[list[int]] = Field(description="[first, last] seq ranges; empty when the gateway did not know them")
    first_ms: int
    last_ms: int
    received_ms: int


class LossOut(BaseModel):
    """Seqs never stored that no gateway reported."""

    first_seq: int
    last_seq: int
    count: int
    likely_restart: bool = Field(description="ends just below a multiple of the node's seq block (100): a "
                                 "restart skips the rest of the block by design (firmware/seqstore.py)")


class NodeGapsOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "node": "soil-01", "start_ms": 1767225600000, "end_ms": 1767830400000,
        "dropped": {"quota": 65, "flood": 0, "quarantine": 1},
        "reports": [{"site": "demo", "gateway": "gw-1", "reason": "quota", "count": 65, "seqs": [[0, 64]],
                     "first_ms": 1767225600000, "last_ms": 1767229500000, "received_ms": 1767229600000}],
        "losses": [{"first_seq": 212, "last_seq": 215, "count": 4, "likely_restart": False}],
        "complete": True,
    }]})

    node: str
    start_ms: int
    end_ms: int
    dropped: dict[str, int] = Field(description="readings reported not forwarded in the window, per reason")
    reports: list[GapReportOut]
    losses: list[LossOut] = Field(description="holes in the stored seqs that no report explains, oldest first")
    complete: bool = Field(description="false when the window held more readings than were read for losses")


class ReadingOut(BaseModel):
    """One stored value."""

    model_config = ConfigDict(from_attributes=True)

    site: str
    gateway: str
    node: str
    role: str
    measurement: str
    unit: str
    depth_cm: int | None
    channel: int | None
    value: float | None
    fault: str | None
    seq: int
    ts_ms: int
    rx_ms: int | None
    flags: list[str]


class NodeOut(BaseModel):
    """Where a node's commands are routed: the gateway that last forwarded its readings."""

    model_config = ConfigDict(from_attributes=True)

    node: str
    site: str
    gateway: str
    last_seen_ms: int
    seq: int | None = Field(default=None, description="seq of the newest report")
    fw: str | None = None
    bat_v: float | None = None
    rssi_dbm: int | None = None
    faults: list[str] = Field(default=[], description="sensor faults in the newest report")


class CommandCreate(BaseModel):
    """An irrigation command to create. Times default from the service settings.

    Target: `node` and `valve`, or a `zone` whose one valve is in the registry.
    Amount (for open): one of `duration_s`, `amount_min`, or `amount_mm`, which
    is converted with the zone's emitter precipitation rate.
    """

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"node": "irr-01", "valve": 1, "action": "open", "duration_s": 600},
        {"zone": "north-1", "amount_mm": 12.5, "reason": "refill to 80% of field capacity",
         "idempotency_key": "plan-2026-06-01-north-1"},
        {"node": "irr-01", "valve": 2, "action": "open", "amount_min": 30,
         "not_before": "2026-01-01T05:00:00Z", "ttl_s": 3600, "max_runtime_s": 2400},
        {"node": "irr-01", "valve": 1, "action": "close"},
    ]})

    node: str | None = Field(default=None, description="the irrigation node (controller) id")
    valve: int | None = Field(default=None, description="valve number on that controller, 1..16")
    zone: str | None = Field(default=None, description="a registry zone with exactly one valve")
    action: Literal["open", "close"] = "open"
    duration_s: int | None = Field(default=None, description="how long to open")
    amount_mm: float | None = Field(default=None, description="depth of water to apply, mm")
    amount_min: float | None = Field(default=None, description="how long to open, minutes")
    not_before: str | int | None = Field(
        default=None,
        description="ISO 8601 or Unix ms; the controller waits until then (default now)",
    )
    ttl_s: int | None = Field(
        default=None, gt=0, description="seconds after not_before when the command expires"
    )
    max_runtime_s: int | None = Field(
        default=None, description="the controller closes the valve after this, whatever happens"
    )
    reason: str | None = Field(default=None, max_length=400, description="why (kept with the command)")
    idempotency_key: str | None = Field(
        default=None, min_length=1, max_length=128,
        description="a retry with the same key returns the first command and waters nothing more",
    )


class CommandCancel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str | None = Field(default=None, max_length=150)


class StatsOut(BaseModel):
    readings_stored: int
    commands: dict[str, int] = Field(description="number of commands in each state")
    acks: dict[str, int] = Field(description="acknowledgements by outcome since start")
    mqtt: dict[str, int] = Field(description="MQTT worker counters since start")


class JobOut(BaseModel):
    held: bool = Field(description="this instance holds the job's lease: it is the one that runs it")
    runs: int = Field(description="runs of the job on this instance since it started")


class HealthOut(BaseModel):
    status: Literal["ok"]
    storage: str
    mqtt: Literal["connected", "disconnected", "disabled"]
    instance: str = Field(description="this instance's id (new at each start)")
    cluster: Literal["single", "listening", "connecting"] = Field(
        description="single: no other instance (SQLite); listening: hearing the other instances through "
                    "PostgreSQL; connecting: not yet, or the link is down")
    jobs: dict[str, JobOut] = Field(description="the background jobs this instance has run or holds")
