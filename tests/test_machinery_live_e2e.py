"""A tracker's live track end to end on real servers: position messages on a real Mosquitto, the real gateway
keeping them in its durable buffer while the cloud is not there yet (a WAN outage), then forwarding them to
the real cloud, which stores every fix once and computes the operation's worked area from the live track as
from the same track in a file."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from furrow.cloud.settings import Settings
from furrow.edge.topics import NODE_UP, node_topic
from furrow.gateway.app import Gateway
from furrow.gateway.config import BrokerConfig, GatewayConfig
from tests.cloud_support import ADMIN, ADMIN_TOKEN, SECRET_KEY
from tests.gateway_support import Peer
from tests.test_e2e_path import GW, SITE, _until, cloud_service, running
from tests.test_machinery_coverage import back_and_forth
from tests.test_machinery_operations import BOUNDARY, operation
from tests.tracker_support import position_messages

# 18 s on the development VM: the fast tier's proof is tests/test_gateway_positions.py (the gateway) and
# tests/test_machinery_live.py (the cloud).
pytestmark = [pytest.mark.mosquitto, pytest.mark.full]

NODE = "trk-e2e"


def _gateway(tmp_path: Path, mosquitto, root: str) -> Gateway:  # noqa: ANN001
    """The real gateway; a batch whose receipt does not come within 2 s goes again (the cloud was away)."""
    broker = BrokerConfig(host=mosquitto.host, port=mosquitto.port)
    return Gateway(GatewayConfig(site=SITE, gateway_id=GW, topic_root=root, farm_broker=broker, cloud_broker=broker,
                                 buffer_path=tmp_path / "gateway.db", forward_interval=timedelta(seconds=0.2),
                                 receipt_wait=timedelta(seconds=2), http_port=0))


def _settings(tmp_path: Path, mosquitto, root: str) -> Settings:  # noqa: ANN001
    return Settings(storage="sqlite", secret_key=SECRET_KEY, bootstrap_admin_token=ADMIN_TOKEN,
                    data_dir=tmp_path / "cloud", mqtt_host=mosquitto.host, mqtt_port=mosquitto.port, topic_root=root)


async def test_a_live_track_crosses_a_cloud_outage_once_and_becomes_an_operation(tmp_path, mosquitto,
                                                                                 mqtt_topic_prefix):
    """The first message reaches the cloud; the next ones (one of them twice) go while the cloud is down, the rest
    once it is back: the cloud holds each of the 204 fixes once, in time order, and the live window's worked area
    is the file's (0.36 ha, 0.04 ha overlap)."""
    root = mqtt_topic_prefix
    fixes = back_and_forth([5, 13])
    messages = position_messages(NODE, fixes)
    half = len(messages) // 2
    tracker = Peer(mosquitto.host, mosquitto.port, client_id=f"furrow-{NODE}")
    topic = node_topic(SITE, NODE, NODE_UP, root)
    gateway = _gateway(tmp_path, mosquitto, root)
    settings = _settings(tmp_path, mosquitto, root)
    try:
        async with running(gateway.run):
            await _until(lambda: gateway.source.subscribed, what="the gateway to subscribe to its nodes")
            async with cloud_service(settings) as api, httpx.AsyncClient(timeout=10, headers=ADMIN) as c:
                for path, body in [("registry/sites", {"id": SITE, "name": "Farm", "timezone": "UTC"}),
                                   ("registry/fields", {"id": "f1", "site_id": SITE, "name": "North"})]:
                    assert (await c.post(f"{api}/{path}", json=body)).status_code == 201
                assert (await c.put(f"{api}/registry/fields/f1/boundary", json=BOUNDARY)).status_code == 200
                tracker.publish(topic, messages[0])
                await _until(lambda: gateway.buffer.stats()["forwarded_total"] == 1, what="the first message stored")
            # The cloud is away: the gateway keeps what comes (one message twice: a redelivery).
            for m in messages[1:half] + messages[1:2]:
                tracker.publish(topic, m)
            await _until(lambda: gateway.buffer.stats()["received"] == half + 1, what="the gateway to buffer them")
            stats = gateway.buffer.stats()
            assert (stats["pending"], stats["duplicates"], stats["quarantined"]) == (half - 1, 1, 0), stats
            async with cloud_service(settings) as api, httpx.AsyncClient(timeout=10, headers=ADMIN) as c:
                for m in messages[half:]:
                    tracker.publish(topic, m)

                async def all_fixes() -> bool:
                    machines = (await c.get(f"{api}/machines")).json()
                    return bool(machines) and machines[0]["fixes"] == len(fixes)

                await _until(all_fixes, 60, what=f"the cloud to hold all {len(fixes)} fixes")
                track = (await c.get(f"{api}/machines/{NODE}/track",
                                     params={"from_ms": fixes[0].t_ms, "to_ms": fixes[-1].t_ms})).json()
                assert [p["properties"]["time"] for p in track["features"]] == [f.t_ms for f in fixes]
                from_file = (await c.post(f"{api}/operations", json=operation([5, 13]))).json()
                body = {k: v for k, v in operation([5, 13]).items() if k not in ("track", "track_format")}
                r = await c.post(f"{api}/operations", json={**body, "node": NODE, "from_ms": fixes[0].t_ms,
                                                            "to_ms": fixes[-1].t_ms})
                assert r.status_code == 201, r.text
                for key in ("covered_ha", "overlap_ha", "skipped_ha", "work_s"):
                    assert r.json()[key] == pytest.approx(from_file[key], rel=1e-3, abs=1e-5), key
                assert r.json()["covered_ha"] == pytest.approx(0.36, rel=1e-3)
            await _until(lambda: gateway.buffer.stats()["pending"] == 0, what="every receipt to reach the gateway")
            assert gateway.buffer.stats()["forwarded_total"] == len(messages)
    finally:
        tracker.close()
