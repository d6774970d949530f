"""The board's MQTT loop as it runs on a node: firmware/mqtt_link.py with umqtt.simple, on the real
MicroPython unix port, against a real Mosquitto, in real time (tests/unixboard.py, speed 0)."""

import contextlib
import json
import os
import signal
import socket
import subprocess
import threading
import time
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

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


@pytest.mark.full
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


def _read_packet(conn: socket.socket) -> bytes:
    """One MQTT control packet: its fixed header, remaining length (MQTT 3.1.1, 2.2.3) and body."""

    def exactly(n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = conn.recv(n - len(data))
            if not chunk:
                raise ConnectionError("closed mid-packet")
            data += chunk
        return data

    head = exactly(1)
    length, shift = 0, 0
    while True:
        byte = exactly(1)[0]
        length |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
    return head + exactly(length)


class ShortConnackBroker:
    """The broker's address as the node sees it: the first `short` connections get a CONNACK cut after two
    bytes (a broker or middlebox dying mid-reply), later ones are piped to the real broker behind."""

    def __init__(self, upstream: tuple[str, int], short: int) -> None:
        self.upstream, self.short, self.served = upstream, short, 0
        self.server = socket.create_server(("127.0.0.1", 0))
        self.host, self.port = self.server.getsockname()
        self.threads: list[threading.Thread] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return  # closed
            if self.served < self.short:
                self.served += 1
                _read_packet(conn)  # the node's whole CONNECT: the node is listening now, not writing
                conn.sendall(b"\x20\x02")  # CONNACK's fixed header, then nothing
                conn.close()
                continue
            up = socket.create_connection(self.upstream)
            for a, b in ((conn, up), (up, conn)):
                thread = threading.Thread(target=self._pipe, args=(a, b), daemon=True)
                thread.start()
                self.threads.append(thread)

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(4096):
                dst.sendall(data)
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.server.close()


@pytest.mark.full
def test_a_short_connack_is_retried_and_the_node_reports_once_the_broker_answers(unix_port, mosquitto, tmp_path):
    """A CONNACK cut short (umqtt fails with an IndexError, neither OSError nor MQTTException) is retried
    with backoff like any connect failure: the loop goes on and the reports arrive once a broker answers."""
    broker = ShortConnackBroker((mosquitto.host, mosquitto.port), short=3)
    node = f"soil-{uuid.uuid4().hex[:8]}"
    cfg = node_config("soil", "mqtt", (broker.host, broker.port), node=node, interval_s=5)
    peer = Peer(mosquitto.host, mosquitto.port)
    try:
        peer.subscribe(_topic(cfg, "up"))
        thread, done = _boot(unix_port, tmp_path, cfg, run_s=25)
        thread.join()
        seen = _messages(peer, time.monotonic() + 1)
    finally:
        peer.close()
        broker.close()
    [run] = done
    assert run.ok, run.describe()  # without the fix the IndexError ended the loop: the board would reboot
    assert broker.served == 3
    assert len(seen) >= 2, seen  # the first report waited in the ring, then one every 5 s
    assert run.stdout.count("furrow mqtt:") == 1, run.stdout


class PersistentListener:
    """The gateway's side: a persistent MQTT session (clean_session false) on a broker that keeps sessions
    across restarts, so nothing published while the listener reconnects is missed."""

    def __init__(self, host: str, port: int, topic: str) -> None:
        self.seqs: list[int] = []
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"gw-{uuid.uuid4().hex[:8]}",
                                  clean_session=False)
        subscribed = threading.Event()
        self.client.on_message = lambda c, u, m: self.seqs.append(json.loads(m.payload)["seq"])
        self.client.on_subscribe = lambda c, u, mid, rcs, p: subscribed.set()
        self.client.reconnect_delay_set(0.2, 1)
        self.client.connect(host, port, keepalive=10)
        self.client.loop_start()
        self.client.subscribe(topic, qos=1)
        assert subscribed.wait(10), f"no SUBACK for {topic}"

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.mark.full
def test_the_outbox_drains_in_order_across_broker_restarts(unix_port, tmp_path):
    """The broker restarts twice while a node reports every 2 s: what it made meanwhile waits in its flash
    ring and arrives afterwards, oldest first, with no seq missing (a resend whose PUBACK was lost may repeat)."""
    broker = MosquittoServer(extra_config=["persistence true", f"persistence_location {tmp_path}/"])
    broker.start()
    listener = None
    try:
        node = f"soil-{uuid.uuid4().hex[:8]}"
        cfg = node_config("soil", "mqtt", (broker.host, broker.port), node=node, interval_s=2)
        listener = PersistentListener(broker.host, broker.port, _topic(cfg, "up"))
        thread, done = _boot(unix_port, tmp_path, cfg, run_s=40)
        for _ in range(2):
            time.sleep(8)
            broker._halt()  # SIGTERM: the broker saves its sessions and goes
            time.sleep(6)  # three reports made with no broker
            broker.start()
        thread.join()
        time.sleep(1)
    finally:
        if listener is not None:
            listener.close()
        broker.stop()
    [run] = done
    assert run.ok, run.describe()
    order = [s for i, s in enumerate(listener.seqs) if s not in listener.seqs[:i]]
    assert order == list(range(order[0], order[0] + len(order))), listener.seqs  # oldest first, no gap
    assert len(order) >= 15, listener.seqs  # 40 s at one report per 2 s, less what was still queued at the end
