"""A farm's production services in one process, on a clock the caller moves: `FarmRuntime`.

The hardware-in-the-loop scenarios and the demo's backfill run the very code
a farm runs, wired as `furrow cloud run` and `furrow gateway run` wire it,
with the transports between them made direct calls:

    node bytes -> gateway: contract decode, quality flags, clock correction -> durable buffer
      -> forwarder (batches, zlib) -> cloud ingest -> readings store, node routes
    camera chunks -> gateway image store (checked, answered) -> image forwarder -> cloud image
      ingest (object store, metadata, processing steps) -> receipt
    cloud: registry, PlanningService, CommandService (signed), PlanPublisher, AlertService
      -> gateway relay (signature, replay and expiry checks; the kept plan) -> node commands
    node acks -> gateway relay -> the buffer's ack outbox -> cloud CommandService

Every service reads `clock` (Unix ms): `SimClock.ms` in a scenario, so a
season takes seconds and repeats for its seed. Nothing here decides anything
itself: the cloud's `open_services` builds the cloud exactly as the service
does (settings in, services out), and the gateway's `RelayCore`, `PlanKeeper`,
`DurableBuffer` and `Forwarder` are the gateway's own.

A driver (hil/engine.py, hil/demo.py) owns the loop::

    rt = await FarmRuntime.open(folder, clock.ms, site="farm", gateway="gw-1")
    await rt.register(SiteIn(...), FieldIn(...), ZoneIn(...), NodeIn(...), ValveIn(...))
    ...each step, after moving the clock:
    rt.receive(report_bytes)              # a node's report reaches the gateway
    answer = rt.receive_chunk(chunk)      # a camera's chunk; the gateway's image ack for it, or None
    await rt.node_acks(acks)              # a controller's acks go up to the cloud
    await rt.forward()                    # the gateway forwards its buffer, then its images, to the cloud
    await rt.gateway_tick()               # the gateway's acks out and its plan's due commands
    await rt.jobs()                       # that, and the cloud's: expiry, held commands, roll-ups
    await rt.plan()                       # the planner, every zone (the scheduler's job)
    await rt.evaluate_alerts()            # the alert job
    for node, data in rt.take_node_messages(): ...   # commands the relay passed to nodes
    await rt.close()

`cloud_up = False` cuts the gateway's cloud link (a WAN outage): batches wait
in the buffer, commands and plans cannot be published, acks wait in the
outbox; the gateway keeps to its last plan on its own.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from furrow.clock import Clock
from furrow.cloud.api.deps import Services
from furrow.cloud.app import close_services, on_broker_connect, open_services
from furrow.cloud.commands.signing import generate_key
from furrow.cloud.ingest import ingest_batch
from furrow.cloud.registry import FIELDS, NODES, SITES, VALVES, ZONES, Kind
from furrow.cloud.registry.models import FieldIn, NodeIn, SiteIn, ValveIn, ZoneIn
from furrow.cloud.settings import Settings
from furrow.cloud.storage import SqliteReadingStore
from furrow.cloud.tenancy import ingest_guard
from furrow.edge import payload
from furrow.edge.commands import encode
from furrow.edge.image_rx import decode_chunk, encode_image_ack
from furrow.edge.position import POSITION_MAGIC, decode_positions, positions_item
from furrow.edge.topics import GW_ACK, gateway_topic
from furrow.gateway.autonomy import PlanKeeper
from furrow.gateway.buffer import DurableBuffer, Item
from furrow.gateway.command_auth import CommandAuth, SeenIds, load_trusted_keys
from furrow.gateway.config import BrokerConfig, GatewayConfig
from furrow.gateway.forwarder import Forwarder
from furrow.gateway.image_link import ImageForwarder
from furrow.gateway.images import ImageStore, ReadyImage
from furrow.gateway.quality import QualityChecker, correct_clock
from furrow.gateway.relay_core import Out, RelayCore

log = logging.getLogger(__name__)

_KINDS: dict[type[BaseModel], Kind] = {SiteIn: SITES, FieldIn: FIELDS, ZoneIn: ZONES, NodeIn: NODES, ValveIn: VALVES}


class LinkDown(ConnectionError):
    """The gateway's cloud link is cut (`cloud_up` False): nothing crosses it."""


