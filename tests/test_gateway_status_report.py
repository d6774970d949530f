"""Gateways' status reports feed the cloud's bus health: the real gateway polling an emulated RS-485 bus
of firmware slaves (one unit dead) reports its Modbus counters over MQTT or HTTPS, and the real cloud
app shows each port's devices, error rates and poll rate."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator

import aiomqtt
import httpx
import pytest
import uvicorn

from furrow.cloud import create_app
from furrow.cloud._time import now_ms
from furrow.edge import commands
from furrow.edge.topics import gateway_topic
from furrow.gateway.config import ConfigError, load_config
from furrow.gateway.status_report import modbus_counters, status_url
from tests.cloud_support import ADMIN, T0, WAIT, eventually, local_settings, problem, running_app
from tests.gateway_support import SITE, Peer, gateway_config, running_gateway, soil_bus
from tests.servers import free_port

pytestmark = pytest.mark.mosquitto

BAUD = 19_200
POLL_S = 0.25
STATUS_S = 0.4  # a short status interval: a few reports within the bounded waits


def device(node_id: str, port: int, unit: int, **kw) -> dict:
    return {"node_id": node_id, "host": "127.0.0.1", "port": port, "unit": unit, "baud": BAUD,
            "poll_interval": POLL_S, "timeout": 0.3, "retries": 0, **kw}


def dead_device(port: int) -> dict:
    """A unit nobody answers for: every poll times out; set aside after one failure, probed every 1 s."""
    return device("soil-dead", port, 9, timeout=0.1, fail_threshold=1, backoff_max=1)


def clear_retained(mosquitto, topic: str) -> None:
    peer = Peer(mosquitto.host, mosquitto.port)
    peer.publish(topic, b"", retain=True)
    peer.close()


async def bus_page(client: httpx.AsyncClient, gateway: str) -> dict:
    r = await client.get(f"/api/v1/gateways/{SITE}/{gateway}/bus")
    assert r.status_code == 200, r.text
    return r.json()


async def bus_with_rates(client: httpx.AsyncClient, gateway: str, dead_errors: int = 1) -> dict:
    """The bus page once two reports gave rates, every live device has been read (and its role
    learnt) and the dead unit has failed `dead_errors` times."""
    page: dict = {}

    async def ready() -> bool:
        nonlocal page
        page = await bus_page(client, gateway)
        devices = {d["node"]: d for p in page["ports"] for d in p["devices"]}
        return (page["interval_ms"] is not None and "soil-dead" in devices
                and devices["soil-dead"]["errors"] >= dead_errors
                and all(p["polls_per_min"] for p in page["ports"])
                and all(d["last_good_ms"] and d["role"] for n, d in devices.items() if n != "soil-dead"))

    await eventually(ready, f"rates on the bus page of {gateway}", timeout=20)
    return page


async def test_mqtt_status_reports_show_devices_error_rates_and_poll_rate(tmp_path, mosquitto, mqtt_topic_prefix):
    """Over the cloud MQTT link the gateway's reports (retained, still "online") give the bus page both
    live soil nodes without errors, the dead unit with every request failed, and a poll rate; after a
    graceful stop the retained status says "offline"."""
    root = mqtt_topic_prefix
    settings = local_settings(tmp_path / "cloud", mqtt_enabled=True, mqtt_host=mosquitto.host,
                              mqtt_port=mosquitto.port, topic_root=root, mqtt_reconnect_max_s=0.5)
    async with soil_bus(tmp_path, {1: "soil-a", 2: "soil-b"}) as bus, running_app(settings) as client:
        worker = client.app.state.services.worker
        await asyncio.wait_for(worker.ready.wait(), WAIT)
        config = gateway_config(tmp_path, mosquitto.host, mosquitto.port, root, status_interval=STATUS_S,
                                modbus=[device("soil-a", bus.port, 1, role="soil"), device("soil-b", bus.port, 2),
                                        dead_device(bus.port)])
        topic = gateway_topic(SITE, config.gateway_id, "status", root)
        try:
            async with running_gateway(config) as gw:
                page = await bus_with_rates(client, config.gateway_id)
                retained = Peer(mosquitto.host, mosquitto.port)
                retained.subscribe(topic)
                status = commands.decode_status((await retained.get()).payload)
                retained.close()
                assert gw.stats()["status"]["reports"] >= 2
            after = Peer(mosquitto.host, mosquitto.port)
            after.subscribe(topic)
            offline = commands.decode_status((await after.get()).payload)
            after.close()
        finally:
            clear_retained(mosquitto, topic)
    assert status["state"] == "online" and set(status["modbus"]) == {"soil-a", "soil-b", "soil-dead"}
    assert offline["state"] == "offline" and "modbus" not in offline
    [port] = page["ports"]
    assert port["port"] == f"127.0.0.1:{bus.port}" and port["polls_per_min"] > 0
    devices = {d["node"]: d for d in port["devices"]}
    for live in ("soil-a", "soil-b"):
        assert devices[live]["requests"] > 0 and devices[live]["errors"] == 0, devices[live]
        assert devices[live]["role"] == "soil" and devices[live]["last_good_ms"] is not None
    dead = devices["soil-dead"]
    assert dead["error_rate"] == 1.0 and dead["last_good_ms"] is None and dead["last_error"], dead
    # over the newest two reports only: the dead unit is probed at most once a second, so maybe not in them
    assert port["requests"] > 0 and port["error_rate"] is not None and port["error_rate"] < 1


async def test_a_malformed_status_is_counted_and_the_worker_goes_on(tmp_path, mosquitto, mqtt_topic_prefix):
    """Status messages that break the contract (not JSON, a negative counter, another gateway's id) are
    rejected and counted; reports after them still reach the page, and a later plain online or offline
    leaves the reports alone."""
    root = mqtt_topic_prefix
    settings = local_settings(tmp_path, mqtt_enabled=True, mqtt_host=mosquitto.host, mqtt_port=mosquitto.port,
                              topic_root=root, mqtt_reconnect_max_s=0.5)
    counters = {"port": "/dev/ttyUSB0", "unit": 7, "role": "soil", "polls": 10, "requests": 20, "errors": 2}
    async with running_app(settings) as client:
        worker = client.app.state.services.worker
        await asyncio.wait_for(worker.ready.wait(), WAIT)
        topic = gateway_topic(SITE, "gw-1", "status", root)
        bad = {"v": "1.1", "id": "gw-1", "state": "online", "ts_ms": T0, "modbus": {"soil-07": {**counters,
                                                                                             "polls": -1}}}
        async with aiomqtt.Client(mosquitto.host, mosquitto.port) as gw:
            await gw.publish(topic, b"not json", qos=1)
            await gw.publish(topic, json.dumps(bad).encode(), qos=1)
            await gw.publish(topic, commands.encode(commands.make_status("gw-2", "online", T0, modbus={})), qos=1)
            for k in range(2):
                later = {**counters, "polls": 10 + 12 * k, "requests": 20 + 24 * k, "errors": 2 + 6 * k}
                report = commands.make_status("gw-1", "online", T0 + 30_000 * (1 + k), modbus={"soil-07": later})
                await gw.publish(topic, commands.encode(report), qos=1)
            # newer, but without counters (a reconnect, the last will): they leave the reports alone
            for state in ("online", "offline"):
                plain = commands.make_status("gw-1", state, T0 + 90_000)
                await gw.publish(topic, commands.encode(plain), qos=1)
        await eventually(lambda: _handled(worker, 7), "seven status messages handled")
        page = await bus_page(client, "gw-1")
    assert worker.stats["status_rejected"] == 3 and worker.stats["statuses"] == 4
    assert page["interval_ms"] == 30_000
    [port] = page["ports"]
    assert (port["port"], port["error_rate"], port["polls_per_min"]) == ("/dev/ttyUSB0", 0.25, 24.0)


async def _handled(worker, n: int) -> bool:
    return worker.stats["statuses"] + worker.stats["status_rejected"] >= n


@contextlib.asynccontextmanager
async def serving(app) -> AsyncIterator[str]:
    """The app under a real uvicorn on a free port of 127.0.0.1, in this event loop; yields its URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    task = asyncio.create_task(server.serve())
    try:
        await eventually(lambda: _started(server, task), "uvicorn to start", timeout=20)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, WAIT)


