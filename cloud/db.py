"""The relational side: registry, node routes, commands, users and tokens, on SQLAlchemy 2.

SQLite at ``<data_dir>/furrow.db`` by default; PostgreSQL
(``postgresql+psycopg://...``) where more than one cloud instance runs. The
engine is synchronous and every call runs in a worker thread through
``Database.run``.

The schema is versioned: ``cloud/migrations/`` holds the Alembic revisions,
applied at startup (``Database.migrate``) or by ``furrow cloud migrate``.
A change to the tables here needs a new revision there.
"""

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    text,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

T = TypeVar("T")


class Base(DeclarativeBase):
    pass


class NodeRoute(Base):
    """Which gateway of which site a node was last heard through: where its commands go."""

    __tablename__ = "node_routes"

    node: Mapped[str] = mapped_column(String(32), primary_key=True)
    site: Mapped[str] = mapped_column(String(32))
    gateway: Mapped[str] = mapped_column(String(32))
    last_seen_ms: Mapped[int] = mapped_column(BigInteger)
    # the node's health as of its newest report
    seq: Mapped[int | None] = mapped_column(BigInteger)
    fw: Mapped[str | None] = mapped_column(String(16))
    bat_v: Mapped[float | None] = mapped_column(Float)
    rssi_dbm: Mapped[int | None] = mapped_column(Integer)
    faults: Mapped[str | None] = mapped_column(String(400))  # JSON list of "measurement@slot: fault"


class CommandRow(Base):
    """One irrigation command and where it is in its lifecycle."""

    __tablename__ = "commands"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    node: Mapped[str] = mapped_column(String(32), index=True)
    site: Mapped[str] = mapped_column(String(32))
    gateway: Mapped[str] = mapped_column(String(32))
    valve: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(16))
    duration_s: Mapped[int | None] = mapped_column(Integer)
    max_runtime_s: Mapped[int] = mapped_column(Integer)
    not_before_ms: Mapped[int] = mapped_column(BigInteger)
    expires_ms: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(16), index=True)
    created_ms: Mapped[int] = mapped_column(BigInteger)
    updated_ms: Mapped[int] = mapped_column(BigInteger)
    runtime_s: Mapped[int | None] = mapped_column(Integer)
    volume_l: Mapped[float | None] = mapped_column(Float)
    reason: Mapped[str | None] = mapped_column(String(200))  # the controller's, or the canceller's
    zone: Mapped[str | None] = mapped_column(String(32), index=True)
    amount_mm: Mapped[float | None] = mapped_column(Float)
    amount_min: Mapped[float | None] = mapped_column(Float)
    origin: Mapped[str] = mapped_column(String(80), default="unknown")
    request_reason: Mapped[str | None] = mapped_column(String(400))
    idempotency_key: Mapped[str | None] = mapped_column(String(128), unique=True)
    # a fertigate's dose and window (contract 1.5), and what its controller injected
    inject_ml: Mapped[int | None] = mapped_column(Integer)
    inject_from_s: Mapped[int | None] = mapped_column(Integer)
    inject_until_s: Mapped[int | None] = mapped_column(Integer)
    injected_ml: Mapped[int | None] = mapped_column(Integer)
    # set when the volume its controller reported is beyond the dose plus one tick (fertility/fertigation.py)
    injected_flag: Mapped[str | None] = mapped_column(String(200))


