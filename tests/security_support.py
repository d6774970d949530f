"""Helpers of the security tests: a small farm registered through the API, and MQTT clients
that log in and report what the broker let through. Every wait is bounded."""

from __future__ import annotations

import queue
import uuid

import paho.mqtt.client as mqtt

from tests.cloud_support import WAIT

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

    def __init__(self, host: str, port: int, username: str | None, password: str | None) -> None:
        self.messages: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self._connack: queue.Queue[mqtt.ReasonCode] = queue.Queue()
        self._subacks: queue.Queue[object] = queue.Queue()
        self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"sec-{uuid.uuid4().hex[:10]}",
                                   protocol=mqtt.MQTTv5)
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
