"""Device identity: broker credentials issued, rotated and revoked through the API (stored as
hashes only, on SQLite and on a real PostgreSQL), and `furrow node add` / `furrow gateway add`
against a real `furrow cloud run`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from furrow.cloud.db import DeviceCredential
from furrow.cloud.identity.mosquitto import check_password
from furrow.firmware.config import validate
from furrow.gateway.config import GatewayConfig
from tests.cloud_support import ADMIN, ADMIN_TOKEN, SECRET_KEY, WAIT, local_settings, problem, running_app
from tests.security_support import register_node, register_site
from tests.servers import free_port


async def _credentials_lifecycle(client) -> None:
    await register_site(client, "s1", "z1")
    await register_node(client, "soil-07", "z1")
    r = await client.post("/api/v1/nodes/soil-07/credentials")
    assert r.status_code == 201, r.text
    first = r.json()
    assert set(first) == {"node_id", "site", "username", "password", "issued_ms", "topics"}
    assert (first["node_id"], first["site"], first["username"]) == ("soil-07", "s1", "soil-07")
    assert first["topics"] == {"publish": ["furrow/v1/s1/node/soil-07/up", "furrow/v1/s1/node/soil-07/status",
                                           "furrow/v1/s1/node/soil-07/ack"],
                               "subscribe": ["furrow/v1/s1/node/soil-07/cmd"]}
    db = client.app.state.services.db
    with db.sessions() as s:
        row = s.get(DeviceCredential, "soil-07")
        stored = row.password_hash
    assert first["password"] not in stored and check_password(first["password"], stored)

    second = (await client.post("/api/v1/nodes/soil-07/credentials")).json()  # rotation
    with db.sessions() as s:
        rotated = s.get(DeviceCredential, "soil-07").password_hash
    assert check_password(second["password"], rotated) and not check_password(first["password"], rotated)

    assert (await client.delete("/api/v1/nodes/soil-07/credentials")).status_code == 204
    with db.sessions() as s:
        assert s.get(DeviceCredential, "soil-07").revoked_ms is not None
        live = list(s.scalars(select(DeviceCredential.username).where(DeviceCredential.revoked_ms.is_(None))))
    assert "soil-07" not in live

    # Only a camera node's login may send image chunks and read their acks (least privilege by role).
    await register_node(client, "cam-01", "z1", role="camera")
    r = await client.post("/api/v1/nodes/cam-01/credentials")
    assert r.status_code == 201, r.text
    assert r.json()["topics"] == {
        "publish": ["furrow/v1/s1/node/cam-01/up", "furrow/v1/s1/node/cam-01/status", "furrow/v1/s1/node/cam-01/ack",
                    "furrow/v1/s1/node/cam-01/image"],
        "subscribe": ["furrow/v1/s1/node/cam-01/cmd", "furrow/v1/s1/node/cam-01/image_ack"]}

    # A machine's tracker is in no zone: registered with its site, it gets that site's plain node topics.
    r = await client.post("/api/v1/registry/nodes", json={"id": "trk-01", "role": "tracker", "site_id": "s1"})
    assert r.status_code == 201 and r.json()["site_id"] == "s1", r.text
    r = await client.post("/api/v1/nodes/trk-01/credentials")
    assert r.status_code == 201, r.text
    assert (r.json()["site"], r.json()["username"]) == ("s1", "trk-01")
    assert r.json()["topics"] == {"publish": ["furrow/v1/s1/node/trk-01/up", "furrow/v1/s1/node/trk-01/status",
                                             "furrow/v1/s1/node/trk-01/ack"],
                                  "subscribe": ["furrow/v1/s1/node/trk-01/cmd"]}
    with db.sessions() as s:
        assert check_password(r.json()["password"], s.get(DeviceCredential, "trk-01").password_hash)

    # A gateway sends its batches, status, acks and images and relays commands and image acks to its
    # site's nodes; it reads its commands, plans, batch and image receipts and its nodes' messages.
    r = await client.post("/api/v1/gateways/s1/gw-1/credentials")
    assert r.status_code == 201 and r.json()["username"] == "s1.gw-1"
    assert r.json()["topics"] == {
        "publish": ["furrow/v1/s1/gw/gw-1/batch", "furrow/v1/s1/gw/gw-1/status", "furrow/v1/s1/gw/gw-1/ack",
                    "furrow/v1/s1/gw/gw-1/image", "furrow/v1/s1/node/+/cmd", "furrow/v1/s1/node/+/image_ack"],
        "subscribe": ["furrow/v1/s1/gw/gw-1/cmd", "furrow/v1/s1/gw/gw-1/plan", "furrow/v1/s1/gw/gw-1/receipt",
                      "furrow/v1/s1/gw/gw-1/image_receipt", "furrow/v1/s1/node/+/up", "furrow/v1/s1/node/+/status",
                      "furrow/v1/s1/node/+/ack", "furrow/v1/s1/node/+/image"]}
    assert (await client.delete("/api/v1/gateways/s1/gw-1/credentials")).status_code == 204


async def test_credentials_are_issued_rotated_revoked_and_stored_hashed(tmp_path):
    """A node's and a gateway's login: returned once, stored as a $7$ hash, a rotation replaces
    the hash (the old password no longer matches), a revocation takes it out of the live set."""
    async with running_app(local_settings(tmp_path)) as client:
        await _credentials_lifecycle(client)


@pytest.mark.postgres
async def test_credentials_on_postgresql(tmp_path, pg_database):
    """The same lifecycle on a real PostgreSQL, through migration 0005."""
    async with running_app(local_settings(tmp_path, database_url=pg_database)) as client:
        await _credentials_lifecycle(client)


async def test_credential_errors_name_what_is_wrong(tmp_path):
    """Unknown node 404, a node without a zone 422 naming zone_id, a tracker without a site 422 naming site_id, an
    unknown site 404, a bad id 422, revoking what was never issued 404, and an agronomist 403 naming the roles that
    may. A site is only a tracker's to name, never with a zone, and must exist; a site a tracker names stays."""
    async with running_app(local_settings(tmp_path)) as client:
        await register_site(client, "s1", "z1")
        r = await client.post("/api/v1/registry/nodes", json={"id": "loose", "role": "soil"})
        assert r.status_code == 201
        assert (await client.post("/api/v1/nodes/ghost/credentials")).status_code == 404
        r = await client.post("/api/v1/nodes/loose/credentials")
        assert r.status_code == 422 and problem(r)["field"] == "zone_id"
        assert (await client.post("/api/v1/gateways/nowhere/gw-1/credentials")).status_code == 404
        r = await client.post("/api/v1/gateways/s1/GW!/credentials")
        assert r.status_code == 422 and problem(r)["field"] == "gateway"
        assert (await client.delete("/api/v1/nodes/loose/credentials")).status_code == 404
        r = await client.post("/api/v1/registry/nodes", json={"id": "trk-loose", "role": "tracker"})
        assert r.status_code == 201
        r = await client.post("/api/v1/nodes/trk-loose/credentials")
        assert r.status_code == 422 and problem(r)["field"] == "site_id" and "--site" in problem(r)["reason"]
        for body, why in (({"role": "soil", "site_id": "s1"}, "only a tracker"),
                          ({"role": "tracker", "zone_id": "z1", "site_id": "s1"}, "not both"),
                          ({"role": "tracker", "site_id": "nowhere"}, "no site with this id")):
            r = await client.post("/api/v1/registry/nodes", json={"id": "trk-bad", **body})
            assert r.status_code == 422 and problem(r)["field"].endswith("site_id") and why in r.text, r.text
        assert (await client.post("/api/v1/registry/sites", json={"id": "s9", "name": "yard"})).status_code == 201
        r = await client.post("/api/v1/registry/nodes", json={"id": "trk-9", "role": "tracker", "site_id": "s9"})
        assert r.status_code == 201
        r = await client.delete("/api/v1/registry/sites/s9")
        assert r.status_code == 409 and "1 nodes" in r.text
        tokens = client.app.state.services.tokens
        agro = (await tokens.issue("maria", "agronomist", 1)).token
        r = await client.post("/api/v1/gateways/s1/gw-1/credentials", headers={"Authorization": f"Bearer {agro}"})
        assert r.status_code == 403 and "technician, admin" in problem(r)["reason"]


