"""The gateway as a process: started from a TOML file, stopped by SIGTERM."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from furrow.edge.payload import encode_json
from tests.gateway_support import WAIT, BatchCollector, Peer, soil_uplink

pytestmark = pytest.mark.mosquitto

ROOT = Path(__file__).resolve().parents[1]
RUN = "import sys; from furrow.gateway.app import main; sys.exit(main(sys.argv[1]))"


def gateway_process(config: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", RUN, str(config)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


async def test_gateway_runs_from_its_config_file_and_stops_cleanly_on_sigterm(tmp_path, mosquitto, mqtt_topic_prefix):
    """main() loads the TOML, forwards a node's uplink, and on SIGTERM exits 0 saying offline."""
    gw_id = f"gw-{uuid.uuid4().hex[:8]}"
    config = tmp_path / "gateway.toml"
    config.write_text(
        f'site = "farm"\ngateway_id = "{gw_id}"\ntopic_root = "{mqtt_topic_prefix}"\n'
        f'buffer_path = "{tmp_path / "buffer.sqlite"}"\nforward_interval = 0.05\nhttp_port = 0\n'
        f'[farm_broker]\nhost = "{mosquitto.host}"\nport = {mosquitto.port}\n'
        f'[cloud_broker]\nhost = "{mosquitto.host}"\nport = {mosquitto.port}\n'
    )
    base = f"{mqtt_topic_prefix}/v1/farm"
    cloud = BatchCollector(Peer(mosquitto.host, mosquitto.port))
    cloud.peer.subscribe(f"{base}/gw/{gw_id}/batch")
    status = Peer(mosquitto.host, mosquitto.port)
    status.subscribe(f"{base}/gw/{gw_id}/status")
    node = Peer(mosquitto.host, mosquitto.port)
    proc = gateway_process(config)
    try:
        assert json.loads((await status.get()).payload)["state"] == "online"
        # "online" is published once the cloud link is up; the farm side
        # subscribes on its own connection, so publish until a batch shows up.
        uplink = encode_json(soil_uplink("soil-01", 1))
        for _ in range(int(WAIT / 0.5)):
            node.publish(f"{base}/node/soil-01/up", uplink)
            try:
                await cloud.until({("soil-01", 1)}, timeout=0.5)
                break
            except AssertionError:
                continue
        assert ("soil-01", 1) in cloud.keys()
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=WAIT)
        assert proc.returncode == 0, output
        assert json.loads((await status.get()).payload)["state"] == "offline"
        assert "gateway stopped" in output
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(WAIT)
        status.publish(f"{base}/gw/{gw_id}/status", b"", retain=True)
        for peer in (cloud.peer, status, node):
            peer.close()


def test_bad_config_file_exits_2_naming_the_field(tmp_path):
    """A config with a bad value stops the process at once with the field and value named."""
    config = tmp_path / "gateway.toml"
    config.write_text('site = "Farm!"\n')
    proc = gateway_process(config)
    output, _ = proc.communicate(timeout=WAIT)
    assert proc.returncode == 2
    assert "site='Farm!'" in output and "gateway_id: missing" in output
