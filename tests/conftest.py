"""Fixtures that start the REAL servers the tests talk to (see tests/servers.py).

Nothing here skips: when a server or runtime is missing, the fixture fails and
says which package to install (scripts/test installs all of them).
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

# tests/ has no __init__.py, so pytest puts tests/ itself on sys.path (helpers
# import as `firmware_fakes`); the repo root goes there too so `tests.servers`
# and friends import the same way under `pytest` as under `python -m pytest`.
# Import the helpers by one name only (tests.servers, not servers), or Python
# loads them twice.
_REPO_ROOT = str(Path(__file__).resolve().parent.parent)
if _REPO_ROOT not in sys.path:
    sys.path.append(_REPO_ROOT)

from tests.servers import (  # noqa: E402 - needs the sys.path line above
    InfluxDB1Server,
    MicroPythonRuntime,
    MosquittoServer,
    PostgresServer,
    SeaweedS3Server,
    ServerStartError,
)


def _start(factory):
    try:
        server = factory()
        server.start()
    except ServerStartError as exc:
        pytest.fail(str(exc), pytrace=False)
    return server


@pytest.fixture(scope="session")
def mosquitto() -> Iterator[MosquittoServer]:
    """A Mosquitto broker for the whole session: `.host`, `.port`, `.log_path`."""
    server = _start(MosquittoServer)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def seaweedfs() -> Iterator[SeaweedS3Server]:
    """A real S3-compatible server (SeaweedFS) for the whole session: `.url`, `.access_key`, `.secret_key`."""
    server = _start(SeaweedS3Server)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def influxdb() -> Iterator[InfluxDB1Server]:
    """An InfluxDB 1.x server for the whole session: `.url`, `.query()`, `.write()`."""
    server = _start(InfluxDB1Server)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def influx_db(influxdb: InfluxDB1Server) -> Iterator[str]:
    """The name of a fresh database on the session InfluxDB, dropped afterwards."""
    name = f"test_{uuid.uuid4().hex[:16]}"
    influxdb.create_database(name)
    yield name
    if influxdb.running:
        influxdb.drop_database(name)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server for the whole session: `.host`, `.port`, `.url(db)`."""
    server = _start(PostgresServer)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_database(postgres: PostgresServer) -> Iterator[str]:
    """The SQLAlchemy URL of a fresh database on the session PostgreSQL, dropped afterwards."""
    name = f"test_{uuid.uuid4().hex[:16]}"
    postgres.create_database(name)
    yield postgres.url(name)
    if postgres.running:
        postgres.drop_database(name)


@pytest.fixture
def mqtt_topic_prefix() -> str:
    """A topic prefix no other test uses, e.g. 't/3f2a...'; topics go below it."""
    return f"t/{uuid.uuid4().hex}"


@pytest.fixture(scope="session")
def micropython() -> MicroPythonRuntime:
    """The real MicroPython (WebAssembly port under Node.js), installed if needed."""
    runtime = MicroPythonRuntime()
    try:
        runtime.ensure_installed()
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    return runtime


@pytest.fixture(scope="session")
def dashboard_farm(tmp_path_factory):
    """The cloud service with the dashboard tests' farm and 90 days of readings, once for every
    dashboard browser test (tests/dashboard_support.py)."""
    from tests.dashboard_support import running_farm

    with running_farm(tmp_path_factory.mktemp("dashboard")) as farm:
        yield farm


@pytest.fixture(scope="module")
def dashboard_browser():
    """Debian's Chromium, headless, driven by Playwright: per module, since Playwright's sync API
    keeps an event loop running in this thread while it is open, which async tests cannot share."""
    from tests.dashboard_support import headless_chromium

    with headless_chromium() as browser:
        yield browser


@pytest.fixture(scope="session")
def unix_port():
    """The real MicroPython unix port (32-bit, built once from shared/third_party and cached)."""
    from tests.micropython_unix import BuildError, UnixPort

    try:
        port = UnixPort()
        port.ensure_built()
    except BuildError as exc:
        pytest.fail(str(exc), pytrace=False)
    return port


# The gateway tests' broker-side parts: a gateway configured for the test broker, a node publishing to
# it, and a cloud collecting the gateway's batches.
@pytest.fixture
def config(tmp_path, mosquitto, mqtt_topic_prefix):
    from tests.gateway_support import gateway_config

    return gateway_config(tmp_path, mosquitto.host, mosquitto.port, mqtt_topic_prefix)


@pytest.fixture
def node(mosquitto):
    from tests.gateway_support import Peer

    peer = Peer(mosquitto.host, mosquitto.port)
    yield peer
    peer.close()


@pytest.fixture
def cloud(mosquitto, config):
    from tests.gateway_support import BatchCollector, Peer, gw_topic

    peer = Peer(mosquitto.host, mosquitto.port)
    peer.subscribe(gw_topic(config, "batch"))
    yield BatchCollector(peer)
    peer.close()
