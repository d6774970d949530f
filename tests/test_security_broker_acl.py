"""Broker configuration from the registry, against a real Mosquitto that runs the files
`furrow broker config` writes: each node and gateway is held to its own topics."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from furrow.cloud.identity import hash_password
from furrow.edge import commands
from furrow.edge.payload import encode_json
from furrow.edge.topics import gateway_topic, node_topic
from tests.cloud_support import WAIT, batch_of, eventually, item, local_settings, running_app, soil_uplink
from tests.gateway_support import decode_batch, gateway_config, running_gateway
from tests.gateway_support import soil_uplink as gw_soil_uplink
from tests.security_support import BoundMosquitto, Login, broker_config, register_node, register_site
from tests.servers import free_port

pytestmark = pytest.mark.mosquitto

ROOT = "sec"


@dataclass
class Farm:
    broker: BoundMosquitto
    passwords: dict[str, str] = field(default_factory=dict)  # username -> current password
    old: dict[str, str] = field(default_factory=dict)  # username -> a password since rotated or revoked
    service: tuple[str, str] = ("", "")
    data_dir: Path = Path()
    out: Path = Path()

    def login(self, username: str, password: str | None = None) -> Login:
        """A device login on the devices' listener."""
        return Login(self.broker.host, self.broker.port, username,
                     self.passwords[username] if password is None else password)

    def service_login(self) -> Login:
        """The cloud's login on its own listener."""
        assert self.broker.service_port is not None
        return Login(self.broker.host, self.broker.service_port, *self.service)


async def _issue(tmp_path: Path) -> tuple[dict[str, str], dict[str, str]]:
    """Two sites; nodes a, b, e (site s1), c (s2), d (revoked), camera cam-f (s1), tracker trk-g (registered with
    site s1, in no zone); gateways s1.gw1, s1.gw3, s2.gw2; b rotated."""
    passwords: dict[str, str] = {}
    old: dict[str, str] = {}
    async with running_app(local_settings(tmp_path, topic_root=ROOT)) as client:
        await register_site(client, "s1", "z1")
        await register_site(client, "s2", "z2")
        for node, zone, role in (("node-a", "z1", "soil"), ("node-b", "z1", "soil"), ("node-c", "z2", "soil"),
                                 ("node-d", "z1", "soil"), ("node-e", "z1", "soil"), ("cam-f", "z1", "camera")):
            await register_node(client, node, zone, role)
            r = await client.post(f"/api/v1/nodes/{node}/credentials")
            assert r.status_code == 201, r.text
            passwords[node] = r.json()["password"]
        r = await client.post("/api/v1/registry/nodes", json={"id": "trk-g", "role": "tracker", "site_id": "s1"})
        assert r.status_code == 201, r.text
        r = await client.post("/api/v1/nodes/trk-g/credentials")
        assert r.status_code == 201 and r.json()["site"] == "s1", r.text
        passwords["trk-g"] = r.json()["password"]
        for site, gw in (("s1", "gw1"), ("s1", "gw3"), ("s2", "gw2")):
            r = await client.post(f"/api/v1/gateways/{site}/{gw}/credentials")
            assert r.status_code == 201, r.text
            passwords[f"{site}.{gw}"] = r.json()["password"]
        old["node-b"] = passwords["node-b"]
        passwords["node-b"] = (await client.post("/api/v1/nodes/node-b/credentials")).json()["password"]
        assert (await client.delete("/api/v1/nodes/node-d/credentials")).status_code == 204
        old["node-d"] = passwords.pop("node-d")
    return passwords, old


@pytest.fixture(scope="module")
def farm(tmp_path_factory) -> Iterator[Farm]:
    tmp = tmp_path_factory.mktemp("acl")
    passwords, old = asyncio.run(_issue(tmp))
    out = tmp / "broker"
    listen, service_listen = free_port(), free_port()
    # a, b, c, e, cam-f, trk-g and three gateways; d is revoked
    assert "9 device login(s)" in broker_config(tmp, out, ROOT, listen, service_listen)
    service = ("furrow@cloud", (out / "service.password").read_text().strip())
    broker = BoundMosquitto(out, listen, service_listen, service, service_listen)
    broker.start()
    try:
        yield Farm(broker, passwords, old, service, tmp, out)
    finally:
        broker.stop()


