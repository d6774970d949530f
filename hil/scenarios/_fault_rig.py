"""What the fault scenarios share: a real broker, the cloud service's own
parts (store, database, MQTT ingest worker, command lifecycle and expiry job;
no HTTP server), the gateway, firmware nodes on a virtual farm, and the
accounting that turns a run into a `ScenarioResult`.

Time: these scenarios run the real gateway and cloud, which keep wall-clock
time, so every part (nodes, commands, plans) keeps wall-clock time too, and
the farm runs on a `ScaledClock`: one wall second is `scale` seconds of farm
time. Every duration a scenario sets (report interval, outage, plan validity,
the firmware's own time limits) is the farm duration divided by the scale.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from furrow.cloud.api.deps import Services
from furrow.cloud.app import close_services, every, expire_commands, open_services
from furrow.cloud.commands.models import CommandOut
from furrow.cloud.commands.signing import generate_key
from furrow.cloud.settings import Settings
from furrow.firmware.irrigation_node import IrrigationNode
from furrow.firmware.journal import Journal
from furrow.firmware.seqstore import SeqStore
from furrow.gateway import Gateway, GatewayConfig
from furrow.hil.faults import FaultyValve, FullFlash, LeakyFlowMeter, NodeSlot
from furrow.hil.mosquitto import HOST, Broker, start_broker
from furrow.hil.mqtt_node import MqttNodeRunner, wall_clock_ms
from furrow.hil.scenarios import RunOptions, ScenarioResult
from furrow.hil.verdict import Issued, Ledger, Opening, account, audit_valves, stored_readings
from furrow.hil.virtual_farm import DAY_S, VirtualFarm

SITE = "hil"
GATEWAY = "gw-hil"
FW = "0.1.0"
WAIT_S = 30.0

log = logging.getLogger("furrow.hil.faults")


class ScaledClock:
    """Farm time: `scale` farm seconds per wall second, from the moment it is made."""

    def __init__(self, scale: float) -> None:
        self.scale = scale
        self.wall0 = time.time()

    def s(self) -> float:
        return self.wall0 + (time.time() - self.wall0) * self.scale

    def farm_s(self, wall_s: float) -> float:
        return self.wall0 + (wall_s - self.wall0) * self.scale

    def elapsed_days(self) -> float:
        return (time.time() - self.wall0) * self.scale / DAY_S

    def wall(self, farm_seconds: float) -> float:
        """Wall seconds that stand for `farm_seconds`."""
        return farm_seconds / self.scale


async def wait_until(condition: Any, what: str, timeout_s: float = WAIT_S) -> None:
    """Poll `condition` (sync or async) until true; fail naming `what`."""
    deadline = time.monotonic() + timeout_s
    while True:
        ok = condition()
        if asyncio.iscoroutine(ok):
            ok = await ok
        if ok:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s:g} s waiting for {what}")
        await asyncio.sleep(0.05)


# -- the parts -----------------------------------------------------------------------


class Cloud:
    """The cloud service's parts, in process: store, database, MQTT worker, expiry job."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self._expiry: asyncio.Task[None] | None = None

    @classmethod
    async def start(cls, folder: Path, broker: Broker, database_url: str | None = None, **more: Any) -> Cloud:
        """`more`: further settings a scenario needs (e.g. plan_validity_s)."""
        settings = Settings(storage="sqlite", data_dir=folder, database_url=database_url, mqtt_host=broker.host,
                            mqtt_port=broker.port, mqtt_client_id="furrow-cloud-hil", mqtt_reconnect_max_s=1.0,
                            secret_key=secrets.token_urlsafe(32), command_expiry_interval_s=0.2, **more)
        cloud = cls(await open_services(settings))
        assert cloud.services.worker is not None
        cloud.services.worker.start()
        cloud._expiry = asyncio.create_task(
            every(0.2, lambda: expire_commands(cloud.services.commands), "command expiry"), name="hil expiry")
        await wait_until(lambda: cloud.services.worker.connected, "the cloud's MQTT worker to connect")
        return cloud

    async def stop(self) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._expiry
        await close_services(self.services)

    async def routed(self, node: str) -> bool:
        return await self.services.routes.get(node) is not None

    async def command(self, node: str, valve: int, duration_s: int, ttl_s: int, max_runtime_s: int,
                      not_before_ms: int | None = None) -> CommandOut:
        cmd, _ = await self.services.commands.create(node=node, valve=valve, action="open", duration_s=duration_s,
                                                     ttl_s=ttl_s, max_runtime_s=max_runtime_s,
                                                     not_before_ms=not_before_ms, origin="hil")
        return cmd

    async def state(self, cmd_id: str) -> CommandOut:
        return await self.services.commands.get(cmd_id)

    async def count(self) -> int:
        return await self.services.store.count()


