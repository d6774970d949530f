"""The gateway's cloud link over TLS, against a real Mosquitto with a TLS listener
and a certificate authority the test makes itself (with the openssl command)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from furrow.edge.payload import encode_json
from tests.gateway_support import (
    BatchCollector,
    Peer,
    gateway_config,
    gw_topic,
    running_gateway,
    soil_uplink,
    up_topic,
    wait_until,
)
from tests.servers import MosquittoServer, free_port

pytestmark = pytest.mark.mosquitto


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_ca(folder: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate authority (EC P-256): (certificate, key)."""
    folder.mkdir(parents=True, exist_ok=True)
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", f"{name}.key", "-out", f"{name}.crt", "-days", "2", "-subj", f"/CN={name}", cwd=folder)
    return folder / f"{name}.crt", folder / f"{name}.key"


def make_server_cert(folder: Path, ca: tuple[Path, Path]) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 signed by `ca`: (certificate, key)."""
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1", cwd=folder)
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    _openssl("x509", "-req", "-in", "server.csr", "-CA", str(ca[0]), "-CAkey", str(ca[1]), "-CAcreateserial",
             "-out", "server.crt", "-days", "2", "-extfile", "san.ext", cwd=folder)
    return folder / "server.crt", folder / "server.key"


@pytest.fixture(scope="module")
def tls_broker(tmp_path_factory) -> Iterator[tuple[MosquittoServer, int, Path, Path]]:
    """Mosquitto with a plain listener (the farm side) and a TLS listener (the cloud side):
    (server, TLS port, the CA that signed its certificate, an unrelated CA)."""
    folder = tmp_path_factory.mktemp("pki")
    ca = make_ca(folder, "furrow-test-ca")
    rogue = make_ca(folder, "rogue-ca")
    cert, key = make_server_cert(folder, ca)
    tls_port = free_port()
    server = MosquittoServer(extra_config=[f"listener {tls_port} 127.0.0.1", f"cafile {ca[0]}",
                                           f"certfile {cert}", f"keyfile {key}"])
    server.start()
    try:
        yield server, tls_port, ca[0], rogue[0]
    finally:
        server.stop()


async def test_batches_reach_the_cloud_broker_over_tls(tmp_path, tls_broker, mqtt_topic_prefix):
    """With the cloud broker's CA as ca_file, the gateway forwards over TLS and the batch arrives."""
    server, tls_port, ca, _rogue = tls_broker
    config = gateway_config(tmp_path, server.host, server.port, mqtt_topic_prefix, compress=False,
                            cloud_broker={"host": "127.0.0.1", "port": tls_port, "ca_file": str(ca),
                                          "keepalive": 5, "timeout": 3})
    cloud = Peer(server.host, server.port)
    node = Peer(server.host, server.port)
    try:
        cloud.subscribe(gw_topic(config, "batch"))
        collector = BatchCollector(cloud)
        async with running_gateway(config) as gw:
            assert gw.cloud.connected
            node.publish(up_topic(config, "soil-01"), encode_json(soil_uplink("soil-01", 1)))
            await collector.until({("soil-01", 1)})
    finally:
        cloud.close()
        node.close()


async def test_a_cloud_broker_with_an_untrusted_certificate_is_refused(tmp_path, tls_broker, mqtt_topic_prefix):
    """A broker whose certificate another CA signed never gets a connection, and
    nothing is marked forwarded: the readings wait in the buffer."""
    server, tls_port, _ca, rogue = tls_broker
    config = gateway_config(tmp_path, server.host, server.port, mqtt_topic_prefix, compress=False,
                            cloud_broker={"host": "127.0.0.1", "port": tls_port, "ca_file": str(rogue),
                                          "keepalive": 5, "timeout": 3})
    node = Peer(server.host, server.port)
    try:
        async with running_gateway(config, ready=False) as gw:
            await wait_until(lambda: gw.cloud.stats()["connect_failures"] >= 2, "two refused TLS connects")
            node.publish(up_topic(config, "soil-01"), encode_json(soil_uplink("soil-01", 1)))
            await wait_until(lambda: gw.stats()["received"] == 1, "the reading to be buffered")
            stats = gw.stats()
    finally:
        node.close()
    assert not stats["cloud"]["connected"] and stats["cloud"]["connects"] == 0
    assert stats["forwarded"] == 0 and stats["pending"] == 1