@dataclass
class Counts:
    """What crossed the in-process links, for a driver's report."""

    reports: int = 0
    batches: int = 0
    commands_to_nodes: int = 0
    acks_to_cloud: int = 0
    plans_to_gateway: int = 0
    refused_by_link: int = 0
    image_chunks: int = 0
    images_to_cloud: int = 0


class InProcessGateway:
    """The gateway's stages, called directly: source processing, durable buffer, forwarder, relay
    and kept plan. Built from a `GatewayConfig` as `furrow gateway run` builds them."""

    def __init__(self, config: GatewayConfig, clock: Clock, auth: CommandAuth) -> None:
        self.config = config
        self.clock = clock
        self.buffer = DurableBuffer(config.buffer_path, clock=clock)
        self.forwarder = Forwarder(self.buffer, config, clock)
        self.quality = QualityChecker()
        self.relay = RelayCore(site=config.site, gateway_id=config.gateway_id, auth=auth,
                               plans=PlanKeeper(Path(config.buffer_path).with_suffix(".plan.json")),
                               tally=self.buffer)  # its refusal counts kept in the buffer file, as the gateway's
        self.ack_topic = gateway_topic(config.site, config.gateway_id, GW_ACK, config.topic_root)
        self.images = ImageStore(Path(config.buffer_path).with_suffix(".images.db"), config.image_quota_bytes,
                                 gaps=self.buffer.record_drops)
        self.image_forwarder = ImageForwarder(config, self.images, lambda: self.buffer.stats()["pending"], clock)
        self._pending: list[Item] = []
        self._to_nodes: list[tuple[str, bytes]] = []

    def receive(self, data: bytes) -> None:
        """A node's report, as the MQTT source takes it: decoded by the contract, flagged, its clock
        corrected, queued for the buffer's next commit (ContractError for a bad one). A tracker's positions
        message (its first byte POSITION_MAGIC, contract 1.6) is queued as its positions item, as the MQTT
        source does: its fixes carry their own GNSS time."""
        rx_ms = self.clock()
        if data[:1] == bytes((POSITION_MAGIC,)):
            self._pending.append(Item(positions_item(decode_positions(data)), rx_ms, ()))
            return
        uplink = payload.decode(data)
        flags = self.quality(uplink, rx_ms)
        self._pending.append(Item(correct_clock(uplink, flags, rx_ms), rx_ms, flags))

    def receive_chunk(self, data: bytes) -> bytes | None:
        """A camera node's image chunk, as the MQTT source takes it: checked by the contract (ContractError for
        a damaged one), committed to the image store; the answer for the node (its image_ack), or None."""
        answer = self.images.put_chunk(decode_chunk(data), self.clock())
        return None if answer is None else encode_image_ack(answer)

    def commit(self) -> int:
        """One buffer transaction for what arrived since the last (the source's committer groups
        messages the same way); the new readings."""
        if not self._pending:
            return 0
        items, self._pending = self._pending, []
        return self.buffer.put_many(items)

    def command(self, raw: bytes) -> None:
        """A message on the gateway's command topic."""
        self._deliver(self.relay.command(raw, self.clock()))

    def plan(self, raw: bytes) -> bool:
        """A message on the gateway's plan topic; True if kept."""
        return self.relay.plan(raw, self.clock())

    def due(self) -> None:
        """The kept plan's commands whose not-before came (the plan keeper's tick)."""
        self._deliver(self.relay.due(self.clock()))

    def _deliver(self, out: Out) -> None:
        for nc in out.to_nodes:
            self._to_nodes.append((nc.node, nc.raw))
            self.relay.sent(nc)  # the farm link takes it at once
        if out.to_cloud:
            self.buffer.put_acks(out.to_cloud)  # the relay's own answers wait for the cloud like node acks

    def node_acks(self, acks: Iterable[dict[str, Any]]) -> None:
        """Acks from the controllers: tracked by the relay, committed to the ack outbox."""
        raws = []
        for ack in acks:
            self.relay.node_ack(ack, self.clock())
            raws.append(encode(ack))
        if raws:
            self.buffer.put_acks(raws)

    def take_node_messages(self) -> list[tuple[str, bytes]]:
        out, self._to_nodes = self._to_nodes, []
        return out

    def close(self) -> None:
        self.buffer.close()
        self.images.close()