def test_the_python_hash_is_what_mosquitto_passwd_writes(tmp_path):
    """Our $7$ PBKDF2-SHA512 hash equals mosquitto_passwd's for the same salt and password."""
    pwfile = tmp_path / "pw"
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(pwfile), "alice", "s3cret-Pass"], check=True, timeout=30)
    line = pwfile.read_text().strip()
    user, hashed = line.split(":", 1)
    _, _, iterations, salt, _ = hashed.split("$")
    import base64

    assert user == "alice"
    assert hash_password("s3cret-Pass", salt=base64.b64decode(salt), iterations=int(iterations)) == hashed


def test_a_node_cannot_publish_as_another_node(farm):
    """node-a's message on node-b's uplink topic never reaches a subscriber; its own does."""
    cloud = farm.service_login()
    a = farm.login("node-a")
    try:
        cloud.subscribe(f"{ROOT}/#")
        forged = node_topic("s1", "node-b", "up", ROOT)
        own = node_topic("s1", "node-a", "up", ROOT)
        a.publish(forged, b'{"forged": true}')
        a.publish(node_topic("s2", "node-c", "status", ROOT), b"offline")
        a.publish(own, b'{"seq": 1}')
        got = cloud.until(own)  # one connection's messages arrive in order: the forged ones were dropped
        assert got == [(own, b'{"seq": 1}')]
    finally:
        a.close()
        cloud.close()


def test_only_a_camera_node_sends_images(farm):
    """A soil node's login can neither send image chunks nor read image acks, even on its own topics;
    the camera node's can (each login gets the topics of its registered role)."""
    gateway = farm.login("s1.gw1")
    soil, camera = farm.login("node-a"), farm.login("cam-f")
    try:
        soil.subscribe(node_topic("s1", "node-a", "image_ack", ROOT), node_topic("s1", "node-a", "cmd", ROOT))
        camera.subscribe(node_topic("s1", "cam-f", "image_ack", ROOT))
        gateway.subscribe(f"{ROOT}/v1/s1/node/+/image", f"{ROOT}/v1/s1/node/+/up")
        soil.publish(node_topic("s1", "node-a", "image", ROOT), b"chunk from a soil probe")
        soil.publish(node_topic("s1", "node-a", "up", ROOT), b'{"seq": 1}')
        camera.publish(node_topic("s1", "cam-f", "image", ROOT), b"chunk from a camera")
        got = gateway.until(node_topic("s1", "cam-f", "image", ROOT))  # the soil probe's chunk went first
        assert sorted(got) == [(node_topic("s1", "cam-f", "image", ROOT), b"chunk from a camera"),
                               (node_topic("s1", "node-a", "up", ROOT), b'{"seq": 1}')]
        gateway.publish(node_topic("s1", "node-a", "image_ack", ROOT), b"ack for a")
        gateway.publish(node_topic("s1", "node-a", "cmd", ROOT), b"cmd for a")
        gateway.publish(node_topic("s1", "cam-f", "image_ack", ROOT), b"ack for cam-f")
        assert camera.until(node_topic("s1", "cam-f", "image_ack", ROOT)) == [
            (node_topic("s1", "cam-f", "image_ack", ROOT), b"ack for cam-f")]
        # one publisher's messages arrive in order: the ack before the command was not delivered
        assert soil.until(node_topic("s1", "node-a", "cmd", ROOT)) == [
            (node_topic("s1", "node-a", "cmd", ROOT), b"cmd for a")]
    finally:
        soil.close()
        camera.close()
        gateway.close()


