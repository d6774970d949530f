"""`furrow demo`: a small farm in one process on embedded defaults.

What runs, all on 127.0.0.1:

    soil-01 (MQTT, JSON)    soil-02 (MQTT, binary)    weather-01 (MQTT)
    soil-03 (Modbus RTU on an emulated RS-485 bus)    irr-01 (MQTT, 2 valves)
        |                                                   ^
        v                                                   |
    embedded MQTT broker (amqtt) <---> gateway gw-1 (Modbus poller, durable SQLite buffer)
        |                                                   ^
        v                                                   |
    cloud service: ingest -> SQLite readings store, API on :8000, command lifecycle
        ^
        an "agronomist" that opens a valve for a few seconds through the API, now and then

The nodes are the real firmware cores reading emulated hardware on a
virtual farm. With a duration the demo stops by itself: the nodes stop
first, the pipeline drains, and the last line printed is a JSON summary.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import shutil
import signal
import sys
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from furrow.cloud.app import create_app
from furrow.cloud.commands.signing import add_node_key, generate_key
from furrow.cloud.settings import Settings
from furrow.gateway.app import Gateway
from furrow.gateway.config import BrokerConfig, CommandAuthConfig, GatewayConfig, ModbusDeviceConfig
from furrow.hil import nodes
from furrow.hil.broker import EmbeddedBroker, port_is_free
from furrow.hil.modbus_bus import ModbusBus
from furrow.hil.mqtt_node import MqttNodeRunner
from furrow.hil.virtual_farm import VirtualFarm, VirtualZone

log = logging.getLogger("furrow.demo")

SITE = "demo"
GATEWAY = "gw-1"
HOST = "127.0.0.1"
# (node, role, zone, probe depths in cm): what the demo runs, as the registry holds it
DEMO_NODES = [("soil-01", "soil", "north", [10, 30, 60]), ("soil-02", "soil", "north", [10, 30]),
              ("soil-03", "soil", "south", [10, 30, 60]), ("weather-01", "weather", None, None),
              ("irr-01", "irrigation", None, None)]


@dataclass(frozen=True)
class DemoOptions:
    duration_s: float | None = None
    data_dir: Path = Path(".furrow/demo")
    api_port: int = 8000
    mqtt_port: int = 1883
    modbus_port: int = 5020
    report_interval_s: float = 2.0
    command_every_s: float = 6.0
    valve_open_s: int = 3


@dataclass
class DemoCounts:
    commands_sent: int = 0
    commands_refused: int = 0


class Demo:
    def __init__(self, options: DemoOptions) -> None:
        self.o = options
        self.api = f"http://{HOST}:{options.api_port}/api/v1"
        self.stop_commands = asyncio.Event()  # Ctrl-C or the duration: no new commands
        self.stop_nodes = asyncio.Event()
        self.stop_all = asyncio.Event()
        self.counts = DemoCounts()
        self.command_ids: list[str] = []
        self.started = time.monotonic()

        self.farm = VirtualFarm([VirtualZone("north"), VirtualZone("south")], seed=7)
        state = options.data_dir / "nodes"
        interval_ms = int(options.report_interval_s * 1000)
        clock_s = time.time
        self.farm.advance(clock_s())

        def advance(now_ms: int) -> None:
            self.farm.advance(now_ms / 1000)
            self.meter.advance(now_ms / 1000)

        irr, self.meter = nodes.irrigation_node(self.farm, "irr-01", ["north", "south"], state, interval_ms)
        # each node keeps its outbox beside its seq file: both are its flash
        mqtt = dict(site=SITE, host=HOST, port=options.mqtt_port, state_dir=state)
        self.runners = [
            MqttNodeRunner(nodes.soil_node(self.farm, "soil-01", "north", [10, 30, 60], state, interval_ms, clock_s),
                           encoding="json", **mqtt),
            MqttNodeRunner(nodes.soil_node(self.farm, "soil-02", "north", [10, 30], state, interval_ms, clock_s),
                           encoding="binary", **mqtt),
            MqttNodeRunner(nodes.weather_node(self.farm, "weather-01", state, interval_ms, clock_s), **mqtt),
            MqttNodeRunner(irr, on_tick=advance, **mqtt),
        ]
        self.bus = ModbusBus(HOST, options.modbus_port, baud=19_200)
        self.bus.add(nodes.soil_node(self.farm, "soil-03", "south", [10, 30, 60], state, interval_ms, clock_s), 1)
        # Signed commands, as on a real farm: the cloud signs with a key made
        # here, and the gateway trusts its public key (docs/security.md).
        keys_dir = options.data_dir / "command-keys"
        kid, _, public = generate_key(keys_dir)
        # and the irrigation node checks its own MAC on every command
        node_keys = keys_dir / "node-keys.json"
        irr.cmd_key = bytes.fromhex(add_node_key(node_keys, "irr-01"))
        self.gateway = Gateway(
            GatewayConfig(
                site=SITE,
                gateway_id=GATEWAY,
                farm_broker=BrokerConfig(host=HOST, port=options.mqtt_port),
                cloud_broker=BrokerConfig(host=HOST, port=options.mqtt_port),
                buffer_path=options.data_dir / "gateway-buffer.db",
                forward_interval=timedelta(seconds=0.5),
                modbus=[ModbusDeviceConfig(node_id="soil-03", host=HOST, port=options.modbus_port, unit=1,
                                           poll_interval=timedelta(seconds=min(1.0, options.report_interval_s / 2)))],
                http_port=0,  # no metrics server: the demo holds only its API, MQTT and Modbus ports
                command_auth=CommandAuthConfig(keys={kid: public}),
            )
        )
        # Demo mode: a built-in secret key and this admin token, printed at start (never on a real farm).
        self.api_token = "fw_demo_" + secrets.token_urlsafe(24)
        self.settings = Settings(storage="sqlite", data_dir=options.data_dir / "cloud", mqtt_host=HOST,
                                 mqtt_port=options.mqtt_port, mqtt_client_id="furrow-cloud-demo",
                                 demo_mode=True, bootstrap_admin_token=self.api_token,
                                 command_signing_keys_dir=keys_dir, command_node_keys_file=node_keys)
        self.broker = EmbeddedBroker(HOST, options.mqtt_port)

    # -- the parts -------------------------------------------------------------

    async def _serve_cloud(self) -> None:
        config = uvicorn.Config(create_app(self.settings), host=HOST, port=self.o.api_port, log_level="warning",
                                lifespan="on")
        server = uvicorn.Server(config)
        # The demo owns Ctrl-C and SIGTERM: uvicorn (>= 0.29) would otherwise take them while it
        # serves and shut the API down under a demo still waiting for it.
        server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]
        serving = asyncio.create_task(server.serve(), name="cloud api")
        await self.stop_all.wait()
        server.should_exit = True
        await serving

    async def _agronomist(self, client: httpx.AsyncClient) -> None:
        """Open a valve for a few seconds through the API, alternating valves."""
        valve = 1
        while not self.stop_commands.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop_commands.wait(), self.o.command_every_s)
            if self.stop_commands.is_set():
                return
            body = {"node": "irr-01", "valve": valve, "action": "open", "duration_s": self.o.valve_open_s}
            try:
                r = await client.post(f"{self.api}/commands", json=body)
            except httpx.HTTPError as e:
                log.warning("agronomist: API unreachable (%s)", e)
                continue
            if r.status_code == 201:
                cmd = r.json()
                self.command_ids.append(cmd["id"])
                self.counts.commands_sent += 1
                log.info("agronomist: command %s open valve %d for %d s -> irr-01", cmd["id"], valve,
                         self.o.valve_open_s)
                valve = 2 if valve == 1 else 1
            else:
                self.counts.commands_refused += 1
                log.info("agronomist: command refused %d: %s", r.status_code, r.text[:200])

    async def _wait_healthy(self, client: httpx.AsyncClient) -> None:
        for _ in range(200):
            with contextlib.suppress(httpx.HTTPError):
                r = await client.get(f"{self.api}/health")
                if r.status_code == 200 and r.json().get("mqtt") == "connected":
                    return
            await asyncio.sleep(0.05)
        raise RuntimeError("the cloud service did not become healthy within 10 s")

    async def _register_farm(self, client: httpx.AsyncClient) -> None:
        """The registry as a technician would enter it: the site, a field, its zones with the
        virtual soil's field capacity and wilting point, and each node at its depths, so the
        dashboard and `furrow node check` can judge what the nodes report. No valves: the
        demo's agronomist commands them, not the scheduled planner."""
        entries: list[tuple[str, dict[str, Any]]] = [
            ("sites", {"id": SITE, "name": "Demo farm"}),
            ("fields", {"id": "home", "site_id": SITE, "name": "Home field", "area_ha": 20})]
        for zone in self.farm.zones.values():
            entries.append(("zones", {"id": zone.name, "field_id": "home", "name": f"{zone.name.title()} block",
                                      "area_ha": 10, "soil_texture": "loam", "root_depth_cm": 60, "crop": "maize",
                                      "field_capacity_pct": zone.field_capacity_pct,
                                      "wilting_point_pct": zone.wilting_point_pct, "precip_rate_mm_h": 12.0}))
        for node, role, zone_id, depths in DEMO_NODES:
            entries.append(("nodes", {"id": node, "role": role, "zone_id": zone_id, "depths_cm": depths}))
        for kind, body in entries:
            r = await client.post(f"{self.api}/registry/{kind}", json=body)
            if r.status_code != 201:
                raise RuntimeError(f"demo registry: POST {kind} {body['id']}: HTTP {r.status_code} {r.text[:200]}")

    async def _first_poll(self) -> None:
        """A Modbus report lives in the registers only until the next one, so
        the bus's nodes start once the gateway's master is polling them."""
        for _ in range(100):
            if all(h["polls"] > 0 for h in self.gateway.stats()["modbus"].values()):
                return
            await asyncio.sleep(0.05)
        log.warning("the gateway has not polled the Modbus bus yet; starting the nodes anyway")

    def _sent(self) -> tuple[int, int]:
        reports = sum(r.reports_sent for r in self.runners) + sum(n.reports_made for n in self.bus.nodes)
        readings = sum(r.readings_sent for r in self.runners) + sum(n.readings_made for n in self.bus.nodes)
        return reports, readings

    async def _drain(self, client: httpx.AsyncClient, timeout_s: float = 15.0) -> dict[str, Any]:
        """After the nodes stop: wait until the gateway has forwarded everything
        and the cloud has stored every reading sent and settled every command."""
        deadline = time.monotonic() + timeout_s
        stats: dict[str, Any] = {}
        while time.monotonic() < deadline:
            stats = (await client.get(f"{self.api}/stats")).json()
            states = await self._command_states(client)
            settled = all(s in ("completed", "aborted", "rejected") for s in states.values())
            if (self.gateway.stats()["pending"] == 0 and stats["readings_stored"] >= self._sent()[1]
                    and settled):
                break
            await asyncio.sleep(0.2)
        return stats

    async def _settle_commands(self, client: httpx.AsyncClient) -> None:
        """Let running irrigation finish before the nodes stop (bounded)."""
        deadline = time.monotonic() + self.o.valve_open_s + 10.0
        while time.monotonic() < deadline:
            states = await self._command_states(client)
            if all(s in ("completed", "aborted", "rejected") for s in states.values()):
                return
            await asyncio.sleep(0.2)
        log.warning("some commands had not finished when the nodes stopped")

    async def _command_states(self, client: httpx.AsyncClient) -> dict[str, str]:
        states = {}
        for cmd_id in self.command_ids:
            r = await client.get(f"{self.api}/commands/{cmd_id}")
            if r.status_code == 200:
                states[cmd_id] = r.json()["state"]
        return states

    async def _progress(self) -> None:
        every = 10.0
        while not self.stop_commands.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop_commands.wait(), every)
            if self.stop_commands.is_set():
                return
            g = self.gateway.stats()
            reports, readings = self._sent()
            log.info("progress %4.0f s: nodes sent %d reports (%d readings); gateway buffered %d, forwarded %d, "
                     "pending %d; commands sent %d", time.monotonic() - self.started, reports, readings,
                     g["received"], g["forwarded"], g["pending"], self.counts.commands_sent)

    # -- the whole run -----------------------------------------------------------

    async def run(self) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.stop_commands.set)
        await self.broker.start()
        log.info("embedded MQTT broker on %s:%d", HOST, self.o.mqtt_port)
        headers = {"Authorization": f"Bearer {self.api_token}"}
        async with httpx.AsyncClient(timeout=5.0, headers=headers) as client, asyncio.TaskGroup() as tg:
            tg.create_task(self._serve_cloud(), name="cloud")
            await self._wait_healthy(client)
            await self._register_farm(client)
            log.info("cloud API on http://%s:%d (docs at /docs); demo admin token: %s", HOST, self.o.api_port,
                     self.api_token)
            gateway_stop = asyncio.Event()
            tg.create_task(self.gateway.run(gateway_stop), name="gateway")
            await self.bus.start()
            await self._first_poll()
            tg.create_task(self.bus.run(self.stop_nodes), name="rs485 bus")
            for runner in self.runners:
                tg.create_task(runner.run(self.stop_nodes), name=runner.node_id)
            tg.create_task(self._agronomist(client), name="agronomist")
            tg.create_task(self._progress(), name="progress")
            log.info("demo farm running: %s%s", ", ".join([r.node_id for r in self.runners] + ["soil-03"]),
                     f" for {self.o.duration_s:g} s" if self.o.duration_s else "; Ctrl-C stops it")
            if self.o.duration_s:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stop_commands.wait(), self.o.duration_s)
            else:
                await self.stop_commands.wait()
            self.stop_commands.set()
            await self._settle_commands(client)
            self.stop_nodes.set()
            log.info("stopping: commands settled, nodes stopped, draining the gateway buffer and the cloud ingest")
            stats = await self._drain(client)
            states = await self._command_states(client)
            summary = self._summary(stats, states)
            gateway_stop.set()
            self.stop_all.set()
            await self.bus.close()
        await self.broker.stop()
        return summary

    def _summary(self, stats: dict[str, Any], states: dict[str, str]) -> dict[str, Any]:
        reports, readings = self._sent()
        g = self.gateway.stats()
        acked = [s for s in states.values() if s not in ("created", "sent")]
        return {
            "duration_s": round(time.monotonic() - self.started, 1),
            "nodes": len(self.runners) + len(self.bus.nodes),
            "reports_sent": reports,
            "readings_sent": readings,
            "readings_stored": stats.get("readings_stored", 0),
            "readings_lost": max(0, readings - stats.get("readings_stored", 0)),
            "gateway_quarantined": g["quarantined"],
            "gateway_duplicates": g["duplicates"],
            "commands_sent": self.counts.commands_sent,
            "commands_acked": len(acked),
            "commands_completed": sum(1 for s in states.values() if s == "completed"),
            "irrigation_mm": round(sum(z.irrigated_mm for z in self.farm.zones.values()), 2),
        }


