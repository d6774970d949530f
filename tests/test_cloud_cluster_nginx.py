"""Three cloud instances behind a real nginx act as one, and one of them is killed mid-run.

Real PostgreSQL (shared relational data, LISTEN/NOTIFY, job leases), Mosquitto (one shared
ingest subscription), InfluxDB, nginx (round robin), a real gateway forwarding real node
reports, and each instance its own `furrow cloud run` process. The instance holding the job
leases is killed with SIGKILL halfway through, and later comes back under the same MQTT client
id, as a supervisor would restart it (the broker keeps its share of batches in its session
meanwhile: docs/cloud.md, "Several instances"). Checked:

- every reading is stored, exactly once;
- each background job (expiry, alerts, planner) is held and run by exactly one live instance,
  before the kill and after the takeover;
- every dashboard's live stream, on each surviving instance and through nginx, showed every
  node's newest report, whichever instance ingested it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from datetime import timedelta

import paho.mqtt.client as mqtt
import pytest

from furrow.edge import payload, topics
from furrow.gateway.app import Gateway
from furrow.gateway.config import BrokerConfig, GatewayConfig
from tests.cloud_support import ADMIN_TOKEN, SECRET_KEY, T0, eventually, soil_uplink
from tests.cluster_support import CloudProcess, LiveView
from tests.servers import NginxServer

pytestmark = [pytest.mark.postgres, pytest.mark.mosquitto, pytest.mark.influxdb]

SITE, GW = "farm", "gw-1"
NODES, REPORTS = 6, 40  # per node: 240 reports, 480 readings
JOBS = ("expiry", "alerts", "planner")
SLOW = 120.0  # bounded waits: three service processes and their servers on a loaded 2-core machine


def publish(host: str, port: int, root: str, seqs: range) -> None:
    """Every node's reports with these seqs, QoS 1, each acknowledged by the broker."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"nodes-{time.time_ns()}")
    client.connect(host, port)
    client.loop_start()
    infos = [client.publish(topics.node_topic(SITE, f"soil-{n}", "up", root),
                            payload.encode_json(soil_uplink(f"soil-{n}", seq, T0 + seq * 60_000, 20 + seq / 10)),
                            qos=1)
             for seq in seqs for n in range(NODES)]
    for info in infos:
        info.wait_for_publish(30)
    client.loop_stop()
    client.disconnect()


def stored(influxdb, db: str) -> int:
    result = influxdb.query(db, 'SELECT count("seq") FROM "vwc_pct", "soil_temp_c"')["results"][0]
    return sum(s["values"][0][1] for s in result.get("series", []))


def holders(instances: list[CloudProcess]) -> dict[str, list[int]]:
    """job -> the live instances (by index) that hold its lease."""
    out: dict[str, list[int]] = {job: [] for job in JOBS}
    for i, inst in enumerate(instances):
        health = inst.health() if inst.running else None
        for job in JOBS:
            if health and health["jobs"].get(job, {}).get("held"):
                out[job].append(i)
    return out


def runs(instance: CloudProcess) -> dict[str, int]:
    health = instance.health() or {"jobs": {}}
    return {job: health["jobs"].get(job, {}).get("runs", 0) for job in JOBS}