@pytest.fixture(scope="module")
def cloud(tmp_path_factory) -> Iterator[tuple[str, Path]]:
    """`furrow cloud run` on a free port (plain HTTP on 127.0.0.1): (url, data dir)."""
    tmp = tmp_path_factory.mktemp("cli")
    port = free_port()
    env = {**os.environ, "FURROW_DATA_DIR": str(tmp), "FURROW_SECRET_KEY": SECRET_KEY,
           "FURROW_BOOTSTRAP_ADMIN_TOKEN": ADMIN_TOKEN, "FURROW_MQTT_ENABLED": "false"}
    log = (tmp / "cloud.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "furrow.cli", "cloud", "run", "--port", str(port)],
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, (tmp / "cloud.log").read_text()
            try:
                if httpx.get(url + "/api/v1/health", headers=ADMIN, timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, (tmp / "cloud.log").read_text()
            time.sleep(0.1)
        with httpx.Client(base_url=url, headers=ADMIN, timeout=WAIT) as http:
            for path, body in (("sites", {"id": "s1", "name": "s1"}),
                               ("fields", {"id": "f1", "site_id": "s1", "name": "f"}),
                               ("zones", {"id": "z1", "field_id": "f1", "name": "z", "area_ha": 1,
                                          "soil_texture": "loam", "field_capacity_pct": 31, "wilting_point_pct": 14,
                                          "root_depth_cm": 60, "crop": "maize", "precip_rate_mm_h": 5})):
                assert http.post(f"/api/v1/registry/{path}", json=body).status_code == 201
        yield url, tmp
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=WAIT)
        log.close()


def _furrow(*args: str, token: str | None = ADMIN_TOKEN) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FURROW_")}
    if token is not None:
        env["FURROW_API_TOKEN"] = token
    return subprocess.run([sys.executable, "-m", "furrow.cli", *args], env=env, capture_output=True, text=True,
                          timeout=60)


def test_node_add_registers_issues_and_writes_a_bootable_config(cloud, tmp_path):
    """`furrow node add` shows each step, registers the node, and writes a config.json the firmware's
    validator accepts, holding the node's own MQTT login; a second run rotates the password."""
    url, _ = cloud
    done = _furrow("node", "add", "soil-21", "--role", "soil", "--zone", "z1", "--depth", "10", "--depth", "30",
                   "--api", url, "--out", str(tmp_path / "n"), "--mqtt-host", "192.168.4.1")
    assert done.returncode == 0, done.stderr
    assert [line[:5] for line in done.stderr.splitlines()] == ["[1/4]", "[2/4]", "[3/4]", "[4/4]"]
    cfg = json.loads((tmp_path / "n" / "config.json").read_text())
    assert validate(cfg)[1] == []
    assert (cfg["node"], cfg["site"], cfg["link"]) == ("soil-21", "s1", "mqtt")
    assert cfg["mqtt"]["user"] == "soil-21" and len(cfg["mqtt"]["password"]) >= 40
    assert cfg["mqtt"]["host"] == "192.168.4.1" and [p["depth_cm"] for p in cfg["probes"]] == [10, 30]
    assert cfg["mqtt"]["password"] not in done.stderr + done.stdout
    assert (tmp_path / "n" / "config.json").stat().st_mode & 0o077 == 0

    again = _furrow("node", "add", "soil-21", "--role", "soil", "--zone", "z1", "--api", url,
                    "--out", str(tmp_path / "n2"))
    assert again.returncode == 0 and "already registered" in again.stderr
    assert json.loads((tmp_path / "n2" / "config.json").read_text())["mqtt"]["password"] != cfg["mqtt"]["password"]


def test_node_add_errors_are_clear(cloud, tmp_path):
    """An unreachable API, an agronomist's token (403 naming the roles needed) and no token each end
    with one clear line and a non-zero exit, and write nothing."""
    url, _ = cloud
    args = ("node", "add", "soil-22", "--role", "soil", "--zone", "z1", "--out", str(tmp_path / "n"))
    down = _furrow(*args, "--api", f"http://127.0.0.1:{free_port()}")
    assert down.returncode == 1 and "cannot reach the API" in down.stderr
    with httpx.Client(base_url=url, headers=ADMIN, timeout=WAIT) as http:
        agro = http.post("/api/v1/auth/tokens", json={"user": "ana", "role": "agronomist"}).json()["token"]
    forbidden = _furrow(*args, "--api", url, token=agro)
    assert forbidden.returncode == 1 and "one of: technician, admin" in forbidden.stderr
    missing = _furrow(*args, "--api", url, token=None)
    assert missing.returncode == 2 and "no API token" in missing.stderr
    assert not (tmp_path / "n").exists()


def test_gateway_add_writes_a_snippet_the_gateway_config_loads(cloud, tmp_path):
    """`furrow gateway add` writes a private TOML snippet whose brokers carry the gateway's login."""
    url, _ = cloud
    done = _furrow("gateway", "add", "s1", "gw-9", "--api", url, "--out", str(tmp_path), "--cloud-host",
                   "mqtt.example.org")
    assert done.returncode == 0, done.stderr
    path = tmp_path / "s1.gw-9.toml"
    raw = tomllib.loads(path.read_text())
    cfg = GatewayConfig.model_validate({**raw, "buffer_path": str(tmp_path / "b.db")})
    assert cfg.cloud_broker.username == cfg.farm_broker.username == "s1.gw-9"
    assert cfg.cloud_broker.host == "mqtt.example.org" and len(cfg.cloud_broker.password or "") >= 40
    assert cfg.receipts == "required"  # this cloud sends receipts: no PUBACK stands for storage
    assert path.stat().st_mode & 0o077 == 0