DEMO_MARKER = ".furrow-demo"


def _fresh_data_dir(path: Path) -> str | None:
    """Empty `path` for a new run, but only if a previous demo made it (it
    holds the marker file) or it is empty: never wipe a folder a user chose
    for something else. Returns a message saying what to do, or None."""
    if path.exists():
        if not path.is_dir():
            return f"--data-dir {path} is a file; choose a folder"
        if any(path.iterdir()) and not (path / DEMO_MARKER).exists():
            return (f"--data-dir {path} is not empty and was not made by a demo; "
                    "choose a new or empty folder (the demo wipes its folder at every start)")
        shutil.rmtree(path)
    path.mkdir(parents=True)
    (path / DEMO_MARKER).write_text("made by `furrow demo`; wiped at its next start\n")
    return None


def run_demo(options: DemoOptions) -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(name)-18s %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    ports = (("API", options.api_port, "--port"), ("MQTT", options.mqtt_port, "--mqtt-port"),
             ("Modbus", options.modbus_port, "--modbus-port"))
    for what, port, flag in ports:
        if not port_is_free(HOST, port):
            print(f"furrow demo: the {what} port {port} on {HOST} is in use (another demo or server?). "
                  f"Stop it, or choose another: furrow demo {flag} N", file=sys.stderr)
            return 2
    problem = _fresh_data_dir(options.data_dir)
    if problem:
        print(f"furrow demo: {problem}", file=sys.stderr)
        return 2
    summary = asyncio.run(Demo(options).run())
    print(json.dumps(summary), flush=True)
    return 0
