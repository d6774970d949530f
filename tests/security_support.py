"""Helpers of the security tests: a small farm registered through the API, MQTT clients
that log in and report what the broker let through, and a real Mosquitto running the files
`furrow broker config` writes. Every wait is bounded."""

from __future__ import annotations

import os
import queue
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt

from tests.cloud_support import SECRET_KEY, WAIT
from tests.servers import MosquittoServer

ZONE = {"name": "North pivot", "area_ha": 12.5, "soil_texture": "loam", "field_capacity_pct": 31.0,
        "wilting_point_pct": 14.0, "root_depth_cm": 60, "crop": "maize", "precip_rate_mm_h": 5.0}


async def register_site(client, site: str, zone: str) -> None:
    """Site `site` with one field and zone `zone`, through the registry API."""
    for path, body in (("sites", {"id": site, "name": site}),
                       ("fields", {"id": f"{site}-f", "site_id": site, "name": "field"}),
                       ("zones", {"id": zone, "field_id": f"{site}-f", **ZONE})):
        r = await client.post(f"/api/v1/registry/{path}", json=body)
        assert r.status_code == 201, r.text


async def register_node(client, node: str, zone: str, role: str = "soil") -> None:
    r = await client.post("/api/v1/registry/nodes", json={"id": node, "role": role, "zone_id": zone})
    assert r.status_code == 201, r.text


class Login:
    """A paho client logged in (or refused) with a username and password; it keeps what it receives."""

    def __init__(self, host: str, port: int, username: str | None, password: str | None,
                 client_id: str | None = None) -> None:
        self.messages: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self._connack: queue.Queue[mqtt.ReasonCode] = queue.Queue()
        self._subacks: queue.Queue[object] = queue.Queue()
        # MQTT 5 with a clean start: a login that names another client's id asks the broker to
        # drop that client's session.
        self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                                   client_id=client_id or f"sec-{uuid.uuid4().hex[:10]}", protocol=mqtt.MQTTv5)
        if username is not None:
            self._client.username_pw_set(username, password)
        self._client.on_connect = lambda c, u, f, rc, p: self._connack.put(rc)
        self._client.on_message = lambda c, u, m: self.messages.put((m.topic, m.payload))
        self._client.on_subscribe = lambda c, u, mid, rcs, p: self._subacks.put(rcs)
        self._client.connect(host, port, keepalive=10)
        self._client.loop_start()
        self.reason = self._connack.get(timeout=WAIT)

    @property
    def accepted(self) -> bool:
        return not self.reason.is_failure

    def subscribe(self, *filters: str) -> None:
        for f in filters:
            self._client.subscribe(f, qos=1)
            self._subacks.get(timeout=WAIT)

    def publish(self, topic: str, payload: bytes) -> None:
        info = self._client.publish(topic, payload, qos=1)
        info.wait_for_publish(timeout=WAIT)

    def until(self, topic: str) -> list[tuple[str, bytes]]:
        """Everything received up to and including the first message on `topic`."""
        got = []
        while True:
            item = self.messages.get(timeout=WAIT)
            got.append(item)
            if item[0] == topic:
                return got

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


def broker_config(data_dir: Path, out: Path, root: str, listen: int, service_listen: int | None,
                  service_password_file: Path | None = None) -> str:
    """Run `furrow broker config` on the registry in `data_dir` for a broker whose devices' listener
    is 127.0.0.1:`listen` (and the service's `service_listen`, or none); its stderr."""
    env = {**os.environ, "FURROW_DATA_DIR": str(data_dir), "FURROW_SECRET_KEY": SECRET_KEY}
    argv = [sys.executable, "-m", "furrow.cli", "broker", "config", "--out", str(out), "--root", root,
            "--listen", f"127.0.0.1:{listen}",
            "--service-listen", "none" if service_listen is None else f"127.0.0.1:{service_listen}"]
    if service_password_file is not None:
        argv += ["--service-password-file", str(service_password_file)]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stderr


class BoundMosquitto(MosquittoServer):
    """Mosquitto running the furrow.conf `furrow broker config` wrote into `out` (its listeners,
    each with its own logins, client ids bound on the devices' one): ready when the login
    `probe` (username, password) is accepted on `probe_port`."""

    def __init__(self, out: Path, listen: int, service_listen: int | None, probe: tuple[str, str],
                 probe_port: int) -> None:
        (out / "conf.d").mkdir(exist_ok=True)
        shutil.copy(out / "furrow.conf", out / "conf.d" / "furrow.conf")
        super().__init__(port=listen, extra_config=[f"include_dir {out / 'conf.d'}"])
        self.service_port = service_listen
        self.probe = probe
        self.probe_port = probe_port

    def _listener_lines(self) -> list[str]:
        return []  # furrow.conf defines them

    def _mqtt_connects(self, timeout: float = 2.0) -> bool:
        try:
            login = Login(self.host, self.probe_port, *self.probe)
        except Exception:  # noqa: BLE001 - not up yet
            return False
        login.close()
        return login.accepted
