"""The command lifecycle end to end on real Mosquitto, InfluxDB and PostgreSQL, with the real
gateway and an emulated irrigation node running the firmware core: millimetres to minutes through
the registry, idempotent resends, cancellation and expiry; and migrations on PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from datetime import timedelta

import pytest
from sqlalchemy import create_engine, inspect

from furrow.cloud.migrations import current, head, upgrade
from furrow.gateway.app import Gateway
from furrow.gateway.config import BrokerConfig, GatewayConfig
from furrow.hil import nodes
from furrow.hil.mqtt_node import MqttNodeRunner, wall_clock_ms
from furrow.hil.virtual_farm import VirtualFarm, VirtualZone
from tests.cloud_support import eventually, local_settings, running_app

pytestmark = [pytest.mark.mosquitto, pytest.mark.influxdb, pytest.mark.postgres]

SITE, GW, NODE = "farm-lc", "gw-lc", "irr-lc"
LONG = 30.0  # seconds: bound for waits that span the gateway and the node
IN_CANCEL = ("cancelling", "cancelled")  # a cancel's answer: sent to the controller, or already ended by it


@contextlib.asynccontextmanager
async def running(coro_fn):
    stop = asyncio.Event()
    task = asyncio.create_task(coro_fn(stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)


async def _register(client) -> None:
    for path, body in [
        ("sites", {"id": SITE, "name": "Lifecycle farm"}),
        ("fields", {"id": "f1", "site_id": SITE, "name": "Field 1"}),
        ("zones", {"id": "z1", "field_id": "f1", "name": "Zone 1", "area_ha": 2.0, "soil_texture": "loam",
                   "field_capacity_pct": 31.0, "wilting_point_pct": 14.0, "root_depth_cm": 60, "crop": "maize",
                   "planting_date": "2026-04-20", "precip_rate_mm_h": 180.0}),
        ("nodes", {"id": NODE, "role": "irrigation", "zone_id": "z1", "firmware": "0.1.0"}),
        ("valves", {"node_id": NODE, "channel": 1, "zone_id": "z1"}),
    ]:
        r = await client.post(f"/api/v1/registry/{path}", json=body)
        assert r.status_code == 201, r.text


async def _state(client, cmd_id: str, *states: str) -> dict | None:
    c = (await client.get(f"/api/v1/commands/{cmd_id}")).json()
    return c if c["state"] in states else None


async def test_command_lifecycle_with_cancel_and_expiry_end_to_end(
    tmp_path, mosquitto, influxdb, influx_db, pg_database, mqtt_topic_prefix
):
    """mm become seconds via the zone's rate; a resend with the same key waters once; a cancel stops a
    running valve and drops a held command before its valve ever opens (the node's "cancelled" ends each);
    a command whose expiry passes while the gateway is away expires and never runs."""
    root = mqtt_topic_prefix
    farm = VirtualFarm([VirtualZone("z1")])
    core, meter = nodes.irrigation_node(farm, NODE, ["z1"], tmp_path / "flash", 1000)

    def advance(now_ms: int) -> None:
        farm.advance(now_ms / 1000)
        meter.advance(now_ms / 1000)

    runner = MqttNodeRunner(core, SITE, mosquitto.host, mosquitto.port, root=root, tick_s=0.05, on_tick=advance)
    broker = BrokerConfig(host=mosquitto.host, port=mosquitto.port)
    gateway = Gateway(GatewayConfig(site=SITE, gateway_id=GW, topic_root=root, farm_broker=broker,
                                    cloud_broker=broker, buffer_path=tmp_path / "gw.db",
                                    forward_interval=timedelta(seconds=0.2), http_port=0))
    settings = local_settings(tmp_path / "cloud", storage="influxdb1", influx_url=influxdb.url,
                              influx_database=influx_db, database_url=pg_database, mqtt_enabled=True,
                              mqtt_host=mosquitto.host, mqtt_port=mosquitto.port, topic_root=root,
                              mqtt_reconnect_max_s=0.5, command_expiry_interval_s=0.2)
    async with running_app(settings) as client, running(runner.run):
        await _register(client)
        async with running(gateway.run):
            async def routed() -> bool:
                return any(n["node"] == NODE for n in (await client.get("/api/v1/nodes")).json())

            await eventually(routed, "the node to report through the gateway", LONG)

            # 1. 0.1 mm at 180 mm/h is 2 s; the same idempotency key again is the same command
            body = {"zone": "z1", "amount_mm": 0.1, "reason": "refill", "idempotency_key": "plan-z1-1"}
            first = await client.post("/api/v1/commands", json=body)
            assert first.status_code == 201, first.text
            again = await client.post("/api/v1/commands", json=body)
            assert (again.status_code, again.json()["id"]) == (200, first.json()["id"])
            cmd = first.json()
            assert (cmd["node"], cmd["valve"], cmd["zone"], cmd["duration_s"]) == (NODE, 1, "z1", 2)
            assert cmd["origin"] == "person:bootstrap-admin" and cmd["request_reason"] == "refill"
            done = await _wait(client, cmd["id"], "completed")
            # "sent" is recorded after the publish, so a fast "received" may come before it in the history
            events = [e["state"] for e in done["events"]]
            assert sorted(events) == sorted(["created", "sent", "received", "started", "completed"])
            assert events.index("received") < events.index("started") < events.index("completed")
            assert len((await client.get("/api/v1/commands")).json()) == 1  # the retry made none

            # 2. cancel a running command: the cloud sends the contract's cancel through the gateway; the
            #    controller closes the valve and answers "cancelled", which ends the command
            r = await client.post("/api/v1/commands", json={"node": NODE, "valve": 1, "duration_s": 600})
            long_id = r.json()["id"]
            await _wait(client, long_id, "started")
            assert core.valve_states() == [True]
            r = await client.post(f"/api/v1/commands/{long_id}/cancel", json={"reason": "rain coming"})
            # the answer is the command as it stands: the controller's "cancelled" may already be in
            assert r.status_code == 200 and r.json()["state"] in IN_CANCEL
            assert "rain coming" in r.json()["reason"]
            await eventually(lambda: _async(core.valve_states() == [False]), "the valve to close", LONG)
            cancelled = await _wait(client, long_id, "cancelled")
            assert [e["state"] for e in cancelled["events"]][-2:] == ["cancelling", "cancelled"]
            assert cancelled["runtime_s"] is not None and cancelled["runtime_s"] < 600  # what it ran, per the node
            r = await client.post(f"/api/v1/commands/{long_id}/cancel")
            assert r.status_code == 409

            # 2b. cancel a command the controller holds until its not-before: it drops it, the valve never opens
            at_ms = wall_clock_ms() + 4000  # the node runs on the wall clock
            r = await client.post("/api/v1/commands", json={"node": NODE, "valve": 1, "duration_s": 60, "ttl_s": 600,
                                                             "not_before": str(at_ms)})
            held_id = r.json()["id"]
            await _wait(client, held_id, "received")
            r = await client.post(f"/api/v1/commands/{held_id}/cancel", json={"reason": "not tonight"})
            assert r.status_code == 200 and r.json()["state"] in IN_CANCEL
            held = await _wait(client, held_id, "cancelled")
            await eventually(lambda: _async(wall_clock_ms() > at_ms + 2000), "the not-before to pass", LONG)
            assert core.valve_states() == [False]
            assert "started" not in [e["state"] for e in held["events"]]
            assert [e["state"] for e in held["events"]][-2:] == ["cancelling", "cancelled"]
            assert [c for c in (await client.get("/api/v1/commands")).json() if c["action"] == "close"] == []

        # 3. the gateway is away: a command expires before it can start, and never runs late
        commands_seen = core.stats["commands"]
        r = await client.post("/api/v1/commands", json={"node": NODE, "valve": 1, "duration_s": 60, "ttl_s": 1})
        late_id = r.json()["id"]
        expired = await _wait(client, late_id, "expired")
        assert expired["reason"] == "expired before it started"
        async with running(gateway.run):
            await asyncio.sleep(1.0)  # time for anything queued to arrive
        assert core.valve_states() == [False]
        final = (await client.get(f"/api/v1/commands/{late_id}")).json()
        assert final["state"] == "expired"
        assert "started" not in [e["state"] for e in final["events"]]
        assert core.stats["commands"] - commands_seen <= 1  # at most delivered, then refused
        counts = (await client.get("/api/v1/stats")).json()["commands"]
        assert counts == {"completed": 1, "cancelled": 2, "expired": 1}


async def _async(value):
    return value


async def _wait(client, cmd_id: str, state: str, event: str | None = None) -> dict:
    async def check():
        c = (await client.get(f"/api/v1/commands/{cmd_id}")).json()
        if c["state"] != state:
            return False
        return event is None or event in [e["state"] for e in c["events"]]

    await eventually(check, f"command {cmd_id} to be {state}" + (f" with a {event} event" if event else ""), LONG)
    return (await client.get(f"/api/v1/commands/{cmd_id}")).json()


def test_migrations_run_once_when_two_instances_start_together(pg_database):
    """Two instances migrating one PostgreSQL at the same moment both end at head, tables made once."""
    engines = [create_engine(pg_database) for _ in range(2)]
    errors: list[BaseException] = []

    def migrate(engine) -> None:
        try:
            upgrade(engine)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=migrate, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert current(engines[0]) == head()
    tables = set(inspect(engines[0]).get_table_names())
    assert {"commands", "command_events", "users", "api_tokens", "sites", "fields", "zones", "nodes",
            "valves", "node_routes", "alembic_version"} <= tables
    for e in engines:
        e.dispose()
