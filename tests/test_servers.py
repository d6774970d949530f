"""The fixtures start real servers and the tests can talk to them."""

from __future__ import annotations

import queue
import threading
import uuid

import httpx
import paho.mqtt.client as mqtt
import pytest

from tests.servers import MosquittoServer, wait_for

WAIT = 10.0  # seconds; every wait below is bounded by this


def _connected_client(host: str, port: int) -> mqtt.Client:
    connected = threading.Event()
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id=f"test-{uuid.uuid4().hex[:12]}"
    )
    client.on_connect = lambda c, u, flags, reason_code, props: (
        None if reason_code.is_failure else connected.set()
    )
    client.connect(host, port, keepalive=30)
    client.loop_start()
    if not connected.wait(WAIT):
        client.loop_stop()
        raise AssertionError(f"no CONNACK from {host}:{port} within {WAIT} s")
    return client


def _close(client: mqtt.Client) -> None:
    client.disconnect()
    client.loop_stop()


@pytest.mark.mosquitto
def test_mosquitto_publish_subscribe_round_trip(mosquitto, mqtt_topic_prefix):
    """A message published to the fixture broker reaches a subscriber, payload intact."""
    topic = f"{mqtt_topic_prefix}/hello"
    received: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
    subscribed = threading.Event()

    subscriber = _connected_client(mosquitto.host, mosquitto.port)
    publisher = _connected_client(mosquitto.host, mosquitto.port)
    try:
        subscriber.on_message = lambda c, u, message: received.put(message)
        subscriber.on_subscribe = lambda c, u, mid, reason_codes, props: subscribed.set()
        subscriber.subscribe(topic, qos=1)
        assert subscribed.wait(WAIT), "no SUBACK"

        info = publisher.publish(topic, b"soil=0.31", qos=1)
        info.wait_for_publish(timeout=WAIT)
        assert info.is_published()

        message = received.get(timeout=WAIT)
        assert message.topic == topic
        assert message.payload == b"soil=0.31"
    finally:
        _close(publisher)
        _close(subscriber)


@pytest.mark.mosquitto
def test_mosquitto_restart_keeps_port():
    """After restart() the broker is back on the same port and clients can connect again."""
    with MosquittoServer() as broker:
        port, first_pid = broker.port, broker.pid
        client = _connected_client(broker.host, broker.port)
        _close(client)

        broker.restart()

        assert broker.port == port
        assert broker.pid != first_pid and broker.running
        client = _connected_client(broker.host, broker.port)
        _close(client)


@pytest.mark.influxdb
def test_influxdb_write_line_protocol_and_query_back(influxdb, influx_db):
    """A point POSTed to /write in line protocol comes back from an InfluxQL SELECT."""
    response = httpx.post(
        f"{influxdb.url}/write",
        params={"db": influx_db, "precision": "s"},
        content=b"soil,node=n1 moisture=0.42,temp_c=18.5 1700000000",
        timeout=WAIT,
    )
    assert response.status_code == 204, response.text

    result = influxdb.query(influx_db, "SELECT moisture, temp_c FROM soil WHERE \"node\" = 'n1'")

    series = result["results"][0]["series"][0]
    assert series["name"] == "soil"
    assert series["columns"] == ["time", "moisture", "temp_c"]
    assert series["values"] == [["2023-11-14T22:13:20Z", 0.42, 18.5]]


@pytest.mark.influxdb
def test_influx_db_fixture_gives_each_test_its_own_database(influxdb, influx_db):
    """The per-test database exists on the session server and starts empty."""
    databases = influxdb.query(None, "SHOW DATABASES")["results"][0]["series"][0]["values"]
    assert [influx_db] in databases
    assert "series" not in influxdb.query(influx_db, "SHOW MEASUREMENTS")["results"][0]


@pytest.mark.micropython
def test_micropython_is_the_real_micropython(micropython):
    """Code run by the fixture executes in MicroPython, not CPython."""
    result = micropython.run("import sys\nprint(sys.implementation.name)\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "micropython"


@pytest.mark.micropython
def test_micropython_exception_gives_nonzero_exit_and_message(micropython):
    """A script that raises exits non-zero with the exception text on stderr."""
    result = micropython.run("print('before')\nraise ValueError('probe 7 is dry')\n")
    assert result.returncode != 0
    assert result.stdout == "before\n"
    assert "ValueError: probe 7 is dry" in result.stderr


@pytest.mark.micropython
def test_micropython_imports_from_lib_dir(micropython, tmp_path):
    """A host directory passed as lib_dir is importable from /lib inside MicroPython."""
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "calib.py").write_text("def scale(raw):\n    return raw * 2\n")

    result = micropython.run("from pkg.calib import scale\nprint(scale(21))\n", lib_dir=tmp_path)

    assert result.returncode == 0, result.stderr
    assert result.stdout == "42\n"


def test_wait_for_is_bounded():
    """wait_for gives up after its timeout instead of hanging."""
    assert wait_for(lambda: True, timeout=0.1)
    assert not wait_for(lambda: False, timeout=0.1)