def test_a_tracker_reports_to_its_sites_gateway_and_only_on_its_own_topics(farm):
    """trk-g, registered with site s1 and no zone, logs in; its positions on its own uplink reach s1's gateway, and
    it reads its own commands; what it forges on node-a's uplink, on site s2 or on the image topic, and the
    commands of another node, never arrive (a tracker's login has the plain node's topics of its site)."""
    gateway = farm.login("s1.gw1")
    trk = farm.login("trk-g")
    cloud = farm.service_login()
    try:
        assert trk.accepted
        gateway.subscribe(f"{ROOT}/v1/s1/node/+/up", f"{ROOT}/v1/s1/node/+/image")
        cloud.subscribe(f"{ROOT}/v1/s2/#")
        trk.subscribe(node_topic("s1", "node-a", "cmd", ROOT), node_topic("s1", "trk-g", "cmd", ROOT))
        trk.publish(node_topic("s1", "node-a", "up", ROOT), b"forged fixes")
        trk.publish(node_topic("s2", "trk-g", "up", ROOT), b"fixes on the wrong site")
        trk.publish(node_topic("s1", "trk-g", "image", ROOT), b"not a camera")
        own = node_topic("s1", "trk-g", "up", ROOT)
        trk.publish(own, b"\xf9 positions")
        assert gateway.until(own) == [(own, b"\xf9 positions")]  # in order: the forged ones were dropped
        cloud.publish(node_topic("s2", "node-c", "status", ROOT), b"s2's own")  # s2 heard nothing from trk-g
        assert cloud.until(node_topic("s2", "node-c", "status", ROOT)) == [
            (node_topic("s2", "node-c", "status", ROOT), b"s2's own")]
        gateway.publish(node_topic("s1", "node-a", "cmd", ROOT), b"for node-a")
        gateway.publish(node_topic("s1", "trk-g", "cmd", ROOT), b"for trk-g")
        assert trk.until(node_topic("s1", "trk-g", "cmd", ROOT)) == [(node_topic("s1", "trk-g", "cmd", ROOT),
                                                                       b"for trk-g")]
    finally:
        for x in (trk, gateway, cloud):
            x.close()


def test_a_node_reads_only_its_own_commands(farm):
    """node-a subscribed to another node's, another site's and every command topic gets only its own."""
    cloud = farm.service_login()
    a = farm.login("node-a")
    try:
        a.subscribe(node_topic("s1", "node-b", "cmd", ROOT), node_topic("s2", "node-c", "cmd", ROOT),
                    f"{ROOT}/v1/+/node/+/cmd", node_topic("s1", "node-a", "cmd", ROOT))
        for node, site in (("node-b", "s1"), ("node-c", "s2"), ("node-a", "s1")):
            cloud.publish(node_topic(site, node, "cmd", ROOT), f"open for {node}".encode())
        own = node_topic("s1", "node-a", "cmd", ROOT)
        got = a.until(own)
        assert {topic for topic, _ in got} == {own}
    finally:
        a.close()
        cloud.close()


def test_a_gateway_reads_and_writes_only_its_own_site(farm):
    """s1.gw1 gets none of site s2's messages, and what it publishes into s2 never arrives."""
    cloud = farm.service_login()
    gw1 = farm.login("s1.gw1")
    try:
        cloud.subscribe(f"{ROOT}/#")
        gw1.subscribe(f"{ROOT}/v1/s2/#", f"{ROOT}/#", f"{ROOT}/v1/s1/#")
        cloud.publish(gateway_topic("s2", "gw2", "cmd", ROOT), b"for gw2")
        cloud.publish(node_topic("s2", "node-c", "up", ROOT), b"site 2 reading")
        mine = gateway_topic("s1", "gw1", "cmd", ROOT)
        cloud.publish(mine, b"for gw1")
        assert {t for t, _ in gw1.until(mine)} == {mine}

        gw1.publish(gateway_topic("s2", "gw2", "batch", ROOT), b"forged batch")
        own_batch = gateway_topic("s1", "gw1", "batch", ROOT)
        gw1.publish(own_batch, b"real batch")
        got = cloud.until(own_batch)
        assert (gateway_topic("s2", "gw2", "batch", ROOT), b"forged batch") not in got
    finally:
        gw1.close()
        cloud.close()


