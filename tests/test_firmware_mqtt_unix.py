"""The board's MQTT loop as it runs on a node: firmware/mqtt_link.py with umqtt.simple, on the real
MicroPython unix port, against a real Mosquitto, in real time (tests/unixboard.py, speed 0)."""

import json
import os
import signal
import subprocess
import threading
import time
import uuid
from pathlib import Path

from furrow.edge import commands, topics
from tests.gateway_support import Peer
from tests.servers import MosquittoServer
from tests.unixboard_support import T0_MS, BoardRun, board_files, board_options, build_image, node_config, run_board

HEAP_KIB = 96  # room to spare: these tests are about the link, tests/test_firmware_heap.py about the heap


class LoginMosquitto(MosquittoServer):
    """A broker that takes only the logins in its password file: ready once it accepts TCP (an anonymous
    probe would be refused)."""

    def _mqtt_connects(self, timeout: float = 2.0) -> bool:
        return True


def _boot(unix_port, tmp_path: Path, cfg: dict, run_s: int, **opts) -> tuple[threading.Thread, list[BoardRun]]:
    """Start the node's board in a thread; the list gets its BoardRun when it ends."""
    build_image(unix_port, cfg["role"], tmp_path / "image", cfg)
    files = board_files(tmp_path / "image", tmp_path / "board")
    done: list[BoardRun] = []
    options = board_options(cfg["role"], cfg, run_s, speed=0, **opts)
    thread = threading.Thread(target=lambda: done.append(
        run_board(unix_port, HEAP_KIB, options, image=files, flash=tmp_path / "flash.img", timeout=run_s + 60)))
    thread.start()
    return thread, done


def _topic(cfg: dict, leaf: str) -> str:
    return topics.node_topic(cfg["site"], cfg["node"], leaf)


def _messages(peer: Peer, until: float) -> list:
    out = []
    while time.monotonic() < until:
        try:
            out.append(peer.messages.get(timeout=max(0.05, until - time.monotonic())))
        except Exception:  # noqa: BLE001 - queue.Empty: the window is over
            break
    return out


def test_keepalive_pings_keep_an_idle_node_online_and_its_commands_flowing(unix_port, mosquitto, tmp_path):
    """Between reports the node pings every half keepalive: over 2.5 keepalives without a report the broker
    never drops it (status never offline) and a command sent between reports is acknowledged."""
    node = f"irr-{uuid.uuid4().hex[:8]}"
    cfg = node_config("irrigation", "mqtt", (mosquitto.host, mosquitto.port), node=node)
    cfg["mqtt"]["keepalive_s"] = 10
    peer = Peer(mosquitto.host, mosquitto.port)
    try:
        peer.subscribe(_topic(cfg, "status"))
        peer.subscribe(_topic(cfg, "ack"))
        thread, done = _boot(unix_port, tmp_path, cfg, run_s=32)
        seen = _messages(peer, time.monotonic() + 17)  # the first report at boot; the next is 60 s away
        cmd = commands.make_command(f"c-{node}", node, 1, "open", 5, 60, 0, T0_MS + 3_600_000)
        peer.publish(_topic(cfg, "cmd"), commands.encode(cmd))
        seen += _messages(peer, time.monotonic() + 8)  # the run's end (its socket simply closes) comes after
        thread.join()
    finally:
        peer.close()
    [run] = done
    assert run.ok, run.describe()
    states = [json.loads(m.payload)["state"] for m in seen if m.topic.endswith("/status")]
    acks = [json.loads(m.payload) for m in seen if m.topic.endswith("/ack")]
    assert states and set(states) == {"online"}, states  # the will ("offline") was never published
    assert {a["state"] for a in acks if a["id"] == cmd["id"]} >= {"received", "started"}, acks
    log = mosquitto.log_path.read_text()
    assert log.count(f"Received PINGREQ from {node}") >= 2
    assert f"Client {node} has exceeded timeout" not in log


def test_every_connect_failure_is_retried_and_the_node_reports_once_it_can(unix_port, tmp_path):
    """Wi-Fi down, then DNS down, then a broker refusing the login (umqtt's MQTTException): each failure is
    retried with backoff, the loop goes on, and once the broker takes the credentials the reports arrive."""
    password_file = tmp_path / "passwd"
    password_file.write_text("")
    password_file.chmod(0o600)
    broker = LoginMosquitto(extra_config=[f"password_file {password_file}", "allow_anonymous false"])
    broker.start()
    try:
        node = f"soil-{uuid.uuid4().hex[:8]}"
        cfg = node_config("soil", "mqtt", (broker.host, broker.port), node=node, interval_s=5)
        cfg["mqtt"].update(user=node, password="secret-of-the-node")
        subprocess.run(["mosquitto_passwd", "-b", str(password_file), "gateway", "gw-secret"], check=True)
        os.kill(broker.pid, signal.SIGHUP)
        thread, done = _boot(unix_port, tmp_path, cfg, run_s=45, wifi_down=[[0, 4]], dns_down=[[4, 8]])
        time.sleep(20)  # Wi-Fi, then DNS, then refused logins: the node keeps trying
        subprocess.run(["mosquitto_passwd", "-b", str(password_file), node, "secret-of-the-node"], check=True)
        os.kill(broker.pid, signal.SIGHUP)  # the broker now knows the node
        thread.join()
        [run] = done
        assert run.ok, run.describe()
        log = broker.log_path.read_text()
    finally:
        broker.stop()
    refused = log.split(f"Received PUBLISH from {node}")[0]
    assert "not authorised" in refused, log[-3000:]  # refused logins came before the first publish
    assert log.count(f"Received PUBLISH from {node}") >= 3, log[-3000:]  # online status, then reports
    assert run.stdout.count("furrow mqtt:") == 1, run.stdout  # said once, loudly, then retried quietly