async def _started(server: uvicorn.Server, task: asyncio.Task) -> bool:
    if task.done():
        task.result()  # surface why it ended
    return server.started


async def test_https_status_reports_reach_the_bus_page(tmp_path, mosquitto, mqtt_topic_prefix):
    """With forward_via = "https" the reports are POSTed to the status route with the gateway's own
    token: the bus page shows a unit whose converter is off failing, and a poll rate; the MQTT status
    stays the plain online/offline one."""
    gw_id = f"gw-{uuid.uuid4().hex[:8]}"
    app = create_app(local_settings(tmp_path / "cloud"))
    async with serving(app) as url, httpx.AsyncClient(base_url=url, headers=ADMIN, timeout=WAIT) as client:
        r = await client.post("/api/v1/auth/tokens", json={"user": f"{SITE}.{gw_id}", "role": "gateway"})
        assert r.status_code == 201, r.text
        config = gateway_config(tmp_path, mosquitto.host, mosquitto.port, mqtt_topic_prefix, gateway_id=gw_id,
                                status_interval=STATUS_S, forward_via="https",
                                https={"url": f"{url}/api/v1/ingest/batch", "token": r.json()["token"]},
                                modbus=[dead_device(free_port())])
        assert status_url(config) == f"{url}/api/v1/gateways/{SITE}/{gw_id}/status"
        topic = gateway_topic(SITE, gw_id, "status", mqtt_topic_prefix)
        try:
            async with running_gateway(config) as gw:
                page = await bus_with_rates(client, gw_id, dead_errors=2)
                status = gw.stats()["status"]
                probe = Peer(mosquitto.host, mosquitto.port)
                probe.subscribe(topic)
                retained = commands.decode_status((await probe.get()).payload)
                probe.close()
        finally:
            clear_retained(mosquitto, topic)
    assert status["reports"] >= 2 and status["last_error"] is None
    assert retained["state"] == "online" and "modbus" not in retained
    [port] = page["ports"]
    [dead] = port["devices"]
    # nothing listens on its converter's port: polls fail without a request going out
    assert dead["node"] == "soil-dead" and dead["errors"] >= 2 and "cannot connect" in dead["last_error"], dead
    assert port["polls_per_min"] > 0