class FarmRuntime:
    """One farm's cloud and gateway on one clock (see the module docstring)."""

    def __init__(self, services: Services, gateway: InProcessGateway, clock: Clock) -> None:
        self.services = services
        self.gateway = gateway
        self.clock = clock
        self.cloud_up = True
        self._was_up = True
        self.counts = Counts()
        self._last_rollup_ms: int | None = None
        services.commands.sender.publisher = self
        if services.commands.plans is not None:
            services.commands.plans.publish = self._publish_plan

    @classmethod
    async def open(cls, folder: Path, clock: Clock, *, site: str = "farm", gateway: str = "gw-1",
                   database_url: str | None = None, signed: bool = True, **settings: Any) -> FarmRuntime:
        """The cloud (SQLite readings in `folder`, its relational database there too unless
        `database_url` names another) and the gateway, on `clock`. `signed`: the cloud signs with
        a key made for the run and the gateway trusts only that key, as on a real farm. `settings`:
        further cloud settings (plan_validity_s, command_send_ahead_s, ...)."""
        folder.mkdir(parents=True, exist_ok=True)
        keys: dict[str, Path] = {}
        if signed:
            keys_dir = folder / "command-keys"
            kid, _, public = generate_key(keys_dir, clock=clock)
            keys = {kid: public}
            settings.setdefault("command_signing_keys_dir", keys_dir)
        cloud_settings = Settings(storage="sqlite", data_dir=folder / "cloud", database_url=database_url,
                                  mqtt_enabled=False, secret_key=secrets.token_urlsafe(32), **settings)
        services = await open_services(cloud_settings, clock)
        broker = BrokerConfig(host="127.0.0.1")  # never dialled: the links are direct calls
        config = GatewayConfig(site=site, gateway_id=gateway, farm_broker=broker, cloud_broker=broker,
                               buffer_path=folder / "gateway" / "buffer.db", http_port=0,
                               topic_root=cloud_settings.topic_root)
        config.buffer_path.parent.mkdir(parents=True, exist_ok=True)
        trusted = load_trusted_keys(keys)
        seen = SeenIds(config.buffer_path.with_suffix(".cmdids.sqlite")) if trusted else None
        gw = InProcessGateway(config, clock, CommandAuth(trusted, site, gateway, seen))
        return cls(services, gw, clock)

    # --- the farm registry ---------------------------------------------------------------

    async def register(self, *items: BaseModel) -> None:
        """Add sites, fields, zones, nodes and valves to the registry, parents first (as a
        technician does through the API)."""
        for item in items:
            await self.services.registry.create(_KINDS[type(item)], item)

    # --- readings up ---------------------------------------------------------------------

    def receive(self, data: bytes) -> None:
        """A node's report (wire bytes) reaches the gateway now."""
        self.gateway.receive(data)
        self.counts.reports += 1

    def receive_chunk(self, data: bytes) -> bytes | None:
        """A camera node's chunk (wire bytes) reaches the gateway now; the gateway's answer for the node."""
        self.counts.image_chunks += 1
        return self.gateway.receive_chunk(data)

    async def forward(self) -> int:
        """The gateway commits what arrived and forwards its buffer to the cloud, then its complete
        images, as its forwarders do while the link is up; the readings that went."""
        self.gateway.commit()
        await self._send_acks()
        if not self.cloud_up:
            return 0
        total = 0
        site, gw = self.gateway.config.site, self.gateway.config.gateway_id

        async def send(body: bytes) -> None:
            await ingest_batch(body, self.services.store, self.services.routes, origin=(site, gw),
                               events=self.services.events, gaps=self.services.gaps, tracks=self.services.tracks,
                               owners=ingest_guard(self.services.db))
            self.counts.batches += 1

        while n := await self.gateway.forwarder.forward_once(send):
            total += n

        async def send_image(image: ReadyImage, body: bytes) -> dict[str, Any]:
            receipt = await self.services.images.ingest(body)
            self.counts.images_to_cloud += 1
            return receipt

        while await self.gateway.image_forwarder.forward_one(send_image):
            pass
        return total

    # --- commands down, acks up -----------------------------------------------------------

    async def publish_command(self, site: str, gateway: str, command: dict[str, Any]) -> None:
        """The cloud's CommandSender publishes here (CommandPublisher)."""
        self._check_link(site, gateway)
        self.gateway.command(encode(command))

    async def _publish_plan(self, topic: str, body: bytes) -> None:
        """The cloud's PlanPublisher publishes here."""
        if not self.cloud_up:
            raise LinkDown(f"the cloud link of gateway {self.gateway.config.gateway_id} is down")
        self.counts.plans_to_gateway += 1
        if topic.endswith("/plan"):
            self.gateway.plan(body)
        else:  # a plan on the command topic (contract 1.1): the relay keeps it the same way
            self.gateway.command(body)

    def _check_link(self, site: str, gateway: str) -> None:
        cfg = self.gateway.config
        if not self.cloud_up or (site, gateway) != (cfg.site, cfg.gateway_id):
            self.counts.refused_by_link += 1
            raise LinkDown(f"no link to gateway {site}/{gateway}")

    def take_node_messages(self) -> list[tuple[str, bytes]]:
        """Commands the gateway passed to its nodes since the last call: (node, bytes)."""
        out = self.gateway.take_node_messages()
        self.counts.commands_to_nodes += len(out)
        return out

    async def node_acks(self, acks: Iterable[dict[str, Any]]) -> None:
        """Controllers' acks reach the gateway and go up to the cloud while the link is up."""
        acks = list(acks)
        if acks:
            self.gateway.node_acks(acks)
            await self._send_acks()

    async def _send_acks(self) -> None:
        if not self.cloud_up:
            return
        buffer = self.gateway.buffer
        site, gw = self.gateway.config.site, self.gateway.config.gateway_id
        while rows := buffer.next_acks(100):
            for ack_id, raw in rows:
                await self.services.commands.apply_ack(raw, gateway=(site, gw))
                buffer.acks_sent([ack_id])
                self.counts.acks_to_cloud += 1

    # --- the services' jobs ---------------------------------------------------------------

    async def gateway_tick(self) -> None:
        """What the gateway does on its own: acks waiting in its outbox go up (while the link is
        up), and its plan keeper delivers the kept plan's commands whose not-before came."""
        await self._send_acks()
        self.gateway.due()

    async def jobs(self) -> None:
        """What runs on its own at the gateway (gateway_tick) and in the cloud: held commands go
        out (while the link is up; when it came back, what the cloud does on reconnect: what
        waited, the cancels not answered yet and every gateway's plan), the cloud expires what did
        not start in time, and the SQLite roll-up runs every rollup_interval_s."""
        await self.gateway_tick()
        commands = self.services.commands
        await commands.expire_due()
        if self.cloud_up and not self._was_up and commands.plans is not None:
            await on_broker_connect(commands, commands.plans)  # type: ignore[arg-type]
        elif self.cloud_up:
            await commands.sender.dispatch_pending()
        self._was_up = self.cloud_up
        store = self.services.store
        now = self.clock()
        interval_ms = int(self.services.settings.rollup_interval_s * 1000)
        if isinstance(store, SqliteReadingStore) and (self._last_rollup_ms is None
                                                      or now - self._last_rollup_ms >= interval_ms):
            await store.maintain(now)
            self._last_rollup_ms = now

    async def plan(self, origin: str = "scheduler") -> dict[str, str]:
        """The scheduled planner: every zone, one plan per gateway at the end; {zone: rule or error}."""
        return await self.services.planning.plan_all(origin=origin)

    async def evaluate_alerts(self) -> Any:
        assert self.services.alerts is not None
        return await self.services.alerts.evaluate()

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            self.gateway.close()
        await close_services(self.services)

