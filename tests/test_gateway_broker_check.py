"""The gateway's start-up check of its farm broker's persistence (issue 14 §5): a real Mosquitto
that cannot write its store is warned about in the gateway's log and /health."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from furrow.gateway.broker_check import MosquittoSetup, persistence_warnings, read_mosquitto_conf, why_not_writable
from tests.gateway_support import gateway_config, running_gateway
from tests.servers import MosquittoServer, free_port

DURABLE = ["persistence true", "autosave_interval 1", "max_queued_messages 0"]


class StoreMosquitto(MosquittoServer):
    """Mosquitto with its store in `store`, running as the `mosquitto` user when the tests run as
    root (as Debian's service does), so the store folder's owner and mode decide, not root."""

    def __init__(self, store: Path) -> None:
        super().__init__(extra_config=[*DURABLE, f"persistence_location {store}/"])

    def _prepare(self) -> None:
        super()._prepare()
        assert self.tmp_dir is not None and self.config_path is not None and self.log_path is not None
        if os.geteuid() == 0:
            lines = self.config_path.read_text().splitlines()
            self.config_path.write_text("\n".join(x for x in lines if not x.startswith("user ")) + "\nuser mosquitto\n")
            self.tmp_dir.chmod(0o755)  # the dropped user writes its log here
            self.log_path.touch()
            self.log_path.chmod(0o666)


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A folder every user can pass through (pytest's own are root's alone), for the broker's store."""
    path = Path(tempfile.mkdtemp(prefix="furrow-store-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _saved(broker: StoreMosquitto, store: Path, fails: bool) -> None:
    """Wait (bounded) until the broker has tried to save its store, and check how that went."""
    assert broker.log_path is not None
    deadline = time.monotonic() + 15
    while "Saving in-memory database" not in broker.log_path.read_text(errors="replace"):
        assert time.monotonic() < deadline, broker.log_tail()
        time.sleep(0.1)
    time.sleep(0.2)  # the outcome is logged just after
    log = broker.log_path.read_text(errors="replace")
    assert ("Error saving in-memory database" in log) == fails, log
    assert (store / "mosquitto.db").exists() != fails


async def _health(port: int) -> dict:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /health HTTP/1.0\r\n\r\n")
    await writer.drain()
    raw = await reader.read()
    writer.close()
    return json.loads(raw.split(b"\r\n\r\n", 1)[1])


@pytest.mark.mosquitto
async def test_a_broker_that_cannot_write_its_store_is_warned_about_in_the_log_and_health(tmp_path, open_dir,
                                                                                          caplog):
    """A real Mosquitto whose persistence folder its user cannot write runs without a store (its log
    says so); the gateway names the folder and the cost in a start-up warning and in /health."""
    store = open_dir / "store"
    store.mkdir(mode=0o555)
    with StoreMosquitto(store) as broker:
        _saved(broker, store, fails=True)
        port = free_port()
        farm = {"host": broker.host, "port": broker.port, "mosquitto_conf": str(broker.config_path)}
        config = gateway_config(tmp_path, broker.host, broker.port, "chk", farm_broker=farm, http_port=port)
        caplog.set_level(logging.WARNING, "furrow.gateway")
        async with running_gateway(config):
            warnings = (await _health(port))["warnings"]
        assert len(warnings) == 1 and f"persistence_location {store}:" in warnings[0]
        assert "cannot write it" in warnings[0] and "loses every reading" in warnings[0]
        assert any(warnings[0] in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)


@pytest.mark.mosquitto
async def test_a_broker_that_saves_its_store_gives_no_warning(tmp_path, open_dir):
    """The same broker with a folder its user can write saves its store, and the gateway warns of nothing."""
    store = open_dir / "store"
    store.mkdir()
    store.chmod(0o777)
    with StoreMosquitto(store) as broker:
        _saved(broker, store, fails=False)
        farm = {"host": broker.host, "port": broker.port, "mosquitto_conf": str(broker.config_path)}
        config = gateway_config(tmp_path, broker.host, broker.port, "chk", farm_broker=farm)
        async with running_gateway(config) as gw:
            assert gw.stats()["warnings"] == []


def test_the_settings_are_read_through_include_dir_in_mosquittos_order(tmp_path):
    """include_dir files are read in Mosquitto's order (upper case before lower case of a letter), last value wins."""
    conf_d = tmp_path / "conf.d"
    conf_d.mkdir()
    (conf_d / "b.conf").write_text("max_queued_messages 5\n")
    (conf_d / "B.conf").write_text("max_queued_messages 7\npersistence_location /var/lib/x/\n")
    (conf_d / "a.txt").write_text("persistence false\n")  # not a .conf: not read
    main = tmp_path / "mosquitto.conf"
    main.write_text(f"persistence true\nuser broker\ninclude_dir {conf_d}\n")
    assert read_mosquitto_conf(main) == MosquittoSetup(main, True, Path("/var/lib/x/"), 1800, 5, "broker")


def test_a_number_that_is_not_one_names_the_file(tmp_path):
    """A max_queued_messages that is not a number is refused naming the file and the value."""
    main = tmp_path / "mosquitto.conf"
    main.write_text("max_queued_messages lots\n")
    with pytest.raises(ValueError, match=r"mosquitto\.conf.*'lots'"):
        read_mosquitto_conf(main)


def test_each_setting_that_loses_readings_has_its_warning():
    """Persistence off, no location, an unwritable folder, a long autosave and a queue cap are each named;
    the setup docs/gateway.md asks for gives none."""
    good = MosquittoSetup(Path("m.conf"), True, Path("/var/lib/mosquitto"), 10, 0)
    writable = lambda folder, user: None  # noqa: E731
    assert persistence_warnings(good, writable) == []
    cases = {
        "persistence is off": MosquittoSetup(Path("m.conf"), False, None, 10, 0),
        "persistence_location is not set": MosquittoSetup(Path("m.conf"), True, None, 10, 0),
        "autosave_interval 1800": MosquittoSetup(Path("m.conf"), True, Path("/var/lib/mosquitto"), 1800, 0),
        "autosave_interval 0": MosquittoSetup(Path("m.conf"), True, Path("/var/lib/mosquitto"), 0, 0),
        "past the first 1000": MosquittoSetup(Path("m.conf"), True, Path("/var/lib/mosquitto"), 10, 1000),
    }
    for phrase, setup in cases.items():
        (warning,) = persistence_warnings(setup, writable)
        assert phrase in warning
    (warning,) = persistence_warnings(good, lambda folder, user: "no such folder")
    assert "persistence_location /var/lib/mosquitto: no such folder" in warning


def test_a_missing_folder_or_a_file_is_not_a_store_folder(tmp_path):
    """A folder that does not exist, or a file in its place, cannot hold the store whoever the broker runs as."""
    (tmp_path / "file").write_text("")
    assert why_not_writable(tmp_path / "none", "root") == "no such folder"
    assert why_not_writable(tmp_path / "file", "root") == "not a folder"
    assert why_not_writable(tmp_path, "root") is None


def test_a_folder_behind_one_the_user_cannot_pass_is_not_writable(open_dir):
    """A store folder open to all inside a folder closed to the broker's user cannot be written by it."""
    closed = open_dir / "closed"
    (closed / "store").mkdir(parents=True)
    (closed / "store").chmod(0o777)
    closed.chmod(0o700)
    assert f"{closed} (owned by" in why_not_writable(closed / "store", "nobody")
    closed.chmod(0o755)
    assert why_not_writable(closed / "store", "nobody") is None
