"""`furrow demo`: a small farm in one process on embedded defaults, with weeks of history.

On start the demo lays the farm down in the registry as a technician would (hil/demo_farm.py:
every zone its valve, the crops sown with their coefficients, each node where it stands),
simulates the last weeks of the season through the production pipeline on a simulated clock,
then runs on live, in real time or `speed` times faster (hil/demo_live.py). All on 127.0.0.1:

    soil-01 (MQTT, JSON)  soil-02 (MQTT, binary)  weather-01, pest-01, irr-01 (MQTT, valve per zone)
    cam-north, cam-south (MQTT, a canopy photo a day, chunk by chunk)
    soil-03 (Modbus RTU on an emulated RS-485 bus)
        |                                                   ^
        v                                                   |
    embedded MQTT broker (amqtt) <---> gateway gw-1 (Modbus poller, durable SQLite buffer, relay)
        |                                                   ^
        v                                                   |
    cloud service: ingest -> SQLite readings store, API and dashboard on :8000,
                   planner, signed commands, alerts

The nodes are the real firmware cores reading emulated hardware on a virtual farm. With a
duration the demo stops by itself: the nodes stop first, the pipeline drains, and the last
line printed is a JSON summary.
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
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import uvicorn

from furrow.cloud.app import create_app
from furrow.cloud.commands.signing import add_node_key
from furrow.cloud.settings import Settings
from furrow.gateway.app import Gateway
from furrow.gateway.config import BrokerConfig, CommandAuthConfig, GatewayConfig, ModbusDeviceConfig
from furrow.hil import demo_farm, demo_machines, demo_season
from furrow.hil.broker import EmbeddedBroker, port_is_free
from furrow.hil.clock import DAY_S, SimClock
from furrow.hil.demo_live import DemoClock, FarmDriver, LiveFarm
from furrow.hil.fleet import CPythonFleet
from furrow.hil.mqtt_node import MqttNodeRunner

log = logging.getLogger("furrow.demo")

HOST = "127.0.0.1"
LIVE_WEATHER_DAYS = 60  # weather generated beyond today for the live part (then the last day repeats)
RECORD_EVERY_S = 5.0  # wall seconds between recordings of the live tractor's work (its covered ground growing)


@dataclass(frozen=True)
class DemoOptions:
    duration_s: float | None = None
    data_dir: Path = Path(".furrow/demo")
    api_port: int = 8000
    mqtt_port: int = 1883
    modbus_port: int = 5020
    report_interval_s: float = 2.0
    """Seconds of wall time between a live node's reports."""
    days: int = 45
    """Days of the season simulated before the demo goes live."""
    speed: float = 1.0
    """Farm seconds per wall second once live."""
    seed: int = 7