class CommandEvent(Base):
    """One step of a command's history, as it happened (late acks included).

    A command reaches each state once, so (command_id, state) is unique: the
    same acknowledgement delivered twice adds nothing.
    """

    __tablename__ = "command_events"
    __table_args__ = (UniqueConstraint("command_id", "state"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    command_id: Mapped[str] = mapped_column(ForeignKey("commands.id"), index=True)
    state: Mapped[str] = mapped_column(String(16))
    ts_ms: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str | None] = mapped_column(String(200))


class Organisation(Base):
    """A farm or a cooperative (issue 21, migration 0024): its sites, nodes and users, and the region a
    provincial platform counts it in when it shares its data there."""

    __tablename__ = "organisations"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    region: Mapped[str | None] = mapped_column(String(64))  # administrative codes, province/city/county
    shares_regional: Mapped[bool] = mapped_column(Boolean, default=False)
    created_ms: Mapped[int] = mapped_column(BigInteger)


DEFAULT_ORGANISATION = "default"  # every site, node and user before organisations existed (migration 0024)


class User(Base):
    """A person or a gateway that calls the API, with one role, in one organisation."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    created_ms: Mapped[int] = mapped_column(BigInteger)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # scrypt hash for password login (cloud/auth/passwords.py); None: tokens only
    password_hash: Mapped[str | None] = mapped_column(String(200))
    # the dashboard language the person chose (en, zh-CN); None: the browser's
    locale: Mapped[str | None] = mapped_column(String(16))
    organisation_id: Mapped[str] = mapped_column(String(32), index=True, default=DEFAULT_ORGANISATION)
    region: Mapped[str | None] = mapped_column(String(64))  # a regional user's region (aggregates only)


class ApiToken(Base):
    """A bearer token: only its keyed hash is stored; the secret is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_ms: Mapped[int] = mapped_column(BigInteger)
    expires_ms: Mapped[int] = mapped_column(BigInteger)
    revoked_ms: Mapped[int | None] = mapped_column(BigInteger)


class SiteRow(Base):
    __tablename__ = "sites"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    elevation_m: Mapped[float | None] = mapped_column(Float)
    organisation_id: Mapped[str] = mapped_column(String(32), index=True, default=DEFAULT_ORGANISATION)


class FieldRow(Base):
    __tablename__ = "fields"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    area_ha: Mapped[float | None] = mapped_column(Float)
    # the field's outline (issue 17, migration 0010): a GeoJSON Polygon in WGS 84, and its geodesic area
    boundary: Mapped[dict | None] = mapped_column(JSON)
    boundary_area_ha: Mapped[float | None] = mapped_column(Float)


class ZoneRow(Base):
    """An irrigation zone: soil, crop and emitters, as the water balance needs them."""

    __tablename__ = "zones"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    field_id: Mapped[str] = mapped_column(ForeignKey("fields.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    area_ha: Mapped[float] = mapped_column(Float)
    soil_texture: Mapped[str] = mapped_column(String(32))
    field_capacity_pct: Mapped[float] = mapped_column(Float)
    wilting_point_pct: Mapped[float] = mapped_column(Float)
    root_depth_cm: Mapped[float] = mapped_column(Float)
    crop: Mapped[str] = mapped_column(String(64))
    planting_date: Mapped[str | None] = mapped_column(String(10))
    precip_rate_mm_h: Mapped[float] = mapped_column(Float)
    hydraulic_group: Mapped[str | None] = mapped_column(String(64))
    # planning (issue 6, migration 0004): water budgets and the crop's FAO-56 coefficients (JSON)
    week_budget_mm: Mapped[float | None] = mapped_column(Float)
    season_budget_mm: Mapped[float | None] = mapped_column(Float)
    crop_coefficients: Mapped[str | None] = mapped_column(String(1000))
    # disease risk (issue 6, migration 0006): the pathogens watched, their infection-model values
    pathogens: Mapped[list | None] = mapped_column(JSON)
    # the zone's outline (issue 17, migration 0010): a GeoJSON Polygon in WGS 84 inside its field's
    boundary: Mapped[dict | None] = mapped_column(JSON)
    boundary_area_ha: Mapped[float | None] = mapped_column(Float)


class NodeRow(Base):
    """A registered node: where it is, what it measures, how it is calibrated."""

    __tablename__ = "nodes"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    zone_id: Mapped[str | None] = mapped_column(ForeignKey("zones.id"), index=True)
    site_id: Mapped[str | None] = mapped_column(ForeignKey("sites.id"), index=True)  # a tracker's (no zone)
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    depths_cm: Mapped[str | None] = mapped_column(String(64))  # JSON list
    calibration: Mapped[str | None] = mapped_column(String(2000))  # JSON object
    firmware: Mapped[str | None] = mapped_column(String(16))
    credentials_ref: Mapped[str | None] = mapped_column(String(200))
    organisation_id: Mapped[str] = mapped_column(String(32), index=True, default=DEFAULT_ORGANISATION)


class ValveRow(Base):
    """Valve `channel` of an irrigation node, watering one zone."""

    __tablename__ = "valves"
    __table_args__ = (UniqueConstraint("node_id", "channel"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    node_id: Mapped[str] = mapped_column(ForeignKey("nodes.id"), index=True)
    channel: Mapped[int] = mapped_column(Integer)
    zone_id: Mapped[str] = mapped_column(ForeignKey("zones.id"), index=True)
    max_runtime_s: Mapped[int | None] = mapped_column(Integer)  # the planner splits longer runs (0004)


class DecisionRow(Base):
    """One planner decision for one zone (irrigate, skip or hold), with its inputs and the rule
    that fired. History: it outlives the zone, so zone_id is not a foreign key."""

    __tablename__ = "decisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    zone_id: Mapped[str] = mapped_column(String(32), index=True)
    ts_ms: Mapped[int] = mapped_column(BigInteger)
    rule: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(16))
    inputs: Mapped[dict] = mapped_column(JSON)
    explanation: Mapped[str] = mapped_column(String(2000))
    command_ids: Mapped[list] = mapped_column(JSON)
    origin: Mapped[str] = mapped_column(String(80))
    detail: Mapped[dict | None] = mapped_column(JSON)  # adjustments, net/gross mm, runtime, not_before
    # the explanation as [{key, params}] (agronomy/messages.py) for the dashboard's languages; None before 0007
    messages: Mapped[list | None] = mapped_column(JSON)


class OverrideRow(Base):
    """An agronomist's override of a zone; the newest one in force is what the planner honours."""

    __tablename__ = "zone_overrides"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    zone_id: Mapped[str] = mapped_column(String(32), index=True)
    ts_ms: Mapped[int] = mapped_column(BigInteger)
    action: Mapped[str] = mapped_column(String(16))  # skip, hold, water_now, resume
    until_ms: Mapped[int | None] = mapped_column(BigInteger)
    amount_mm: Mapped[float | None] = mapped_column(Float)
    reason: Mapped[str] = mapped_column(String(400))
    by: Mapped[str] = mapped_column(String(80))
    used_by_decision: Mapped[int | None] = mapped_column(Integer)  # water_now is honoured once


class AlertRow(Base):
    """One alert (agronomy/alerts.py rule) from when it was raised until it resolved.

    At most one unresolved row per (kind, subject), held by a partial unique index so two
    instances evaluating at once cannot both raise it. A severity rise clears the
    acknowledgement: the person must look again."""

    __tablename__ = "alerts"
    __table_args__ = (Index("uq_alerts_open", "kind", "subject", unique=True,
                            sqlite_where=text("resolved_ms IS NULL"),
                            postgresql_where=text("resolved_ms IS NULL")),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(40))
    subject: Mapped[str] = mapped_column(String(80))
    site: Mapped[str | None] = mapped_column(String(32))
    zone: Mapped[str | None] = mapped_column(String(32), index=True)
    severity: Mapped[int] = mapped_column(Integer)  # agronomy.alerts.Severity: 1 info, 2 warning, 3 critical
    message: Mapped[str] = mapped_column(String(400))
    # the message's catalogue key and values (agronomy/messages.py); None on rows before 0007
    message_key: Mapped[str | None] = mapped_column(String(64))
    message_params: Mapped[dict | None] = mapped_column(JSON)
    evidence: Mapped[dict] = mapped_column(JSON)
    first_ms: Mapped[int] = mapped_column(BigInteger)
    last_ms: Mapped[int] = mapped_column(BigInteger, index=True)
    resolved_ms: Mapped[int | None] = mapped_column(BigInteger, index=True)
    acknowledged_by: Mapped[str | None] = mapped_column(String(80))
    acknowledged_ms: Mapped[int | None] = mapped_column(BigInteger)
    ack_note: Mapped[str | None] = mapped_column(String(400))


class GatewayRow(Base):
    """A registered gateway of a site: it gets broker credentials for its site only."""

    __tablename__ = "gateways"

    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"), primary_key=True)
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    created_ms: Mapped[int] = mapped_column(BigInteger)


class DeviceCredential(Base):
    """A node's or gateway's broker login. Only a Mosquitto-format hash of the password is
    kept (cloud/identity/mosquitto.py), so the broker's password file is made from it."""

    __tablename__ = "device_credentials"

    username: Mapped[str] = mapped_column(String(80), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # node, gateway
    site: Mapped[str] = mapped_column(String(32), index=True)
    device: Mapped[str] = mapped_column(String(32))  # node id or gateway id
    password_hash: Mapped[str] = mapped_column(String(200))
    issued_ms: Mapped[int] = mapped_column(BigInteger)
    issued_by: Mapped[str] = mapped_column(String(80))
    revoked_ms: Mapped[int | None] = mapped_column(BigInteger)


class GapRow(Base):
    """Readings a gateway reported it did not forward (cloud/gaps.py): one row per report, kept
    once under (site, gateway, report_id) however often the batch carrying it is sent."""

    __tablename__ = "reading_gaps"
    __table_args__ = (UniqueConstraint("site", "gateway", "report_id", name="uq_reading_gaps_report"),
                      Index("ix_reading_gaps_node_last", "node", "last_ms"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    site: Mapped[str] = mapped_column(String(32))
    gateway: Mapped[str] = mapped_column(String(32))
    report_id: Mapped[str] = mapped_column(String(80))
    node: Mapped[str | None] = mapped_column(String(32))  # None: the input named no node
    reason: Mapped[str] = mapped_column(String(16))  # edge.batch.GAP_REASONS
    count: Mapped[int] = mapped_column(BigInteger)
    seqs: Mapped[list] = mapped_column(JSON)  # [[first, last], ...]; [] when the gateway did not know them
    first_ms: Mapped[int] = mapped_column(BigInteger)
    last_ms: Mapped[int] = mapped_column(BigInteger)
    received_ms: Mapped[int] = mapped_column(BigInteger, index=True)


class ImageRow(Base):
    """One image from a camera node (cloud/images/): where its bytes are and what it shows, kept once under
    (node, seq). `zone_id` is the node's zone when the image arrived (history: not a foreign key)."""

    __tablename__ = "images"
    __table_args__ = (UniqueConstraint("node", "seq", name="uq_images_node_seq"),
                      Index("ix_images_zone_ts", "zone_id", "ts_ms"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    node: Mapped[str] = mapped_column(String(32))
    seq: Mapped[int] = mapped_column(BigInteger)
    site: Mapped[str] = mapped_column(String(32))
    gateway: Mapped[str] = mapped_column(String(32))
    zone_id: Mapped[str | None] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))  # edge.image.KINDS
    format: Mapped[str] = mapped_column(String(16))
    ts_ms: Mapped[int] = mapped_column(BigInteger)  # when the node took it
    received_ms: Mapped[int] = mapped_column(BigInteger, index=True)
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    key: Mapped[str] = mapped_column(String(200))  # the object's key in the object store
    thumb_key: Mapped[str] = mapped_column(String(200))


class CoverRow(Base):
    """A zone's measured green canopy cover (cloud/vigour/): from a canopy photo (Canopeo), or entered by a
    person. Kept once per (zone, ref): the same photo processed twice is one row."""

    __tablename__ = "canopy_cover"
    __table_args__ = (UniqueConstraint("zone_id", "ref", name="uq_canopy_cover_ref"),
                      Index("ix_canopy_cover_zone_ts", "zone_id", "ts_ms"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    zone_id: Mapped[str] = mapped_column(String(32))
    ts_ms: Mapped[int] = mapped_column(BigInteger)  # when the photo was taken (or the cover measured)
    cover_pct: Mapped[float] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(16))  # photo, manual
    ref: Mapped[str] = mapped_column(String(200))  # image:<id>, or manual:<ts>:<who>
    node: Mapped[str | None] = mapped_column(String(32))  # the camera node
    pixels: Mapped[int | None] = mapped_column(BigInteger)
    method: Mapped[str] = mapped_column(String(40))  # canopeo (P1, P2, P3), or what the person used
    created_ms: Mapped[int] = mapped_column(BigInteger)
    by: Mapped[str] = mapped_column(String(80))


class IndexStatsRow(Base):
    """A vegetation index (NDVI) over one zone from one raster (a Sentinel-2 L2A scene, a drone
    orthomosaic): the statistics of the zone's valid pixels and a small map. Once per (zone, index, ref)."""

    __tablename__ = "vegetation_index"
    __table_args__ = (UniqueConstraint("zone_id", "index_name", "ref", name="uq_vegetation_index_ref"),
                      Index("ix_vegetation_index_zone_ts", "zone_id", "ts_ms"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    zone_id: Mapped[str] = mapped_column(String(32))
    ts_ms: Mapped[int] = mapped_column(BigInteger)  # when the scene was acquired
    index_name: Mapped[str] = mapped_column(String(16))  # ndvi
    source: Mapped[str] = mapped_column(String(24))  # sentinel2-l2a, geotiff
    ref: Mapped[str] = mapped_column(String(200))  # the product or file name
    mean: Mapped[float | None] = mapped_column(Float)
    p10: Mapped[float | None] = mapped_column(Float)
    p25: Mapped[float | None] = mapped_column(Float)
    p50: Mapped[float | None] = mapped_column(Float)
    p75: Mapped[float | None] = mapped_column(Float)
    p90: Mapped[float | None] = mapped_column(Float)
    pixels: Mapped[int] = mapped_column(BigInteger)  # valid pixels in the zone
    valid_share: Mapped[float] = mapped_column(Float)  # of the zone's pixels (clouds, nodata and shadow left out)
    map_png: Mapped[bytes | None] = mapped_column(LargeBinary)
    detail: Mapped[dict] = mapped_column(JSON)  # scaling, offset, mask classes, CRS: how the numbers were made
    created_ms: Mapped[int] = mapped_column(BigInteger)
    by: Mapped[str] = mapped_column(String(80))


class ForecastRow(Base):
    """One weather forecast as a provider gave it (cloud/planning/forecast.py), kept so a decision that
    used it can be replayed: the decision's inputs name its id."""

    __tablename__ = "forecasts"
    __table_args__ = (Index("ix_forecasts_site_fetched", "site_id", "fetched_ms"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    site_id: Mapped[str] = mapped_column(String(32))
    zone_id: Mapped[str | None] = mapped_column(String(32))
    provider: Mapped[str] = mapped_column(String(40))
    fetched_ms: Mapped[int] = mapped_column(BigInteger)
    issued_ms: Mapped[int | None] = mapped_column(BigInteger)
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    days: Mapped[list] = mapped_column(JSON)  # [{date, tmin_c, tmax_c, rain_mm, rain_probability, et0_mm}]
    request: Mapped[str] = mapped_column(String(600))  # what was asked (URL or file), no secret in it
    hours: Mapped[list | None] = mapped_column(JSON)  # [[start ms, rain mm, probability 0..1 or null]] (0012)
    rain_window: Mapped[dict | None] = mapped_column(JSON)  # a stated {rain_mm, probability, horizon_h} (0012)


class SoilSampleRow(Base):
    """One soil sample of a zone (cloud/fertility/): where, how deep, when, which lab, and its results in
    their stored units (`results`) beside what the lab gave (`given`). Once per (zone, lab, lab_sample_id)."""

    __tablename__ = "soil_samples"
    __table_args__ = (UniqueConstraint("zone_id", "lab", "lab_sample_id", name="uq_soil_samples_lab_id"),
                      Index("ix_soil_samples_zone_season", "zone_id", "season"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    zone_id: Mapped[str] = mapped_column(String(32))  # history: not a foreign key
    season: Mapped[str] = mapped_column(String(32))
    sampled_on: Mapped[str] = mapped_column(String(10))
    point: Mapped[str | None] = mapped_column(String(40))
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    depth_top_cm: Mapped[float] = mapped_column(Float)
    depth_bottom_cm: Mapped[float] = mapped_column(Float)
    lab: Mapped[str] = mapped_column(String(64))
    lab_sample_id: Mapped[str | None] = mapped_column(String(64))
    results: Mapped[dict] = mapped_column(JSON)
    given: Mapped[dict] = mapped_column(JSON)
    source: Mapped[str] = mapped_column(String(200))  # manual, or csv:<lab>:row <n>
    by: Mapped[str] = mapped_column(String(80))
    created_ms: Mapped[int] = mapped_column(BigInteger)


class LabMappingRow(Base):
    """How one lab's CSV columns map to sample fields and results, with their units (stored once per lab)."""

    __tablename__ = "lab_mappings"

    lab: Mapped[str] = mapped_column(String(64), primary_key=True)
    mapping: Mapped[dict] = mapped_column(JSON)
    updated_ms: Mapped[int] = mapped_column(BigInteger)
    by: Mapped[str] = mapped_column(String(80))


class FertilityCoefficientsRow(Base):
    """A farm's (site's) own fertility coefficients for one crop, over the built-in cited ones."""

    __tablename__ = "fertility_coefficients"

    site_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    crop: Mapped[str] = mapped_column(String(64), primary_key=True)
    overrides: Mapped[dict] = mapped_column(JSON)
    updated_ms: Mapped[int] = mapped_column(BigInteger)
    by: Mapped[str] = mapped_column(String(80))


class ProductRow(Base):
    """A fertiliser product a farm (site) has: analysis, price, stock-solution strength."""

    __tablename__ = "fertiliser_products"

    site_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    n_pct: Mapped[float] = mapped_column(Float)
    p2o5_pct: Mapped[float] = mapped_column(Float)
    k2o_pct: Mapped[float] = mapped_column(Float)
    price_per_kg: Mapped[float] = mapped_column(Float)
    stock_kg_per_l: Mapped[float | None] = mapped_column(Float)


class RecommendationRow(Base):
    """One fertiliser recommendation for a zone and season, with its inputs, sources and explanation."""

    __tablename__ = "fertiliser_recommendations"
    __table_args__ = (Index("ix_fertiliser_recommendations_zone", "zone_id", "season", "ts_ms"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    zone_id: Mapped[str] = mapped_column(String(32))
    season: Mapped[str] = mapped_column(String(32))
    ts_ms: Mapped[int] = mapped_column(BigInteger)
    crop: Mapped[str] = mapped_column(String(64))
    target_yield_kg_ha: Mapped[float] = mapped_column(Float)
    needs: Mapped[list] = mapped_column(JSON)  # [{nutrient, rate_kg_ha, method, equation, inputs, sources, message}]
    applications: Mapped[list] = mapped_column(JSON)  # [{kind, need_kg_ha, feasible, products, cost_per_ha, ...}]
    inputs: Mapped[dict] = mapped_column(JSON)  # soil tests used, water state, stage, their sources
    messages: Mapped[list] = mapped_column(JSON)
    explanation: Mapped[str] = mapped_column(String(4000))
    by: Mapped[str] = mapped_column(String(80))


class ApplicationRow(Base):
    """A fertiliser applied to a zone (spread and entered by a person, or fertigated). Append-only: the API
    has no update or delete; a correction is a new row naming the one it corrects."""

    __tablename__ = "fertiliser_applications"
    __table_args__ = (Index("ix_fertiliser_applications_zone", "zone_id", "season", "applied_on"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    zone_id: Mapped[str] = mapped_column(String(32))
    season: Mapped[str] = mapped_column(String(32))
    product_id: Mapped[str] = mapped_column(String(32))
    product_name: Mapped[str] = mapped_column(String(80))
    rate_kg_ha: Mapped[float] = mapped_column(Float)
    area_ha: Mapped[float] = mapped_column(Float)
    applied_on: Mapped[str] = mapped_column(String(10))
    method: Mapped[str] = mapped_column(String(16))
    nutrients_kg_ha: Mapped[dict] = mapped_column(JSON)  # {N, P2O5, K2O} from the product's analysis
    by: Mapped[str] = mapped_column(String(80))
    recorded_ms: Mapped[int] = mapped_column(BigInteger)
    command_id: Mapped[str | None] = mapped_column(String(64), unique=True)  # a fertigation's command
    note: Mapped[str | None] = mapped_column(String(300))
    volume_flag: Mapped[str | None] = mapped_column(String(200))  # a fertigation's reported volume is suspect


class InjectorRow(Base):
    """A controller's fertigation injector: its dosing pump's calibrated rate and the line-EC band its firmware
    keeps (fertility/fertigation.py sizes and checks a fertigate with them)."""

    __tablename__ = "injectors"

    node_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    rate_l_h: Mapped[float] = mapped_column(Float)
    ec_low_ds_m: Mapped[float | None] = mapped_column(Float)
    ec_high_ds_m: Mapped[float | None] = mapped_column(Float)
    calibrated_on: Mapped[str | None] = mapped_column(String(10))
    note: Mapped[str | None] = mapped_column(String(300))
    by: Mapped[str] = mapped_column(String(80))
    updated_ms: Mapped[int] = mapped_column(BigInteger)


class FertigationRow(Base):
    """What a fertigate command applies: the product and dose per hectare it was made from. When the command
    ends, its application is recorded from the volume its controller injected (fertility/fertigation.py)."""

    __tablename__ = "fertigations"

    command_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    zone_id: Mapped[str] = mapped_column(String(32), index=True)
    season: Mapped[str] = mapped_column(String(32))
    product_id: Mapped[str] = mapped_column(String(32))
    dose_kg_ha: Mapped[float] = mapped_column(Float)
    area_ha: Mapped[float] = mapped_column(Float)
    stock_kg_per_l: Mapped[float] = mapped_column(Float)
    inject_ml: Mapped[int] = mapped_column(Integer)
    by: Mapped[str] = mapped_column(String(80))
    created_ms: Mapped[int] = mapped_column(BigInteger)
    rate_l_h: Mapped[float | None] = mapped_column(Float)  # the injector's rate it was sized at (none before 0021)


class HarvestRow(Base):
    """A zone's harvested yield in a season (append-only; the newest counts), for the nutrient balance."""

    __tablename__ = "harvests"
    __table_args__ = (Index("ix_harvests_zone_season", "zone_id", "season"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    zone_id: Mapped[str] = mapped_column(String(32))
    season: Mapped[str] = mapped_column(String(32))
    yield_kg_ha: Mapped[float] = mapped_column(Float)
    harvested_on: Mapped[str] = mapped_column(String(10))
    residues_removed: Mapped[bool] = mapped_column(Boolean)
    by: Mapped[str] = mapped_column(String(80))
    recorded_ms: Mapped[int] = mapped_column(BigInteger)


class YieldPotentialRow(Base):
    """A farm's (site's) own Ky and Ym for a crop, or one zone's (zone_id ""), over the built-in ones, for the
    expected yield (agronomy/expected_yield.py); the newest entry replaces the one before."""

    __tablename__ = "yield_potentials"

    site_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    zone_id: Mapped[str] = mapped_column(String(32), primary_key=True)  # "" for the whole farm
    crop: Mapped[str] = mapped_column(String(64), primary_key=True)
    ky: Mapped[float | None] = mapped_column(Float)
    ym_t_ha: Mapped[float | None] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(300))
    by: Mapped[str] = mapped_column(String(80))
    updated_ms: Mapped[int] = mapped_column(BigInteger)


class GrainMoistureRow(Base):
    """An organisation's own standard moisture for a crop (migration 0033), over the built-in ones
    (machinery/grain.py): the moisture its yield totals are given at, with where the figure comes from (a
    Chinese farm's GB 1353 figure, say). The newest entry replaces the one before."""

    __tablename__ = "grain_moistures"

    organisation_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    crop: Mapped[str] = mapped_column(String(64), primary_key=True)  # as the farm's yield logs name it
    pct: Mapped[float] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(300))
    by: Mapped[str] = mapped_column(String(80))
    updated_ms: Mapped[int] = mapped_column(BigInteger)


class OperationRow(Base):
    """A field operation (issue 20): a machine and implement working a field along a track, with the
    worked area computed once from the track and the field's boundary (machinery/coverage.py)."""

    __tablename__ = "field_operations"
    __table_args__ = (Index("ix_field_operations_field_kind", "field_id", "kind", "started_ms"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    field_id: Mapped[str] = mapped_column(ForeignKey("fields.id"))
    kind: Mapped[str] = mapped_column(String(16))
    machine: Mapped[str] = mapped_column(String(64))
    implement: Mapped[str] = mapped_column(String(64))
    width_m: Mapped[float] = mapped_column(Float)
    operator: Mapped[str | None] = mapped_column(String(80))
    product: Mapped[str | None] = mapped_column(String(120))
    rate: Mapped[float | None] = mapped_column(Float)
    rate_unit: Mapped[str | None] = mapped_column(String(16))
    started_ms: Mapped[int] = mapped_column(BigInteger)
    ended_ms: Mapped[int] = mapped_column(BigInteger)
    fixes: Mapped[int] = mapped_column(Integer)
    covered_ha: Mapped[float] = mapped_column(Float)
    gross_ha: Mapped[float] = mapped_column(Float)
    overlap_ha: Mapped[float] = mapped_column(Float)
    skipped_ha: Mapped[float] = mapped_column(Float)
    field_ha: Mapped[float] = mapped_column(Float)
    work_s: Mapped[float] = mapped_column(Float)
    work_distance_m: Mapped[float] = mapped_column(Float)
    covered: Mapped[dict] = mapped_column(JSON)  # GeoJSON (WGS 84) of the covered ground, clipped to the field
    skipped: Mapped[dict | None] = mapped_column(JSON)  # GeoJSON of the strips missed between swaths (0027)
    track: Mapped[list] = mapped_column(JSON)  # [[t_ms, lon, lat, down 0/1], ...] as imported
    node: Mapped[str | None] = mapped_column(String(32))  # the tracker, when the track is its live one (0017)
    ref: Mapped[str] = mapped_column(String(80), unique=True)  # the same track of the same work is stored once
    by: Mapped[str] = mapped_column(String(80))
    created_ms: Mapped[int] = mapped_column(BigInteger)


class TrackPointRow(Base):
    """One fix of a tracker's live track (issue 20): stored once per (node, seq, index in its message),
    as the tracker sent it (edge/position.py), whichever gateway or retry brought it."""

    __tablename__ = "track_points"
    __table_args__ = (Index("ix_track_points_node_t", "node", "t_ms"),)

    node: Mapped[str] = mapped_column(String(32), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    i: Mapped[int] = mapped_column(Integer, primary_key=True)  # the fix's place in its message
    site: Mapped[str] = mapped_column(String(32))
    gateway: Mapped[str] = mapped_column(String(32))
    t_ms: Mapped[int] = mapped_column(BigInteger)
    lat_e7: Mapped[int] = mapped_column(Integer)
    lon_e7: Mapped[int] = mapped_column(Integer)
    speed_cms: Mapped[int] = mapped_column(Integer)
    course_d10: Mapped[int | None] = mapped_column(Integer)
    quality: Mapped[int | None] = mapped_column(Integer)
    sats: Mapped[int | None] = mapped_column(Integer)
    flags: Mapped[int] = mapped_column(Integer)  # edge/position.py FLAG_VALID | FLAG_IMPLEMENT_DOWN | FLAG_ENGINE_ON
    rx_ms: Mapped[int | None] = mapped_column(BigInteger)  # when the gateway received it


class TrapRow(Base):
    """A trap watched by a camera node (or a pulse-counting pest node's channel): its card, its lure
    and what the camera sees of it (cloud/pests/)."""

    __tablename__ = "traps"

    node: Mapped[str] = mapped_column(String(32), primary_key=True)
    channel: Mapped[int] = mapped_column(Integer, primary_key=True)  # 1 for a camera's card
    card: Mapped[str] = mapped_column(String(24))  # yellow-sticky, white-pheromone
    lure: Mapped[str | None] = mapped_column(String(48))  # a species key: the trap's target
    view_width_mm: Mapped[float | None] = mapped_column(Float)  # the width of card the photo shows
    updated_ms: Mapped[int] = mapped_column(BigInteger)
    by: Mapped[str] = mapped_column(String(80))


class TrapCountRow(Base):
    """The insects the counter found on one trap photo, and a person's correction of them. The models
    use the reviewed counts where there are, else the counter's."""

    __tablename__ = "trap_counts"
    __table_args__ = (UniqueConstraint("node", "seq", name="uq_trap_counts_image"),
                      Index("ix_trap_counts_zone_ts", "zone_id", "ts_ms"),
                      Index("ix_trap_counts_node_ts", "node", "ts_ms"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    node: Mapped[str] = mapped_column(String(32))
    seq: Mapped[int] = mapped_column(BigInteger)  # the image's seq
    channel: Mapped[int] = mapped_column(Integer)
    zone_id: Mapped[str | None] = mapped_column(String(32))
    ts_ms: Mapped[int] = mapped_column(BigInteger)  # when the photo was taken
    species: Mapped[str | None] = mapped_column(String(48))  # the trap's lure then
    total: Mapped[int] = mapped_column(Integer)
    target: Mapped[int] = mapped_column(Integer)
    by_class: Mapped[dict] = mapped_column(JSON)
    objects: Mapped[list] = mapped_column(JSON)  # each insect: position, size, colour, class, target, outline
    method: Mapped[str] = mapped_column(String(200))
    px_per_mm: Mapped[float] = mapped_column(Float)
    created_ms: Mapped[int] = mapped_column(BigInteger)
    reviewed_total: Mapped[int | None] = mapped_column(Integer)
    reviewed_target: Mapped[int | None] = mapped_column(Integer)
    reviewed_by: Mapped[str | None] = mapped_column(String(80))
    reviewed_ms: Mapped[int | None] = mapped_column(BigInteger)


class TrapReviewRow(Base):
    """Every correction of a count: who, when, from what to what, and why."""

    __tablename__ = "trap_reviews"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    count_id: Mapped[int] = mapped_column(ForeignKey("trap_counts.id", ondelete="CASCADE"), index=True)
    by: Mapped[str] = mapped_column(String(80))
    at_ms: Mapped[int] = mapped_column(BigInteger)
    total_before: Mapped[int] = mapped_column(Integer)
    target_before: Mapped[int] = mapped_column(Integer)
    total: Mapped[int] = mapped_column(Integer)
    target: Mapped[int] = mapped_column(Integer)
    note: Mapped[str | None] = mapped_column(String(300))


class SpeciesRow(Base):
    """A species an agronomist entered or corrected (agronomy/species.py's Species as JSON); it
    replaces a shipped one of the same key."""

    __tablename__ = "pest_species"

    key: Mapped[str] = mapped_column(String(48), primary_key=True)
    data: Mapped[dict] = mapped_column(JSON)
    updated_ms: Mapped[int] = mapped_column(BigInteger)
    by: Mapped[str] = mapped_column(String(80))


class ClimateNormalsRow(Base):
    """A site's climate normals an agronomist imported (agronomy/normals.py): 366 calendar days of
    [tmax_c, tmin_c, tmax_sd_c, tmin_sd_c] (the deviations null when the source gives none), and the source."""

    __tablename__ = "climate_normals"

    site_id: Mapped[str] = mapped_column(String(32), ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True)
    source: Mapped[str] = mapped_column(String(600))
    days: Mapped[list] = mapped_column(JSON)
    updated_ms: Mapped[int] = mapped_column(BigInteger)
    by: Mapped[str] = mapped_column(String(80))


class TraceRecordRow(Base):
    """One production record (cloud/trace/): an operation on a field in a season, in its field and season's
    hash chain. Append-only, in the database too: migration 0018 puts triggers on the table that refuse every
    UPDATE and DELETE; a record is corrected by a new one naming it (``corrects``)."""

    __tablename__ = "trace_records"
    __table_args__ = (UniqueConstraint("field_id", "season", "seq", name="uq_trace_records_chain_seq"),
                      Index("ix_trace_records_lot", "lot_id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    field_id: Mapped[str] = mapped_column(String(32))  # history: not a foreign key
    season: Mapped[str] = mapped_column(String(32))
    seq: Mapped[int] = mapped_column(Integer)  # 1, 2, 3 ... within (field, season)
    kind: Mapped[str] = mapped_column(String(16))
    occurred_ms: Mapped[int] = mapped_column(BigInteger)
    zone_id: Mapped[str | None] = mapped_column(String(32))
    data: Mapped[dict] = mapped_column(JSON)  # the kind's details: seed lot, product, rate, PHI, lot, water ...
    corrects: Mapped[int | None] = mapped_column(Integer)  # the seq of the record this one corrects
    source: Mapped[str] = mapped_column(String(120), unique=True)  # command:<id>, application:<id>, entry:<key> ...
    lot_id: Mapped[str | None] = mapped_column(String(64))  # a harvest's lot, to find it by (also in data)
    by: Mapped[str] = mapped_column(String(80))
    recorded_ms: Mapped[int] = mapped_column(BigInteger)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class TraceCheckpointRow(Base):
    """A chain's head signed with the service's command signing key (append-only like the records)."""

    __tablename__ = "trace_checkpoints"
    __table_args__ = (Index("ix_trace_checkpoints_chain", "field_id", "season", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    field_id: Mapped[str] = mapped_column(String(32))
    season: Mapped[str] = mapped_column(String(32))
    seq: Mapped[int] = mapped_column(Integer)
    head_hash: Mapped[str] = mapped_column(String(64))
    signed_ms: Mapped[int] = mapped_column(BigInteger)
    kid: Mapped[str] = mapped_column(String(64))
    sig: Mapped[str] = mapped_column(String(128))  # Ed25519 signature, hex, over chain.head_bytes


class TracePublicationRow(Base):
    """A harvest lot published (cloud/trace/publish.py): which of its trace the public page at its token shows.
    Withdrawing sets ``withdrawn_ms`` and the token answers 404 from then on; publishing again makes a new token.
    The row with lot ``*`` and no token is the farm-wide default choice of what to publish."""

    __tablename__ = "trace_publications"
    __table_args__ = (Index("ix_trace_publications_lot", "lot_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    lot_id: Mapped[str] = mapped_column(String(64))
    token: Mapped[str | None] = mapped_column(String(64), unique=True)  # secrets.token_urlsafe(24): unguessable
    items: Mapped[list] = mapped_column(JSON)  # what is shown: crop, fields, region, sowing_dates ...
    by: Mapped[str] = mapped_column(String(80))
    published_ms: Mapped[int] = mapped_column(BigInteger)
    withdrawn_ms: Mapped[int | None] = mapped_column(BigInteger)


class OpenDatasetRow(Base):
    """An open dataset a regional user published (issue 21, cloud/regional/opendata.py): a region's suppressed
    table for a season, as the CSV and Parquet files served at /open-data/{id}/, checked at publication. The
    DCAT record is built from these columns and the files' bytes when it is asked for."""

    __tablename__ = "open_datasets"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    region: Mapped[str] = mapped_column(String(64))
    season: Mapped[str] = mapped_column(String(32))
    min_farms: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    by: Mapped[str] = mapped_column(String(80))  # the regional user who approved it
    issued_ms: Mapped[int] = mapped_column(BigInteger, index=True)
    rows: Mapped[int] = mapped_column(Integer)
    csv: Mapped[bytes] = mapped_column(LargeBinary)
    parquet: Mapped[bytes] = mapped_column(LargeBinary)
    # withdrawn: the files are emptied, the id answers 410 and the catalogue no longer lists it (0028)
    withdrawn_ms: Mapped[int | None] = mapped_column(BigInteger)
    withdrawn_by: Mapped[str | None] = mapped_column(String(80))
    withdrawn_reason: Mapped[str | None] = mapped_column(String(400))


class DispatchPlanRow(Base):
    """A dispatch plan kept as the farm's current one (issue 20, machinery/service.py): the request it was made
    from (machines, tasks) and the plan; the newest is what the dispatch page and each operator's job page show."""

    __tablename__ = "dispatch_plans"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    planned_ms: Mapped[int] = mapped_column(BigInteger)
    by: Mapped[str] = mapped_column(String(80))
    request: Mapped[dict] = mapped_column(JSON)
    plan: Mapped[dict] = mapped_column(JSON)
    organisation_id: Mapped[str] = mapped_column(String(32), index=True, default=DEFAULT_ORGANISATION)  # 0024


class ImplementRow(Base):
    """An implement a machine carries (issue 20, migration 0030): a drill, a sprayer, a header; registered."""

    __tablename__ = "implements"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(32))
    width_m: Mapped[float] = mapped_column(Float)
    operations: Mapped[list] = mapped_column(JSON)  # the operation kinds it does
    organisation_id: Mapped[str] = mapped_column(String(32), index=True, default=DEFAULT_ORGANISATION)


class MachineRow(Base):
    """A machine of the farm (issue 20, migration 0030): what dispatch plans with, the tracker riding on it and
    the operator who drives it; registered like a node."""

    __tablename__ = "machines"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    type: Mapped[str] = mapped_column(String(16))
    width_m: Mapped[float] = mapped_column(Float)
    speed_kmh: Mapped[float] = mapped_column(Float)
    road_kmh: Mapped[float] = mapped_column(Float)
    efficiency: Mapped[float] = mapped_column(Float)
    fuel: Mapped[str] = mapped_column(String(16))
    fuel_tank_l: Mapped[float | None] = mapped_column(Float)
    node_id: Mapped[str | None] = mapped_column(ForeignKey("nodes.id"), index=True)
    lat: Mapped[float | None] = mapped_column(Float)  # where it stands without a tracker (the yard)
    lon: Mapped[float | None] = mapped_column(Float)
    implement_ids: Mapped[list] = mapped_column(JSON)
    operator: Mapped[str | None] = mapped_column(String(64), index=True)  # a user's name (role operator)
    status: Mapped[str] = mapped_column(String(16))
    organisation_id: Mapped[str] = mapped_column(String(32), index=True, default=DEFAULT_ORGANISATION)


class TaskRow(Base):
    """A dispatch task (issue 20, migration 0030): an operation to do on a field with an implement, by a deadline;
    what the dispatch plan assigns, and what the operator reports on."""

    __tablename__ = "dispatch_tasks"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    field_id: Mapped[str] = mapped_column(ForeignKey("fields.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    implement_id: Mapped[str] = mapped_column(ForeignKey("implements.id"), index=True)
    deadline_ms: Mapped[int | None] = mapped_column(BigInteger)
    priority: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    reported_pct: Mapped[float | None] = mapped_column(Float)  # the operator's word, beside the tracked coverage
    note: Mapped[str | None] = mapped_column(String(400))
    reported_by: Mapped[str | None] = mapped_column(String(80))
    reported_ms: Mapped[int | None] = mapped_column(BigInteger)
    organisation_id: Mapped[str] = mapped_column(String(32), index=True, default=DEFAULT_ORGANISATION)


class FarmRegionRow(Base):
    """A region of the farm (issue 20, migration 0030): a named group of fields of one organisation, within a site
    or across sites, that progress is reported for. Not a regional platform's region (issue 21)."""

    __tablename__ = "farm_regions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    field_ids: Mapped[list] = mapped_column(JSON)
    organisation_id: Mapped[str] = mapped_column(String(32), index=True, default=DEFAULT_ORGANISATION)


class YieldLogRow(Base):
    """A combine's yield monitor log cleaned and totalled for one field (issue 20, machinery/yield_map.py): the
    totals at standard moisture and the yield map's points; the same log for the same field is kept once."""

    __tablename__ = "yield_logs"
    __table_args__ = (Index("ix_yield_logs_field", "field_id", "started_ms"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ref: Mapped[str] = mapped_column(String(48), unique=True)  # sha256 of field, width, moisture and the log
    field_id: Mapped[str] = mapped_column(ForeignKey("fields.id"))
    crop: Mapped[str | None] = mapped_column(String(64))
    machine: Mapped[str] = mapped_column(String(64))
    width_m: Mapped[float] = mapped_column(Float)
    standard_moisture_pct: Mapped[float] = mapped_column(Float)
    started_ms: Mapped[int] = mapped_column(BigInteger)
    ended_ms: Mapped[int] = mapped_column(BigInteger)
    mass_kg: Mapped[float] = mapped_column(Float)
    harvested_ha: Mapped[float] = mapped_column(Float)
    mean_yield_t_ha: Mapped[float] = mapped_column(Float)
    mean_moisture_pct: Mapped[float] = mapped_column(Float)
    points: Mapped[int] = mapped_column(Integer)
    kept: Mapped[int] = mapped_column(Integer)
    dropped: Mapped[dict] = mapped_column(JSON)
    yields: Mapped[list] = mapped_column(JSON)  # [lon, lat, t/ha] of each kept point: the yield map
    by: Mapped[str] = mapped_column(String(80))
    created_ms: Mapped[int] = mapped_column(BigInteger)


class AuditRow(Base):
    """One change: who did what to which thing, when, and from which address."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ts_ms: Mapped[int] = mapped_column(BigInteger, index=True)
    actor: Mapped[str] = mapped_column(String(80))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(200))
    client: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict | None] = mapped_column(JSON)


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # noqa: ANN001
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


class Database:
    """An engine and a session factory; ``run`` calls a sync function in a thread."""

    def __init__(self, url: str) -> None:
        self.url = url
        is_sqlite = url.startswith("sqlite")
        if url.startswith("sqlite:///") and ":memory:" not in url:
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        connect_args = {"check_same_thread": False} if is_sqlite else {}
        self.engine: Engine = create_engine(url, connect_args=connect_args)
        if is_sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    def create_all(self) -> None:
        """Create the tables straight from the models (tests of pure parts only)."""
        Base.metadata.create_all(self.engine)

    def migrate(self) -> None:
        """Bring the schema to the newest revision (Alembic, cloud/migrations/)."""
        from .migrations import upgrade

        upgrade(self.engine)

    async def run(self, fn: Callable[[Session], T]) -> T:
        """Run ``fn(session)`` in a worker thread, committing when it returns."""

        def call() -> T:
            with self.sessions.begin() as session:
                return fn(session)

        return await asyncio.to_thread(call)

    def dispose(self) -> None:
        self.engine.dispose()
