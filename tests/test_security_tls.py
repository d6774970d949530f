"""The cloud API over TLS (`furrow cloud run --tls-cert --tls-key --tls-client-ca`, a real uvicorn),
with a CA the test makes: trusted clients get in, untrusted ones are refused, and the real
gateway's HTTPS sink posts a batch over mutual TLS."""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from furrow.edge.payload import encode_json
from tests.cloud_support import ADMIN, ADMIN_TOKEN, SECRET_KEY, WAIT
from tests.gateway_support import Peer, gateway_config, running_gateway, soil_uplink, up_topic, wait_until
from tests.servers import free_port
from tests.tls_support import Pair, TestCA

pytestmark = pytest.mark.mosquitto


@dataclass
class TlsCloud:
    url: str
    ca: Path  # the CA that signed the server's and the trusted clients' certificates
    client: Pair  # a client certificate that CA signed
    rogue_ca: Path
    rogue_client: Pair  # a client certificate another CA signed

    def http(self, *, verify: Path | None = None, cert: Pair | None = None) -> httpx.Client:
        ctx = ssl.create_default_context(cafile=str(verify or self.ca))
        if cert is not None:
            ctx.load_cert_chain(str(cert.cert), str(cert.key))
        return httpx.Client(base_url=self.url, verify=ctx, headers=ADMIN, timeout=WAIT)


@pytest.fixture(scope="module")
def tls_cloud(tmp_path_factory) -> Iterator[TlsCloud]:
    """`furrow cloud run` over HTTPS on a free port, requiring client certificates from our CA."""
    tmp = tmp_path_factory.mktemp("tls")
    ca = TestCA(tmp / "pki", "furrow-ca")
    rogue = TestCA(tmp / "pki", "rogue-ca")
    server = ca.issue("127.0.0.1", server=True)
    port = free_port()
    env = {**os.environ, "FURROW_DATA_DIR": str(tmp / "data"), "FURROW_SECRET_KEY": SECRET_KEY,
           "FURROW_BOOTSTRAP_ADMIN_TOKEN": ADMIN_TOKEN, "FURROW_MQTT_ENABLED": "false"}
    log = (tmp / "cloud.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "furrow.cli", "cloud", "run", "--host", "127.0.0.1", "--port",
                             str(port), "--tls-cert", str(server.cert), "--tls-key", str(server.key),
                             "--tls-client-ca", str(ca.cert)], env=env, stdout=log, stderr=subprocess.STDOUT)
    cloud = TlsCloud(f"https://127.0.0.1:{port}", ca.cert, ca.issue("gateway", server=False), rogue.cert,
                     rogue.issue("intruder", server=False))
    try:
        deadline = time.monotonic() + 30
        with cloud.http(cert=cloud.client) as http:
            while True:
                assert proc.poll() is None, (tmp / "cloud.log").read_text()
                try:
                    if http.get("/api/v1/health").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "the TLS cloud did not come up: " + (tmp / "cloud.log").read_text()
                time.sleep(0.1)
        yield cloud
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=WAIT)
        log.close()


def test_a_client_with_a_trusted_certificate_gets_in(tls_cloud):
    """A client certificate our CA signed, and the server verified against the same CA: 200."""
    with tls_cloud.http(cert=tls_cloud.client) as http:
        r = http.get("/api/v1/auth/me")
    assert r.status_code == 200 and r.json()["name"] == "bootstrap-admin"


@pytest.mark.parametrize("who", ["rogue", "none"])
def test_a_client_with_an_untrusted_or_no_certificate_is_refused(tls_cloud, who):
    """A certificate another CA signed, or none at all, ends in a TLS failure: no HTTP answer."""
    cert = tls_cloud.rogue_client if who == "rogue" else None
    with tls_cloud.http(cert=cert) as http, pytest.raises(httpx.TransportError) as err:
        http.get("/api/v1/auth/me")
    assert isinstance(err.value, httpx.ConnectError | httpx.ReadError | httpx.RemoteProtocolError | httpx.WriteError)


def test_a_client_refuses_a_cloud_whose_certificate_it_does_not_trust(tls_cloud):
    """Trusting only another CA, the client drops the connection: certificate verify failed."""
    with tls_cloud.http(verify=tls_cloud.rogue_ca, cert=tls_cloud.client) as http, \
            pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        http.get("/api/v1/health")


async def test_the_gateway_posts_a_batch_over_mutual_tls(tls_cloud, tmp_path, mosquitto, mqtt_topic_prefix):
    """The real gateway, with the CA and its client certificate in [https], forwards a node's reading;
    the cloud stores it. The same gateway with a rogue certificate forwards nothing and keeps it."""
    gw_id = f"gw-{uuid.uuid4().hex[:8]}"
    with tls_cloud.http(cert=tls_cloud.client) as http:
        r = http.post("/api/v1/auth/tokens", json={"user": f"farm.{gw_id}", "role": "gateway"})
        assert r.status_code == 201, r.text
        token = r.json()["token"]
    node = f"soil-{uuid.uuid4().hex[:6]}"

    def config(folder: Path, cert: Pair):
        return gateway_config(folder, mosquitto.host, mosquitto.port, mqtt_topic_prefix, gateway_id=gw_id,
                              compress=False, forward_via="https",
                              https={"url": f"{tls_cloud.url}/api/v1/ingest/batch", "token": token,
                                     "ca_file": str(tls_cloud.ca), "cert_file": str(cert.cert),
                                     "key_file": str(cert.key), "timeout": 5})

    (tmp_path / "rogue").mkdir()
    rogue_cfg = config(tmp_path / "rogue", tls_cloud.rogue_client)
    farm = Peer(mosquitto.host, mosquitto.port)
    try:
        async with running_gateway(rogue_cfg) as gw:
            farm.publish(up_topic(rogue_cfg, node), encode_json(soil_uplink(node, 1)))
            await wait_until(lambda: gw.stats()["cloud"]["https"]["failures"] >= 2, "two refused HTTPS posts")
            assert gw.stats()["forwarded"] == 0 and gw.stats()["pending"] == 1

        good_cfg = config(tmp_path, tls_cloud.client)
        async with running_gateway(good_cfg) as gw:
            farm.publish(up_topic(good_cfg, node), encode_json(soil_uplink(node, 2)))
            await wait_until(lambda: gw.stats()["forwarded"] == 1, "the batch to be posted over mutual TLS")
    finally:
        farm.close()
    with tls_cloud.http(cert=tls_cloud.client) as http:
        r = http.get("/api/v1/readings", params={"node": node, "start": "0"})
    assert r.status_code == 200, r.text
    assert [(x["gateway"], x["measurement"], x["ts_ms"]) for x in r.json()] == [
        (gw_id, "vwc_pct", soil_uplink(node, 2)["ts_ms"])]