class Demo:
    def __init__(self, options: DemoOptions) -> None:
        self.o = options
        self.api = f"http://{HOST}:{options.api_port}/api/v1"
        self.stop_nodes = asyncio.Event()  # Ctrl-C or the duration
        self.stop_all = asyncio.Event()
        self.started = time.monotonic()
        self.clock = DemoClock(options.speed)
        now = datetime.fromtimestamp(self.clock.s(), UTC)
        self.place = demo_farm.place_for(now.date())
        today = now.astimezone(ZoneInfo(self.place.timezone)).date()  # the farm's date, not this machine's
        self.season_start = today - timedelta(days=options.days)
        self.farm = demo_farm.build_farm(self.place, self.season_start, options.days + LIVE_WEATHER_DAYS,
                                         options.seed)
        self.sim = SimClock(demo_farm.local_midnight(self.season_start, self.place))
        self.state_dir = options.data_dir / "nodes"
        self.fleet = CPythonFleet(demo_farm.nodes(demo_farm.SEASON_INTERVALS_S), self.farm, self.sim, self.state_dir)
        # The irrigation node checks its own MAC on every command (docs/security.md).
        self.node_keys = options.data_dir / "node-keys.json"
        self.fleet.cores["irr-01"].cmd_key = bytes.fromhex(add_node_key(self.node_keys, "irr-01"))
        self.live_interval_s = max(1, round(options.report_interval_s * options.speed))
        # Demo mode: a built-in secret key and this admin token, printed at start (never on a real farm).
        self.api_token = "fw_demo_" + secrets.token_urlsafe(24)
        self.broker = EmbeddedBroker(HOST, options.mqtt_port)
        self.season: demo_season.Season | None = None
        self.tractor: demo_machines.LiveWork | None = None
        self.live = LiveFarm(self.fleet, FarmDriver(self.farm, self.sim, self.fleet), self.clock, site=demo_farm.SITE,
                             host=HOST, mqtt_port=options.mqtt_port, modbus_port=options.modbus_port,
                             modbus_units=demo_farm.MODBUS_NODES, state_dir=self.state_dir,
                             interval_s=self.live_interval_s)

    # -- the parts -------------------------------------------------------------

    async def _backfill(self) -> None:
        """The season up to now through the production services on the simulated clock."""
        days = (self.clock.s() - self.sim.s()) / DAY_S
        log.info("simulating %.1f days of the season (%s to now) through the gateway and cloud services", days,
                 self.season_start)
        self.season = await demo_season.simulate(
            self.o.data_dir / "season", self.farm, self.sim, self.fleet, self.place, self.season_start, days,
            lambda line: log.info("season %s", line), command_node_keys_file=self.node_keys)
        r = self.season.result
        log.info("season simulated in %.1f s: %d readings stored, %d commands, %s", time.monotonic() - self.started,
                 r.readings_stored, r.commands_issued, r.extra.get("planner_rules", {}))
        log.info("machines: %s", json.dumps(self.season.machines))
        log.info("fertility: %s", json.dumps(self.season.fertility))

    def _tractor(self) -> None:
        """The tractor sprays the home field live (hil/demo_machines.py `live_work`): its tracker an MQTT node like
        the others. Only after the machines' season, which gave the fields their boundaries."""
        assert self.season is not None
        if self.season.machines is None:
            log.info("no machine works live: the season was too short for the machines' (%d days)",
                     demo_machines.MIN_DAYS)
            return
        self.tractor = demo_machines.live_work(self.place, self.clock.s(), self.clock.s,
                                               self.o.data_dir / "season" / "trackers", self.o.seed)
        self.live.runners.append(MqttNodeRunner(self.tractor.core, demo_farm.SITE, HOST, self.o.mqtt_port,
                                                clock_ms=self.clock.ms, state_dir=self.state_dir))

    async def _dispatch(self, client: httpx.AsyncClient) -> str | None:
        """The tractor's day as the farm plans it: its operator's login, the machinery and the two tasks in the
        registry (hil/demo_machines.py `live_work`), and a plan made from them and kept (the dispatch page, the
        operator's job page). The operator's token (None when the cloud refused something: the log says what)."""
        assert self.tractor is not None
        r = await client.post(f"{self.api}/auth/tokens", json={"user": demo_machines.OPERATOR, "role": "operator"})
        if r.status_code != 201:
            log.warning("no operator login for the tractor (%s): %s", r.status_code, r.text[:200])
            return None
        token = r.json()["token"]
        for path, body in self.tractor.registry:
            r = await client.post(f"{self.api}/registry/{path}", json=body)
            if r.status_code not in (201, 409):  # 409: registered by an earlier run on this data
                log.warning("the tractor's %s %s not registered (%s): %s", path, body["id"], r.status_code,
                            r.text[:200])
                return None
        r = await client.post(f"{self.api}/dispatch/plan", json={"solver": "greedy", "keep": True})
        route = [s["task"] for s in r.json().get("routes", {}).get(demo_machines.MACHINE, [])] if r.is_success else []
        order = [job.task for job in self.tractor.jobs]
        if route != order:
            log.warning("the dispatch plan gives %s %s, the demo drives %s (%s)", demo_machines.MACHINE, route,
                        order, r.text[:200])
        log.info("dispatch plan kept: %s does %s; its operator %s sees it on #/job with token %s",
                 demo_machines.MACHINE, " then ".join(route), demo_machines.OPERATOR, token)
        return token

    async def _record_tractor(self, client: httpx.AsyncClient) -> None:
        """Plan the tractor's day (`_dispatch`), then record each job's work from its live window every
        RECORD_EVERY_S, as a farm's operator (or its automation) would: the same window again recomputes the stored
        operation from the fixes stored by then. The first record of a job reports it started (working) and, once
        its window is over and recorded, the operator reports it done: the cloud plans again and the tractor's job
        page moves to its next task, as the tractor drives there."""
        assert self.tractor is not None
        operator = await self._dispatch(client)
        as_operator = {"Authorization": f"Bearer {operator}"}
        for job in self.tractor.jobs:
            said, started = None, False
            while not self.stop_nodes.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stop_nodes.wait(), RECORD_EVERY_S)
                if self.clock.s() < job.start_s:
                    continue  # still on the way to this job's field
                try:
                    r = await client.post(f"{self.api}/operations", json=job.body)
                except httpx.HTTPError as e:
                    r, text = None, str(e)
                else:
                    text = f"{r.json().get('covered_ha', 0):.3f} ha covered" if r.status_code < 300 else r.text[:200]
                status = r.status_code if r is not None else 0
                if status >= 300 and status != said:  # 422 until the first fix at work is stored
                    log.info("the tractor's %s is not recorded yet (%s): %s", job.task, status, text)
                elif status < 300 and (said is None or said >= 300):
                    log.info("the tractor's %s recorded live: %s", job.task, text)
                said = status
                if status < 300 and operator is not None and not started:
                    started = await self._report(client, as_operator, job.task, {"report": "working"})
                if self.clock.s() > job.until_s + 2 * demo_machines.TAIL_S and status < 300:
                    log.info("the tractor has done %s: %s", job.task, text)
                    if operator is not None:
                        await self._report(client, as_operator, job.task, {"report": "done"})
                    break

    async def _report(self, client: httpx.AsyncClient, headers: dict[str, str], task: str, body: dict) -> bool:
        """The operator's report on `task` (POST /tasks/{task}/report); whether the cloud took it."""
        try:
            r = await client.post(f"{self.api}/tasks/{task}/report", json=body, headers=headers)
        except httpx.HTTPError as e:
            log.warning("the operator's %s report on %s was not sent: %s", body["report"], task, e)
            return False
        if not r.is_success:
            log.warning("the operator's %s report on %s refused (%s): %s", body["report"], task, r.status_code,
                        r.text[:200])
            return False
        log.info("the operator reports %s %s%s", task, body["report"],
                 f": planned again (plan {r.json()['replanned_id']})" if r.json().get("replanned_id") else "")
        return True

    def _gateway(self, season: demo_season.Season) -> Gateway:
        return Gateway(
            GatewayConfig(
                site=demo_farm.SITE,
                gateway_id=demo_farm.GATEWAY,
                farm_broker=BrokerConfig(host=HOST, port=self.o.mqtt_port),
                cloud_broker=BrokerConfig(host=HOST, port=self.o.mqtt_port),
                buffer_path=self.o.data_dir / "gateway-buffer.db",
                forward_interval=timedelta(seconds=0.5),
                modbus=[ModbusDeviceConfig(node_id=node, host=HOST, port=self.o.modbus_port, unit=unit,
                                           poll_interval=timedelta(seconds=min(1.0, self.o.report_interval_s / 2)))
                        for node, unit in demo_farm.MODBUS_NODES.items()],
                http_port=0,  # no metrics server: the demo holds only its API, MQTT and Modbus ports
                # signed commands, as on a real farm: the key the cloud signed the season's with
                command_auth=CommandAuthConfig(keys=season.trusted_keys),
            ),
            clock=self.clock.ms,
        )

    def _settings(self, season: demo_season.Season) -> Settings:
        speed = self.o.speed
        return Settings(storage="sqlite", data_dir=season.cloud_dir, mqtt_host=HOST, mqtt_port=self.o.mqtt_port,
                        mqtt_client_id="furrow-cloud-demo", demo_mode=True, bootstrap_admin_token=self.api_token,
                        command_signing_keys_dir=season.keys_dir, command_node_keys_file=self.node_keys,
                        # the farm's schedule in farm time: planning hourly, alerts every minute (every
                        # 10 s at the least, so a speeded-up demo's nodes report before the first pass)
                        planning_interval_s=3600 / speed, alerts_interval_s=max(10.0, 60 / speed),
                        # a node silent for three minutes of farm time is offline
                        alerts_report_interval_s=max(60, self.live_interval_s))

    async def _serve_cloud(self, settings: Settings) -> None:
        config = uvicorn.Config(create_app(settings, clock=self.clock.ms), host=HOST, port=self.o.api_port,
                                log_level="warning", lifespan="on")
        server = uvicorn.Server(config)
        # The demo owns Ctrl-C and SIGTERM: uvicorn (>= 0.29) would otherwise take them while it
        # serves and shut the API down under a demo still waiting for it.
        server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]
        serving = asyncio.create_task(server.serve(), name="cloud api")
        await self.stop_all.wait()
        server.should_exit = True
        await serving

    async def _wait_healthy(self, client: httpx.AsyncClient) -> None:
        for _ in range(200):
            with contextlib.suppress(httpx.HTTPError):
                r = await client.get(f"{self.api}/health")
                if r.status_code == 200 and r.json().get("mqtt") == "connected":
                    return
            await asyncio.sleep(0.05)
        raise RuntimeError("the cloud service did not become healthy within 10 s")

    async def _first_poll(self, gateway: Gateway) -> None:
        """A Modbus report lives in the registers only until the next one, so
        the bus's nodes start once the gateway's master is polling them."""
        for _ in range(100):
            if all(h["polls"] > 0 for h in gateway.stats()["modbus"].values()):
                return
            await asyncio.sleep(0.05)
        log.warning("the gateway has not polled the Modbus bus yet; starting the nodes anyway")

    async def _drain(self, client: httpx.AsyncClient, gateway: Gateway, timeout_s: float = 15.0) -> dict[str, Any]:
        """After the nodes stop: wait until the gateway has forwarded everything
        and the cloud has stored every reading sent."""
        deadline = time.monotonic() + timeout_s
        stats: dict[str, Any] = {}
        while time.monotonic() < deadline:
            stats = (await client.get(f"{self.api}/stats")).json()
            if gateway.stats()["pending"] == 0 and stats["readings_stored"] >= self._sent()[1]:
                break
            await asyncio.sleep(0.2)
        return stats

    def _sent(self) -> tuple[int, int]:
        """(reports, readings) the nodes sent, in the season and live."""
        reports, readings = self.live.sent()
        if self.season is not None:
            reports += int(self.season.result.extra.get("reports_sent", 0))  # type: ignore[call-overload]
            readings += self.season.result.readings_sent
        return reports, readings

    async def _progress(self, gateway: Gateway) -> None:
        every = 10.0
        while not self.stop_nodes.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop_nodes.wait(), every)
            if self.stop_nodes.is_set():
                return
            g = gateway.stats()
            reports, readings = self.live.sent()
            log.info("live %4.0f s: nodes sent %d reports (%d readings); gateway buffered %d, forwarded %d, "
                     "pending %d", time.monotonic() - self.started, reports, readings, g["received"],
                     g["forwarded"], g["pending"])

    # -- the whole run -----------------------------------------------------------

    async def run(self) -> dict[str, Any] | None:
        """The season, then live until the duration or Ctrl-C; the summary (None when stopped
        before going live)."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.stop_nodes.set)
        log.info("demo farm %s: maize sown %s", self.place.label, self.season_start)
        backfill = asyncio.create_task(self._backfill(), name="season")
        stopped = asyncio.create_task(self.stop_nodes.wait(), name="ctrl-c")
        await asyncio.wait({backfill, stopped}, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        if not backfill.done():  # Ctrl-C while the season runs: no need to wait for its end
            backfill.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await backfill
            return None
        backfill.result()
        assert self.season is not None
        gateway = self._gateway(self.season)
        self.clock.go_live(self.sim.s())
        self._tractor()
        await self.broker.start()
        log.info("embedded MQTT broker on %s:%d", HOST, self.o.mqtt_port)
        headers = {"Authorization": f"Bearer {self.api_token}"}
        async with httpx.AsyncClient(timeout=10.0, headers=headers) as client, asyncio.TaskGroup() as tg:
            tg.create_task(self._serve_cloud(self._settings(self.season)), name="cloud")
            await self._wait_healthy(client)
            log.info("cloud API on http://%s:%d (dashboard at /, docs at /docs); demo admin token: %s", HOST,
                     self.o.api_port, self.api_token)
            gateway_stop = asyncio.Event()
            tg.create_task(gateway.run(gateway_stop), name="gateway")
            await self.live.start_bus()
            await self._first_poll(gateway)
            tg.create_task(self.live.run(self.stop_nodes), name="nodes")
            tg.create_task(self._progress(gateway), name="progress")
            if self.tractor is not None:
                tg.create_task(self._record_tractor(client), name="tractor's work")
            log.info("demo farm live: %s%s%s", ", ".join(self.live.node_ids),
                     f" at {self.o.speed:g}x" if self.o.speed != 1 else "",
                     f" for {self.o.duration_s:g} s" if self.o.duration_s else "; Ctrl-C stops it")
            if self.o.duration_s:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stop_nodes.wait(), self.o.duration_s)
            else:
                await self.stop_nodes.wait()
            self.stop_nodes.set()
            log.info("stopping: nodes stopped, draining the gateway buffer and the cloud ingest")
            stats = await self._drain(client, gateway)
            summary = await self._summary(client, gateway, stats)
            gateway_stop.set()
            self.stop_all.set()
            await self.live.close()
        await self.broker.stop()
        return summary

    async def _summary(self, client: httpx.AsyncClient, gateway: Gateway, stats: dict[str, Any]) -> dict[str, Any]:
        reports, readings = self._sent()
        g = gateway.stats()
        commands = (await client.get(f"{self.api}/commands", params={"limit": 1000})).json()
        decisions = 0
        for z in demo_farm.ZONES:
            decisions += len((await client.get(f"{self.api}/zones/{z.id}/decisions", params={"limit": 1000})).json())
        states = [c["state"] for c in commands if c["action"] == "open"]
        season = self.season.result if self.season is not None else None
        return {
            "duration_s": round(time.monotonic() - self.started, 1),
            "nodes": len(self.fleet.specs),
            "reports_sent": reports,
            "readings_sent": readings,
            "readings_stored": stats.get("readings_stored", 0),
            "readings_lost": max(0, readings - stats.get("readings_stored", 0)),
            "gateway_quarantined": g["quarantined"],
            "gateway_duplicates": g["duplicates"] + int(season.extra.get("gateway_duplicates", 0) if season else 0),
            "commands_sent": sum(1 for s in states if s not in ("created", "expired", "cancelled")),
            "commands_acked": sum(1 for s in states if s not in ("created", "sent", "expired", "cancelled")),
            "commands_completed": sum(1 for s in states if s == "completed"),
            "irrigation_mm": round(sum(z.irrigated_mm for z in self.farm.zones.values()), 2),
            "decisions": decisions,
            "simulated_days": season.simulated_days if season else 0.0,
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
    for noisy in ("httpx", "alembic"):  # alembic logs each migration and plugin at INFO
        logging.getLogger(noisy).setLevel(logging.WARNING)
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
    if summary is None:
        print("furrow demo: stopped while simulating the season", file=sys.stderr)
        return 130
    print(json.dumps(summary), flush=True)
    return 0