def test_a_gateway_cannot_act_as_a_sibling_gateway_of_its_site(farm):
    """s1.gw3 cannot read s1.gw1's commands or receipts, and its commands, acks, batches and status forged
    on s1.gw1's topics never arrive; what it publishes on its own topics does, and it reads its own receipts."""
    cloud = farm.service_login()
    gw1 = farm.login("s1.gw1")
    gw3 = farm.login("s1.gw3")
    try:
        cloud.subscribe(f"{ROOT}/#")
        gw1.subscribe(gateway_topic("s1", "gw1", "cmd", ROOT))
        gw3.subscribe(gateway_topic("s1", "gw1", "cmd", ROOT), f"{ROOT}/v1/s1/gw/+/cmd", f"{ROOT}/v1/s1/#",
                      gateway_topic("s1", "gw3", "cmd", ROOT))
        for leaf in ("cmd", "ack", "batch", "status"):
            gw3.publish(gateway_topic("s1", "gw1", leaf, ROOT), b"forged by gw3")
        own_batch = gateway_topic("s1", "gw3", "batch", ROOT)
        gw3.publish(own_batch, b"gw3's batch")
        assert cloud.until(own_batch) == [(own_batch, b"gw3's batch")]
        cloud.publish(gateway_topic("s1", "gw1", "cmd", ROOT), b"for gw1")
        cloud.publish(gateway_topic("s1", "gw1", "receipt", ROOT), b"gw1's receipt")
        cloud.publish(gateway_topic("s1", "gw3", "receipt", ROOT), b"gw3's receipt")
        mine = gateway_topic("s1", "gw3", "cmd", ROOT)
        cloud.publish(mine, b"for gw3")
        assert gw3.until(mine) == [(gateway_topic("s1", "gw3", "receipt", ROOT), b"gw3's receipt"),
                                   (mine, b"for gw3")]
        assert gw1.until(gateway_topic("s1", "gw1", "cmd", ROOT)) == [(gateway_topic("s1", "gw1", "cmd", ROOT),
                                                                        b"for gw1")]
    finally:
        for x in (gw1, gw3, cloud):
            x.close()


@pytest.fixture
def farm_broker(farm: Farm, tmp_path) -> Iterator[BoundMosquitto]:
    """The farm's own broker, from the same registry: the devices' listener only, as on a farm."""
    listen = free_port()
    broker_config(farm.data_dir, tmp_path, ROOT, listen, None, farm.out / "service.password")
    broker = BoundMosquitto(tmp_path, listen, None, ("node-a", farm.passwords["node-a"]), listen)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


async def test_the_real_gateway_works_within_its_acl(farm, farm_broker, tmp_path):
    """The gateway s1.gw1, logged in to a locked farm broker and the locked cloud broker, announces itself,
    forwards node-a's reading as a batch, relays the cloud's command to node-a and node-a's ack back to
    the cloud."""
    login = {"keepalive": 5, "timeout": 3, "username": "s1.gw1", "password": farm.passwords["s1.gw1"]}
    config = gateway_config(tmp_path, farm.broker.host, farm.broker.port, ROOT, site="s1", gateway_id="gw1",
                            farm_broker={**login, "host": farm_broker.host, "port": farm_broker.port},
                            cloud_broker={**login, "host": farm.broker.host, "port": farm.broker.port})
    cloud = farm.service_login()
    node = Login(farm_broker.host, farm_broker.port, "node-a", farm.passwords["node-a"])
    try:
        cloud.subscribe(f"{ROOT}/v1/s1/gw/gw1/#")
        node.subscribe(node_topic("s1", "node-a", "cmd", ROOT))
        async with running_gateway(config):
            status = gateway_topic("s1", "gw1", "status", ROOT)
            assert commands.decode_status((await asyncio.to_thread(cloud.until, status))[-1][1])["state"] == "online"
            node.publish(node_topic("s1", "node-a", "up", ROOT), encode_json(gw_soil_uplink("node-a", 1)))
            batch = (await asyncio.to_thread(cloud.until, gateway_topic("s1", "gw1", "batch", ROOT)))[-1][1]
            assert [(i["node"], i["seq"]) for i in decode_batch(batch)["items"]] == [("node-a", 1)]
            now = int(time.time() * 1000)
            cmd = commands.make_command("c-0123456789abcdef01234567", "node-a", 1, "open", 60, 120, now,
                                        now + 600_000)
            cloud.publish(gateway_topic("s1", "gw1", "cmd", ROOT), commands.encode(cmd))
            relayed = (await asyncio.to_thread(node.until, node_topic("s1", "node-a", "cmd", ROOT)))[-1][1]
            assert json.loads(relayed)["id"] == cmd["id"]
            ack = commands.make_ack(cmd["id"], "node-a", "started", now)
            node.publish(node_topic("s1", "node-a", "ack", ROOT), commands.encode(ack))
            got = (await asyncio.to_thread(cloud.until, gateway_topic("s1", "gw1", "ack", ROOT)))[-1][1]
            assert commands.decode_ack(got)["state"] == "started"
    finally:
        node.close()
        cloud.close()


