"""Client ids bound to logins (issue 14 §1), against real Mosquitto brokers running the files
`furrow broker config` writes: no login can open, wipe or knock off another client's session."""

from __future__ import annotations

import asyncio
import json
import queue
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from furrow.cloud.identity import Listener, conf_snippet
from furrow.cloud.mqtt_worker import MqttWorker
from furrow.edge.payload import encode_json
from furrow.edge.topics import gateway_topic, node_topic
from furrow.gateway import Gateway
from furrow.gateway.broker_check import shared_login_warnings
from furrow.gateway.config import GatewayConfig
from furrow.gateway.observe import health
from tests.cloud_support import batch_of, eventually, item, local_settings, running_app, soil_uplink
from tests.gateway_support import WAIT, decode_batch, gateway_config, running_gateway, wait_until
from tests.gateway_support import soil_uplink as gw_soil_uplink
from tests.security_support import BoundMosquitto, Login, broker_config, register_node, register_site
from tests.servers import free_port

pytestmark = pytest.mark.mosquitto

ROOT = "cid"


@dataclass
class Brokers:
    """A farm broker (devices only) and a cloud broker (devices and the service), from one registry."""

    farm: BoundMosquitto
    cloud: BoundMosquitto
    passwords: dict[str, str]
    service: tuple[str, str]

    def farm_login(self, username: str, client_id: str | None = None) -> Login:
        return Login(self.farm.host, self.farm.port, username, self.passwords[username], client_id)

    def cloud_login(self, username: str, client_id: str | None = None) -> Login:
        return Login(self.cloud.host, self.cloud.port, username, self.passwords[username], client_id)

    def gateway(self, tmp_path: Path, gateway: str = "gw1") -> GatewayConfig:
        login = {"keepalive": 5, "timeout": 3, "username": f"s1.{gateway}", "password": self.passwords[f"s1.{gateway}"]}
        return gateway_config(tmp_path, self.farm.host, self.farm.port, ROOT, site="s1", gateway_id=gateway,
                              farm_broker={**login, "host": self.farm.host, "port": self.farm.port},
                              cloud_broker={**login, "host": self.cloud.host, "port": self.cloud.port})


async def _issue(data_dir: Path) -> dict[str, str]:
    passwords: dict[str, str] = {}
    async with running_app(local_settings(data_dir, topic_root=ROOT)) as client:
        await register_site(client, "s1", "z1")
        for node in ("node-a", "node-b"):
            await register_node(client, node, "z1")
            passwords[node] = (await client.post(f"/api/v1/nodes/{node}/credentials")).json()["password"]
        for gw in ("gw1", "gw2"):
            passwords[f"s1.{gw}"] = (await client.post(f"/api/v1/gateways/s1/{gw}/credentials")).json()["password"]
    return passwords


@pytest.fixture(scope="module")
def brokers(tmp_path_factory) -> Iterator[Brokers]:
    tmp = tmp_path_factory.mktemp("clientid")
    passwords = asyncio.run(_issue(tmp))
    cloud_out, farm_out = tmp / "cloud", tmp / "farm"
    listen, service_listen, farm_listen = free_port(), free_port(), free_port()
    broker_config(tmp, cloud_out, ROOT, listen, service_listen)
    service = ("furrow@cloud", (cloud_out / "service.password").read_text().strip())
    broker_config(tmp, farm_out, ROOT, farm_listen, None, cloud_out / "service.password")
    cloud = BoundMosquitto(cloud_out, listen, service_listen, service, service_listen)
    farm = BoundMosquitto(farm_out, farm_listen, None, ("node-a", passwords["node-a"]), farm_listen)
    cloud.start()
    try:
        farm.start()
        try:
            yield Brokers(farm, cloud, passwords, service)
        finally:
            farm.stop()
    finally:
        cloud.stop()


def _connections(broker: BoundMosquitto, username: str) -> int:
    """How many times `username` has connected to `broker` (from its log)."""
    assert broker.log_path is not None
    return broker.log_path.read_text(errors="replace").count(f", u'{username}').")


def _publish_readings(login: Login, seqs: range, node: str = "node-a") -> None:
    for seq in seqs:
        login.publish(node_topic("s1", node, "up", ROOT), encode_json(gw_soil_uplink(node, seq)))


class CloudView:
    """What reaches the cloud broker from one gateway: the service login subscribed to its batches."""

    def __init__(self, brokers: Brokers, gateway: str) -> None:
        assert brokers.cloud.service_port is not None
        self.login = Login(brokers.cloud.host, brokers.cloud.service_port, *brokers.service)
        self.login.subscribe(gateway_topic("s1", gateway, "batch", ROOT))
        self.keys: set[tuple[str, int]] = set()

    async def until(self, key: tuple[str, int]) -> None:
        while key not in self.keys:
            try:
                _, payload = await asyncio.to_thread(self.login.messages.get, True, WAIT)
            except queue.Empty:
                raise AssertionError(f"no batch carried {key}; got {sorted(self.keys)}") from None
            self.keys |= {(i["node"], i["seq"]) for i in decode_batch(payload)["items"]}

    def close(self) -> None:
        self.login.close()


