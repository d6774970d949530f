"""A broker for HIL runs: Debian's `mosquitto` on a free loopback port, or
the embedded amqtt broker when mosquitto is not installed.

`furrow hil run` needs a broker as the tests do, but must not import from
tests/: `start_broker(workdir)` starts Mosquitto from its own folder under
`workdir` (config, persistence and log there), on 127.0.0.1 only, with no
cap on messages queued for an offline session (docs/gateway.md asks this of
a farm broker: Mosquitto otherwise drops QoS 1 messages past 1000). It keeps
its port across `restart()`, and with persistence on a graceful restart
keeps every persistent session and its queued messages, as on a farm.

Without the binary it falls back to `EmbeddedBroker` and says so in
`description`; the amqtt broker loses sessions on restart, so the broker
restart fault proves less there.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from furrow.hil.broker import EmbeddedBroker

HOST = "127.0.0.1"
START_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 10.0


class BrokerError(RuntimeError):
    """The broker did not start; the message carries its log tail."""


def free_port(host: str = HOST) -> int:
    """A TCP port on `host` that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def mosquitto_binary() -> str | None:
    """The mosquitto executable, or None when it is not installed."""
    return shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if os.access(p, os.X_OK)), None
    )


def _accepts(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


class MosquittoBroker:
    """Debian's mosquitto in `folder`, on HOST:`port` (a free one when 0)."""

    kind = "mosquitto"

    def __init__(self, folder: Path, port: int = 0, binary: str | None = None) -> None:
        found = binary or mosquitto_binary()
        if found is None:
            raise BrokerError("mosquitto is not installed (apt-get install mosquitto)")
        self.binary = found
        self.folder = folder
        self.host = HOST
        self.port = port or free_port()
        self.log_path = folder / "mosquitto.log"
        self.restarts = 0
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def description(self) -> str:
        return f"Mosquitto ({self.binary}) on {self.host}:{self.port}"

    def _write_config(self) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        lines = [
            f"listener {self.port} {self.host}",
            "allow_anonymous true",
            "persistence true",
            f"persistence_location {self.folder}/",
            "max_queued_messages 0",
            f"log_dest file {self.log_path}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "log_timestamp true",
        ]
        if os.geteuid() == 0:
            # as root, mosquitto 2 switches to the `mosquitto` user, which cannot write our folder
            lines.append(f"user {pwd.getpwuid(os.geteuid()).pw_name}")
        path = self.folder / "mosquitto.conf"
        path.write_text("\n".join(lines) + "\n")
        return path

    async def start(self) -> None:
        config = self._write_config()
        out = (self.folder / "mosquitto.out").open("ab")
        try:
            self._proc = subprocess.Popen([self.binary, "-c", str(config)], stdin=subprocess.DEVNULL, stdout=out,
                                          stderr=subprocess.STDOUT, start_new_session=True)
        finally:
            out.close()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _accepts(self.host, self.port):
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise BrokerError(f"{self.description} did not start:\n{self.log_tail()}")
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        """Stop gracefully (SIGTERM): Mosquitto writes its persistence file."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.to_thread(proc.wait, STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            await asyncio.to_thread(proc.wait, STOP_TIMEOUT_S)

    async def restart(self, down_s: float = 0.0) -> None:
        """A broker restart: stopped, down for `down_s`, started on the same port."""
        await self.stop()
        await asyncio.sleep(down_s)
        await self.start()
        self.restarts += 1

    def kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(STOP_TIMEOUT_S)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def connects(self, client_id: str) -> int | None:
        """How many times `client_id` has connected so far (from the log)."""
        try:
            return self.log_path.read_text(errors="replace").count(f" as {client_id} (")
        except OSError:
            return 0


class AmqttBroker:
    """The embedded broker behind the same interface, when mosquitto is missing."""

    kind = "amqtt"

    def __init__(self, port: int = 0) -> None:
        self.host = HOST
        self.port = port or free_port()
        self.restarts = 0
        self._broker: EmbeddedBroker | None = None

    @property
    def description(self) -> str:
        return (f"the embedded amqtt broker on {self.host}:{self.port} (mosquitto is not installed: "
                "apt-get install mosquitto for the real one)")

    async def start(self) -> None:
        self._broker = EmbeddedBroker(self.host, self.port)
        await self._broker.start()

    async def stop(self) -> None:
        broker, self._broker = self._broker, None
        if broker is not None:
            with contextlib.suppress(Exception):  # amqtt may complain about clients cut mid-flight
                await broker.stop()

    async def restart(self, down_s: float = 0.0) -> None:
        await self.stop()
        await asyncio.sleep(down_s)
        await self.start()
        self.restarts += 1

    def kill(self) -> None:
        """Nothing to kill in-process; `stop()` is the way out."""

    def connects(self, client_id: str) -> int | None:
        """Unknown here (None): amqtt keeps no log to count connections in."""
        return None


Broker = MosquittoBroker | AmqttBroker


async def start_broker(folder: Path, prefer: str = "mosquitto") -> Broker:
    """Start Mosquitto in `folder` (or amqtt if it is not installed, or if
    `prefer` is "amqtt"); the caller stops it."""
    if prefer != "mosquitto" or mosquitto_binary() is None:
        amqtt = AmqttBroker()
        await amqtt.start()
        return amqtt
    for attempt in range(3):
        # a free port can be taken by another program before mosquitto binds it: pick again
        broker = MosquittoBroker(folder)
        try:
            await broker.start()
        except BrokerError:
            if attempt == 2:
                raise
            continue
        return broker
    raise AssertionError("unreachable")