def test_revoked_rotated_wrong_and_anonymous_logins_are_refused(farm):
    """A revoked login, the password before a rotation, a wrong password and no login at all
    are refused; the rotated password works."""
    refused = [
        farm.login("node-d", farm.old["node-d"]),
        farm.login("node-b", farm.old["node-b"]),
        farm.login("node-a", "not-the-password"),
        Login(farm.broker.host, farm.broker.port, None, None),
    ]
    rotated = farm.login("node-b")
    try:
        assert [x.accepted for x in refused] == [False, False, False, False]
        assert {x.reason.getName() for x in refused} <= {"Bad user name or password", "Not authorized"}
        assert rotated.accepted
    finally:
        for x in [*refused, rotated]:
            x.close()


async def test_the_cloud_worker_logs_in_and_stores_a_gateways_batch(farm, tmp_path):
    """With FURROW_MQTT_USERNAME/PASSWORD_FILE the cloud's worker logs in to the locked broker and
    stores the batch gateway s1.gw1 publishes on its own topic."""
    pw = tmp_path / "mqtt.password"
    pw.write_text(farm.service[1] + "\n")
    settings = local_settings(tmp_path, mqtt_enabled=True, mqtt_host=farm.broker.host,
                              mqtt_port=farm.broker.service_port, topic_root=ROOT, mqtt_username=farm.service[0],
                              mqtt_password_file=pw)
    async with running_app(settings) as client:
        worker = client.app.state.services.worker
        await eventually(lambda: _true(worker.connected), "the cloud worker to connect")
        gw1 = farm.login("s1.gw1")
        try:
            batch = batch_of([item(soil_uplink("soil-31"))], site="s1", gateway="gw1", batch_id="gw1-1")
            gw1.publish(gateway_topic("s1", "gw1", "batch", ROOT), json.dumps(batch).encode())

            async def stored() -> bool:
                r = await client.get("/api/v1/readings", params={"node": "soil-31", "start": "0"})
                return r.status_code == 200 and len(r.json()) == 2

            await eventually(stored, "the batch to be stored")
        finally:
            gw1.close()


async def _true(value: bool) -> bool:
    return bool(value)


def test_a_revocation_reaches_the_running_broker_on_sighup(farm):
    """Revoke node-e in the registry, regenerate the files, SIGHUP the broker: node-e's next login is
    refused while node-a's still works, and the broker kept running."""
    from furrow.cloud.db import Database
    from furrow.cloud.identity import CredentialStore, Listener
    from furrow.commands.broker import write_broker_files

    assert farm.login("node-e").accepted
    db = Database(f"sqlite:///{farm.data_dir / 'furrow.db'}")
    try:
        store = CredentialStore(db, ROOT)
        with db.sessions.begin() as session:
            assert store.revoke_sync(session, "node-e")
            logins = store.logins_sync(session)
    finally:
        db.dispose()
    write_broker_files(farm.out, logins, ROOT, *farm.service, Listener(farm.broker.port, farm.broker.host),
                       Listener(farm.broker.service_port, farm.broker.host))
    assert farm.broker.pid is not None
    os.kill(farm.broker.pid, signal.SIGHUP)
    deadline = time.monotonic() + WAIT
    while True:  # the broker rereads its files a moment after the signal
        login = farm.login("node-e")
        login.close()
        if not login.accepted:
            break
        assert time.monotonic() < deadline, "node-e was still accepted after SIGHUP"
        time.sleep(0.05)
    still = farm.login("node-a")
    still.close()
    assert still.accepted and farm.broker.running