async def test_a_node_login_cannot_wipe_the_gateways_queued_farm_session(brokers, tmp_path):
    """While the gateway is away, node-a's login naming the gateway's farm client id with a clean
    session wipes nothing: all 30 readings the broker acknowledged to the node reach the cloud."""
    config = brokers.gateway(tmp_path)
    async with running_gateway(config) as gw:  # its persistent session and subscriptions exist
        gateway_client_id = gw.source.client_id
    node = brokers.farm_login("node-a")
    _publish_readings(node, range(1, 31))  # acknowledged to the node, queued for the gateway
    node.close()
    thief = brokers.farm_login("node-a", client_id=gateway_client_id)
    assert thief.accepted
    thief.close()
    cloud = CloudView(brokers, "gw1")
    try:
        async with running_gateway(config) as gw:
            node = brokers.farm_login("node-a")
            _publish_readings(node, range(31, 32))  # delivered after whatever the session still queues
            node.close()
            await cloud.until(("node-a", 31))
            assert gw.stats()["received"] == 31
            await cloud.until(("node-a", 1))
    finally:
        cloud.close()


async def test_a_node_login_cannot_knock_the_live_gateway_off(brokers, tmp_path):
    """node-a's login connecting again and again with the live gateway's farm client id never
    disconnects the gateway, and every reading node-b publishes meanwhile reaches the cloud."""
    config = brokers.gateway(tmp_path, "gw2")
    cloud = CloudView(brokers, "gw2")
    try:
        async with running_gateway(config) as gw:
            connections = _connections(brokers.farm, "s1.gw2")
            node = brokers.farm_login("node-b")
            for attempt in range(4):
                thief = brokers.farm_login("node-a", client_id=gw.source.client_id)
                _publish_readings(node, range(attempt * 6 + 1, attempt * 6 + 7), "node-b")
                thief.close()
            node.close()
            await cloud.until(("node-b", 24))
            assert gw.stats()["received"] == 24
            assert gw.source.connected and _connections(brokers.farm, "s1.gw2") == connections
    finally:
        cloud.close()


async def test_a_gateway_login_cannot_wipe_the_cloud_workers_queued_batches(brokers, tmp_path):
    """While the cloud is down, gateway s1.gw2's login naming the cloud worker's client id with a
    clean session wipes nothing: the 10 batches s1.gw1 published meanwhile are all stored."""
    password_file = tmp_path / "mqtt.password"
    password_file.write_text(brokers.service[1] + "\n")
    settings = local_settings(tmp_path, mqtt_enabled=True, mqtt_host=brokers.cloud.host,
                              mqtt_port=brokers.cloud.service_port, topic_root=ROOT, mqtt_username=brokers.service[0],
                              mqtt_password_file=password_file, mqtt_client_id="furrow-cloud-1")
    gw1 = brokers.cloud_login("s1.gw1")

    def publish(seq: int) -> None:
        batch = batch_of([item(soil_uplink("soil-31", seq=seq, ts_ms=1_767_225_600_000 + seq * 60_000))],
                         site="s1", gateway="gw1", batch_id=f"gw1-{seq}")
        gw1.publish(gateway_topic("s1", "gw1", "batch", ROOT), json.dumps(batch).encode())

    try:
        async with running_app(settings) as client:  # the worker's persistent session exists
            worker = client.app.state.services.worker
            await wait_until(lambda: worker.connected, "the cloud worker to subscribe")
        for seq in range(1, 11):  # the cloud is down: queued for the worker
            publish(seq)
        thief = brokers.cloud_login("s1.gw2", client_id="furrow-cloud-1")
        assert thief.accepted
        thief.close()
        async with running_app(settings) as client:
            worker = client.app.state.services.worker
            await wait_until(lambda: worker.connected, "the cloud worker to subscribe again")
            publish(11)  # delivered after whatever the session still queues

            async def stored() -> set[int]:
                r = await client.get("/api/v1/readings", params={"node": "soil-31", "start": "0"})
                return {x["seq"] for x in r.json()}

            await eventually(lambda: _contains(stored, 11), "the last batch to be stored")
            assert await stored() == set(range(1, 12))
    finally:
        gw1.close()


async def _contains(values: Callable[[], Awaitable[set[int]]], value: int) -> bool:
    return value in await values()