@pytest.mark.full
async def test_three_instances_behind_nginx_lose_nothing_run_each_job_once_and_show_everything(
        postgres, pg_database, mosquitto, influxdb, influx_db, mqtt_topic_prefix, tmp_path):
    """One instance killed mid-run: readings all stored once, jobs on one instance, live views complete."""
    root = mqtt_topic_prefix
    env = {"FURROW_STORAGE": "influxdb1", "FURROW_INFLUX_URL": influxdb.url, "FURROW_INFLUX_DATABASE": influx_db,
           "FURROW_DATABASE_URL": pg_database, "FURROW_MQTT_HOST": mosquitto.host,
           "FURROW_MQTT_PORT": str(mosquitto.port), "FURROW_TOPIC_ROOT": root, "FURROW_INGEST_SHARED_GROUP": "ingest",
           "FURROW_SECRET_KEY": SECRET_KEY, "FURROW_BOOTSTRAP_ADMIN_TOKEN": ADMIN_TOKEN,
           "FURROW_COMMAND_EXPIRY_INTERVAL_S": "0.5", "FURROW_ALERTS_INTERVAL_S": "1",
           "FURROW_PLANNING_INTERVAL_S": "1"}
    instances = [CloudProcess({**env, "FURROW_MQTT_CLIENT_ID": f"cloud-{i}",
                               "FURROW_DATA_DIR": str(tmp_path / f"i{i}")}, startup_timeout=SLOW) for i in range(3)]
    nginx: NginxServer | None = None
    views: list[LiveView] = []
    stop = asyncio.Event()
    gw_task = None
    try:
        instances[0].start()  # migrates the empty database, and takes every job lease first
        await eventually(lambda: _async(lambda: holders(instances) == {j: [0] for j in JOBS}),
                         "the first instance holding every job", SLOW)
        instances[1].start()
        instances[2].start()
        nginx = NginxServer([(i.host, i.port) for i in instances])
        nginx.start()
        nodes = [f"soil-{n}" for n in range(NODES)]
        views = [LiveView(inst.url, nodes) for inst in instances] + [LiveView(nginx.url, nodes)]
        for view in views:
            view.start()
        await eventually(lambda: _async(lambda: all(v.subscribed for v in views)), "every live view open", SLOW)

        broker = BrokerConfig(host=mosquitto.host, port=mosquitto.port)
        gateway = Gateway(GatewayConfig(site=SITE, gateway_id=GW, topic_root=root, farm_broker=broker,
                                        cloud_broker=broker, buffer_path=tmp_path / "gw.db", forward_batch_size=12,
                                        forward_interval=timedelta(seconds=0.05), http_port=0))
        gw_task = asyncio.create_task(gateway.run(stop))
        await asyncio.sleep(1.0)  # the gateway subscribes
        expected = NODES * REPORTS * 2

        await asyncio.to_thread(publish, mosquitto.host, mosquitto.port, root, range(REPORTS // 2))
        await eventually(lambda: _async(lambda: stored(influxdb, influx_db) > 0), "a first batch stored", SLOW)
        assert holders(instances) == {j: [0] for j in JOBS}
        os.kill(instances[0].pid, signal.SIGKILL)  # mid-run, holding every lease and maybe a batch

        await asyncio.to_thread(publish, mosquitto.host, mosquitto.port, root, range(REPORTS // 2, REPORTS))
        await eventually(lambda: _async(lambda: all(len(h) == 1 for h in holders(instances).values())),
                         "every job taken over by one surviving instance", SLOW)
        taken = holders(instances)
        assert all(h[0] in (1, 2) for h in taken.values()), taken
        survivors = {i: runs(instances[i]) for i in (1, 2)}
        for job, (holder,) in taken.items():
            other = 3 - holder
            assert survivors[other][job] == 0, f"{job} ran on instance {other}, which never held it"

        instances[0].start()  # its supervisor restarts it: its session hands it the batches it was given
        await eventually(lambda: _async(lambda: stored(influxdb, influx_db) >= expected),
                         "every reading stored", SLOW)
        assert stored(influxdb, influx_db) == expected  # and none twice
        after = holders(instances)
        assert after == taken, after  # the restarted instance took no lease from the holders

        final = {f"soil-{n}": REPORTS - 1 for n in range(NODES)}
        shown = [views[1], views[2], views[3]]  # the survivors' own streams, and nginx's
        await eventually(lambda: _async(lambda: all(v.newest == final for v in shown)),
                         "every live view showing every node's newest report", SLOW)
    finally:
        stop.set()
        if gw_task is not None:
            await gw_task
        for view in views:
            await view.stop()
        for server in [*instances, nginx]:
            if server is not None:
                server.stop()


async def _async(check) -> bool:
    return await asyncio.to_thread(check)