def irrigation_slot(farm: VirtualFarm, node_id: str, zones: list[str], state_dir: Path, interval_ms: int,
                    ledger: Ledger, rate_mm_h: float = 10.0, **limits: Any
                    ) -> tuple[NodeSlot, list[FaultyValve], LeakyFlowMeter, FullFlash]:
    """An irrigation controller with faulty-able valves, a leaky-able meter and
    a journal on a flash that may fill; `limits` set the core's time limits
    (heartbeat_timeout_ms, no_flow_ms, leak_settle_ms, ...)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    valves = []
    for channel, zone in enumerate(zones, start=1):
        farm.connect_valve(node_id, channel, zone, rate_mm_h)
        valves.append(FaultyValve(farm, node_id, channel))
    meter = LeakyFlowMeter(farm, node_id)
    flash = FullFlash(Journal(str(state_dir / f"{node_id}.journal")))

    def make(reason: str) -> IrrigationNode:
        core = IrrigationNode(node_id, SeqStore(str(state_dir / f"{node_id}.seq")), valves, fw=FW,
                              interval_ms=interval_ms, flow_meter=meter, journal=flash, boot_reason=reason,
                              **limits)
        for v in valves:
            v.clock = lambda c=core: c.now_ms  # the drive log in the controller's own time
        return core

    return NodeSlot(make, ledger.uplink, ledger.ack), valves, meter, flash


class Rig:
    """A broker, the cloud and the scenario's nodes; the gateway is the
    scenario's to run (in process or as a process)."""

    def __init__(self, options: RunOptions, name: str, database_url: str | None = None,
                 cloud_settings: dict[str, Any] | None = None) -> None:
        self.options = options
        self.cloud_settings = dict(cloud_settings or {})
        self.folder = options.workdir / name
        self.folder.mkdir(parents=True, exist_ok=True)
        # the cloud's relational database: SQLite in the run's folder unless
        # FURROW_HIL_DATABASE_URL names another (the tests give PostgreSQL)
        self.database_url = database_url or os.environ.get("FURROW_HIL_DATABASE_URL") or None
        # Signed commands, as on a real farm: the cloud signs with a key made for the run
        # and every gateway the scenario starts trusts it (docs/security.md).
        self.kid, _, self.public_key = generate_key(self.folder / "command-keys")
        self.cloud_settings.setdefault("command_signing_keys_dir", self.folder / "command-keys")
        self.ledger = Ledger()
        self.runners: list[MqttNodeRunner] = []
        self.broker: Broker | None = None
        self.cloud: Cloud | None = None
        self._nodes_stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> Rig:
        self.broker = await start_broker(self.folder / "broker")
        self.say(f"broker: {self.broker.description}")
        try:
            self.cloud = await Cloud.start(self.folder / "cloud", self.broker, self.database_url,
                                           **self.cloud_settings)
        except BaseException:
            await self.broker.stop()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop_nodes()
        if self.cloud is not None:
            await self.cloud.stop()
        if self.broker is not None:
            await self.broker.stop()

    def say(self, line: str) -> None:
        self.options.progress(line)
        log.info("%s", line)

    def gateway_raw(self, cloud_port: int | None = None, **overrides: Any) -> dict[str, Any]:
        """The gateway's config as its TOML would hold it."""
        assert self.broker is not None
        farm = {"host": HOST, "port": self.broker.port, "keepalive": 5, "timeout": 3}
        raw: dict[str, Any] = {
            # receipt_wait: a batch whose receipt a broker restart lost goes again within the run
            "site": SITE, "gateway_id": GATEWAY, "http_port": 0, "forward_interval": 0.1, "receipt_wait": 1,
            "buffer_path": str(self.folder / "gateway" / "buffer.sqlite"), "heartbeat_interval": 0.5,
            "farm_broker": farm, "cloud_broker": {**farm, "port": cloud_port or self.broker.port},
            "command_auth": {"keys": {self.kid: str(self.public_key)}},
        }
        raw.update(overrides)
        (self.folder / "gateway").mkdir(parents=True, exist_ok=True)
        return raw

    def mqtt_node(self, core: Any, encoding: str = "json", tick_s: float = 0.05, on_tick: Any = None,
                  port: int | None = None, clock_ms: Any = wall_clock_ms) -> MqttNodeRunner:
        assert self.broker is not None
        runner = MqttNodeRunner(core, SITE, HOST, port or self.broker.port, encoding=encoding, tick_s=tick_s,
                                on_tick=on_tick, state_dir=self.folder / "nodes", clock_ms=clock_ms)
        self.runners.append(runner)
        return runner

    def start_nodes(self) -> None:
        for runner in self.runners:
            self._tasks.append(asyncio.create_task(runner.run(self._nodes_stop), name=runner.node_id))

    async def stop_nodes(self) -> None:
        """Stop ticking; each node flushes its outbox first (bounded).

        A runner flushes only on a live link: one still backing off after a
        broker restart, or waiting out the PUBACK timeout of a publish the
        old broker never answered, would stop with messages in its outbox.
        So the stop waits (bounded) until every node is connected with an
        empty outbox, as a technician waits for the last report."""
        if self._tasks and not self._nodes_stop.is_set():
            with contextlib.suppress(TimeoutError):
                await wait_until(lambda: all(r.connected and not len(r.outbox) for r in self.runners),
                                 "every node connected with its outbox sent", WAIT_S)
        self._nodes_stop.set()
        if self._tasks:
            done, pending = await asyncio.wait(self._tasks, timeout=WAIT_S)
            for task in pending:
                task.cancel()
            for task in done:
                if task.exception() is not None:
                    log.error("node %s failed: %r", task.get_name(), task.exception())
            self._tasks = []

    async def drain(self, timeout_s: float = WAIT_S) -> None:
        """Until the cloud has stored at least every reading the nodes made (a
        run that loses some ends at the timeout, and the accounting says so)."""
        assert self.cloud is not None
        cloud = self.cloud
        with contextlib.suppress(TimeoutError):
            await wait_until(lambda: _at_least(cloud, len(self.ledger.readings)), "the cloud to store every reading",
                             timeout_s)

    async def result(self, simulated_days: float, issued: list[Issued], valves: list[FaultyValve],
                     farm: VirtualFarm | None, extra: dict[str, Any],
                     series: dict[str, tuple[list[float], list[float]]] | None = None) -> ScenarioResult:
        assert self.cloud is not None
        nodes = self.ledger.nodes
        acc = account(self.ledger.readings, await stored_readings(self.cloud.services.store, nodes))
        openings = [Opening(v.node, v.channel, o, c) for v in valves for o, c in v.intervals if o is not None]
        audit = audit_valves(openings, issued, wall_clock_ms())
        assert self.broker is not None
        extra = {"broker": self.broker.kind, "valve_opens": audit.opens, "unexplained_opens": audit.unexplained,
                 **extra}
        if acc.lost_reports:
            extra["lost_reports"] = [f"{node}#{seq}" for node, seq in acc.lost_reports]
        if audit.detail:
            extra["valve_findings"] = audit.detail[:10]
        return ScenarioResult(
            simulated_days=round(simulated_days, 3), nodes=len(nodes), readings_sent=acc.sent,
            readings_stored=acc.stored, readings_lost=acc.lost, duplicates_stored=acc.duplicates,
            irrigation_mm=_mean_irrigation_mm(farm),
            stress_days=0, commands_issued=len(issued), commands_executed_late=audit.late,
            valve_overruns=audit.overruns, extra=extra, series={**valve_timeline(valves), **(series or {})},
        )