def test_each_listener_takes_only_its_own_logins(brokers):
    """A device login is refused on the service listener, and the service login on the devices' one."""
    device_on_service = Login(brokers.cloud.host, brokers.cloud.service_port, "s1.gw2", brokers.passwords["s1.gw2"],
                              client_id="furrow-cloud-1")
    service_on_devices = Login(brokers.cloud.host, brokers.cloud.port, *brokers.service)
    try:
        assert not device_on_service.accepted and not service_on_devices.accepted
    finally:
        device_on_service.close()
        service_on_devices.close()


async def test_cloud_workers_sharing_the_service_login_split_batches_and_stay_connected(brokers):
    """Two ingest workers on the one service login, each with its own client id and a $share
    subscription, both stay connected (one session each) and every batch reaches one of them."""
    got: dict[str, list[bytes]] = {"w1": [], "w2": []}

    def worker(name: str) -> MqttWorker:
        async def on_batch(site: str, gateway: str, payload: bytes) -> None:
            got[name].append(payload)

        async def on_ack(site: str, gateway: str, payload: bytes) -> None:
            return None

        return MqttWorker(host=brokers.cloud.host, port=brokers.cloud.service_port, root=ROOT, on_batch=on_batch,
                          on_ack=on_ack, shared_group="ingest", client_id=f"furrow-cloud-{name}",
                          username=brokers.service[0], password=brokers.service[1], reconnect_max_s=1)

    workers = [worker("w1"), worker("w2")]
    for w in workers:
        w.start()
    gw1 = brokers.cloud_login("s1.gw1")
    try:
        for w in workers:
            await wait_until(lambda w=w: w.connected, "both workers to subscribe")
        for n in range(20):
            gw1.publish(gateway_topic("s1", "gw1", "batch", ROOT), f"batch {n}".encode())
        await wait_until(lambda: len(got["w1"]) + len(got["w2"]) >= 20, "20 batches to be handled")
        assert sorted(got["w1"] + got["w2"]) == sorted(f"batch {n}".encode() for n in range(20))
        assert got["w1"] and got["w2"]
        assert [w.stats["connects"] for w in workers] == [1, 1]
    finally:
        gw1.close()
        for w in workers:
            await w.stop()


def test_a_listener_is_read_from_port_or_host_and_port():
    """`--listen` and `--service-listen` take PORT, HOST:PORT or [IPv6]:PORT; anything else is refused by name."""
    assert Listener.parse("1883") == Listener(1883)
    assert Listener.parse("127.0.0.1:1884") == Listener(1884, "127.0.0.1")
    assert Listener.parse("[::1]:1884") == Listener(1884, "::1")
    for bad in ("broker", "127.0.0.1:", "0", "70000"):
        with pytest.raises(ValueError, match="listener"):
            Listener.parse(bad)


def test_only_the_devices_listener_binds_client_ids():
    """The generated conf binds client ids on the devices' listener (with its TLS) and not on the service's."""
    conf = conf_snippet(Listener(8883, None, "/tls/server.crt", "/tls/server.key", "/tls/ca.crt"), "/f/furrow.passwd",
                        "/f/furrow.acl", Listener(1884, "127.0.0.1"), "/f/service.passwd", "/f/service.acl")
    devices, service = conf.split("\nlistener ")[1:]
    assert devices.splitlines()[:6] == ["8883", "certfile /tls/server.crt", "keyfile /tls/server.key",
                                        "cafile /tls/ca.crt", "require_certificate true",
                                        "use_username_as_clientid true"]
    assert "password_file /f/furrow.passwd" in devices and "use_username_as_clientid" not in service
    assert service.startswith("1884 127.0.0.1\n") and "password_file /f/service.passwd" in service


def test_the_gateway_warns_when_both_links_share_one_broker_and_login(tmp_path):
    """Farm and cloud links on one broker with one login are warned about at start and in /health;
    two brokers, or no login, are not."""
    login = {"host": "127.0.0.1", "port": 1883, "username": "s1.gw1", "password": "pw"}
    shared = gateway_config(tmp_path, "127.0.0.1", 1883, ROOT, farm_broker=login, cloud_broker=login)
    with Gateway(shared) as gw:
        assert len(gw.warnings) == 1 and "'s1.gw1'" in gw.warnings[0]
        assert health(gw.stats(), 0)[1]["warnings"] == gw.warnings
    two = gateway_config(tmp_path, "127.0.0.1", 1883, ROOT, farm_broker=login,
                         cloud_broker={**login, "host": "cloud.example"})
    anonymous = gateway_config(tmp_path, "127.0.0.1", 1883, ROOT)
    assert shared_login_warnings(two) == shared_login_warnings(anonymous) == []