def test_counters_carry_what_the_bus_page_reads_and_the_contract_checks_them():
    """The poller's health becomes the contract's counters (a long error kept to its last 200
    characters); a bad counter is refused naming the field and the value."""
    health = {"soil-07": {"node_id": "soil-07", "port": "/dev/ttyUSB0", "unit": 7, "polls": 3, "requests": 6,
                          "reports": 3, "errors": 1, "consecutive_failures": 1, "backed_off": False,
                          "backoff_s": 0.0, "last_good_ms": T0, "last_seq": 4, "last_error": "x" * 300,
                          "role": "soil", "reads": [(0, 32)], "queued": 0}}
    counters = modbus_counters(health)["soil-07"]
    assert set(counters) == {"port", "unit", "role", "polls", "requests", "errors", "consecutive_failures",
                             "backed_off", "last_good_ms", "last_error"}
    assert len(counters["last_error"]) == 200
    status = commands.make_status("gw-1", "online", T0, modbus=modbus_counters(health))
    assert commands.decode_status(commands.encode(status)) == status
    with pytest.raises(commands.ContractError) as e:
        commands.make_status("gw-1", "online", T0, modbus={"soil-07": {**counters, "errors": 1.5}})
    assert (e.value.field, e.value.value) == ("modbus.soil-07.errors", 1.5)


def test_status_interval_must_be_a_positive_duration(tmp_path):
    """A zero status_interval in the gateway config is refused naming the field and the value."""
    path = tmp_path / "gw.toml"
    path.write_text(f'site = "farm"\ngateway_id = "gw-1"\nbuffer_path = "{tmp_path / "b.sqlite"}"\n'
                    'status_interval = 0\n[farm_broker]\nhost = "127.0.0.1"\n[cloud_broker]\nhost = "127.0.0.1"\n')
    with pytest.raises(ConfigError, match=r"status_interval=0: Value error, must be a positive duration"):
        load_config(path)


async def test_the_status_route_checks_reports_as_the_mqtt_path_does(tmp_path):
    """POSTed status reports meet the MQTT contract: 257 devices, a bad node id, a unit past 247 or a time
    more than 5 minutes ahead of the cloud are each a 422 naming the field, and leave the book as it was."""
    url = f"/api/v1/gateways/{SITE}/gw-1/status"
    counters = {"port": "rs485-1", "unit": 7, "polls": 1, "requests": 2, "errors": 0}
    async with running_app(local_settings(tmp_path)) as client:
        now = now_ms()
        bad = [({"ts_ms": now, "modbus": {f"n-{i}": counters for i in range(257)}}, "modbus"),
               ({"ts_ms": now, "modbus": {"Bad Id": counters}}, "modbus"),
               ({"ts_ms": now, "modbus": {"soil-07": {**counters, "unit": 300}}}, "modbus.soil-07.unit"),
               ({"ts_ms": now + 3600_000, "modbus": {"soil-07": counters}}, "ts_ms")]
        for body, field in bad:
            r = await client.post(url, json=body)
            assert r.status_code == 422 and problem(r)["field"] == field, r.text
        assert (await bus_page(client, "gw-1"))["reported_ms"] is None
        r = await client.post(url, json={"ts_ms": now, "modbus": {"soil-07": counters}})
        assert r.status_code == 204, r.text
        assert (await bus_page(client, "gw-1"))["reported_ms"] == now