def valve_timeline(valves: list[FaultyValve]) -> dict[str, tuple[list[float], list[float]]]:
    """Each valve's drive as a step series (seconds of the controller's clock since the first opening, 1 open)
    for the report's timeline plot."""
    starts = [iv[0] for v in valves for iv in v.intervals if iv[0] is not None]
    if not starts:
        return {}
    t0 = min(starts)
    out: dict[str, tuple[list[float], list[float]]] = {}
    for v in valves:
        xs: list[float] = [0.0]
        ys: list[float] = [0.0]
        for opened, closed in v.intervals:
            assert opened is not None
            xs += [(opened - t0) / 1000] * 2
            ys += [0.0, 1.0]
            if closed is not None:
                xs += [(closed - t0) / 1000] * 2
                ys += [1.0, 0.0]
        out[f"valve_open:{v.node}/{v.channel}"] = (xs, ys)
    return out


def _mean_irrigation_mm(farm: VirtualFarm | None) -> float:
    """Water the valves put on the zones, mean per zone (as every scenario reports it)."""
    if farm is None or not farm.zones:
        return 0.0
    return round(sum(z.irrigated_mm for z in farm.zones.values()) / len(farm.zones), 2)


async def _at_least(cloud: Cloud, n: int) -> bool:
    return await cloud.count() >= n


async def run_gateway(config: GatewayConfig, stop: asyncio.Event) -> tuple[Gateway, asyncio.Task[None]]:
    """An in-process gateway, running and ready (both links up)."""
    gateway = Gateway(config)
    task = asyncio.create_task(gateway.run(stop), name="gateway")
    await wait_until(lambda: gateway.ready or task.done(), "the gateway to connect")
    if task.done():
        task.result()
    return gateway, task


@contextlib.contextmanager
def scaled_backoff(max_s: float) -> Iterator[None]:
    """Cap the gateway's cloud reconnect backoff (30 s on a farm) for a
    compressed run, and put it back after: a farm day of outage lasts seconds
    here, and so must the wait before the link is tried again."""
    from furrow.gateway import cloud_link

    saved = cloud_link.BACKOFF_MAX_S
    cloud_link.BACKOFF_MAX_S = max_s
    try:
        yield
    finally:
        cloud_link.BACKOFF_MAX_S = saved
