"""The thin end-to-end path on real servers: an emulated node running the
firmware core reports through a real Mosquitto to the gateway, which buffers
and forwards to the cloud, which stores in a real InfluxDB; and a command
created in the cloud reaches an emulated irrigation node and its
acknowledgements come back."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import uvicorn

from furrow.cloud.app import create_app
from furrow.cloud.settings import Settings
from furrow.gateway.app import Gateway
from furrow.gateway.config import BrokerConfig, GatewayConfig, ModbusDeviceConfig
from furrow.hil import nodes
from furrow.hil.modbus_bus import ModbusBus
from furrow.hil.mqtt_node import MqttNodeRunner
from furrow.hil.virtual_farm import VirtualFarm, VirtualZone
from tests.cloud_support import ADMIN, ADMIN_TOKEN, SECRET_KEY
from tests.servers import free_port

pytestmark = [pytest.mark.mosquitto, pytest.mark.influxdb]

SITE = "farm-e2e"
GW = "gw-e2e"


async def _until(predicate, timeout_s: float = 30.0, what: str = "condition"):
    """Poll a predicate (plain or async) until it returns a truthy value (bounded)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")


@contextlib.asynccontextmanager
async def cloud_service(settings: Settings) -> AsyncIterator[str]:
    """The real cloud app served by uvicorn on a free port; yields the API base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]  # Ctrl-C stays ours
    task = asyncio.create_task(server.serve())
    base = f"http://127.0.0.1:{port}/api/v1"
    async with httpx.AsyncClient(timeout=5, headers=ADMIN) as client:
        async def healthy():
            with contextlib.suppress(httpx.HTTPError):
                r = await client.get(f"{base}/health")
                return r.status_code == 200 and r.json()["mqtt"] == "connected"
            return False

        await _until(healthy, what="the cloud service to be healthy")
    try:
        yield base
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)


@contextlib.asynccontextmanager
async def running(coro_fn, *args) -> AsyncIterator[asyncio.Event]:
    """Run `coro_fn(*args, stop)` as a task until the block ends."""
    stop = asyncio.Event()
    task = asyncio.create_task(coro_fn(*args, stop))
    try:
        yield stop
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)


def _settings(tmp_path: Path, mosquitto, influxdb, influx_db: str, root: str) -> Settings:
    return Settings(storage="influxdb1", influx_url=influxdb.url, influx_database=influx_db,
                    secret_key=SECRET_KEY, bootstrap_admin_token=ADMIN_TOKEN,
                    data_dir=tmp_path / "cloud", mqtt_host=mosquitto.host, mqtt_port=mosquitto.port,
                    topic_root=root)


def _gateway(tmp_path: Path, mosquitto, root: str, modbus: list[ModbusDeviceConfig] | None = None) -> Gateway:
    broker = BrokerConfig(host=mosquitto.host, port=mosquitto.port)
    return Gateway(GatewayConfig(site=SITE, gateway_id=GW, topic_root=root, farm_broker=broker, cloud_broker=broker,
                                 buffer_path=tmp_path / "gateway.db", forward_interval=timedelta(seconds=0.2),
                                 modbus=modbus or [], http_port=0))


def _influx_rows(influxdb, db: str, measurement: str, node: str) -> list[dict]:
    result = influxdb.query(db, f"SELECT * FROM \"{measurement}\" WHERE \"node\" = '{node}'")
    series = result["results"][0].get("series", [])
    rows = []
    for s in series:
        for values in s["values"]:
            rows.append(dict(zip(s["columns"], values, strict=True)))
    return rows


async def test_mqtt_soil_node_readings_reach_real_influxdb(tmp_path, mosquitto, influxdb, influx_db,
                                                          mqtt_topic_prefix):
    """Every report an emulated MQTT soil node sends is read back from InfluxDB
    (by InfluxQL on the server) and from the cloud API, once each."""
    root = mqtt_topic_prefix
    farm = VirtualFarm([VirtualZone("z1")])
    core = nodes.soil_node(farm, "soil-e2e", "z1", [10, 30], tmp_path / "flash", 1000, time.time)
    runner = MqttNodeRunner(core, SITE, mosquitto.host, mosquitto.port, root=root, encoding="binary", tick_s=0.05)
    gateway = _gateway(tmp_path, mosquitto, root)
    async with cloud_service(_settings(tmp_path, mosquitto, influxdb, influx_db, root)) as api, \
            running(gateway.run), httpx.AsyncClient(timeout=5, headers=ADMIN) as client:
        async with running(runner.run):
            await _until(lambda: runner.reports_sent >= 3, what="5 reports from the node")
        sent_seqs = set(range(runner.reports_sent))

        async def stored_seqs():
            rows = _influx_rows(influxdb, influx_db, "vwc_pct", "soil-e2e")
            return {r["seq"] for r in rows} if len(rows) >= 2 * len(sent_seqs) else None

        seqs = await _until(stored_seqs, what="every report in InfluxDB")
        rows = _influx_rows(influxdb, influx_db, "vwc_pct", "soil-e2e")
        r = await client.get(f"{api}/readings", params={"node": "soil-e2e", "measurement": "vwc_pct",
                                                        "start": 0, "limit": 1000})
        api_rows = r.json()
    assert seqs == sent_seqs
    assert len(rows) == 2 * len(sent_seqs)  # two depths per report, each stored once
    assert {row["depth_cm"] for row in rows} == {"10", "30"}
    assert all(0 < row["value"] < 100 for row in rows)
    assert r.status_code == 200 and len(api_rows) == len(rows)
    assert {(a["seq"], a["depth_cm"]) for a in api_rows} == {(row["seq"], int(row["depth_cm"])) for row in rows}


async def test_modbus_soil_node_readings_reach_real_influxdb(tmp_path, mosquitto, influxdb, influx_db,
                                                            mqtt_topic_prefix):
    """A soil node on the emulated RS-485 bus is polled by the gateway's real
    Modbus master and its reports land in InfluxDB with their node seq."""
    root = mqtt_topic_prefix
    farm = VirtualFarm([VirtualZone("z1")])
    bus = ModbusBus(port=free_port(), baud=115_200, tick_s=0.05)
    bus.add(nodes.soil_node(farm, "soil-mb", "z1", [10, 30, 60], tmp_path / "flash", 1000, time.time), 7)
    await bus.start()
    device = ModbusDeviceConfig(node_id="soil-mb", host="127.0.0.1", port=bus.port, unit=7,
                                poll_interval=timedelta(seconds=0.2))
    gateway = _gateway(tmp_path, mosquitto, root, [device])
    try:
        async with cloud_service(_settings(tmp_path, mosquitto, influxdb, influx_db, root)), running(gateway.run):
            # A Modbus report lives in the registers until the next one replaces
            # it, so the node starts reporting once the master is polling.
            await _until(lambda: gateway.stats()["modbus"]["soil-mb"]["polls"] > 0, what="the first poll")
            async with running(bus.run):
                await _until(lambda: bus.nodes[0].reports_made >= 4, what="4 Modbus reports")

            async def stored():
                rows = _influx_rows(influxdb, influx_db, "soil_temp_c", "soil-mb")
                return rows if len({r["seq"] for r in rows}) >= bus.nodes[0].reports_made else None

            rows = await _until(stored, what="every Modbus report in InfluxDB")
    finally:
        await bus.close()
    assert {r["seq"] for r in rows} == set(range(bus.nodes[0].reports_made))
    assert len(rows) == 3 * bus.nodes[0].reports_made
    assert {r["gateway"] for r in rows} == {GW}


async def test_command_reaches_irrigation_node_and_acks_come_back(tmp_path, mosquitto, influxdb, influx_db,
                                                                 mqtt_topic_prefix):
    """A command created through the cloud API is relayed by the gateway to an
    emulated irrigation node, which opens the valve for the duration and
    closes it; the cloud sees received, started and completed."""
    root = mqtt_topic_prefix
    farm = VirtualFarm([VirtualZone("z1")])
    core, meter = nodes.irrigation_node(farm, "irr-e2e", ["z1"], tmp_path / "flash", 1000)

    def advance(now_ms: int) -> None:
        farm.advance(now_ms / 1000)
        meter.advance(now_ms / 1000)

    runner = MqttNodeRunner(core, SITE, mosquitto.host, mosquitto.port, root=root, tick_s=0.05, on_tick=advance)
    gateway = _gateway(tmp_path, mosquitto, root)
    async with cloud_service(_settings(tmp_path, mosquitto, influxdb, influx_db, root)) as api, \
            running(gateway.run), running(runner.run), httpx.AsyncClient(timeout=5, headers=ADMIN) as client:
        # the cloud routes commands through the gateway a node last reported through
        async def routed():
            r = await client.get(f"{api}/nodes")
            return any(n["node"] == "irr-e2e" for n in r.json())

        await _until(routed, what="irr-e2e to be routable")
        r = await client.post(f"{api}/commands", json={"node": "irr-e2e", "valve": 1, "action": "open",
                                                       "duration_s": 1})
        assert r.status_code == 201, r.text
        cmd_id = r.json()["id"]

        async def completed():
            c = (await client.get(f"{api}/commands/{cmd_id}")).json()
            return c if c["state"] == "completed" else None

        command = await _until(completed, what="the command to complete")
    states = [e["state"] for e in command["events"]]
    assert states.index("received") < states.index("started") < states.index("completed")
    assert command["runtime_s"] >= 1
    assert core.valve_states() == [False]
    assert farm.zones["z1"].irrigated_mm > 0
